# Benchmarks of the built-in trainer (bench/trainer_vs_torch.sh, bench/eval_speed.sh).
# ratchet-bench-sgemm: 2-thread sgemm on transformer shapes, the peer rate the
# trainer's achieved FLOP/s is compared with. It links the generic libblas.so.3
# so the script can swap the implementation with LD_LIBRARY_PATH.
find_library(RATCHET_GENERIC_BLAS NAMES blas PATHS /usr/lib/x86_64-linux-gnu NO_DEFAULT_PATH)
if(RATCHET_GENERIC_BLAS)
  add_executable(ratchet-bench-sgemm ${CMAKE_CURRENT_LIST_DIR}/sgemm_peak.cc)
  target_compile_options(ratchet-bench-sgemm PRIVATE -O2)
  target_link_libraries(ratchet-bench-sgemm PRIVATE ${RATCHET_GENERIC_BLAS} ${CMAKE_DL_LIBS})
endif()

# ratchet-bench-attention: the trainer's attention on a config's shapes against
# the same process's sgemm rate (bench/RESULTS.md, "Trainer").
add_executable(ratchet-bench-attention ${CMAKE_CURRENT_LIST_DIR}/attention_speed.cc)
target_link_libraries(ratchet-bench-attention PRIVATE ratchet_trainer)

# ratchet-bench-gemm-pieces: the trainer's thread-count-invariant products
# against OpenBLAS's own threading, same process (bench/gemm_pieces.sh).
add_executable(ratchet-bench-gemm-pieces ${CMAKE_CURRENT_LIST_DIR}/gemm_pieces.cc)
target_link_libraries(ratchet-bench-gemm-pieces PRIVATE ratchet_trainer)
