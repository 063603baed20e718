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
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "baton/payload.h"

namespace baton {

// What an activity knows about the task it runs. Built by the runtime for
// one call; users may build one to unit-test an activity.
// Thread-safety: immutable.
class ActivityContext {
 public:
  ActivityContext(std::string instance_id, int64_t task_id, int32_t attempt, std::string name)
      : instance_id_(std::move(instance_id)),
        task_id_(task_id),
        attempt_(attempt),
        name_(std::move(name)) {}

  // The orchestration instance that scheduled this activity.
  const std::string& instance_id() const { return instance_id_; }
  // The scheduler's id of this task: stable across retries (an idempotency key).
  int64_t task_id() const { return task_id_; }
  // 1 for the first execution, +1 for every retry or redelivery.
  int32_t attempt() const { return attempt_; }
  // The registered activity name.
  const std::string& name() const { return name_; }

 private:
  std::string instance_id_;
  int64_t task_id_;
  int32_t attempt_;
  std::string name_;
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
