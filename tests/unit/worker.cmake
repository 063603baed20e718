# Worker tests (include()d from tests/CMakeLists.txt). The replay and SDK
# tests are pure; the runtime test talks to a fake broker over real ZeroMQ
# sockets on 127.0.0.1 (no other process, no PostgreSQL).
# The replay fixtures (tests/replay/*.json) are read at run time; a NEW
# fixture appears in ctest after the next build of this target.
baton_test(worker_replay_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/replay_test.cc
  LIBS baton_worker nlohmann_json::nlohmann_json
  LABELS unit)
target_include_directories(worker_replay_test PRIVATE $<TARGET_PROPERTY:baton_worker,SOURCE_DIR>/src)
target_compile_definitions(worker_replay_test PRIVATE
  BATON_REPLAY_FIXTURES_DIR="${CMAKE_CURRENT_SOURCE_DIR}/replay")

baton_test(worker_sdk_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/worker_sdk_test.cc
  LIBS baton_worker
  LABELS unit)
target_include_directories(worker_sdk_test PRIVATE $<TARGET_PROPERTY:baton_worker,SOURCE_DIR>/src)

# It also scrapes the worker's metrics over HTTP (127.0.0.1, port 0).
baton_test(worker_runtime_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/worker_runtime_test.cc
  LIBS baton_worker baton_test_support
  LABELS unit)

# The examples end to end on a toy in-process engine (no sockets).
baton_test(worker_examples_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/worker_examples_test.cc
  LIBS baton_examples
  LABELS unit)
target_include_directories(worker_examples_test PRIVATE $<TARGET_PROPERTY:baton_worker,SOURCE_DIR>/src)

# The worker's job threads: results handed over, wake-ups passed on.
baton_test(worker_result_pool_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/result_pool_test.cc
  LIBS baton_worker
  LABELS unit)
target_include_directories(worker_result_pool_test PRIVATE $<TARGET_PROPERTY:baton_worker,SOURCE_DIR>/src)
