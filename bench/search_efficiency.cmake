# ratchet-bench-search: the proposers' search-efficiency and A/A bench
# (bench/search_efficiency.py, bench/false_accepts.py and bench/tinygpt_surrogate.py
# drive it).
add_executable(ratchet-bench-search ${CMAKE_CURRENT_LIST_DIR}/search_efficiency.cc
                                    ${CMAKE_CURRENT_LIST_DIR}/surrogate_forest.cc)
target_link_libraries(ratchet-bench-search PRIVATE ratchet_propose ratchet_decide)
