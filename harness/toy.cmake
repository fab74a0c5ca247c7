# ratchet-toy: the synthetic experiment (experiments/toy, specs/toy.json).
add_executable(ratchet-toy ${CMAKE_CURRENT_LIST_DIR}/toy.cc)
target_link_libraries(ratchet-toy PRIVATE nlohmann_json::nlohmann_json)
