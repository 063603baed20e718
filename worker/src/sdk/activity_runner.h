// Runs one activity task against the registry and describes the outcome.
//
// Never throws: an unknown name, undecodable input or an exception from the
// activity become a failed ActivityResult (user failures are data):
//   unknown name      -> error_type "ActivityNotFound"
//   bad input         -> error_type "InvalidInput", non_retryable
//   activity threw E  -> error_type = demangled type of E, message = what()
// The activity's ActivityContext carries the task's heartbeat timeout and
// last heartbeat details; its heartbeat() calls go to `heartbeat` (none:
// dropped).
// Thread-safety: reentrant; the registry is only read. It blocks for as long
// as the user's activity runs.
#pragma once

#include "baton/activity_context.h"
#include "baton/protocol.h"
#include "sdk/registry.h"

namespace baton::detail {

ActivityResult run_activity(const Registry& registry, const ActivityTask& task,
                            ActivityContext::HeartbeatSink heartbeat = {});

}  // namespace baton::detail
