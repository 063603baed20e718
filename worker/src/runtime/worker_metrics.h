// WorkerMetrics: the worker's Prometheus metrics (part "worker" of
// monitoring/metrics.json, plus baton_malformed_frames_total{peer="broker"}),
// with the handles of each label set resolved once and cached.
//
// Labels come from the task: namespace and task queue (empty means
// "default", as the broker routes them) and the activity or orchestrator
// name. Names are bounded by what is registered and what clients send; an
// unregistered name is still used as is (it ends in a failed result).
//
// Thread-safety: every method from any thread. The Activity/Step handles
// returned stay valid as long as this object (pool threads that may outlive
// run() keep it alive with a shared_ptr); prometheus-cpp metrics are
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "baton/metrics.h"
#include "baton/protocol.h"
#include "baton/worker.h"

namespace baton::detail {

class WorkerMetrics {
 public:
  // One activity name on one (namespace, task queue).
  struct Activity {
    prometheus::Gauge* in_flight = nullptr;  // shared by every name of the queue
    prometheus::Histogram* schedule_to_start = nullptr;
    prometheus::Histogram* completed = nullptr;  // execution seconds by outcome
    prometheus::Histogram* failed = nullptr;
  };
  // One orchestrator on one (namespace, task queue).
  struct Step {
    prometheus::Gauge* in_flight = nullptr;
    prometheus::Histogram* schedule_to_start = nullptr;
    prometheus::Histogram* ok = nullptr;  // step seconds by outcome
    prometheus::Histogram* failed = nullptr;
    prometheus::Histogram* nondeterminism = nullptr;
    prometheus::Counter* nondeterminism_errors = nullptr;
  };

  // Sets the slots gauges of every task queue in `options` (same capacity on
  // each: the slots are shared) and broker_connected to 0.
  explicit WorkerMetrics(const WorkerOptions& options);
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  metrics::Metrics& metrics() { return metrics_; }

  const Activity& activity(const ActivityTask& task);
  const Step& step(const OrchestrationTask& task);

  void set_broker_connected(bool connected);
  void count_reconnect();
  void count_malformed();
  // A step that asked to resume a cached orchestrator found it (hit) or not.
  void count_cache(bool hit);
  // Orchestrators kept suspended between steps.
  void set_cached_orchestrations(std::size_t count);

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // ns, task queue, name

  metrics::Metrics metrics_{"worker"};
  prometheus::Gauge& broker_connected_;
  prometheus::Counter& reconnects_;
  prometheus::Counter& malformed_;
  prometheus::Counter& cache_hits_;
  prometheus::Counter& cache_misses_;
  prometheus::Gauge& cached_;
  std::mutex mu_;
  std::map<Key, Activity> activities_;  // guarded by mu_; nodes never move
  std::map<Key, Step> steps_;           // guarded by mu_; nodes never move
};

// Observes the seconds from `scheduled_at_ms` to `now_ms` (wall clock, ms
// since the epoch; negative clock skew counts as 0) unless scheduled_at_ms
// is 0 (unknown).
void observe_schedule_to_start(prometheus::Histogram& histogram, int64_t scheduled_at_ms,
                               int64_t now_ms);

}  // namespace baton::detail
