// The replayer: one orchestration step as a pure function.
//
// run_step replays `task.past_events` (is_replaying() == true), then applies
// `task.new_events` (is_replaying() == false) to the registered orchestrator
// and returns the actions the scheduler has not recorded yet:
//   - every action gets id = the orchestrator's sequence number (0, 1, 2, ...
//     per execution, in call order);
//   - TaskScheduled{event_id=N} must match produced action N (type and name),
//     which is then not returned again; TaskCompleted/TaskFailed{N} resume
//     the awaiting code (an unknown N is ignored);
//   - actions not matched by history are returned in id order, followed by
//     CompleteOrchestration{id = next sequence number} if the orchestrator
//     returned (status kCompleted, result = msgpack of the value) or threw
//     (status kFailed, failure from the exception);
//   - ExecutionCompleted in past_events: the instance is done, no actions;
//   - unknown orchestrator -> one CompleteOrchestration{kFailed,
//     "OrchestratorNotFound"}; a mismatch with history -> one
//     CompleteOrchestration{kFailed, "NonDeterminismError"} whose message
//     names both sides, the sequence number and the instance.
// The orchestrator's coroutine frame lives only for the call.
//
// Pure: no I/O, no clock, no threads, no logging; exceptions from user code
// become failure actions. Thread-safety: reentrant; the registry is only read.
#pragma once

#include "baton/protocol.h"
#include "sdk/registry.h"

namespace baton::detail {

OrchestrationResult run_step(const Registry& registry, const OrchestrationTask& task);

}  // namespace baton::detail
