# Tests of the built-in workload's harness: prepare, eval, reference model.
ratchet_test(prepare_test SOURCES prepare_test.cc LIBS ratchet_harness_data)
ratchet_test(reference_model_test SOURCES reference_model_test.cc LIBS ratchet_harness_data)
if(TARGET ratchet_harness_eval)
  # Also compares the reference with the trainer's fast forward on every config variant.
  ratchet_test(eval_test SOURCES eval_test.cc LIBS ratchet_harness_eval LABELS blas)
endif()
