# `make chaos` (scripts/chaos.sh): baton_chaos, a long randomized fault run
# against a local stack on a private PostgreSQL cluster. Not part of ctest.
add_executable(baton_chaos ${CMAKE_CURRENT_SOURCE_DIR}/chaos/chaos.cc)
target_link_libraries(baton_chaos PRIVATE baton_test_stack baton_client)
target_include_directories(baton_chaos PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_definitions(baton_chaos PRIVATE BATON_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
baton_warnings(baton_chaos)
add_dependencies(baton_chaos baton-scheduler baton-broker batonctl baton_test_worker)
