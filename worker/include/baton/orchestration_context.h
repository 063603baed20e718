// Orchestrators: deterministic coroutines that decide what happens next.
//
// An orchestrator is a function (or non-generic lambda)
//     baton::Task<R> f(baton::OrchestrationContext& ctx, I input)
//     baton::Task<R> f(baton::OrchestrationContext& ctx)
// with I and R msgpack-convertible (baton/payload.h), R possibly void.
//
// Baton runs an orchestrator by REPLAY: whenever a worker does not hold the
// instance's orchestrator suspended in memory (sticky orchestrations: it
// usually does, and then the next step just resumes it), it re-runs the
// function from the start against the instance's history. Calls whose
// outcome is already in history complete at once with the recorded outcome;
// the first call that is not yet recorded is sent to the scheduler and the
// coroutine stays suspended until its outcome arrives in a later step.
// Either may happen at any step, so an orchestrator must be
// DETERMINISTIC: same input and same history => same calls in the same
// order. Do not read clocks (use current_time()), random numbers (use
// new_uuid()), environment, files or the network in an orchestrator; do that
// in activities. A changed call sequence is detected and fails the instance
// with a NonDeterminismError naming both sides.
//
// Every call that produces an action (call_activity, create_timer,
// call_sub_orchestrator, send_event) takes the next sequence number (0, 1,
// 2, ... per execution) WHEN IT IS CALLED, not when it is awaited: start
// several before awaiting any to run them in parallel (see when_all /
// when_any in baton/task.h). wait_for_external_event, set_custom_status,
// continue_as_new, new_uuid and logging produce no action.
//
// Failures: an awaited activity or sub-orchestration that failed throws
// TaskFailedError at the co_await (catch it to compensate). An exception
// escaping the orchestrator completes the instance as FAILED with the
// exception's type name and what(); an escaping TaskFailedError keeps the
// failed task's error type and message.
//
// Thread-safety: an OrchestrationContext and its Tasks are used only from
// the thread running the step; never hand them to another thread.
#pragma once

#include <fmt/format.h>

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

// An awaited activity or sub-orchestration failed. what() == message().
// Immutable value.
class TaskFailedError : public std::runtime_error {
 public:
  TaskFailedError(std::string task_name, FailureDetails failure);

  // The activity or sub-orchestrator (registered name) that failed.
  const std::string& task_name() const { return task_name_; }
  // As reported by the activity: the demangled type of what it threw, or a
  // Baton code ("ActivityNotFound", "InvalidInput", ...). For a
  // sub-orchestration: the child's own failure (what its orchestrator threw,
  // "NonDeterminismError", ...).
  const std::string& error_type() const { return failure_.error_type; }
  const std::string& message() const { return failure_.message; }
  const std::string& details() const { return failure_.details; }
  bool non_retryable() const { return failure_.non_retryable; }
  const FailureDetails& failure() const { return failure_; }

 private:
  std::string task_name_;
  FailureDetails failure_;
};

// How the scheduler runs one activity call. Zero durations mean "none / the
// scheduler's default". Fill a local and pass it (the defaulted constructor
// keeps this from being an aggregate: g++ 12 destroys aggregate temporaries
// with member initializers twice when they appear in a co_await expression).
struct ActivityOptions {
  ActivityOptions() = default;
  // Queue the activity is routed on; empty: the orchestration's queue.
  std::string task_queue;
  // Retries of failed attempts, done by the scheduler (only the final
  // outcome reaches the orchestrator). Default: one attempt, no retries.
  // The intervals are in milliseconds (baton/protocol.h).
  RetryPolicy retry;
  // One attempt may run at most this long (then it fails and may be retried).
  std::chrono::milliseconds start_to_close_timeout{0};
  // An attempt that does not call ActivityContext::heartbeat() for this long
  // fails (and may be retried). 0: the activity need not heartbeat.
  std::chrono::milliseconds heartbeat_timeout{0};
  // How long the task may wait in the queue for a worker to start it; 0:
  // forever. Missing it fails the task with error type
  // "ScheduleToStartTimeout", which is not retried.
  std::chrono::milliseconds schedule_to_start_timeout{0};
};

// Fill a local and pass it (not an aggregate, see ActivityOptions).
struct SubOrchestrationOptions {
  SubOrchestrationOptions() = default;
  // The child's instance id; empty: "<parent instance id>:<action id>"
  // (deterministic, unique within the parent's execution; it repeats in a
  // continued-as-new execution). An id can be reused once the child that had
  // it finished; two children with one id never run at once.
  std::string instance_id;
  // Queue the child runs on; empty: the parent's queue.
  std::string task_queue;
  // Retries of a failed child, done by the SDK in the parent (durable timers
  // and replay; the scheduler knows nothing of them), with the rules of
  // activity retries: attempt n+1 starts min(first_retry_interval_ms *
  // backoff_coefficient^(n-1), max_retry_interval_ms) after attempt n
  // failed, unless max_attempts is reached, the failure is non_retryable or
  // its error type is in non_retryable_error_types, or the retry would start
  // later than retry_timeout_ms (0 = none) after the first attempt was
  // called. Each retry is a timer and a new child (its own sequence numbers)
  // with instance id "<id of the first attempt>#<attempt>" (attempt >= 2).
  // The awaiting co_await sees only the final outcome: the value, or the
  // last attempt's TaskFailedError. Default: one attempt, no retries.
  RetryPolicy retry;
};

enum class LogLevel : uint8_t { kInfo, kWarn, kError };

namespace detail {

class ReplayState;

// The outcome slot of one awaitable thing (an action's completion or an
// external event), owned by the replayer (one step, or the steps a worker
// keeps the orchestrator suspended between).
struct TaskCompletion {
  std::string name;  // activity / sub-orchestrator / event name
  bool done = false;
  bool failed = false;
  // The awaiting coroutine was destroyed before the outcome arrived (an
  // event waiter in this state is skipped when events are delivered).
  bool abandoned = false;
  Bytes result;
  FailureDetails failure;
  std::coroutine_handle<> waiter;  // the one coroutine suspended on it, if any
  // The promise of that coroutine when it is a Task (always, through
  // await_completion): what its completion resumes (ReplayState::wake_after).
  const TaskPromiseBase* owner = nullptr;
};

// Awaits a TaskCompletion. If the awaiting frame is destroyed while
// suspended, the destructor unregisters it so it is never resumed and marks
// the slot abandoned.
class CompletionAwaiter {
 public:
  explicit CompletionAwaiter(TaskCompletion* c) noexcept : completion_(c) {}
  CompletionAwaiter(const CompletionAwaiter&) = delete;
  CompletionAwaiter& operator=(const CompletionAwaiter&) = delete;
  ~CompletionAwaiter() {
    if (suspended_ && !completion_->done) {
      completion_->abandoned = true;
      if (completion_->waiter == suspended_) {
        completion_->waiter = {};
        completion_->owner = nullptr;
      }
    }
  }

  bool await_ready() const noexcept { return completion_->done; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) noexcept {
    suspended_ = h;
    completion_->waiter = h;
    if constexpr (std::is_base_of_v<TaskPromiseBase, P>) {
      completion_->owner = &h.promise();
    } else {
      completion_->owner = nullptr;
    }
  }
  // The result bytes; throws TaskFailedError for a failed task.
  Bytes await_resume();

 private:
  TaskCompletion* completion_;
  std::coroutine_handle<> suspended_;
};

// Decodes the bytes a Task ends with as T (T=void: ignored).
template <class T>
Task<T> decode_result(Task<Bytes> bytes) {
  if constexpr (std::is_void_v<T>) {
    (void)co_await bytes;
  } else {
    co_return from_bytes<T>(co_await bytes);
  }
}

template <class T>
Task<T> await_completion(TaskCompletion* completion) {
  if constexpr (std::is_void_v<T>) {
    (void)co_await CompletionAwaiter(completion);
  } else {
    co_return from_bytes<T>(co_await CompletionAwaiter(completion));
  }
}

}  // namespace detail

// The orchestrator's handle on the engine for one execution on one worker.
// Owned by the replayer; valid for the duration of the orchestrator call it
// is passed to (across steps while the worker keeps it suspended).
// Thread-safety: none; only the thread running the current step may use it.
class OrchestrationContext {
 public:
  OrchestrationContext(const OrchestrationContext&) = delete;
  OrchestrationContext& operator=(const OrchestrationContext&) = delete;

  // ------------------------------------------------------------ activities
  // Schedules activity `name` with `input` NOW (eagerly, in call order) and
  // returns a Task that completes with its result decoded as T (T=void
  // ignores the result). Awaiting it throws TaskFailedError if the activity
  // failed (after the retries of options.retry), PayloadError if the result
  // does not decode as T. Not awaiting it is allowed (the activity still
  // runs; its result is ignored).
  // History: TaskScheduled{event_id=N, name}, then TaskCompleted or
  // TaskFailed{task_scheduled_id=N}.
  template <class T = void, class I>
  Task<T> call_activity(std::string_view name, const I& input,
                        const ActivityOptions& options = {}) {
    return detail::await_completion<T>(schedule_task(name, to_bytes(input), options));
  }
  // Same, with an empty (nil) input and default options.
  template <class T = void>
  Task<T> call_activity(std::string_view name) {
    return detail::await_completion<T>(schedule_task(name, Bytes(), ActivityOptions{}));
  }

  // ---------------------------------------------------------------- timers
  // A durable timer that fires `delay` after current_time() (or at
  // `fire_at`; a time in the past fires at once). The Task completes when
  // it fired. Dropping the Task does not cancel the timer; its firing is
  // then ignored. History: TimerCreated{event_id=N, fire_at_ms}, then
  // TimerFired{task_scheduled_id=N}.
  Task<void> create_timer(std::chrono::milliseconds delay);
  Task<void> create_timer(std::chrono::system_clock::time_point fire_at);

  // --------------------------------------------------------------- events
  // Completes with the data of the next EventRaised named exactly `name`
  // (decoded as T; T=void ignores it). No action is produced. Events that
  // arrived before anyone waited are buffered, first in first out per
  // name; several waiters of one name get the events in the order they
  // started waiting. A waiter whose Task was destroyed before its event
  // came (e.g. it lost a when_any race and went out of scope) consumes
  // nothing. Race it against create_timer with when_any for a timeout.
  template <class T = void>
  Task<T> wait_for_external_event(std::string_view name) {
    return detail::await_completion<T>(wait_for_event(name));
  }

  // Sends event `name` with `data` to instance `instance_id` (same
  // namespace), where it arrives as EventRaised. Fire and forget: nothing to
  // await, no delivery report. History: EventSent{event_id=N, instance_id,
  // name}.
  template <class I>
  void send_event(std::string_view instance_id, std::string_view name, const I& data) {
    send_event_bytes(instance_id, name, to_bytes(data));
  }
  // Same, with nil data.
  void send_event(std::string_view instance_id, std::string_view name);

  // ----------------------------------------------------- sub-orchestrations
  // Starts orchestrator `name` as a child instance NOW and returns a Task
  // completing with its output decoded as T. Awaiting it throws
  // TaskFailedError carrying the child's failure if the child failed (its
  // last attempt, with options.retry).
  // History: SubOrchestrationCreated{event_id=N, name, instance_id}, then
  // SubOrchestrationCompleted or SubOrchestrationFailed{task_scheduled_id=N};
  // each retry adds TimerCreated / TimerFired and another
  // SubOrchestrationCreated with the next sequence numbers free when the
  // failure is replayed. Destroying the Task stops further retries.
  template <class T = void, class I>
  Task<T> call_sub_orchestrator(std::string_view name, const I& input,
                                const SubOrchestrationOptions& options = {}) {
    if (options.retry.max_attempts > 1) {
      return detail::decode_result<T>(
          sub_orchestration_with_retry(std::string(name), to_bytes(input), options));
    }
    return detail::await_completion<T>(start_sub_orchestration(name, to_bytes(input), options));
  }
  // Same, with an empty (nil) input and default options.
  template <class T = void>
  Task<T> call_sub_orchestrator(std::string_view name) {
    return detail::await_completion<T>(
        start_sub_orchestration(name, Bytes(), SubOrchestrationOptions{}));
  }

  // -------------------------------------------------------- continue-as-new
  // Ends this execution when the step ends and starts a fresh one of the
  // same instance with `input` (an empty history: use it to bound the
  // history of eternal orchestrations). After calling it, co_return (the
  // value returned is ignored); the actions produced before it in this step
  // are still returned, and a later call replaces the input. Only an
  // exception escaping the orchestrator afterwards overrides it (the
  // instance fails). With `keep_unprocessed_events`, EventRaised events
  // that no waiter consumed are carried over to the new execution, in order;
  // otherwise they are dropped.
  template <class I>
  void continue_as_new(const I& input, bool keep_unprocessed_events = false) {
    continue_as_new_bytes(to_bytes(input), keep_unprocessed_events);
  }

  // ---------------------------------------------------------- custom status
  // Publishes `value` (msgpack) as the instance's custom status, visible to
  // clients (describe). The last value set wins; it is set again during
  // replay, so every step reports the latest one.
  template <class V>
  void set_custom_status(const V& value) {
    set_custom_status_bytes(to_bytes(value));
  }

  // ------------------------------------------------------------ information
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
  // A UUID (RFC 4122 version 5, lowercase "8-4-4-4-12") that is the same on
  // every replay: derived from the namespace, instance id, current_time()
  // and a per-execution counter.
  std::string new_uuid();

  // --------------------------------------------------------------- logging
  // Replay-safe logging: prints nothing while is_replaying(), so each line
  // appears once per instance however often the code is replayed. Either a
  // plain message or fmt-style: log_info("charged {} cents", amount).
  // Goes to the worker's log (spdlog's default logger), prefixed with the
  // instance.
  void log(LogLevel level, std::string_view message);
  void log_info(std::string_view message) { log(LogLevel::kInfo, message); }
  void log_warn(std::string_view message) { log(LogLevel::kWarn, message); }
  void log_error(std::string_view message) { log(LogLevel::kError, message); }
  template <class Arg, class... Args>
  void log_info(fmt::format_string<Arg, Args...> format, Arg&& arg, Args&&... args) {
    if (is_replaying()) return;
    log(LogLevel::kInfo, fmt::format(format, std::forward<Arg>(arg), std::forward<Args>(args)...));
  }
  template <class Arg, class... Args>
  void log_warn(fmt::format_string<Arg, Args...> format, Arg&& arg, Args&&... args) {
    if (is_replaying()) return;
    log(LogLevel::kWarn, fmt::format(format, std::forward<Arg>(arg), std::forward<Args>(args)...));
  }
  template <class Arg, class... Args>
  void log_error(fmt::format_string<Arg, Args...> format, Arg&& arg, Args&&... args) {
    if (is_replaying()) return;
    log(LogLevel::kError, fmt::format(format, std::forward<Arg>(arg), std::forward<Args>(args)...));
  }

 private:
  friend class detail::ReplayState;
  explicit OrchestrationContext(detail::ReplayState& state) : state_(&state) {}
  // Each records its action with the next sequence number and returns the
  // slot its outcome will arrive in (owned by the replay state).
  detail::TaskCompletion* schedule_task(std::string_view name, Bytes input,
                                        const ActivityOptions& options);
  detail::TaskCompletion* start_sub_orchestration(std::string_view name, Bytes input,
                                                  const SubOrchestrationOptions& options);
  // The retry loop of a child with options.retry (the first attempt starts
  // before it returns): the last attempt's output, or its TaskFailedError.
  Task<Bytes> sub_orchestration_with_retry(std::string name, Bytes input,
                                           SubOrchestrationOptions options);
  detail::TaskCompletion* wait_for_event(std::string_view name);
  void send_event_bytes(std::string_view instance_id, std::string_view name, Bytes data);
  void continue_as_new_bytes(Bytes input, bool keep_unprocessed_events);
  void set_custom_status_bytes(Bytes value);

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
