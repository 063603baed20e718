# The metric catalogue and the exposer (real HTTP on 127.0.0.1, port 0).
baton_test(monitoring_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/monitoring_test.cc
  LIBS baton_monitoring baton_test_support prometheus-cpp::core
  LABELS unit)
