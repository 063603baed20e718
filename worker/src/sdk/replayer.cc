#include "sdk/replayer.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <unordered_set>
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

// Detaches the step's log sink when the step ends, however it ends: the
// sink may capture the task, which dies with the call.
class SinkScope {
 public:
  SinkScope(ReplayState& state, const LogSink& sink) : state_(state) { state_.set_log_sink(sink); }
  ~SinkScope() { state_.set_log_sink({}); }
  SinkScope(const SinkScope&) = delete;
  SinkScope& operator=(const SinkScope&) = delete;

 private:
  ReplayState& state_;
};

// Whether `e` records the action with its event_id (TaskScheduled etc.).
bool records_action(const HistoryEvent& e) {
  return e.type == EventType::kTaskScheduled || e.type == EventType::kTimerCreated ||
         e.type == EventType::kSubOrchestrationCreated || e.type == EventType::kEventSent;
}

}  // namespace

Replayer::Replayer(std::string ns, std::string instance_id, std::string name)
    : state_(std::move(ns), std::move(instance_id), std::move(name), LogSink()) {}

OrchestrationResult Replayer::step(const Registry& registry, const OrchestrationTask& task,
                                   const LogSink& log_sink, StepOutcome* outcome) {
  const SinkScope sink(state_, log_sink);
  nondeterministic_ = false;
  applied_ += static_cast<int64_t>(task.past_events.size() + task.new_events.size());
  OrchestrationResult result;
  result.work_id = task.work_id;
  result.ns = task.ns;
  result.instance_id = task.instance_id;
  const bool done =
      std::any_of(task.past_events.begin(), task.past_events.end(),
                  [](const HistoryEvent& e) { return e.type == EventType::kExecutionCompleted; });
  if (done) {
    ended_ = true;
  } else {
    apply_all(registry, task, result.actions);
    if (const std::optional<Bytes>& status = state_.custom_status()) {
      result.has_custom_status = true;
      result.custom_status = *status;
    }
  }
  const bool decided =
      !result.actions.empty() && result.actions.back().type == ActionType::kCompleteOrchestration;
  if (decided) ended_ = true;
  if (!ended_) result.wake_after = state_.wake_after();
  if (outcome != nullptr) {
    const bool failed = decided && result.actions.back().status == OrchestrationStatus::kFailed;
    *outcome = nondeterministic_ ? StepOutcome::kNonDeterminism
               : failed          ? StepOutcome::kFailed
                                 : StepOutcome::kOk;
  }
  return result;
}

bool Replayer::can_resume(const OrchestrationTask& task) const {
  if (ended_ || task.past_from != applied_) return false;
  // Linear in the task, not in the execution: count the distinct returned,
  // unrecorded actions the task records.
  const std::vector<ReplayState::Produced>& produced = state_.produced();
  std::unordered_set<int32_t> matched;
  for (const HistoryEvent& e : task.past_events) {
    if (!records_action(e) || e.event_id < 0 ||
        static_cast<std::size_t>(e.event_id) >= produced.size()) {
      continue;
    }
    const ReplayState::Produced& p = produced[static_cast<std::size_t>(e.event_id)];
    if (p.sent && !p.recorded) matched.insert(e.event_id);
  }
  return matched.size() == unrecorded_;
}

void Replayer::apply_all(const Registry& registry, const OrchestrationTask& task,
                         std::vector<Action>& out) {
  state_.set_replaying(true);
  for (const HistoryEvent& e : task.past_events) {
    if (!apply(registry, e)) {
      out = std::move(fatal_);
      return;
    }
  }
  state_.set_replaying(false);
  for (const HistoryEvent& e : task.new_events) {
    if (!apply(registry, e)) {
      out = std::move(fatal_);
      return;
    }
  }
  out = finish();
}

bool Replayer::apply(const Registry& registry, const HistoryEvent& e) {
  switch (e.type) {
    case EventType::kOrchestratorStarted:
      state_.set_current_time_ms(e.timestamp_ms);
      return true;
    case EventType::kExecutionStarted:
      return on_execution_started(registry, e);
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
    // continues executions; ExecutionCompleted only matters in past_events
    // (see step()). The ending ones end what a cache may keep.
    case EventType::kExecutionCompleted:
    case EventType::kExecutionTerminated:
    case EventType::kContinuedAsNew:
      ended_ = true;
      return true;
    case EventType::kExecutionSuspended:
    case EventType::kExecutionResumed:
      return true;
  }
  return true;  // a type newer than this worker: ignored
}

bool Replayer::on_execution_started(const Registry& registry, const HistoryEvent& e) {
  if (root_) return true;  // duplicate delivery; the instance already started
  const std::string& name = state_.name().empty() ? e.name : state_.name();
  const OrchestratorFn* fn = registry.find_orchestrator(name);
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

bool Replayer::on_action_recorded(const HistoryEvent& e, ActionType type) {
  const std::string expected = describe(type, e.name, e.instance_id);
  ReplayState::Produced* p = state_.find(e.event_id);
  if (p == nullptr) return non_deterministic(e.event_id, expected, "nothing");
  const Action& action = p->action;
  if (action.type != type || !same_key(action, e)) {
    return non_deterministic(e.event_id, expected,
                             describe(action.type, action.name, action.instance_id));
  }
  if (p->sent && !p->recorded) --unrecorded_;
  p->recorded = true;
  return true;
}

void Replayer::on_outcome(const HistoryEvent& e, ActionType type, bool failed) {
  ReplayState::Produced* p = state_.find(e.task_scheduled_id);
  if (p == nullptr || p->action.type != type || !p->completion) return;
  resolve(p->completion.get(), failed, failed ? Bytes() : e.result,
          failed ? e.failure : FailureDetails{});
}

bool Replayer::non_deterministic(int32_t sequence, const std::string& history_side,
                                 const std::string& produced_side) {
  nondeterministic_ = true;
  fatal_.push_back(failed_completion(
      state_.next_sequence(), "NonDeterminismError",
      "non-deterministic orchestrator '" + state_.name() + "' in instance '" + state_.ns() + "/" +
          state_.instance_id() + "': at sequence " + std::to_string(sequence) + " history has " +
          history_side + " but the orchestrator produced " + produced_side));
  return false;
}

std::vector<Action> Replayer::finish() {
  std::vector<Action> out;
  for (ReplayState::Produced& p : state_.produced()) {
    if (p.recorded || p.sent) continue;
    // The input leaves with the action; the rest stays for later history checks.
    Bytes input = std::move(p.action.input);
    p.action.input = Bytes();
    out.push_back(p.action);
    out.back().input = std::move(input);
    p.sent = true;
    ++unrecorded_;
  }
  std::optional<Action> done = completion();
  if (done) out.push_back(std::move(*done));
  return out;
}

// How the step ends the execution, if it does.
std::optional<Action> Replayer::completion() {
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

OrchestrationResult run_step(const Registry& registry, const OrchestrationTask& task,
                             const LogSink& log_sink, StepOutcome* outcome) {
  Replayer replayer(task.ns, task.instance_id, task.name);
  return replayer.step(registry, task, log_sink, outcome);
}

}  // namespace baton::detail
