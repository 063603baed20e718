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
// Combinators (at the end of this header): when_all(std::vector<Task<T>>)
// and when_any(std::vector<Task<T>>&) / when_any(Task<A>&, Task<B>&, ...).
//
// Thread-safety: none. A Task and everything it awaits belong to the one
// thread driving the orchestration step (the replayer).
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace baton {

template <class T = void>
class Task;

namespace detail {
class Join;
template <class T>
void watch(Task<T>& task, std::size_t index, Join& join);

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
  void set_on_complete(std::function<void()> cb, const Join* watcher = nullptr) {
    on_complete_ = std::move(cb);
    watcher_ = watcher;
  }
  void clear_on_complete() noexcept {
    on_complete_ = nullptr;
    watcher_ = nullptr;
  }

  // What our completion resumes, for the replayer's wake count
  // (ReplayState::wake_after): a coroutine awaiting us, a completion
  // callback, and the combinator that set it (null: none, or a callback of
  // the user's own, set with Task::set_completion_callback).
  bool awaited() const noexcept { return static_cast<bool>(continuation_); }
  bool has_callback() const noexcept { return static_cast<bool>(on_complete_); }
  const Join* watcher() const noexcept { return on_complete_ ? watcher_ : nullptr; }

 private:
  std::coroutine_handle<> continuation_;
  std::function<void()> on_complete_;
  const Join* watcher_ = nullptr;
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
  // Drops the callback set by set_completion_callback (if it has not run).
  void clear_completion_callback() noexcept {
    if (handle_) handle_.promise().clear_on_complete();
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

  template <class U>
  friend void detail::watch(Task<U>& task, std::size_t index, detail::Join& join);

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

// ------------------------------------------------------------- combinators
//
// when_all(std::vector<Task<T>> tasks) -> Task<std::vector<T>>
//   Takes OWNERSHIP of the tasks (move the vector in; they are already
//   running, Tasks are eager) and completes with their values in input
//   order once all succeeded. Fails fast: as soon as one task fails, the
//   returned task fails with that exception (the first to fail, in
//   completion order); the others keep running but their outcomes are
//   dropped with the when_all task. when_all of an empty vector completes
//   at once. The Task<void> overload completes with nothing.
//
// when_any(std::vector<Task<T>>& tasks) -> Task<std::size_t>
// when_any(Task<A>& a, Task<B>& b, ...)  -> Task<std::size_t>
//   Take the tasks BY REFERENCE and leave them with the caller: the result
//   is the index of the first task to finish (succeeded or failed; an
//   already finished task wins at once, the lowest index among several).
//   Then await tasks[i] for its value or exception (with g++ 12 through a
//   reference: `Task<T>& w = tasks[i]; co_await w;`, it would try to copy
//   `co_await tasks[i]`); the others keep running and can be awaited (or
//   raced again) later. The tasks must stay
//   where they are (not moved, not destroyed) while the when_any task is
//   pending. Never fails itself, except std::invalid_argument for an empty
//   vector.
//
// A task can be watched by one combinator at a time (each installs the
// task's completion callback and removes it when it finishes or is
// destroyed). Passing a moved-from task fails with std::invalid_argument.

namespace detail {

// Counts the completions of the tasks a combinator watches and resumes the
// combinator once it is decided. Lives in the combinator's frame; used as
// `co_await join` by that one coroutine.
class Join {
 public:
  enum class Mode { kAll, kAny };
  Join(Mode mode, std::size_t watched) noexcept : mode_(mode), remaining_(watched) {}
  Join(const Join&) = delete;
  Join& operator=(const Join&) = delete;

  // Task `index` finished. May resume (and so finish and destroy) the
  // combinator: nothing of `this` is touched after the resume.
  void on_done(std::size_t index, bool failed) noexcept {
    --remaining_;
    if (!decided_ && (mode_ == Mode::kAny || failed)) decided_ = index;
    if (ready() && waiter_) std::exchange(waiter_, {}).resume();
  }
  // kAll: the first task to fail, if any. kAny: the first task to finish.
  std::optional<std::size_t> decided() const noexcept { return decided_; }
  Mode mode() const noexcept { return mode_; }

  bool await_ready() const noexcept { return ready(); }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter_ = h; }
  void await_resume() const noexcept {}

 private:
  bool ready() const noexcept { return remaining_ == 0 || decided_.has_value(); }

  Mode mode_;
  std::size_t remaining_;
  std::optional<std::size_t> decided_;
  std::coroutine_handle<> waiter_;
};

// As Task::set_completion_callback, and tells the task's promise which
// combinator watches it.
template <class T>
void watch(Task<T>& task, std::size_t index, Join& join) {
  assert(task.valid());
  auto callback = [&join, &task, index] { join.on_done(index, task.has_failed()); };
  if (task.handle_.done()) {
    callback();
    return;
  }
  task.handle_.promise().set_on_complete(std::move(callback), &join);
}

// Installs the completion callbacks of a vector of tasks for its lifetime.
template <class T>
class VectorWatch {
 public:
  VectorWatch(std::vector<Task<T>>& tasks, Join& join) : tasks_(tasks) {
    for (std::size_t i = 0; i < tasks_.size(); ++i) watch(tasks_[i], i, join);
  }
  ~VectorWatch() {
    for (Task<T>& t : tasks_) t.clear_completion_callback();
  }
  VectorWatch(const VectorWatch&) = delete;
  VectorWatch& operator=(const VectorWatch&) = delete;

 private:
  std::vector<Task<T>>& tasks_;
};

// The same for a pack of tasks of different types.
template <class... Ts>
class PackWatch {
 public:
  PackWatch(Join& join, Task<Ts>&... tasks) : tasks_(tasks...) {
    std::size_t i = 0;
    (watch(tasks, i++, join), ...);
  }
  ~PackWatch() {
    std::apply([](auto&... t) { (t.clear_completion_callback(), ...); }, tasks_);
  }
  PackWatch(const PackWatch&) = delete;
  PackWatch& operator=(const PackWatch&) = delete;

 private:
  std::tuple<Task<Ts>&...> tasks_;
};

template <class T>
void require_valid(const std::vector<Task<T>>& tasks, const char* combinator) {
  for (const Task<T>& t : tasks) {
    if (!t.valid()) throw std::invalid_argument(std::string(combinator) + ": a task is moved-from");
  }
}

}  // namespace detail

template <class T>
Task<std::vector<T>> when_all(std::vector<Task<T>> tasks) {
  detail::require_valid(tasks, "when_all");
  detail::Join join(detail::Join::Mode::kAll, tasks.size());
  {
    detail::VectorWatch<T> watch(tasks, join);
    co_await join;
  }
  if (std::optional<std::size_t> failed = join.decided()) {
    (void)tasks[*failed].await_resume();  // rethrows
  }
  std::vector<T> values;
  values.reserve(tasks.size());
  for (Task<T>& t : tasks) values.push_back(t.await_resume());
  co_return values;
}

inline Task<void> when_all(std::vector<Task<void>> tasks) {
  detail::require_valid(tasks, "when_all");
  detail::Join join(detail::Join::Mode::kAll, tasks.size());
  {
    detail::VectorWatch<void> watch(tasks, join);
    co_await join;
  }
  if (std::optional<std::size_t> failed = join.decided()) tasks[*failed].await_resume();
}

template <class T>
Task<std::size_t> when_any(std::vector<Task<T>>& tasks) {
  if (tasks.empty()) throw std::invalid_argument("when_any: no tasks");
  detail::require_valid(tasks, "when_any");
  detail::Join join(detail::Join::Mode::kAny, tasks.size());
  {
    detail::VectorWatch<T> watch(tasks, join);
    co_await join;
  }
  co_return *join.decided();
}

template <class T, class... Ts>
Task<std::size_t> when_any(Task<T>& first, Task<Ts>&... rest) {
  if (!first.valid() || !(rest.valid() && ...)) {
    throw std::invalid_argument("when_any: a task is moved-from");
  }
  detail::Join join(detail::Join::Mode::kAny, 1 + sizeof...(Ts));
  {
    detail::PackWatch<T, Ts...> watch(join, first, rest...);
    co_await join;
  }
  co_return *join.decided();
}

}  // namespace baton
