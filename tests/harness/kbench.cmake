# Tests of ratchet-kbench. The fixture kernels live in tests/harness/kernels/.
ratchet_test(kbench_test
  SOURCES kbench_reference_test.cc kbench_check_test.cc kbench_child_test.cc
          kbench_compile_test.cc kbench_timing_test.cc kbench_run_test.cc
  LIBS ratchet_kbench)
if(TARGET kbench_test)
  # The command-line tests run the real program.
  add_dependencies(kbench_test ratchet-kbench)
endif()
