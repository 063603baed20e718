// Orchestrators: deterministic coroutines that decide what happens next.
//
// An orchestrator is a function (or non-generic lambda)
//     baton::Task<R> f(baton::OrchestrationContext& ctx, I input)
//     baton::Task<R> f(baton::OrchestrationContext& ctx)
// with I and R msgpack-convertible (baton/payload.h), R possibly void.
//
// Baton runs an orchestrator by REPLAY: every time something happens to an
// instance (it starts, an activity finishes) the worker re-runs the function
// from the start against the instance's history. Calls whose outcome is
// already in history complete at once with the recorded outcome; the first
// call that is not yet recorded is sent to the scheduler and the coroutine
// stays suspended until its result arrives in a later step. Therefore an
// orchestrator must be DETERMINISTIC: same input and same history => same
// calls in the same order. Do not read clocks (use current_time()), random
// numbers, environment, files or the network in an orchestrator; do that in
// activities. A changed call sequence is detected and fails the instance
// with a NonDeterminismError naming both sides.
//
// Failures: an awaited activity that failed throws TaskFailedError at the
// co_await (catch it to compensate). An exception escaping the orchestrator
// completes the instance as FAILED with the exception's type name and
// what(); an escaping TaskFailedError keeps the failed task's error type and
// message.
//
// Thread-safety: an OrchestrationContext and its Tasks are used only from
// the thread running the step; never hand them to another thread.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "baton/payload.h"
#include "baton/protocol.h"
#include "baton/task.h"

namespace baton {

// An awaited activity failed. what() == message(). Immutable value.
class TaskFailedError : public std::runtime_error {
 public:
  TaskFailedError(std::string task_name, FailureDetails failure);

  // The activity that failed.
  const std::string& task_name() const { return task_name_; }
  // As reported by the activity: the demangled type of what it threw, or a
  // Baton code ("ActivityNotFound", "InvalidInput", ...).
  const std::string& error_type() const { return failure_.error_type; }
  const std::string& message() const { return failure_.message; }
  const std::string& details() const { return failure_.details; }
  bool non_retryable() const { return failure_.non_retryable; }
  const FailureDetails& failure() const { return failure_; }

 private:
  std::string task_name_;
  FailureDetails failure_;
};

namespace detail {

class ReplayState;

// The outcome slot of one scheduled action, owned by the replayer for the
// duration of a step. Filled by TaskCompleted/TaskFailed history events.
struct TaskCompletion {
  std::string name;
  bool done = false;
  bool failed = false;
  Bytes result;
  FailureDetails failure;
  std::coroutine_handle<> waiter;  // the one coroutine suspended on it, if any
};

// Awaits a TaskCompletion. If the awaiting frame is destroyed while
// suspended, the destructor unregisters it so it is never resumed.
class CompletionAwaiter {
 public:
  explicit CompletionAwaiter(TaskCompletion* c) noexcept : completion_(c) {}
  CompletionAwaiter(const CompletionAwaiter&) = delete;
  CompletionAwaiter& operator=(const CompletionAwaiter&) = delete;
  ~CompletionAwaiter() {
    if (suspended_ && completion_->waiter == suspended_) completion_->waiter = {};
  }

  bool await_ready() const noexcept { return completion_->done; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    suspended_ = h;
    completion_->waiter = h;
  }
  // The result bytes; throws TaskFailedError for a failed task.
  Bytes await_resume();

 private:
  TaskCompletion* completion_;
  std::coroutine_handle<> suspended_;
};

template <class T>
Task<T> await_completion(TaskCompletion* completion) {
  if constexpr (std::is_void_v<T>) {
    (void)co_await CompletionAwaiter(completion);
  } else {
    co_return from_bytes<T>(co_await CompletionAwaiter(completion));
  }
}

}  // namespace detail

// The orchestrator's handle on the engine for one replay. Owned by the
// replayer; valid for the duration of the orchestrator call it is passed to.
// Thread-safety: none; only the thread running the step may use it.
class OrchestrationContext {
 public:
  OrchestrationContext(const OrchestrationContext&) = delete;
  OrchestrationContext& operator=(const OrchestrationContext&) = delete;

  // Schedules activity `name` with `input` NOW (eagerly, in call order) and
  // returns a Task that completes with its result decoded as T (T=void
  // ignores the result). Awaiting it throws TaskFailedError if the activity
  // failed, PayloadError if the result does not decode as T. Not awaiting it
  // is allowed (the activity still runs; its result is ignored).
  template <class T = void, class I>
  Task<T> call_activity(std::string_view name, const I& input) {
    return detail::await_completion<T>(schedule_task(name, to_bytes(input)));
  }
  // Same, with an empty (nil) input.
  template <class T = void>
  Task<T> call_activity(std::string_view name) {
    return detail::await_completion<T>(schedule_task(name, Bytes()));
  }

  // The orchestration instance id.
  const std::string& instance_id() const;
  // The registered orchestrator name.
  const std::string& name() const;
  // True while re-executing steps already recorded in history. Use it to
  // avoid duplicate side effects such as logging.
  bool is_replaying() const;
  // Deterministic "now": the timestamp of the latest OrchestratorStarted
  // event replayed so far (never the wall clock).
  std::chrono::system_clock::time_point current_time() const;

 private:
  friend class detail::ReplayState;
  explicit OrchestrationContext(detail::ReplayState& state) : state_(&state) {}
  // Records a ScheduleTask action with the next sequence number and returns
  // the slot its outcome will arrive in (owned by the replay state).
  detail::TaskCompletion* schedule_task(std::string_view name, Bytes input);

  detail::ReplayState* state_;
};

namespace detail {

// Type-erased orchestrator: encoded input -> Task of the encoded output.
using OrchestratorFn = std::function<Task<Bytes>(OrchestrationContext&, Bytes)>;

template <class Sig>
struct OrchestratorSignature {
  static_assert(
      sizeof(Sig) == 0,
      "an orchestrator must be callable as baton::Task<R>(baton::OrchestrationContext&, I) "
      "or baton::Task<R>(baton::OrchestrationContext&) (no generic lambdas)");
};
template <class R>
struct OrchestratorSignature<std::function<Task<R>(OrchestrationContext&)>> {
  using Result = R;
  using Input = void;
};
template <class R, class I>
struct OrchestratorSignature<std::function<Task<R>(OrchestrationContext&, I)>> {
  using Result = R;
  using Input = std::remove_cvref_t<I>;
};

// `f` is a parameter, so the coroutine frame owns its own copy of it.
template <class R, class I, class F>
Task<Bytes> run_orchestrator(F f, OrchestrationContext& ctx, Bytes input) {
  if constexpr (std::is_void_v<I>) {
    if constexpr (std::is_void_v<R>) {
      co_await std::invoke(f, ctx);
      co_return nil_bytes();
    } else {
      co_return to_bytes(co_await std::invoke(f, ctx));
    }
  } else {
    I decoded = decode_input<I>(input);
    if constexpr (std::is_void_v<R>) {
      co_await std::invoke(f, ctx, std::move(decoded));
      co_return nil_bytes();
    } else {
      co_return to_bytes(co_await std::invoke(f, ctx, std::move(decoded)));
    }
  }
}

// Wraps a typed orchestrator into an OrchestratorFn.
template <class F>
OrchestratorFn erase_orchestrator(F f) {
  using Sig = OrchestratorSignature<decltype(std::function{f})>;
  return [f = std::move(f)](OrchestrationContext& ctx, Bytes input) {
    return run_orchestrator<typename Sig::Result, typename Sig::Input>(f, ctx, std::move(input));
  };
}

}  // namespace detail
}  // namespace baton
