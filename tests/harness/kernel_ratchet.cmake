# A short matmul ratchet through the real `ratchet` and `ratchet-kbench`.
ratchet_test(kernel_ratchet_tests SOURCES kernel_ratchet_test.cc LIBS ratchet_core)
if(TARGET kernel_ratchet_tests)
  # The test runs the real programs from RATCHET_BIN_DIR.
  add_dependencies(kernel_ratchet_tests ratchet ratchet-kbench)
endif()
