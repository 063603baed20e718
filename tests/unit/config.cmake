# Connection settings (issue 4): load_connection_settings, ClientOptions,
# WorkerOptions and `batonctl config show`, with a temporary HOME, temporary
# profile and key files, and setenv/unsetenv (no sockets are served).
baton_test(config_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/config_test.cc
  LIBS baton_common baton_client baton_worker nlohmann_json::nlohmann_json
  LABELS unit)
target_compile_definitions(config_test PRIVATE BATONCTL_PATH="$<TARGET_FILE:batonctl>")
add_dependencies(config_test batonctl)
