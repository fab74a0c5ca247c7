# Runs the built ratchet-toy through the project's runner.
ratchet_test(toy_tests SOURCES toy_test.cc LIBS ratchet_runner nlohmann_json::nlohmann_json)
if(TARGET toy_tests)
  add_dependencies(toy_tests ratchet-toy)
endif()
