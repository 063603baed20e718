// baton::Task<T>: the coroutine type of orchestrators.
//
// A Task owns its coroutine frame (RAII: destroying the Task destroys the
// frame, also when it is suspended). It is EAGER: calling a coroutine that
// returns Task<T> runs its body at once, up to its first suspension, so an
// orchestrator's actions are scheduled when it calls them, not when it awaits
// them (when_all / when_any build on this).
//
// Awaiting: `co_await task` suspends the awaiting coroutine until `task` is
// done, then returns its value or rethrows the exception it ended with. The
// completing task resumes its awaiter by symmetric transfer (no stack
// growth). A Task is awaited at most once, by at most one coroutine.
//
// Completion hooks (for combinators): is_done() and set_completion_callback().
//
// Thread-safety: none. A Task and everything it awaits belong to the one
// thread driving the orchestration step (the replayer).
#pragma once

#include <cassert>
#include <coroutine>
#include <exception>
#include <functional>
#include <type_traits>
#include <utility>
#include <variant>

namespace baton {

template <class T = void>
class Task;

namespace detail {

// State common to every Task promise: who awaits us, what to call on
// completion, how we ended.
class TaskPromiseBase {
 public:
  std::suspend_never initial_suspend() const noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> self) const noexcept {
      TaskPromiseBase& p = self.promise();
      // The callback may destroy this frame (a combinator dropping its
      // children): read everything we need first, touch nothing after.
      std::coroutine_handle<> next = p.continuation_;
      std::function<void()> callback = std::move(p.on_complete_);
      if (callback) callback();
      return next ? next : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() const noexcept { return {}; }

  void set_continuation(std::coroutine_handle<> h) noexcept { continuation_ = h; }
  void set_on_complete(std::function<void()> cb) { on_complete_ = std::move(cb); }

 private:
  std::coroutine_handle<> continuation_;
  std::function<void()> on_complete_;
};

template <class T>
class TaskPromise final : public TaskPromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { result_.template emplace<2>(std::current_exception()); }
  template <class U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) { result_.template emplace<1>(std::forward<U>(value)); }

  bool failed() const noexcept { return result_.index() == 2; }
  // The value (moved out) or the stored exception rethrown. Only once, only when done.
  T take() {
    if (result_.index() == 2) std::rethrow_exception(std::get<2>(result_));
    assert(result_.index() == 1);
    return std::move(std::get<1>(result_));
  }

 private:
  std::variant<std::monostate, T, std::exception_ptr> result_;
};

template <>
class TaskPromise<void> final : public TaskPromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }
  void return_void() noexcept {}

  bool failed() const noexcept { return exception_ != nullptr; }
  void take() {
    if (exception_) std::rethrow_exception(exception_);
  }

 private:
  std::exception_ptr exception_;
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
  static_assert(!std::is_reference_v<T>, "Task<T&> is not supported: return a value");

 public:
  using promise_type = detail::TaskPromise<T>;
  using value_type = T;

  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  // Destroys the frame, wherever it is suspended (locals and the Tasks it
  // awaits are destroyed with it).
  ~Task() { reset(); }

  // False only for a moved-from Task.
  bool valid() const noexcept { return static_cast<bool>(handle_); }
  // True once the body has returned or thrown.
  bool is_done() const noexcept { return handle_ && handle_.done(); }
  // True once done with an exception (await would rethrow it).
  bool has_failed() const noexcept { return is_done() && handle_.promise().failed(); }

  // Calls `callback` exactly once when the task completes, before its awaiter
  // (if any) resumes; at once if it is already done. Replaces an earlier
  // callback. The callback must not throw; it may destroy this Task.
  void set_completion_callback(std::function<void()> callback) {
    assert(valid());
    if (handle_.done()) {
      callback();
      return;
    }
    handle_.promise().set_on_complete(std::move(callback));
  }

  // Awaitable interface (used by `co_await`; also lets the runtime read the
  // result of a finished root task via await_resume()).
  bool await_ready() const noexcept {
    assert(valid());
    return handle_.done();
  }
  void await_suspend(std::coroutine_handle<> awaiting) noexcept {
    handle_.promise().set_continuation(awaiting);
  }
  // The value, or the exception the task ended with. At most once.
  T await_resume() { return handle_.promise().take(); }

 private:
  friend promise_type;
  explicit Task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  void reset() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace baton
