# Fault tests of issue 5 (PostgreSQL restart/outage on a private cluster,
# SIGSTOP/SIGCONT of worker, broker and scheduler). Real binaries; the
# private cluster is started with scripts/pg.sh (tests/chaos/pg_cluster.h).
baton_test(faults_itest
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/faults_itest.cc
  LIBS baton_test_stack baton_client
  LABELS integration)
target_compile_definitions(faults_itest PRIVATE BATON_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_dependencies(faults_itest baton-scheduler baton-broker baton_test_worker)
