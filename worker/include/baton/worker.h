// baton::Worker: hosts a process's orchestrators and activities and serves
// the work the broker routes to it.
//
//   baton::Worker worker(baton::WorkerOptions::from_env());
//   worker.add_orchestrator("greet", greet);
//   worker.add_activity("say_hello", [](baton::ActivityContext&, std::string n) {
//     return "Hello " + n + "!";
//   });
//   return worker.run();  // until SIGTERM/SIGINT or stop(); drains first
//
// The worker connects to the broker, announces its task queues, names and
// free slots, and then runs each ActivityTask on an activity thread and each
// OrchestrationTask (a replay step) on an orchestration thread, sending every
// result back. It holds no durable state and never talks to PostgreSQL: a
// worker killed at any moment loses nothing (its leases expire and the
// scheduler dispatches the items again).
//
// Metrics: the worker keeps Prometheus metrics (part "worker" of
// monitoring/metrics.json: in-flight work, slots, schedule-to-start latency,
// activity and step durations, non-determinism errors, broker link) and,
// with a metrics_address, serves them over HTTP while run() runs: /metrics,
// /healthz, and /readyz (200 while the broker answers, 503 before its first
// answer, after it went silent or said goodbye, and while draining).
//
// Thread-safety: add_orchestrator/add_activity before run(), from one
// thread. run() is called once, on a thread of the caller's choice (it
// becomes the worker's I/O thread). stop() may be called from any thread,
// any time, any number of times.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "baton/activity_context.h"
#include "baton/config.h"
#include "baton/orchestration_context.h"
#include "baton/status.h"
#include "baton/task.h"

namespace baton {

namespace detail {
class WorkerImpl;
struct WorkerAccess;  // in-process tests reach a Worker's registry through it
}  // namespace detail

struct WorkerOptions {
  // The broker's ROUTER endpoint.                          BATON_BROKER_ADDRESS
  std::string broker_address;
  // Namespace whose work this worker serves.               BATON_NAMESPACE
  std::string ns;
  // Task queues served (comma list in the environment).   BATON_TASK_QUEUES
  std::vector<std::string> task_queues;
  // Concurrent activities (= activity threads).            BATON_ACTIVITY_SLOTS
  // Default: 10 x hardware threads, from 4 to 256.
  int activity_slots = 0;
  // Orchestration steps queued or running at once.         BATON_ORCHESTRATION_SLOTS
  int orchestration_slots = 64;
  // Unique id; also the ZeroMQ routing id (at most 255 bytes).   BATON_WORKER_ID
  // Default: "<hostname>-<pid>-<random hex>".
  std::string worker_id;
  // How long run() waits for in-flight work after a stop.  BATON_DRAIN_TIMEOUT_S
  std::chrono::milliseconds drain_timeout{30'000};
  // run() turns SIGTERM/SIGINT into stop() (a second signal abandons the
  // drain). Tests and hosts with their own signal handling set false.
  bool handle_signals = true;
  // host:port where run() serves /metrics, /healthz and /readyz over HTTP
  // ("0.0.0.0:9235" in a container; port 0 picks a free port, see
  // Worker::metrics_port()). Empty or "off": no HTTP server. At most one
  // worker per process can serve metrics.                 BATON_METRICS_ADDRESS
  // Default: empty here; from_env() defaults it to 127.0.0.1:9235.
  std::string metrics_address;
  // Largest payload (msgpack bytes) the worker sends: match the scheduler's
  // --max-payload-bytes. An activity whose output is larger fails its
  // attempt with error_type "PayloadTooLarge", non_retryable (the retry
  // policy does not run it again); an orchestrator step with a larger
  // activity or sub-orchestration input, event data, output, continue-as-new
  // input or custom status fails the orchestration with "PayloadTooLarge".
  // Must be > 0.                                           BATON_MAX_PAYLOAD_BYTES
  std::size_t max_payload_bytes = 2u << 20;
  // Sticky orchestrations: after a step, the worker may keep the
  // orchestrator suspended in memory (when the scheduler asks, with a cache
  // token) so the instance's next step brings only the new history and
  // resumes it instead of replaying everything. At most this many are kept,
  // least recently used evicted first; 0: none (every step replays the
  // whole history).                                BATON_MAX_CACHED_ORCHESTRATIONS
  std::size_t max_cached_orchestrations = 5000;
  // CurveZMQ on the broker link when curve.enabled() (server_key: the
  // broker's public key; then public_key and secret_key must be set too).
  // Empty: plain TCP.   BATON_CURVE_SERVER_KEY, BATON_CURVE_CLIENT_KEY_FILE
  // or BATON_CURVE_CLIENT_KEY, or the profile's [curve] table.
  CurveSettings curve;
  // Set by from_env() when the configuration (profile file, BATON_* key
  // settings) is wrong; run() then logs it and returns 1 without serving.
  // Ok otherwise.
  Status config_error;

  // Defaults (broker tcp://127.0.0.1:7234, namespace "default", queue
  // "default", slots as above, fresh worker id, 30 s drain, no metrics
  // server, 2 MiB payload limit, 1000 cached orchestrations, no CurveZMQ).
  WorkerOptions();
  // Defaults overridden by the profile file (broker_address, namespace,
  // curve; see load_connection_settings in baton/config.h) and then by the
  // environment variables above that are set and non-empty
  // (metrics_address defaults to 127.0.0.1:9235; "off" turns it off). A
  // value that does not parse is logged and ignored, except the connection
  // settings: a wrong profile file, profile or key is kept in config_error
  // (and the other connection fields come from the environment alone).
  static WorkerOptions from_env();
};

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  // Must not run while run() is running on another thread: stop(), wait for
  // run() to return, then destroy.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Registers orchestrator `name` (see baton/orchestration_context.h for the
  // accepted signatures). Throws std::invalid_argument for an empty or
  // already registered name. Before run() only.
  template <class F>
  void add_orchestrator(std::string name, F orchestrator) {
    register_orchestrator(std::move(name), detail::erase_orchestrator(std::move(orchestrator)));
  }

  // Registers activity `name` (see baton/activity_context.h for the accepted
  // signatures). Throws std::invalid_argument for an empty or already
  // registered name. Before run() only.
  template <class F>
  void add_activity(std::string name, F activity) {
    register_activity(std::move(name), detail::erase_activity(std::move(activity)));
  }

  // Serves work until stop() (or SIGTERM/SIGINT with handle_signals). Then:
  // tells the broker it leaves (WorkerDisconnect), finishes the work in
  // flight (at most drain_timeout; what is left is abandoned and will be
  // redelivered elsewhere), sends the results, flushes, returns 0.
  // Returns 1 without serving if the options are invalid (including
  // options.config_error), the metrics
  // address cannot be served (malformed, in use, or another worker of this
  // process serves metrics), or run() was already called; the reason is
  // logged. Broker outages are not errors: the worker keeps reconnecting and
  // keeps finished results until they can be sent.
  int run();

  // Asks run() to drain and return. Non-blocking; before run() it makes
  // run() return 0 at once.
  void stop();

  const WorkerOptions& options() const;

  // The port of the metrics HTTP server while run() serves one (the real
  // port when metrics_address used port 0), else 0. For diagnostics and
  // tests; any thread.
  int metrics_port() const;

 private:
  friend struct detail::WorkerAccess;
  void register_orchestrator(std::string name, detail::OrchestratorFn fn);
  void register_activity(std::string name, detail::ActivityFn fn);

  std::unique_ptr<detail::WorkerImpl> impl_;
};

}  // namespace baton
