// The SDK's building blocks without sockets: Task<T>, payloads, the activity
// runner, the registry and WorkerOptions::from_env.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <coroutine>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "baton/activity_context.h"
#include "baton/payload.h"
#include "baton/task.h"
#include "baton/worker.h"
#include "sdk/activity_runner.h"
#include "sdk/registry.h"

namespace baton {
namespace {

// ------------------------------------------------------------------- Task

// A hand-resumed suspension point standing in for an activity.
struct Gate {
  std::coroutine_handle<> waiter;
  bool open = false;
  bool await_ready() const noexcept { return open; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
  void await_resume() const noexcept {}
  void release() {
    open = true;
    if (auto w = std::exchange(waiter, {})) w.resume();
  }
};

Task<int> count_steps(std::vector<std::string>& log, Gate& gate) {
  log.push_back("started");
  co_await gate;
  log.push_back("resumed");
  co_return 42;
}

Task<int> outer(std::vector<std::string>& log, Gate& gate) {
  int v = co_await count_steps(log, gate);
  log.push_back("outer got " + std::to_string(v));
  co_return v + 1;
}

Task<void> throws_after(Gate& gate) {
  co_await gate;
  throw std::out_of_range("boom");
}

Task<std::string> catches(Gate& gate) {
  try {
    co_await throws_after(gate);
  } catch (const std::out_of_range& e) {
    co_return std::string("caught ") + e.what();
  }
  co_return "not reached";
}

struct Tracker {
  explicit Tracker(int& alive) : alive_(alive) { ++alive_; }
  ~Tracker() { --alive_; }
  int& alive_;
};

Task<void> holds_tracker(int& alive, Gate& gate) {
  Tracker t(alive);
  co_await gate;
}

TEST(Task, RunsEagerlyUntilItsFirstSuspension) {
  std::vector<std::string> log;
  Gate gate;
  Task<int> t = count_steps(log, gate);
  EXPECT_THAT(log, ::testing::ElementsAre("started"));
  EXPECT_FALSE(t.is_done());
  gate.release();
  EXPECT_TRUE(t.is_done());
  EXPECT_EQ(t.await_resume(), 42);
}

TEST(Task, AwaitingTaskResumesWhenTheAwaitedTaskCompletes) {
  std::vector<std::string> log;
  Gate gate;
  Task<int> t = outer(log, gate);
  EXPECT_FALSE(t.is_done());
  gate.release();
  ASSERT_TRUE(t.is_done());
  EXPECT_EQ(t.await_resume(), 43);
  EXPECT_THAT(log, ::testing::ElementsAre("started", "resumed", "outer got 42"));
}

TEST(Task, ExceptionIsStoredAndRethrownToTheAwaiter) {
  Gate gate;
  Task<std::string> t = catches(gate);
  gate.release();
  ASSERT_TRUE(t.is_done());
  EXPECT_FALSE(t.has_failed());
  EXPECT_EQ(t.await_resume(), "caught boom");
}

TEST(Task, UnawaitedExceptionIsReportedByHasFailedAndAwaitResume) {
  Gate gate;
  Task<void> t = throws_after(gate);
  gate.release();
  EXPECT_TRUE(t.has_failed());
  EXPECT_THROW(t.await_resume(), std::out_of_range);
}

TEST(Task, CompletionCallbackRunsOnceWhenTheTaskFinishes) {
  std::vector<std::string> log;
  Gate gate;
  Task<int> t = count_steps(log, gate);
  int calls = 0;
  t.set_completion_callback([&] { ++calls; });
  EXPECT_EQ(calls, 0);
  gate.release();
  EXPECT_EQ(calls, 1);
}

TEST(Task, CompletionCallbackOnAFinishedTaskRunsAtOnce) {
  std::vector<std::string> log;
  Gate gate;
  gate.open = true;
  Task<int> t = count_steps(log, gate);
  ASSERT_TRUE(t.is_done());
  int calls = 0;
  t.set_completion_callback([&] { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST(Task, DestroyingASuspendedTaskDestroysItsLocals) {
  int alive = 0;
  Gate gate;
  {
    Task<void> t = holds_tracker(alive, gate);
    EXPECT_EQ(alive, 1);
  }
  EXPECT_EQ(alive, 0);
}

TEST(Task, MoveTransfersOwnershipOfTheFrame) {
  int alive = 0;
  Gate gate;
  Task<void> a = holds_tracker(alive, gate);
  Task<void> b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_TRUE(b.valid());
  EXPECT_EQ(alive, 1);
  b = holds_tracker(alive, gate);  // replaces (and destroys) the first frame
  EXPECT_EQ(alive, 1);
}

// ---------------------------------------------------------------- payloads

struct Order {
  std::string id;
  int quantity = 0;
  std::vector<std::string> items;
  std::optional<double> discount;
  MSGPACK_DEFINE_MAP(id, quantity, items, discount)
};

TEST(Payload, UserTypeWithDefineMapRoundTrips) {
  Order o{"A-1", 3, {"apple", "pear"}, 0.25};
  Order back = from_bytes<Order>(to_bytes(o));
  EXPECT_EQ(back.id, "A-1");
  EXPECT_EQ(back.quantity, 3);
  EXPECT_THAT(back.items, ::testing::ElementsAre("apple", "pear"));
  EXPECT_EQ(back.discount, 0.25);
}

TEST(Payload, EmptyBytesDecodeAsNil) {
  EXPECT_EQ(from_bytes<std::optional<int>>(""), std::nullopt);
  EXPECT_THROW(from_bytes<int>(""), PayloadError);
}

TEST(Payload, WrongShapeOrGarbageThrowsPayloadErrorNamingTheType) {
  try {
    (void)from_bytes<int>(to_bytes(std::string("x")));
    FAIL() << "expected PayloadError";
  } catch (const PayloadError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("cannot decode payload as int"));
  }
  EXPECT_THROW(from_bytes<std::string>(to_bytes(1) + "trailing"), PayloadError);
}

// --------------------------------------------------------- activity runner

class ActivityRunner : public ::testing::Test {
 protected:
  ActivityRunner() {
    registry_.add_activity("greet", detail::erase_activity([](ActivityContext& ctx, std::string n) {
                             return "Hello " + n + " (attempt " + std::to_string(ctx.attempt()) +
                                    ", task " + std::to_string(ctx.task_id()) + ", " + ctx.name() +
                                    " for " + ctx.instance_id() + ")";
                           }));
    registry_.add_activity("fail", detail::erase_activity([](ActivityContext&, int) -> int {
                             throw std::domain_error("cannot do that");
                           }));
    registry_.add_activity("noop", detail::erase_activity([this](ActivityContext&) { ++noops_; }));
    registry_.add_activity("sum", detail::erase_activity([](ActivityContext&, const Order& o) {
                             return o.quantity * static_cast<int>(o.items.size());
                           }));
  }

  ActivityResult run(const std::string& name, Bytes input) {
    ActivityTask t;
    t.work_id = 9;
    t.task_id = 100;
    t.attempt = 2;
    t.ns = "default";
    t.instance_id = "i-1";
    t.name = name;
    t.input = std::move(input);
    ActivityResult r = detail::run_activity(registry_, t);
    EXPECT_EQ(r.work_id, 9u);
    EXPECT_EQ(r.task_id, 100);
    EXPECT_EQ(r.attempt, 2);
    EXPECT_EQ(r.instance_id, "i-1");
    return r;
  }

  detail::Registry registry_;
  int noops_ = 0;
};

TEST_F(ActivityRunner, ReturnsTheEncodedResultAndPassesTheContext) {
  ActivityResult r = run("greet", to_bytes(std::string("Ada")));
  ASSERT_FALSE(r.failed);
  EXPECT_EQ(from_bytes<std::string>(r.output), "Hello Ada (attempt 2, task 100, greet for i-1)");
}

TEST_F(ActivityRunner, ThrowingActivityFailsWithDemangledTypeAndMessage) {
  ActivityResult r = run("fail", to_bytes(1));
  ASSERT_TRUE(r.failed);
  EXPECT_EQ(r.failure.error_type, "std::domain_error");
  EXPECT_EQ(r.failure.message, "cannot do that");
  EXPECT_FALSE(r.failure.non_retryable);
}

TEST_F(ActivityRunner, UnknownActivityFailsWithActivityNotFound) {
  ActivityResult r = run("missing", {});
  ASSERT_TRUE(r.failed);
  EXPECT_EQ(r.failure.error_type, "ActivityNotFound");
  EXPECT_EQ(r.failure.message, "activity 'missing' is not registered on this worker");
}

TEST_F(ActivityRunner, UndecodableInputFailsAsNonRetryableInvalidInput) {
  ActivityResult r = run("fail", to_bytes(std::string("not an int")));
  ASSERT_TRUE(r.failed);
  EXPECT_EQ(r.failure.error_type, "InvalidInput");
  EXPECT_TRUE(r.failure.non_retryable);
}

TEST_F(ActivityRunner, VoidActivityWithoutInputReturnsNil) {
  ActivityResult r = run("noop", {});
  ASSERT_FALSE(r.failed);
  EXPECT_EQ(r.output, nil_bytes());
  EXPECT_EQ(noops_, 1);
}

TEST_F(ActivityRunner, UserTypesTravelAsInputs) {
  ActivityResult r = run("sum", to_bytes(Order{"B-2", 4, {"a", "b", "c"}, std::nullopt}));
  ASSERT_FALSE(r.failed);
  EXPECT_EQ(from_bytes<int>(r.output), 12);
}

// ---------------------------------------------------------------- registry

TEST(Registry, RejectsDuplicateAndEmptyNames) {
  detail::Registry r;
  auto fn = detail::erase_activity([](ActivityContext&) {});
  r.add_activity("a", fn);
  EXPECT_THROW(r.add_activity("a", fn), std::invalid_argument);
  EXPECT_THROW(r.add_activity("", fn), std::invalid_argument);
  EXPECT_THAT(r.activity_names(), ::testing::ElementsAre("a"));
  EXPECT_EQ(r.find_activity("b"), nullptr);
}

// ----------------------------------------------------------- WorkerOptions

// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  void set(const char* name, const char* value) {
    if (!saved_.count(name)) {
      const char* old = getenv(name);
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

TEST(WorkerOptions, DefaultsFollowTheContract) {
  WorkerOptions o;
  EXPECT_EQ(o.broker_address, "tcp://127.0.0.1:7234");
  EXPECT_EQ(o.ns, "default");
  EXPECT_THAT(o.task_queues, ::testing::ElementsAre("default"));
  EXPECT_GE(o.activity_slots, 4);
  EXPECT_EQ(o.orchestration_slots, 64);
  EXPECT_EQ(o.drain_timeout, std::chrono::seconds(30));
  EXPECT_FALSE(o.worker_id.empty());
  EXPECT_NE(o.worker_id, WorkerOptions().worker_id);  // random part
}

TEST(WorkerOptions, FromEnvReadsEveryVariable) {
  ScopedEnv env;
  env.set("BATON_BROKER_ADDRESS", "tcp://broker:9999");
  env.set("BATON_NAMESPACE", "payments");
  env.set("BATON_TASK_QUEUES", " fast, slow ,,gpu");
  env.set("BATON_ACTIVITY_SLOTS", "7");
  env.set("BATON_ORCHESTRATION_SLOTS", "9");
  env.set("BATON_DRAIN_TIMEOUT_S", "2.5");
  env.set("BATON_WORKER_ID", "pod-1");
  WorkerOptions o = WorkerOptions::from_env();
  EXPECT_EQ(o.broker_address, "tcp://broker:9999");
  EXPECT_EQ(o.ns, "payments");
  EXPECT_THAT(o.task_queues, ::testing::ElementsAre("fast", "slow", "gpu"));
  EXPECT_EQ(o.activity_slots, 7);
  EXPECT_EQ(o.orchestration_slots, 9);
  EXPECT_EQ(o.drain_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(o.worker_id, "pod-1");
}

TEST(WorkerOptions, FromEnvIgnoresValuesThatDoNotParse) {
  ScopedEnv env;
  env.set("BATON_ACTIVITY_SLOTS", "many");
  env.set("BATON_ORCHESTRATION_SLOTS", "-3");
  env.set("BATON_DRAIN_TIMEOUT_S", "soon");
  WorkerOptions o = WorkerOptions::from_env();
  EXPECT_EQ(o.activity_slots, WorkerOptions().activity_slots);
  EXPECT_EQ(o.orchestration_slots, 64);
  EXPECT_EQ(o.drain_timeout, std::chrono::seconds(30));
}

TEST(Worker, RunRejectsInvalidOptionsWithExitCodeOne) {
  WorkerOptions o;
  o.handle_signals = false;
  o.worker_id = std::string(300, 'x');
  Worker w(o);
  EXPECT_EQ(w.run(), 1);
}

TEST(Worker, StopBeforeRunMakesRunReturnZeroAtOnce) {
  WorkerOptions o;
  o.handle_signals = false;
  Worker w(o);
  w.stop();
  EXPECT_EQ(w.run(), 0);
}

}  // namespace
}  // namespace baton
