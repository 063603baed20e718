// Activity heartbeats on their way out: ActivityContext::heartbeat() runs on
// the activity's thread, which encodes an ActivityHeartbeat and hands it to
// the I/O thread over its pool PUSH socket (runtime/result_pool.h), rate
// limited per activity.
//
// Thread-safety: a HeartbeatThrottle belongs to one activity call, on one
// thread; run_activity_with_heartbeats is reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "baton/clock.h"
#include "baton/protocol.h"
#include "sdk/registry.h"

namespace baton::detail {

// At most one ActivityHeartbeat per activity per this interval.
inline constexpr int64_t kActivityHeartbeatMinIntervalMs = 500;

// Rate limit of one activity's heartbeats: the first goes out at once; one
// within kActivityHeartbeatMinIntervalMs of the last sent is kept instead
// (replacing an older kept one: the latest details win) and goes out with
// the next call after the interval, or by take_pending().
class HeartbeatThrottle {
 public:
  // The details to send now, or nullopt when they are kept for later.
  std::optional<Bytes> offer(int64_t now_ms, Bytes details);
  // The kept details not sent yet (and forgets them), if any.
  std::optional<Bytes> take_pending();

 private:
  std::optional<int64_t> last_sent_ms_;
  std::optional<Bytes> pending_;
};

// Runs `task` like run_activity; each heartbeat that passes the throttle is
// handed to `send` as an encoded ActivityHeartbeat{work_id, task_id, attempt,
// details}. With task.report_start, a heartbeat with empty details goes to
// `send` first, before the activity runs (it tells the scheduler the attempt
// started; it counts as sent for the throttle). If the activity failed, kept
// details still pending are sent before returning (the result follows them
// on the same channel, so the scheduler has them for the next attempt).
ActivityResult run_activity_with_heartbeats(const Registry& registry, const ActivityTask& task,
                                            const Clock& clock,
                                            const std::function<void(std::string)>& send);

}  // namespace baton::detail
