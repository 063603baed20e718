#include "runtime/heartbeats.h"

#include <utility>

#include "baton/wire.h"
#include "sdk/activity_runner.h"

namespace baton::detail {

std::optional<Bytes> HeartbeatThrottle::offer(int64_t now_ms, Bytes details) {
  if (last_sent_ms_ && now_ms - *last_sent_ms_ < kActivityHeartbeatMinIntervalMs) {
    pending_ = std::move(details);
    return std::nullopt;
  }
  last_sent_ms_ = now_ms;
  pending_.reset();
  return details;
}

std::optional<Bytes> HeartbeatThrottle::take_pending() { return std::exchange(pending_, {}); }

ActivityResult run_activity_with_heartbeats(const Registry& registry, const ActivityTask& task,
                                            const Clock& clock,
                                            const std::function<void(std::string)>& send) {
  HeartbeatThrottle throttle;
  auto emit = [&](Bytes details) {
    send(wire::encode(
        ActivityHeartbeat{task.work_id, task.task_id, task.attempt, std::move(details)}));
  };
  if (task.report_start) {
    // A schedule-to-start timeout is running: the scheduler must hear the
    // start before anything else. It counts as sent for the throttle.
    if (std::optional<Bytes> now = throttle.offer(clock.steady_ms(), Bytes())) {
      emit(std::move(*now));
    }
  }
  ActivityResult result = run_activity(registry, task, [&](Bytes details) {
    if (std::optional<Bytes> now = throttle.offer(clock.steady_ms(), std::move(details))) {
      emit(std::move(*now));
    }
  });
  if (result.failed) {
    if (std::optional<Bytes> pending = throttle.take_pending()) emit(std::move(*pending));
  }
  return result;
}

}  // namespace baton::detail
