// The Baton broker: a single-threaded, soft-state router between the
// scheduler and the workers (zguide Majordomo / Paranoid Pirate style).
//
// One ROUTER socket carries both links (scheduler -> broker, worker ->
// broker). The broker queues work items per (namespace, task queue, kind),
// hands them to workers that serve the queue as their credits allow, forwards
// results and activity heartbeats to the scheduler unchanged, watches liveness
// with heartbeats and reports work that will never produce a result
// (WorkLost). Sticky routing: an OrchestrationTask whose sticky_worker names
// a live, non-draining worker serving its (ns, task queue) goes to that
// worker only, at once or through the worker's own FIFO, which is served
// before any shared queue; if the worker dies, leaves or restarts, that FIFO
// moves to the front of the shared queue. It holds no durable state: losing
// the broker loses nothing (the scheduler re-dispatches expired leases).
// docs/protocol.md describes every message and rule.
//
// Metrics: the broker always keeps its Prometheus metrics (part "broker" of
// monitoring/metrics.json; metrics() reads them in-process) and serves them
// over HTTP (/metrics, /healthz, /readyz) when options.metrics_address is set.
// It is ready once its ROUTER socket is bound and until stop().
//
// Usage:
//   auto broker = Broker::create(options);        // binds, or returns the error
//   std::thread loop([&] { (void)(*broker)->run(); });
//   ...
//   (*broker)->stop();                            // any thread
//   loop.join();
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "baton/config.h"
#include "baton/protocol.h"
#include "baton/security.h"
#include "baton/status.h"

namespace zmq {
class context_t;
}

namespace baton::metrics {
class Metrics;
}

namespace baton::broker {

inline constexpr std::size_t kDefaultMaxQueue = 100000;
inline constexpr std::size_t kDefaultMaxPendingResults = 100000;
inline constexpr std::size_t kDefaultMaxBatch = 64;

struct BrokerOptions {
  // ZeroMQ endpoint of the ROUTER socket. "tcp://127.0.0.1:*" picks a free
  // port; endpoint() tells which.
  std::string bind_address = kDefaultBrokerAddress;
  // Items waiting per (ns, task_queue, kind) queue, those waiting for their
  // sticky worker included; an item beyond it is reported lost to the
  // scheduler at once.
  std::size_t max_queue = kDefaultMaxQueue;
  // Results, ActivityHeartbeats and WorkLost messages kept while no scheduler
  // is reachable; the oldest is dropped (and counted) beyond it.
  std::size_t max_pending_results = kDefaultMaxPendingResults;
  // Most work items in one DispatchBatch to a worker, and most results in
  // one ResultBatch to the scheduler (each only to peers that take them:
  // WorkerReady.task_batches, SchedulerHello.result_batches). The broker
  // also tells workers it takes ResultBatch (Heartbeat.result_batches).
  // 1: one message per item and per result in both directions.
  std::size_t max_batch = kDefaultMaxBatch;
  // Liveness; tests shorten these, production keeps the protocol constants.
  std::chrono::milliseconds heartbeat_interval = kHeartbeatIntervalMs;
  int heartbeat_liveness = kHeartbeatLiveness;
  // Sent in every Heartbeat; empty: "broker-<hostname>-<pid>".
  std::string broker_id;
  // Not owned; must outlive the Broker. nullptr: the broker owns a context.
  // Share a context to bind/connect over inproc:// (tests).
  zmq::context_t* context = nullptr;
  // host:port of the HTTP metrics server (port 0 picks a free one;
  // metrics_port() tells which). Empty: no server (the metrics are still
  // kept). At most one metrics server per process.
  std::string metrics_address;
  // CURVE on the ROUTER when auth.curve is set: only the scheduler and
  // workers whose public keys are in auth.principals may connect.
  security::ServerAuth auth;
};

// Counters since start (monotonic) and gauges (current values). Gauges are
// published once per loop iteration, so they can lag by one iteration.
struct BrokerStats {
  uint64_t messages_received = 0;
  uint64_t malformed_dropped = 0;     // bad frames, version, type, size or body
  uint64_t unexpected_dropped = 0;    // well-formed, but not a broker-bound type
  uint64_t items_received = 0;        // work items in DispatchBatch messages
  uint64_t items_dispatched = 0;      // work items sent to a worker
  uint64_t sticky_dispatched = 0;     // of those: steps sent to their sticky_worker
  uint64_t results_forwarded = 0;     // results sent on to the scheduler
  uint64_t task_batches_sent = 0;     // DispatchBatch messages to workers (>1 item each)
  uint64_t result_batches_received = 0;   // ResultBatch messages from workers
  uint64_t result_batches_forwarded = 0;  // ResultBatch messages to the scheduler (>1 result each)
  uint64_t pending_dropped = 0;       // scheduler-bound messages dropped (buffer full)
  uint64_t work_lost = 0;             // work ids reported in WorkLost
  uint64_t workers_dead = 0;          // workers declared dead (silent, unreachable, restarted)
  uint64_t unknown_peer_replies = 0;  // Heartbeats sent to unknown identities
  // ActivityHeartbeats sent on to the scheduler (never counted in results_forwarded).
  uint64_t activity_heartbeats_forwarded = 0;
  // gauges
  uint64_t items_queued = 0;      // waiting for a worker, all queues (sticky ones included)
  uint64_t items_in_flight = 0;   // on workers, awaiting a result
  uint64_t pending_results = 0;   // buffered for the scheduler (any scheduler-bound message)
  uint64_t workers = 0;           // known workers, including draining ones
  uint64_t workers_draining = 0;  // sent WorkerDisconnect, results still due
  bool scheduler_connected = false;
};

// Thread-safety: create() and run() may be called on different threads (run()
// owns the sockets from then on); run() is called at most once. stop(),
// stats(), metrics(), metrics_port(), id(), incarnation() and endpoint() are
// safe from any thread.
// Destroying the Broker while run() is still executing is a programmer error.
class Broker {
  class Impl;
  struct Key {
    explicit Key() = default;
  };

 public:
  // Creates the sockets, binds, and starts the metrics server if
  // options.metrics_address is set. kInvalidArgument for unusable options (a
  // malformed metrics address included), kUnavailable when the address or
  // the metrics address cannot be bound, kFailedPrecondition when this
  // process already serves metrics.
  static Result<std::unique_ptr<Broker>> create(BrokerOptions options);

  // Use create(); the key keeps this constructor private in effect.
  Broker(Key, std::unique_ptr<Impl> impl);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Runs the poll loop until stop() is called or the (shared) context is shut
  // down; both return Status::ok(). kInternal if the loop hit an unexpected
  // ZeroMQ error. Malformed peer input is counted and dropped, never returned.
  Status run();

  // Asks run() to return; idempotent, callable before, during or after run().
  // Wakes the loop through an inproc control socket; run() returns within one
  // heartbeat interval even if the wakeup cannot be delivered. Before it
  // returns, run() sends BrokerGoodbye to the scheduler and every known
  // worker without blocking (so they reconnect at once instead of waiting out
  // the liveness window); the ROUTER then lingers at most 500 ms when it is
  // closed (destroying the Broker, or its owned context) to deliver them.
  void stop();

  const std::string& id() const;
  // Random, fixed for this broker's lifetime; peers compare it to notice a
  // restart (and then re-send SchedulerHello / WorkerReady).
  uint64_t incarnation() const;
  // The bound endpoint (with the real port when the address used '*').
  const std::string& endpoint() const;
  BrokerStats stats() const;
  // This broker's metrics (serialize() gives the text exposition format).
  // Gauges derived from the workers (workers, credits) are refreshed once per
  // heartbeat interval; counters, queue depth and scheduler_connected as they
  // change.
  const baton::metrics::Metrics& metrics() const;
  // The port the metrics server listens on; 0 without one.
  int metrics_port() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::broker
