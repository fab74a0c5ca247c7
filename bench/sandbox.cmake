# ratchet-bench-sandbox: the cost of the bubblewrap sandbox per child start
# (bench/RESULTS.md, "Controller").
add_executable(ratchet-bench-sandbox ${CMAKE_CURRENT_LIST_DIR}/sandbox_cost.cc)
target_link_libraries(ratchet-bench-sandbox PRIVATE ratchet_runner)
