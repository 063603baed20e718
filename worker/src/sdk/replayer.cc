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

std::string describe(ActionType type, const std::string& name) {
  return std::string(action_type_name(type)) + "(" + name + ")";
}

// Drives one step. Members are ordered so the coroutine frame (root_) is
// destroyed before the state its awaiters point into.
// Thread-safety: none; one instance per run_step call.
class Replayer {
 public:
  Replayer(const Registry& registry, const OrchestrationTask& task)
      : registry_(registry), task_(task), state_(task.ns, task.instance_id, task.name) {}

  std::vector<Action> run() {
    for (const HistoryEvent& e : task_.past_events) {
      if (e.type == EventType::kExecutionCompleted) return {};
    }
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

 private:
  // False when the step must end with `fatal_` as its only output.
  bool apply(const HistoryEvent& e) {
    switch (e.type) {
      case EventType::kOrchestratorStarted:
        state_.set_current_time_ms(e.timestamp_ms);
        return true;
      case EventType::kExecutionStarted:
        return on_execution_started(e);
      case EventType::kTaskScheduled:
        return on_task_scheduled(e);
      case EventType::kTaskCompleted:
        on_task_outcome(e, false);
        return true;
      case EventType::kTaskFailed:
        on_task_outcome(e, true);
        return true;
      case EventType::kExecutionCompleted:  // only meaningful in past_events (see run)
        return true;
      // Not produced by this SDK yet; each gets its handler with the feature
      // (timers, external events, sub-orchestrations, suspend/resume,
      // termination, continue-as-new).
      case EventType::kExecutionTerminated:
      case EventType::kTimerCreated:
      case EventType::kTimerFired:
      case EventType::kEventRaised:
      case EventType::kEventSent:
      case EventType::kSubOrchestrationCreated:
      case EventType::kSubOrchestrationCompleted:
      case EventType::kSubOrchestrationFailed:
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

  bool on_task_scheduled(const HistoryEvent& e) {
    auto& produced = state_.produced();
    const int32_t n = e.event_id;
    const std::string expected = describe(ActionType::kScheduleTask, e.name);
    if (n < 0 || n >= static_cast<int32_t>(produced.size())) {
      return non_deterministic(n, expected, "nothing");
    }
    const Action& action = produced[static_cast<std::size_t>(n)].action;
    if (action.type != ActionType::kScheduleTask || action.name != e.name) {
      return non_deterministic(n, expected, describe(action.type, action.name));
    }
    produced[static_cast<std::size_t>(n)].recorded = true;
    return true;
  }

  void on_task_outcome(const HistoryEvent& e, bool failed) {
    TaskCompletion* c = state_.completion(e.task_scheduled_id);
    if (c == nullptr || c->done) return;
    c->done = true;
    c->failed = failed;
    if (failed) {
      c->failure = e.failure;
    } else {
      c->result = e.result;
    }
    // Runs user code up to its next suspension; its exceptions stay in the
    // promises (rethrown to the awaiting code or reported by finish()).
    if (std::coroutine_handle<> waiter = std::exchange(c->waiter, {})) waiter.resume();
  }

  bool non_deterministic(int32_t sequence, const std::string& history_side,
                         const std::string& produced_side) {
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
    if (root_ && root_->is_done()) {
      Action done;
      done.type = ActionType::kCompleteOrchestration;
      done.id = state_.next_sequence();
      try {
        done.result = root_->await_resume();
        done.status = OrchestrationStatus::kCompleted;
      } catch (...) {
        done.status = OrchestrationStatus::kFailed;
        done.failure = describe_current_exception();
      }
      out.push_back(std::move(done));
    }
    return out;
  }

  const Registry& registry_;
  const OrchestrationTask& task_;
  ReplayState state_;
  std::vector<Action> fatal_;
  std::optional<Task<Bytes>> root_;  // destroyed first (declared last)
};

}  // namespace

OrchestrationResult run_step(const Registry& registry, const OrchestrationTask& task) {
  OrchestrationResult result;
  result.work_id = task.work_id;
  result.ns = task.ns;
  result.instance_id = task.instance_id;
  result.actions = Replayer(registry, task).run();
  return result;
}

}  // namespace baton::detail
