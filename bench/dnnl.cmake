# ratchet-bench-dnnl-matmul: oneDNN FP32 and bf16 matmul against OpenBLAS sgemm
# on the trainer's shapes (bench/dnnl_matmul.sh; issue 22). oneDNN comes with
# the trainer, which links it (trainer/CMakeLists.txt; scripts/install-deps).
add_executable(ratchet-bench-dnnl-matmul ${CMAKE_CURRENT_LIST_DIR}/dnnl_matmul.cc)
target_compile_options(ratchet-bench-dnnl-matmul PRIVATE -mavx512f -mavx512bf16)
target_link_libraries(ratchet-bench-dnnl-matmul PRIVATE ratchet_trainer)
