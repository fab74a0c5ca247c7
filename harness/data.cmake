# The built-in workload's immutable side: ratchet-prepare (corpus -> split +
# manifest) and ratchet-eval (checkpoint -> val_bpb).
#
# ratchet_harness_data: manifest, prepare and the naive reference forward; it
# never links the trainer, so the reference stays independent of the fast kernels.
add_library(ratchet_harness_data STATIC
  ${CMAKE_CURRENT_LIST_DIR}/manifest.cc
  ${CMAKE_CURRENT_LIST_DIR}/prepare.cc)
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/reference_model.cc)
  target_sources(ratchet_harness_data PRIVATE ${CMAKE_CURRENT_LIST_DIR}/reference_model.cc)
endif()
target_include_directories(ratchet_harness_data PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(ratchet_harness_data PUBLIC ratchet_base OpenSSL::Crypto
                      nlohmann_json::nlohmann_json)

add_executable(ratchet-prepare ${CMAKE_CURRENT_LIST_DIR}/prepare_main.cc)
target_link_libraries(ratchet-prepare PRIVATE ratchet_harness_data CLI11::CLI11)

# ratchet_harness_eval: the evaluator; it reads checkpoints with the trainer's
# loader and uses the trainer's forward pass as its fast path.
if(TARGET ratchet_trainer AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/eval.cc)
  add_library(ratchet_harness_eval STATIC ${CMAKE_CURRENT_LIST_DIR}/eval.cc)
  target_link_libraries(ratchet_harness_eval PUBLIC ratchet_harness_data ratchet_trainer)
  add_executable(ratchet-eval ${CMAKE_CURRENT_LIST_DIR}/eval_main.cc)
  target_link_libraries(ratchet-eval PRIVATE ratchet_harness_eval CLI11::CLI11)
endif()
