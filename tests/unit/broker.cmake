# Broker unit tests: real ZeroMQ sockets over inproc:// (and one tcp:// on a
# wildcard port), the broker loop on a thread; metrics read in-process and,
# in one test, over HTTP on 127.0.0.1 (port 0).
baton_test(broker_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/broker_test.cc
  LIBS baton_broker baton_monitoring baton_test_support
  LABELS unit)
