#include "runtime/worker_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <algorithm>

#include "baton/config.h"

namespace baton::detail {
namespace {

const std::string& or_default(const std::string& value, const std::string& fallback) {
  return value.empty() ? fallback : value;
}

}  // namespace

WorkerMetrics::WorkerMetrics(const WorkerOptions& options)
    : broker_connected_(metrics_.gauge("baton_worker_broker_connected")),
      reconnects_(metrics_.counter("baton_worker_reconnects_total")),
      malformed_(metrics_.counter("baton_malformed_frames_total", {{"peer", "broker"}})),
      cache_hits_(metrics_.counter("baton_worker_orchestration_cache_total", {{"result", "hit"}})),
      cache_misses_(
          metrics_.counter("baton_worker_orchestration_cache_total", {{"result", "miss"}})),
      cached_(metrics_.gauge("baton_worker_cached_orchestrations")) {
  for (const std::string& tq : options.task_queues) {
    for (const auto& [kind, slots] : {std::pair{"activity", options.activity_slots},
                                      std::pair{"orchestration", options.orchestration_slots}}) {
      const metrics::Labels labels = {
          {"namespace", options.ns}, {"task_queue", tq}, {"kind", kind}};
      metrics_.gauge("baton_worker_slots", labels).Set(slots);
      metrics_.gauge("baton_worker_in_flight", labels);  // present (0) before any work
    }
  }
  broker_connected_.Set(0);
}

const WorkerMetrics::Activity& WorkerMetrics::activity(const ActivityTask& task) {
  static const std::string kNs = kDefaultNamespace;
  static const std::string kQueue = kDefaultTaskQueue;
  const std::string& ns = or_default(task.ns, kNs);
  const std::string& tq = or_default(task.task_queue, kQueue);
  std::lock_guard lock(mu_);
  auto [it, inserted] = activities_.try_emplace(Key{ns, tq, task.name});
  if (inserted) {
    const metrics::Labels queue = {{"namespace", ns}, {"task_queue", tq}, {"kind", "activity"}};
    Activity& a = it->second;
    a.in_flight = &metrics_.gauge("baton_worker_in_flight", queue);
    a.schedule_to_start = &metrics_.histogram("baton_schedule_to_start_seconds", queue);
    metrics::Labels exec = {{"namespace", ns}, {"task_queue", tq}, {"activity", task.name}};
    exec["outcome"] = "completed";
    a.completed = &metrics_.histogram("baton_activity_execution_seconds", exec);
    exec["outcome"] = "failed";
    a.failed = &metrics_.histogram("baton_activity_execution_seconds", exec);
  }
  return it->second;
}

const WorkerMetrics::Step& WorkerMetrics::step(const OrchestrationTask& task) {
  static const std::string kNs = kDefaultNamespace;
  static const std::string kQueue = kDefaultTaskQueue;
  const std::string& ns = or_default(task.ns, kNs);
  const std::string& tq = or_default(task.task_queue, kQueue);
  std::lock_guard lock(mu_);
  auto [it, inserted] = steps_.try_emplace(Key{ns, tq, task.name});
  if (inserted) {
    const metrics::Labels queue = {
        {"namespace", ns}, {"task_queue", tq}, {"kind", "orchestration"}};
    Step& s = it->second;
    s.in_flight = &metrics_.gauge("baton_worker_in_flight", queue);
    s.schedule_to_start = &metrics_.histogram("baton_schedule_to_start_seconds", queue);
    metrics::Labels step = {{"namespace", ns}, {"task_queue", tq}, {"orchestrator", task.name}};
    step["outcome"] = "ok";
    s.ok = &metrics_.histogram("baton_orchestration_step_seconds", step);
    step["outcome"] = "failed";
    s.failed = &metrics_.histogram("baton_orchestration_step_seconds", step);
    step["outcome"] = "nondeterminism";
    s.nondeterminism = &metrics_.histogram("baton_orchestration_step_seconds", step);
    s.nondeterminism_errors = &metrics_.counter("baton_nondeterminism_errors_total",
                                                {{"namespace", ns}, {"orchestrator", task.name}});
  }
  return it->second;
}

void WorkerMetrics::set_broker_connected(bool connected) {
  broker_connected_.Set(connected ? 1 : 0);
}

void WorkerMetrics::count_reconnect() { reconnects_.Increment(); }

void WorkerMetrics::count_malformed() { malformed_.Increment(); }

void WorkerMetrics::count_cache(bool hit) { (hit ? cache_hits_ : cache_misses_).Increment(); }

void WorkerMetrics::set_cached_orchestrations(std::size_t count) {
  cached_.Set(static_cast<double>(count));
}

void observe_schedule_to_start(prometheus::Histogram& histogram, int64_t scheduled_at_ms,
                               int64_t now_ms) {
  if (scheduled_at_ms == 0) return;
  histogram.Observe(static_cast<double>(std::max<int64_t>(0, now_ms - scheduled_at_ms)) / 1000.0);
}

}  // namespace baton::detail
