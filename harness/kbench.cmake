# ratchet-kbench: compile, check and time a candidate compute kernel.
#
# ratchet_kbench: everything but main, for the tests. It does not link BLAS:
# OpenBLAS is dlopen'ed in the timing child only.

# kbench_abi.h is built into the program (and written next to each candidate),
# so the bench needs no source tree at run time.
set(kbench_abi ${CMAKE_CURRENT_LIST_DIR}/kbench_abi.h)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${kbench_abi})
file(READ ${kbench_abi} KBENCH_ABI_TEXT)
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/kbench_gen/kbench_abi_text.inc
     CONTENT "R\"KBENCHABI(@KBENCH_ABI_TEXT@)KBENCHABI\"" @ONLY)

add_library(ratchet_kbench STATIC
  ${CMAKE_CURRENT_LIST_DIR}/kbench.cc
  ${CMAKE_CURRENT_LIST_DIR}/kbench_check.cc
  ${CMAKE_CURRENT_LIST_DIR}/kbench_child.cc
  ${CMAKE_CURRENT_LIST_DIR}/kbench_compile.cc
  ${CMAKE_CURRENT_LIST_DIR}/kbench_peak.cc
  ${CMAKE_CURRENT_LIST_DIR}/kbench_reference.cc
  ${CMAKE_CURRENT_LIST_DIR}/kbench_timing.cc
  ${CMAKE_CURRENT_LIST_DIR}/kbench_types.cc)
target_include_directories(ratchet_kbench PUBLIC ${PROJECT_SOURCE_DIR}
                           PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/kbench_gen)
target_link_libraries(ratchet_kbench PUBLIC ratchet_base nlohmann_json::nlohmann_json
                      ${CMAKE_DL_LIBS})

add_executable(ratchet-kbench ${CMAKE_CURRENT_LIST_DIR}/kbench_main.cc)
target_link_libraries(ratchet-kbench PRIVATE ratchet_kbench CLI11::CLI11)
