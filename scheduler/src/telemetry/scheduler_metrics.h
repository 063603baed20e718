// The scheduler's metrics (part "scheduler" of monitoring/metrics.json) with
// the label lookups cached, and the thread that samples the PostgreSQL
// backlog into gauges.
// Thread-safety: SchedulerMetrics may be used from any thread (the loop and
// the committer); its caches are guarded by mu_. BacklogSampler runs its own
// thread between start() and stop().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "baton/metrics.h"
#include "baton/protocol.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace baton::scheduler {

class SchedulerMetrics {
 public:
  SchedulerMetrics();

  metrics::Metrics& registry() { return metrics_; }

  // Client API.
  void request_done(const char* operation, bool ok, double seconds);
  void malformed_frame(const char* peer);

  // Orchestrations.
  void orchestration_started(const std::string& ns, const std::string& name);
  // path: "with_first_step" (committed with the instance's first step) or "alone".
  void start_committed(const char* path);
  // An orchestrator step sent with the whole history ("full") or only what
  // its sticky worker has not seen ("partial").
  void step_dispatched(const char* history);
  // A sticky worker no longer held the orchestrator; the step went again whole.
  void sticky_miss();
  // An eager step (ActivityResult.next_step) the scheduler accepted or refused.
  void eager_step(bool accepted);
  // Quiet results: `n` results held back ("held") or released by their
  // hold's deadline ("expired").
  void quiet_results(const char* outcome, std::size_t n);
  // A step committed; `status` is the instance's status after it and
  // `started_ms` (wall clock) when its execution started (0: unknown).
  void step_committed(const std::string& ns, const std::string& name, OrchestrationStatus status,
                      int64_t started_ms, int64_t now_ms);

  // Activities.
  void activity_finished(const std::string& ns, const std::string& task_queue, bool failed);
  void activity_retry(const std::string& ns, const std::string& task_queue);
  void activity_timeout(const std::string& ns, const std::string& task_queue, const char* timeout);

  // Dispatch.
  void lease_expired(const char* kind, std::size_t n);
  void redispatched(const char* kind, const char* reason, std::size_t n);
  void stale_result(const char* kind);
  // path: "step" (folded into the next step) or "inbox".
  void activity_result(const char* path);

  // Database.
  // path: "pipelined", "stepwise" or "retried" (BatchPath).
  void commit_done(bool ok, double seconds, std::size_t ops, const char* path);

  // Gauges the loop keeps current.
  void set_state(std::size_t activities_in_flight, std::size_t steps_in_flight,
                 std::size_t timers, std::size_t partitions_owned, bool broker_connected);

 private:
  prometheus::Counter& counter(const std::string& name, const metrics::Labels& labels);
  prometheus::Histogram& histogram(const std::string& name, const metrics::Labels& labels);

  metrics::Metrics metrics_;
  std::mutex mu_;
  std::unordered_map<std::string, prometheus::Counter*> counters_;     // guarded by mu_
  std::unordered_map<std::string, prometheus::Histogram*> histograms_;  // guarded by mu_
  prometheus::Gauge* activities_in_flight_;
  prometheus::Gauge* steps_in_flight_;
  prometheus::Gauge* timers_;
  prometheus::Gauge* partitions_;
  prometheus::Gauge* broker_connected_;
  prometheus::Histogram* commit_seconds_;
  prometheus::Histogram* commit_ops_;
  prometheus::Counter* commit_failures_;
};

// Samples baton_backlog_tasks / baton_backlog_oldest_age_seconds every
// `interval` while `active` is true (only the scheduler that owns the
// partitions reports, so sums over replicas stay right); zero otherwise.
// Groups that empty out are set to 0, not left stale.
class BacklogSampler {
 public:
  BacklogSampler(SchedulerMetrics& metrics, std::string db_url, std::chrono::milliseconds interval,
                 const std::atomic<bool>& active);
  ~BacklogSampler();
  void start();
  void stop();

 private:
  void run();
  void publish(const std::map<std::tuple<std::string, std::string, std::string>,
                              std::pair<int64_t, double>>& now);

  SchedulerMetrics& metrics_;
  std::string db_url_;
  std::chrono::milliseconds interval_;
  const std::atomic<bool>& active_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
  // Groups reported so far (touched by the sampler thread only).
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<int64_t, double>> shown_;
};

}  // namespace baton::scheduler
