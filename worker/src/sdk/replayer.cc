#include "sdk/replayer.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sdk/failure.h"
#include "sdk/replay_state.h"

namespace baton::detail {
namespace {

Action failed_completion(int32_t id, std::string error_type, std::string message) {
  Action a;
  a.type = ActionType::kCompleteOrchestration;
  a.id = id;
  a.status = OrchestrationStatus::kFailed;
  a.failure.error_type = std::move(error_type);
  a.failure.message = std::move(message);
  return a;
}

// One side of a non-determinism message: the action type and its key.
std::string describe(ActionType type, const std::string& name, const std::string& instance_id) {
  switch (type) {
    case ActionType::kCreateTimer:
      return action_type_name(type);
    case ActionType::kSendEvent:
      return std::string(action_type_name(type)) + "(" + name + " to " + instance_id + ")";
    default:
      return std::string(action_type_name(type)) + "(" + name + ")";
  }
}

// Whether produced action `a` is the one history recorded as `e`.
bool same_key(const Action& a, const HistoryEvent& e) {
  switch (a.type) {
    case ActionType::kCreateTimer:
      return true;
    case ActionType::kSendEvent:
      return a.name == e.name && a.instance_id == e.instance_id;
    default:
      return a.name == e.name;
  }
}

// Drives one step. Members are ordered so the coroutine frame (root_) is
// destroyed before the state its awaiters point into.
// Thread-safety: none; one instance per run_step call.
class Replayer {
 public:
  Replayer(const Registry& registry, const OrchestrationTask& task, const LogSink& log_sink)
      : registry_(registry), task_(task), state_(task.ns, task.instance_id, task.name, log_sink) {}

  bool nondeterministic() const { return nondeterministic_; }

  OrchestrationResult run() {
    OrchestrationResult result;
    result.work_id = task_.work_id;
    result.ns = task_.ns;
    result.instance_id = task_.instance_id;
    for (const HistoryEvent& e : task_.past_events) {
      if (e.type == EventType::kExecutionCompleted) return result;
    }
    result.actions = apply_all();
    if (const std::optional<Bytes>& status = state_.custom_status()) {
      result.has_custom_status = true;
      result.custom_status = *status;
    }
    return result;
  }

 private:
  std::vector<Action> apply_all() {
    state_.set_replaying(true);
    for (const HistoryEvent& e : task_.past_events) {
      if (!apply(e)) return std::move(fatal_);
    }
    state_.set_replaying(false);
    for (const HistoryEvent& e : task_.new_events) {
      if (!apply(e)) return std::move(fatal_);
    }
    return finish();
  }

  // False when the step must end with `fatal_` as its only output.
  bool apply(const HistoryEvent& e) {
    switch (e.type) {
      case EventType::kOrchestratorStarted:
        state_.set_current_time_ms(e.timestamp_ms);
        return true;
      case EventType::kExecutionStarted:
        return on_execution_started(e);
      case EventType::kTaskScheduled:
        return on_action_recorded(e, ActionType::kScheduleTask);
      case EventType::kTimerCreated:
        return on_action_recorded(e, ActionType::kCreateTimer);
      case EventType::kSubOrchestrationCreated:
        return on_action_recorded(e, ActionType::kCreateSubOrchestration);
      case EventType::kEventSent:
        return on_action_recorded(e, ActionType::kSendEvent);
      case EventType::kTaskCompleted:
        on_outcome(e, ActionType::kScheduleTask, false);
        return true;
      case EventType::kTaskFailed:
        on_outcome(e, ActionType::kScheduleTask, true);
        return true;
      case EventType::kTimerFired:
        on_outcome(e, ActionType::kCreateTimer, false);
        return true;
      case EventType::kSubOrchestrationCompleted:
        on_outcome(e, ActionType::kCreateSubOrchestration, false);
        return true;
      case EventType::kSubOrchestrationFailed:
        on_outcome(e, ActionType::kCreateSubOrchestration, true);
        return true;
      case EventType::kEventRaised:
        state_.deliver_event(e);
        return true;
      // The scheduler's business: it suspends, resumes, terminates and
      // continues executions; ExecutionCompleted only matters in
      // past_events (see run()).
      case EventType::kExecutionCompleted:
      case EventType::kExecutionTerminated:
      case EventType::kExecutionSuspended:
      case EventType::kExecutionResumed:
      case EventType::kContinuedAsNew:
        return true;
    }
    return true;  // a type newer than this worker: ignored
  }

  bool on_execution_started(const HistoryEvent& e) {
    if (root_) return true;  // duplicate delivery; the instance already started
    const std::string& name = task_.name.empty() ? e.name : task_.name;
    const OrchestratorFn* fn = registry_.find_orchestrator(name);
    if (fn == nullptr) {
      fatal_.push_back(
          failed_completion(state_.next_sequence(), "OrchestratorNotFound",
                            "orchestrator '" + name + "' is not registered on this worker"));
      return false;
    }
    try {
      root_.emplace((*fn)(state_.context(), e.input));
    } catch (...) {  // only allocation can throw here: the body runs inside the coroutine
      fatal_.push_back(failed_completion(state_.next_sequence(), "", ""));
      fatal_.back().failure = describe_current_exception();
      return false;
    }
    return true;
  }

  bool on_action_recorded(const HistoryEvent& e, ActionType type) {
    const std::string expected = describe(type, e.name, e.instance_id);
    ReplayState::Produced* p = state_.find(e.event_id);
    if (p == nullptr) return non_deterministic(e.event_id, expected, "nothing");
    const Action& action = p->action;
    if (action.type != type || !same_key(action, e)) {
      return non_deterministic(e.event_id, expected,
                               describe(action.type, action.name, action.instance_id));
    }
    p->recorded = true;
    return true;
  }

  void on_outcome(const HistoryEvent& e, ActionType type, bool failed) {
    ReplayState::Produced* p = state_.find(e.task_scheduled_id);
    if (p == nullptr || p->action.type != type || !p->completion) return;
    resolve(p->completion.get(), failed, failed ? Bytes() : e.result,
            failed ? e.failure : FailureDetails{});
  }

  bool non_deterministic(int32_t sequence, const std::string& history_side,
                         const std::string& produced_side) {
    nondeterministic_ = true;
    fatal_.push_back(failed_completion(
        state_.next_sequence(), "NonDeterminismError",
        "non-deterministic orchestrator '" + state_.name() + "' in instance '" + state_.ns() + "/" +
            state_.instance_id() + "': at sequence " + std::to_string(sequence) + " history has " +
            history_side + " but the orchestrator produced " + produced_side));
    return false;
  }

  std::vector<Action> finish() {
    std::vector<Action> out;
    for (ReplayState::Produced& p : state_.produced()) {
      if (!p.recorded) out.push_back(std::move(p.action));
    }
    std::optional<Action> done = completion();
    if (done) out.push_back(std::move(*done));
    return out;
  }

  // How the step ends the execution, if it does.
  std::optional<Action> completion() {
    Action done;
    done.type = ActionType::kCompleteOrchestration;
    done.id = state_.next_sequence();
    if (root_ && root_->has_failed()) {
      done.status = OrchestrationStatus::kFailed;
      try {
        (void)root_->await_resume();
      } catch (...) {
        done.failure = describe_current_exception();
      }
      return done;
    }
    if (const auto& next = state_.continued_as_new()) {
      done.status = OrchestrationStatus::kContinuedAsNew;
      done.result = next->input;
      if (next->keep_unprocessed_events) done.carryover_events = state_.unconsumed_events();
      return done;
    }
    if (root_ && root_->is_done()) {
      done.status = OrchestrationStatus::kCompleted;
      done.result = root_->await_resume();  // did not fail: the encoded value
      return done;
    }
    return std::nullopt;
  }

  const Registry& registry_;
  const OrchestrationTask& task_;
  ReplayState state_;
  std::vector<Action> fatal_;
  bool nondeterministic_ = false;
  std::optional<Task<Bytes>> root_;  // destroyed first (declared last)
};

}  // namespace

OrchestrationResult run_step(const Registry& registry, const OrchestrationTask& task,
                             const LogSink& log_sink, StepOutcome* outcome) {
  Replayer replayer(registry, task, log_sink);
  OrchestrationResult result = replayer.run();
  if (outcome != nullptr) {
    const bool failed = !result.actions.empty() &&
                        result.actions.back().type == ActionType::kCompleteOrchestration &&
                        result.actions.back().status == OrchestrationStatus::kFailed;
    *outcome = replayer.nondeterministic() ? StepOutcome::kNonDeterminism
               : failed                    ? StepOutcome::kFailed
                                           : StepOutcome::kOk;
  }
  return result;
}

}  // namespace baton::detail
