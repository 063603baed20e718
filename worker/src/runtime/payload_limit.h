// The worker's payload limit (WorkerOptions::max_payload_bytes): a worker
// never sends a payload the scheduler would refuse from a client. Checked on
// the job's thread after the user code ran, before the result is encoded.
//
//   activity output too large      -> the attempt fails: FailureDetails{
//                                     "PayloadTooLarge", non_retryable}, so
//                                     the retry policy does not run it again
//   step payload too large (an     -> the step fails the orchestration: its
//   activity / sub-orchestration      actions become one CompleteOrchestration
//   input, event data, the output     {kFailed, "PayloadTooLarge"} and the
//   or continue-as-new input, the     custom status is dropped
//   custom status)
//
// The messages name the function, the payload, its size and the limit.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include "baton/protocol.h"

namespace baton::detail {

inline constexpr std::string_view kPayloadTooLarge = "PayloadTooLarge";

// If `result` is a success whose output exceeds `limit` bytes, turns it into
// a failed attempt (output cleared) and returns true; else leaves it alone.
// `activity` is the activity's name (for the message).
bool enforce_payload_limit(ActivityResult& result, std::string_view activity, std::size_t limit);

// If a payload of the step exceeds `limit` bytes, replaces the actions with
// one CompleteOrchestration{kFailed, PayloadTooLarge} (its id follows every
// id of the step and its history), drops the custom status and returns true;
// else leaves `result` alone. `task` is the step's task (names and ids).
bool enforce_payload_limit(OrchestrationResult& result, const OrchestrationTask& task,
                           std::size_t limit);

}  // namespace baton::detail
