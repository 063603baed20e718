# Integration tests: real binaries, real PostgreSQL (BATON_TEST_PG_URL).
add_executable(baton_test_worker ${CMAKE_SOURCE_DIR}/tests/support/test_worker.cc)
target_link_libraries(baton_test_worker PRIVATE baton_worker baton_examples msgpackc-cxx)
target_include_directories(baton_test_worker PRIVATE ${CMAKE_SOURCE_DIR})
baton_warnings(baton_test_worker)

baton_test(chaining_itest
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/chaining_itest.cc
  LIBS baton_test_stack baton_client
  LABELS integration)
add_dependencies(chaining_itest baton-scheduler baton-broker batonctl baton_test_worker)

baton_test(sticky_itest
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/sticky_itest.cc
  LIBS baton_test_stack baton_client
  LABELS integration)
add_dependencies(sticky_itest baton-scheduler baton-broker baton_test_worker)

baton_test(control_itest
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/control_itest.cc
  LIBS baton_test_stack baton_client
  LABELS integration)
add_dependencies(control_itest baton-scheduler baton-broker baton_test_worker)

baton_test(patterns_itest
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/patterns_itest.cc
  LIBS baton_test_stack baton_client
  LABELS integration)
add_dependencies(patterns_itest baton-scheduler baton-broker baton_test_worker)

baton_test(monitoring_itest
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/monitoring_itest.cc
  LIBS baton_test_stack baton_client nlohmann_json::nlohmann_json
  LABELS integration)
add_dependencies(monitoring_itest baton-scheduler baton-broker baton_test_worker)

baton_test(client_itest
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/client_itest.cc
  LIBS baton_test_stack baton_client nlohmann_json::nlohmann_json
  LABELS integration)
add_dependencies(client_itest baton-scheduler baton-broker batonctl baton_test_worker)

baton_test(security_itest
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/security_itest.cc
  LIBS baton_test_stack baton_client
  LABELS integration)
add_dependencies(security_itest baton-scheduler baton-broker baton_test_worker)
