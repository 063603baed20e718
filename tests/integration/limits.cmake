# Payload limits of issue 5, end to end: workers with a small
# BATON_MAX_PAYLOAD_BYTES. Real binaries, real PostgreSQL (BATON_TEST_PG_URL).
baton_test(limits_itest
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/limits_itest.cc
  LIBS baton_test_stack baton_client
  LABELS integration)
add_dependencies(limits_itest baton-scheduler baton-broker baton_test_worker)
