# Client library and batonctl tests (no PostgreSQL, no real scheduler: a fake
# scheduler ROUTER in the test process, and the built batonctl binary).
baton_test(client_test
  SOURCES
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/client_api_test.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/client_json_codec_test.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/client_batonctl_test.cc
  LIBS baton_client baton_client_json
  LABELS unit)
target_compile_definitions(client_test PRIVATE BATONCTL_PATH="$<TARGET_FILE:batonctl>")
add_dependencies(client_test batonctl)
