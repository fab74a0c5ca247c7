# ratchet-bench-slurm: what running a child as a Slurm job adds, against a
# local child (docs/cluster.md; bench/RESULTS.md, "Slurm").
add_executable(ratchet-bench-slurm ${CMAKE_CURRENT_LIST_DIR}/slurm_latency.cc)
target_link_libraries(ratchet-bench-slurm PRIVATE ratchet_runner)
