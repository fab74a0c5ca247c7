# Tests of the trainer beyond its kernels: config, model gradients, optimizers,
# schedules, budgets, data, checkpoints, the training loop and the program.
ratchet_test(trainer_tests
  SOURCES config_test.cc model_grad_test.cc model_test.cc optimizer_test.cc schedule_test.cc
          checkpoint_test.cc train_loop_test.cc train_main_test.cc
  LIBS ratchet_trainer
  LABELS blas)
# Counts heap allocations with a replaced global operator new, so it is its own
# executable (the replacement would otherwise apply to every test).
ratchet_test(trainer_no_alloc_test SOURCES no_alloc_test.cc LIBS ratchet_trainer LABELS blas)
if(TARGET trainer_tests AND TARGET ratchet-train)
  add_dependencies(trainer_tests ratchet-train)
endif()
