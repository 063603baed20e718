// Activities: plain functions that do the real work (I/O, side effects).
//
// An activity is any copyable callable
//     R f(baton::ActivityContext&, I input)     or     R f(baton::ActivityContext&)
// where I and R are msgpack-convertible (baton/payload.h) and R may be void.
// The worker decodes the input, calls f on one of its activity threads and
// sends back the encoded result. An activity that throws fails its task: the
// orchestrator sees a TaskFailedError whose error_type() is the demangled
// type name of the exception and whose message() is its what(). Input that
// cannot be decoded as I fails the task with error_type "InvalidInput",
// non-retryable. Activities run at least once (a worker may die after the
// work but before its result is recorded): make them idempotent.
//
// The same callable is invoked concurrently from several activity threads;
// it must be safe for that.
//
// Long activities report progress with ctx.heartbeat(details): each call
// tells the scheduler the attempt is alive (required when the activity was
// scheduled with ActivityOptions::heartbeat_timeout) and records `details`,
// which a later attempt reads back with last_heartbeat_details<T>() to
// resume where the failed one stopped.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "baton/payload.h"

namespace baton {

// What an activity knows about the task it runs. Built by the runtime for
// one call; users may build one to unit-test an activity (heartbeats then go
// to `heartbeat_sink`, or nowhere).
// Thread-safety: the accessors are immutable; heartbeat() may be called only
// from the thread that runs the activity (the one that called it).
class ActivityContext {
 public:
  // Receives the encoded details of each heartbeat() call.
  using HeartbeatSink = std::function<void(Bytes details)>;

  ActivityContext(std::string instance_id, int64_t task_id, int32_t attempt, std::string name)
      : instance_id_(std::move(instance_id)),
        task_id_(task_id),
        attempt_(attempt),
        name_(std::move(name)) {}
  ActivityContext(std::string instance_id, int64_t task_id, int32_t attempt, std::string name,
                  std::chrono::milliseconds heartbeat_timeout, Bytes last_heartbeat_details,
                  HeartbeatSink heartbeat_sink)
      : instance_id_(std::move(instance_id)),
        task_id_(task_id),
        attempt_(attempt),
        name_(std::move(name)),
        heartbeat_timeout_(heartbeat_timeout),
        last_heartbeat_details_(std::move(last_heartbeat_details)),
        heartbeat_sink_(std::move(heartbeat_sink)) {}

  // The orchestration instance that scheduled this activity.
  const std::string& instance_id() const { return instance_id_; }
  // The scheduler's id of this task: stable across retries (an idempotency key).
  int64_t task_id() const { return task_id_; }
  // 1 for the first execution, +1 for every retry or redelivery.
  int32_t attempt() const { return attempt_; }
  // The registered activity name.
  const std::string& name() const { return name_; }
  // The heartbeat timeout the activity was scheduled with; 0: none (the
  // activity need not heartbeat).
  std::chrono::milliseconds heartbeat_timeout() const { return heartbeat_timeout_; }

  // Tells the scheduler this attempt is alive and records `details` (any
  // msgpack-able value) for a later attempt. Cheap and non-blocking: the
  // worker sends at most one heartbeat per activity every 500 ms; calls in
  // between only replace the details to send next (the latest win), and
  // the latest details are also sent if the activity then fails.
  template <class T>
  void heartbeat(const T& details) {
    send_heartbeat(to_bytes(details));
  }
  // A heartbeat without details.
  void heartbeat() { send_heartbeat(Bytes()); }

  // The details the latest heartbeat of an EARLIER attempt recorded,
  // decoded as T; nullopt if there were none. Throws PayloadError if they
  // do not decode as T.
  template <class T>
  std::optional<T> last_heartbeat_details() const {
    if (last_heartbeat_details_.empty()) return std::nullopt;
    return from_bytes<T>(last_heartbeat_details_);
  }

 private:
  void send_heartbeat(Bytes details) {
    if (heartbeat_sink_) heartbeat_sink_(std::move(details));
  }

  std::string instance_id_;
  int64_t task_id_;
  int32_t attempt_;
  std::string name_;
  std::chrono::milliseconds heartbeat_timeout_{0};
  Bytes last_heartbeat_details_;
  HeartbeatSink heartbeat_sink_;
};

namespace detail {

// Type-erased activity: encoded input -> encoded output; throws on failure.
using ActivityFn = std::function<Bytes(ActivityContext&, const Bytes&)>;

template <class Sig>
struct ActivitySignature {
  static_assert(sizeof(Sig) == 0,
                "an activity must be callable as R(baton::ActivityContext&, I) or "
                "R(baton::ActivityContext&) (no generic lambdas)");
};
template <class R>
struct ActivitySignature<std::function<R(ActivityContext&)>> {
  using Result = R;
  using Input = void;
};
template <class R, class I>
struct ActivitySignature<std::function<R(ActivityContext&, I)>> {
  using Result = R;
  using Input = std::remove_cvref_t<I>;
};

// Wraps a typed activity into an ActivityFn.
template <class F>
ActivityFn erase_activity(F f) {
  using Sig = ActivitySignature<decltype(std::function{f})>;
  using R = typename Sig::Result;
  using I = typename Sig::Input;
  return [f = std::move(f)](ActivityContext& ctx, const Bytes& in) mutable -> Bytes {
    if constexpr (std::is_void_v<I>) {
      if constexpr (std::is_void_v<R>) {
        std::invoke(f, ctx);
        return nil_bytes();
      } else {
        return to_bytes(std::invoke(f, ctx));
      }
    } else {
      I input = decode_input<I>(in);
      if constexpr (std::is_void_v<R>) {
        std::invoke(f, ctx, std::move(input));
        return nil_bytes();
      } else {
        return to_bytes(std::invoke(f, ctx, std::move(input)));
      }
    }
  };
}

}  // namespace detail
}  // namespace baton
