# Worker tests (include()d from tests/CMakeLists.txt). The replay and SDK
# tests are pure; the runtime test talks to a fake broker over real ZeroMQ
# sockets on 127.0.0.1 (no other process, no PostgreSQL).
baton_test(worker_replay_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/replay_test.cc
  LIBS baton_worker
  LABELS unit)
target_include_directories(worker_replay_test PRIVATE $<TARGET_PROPERTY:baton_worker,SOURCE_DIR>/src)

baton_test(worker_sdk_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/worker_sdk_test.cc
  LIBS baton_worker
  LABELS unit)
target_include_directories(worker_sdk_test PRIVATE $<TARGET_PROPERTY:baton_worker,SOURCE_DIR>/src)

baton_test(worker_runtime_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/worker_runtime_test.cc
  LIBS baton_worker
  LABELS unit)
