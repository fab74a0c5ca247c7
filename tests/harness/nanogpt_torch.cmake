# experiments/nanogpt-torch's prepare.py and evaluate.py against ratchet-prepare
# and ratchet-eval, run through the project's runner (needs python3-torch).
ratchet_test(nanogpt_torch_tests SOURCES nanogpt_torch_test.cc
             LIBS ratchet_runner nlohmann_json::nlohmann_json)
if(TARGET nanogpt_torch_tests)
  add_dependencies(nanogpt_torch_tests ratchet-prepare ratchet-eval ratchet-train)
endif()
