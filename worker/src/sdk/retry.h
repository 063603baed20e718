// When the SDK retries a failed sub-orchestration: the scheduler's rules for
// activity retries (scheduler/src/engine), evaluated on history time so the
// decision replays identically.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <optional>

#include "baton/protocol.h"

namespace baton::detail {

// The delay in ms before attempt `attempt` + 1, after attempt `attempt`
// (1-based) failed with `failure` at `now_ms`; nullopt when there is no
// further attempt: the failure is non_retryable or of a type in
// policy.non_retryable_error_types, `attempt` >= policy.max_attempts, or the
// retry would start after first_started_ms + policy.retry_timeout_ms (when
// that is > 0). Delay: min(first_retry_interval_ms * coeff^(attempt-1),
// max_retry_interval_ms), coefficients below 1 counting as 1.
std::optional<int64_t> retry_delay_ms(const RetryPolicy& policy, int32_t attempt,
                                      const FailureDetails& failure, int64_t first_started_ms,
                                      int64_t now_ms);

}  // namespace baton::detail
