baton_test(store_pgtest
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/pg/store_pgtest.cc
  LIBS baton_scheduler
  LABELS pg)
