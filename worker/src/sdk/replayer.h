// The replayer: one orchestration step as a pure function (run_step), and
// the resumable machine under it (Replayer).
//
// run_step replays `task.past_events` (is_replaying() == true), then applies
// `task.new_events` (is_replaying() == false) to the registered orchestrator
// and returns the actions the scheduler has not recorded yet:
//   - every action (ScheduleTask, CreateTimer, CreateSubOrchestration,
//     SendEvent) gets id = the orchestrator's sequence number (0, 1, 2, ...
//     per execution, in call order);
//   - a history event created from action N (TaskScheduled, TimerCreated,
//     SubOrchestrationCreated, EventSent with event_id=N) must match
//     produced action N by type and key (activity name; nothing for a timer;
//     orchestrator name; event name and target instance); N is then not
//     returned again. A mismatch, or an event for an action the orchestrator
//     did not produce, is a non-determinism error;
//   - completions (TaskCompleted/TaskFailed, TimerFired,
//     SubOrchestrationCompleted/Failed with task_scheduled_id=N) resume the
//     code awaiting action N; an unknown N, a completion of the wrong kind
//     and a second completion are ignored (so is a timer nobody awaits);
//   - EventRaised goes to the oldest waiter of its name or is buffered;
//   - ExecutionSuspended/Resumed/Terminated and ContinuedAsNew are the
//     scheduler's business and ignored; OrchestratorStarted sets
//     current_time();
//   - actions not matched by history are returned in id order, followed by
//     CompleteOrchestration{id = next sequence number} when the step decided
//     the execution: kFailed if the orchestrator threw (failure from the
//     exception), else kContinuedAsNew if it called continue_as_new (result =
//     the new input, carryover_events = the unconsumed EventRaised events if
//     asked for), else kCompleted if it returned (result = msgpack of the
//     value);
//   - ExecutionCompleted in past_events: the instance is done, no actions;
//   - unknown orchestrator -> one CompleteOrchestration{kFailed,
//     "OrchestratorNotFound"}; a mismatch with history -> one
//     CompleteOrchestration{kFailed, "NonDeterminismError"} whose message
//     names both sides, the sequence number and the instance:
//       non-deterministic orchestrator '<name>' in instance '<ns>/<id>': at
//       sequence N history has <expected> but the orchestrator produced
//       <produced>
//     where each side is "ScheduleTask(<activity>)", "CreateTimer",
//     "CreateSubOrchestration(<orchestrator>)", "SendEvent(<event> to
//     <instance>)" or "nothing";
//   - has_custom_status/custom_status: the value the orchestrator set last,
//     during replay or after.
// The orchestrator's coroutine frame lives only for the call.
//
// Replayer is the same machine kept alive between steps (sticky
// orchestrations, runtime's OrchestrationCache): each step() applies one
// task's past_events (is_replaying() == true; they confirm the actions
// earlier steps returned, with the checks above) and new_events
// (is_replaying() == false) to the SAME suspended coroutine, so the
// orchestrator's code runs once across steps instead of being replayed.
// A step returns only actions no earlier step returned. run_step is one
// step of a fresh Replayer.
//
// Pure: no I/O, no clock, no threads; exceptions from user code become
// failure actions. Log lines of the orchestrator (OrchestrationContext::log,
// suppressed while replaying) go to `log_sink` if given. `outcome`, if given,
// receives how the step ended (see StepOutcome).
// Thread-safety: run_step is reentrant; the registry is only read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "baton/protocol.h"
#include "baton/task.h"
#include "sdk/registry.h"
#include "sdk/replay_state.h"

namespace baton::detail {

// How a step ended (the worker's step metrics).
enum class StepOutcome : uint8_t {
  kOk,              // replayed; the execution goes on or completed / continued as new
  kFailed,          // CompleteOrchestration{kFailed}: the orchestrator threw or is unknown
  kNonDeterminism,  // history and the orchestrator disagree (a NonDeterminismError)
};

OrchestrationResult run_step(const Registry& registry, const OrchestrationTask& task,
                             const LogSink& log_sink = {}, StepOutcome* outcome = nullptr);

// One execution's orchestrator, driven by one task after another. Keeps no
// reference to a task, a registry or a sink beyond a call. Destroying it
// destroys the coroutine frame wherever it is suspended (before the state
// the frame points into).
// Thread-safety: none; one thread at a time.
class Replayer {
 public:
  // An orchestrator of execution `ns`/`instance_id` that has applied no
  // event. `name`: the registered orchestrator (empty: the name in
  // ExecutionStarted).
  Replayer(std::string ns, std::string instance_id, std::string name);
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  // Applies task.past_events then task.new_events (the events from index
  // applied() of the execution's history; task.past_from is not checked
  // here, see can_resume) and returns the step's result as run_step
  // describes, minus the actions earlier steps returned. work_id, ns and
  // instance_id come from `task`; worker_id, cached and cache_miss are left
  // for the caller. Orchestrator log lines go to `log_sink` during the call
  // only. Call it again only while resumable().
  OrchestrationResult step(const Registry& registry, const OrchestrationTask& task,
                           const LogSink& log_sink = {}, StepOutcome* outcome = nullptr);

  // Events applied by the steps so far (past and new).
  int64_t applied() const { return applied_; }
  // The execution goes on after the last step: no step ended it (completed,
  // failed, continued as new, non-determinism, unknown orchestrator) and no
  // history event said it ended (ExecutionCompleted, ExecutionTerminated,
  // ContinuedAsNew).
  bool resumable() const { return !ended_; }
  // Whether step(task) would continue exactly where the last step left off:
  // resumable(), task.past_from == applied(), and task.past_events record
  // (by event_id) every action an earlier step returned that history has
  // not recorded yet. False means: replay from the whole history instead.
  bool can_resume(const OrchestrationTask& task) const;

 private:
  void apply_all(const Registry& registry, const OrchestrationTask& task, std::vector<Action>& out);
  // False when the step must end with `fatal_` as its only output.
  bool apply(const Registry& registry, const HistoryEvent& e);
  bool on_execution_started(const Registry& registry, const HistoryEvent& e);
  bool on_action_recorded(const HistoryEvent& e, ActionType type);
  void on_outcome(const HistoryEvent& e, ActionType type, bool failed);
  bool non_deterministic(int32_t sequence, const std::string& history_side,
                         const std::string& produced_side);
  std::vector<Action> finish();
  std::optional<Action> completion();

  ReplayState state_;
  std::vector<Action> fatal_;
  bool nondeterministic_ = false;  // this step
  bool ended_ = false;
  int64_t applied_ = 0;
  std::size_t unrecorded_ = 0;  // actions returned that history has not recorded yet
  // Declared last, so destroyed first: the frame's awaiters point into state_.
  std::optional<Task<Bytes>> root_;
};

}  // namespace baton::detail
