#include "engine/step.h"

#include <set>

namespace baton::scheduler {
namespace {

StepOp base_op(const DispatchedStep& step, int64_t now_ms) {
  StepOp op;
  op.ns = step.task.ns;
  op.instance_id = step.task.instance_id;
  op.expected_history_len = step.history_len;
  op.consumed_inbox_ids = step.inbox_ids;
  op.events = step.task.new_events;
  op.now_ms = now_ms;
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

}  // namespace

DispatchedStep make_step(const std::string& ns, const std::string& instance_id,
                         const LoadedInstance& loaded, int64_t now_ms, uint64_t work_id) {
  DispatchedStep step;
  step.history_len = loaded.history_len;
  step.task.work_id = work_id;
  step.task.ns = ns;
  step.task.instance_id = instance_id;
  step.task.task_queue = loaded.task_queue;
  step.task.name = loaded.name;
  step.task.past_events = loaded.history;
  HistoryEvent started;
  started.type = EventType::kOrchestratorStarted;
  started.timestamp_ms = now_ms;
  step.task.new_events.push_back(std::move(started));
  for (const auto& in : loaded.inbox) {
    step.task.new_events.push_back(in.event);
    step.inbox_ids.push_back(in.id);
  }
  return step;
}

StepOp apply_actions(const DispatchedStep& step, const std::vector<Action>& actions,
                     int64_t now_ms) {
  StepOp op = base_op(step, now_ms);
  op.status = OrchestrationStatus::kRunning;

  // Ids already used by this execution: a reused id would make replay ambiguous.
  std::set<int32_t> used;
  for (const auto& ev : step.task.past_events) {
    if (ev.event_id >= 0) used.insert(ev.event_id);
  }

  for (const auto& a : actions) {
    switch (a.type) {
      case ActionType::kScheduleTask: {
        if (a.id < 0 || !used.insert(a.id).second) {
          return fail_step(step, now_ms, "InvalidAction",
                           "ScheduleTask(" + a.name + ") has action id " + std::to_string(a.id) +
                               ", which is negative or already used in this execution");
        }
        if (a.name.empty()) {
          return fail_step(step, now_ms, "InvalidAction", "ScheduleTask with an empty activity name");
        }
        HistoryEvent ev;
        ev.type = EventType::kTaskScheduled;
        ev.event_id = a.id;
        ev.timestamp_ms = now_ms;
        ev.name = a.name;
        ev.input = a.input;
        ev.task_queue = a.task_queue.empty() ? step.task.task_queue : a.task_queue;
        op.tasks.push_back(NewTask{ev.task_queue, a.name, a.id, a.input});
        op.events.push_back(std::move(ev));
        break;
      }
      case ActionType::kCompleteOrchestration: {
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
        op.tasks.clear();  // a finished orchestration schedules nothing
        return op;
      }
      case ActionType::kCreateTimer:
      case ActionType::kCreateSubOrchestration:
      case ActionType::kSendEvent:
        return fail_step(step, now_ms, "UnsupportedAction",
                         std::string(action_type_name(a.type)) +
                             " is not supported by this scheduler version");
      default:
        return fail_step(step, now_ms, "InvalidAction",
                         "unknown action type " + std::to_string(static_cast<int>(a.type)));
    }
  }
  return op;
}

}  // namespace baton::scheduler
