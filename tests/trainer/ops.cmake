# Kernel tests for trainer/ops_*.cc, gemm_pieces.cc, gemm_bf16.cc and gemm_fp32.cc (fast kernels vs naive twins, finite
# differences, determinism, thread-count invariance). The BLAS comes with
# ratchet_trainer (trainer/CMakeLists.txt links Debian's openblas-openmp).
ratchet_test(ops_tests
  SOURCES
    ops_test.cc
    ops_embed_test.cc
    ops_matmul_test.cc
    ops_norm_test.cc
    ops_activation_test.cc
    ops_rope_test.cc
    ops_attention_test.cc
    ops_loss_test.cc
    ops_newton_schulz_test.cc
    gemm_pieces_test.cc
    gemm_bf16_test.cc
    gemm_fp32_test.cc
  LIBS ratchet_trainer
  LABELS blas)
if(TARGET ops_tests)
  # The same code generation as the kernels for the inline math of ops_math.h.
  target_compile_options(ops_tests PRIVATE -march=native -ffp-contract=fast)
endif()
