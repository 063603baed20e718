baton_test(common_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/wire_test.cc
  LIBS baton_common
  LABELS unit)
