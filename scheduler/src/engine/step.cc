#include "engine/step.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace baton::scheduler {

PastEvents::PastEvents(std::vector<HistoryEvent> history) : events(std::move(history)) {
  for (const auto& ev : events) {
    if (ev.event_id >= 0) used_ids.push_back(ev.event_id);
    if (ev.type == EventType::kExecutionStarted && started_ms == 0) started_ms = ev.timestamp_ms;
  }
  std::sort(used_ids.begin(), used_ids.end());
  used_ids.erase(std::unique(used_ids.begin(), used_ids.end()), used_ids.end());
}

void PastEvents::append(const HistoryEvent& ev) {
  if (ev.event_id >= 0) {
    // Ids mostly grow: usually a push_back.
    auto at = std::lower_bound(used_ids.begin(), used_ids.end(), ev.event_id);
    if (at == used_ids.end() || *at != ev.event_id) used_ids.insert(at, ev.event_id);
  }
  if (ev.type == EventType::kExecutionStarted && started_ms == 0) started_ms = ev.timestamp_ms;
  events.push_back(ev);
}

bool PastEvents::uses(int32_t id) const {
  return std::binary_search(used_ids.begin(), used_ids.end(), id);
}

namespace {

bool is_control(EventType t) {
  return t == EventType::kExecutionSuspended || t == EventType::kExecutionResumed ||
         t == EventType::kExecutionTerminated;
}

StepOp base_op(const std::string& ns, const std::string& id, int32_t history_len,
               int64_t now_ms) {
  StepOp op;
  op.ns = ns;
  op.instance_id = id;
  op.expected_history_len = history_len;
  op.now_ms = now_ms;
  return op;
}

StepOp base_op(const DispatchedStep& step, int64_t now_ms) {
  StepOp op = base_op(step.task.ns, step.task.instance_id, step.history_len, now_ms);
  op.consumed_inbox_ids = step.inbox_ids;
  op.events = step.task.new_events;
  return op;
}

StepOp fail_step(const DispatchedStep& step, int64_t now_ms, std::string error_type,
                 std::string message) {
  StepOp op = base_op(step, now_ms);
  op.status = OrchestrationStatus::kFailed;
  op.failure = FailureDetails{std::move(error_type), std::move(message), "", true};
  HistoryEvent done;
  done.type = EventType::kExecutionCompleted;
  done.timestamp_ms = now_ms;
  done.status = op.status;
  done.failure = op.failure;
  op.events.push_back(std::move(done));
  return op;
}

DispatchedStep worker_step(const std::string& ns, const std::string& instance_id,
                           const LoadedInstance& loaded, const std::vector<InboxEvent>& events,
                           int64_t now_ms, uint64_t work_id, SharedPast past) {
  DispatchedStep step;
  step.past = past ? std::move(past) : std::make_shared<const PastEvents>(loaded.history);
  step.history_len = loaded.history_len;
  step.task.work_id = work_id;
  step.task.ns = ns;
  step.task.instance_id = instance_id;
  step.task.task_queue = loaded.task_queue;
  step.task.name = loaded.name;
  HistoryEvent started;
  started.type = EventType::kOrchestratorStarted;
  started.timestamp_ms = now_ms;
  step.task.new_events.push_back(std::move(started));
  for (const auto& in : events) {
    step.task.new_events.push_back(in.event);
    step.inbox_ids.push_back(in.id);
  }
  return step;
}

}  // namespace

StepPlan plan_step_events(const std::string& ns, const std::string& instance_id,
                          const LoadedInstance& loaded, int64_t now_ms, uint64_t work_id,
                          SharedPast past);

StepPlan plan_step(const std::string& ns, const std::string& instance_id,
                   const LoadedInstance& loaded, int64_t now_ms, uint64_t work_id,
                   SharedPast past) {
  StepPlan plan = plan_step_events(ns, instance_id, loaded, now_ms, work_id, std::move(past));
  const std::size_t consumed = plan.kind == StepPlan::Kind::kControl
                                   ? plan.control.consumed_inbox_ids.size()
                                   : plan.kind == StepPlan::Kind::kWorker ? plan.step.inbox_ids.size()
                                                                          : loaded.inbox.size();
  plan.leaves_events = consumed < loaded.inbox.size();
  return plan;
}

StepPlan plan_step_events(const std::string& ns, const std::string& instance_id,
                          const LoadedInstance& loaded, int64_t now_ms, uint64_t work_id,
                          SharedPast past) {
  StepPlan plan;
  if (!loaded.found || is_terminal(loaded.status) || loaded.inbox.empty()) return plan;

  // Termination pre-empts everything else in the inbox.
  for (const auto& in : loaded.inbox) {
    if (in.event.type != EventType::kExecutionTerminated) continue;
    plan.kind = StepPlan::Kind::kControl;
    StepOp& op = plan.control;
    op = base_op(ns, instance_id, loaded.history_len, now_ms);
    for (const auto& all : loaded.inbox) op.consumed_inbox_ids.push_back(all.id);
    HistoryEvent ev = in.event;
    ev.timestamp_ms = now_ms;
    op.events.push_back(ev);
    op.status = OrchestrationStatus::kTerminated;
    op.output = in.event.input;  // the reason
    op.terminate_children = in.event.name == "recursive";
    return plan;
  }

  if (loaded.status == OrchestrationStatus::kSuspended) {
    for (const auto& in : loaded.inbox) {
      if (in.event.type != EventType::kExecutionResumed) continue;
      plan.kind = StepPlan::Kind::kControl;
      plan.control = base_op(ns, instance_id, loaded.history_len, now_ms);
      plan.control.consumed_inbox_ids.push_back(in.id);
      HistoryEvent ev = in.event;
      ev.timestamp_ms = now_ms;
      plan.control.events.push_back(ev);
      plan.control.status = OrchestrationStatus::kRunning;
      return plan;
    }
    return plan;  // buffered until resumed
  }

  if (is_control(loaded.inbox.front().event.type)) {
    // A leading run of suspend/resume events, applied in order.
    plan.kind = StepPlan::Kind::kControl;
    StepOp& op = plan.control;
    op = base_op(ns, instance_id, loaded.history_len, now_ms);
    bool suspended = false;
    for (const auto& in : loaded.inbox) {
      if (!is_control(in.event.type)) break;
      op.consumed_inbox_ids.push_back(in.id);
      const bool suspend = in.event.type == EventType::kExecutionSuspended;
      if (suspend == suspended) continue;  // no change: consumed, not recorded
      suspended = suspend;
      HistoryEvent ev = in.event;
      ev.timestamp_ms = now_ms;
      op.events.push_back(ev);
    }
    const bool started = loaded.status != OrchestrationStatus::kPending;
    op.status = suspended ? OrchestrationStatus::kSuspended
                          : (started ? OrchestrationStatus::kRunning : loaded.status);
    return plan;
  }

  // A leading run of ordinary events goes to the orchestrator.
  std::vector<InboxEvent> events;
  for (const auto& in : loaded.inbox) {
    if (is_control(in.event.type)) break;
    events.push_back(in);
  }
  plan.kind = StepPlan::Kind::kWorker;
  plan.step = worker_step(ns, instance_id, loaded, events, now_ms, work_id, std::move(past));
  return plan;
}

StepOp apply_actions(const DispatchedStep& step, const OrchestrationResult& result,
                     int64_t now_ms, std::size_t max_history_events) {
  StepOp op = base_op(step, now_ms);
  op.status = OrchestrationStatus::kRunning;
  op.has_custom_status = result.has_custom_status;
  op.custom_status = result.custom_status;

  // Ids already used by this execution: a reused id would make replay ambiguous.
  std::set<int32_t> used;  // by this step's earlier actions
  auto fresh_id = [&](const Action& a) {
    return a.id >= 0 && !step.past->uses(a.id) && used.insert(a.id).second;
  };
  auto event_for = [&](EventType type, const Action& a) {
    HistoryEvent ev;
    ev.type = type;
    ev.event_id = a.id;
    ev.timestamp_ms = now_ms;
    ev.name = a.name;
    ev.input = a.input;
    return ev;
  };

  for (const auto& a : result.actions) {
    if (a.type != ActionType::kCompleteOrchestration && !fresh_id(a)) {
      return fail_step(step, now_ms, "InvalidAction",
                       std::string(action_type_name(a.type)) + " has action id " +
                           std::to_string(a.id) +
                           ", which is negative or already used in this execution");
    }
    switch (a.type) {
      case ActionType::kScheduleTask: {
        if (a.name.empty()) {
          return fail_step(step, now_ms, "InvalidAction", "ScheduleTask with an empty activity name");
        }
        HistoryEvent ev = event_for(EventType::kTaskScheduled, a);
        ev.task_queue = a.task_queue.empty() ? step.task.task_queue : a.task_queue;
        TaskOptions options{a.retry, a.start_to_close_timeout_ms, a.heartbeat_timeout_ms,
                            a.schedule_to_start_timeout_ms};
        op.tasks.push_back(NewTask{ev.task_queue, a.name, a.id, a.input, options});
        op.events.push_back(std::move(ev));
        break;
      }
      case ActionType::kCreateTimer: {
        HistoryEvent ev = event_for(EventType::kTimerCreated, a);
        ev.fire_at_ms = a.fire_at_ms;
        HistoryEvent fired;
        fired.type = EventType::kTimerFired;
        fired.task_scheduled_id = a.id;
        fired.fire_at_ms = a.fire_at_ms;
        fired.timestamp_ms = a.fire_at_ms;
        op.timers.push_back(NewTimer{a.fire_at_ms, std::move(fired)});
        op.events.push_back(std::move(ev));
        break;
      }
      case ActionType::kCreateSubOrchestration: {
        if (a.name.empty() || a.instance_id.empty()) {
          return fail_step(step, now_ms, "InvalidAction",
                           "CreateSubOrchestration needs an orchestrator name and an instance id");
        }
        HistoryEvent ev = event_for(EventType::kSubOrchestrationCreated, a);
        ev.instance_id = a.instance_id;
        ev.task_queue = a.task_queue.empty() ? step.task.task_queue : a.task_queue;
        StartOp child;
        child.ns = step.task.ns;
        child.instance_id = a.instance_id;
        child.name = a.name;
        child.task_queue = ev.task_queue;
        child.input = a.input;
        child.parent_instance_id = step.task.instance_id;
        child.parent_event_id = a.id;
        child.now_ms = now_ms;
        op.children.push_back(std::move(child));
        op.events.push_back(std::move(ev));
        break;
      }
      case ActionType::kSendEvent: {
        if (a.name.empty() || a.instance_id.empty()) {
          return fail_step(step, now_ms, "InvalidAction",
                           "SendEvent needs an event name and a target instance id");
        }
        HistoryEvent ev = event_for(EventType::kEventSent, a);
        ev.instance_id = a.instance_id;
        HistoryEvent raised;
        raised.type = EventType::kEventRaised;
        raised.timestamp_ms = now_ms;
        raised.name = a.name;
        raised.input = a.input;
        op.sends.push_back(InboxOp{step.task.ns, a.instance_id, std::move(raised)});
        op.events.push_back(std::move(ev));
        break;
      }
      case ActionType::kCompleteOrchestration: {
        if (a.status == OrchestrationStatus::kContinuedAsNew) {
          HistoryEvent ev;
          ev.type = EventType::kContinuedAsNew;
          ev.event_id = a.id;
          ev.timestamp_ms = now_ms;
          ev.input = a.result;
          op.events.push_back(std::move(ev));
          op.status = OrchestrationStatus::kContinuedAsNew;
          op.new_input = a.result;
          op.carryover_events = a.carryover_events;
          // The old execution's pending work is abandoned with it.
          op.tasks.clear();
          op.timers.clear();
          return op;
        }
        if (a.status != OrchestrationStatus::kCompleted && a.status != OrchestrationStatus::kFailed) {
          return fail_step(step, now_ms, "InvalidAction",
                           std::string("CompleteOrchestration with status ") +
                               orchestration_status_name(a.status));
        }
        HistoryEvent ev;
        ev.type = EventType::kExecutionCompleted;
        ev.event_id = a.id;
        ev.timestamp_ms = now_ms;
        ev.status = a.status;
        ev.result = a.result;
        ev.failure = a.failure;
        op.events.push_back(std::move(ev));
        op.status = a.status;
        op.output = a.result;
        op.failure = a.failure;
        // A finished orchestration schedules nothing more; children and
        // events it started in this very step still go out.
        op.tasks.clear();
        op.timers.clear();
        return op;
      }
      default:
        return fail_step(step, now_ms, "InvalidAction",
                         "unknown action type " + std::to_string(static_cast<int>(a.type)));
    }
  }
  const std::size_t length = step.past->events.size() + op.events.size();
  if (max_history_events > 0 && length > max_history_events) {
    return fail_step(step, now_ms, "HistoryLimitExceeded",
                     "the history of this execution would reach " + std::to_string(length) +
                         " events, over the limit of " + std::to_string(max_history_events) +
                         " (--max-history-events); call continue_as_new periodically to start "
                         "a fresh history");
  }
  return op;
}

RetryDecision decide_retry(const RetryPolicy& policy, int32_t attempt,
                           const FailureDetails& failure, int64_t first_scheduled_ms,
                           int64_t now_ms) {
  RetryDecision d;
  if (failure.non_retryable) {
    d.why_not = "the failure is marked non-retryable";
    return d;
  }
  if (std::find(policy.non_retryable_error_types.begin(), policy.non_retryable_error_types.end(),
                failure.error_type) != policy.non_retryable_error_types.end()) {
    d.why_not = "error type " + failure.error_type + " is non-retryable by policy";
    return d;
  }
  if (attempt >= policy.max_attempts) {
    d.why_not = "attempt " + std::to_string(attempt) + " of " +
                std::to_string(std::max(policy.max_attempts, 1)) + " failed";
    return d;
  }
  const double coeff = policy.backoff_coefficient >= 1.0 ? policy.backoff_coefficient : 1.0;
  double delay = static_cast<double>(std::max<int64_t>(policy.first_retry_interval_ms, 0)) *
                 std::pow(coeff, attempt - 1);
  if (policy.max_retry_interval_ms > 0) {
    delay = std::min(delay, static_cast<double>(policy.max_retry_interval_ms));
  }
  d.delay_ms = static_cast<int64_t>(delay);
  if (policy.retry_timeout_ms > 0 && now_ms + d.delay_ms > first_scheduled_ms + policy.retry_timeout_ms) {
    d.why_not = "the retry timeout of " + std::to_string(policy.retry_timeout_ms) + " ms elapsed";
    return d;
  }
  d.retry = true;
  return d;
}

FailureDetails schedule_to_start_failure(const std::string& activity, int64_t timeout_ms) {
  return FailureDetails{"ScheduleToStartTimeout",
                        "activity '" + activity + "' was not started by any worker within " +
                            std::to_string(timeout_ms) + " ms",
                        "", true};
}

FailureDetails timeout_failure(const std::string& activity, int32_t attempt, bool heartbeat) {
  FailureDetails f;
  f.error_type = heartbeat ? "HeartbeatTimeout" : "StartToCloseTimeout";
  f.message = "activity '" + activity + "' attempt " + std::to_string(attempt) +
              (heartbeat ? " missed its heartbeat timeout" : " exceeded its start-to-close timeout");
  return f;
}

}  // namespace baton::scheduler
