#include "sdk/retry.h"

#include <algorithm>
#include <cmath>

namespace baton::detail {

std::optional<int64_t> retry_delay_ms(const RetryPolicy& policy, int32_t attempt,
                                      const FailureDetails& failure, int64_t first_started_ms,
                                      int64_t now_ms) {
  if (failure.non_retryable) return std::nullopt;
  const auto& types = policy.non_retryable_error_types;
  if (std::find(types.begin(), types.end(), failure.error_type) != types.end()) return std::nullopt;
  if (attempt >= policy.max_attempts) return std::nullopt;
  const double coeff = policy.backoff_coefficient >= 1.0 ? policy.backoff_coefficient : 1.0;
  double delay = static_cast<double>(std::max<int64_t>(policy.first_retry_interval_ms, 0)) *
                 std::pow(coeff, attempt - 1);
  if (policy.max_retry_interval_ms > 0) {
    delay = std::min(delay, static_cast<double>(policy.max_retry_interval_ms));
  }
  const auto delay_ms = static_cast<int64_t>(delay);
  if (policy.retry_timeout_ms > 0 &&
      now_ms + delay_ms > first_started_ms + policy.retry_timeout_ms) {
    return std::nullopt;
  }
  return delay_ms;
}

}  // namespace baton::detail
