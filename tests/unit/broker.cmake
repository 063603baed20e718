# Broker unit tests: real ZeroMQ sockets over inproc:// (and one tcp:// on a
# wildcard port), the broker loop on a thread.
baton_test(broker_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/broker_test.cc
  LIBS baton_broker
  LABELS unit)
