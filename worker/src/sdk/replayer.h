// The replayer: one orchestration step as a pure function.
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
// Pure: no I/O, no clock, no threads; exceptions from user code become
// failure actions. Log lines of the orchestrator (OrchestrationContext::log,
// suppressed while replaying) go to `log_sink` if given. `outcome`, if given,
// receives how the step ended (see StepOutcome).
// Thread-safety: reentrant; the registry is only read.
#pragma once

#include "baton/protocol.h"
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

}  // namespace baton::detail
