#include "telemetry/scheduler_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include "store/backlog.h"

namespace baton::scheduler {

namespace {
const char* outcome_of(OrchestrationStatus s) {
  switch (s) {
    case OrchestrationStatus::kCompleted: return "completed";
    case OrchestrationStatus::kFailed: return "failed";
    case OrchestrationStatus::kTerminated: return "terminated";
    case OrchestrationStatus::kContinuedAsNew: return "continued_as_new";
    default: return nullptr;
  }
}

std::string cache_key(const std::string& name, const metrics::Labels& labels) {
  std::string k = name;
  for (const auto& [l, v] : labels) {
    k += '\x1f';
    k += v;
  }
  return k;
}
}  // namespace

SchedulerMetrics::SchedulerMetrics()
    : metrics_("scheduler"),
      activities_in_flight_(&metrics_.gauge("baton_scheduler_in_flight", {{"kind", "activity"}})),
      steps_in_flight_(&metrics_.gauge("baton_scheduler_in_flight", {{"kind", "orchestration"}})),
      timers_(&metrics_.gauge("baton_scheduler_timers")),
      partitions_(&metrics_.gauge("baton_scheduler_partitions_owned")),
      broker_connected_(&metrics_.gauge("baton_scheduler_broker_connected")),
      commit_seconds_(&metrics_.histogram("baton_db_commit_duration_seconds")),
      commit_ops_(&metrics_.histogram("baton_db_commit_ops")),
      commit_failures_(&metrics_.counter("baton_db_commit_failures_total")) {
  // Series that alerts and dashboards divide by exist from the start.
  for (const char* kind : {"activity", "orchestration"}) {
    metrics_.counter("baton_leases_expired_total", {{"kind", kind}});
    metrics_.counter("baton_stale_results_total", {{"kind", kind}});
  }
  for (const char* peer : {"client", "broker"}) {
    metrics_.counter("baton_malformed_frames_total", {{"peer", peer}});
  }
}

prometheus::Counter& SchedulerMetrics::counter(const std::string& name,
                                               const metrics::Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = counters_[cache_key(name, labels)];
  if (!slot) slot = &metrics_.counter(name, labels);
  return *slot;
}

prometheus::Histogram& SchedulerMetrics::histogram(const std::string& name,
                                                   const metrics::Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = histograms_[cache_key(name, labels)];
  if (!slot) slot = &metrics_.histogram(name, labels);
  return *slot;
}

void SchedulerMetrics::request_done(const char* operation, bool ok, double seconds) {
  histogram("baton_client_request_duration_seconds",
            {{"operation", operation}, {"outcome", ok ? "ok" : "error"}})
      .Observe(seconds);
}

void SchedulerMetrics::malformed_frame(const char* peer) {
  counter("baton_malformed_frames_total", {{"peer", peer}}).Increment();
}

void SchedulerMetrics::orchestration_started(const std::string& ns, const std::string& name) {
  counter("baton_orchestrations_started_total", {{"namespace", ns}, {"orchestrator", name}})
      .Increment();
}

void SchedulerMetrics::step_committed(const std::string& ns, const std::string& name,
                                      OrchestrationStatus status, int64_t started_ms,
                                      int64_t now_ms) {
  counter("baton_orchestration_steps_total", {{"namespace", ns}, {"orchestrator", name}})
      .Increment();
  const char* outcome = outcome_of(status);
  if (!outcome) return;
  const metrics::Labels labels{{"namespace", ns}, {"orchestrator", name}, {"outcome", outcome}};
  counter("baton_orchestrations_finished_total", labels).Increment();
  if (started_ms > 0) {
    histogram("baton_orchestration_duration_seconds", labels)
        .Observe(static_cast<double>(std::max<int64_t>(0, now_ms - started_ms)) / 1000.0);
  }
}

void SchedulerMetrics::activity_finished(const std::string& ns, const std::string& task_queue,
                                         bool failed) {
  counter("baton_activities_finished_total",
          {{"namespace", ns}, {"task_queue", task_queue}, {"outcome", failed ? "failed" : "completed"}})
      .Increment();
}

void SchedulerMetrics::activity_retry(const std::string& ns, const std::string& task_queue) {
  counter("baton_activity_retries_total", {{"namespace", ns}, {"task_queue", task_queue}})
      .Increment();
}

void SchedulerMetrics::activity_timeout(const std::string& ns, const std::string& task_queue,
                                        const char* timeout) {
  counter("baton_activity_timeouts_total",
          {{"namespace", ns}, {"task_queue", task_queue}, {"timeout", timeout}})
      .Increment();
}

void SchedulerMetrics::lease_expired(const char* kind, std::size_t n) {
  if (n > 0) counter("baton_leases_expired_total", {{"kind", kind}}).Increment(static_cast<double>(n));
}

void SchedulerMetrics::redispatched(const char* kind, const char* reason, std::size_t n) {
  if (n > 0) {
    counter("baton_redispatches_total", {{"kind", kind}, {"reason", reason}})
        .Increment(static_cast<double>(n));
  }
}

void SchedulerMetrics::activity_result(const char* path) {
  counter("baton_activity_results_total", {{"path", path}}).Increment();
}

void SchedulerMetrics::start_committed(const char* path) {
  counter("baton_starts_total", {{"path", path}}).Increment();
}

void SchedulerMetrics::step_dispatched(const char* history) {
  counter("baton_step_dispatches_total", {{"history", history}}).Increment();
}

void SchedulerMetrics::sticky_miss() {
  counter("baton_sticky_misses_total", {}).Increment();
}

void SchedulerMetrics::quiet_results(const char* outcome, std::size_t n) {
  counter("baton_quiet_results_total", {{"outcome", outcome}}).Increment(static_cast<double>(n));
}

void SchedulerMetrics::eager_step(bool accepted) {
  counter("baton_eager_steps_total", {{"outcome", accepted ? "accepted" : "refused"}}).Increment();
}

void SchedulerMetrics::stale_result(const char* kind) {
  counter("baton_stale_results_total", {{"kind", kind}}).Increment();
}

void SchedulerMetrics::commit_done(bool ok, double seconds, std::size_t ops, const char* path) {
  if (!ok) {
    commit_failures_->Increment();
    return;
  }
  counter("baton_db_batches_total", {{"path", path}}).Increment();
  commit_seconds_->Observe(seconds);
  commit_ops_->Observe(static_cast<double>(ops));
}

void SchedulerMetrics::set_state(std::size_t activities_in_flight, std::size_t steps_in_flight,
                                 std::size_t timers, std::size_t partitions_owned,
                                 bool broker_connected) {
  activities_in_flight_->Set(static_cast<double>(activities_in_flight));
  steps_in_flight_->Set(static_cast<double>(steps_in_flight));
  timers_->Set(static_cast<double>(timers));
  partitions_->Set(static_cast<double>(partitions_owned));
  broker_connected_->Set(broker_connected ? 1 : 0);
}

// ------------------------------------------------------------ backlog

BacklogSampler::BacklogSampler(SchedulerMetrics& metrics, std::string db_url,
                               std::chrono::milliseconds interval, const std::atomic<bool>& active)
    : metrics_(metrics), db_url_(std::move(db_url)), interval_(interval), active_(active) {}

BacklogSampler::~BacklogSampler() { stop(); }

void BacklogSampler::start() { thread_ = std::thread([this] { run(); }); }

void BacklogSampler::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BacklogSampler::run() {
  std::unique_ptr<BacklogReader> reader;
  for (;;) {
    std::map<std::tuple<std::string, std::string, std::string>, std::pair<int64_t, double>> now;
    if (active_.load()) {
      if (!reader) {
        auto opened = BacklogReader::open(db_url_);
        if (opened) {
          reader = std::move(opened).value();
        } else {
          spdlog::warn("{}", opened.status().message());
        }
      }
      if (reader) {
        auto rows = reader->read();
        if (rows) {
          for (const auto& r : *rows) {
            now[{r.ns, r.task_queue, r.kind}] = {r.count, r.oldest_age_seconds};
          }
          publish(now);
        } else {
          spdlog::warn("{}", rows.status().message());
          reader.reset();  // keep the last values; reconnect next time
        }
      }
    } else {
      publish(now);  // a standby reports no backlog
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, interval_, [this] { return stop_; })) return;
  }
}

void BacklogSampler::publish(
    const std::map<std::tuple<std::string, std::string, std::string>, std::pair<int64_t, double>>&
        now) {
  auto set = [&](const std::tuple<std::string, std::string, std::string>& key, int64_t count,
                 double age) {
    const metrics::Labels labels{{"namespace", std::get<0>(key)},
                                 {"task_queue", std::get<1>(key)},
                                 {"kind", std::get<2>(key)}};
    metrics_.registry().gauge("baton_backlog_tasks", labels).Set(static_cast<double>(count));
    metrics_.registry().gauge("baton_backlog_oldest_age_seconds", labels).Set(age);
  };
  for (const auto& [key, v] : shown_) {
    if (!now.count(key)) set(key, 0, 0);
  }
  for (const auto& [key, v] : now) {
    set(key, v.first, v.second);
    shown_[key] = v;
  }
}

}  // namespace baton::scheduler
