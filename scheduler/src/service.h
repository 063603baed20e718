// The scheduler service: client API, orchestration state machine, dispatch.
//
// One loop thread owns every socket (client ROUTER, broker DEALER, the PAIR
// to the committer) and all in-memory state; the committer thread owns the
// database. In-memory state is a cache of what is in flight: after any
// database trouble the loop drops it and recovers from PostgreSQL, exactly as
// after a restart. See docs/architecture.md.
// Thread-safety: run() on one thread; stop() from any thread or a signal handler.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "baton/config.h"
#include "baton/security.h"
#include "baton/status.h"

namespace baton::scheduler {

struct ServiceOptions {
  std::string db_url;
  std::string listen_address = "tcp://127.0.0.1:7233";  // client API (ROUTER, bind)
  std::string broker_address = "tcp://127.0.0.1:7234";  // broker (DEALER, connect)
  std::string scheduler_id;                              // partition lease owner; default hostname
  std::chrono::milliseconds partition_lease{10000};
  std::chrono::milliseconds activity_lease{300000};  // redispatch an activity after this
  std::chrono::milliseconds step_lease{30000};       // redispatch an orchestrator step after this
  std::size_t max_batch_ops = 4096;                  // stop reading input while a batch is this big
  std::size_t max_payload_bytes = 2u << 20;          // orchestration input limit
  // An execution whose history would pass this many events fails with
  // HistoryLimitExceeded (0: no limit); past the warning size, a warning is
  // logged once per execution.
  std::size_t max_history_events = 50000;
  // Activity tasks held in memory (dispatched, or waiting for a retry delay)
  // at most; the rest wait in PostgreSQL, parked, and are fetched as these
  // finish. Bounds scheduler memory whatever the backlog.
  std::size_t max_held_activities = 10000;
  std::size_t history_warn_events = 10000;
  // Instances whose state (history as of their last committed step) stays in
  // memory, so an activity result goes straight into the next step and is
  // committed with it instead of through the inbox and a load (0: none).
  std::size_t instance_cache = 10000;
  std::size_t instance_cache_events = 250000;  // history events held in that cache, in total
  // Send a common batch as one pipelined round trip (PgStore::commit).
  bool pipeline_batches = true;
  // A new instance's first step runs before its start is committed, and the
  // start waits this long for it to commit both in one transaction (0: a
  // start is always committed alone, before its first step).
  std::chrono::milliseconds first_step_wait{20};
  // Sticky orchestrations: a worker keeps an instance's orchestrator
  // suspended between steps, and the next step goes to it with only the
  // history it has not seen (docs/architecture.md, "Sticky orchestrations").
  // Needs the instance cache; false: every step carries the whole history.
  bool sticky_orchestrations = true;
  // Eager steps: an activity of a sticky instance carries the step its
  // completion starts, which the worker keeping the orchestrator runs at
  // once and returns with the result (docs/architecture.md, "Eager
  // steps"). Needs sticky_orchestrations; false: every step is dispatched.
  bool eager_steps = true;
  // Quiet results: a successful activity result that cannot wake its
  // orchestrator yet (it waits in a when_all for more, as its last step
  // reported) is held in memory, up to this long, instead of starting a
  // step that would do nothing; the result that can wake it starts one step
  // with them all (docs/architecture.md, "Quiet results"). Held results are
  // not durable: a scheduler crash runs their activities again. 0: every
  // result starts a step at once.
  std::chrono::milliseconds quiet_result_hold{100};
  std::string metrics_address;  // host:port for /metrics, /healthz, /readyz; empty: none
  // How clients authenticate (CURVE allow-list, API keys, or nothing) and
  // the namespaces each may use.
  security::ServerAuth client_auth;
  // The broker link: CURVE when the broker's server key is set (our key
  // pair is client_auth.curve).
  CurveSettings broker_curve;
  std::chrono::milliseconds backlog_interval{5000};  // PostgreSQL backlog sampling period
};

class Service {
 public:
  explicit Service(ServiceOptions options);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Runs until stop(). Returns an error if it cannot start (bind failure) or
  // must stop (partition lease lost to another scheduler).
  Status run();
  // Async-signal-safe.
  void stop() { stop_.store(true, std::memory_order_relaxed); }

 private:
  class Loop;
  ServiceOptions options_;
  std::atomic<bool> stop_{false};
};

}  // namespace baton::scheduler
