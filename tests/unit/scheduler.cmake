baton_test(engine_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/engine_test.cc
  LIBS baton_scheduler
  LABELS unit)
