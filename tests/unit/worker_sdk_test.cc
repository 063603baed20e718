// The SDK's building blocks without sockets: Task<T> and its combinators,
// payloads, the activity runner and heartbeat throttling, name-based UUIDs,
// the registry and WorkerOptions::from_env.
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
#include "baton/clock.h"
#include "baton/payload.h"
#include "baton/task.h"
#include "baton/wire.h"
#include "baton/worker.h"
#include "runtime/heartbeats.h"
#include "sdk/activity_runner.h"
#include "sdk/registry.h"
#include "sdk/retry.h"
#include "sdk/uuid.h"

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

// -------------------------------------------------------------- combinators

Task<int> gated_value(Gate& gate, int value) {
  co_await gate;
  co_return value;
}

Task<int> gated_failure(Gate& gate) {
  co_await gate;
  throw std::runtime_error("gate broke");
}

Task<std::size_t> race(Task<int>& a, Task<std::string>& b) { co_return co_await when_any(a, b); }

Task<std::string> gated_text(Gate& gate, std::string text) {
  co_await gate;
  co_return text;
}

TEST(WhenAll, CompletesWithValuesInInputOrderAfterTheLastTask) {
  Gate g0, g1, g2;
  std::vector<Task<int>> tasks;
  tasks.push_back(gated_value(g0, 10));
  tasks.push_back(gated_value(g1, 11));
  tasks.push_back(gated_value(g2, 12));
  Task<std::vector<int>> all = when_all(std::move(tasks));
  g2.release();
  g0.release();
  EXPECT_FALSE(all.is_done());
  g1.release();
  ASSERT_TRUE(all.is_done());
  EXPECT_THAT(all.await_resume(), ::testing::ElementsAre(10, 11, 12));
}

TEST(WhenAll, OfNothingCompletesAtOnce) {
  Task<std::vector<int>> all = when_all(std::vector<Task<int>>{});
  ASSERT_TRUE(all.is_done());
  EXPECT_TRUE(all.await_resume().empty());
}

TEST(WhenAll, FailsFastAndLaterCompletionsAreHarmless) {
  Gate g0, g1;
  std::vector<Task<int>> tasks;
  tasks.push_back(gated_value(g0, 1));
  tasks.push_back(gated_failure(g1));
  Task<std::vector<int>> all = when_all(std::move(tasks));
  g1.release();
  ASSERT_TRUE(all.is_done());
  EXPECT_THROW(all.await_resume(), std::runtime_error);
  g0.release();  // its callback was removed: nothing touches the finished when_all
}

TEST(WhenAll, OwnsItsTasksAndDestroysThemWithItself) {
  int alive = 0;
  Gate g0, g1;
  std::vector<Task<void>> tasks;
  tasks.push_back(holds_tracker(alive, g0));
  tasks.push_back(holds_tracker(alive, g1));
  {
    Task<void> all = when_all(std::move(tasks));
    g1.release();
    EXPECT_EQ(alive, 1);
    EXPECT_FALSE(all.is_done());
  }
  EXPECT_EQ(alive, 0) << "the pending child went with the when_all frame";
}

TEST(WhenAny, ReportsTheFirstToFinishAndLeavesTheTasksWithTheCaller) {
  Gate ga, gb;
  Task<int> a = gated_value(ga, 7);
  Task<std::string> b = gated_text(gb, "bee");
  Task<std::size_t> first = race(a, b);
  EXPECT_FALSE(first.is_done());
  gb.release();
  ASSERT_TRUE(first.is_done());
  EXPECT_EQ(first.await_resume(), 1u);
  EXPECT_EQ(b.await_resume(), "bee");
  ga.release();  // the loser finishes later; no callback of the finished when_any runs
  ASSERT_TRUE(a.is_done());
  EXPECT_EQ(a.await_resume(), 7);
}

TEST(WhenAny, AnAlreadyFinishedTaskWinsAtOnce) {
  Gate ga, gb;
  gb.open = true;
  Task<int> a = gated_value(ga, 1);
  Task<std::string> b = gated_text(gb, "done");
  Task<std::size_t> first = race(a, b);
  ASSERT_TRUE(first.is_done());
  EXPECT_EQ(first.await_resume(), 1u);
}

TEST(WhenAny, MovedFromTaskIsRejected) {
  Gate ga, gb;
  Task<int> a = gated_value(ga, 1);
  Task<int> stolen = std::move(a);
  Task<std::string> b = gated_text(gb, "x");
  Task<std::size_t> first = race(a, b);  // NOLINT(bugprone-use-after-move): the point
  ASSERT_TRUE(first.is_done());
  EXPECT_THROW(first.await_resume(), std::invalid_argument);
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

TEST(ActivityContextHeartbeats, LastDetailsAndTimeoutComeFromTheTask) {
  detail::Registry registry;
  registry.add_activity("resume", detail::erase_activity([](ActivityContext& ctx) {
                          return std::to_string(ctx.last_heartbeat_details<int>().value_or(-1)) +
                                 " / " + std::to_string(ctx.heartbeat_timeout().count());
                        }));
  ActivityTask t;
  t.name = "resume";
  t.heartbeat_timeout_ms = 5000;
  EXPECT_EQ(from_bytes<std::string>(detail::run_activity(registry, t).output), "-1 / 5000");
  t.heartbeat_details = to_bytes(41);
  EXPECT_EQ(from_bytes<std::string>(detail::run_activity(registry, t).output), "41 / 5000");
}

TEST(ActivityContextHeartbeats, AHandBuiltContextSendsToItsSinkOrNowhere) {
  std::vector<Bytes> sent;
  ActivityContext ctx("i", 1, 1, "a", std::chrono::seconds(1), {},
                      [&](Bytes details) { sent.push_back(std::move(details)); });
  ctx.heartbeat(std::string("half way"));
  ctx.heartbeat();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(from_bytes<std::string>(sent[0]), "half way");
  EXPECT_TRUE(sent[1].empty());
  ActivityContext silent("i", 1, 1, "a");
  silent.heartbeat(1);  // no sink: dropped
  EXPECT_EQ(silent.last_heartbeat_details<int>(), std::nullopt);
}

TEST(HeartbeatThrottle, SendsAtMostOncePerIntervalAndTheLatestDetailsWin) {
  detail::HeartbeatThrottle throttle;
  EXPECT_EQ(throttle.offer(1000, "a"), std::optional<Bytes>("a"));
  EXPECT_EQ(throttle.offer(1100, "b"), std::nullopt);
  EXPECT_EQ(throttle.offer(1499, "c"), std::nullopt);
  EXPECT_EQ(throttle.offer(1500, "d"), std::optional<Bytes>("d"));
  EXPECT_EQ(throttle.take_pending(), std::nullopt) << "d replaced the kept c";
  EXPECT_EQ(throttle.offer(1600, "e"), std::nullopt);
  EXPECT_EQ(throttle.take_pending(), std::optional<Bytes>("e"));
  EXPECT_EQ(throttle.take_pending(), std::nullopt);
}

// A clock the activity itself moves forward.
class ManualClock final : public Clock {
 public:
  int64_t now_ms() const override { return ms; }
  int64_t steady_ms() const override { return ms; }
  int64_t ms = 0;
};

TEST(HeartbeatThrottle, RunnerSendsEncodedHeartbeatsAndFlushesTheLastOneOfAFailedAttempt) {
  ManualClock clock;
  detail::Registry registry;
  registry.add_activity("work", detail::erase_activity([&clock](ActivityContext& ctx, bool fail) {
                          for (int i = 1; i <= 5; ++i) {
                            ctx.heartbeat(i);
                            clock.ms += i < 4 ? 200 : 100;  // at 0, 200, 400, 600, 700 ms
                          }
                          if (fail) throw std::runtime_error("crashed after 5");
                          return 5;
                        }));
  ActivityTask task;
  task.work_id = 5;
  task.task_id = 50;
  task.attempt = 2;
  task.name = "work";
  for (bool fail : {false, true}) {
    SCOPED_TRACE(fail ? "failing" : "succeeding");
    clock.ms = 0;
    std::vector<ActivityHeartbeat> sent;
    task.input = to_bytes(fail);
    ActivityResult r =
        detail::run_activity_with_heartbeats(registry, task, clock, [&](std::string body) {
          Result<ActivityHeartbeat> hb = wire::decode<ActivityHeartbeat>(body);
          ASSERT_TRUE(hb.is_ok());
          sent.push_back(*hb);
        });
    EXPECT_EQ(r.failed, fail);
    std::vector<int> details;
    for (const ActivityHeartbeat& hb : sent) {
      EXPECT_EQ(hb.work_id, 5u);
      EXPECT_EQ(hb.task_id, 50);
      EXPECT_EQ(hb.attempt, 2);
      details.push_back(from_bytes<int>(hb.details));
    }
    // 1 goes out at 0 ms; 2 and 3 are kept, then replaced by 4, which is
    // past the interval at 600 ms; 5 (700 ms) is kept and only matters, and
    // goes out, when the attempt failed.
    if (fail) {
      EXPECT_THAT(details, ::testing::ElementsAre(1, 4, 5));
    } else {
      EXPECT_THAT(details, ::testing::ElementsAre(1, 4));
    }
  }
}

TEST(HeartbeatThrottle, ReportStartSendsAnEmptyHeartbeatFirstThatCountsForTheThrottle) {
  ManualClock clock;
  detail::Registry registry;
  registry.add_activity("work", detail::erase_activity([&clock](ActivityContext& ctx) {
                          ctx.heartbeat(1);  // 0 ms: within the interval of the start report
                          clock.ms += 600;
                          ctx.heartbeat(2);
                        }));
  ActivityTask task;
  task.work_id = 6;
  task.name = "work";
  task.report_start = true;
  std::vector<ActivityHeartbeat> sent;
  ActivityResult r =
      detail::run_activity_with_heartbeats(registry, task, clock, [&](std::string body) {
        Result<ActivityHeartbeat> hb = wire::decode<ActivityHeartbeat>(body);
        ASSERT_TRUE(hb.is_ok());
        sent.push_back(*hb);
      });
  EXPECT_FALSE(r.failed);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(sent[0].details.empty());
  EXPECT_EQ(from_bytes<int>(sent[1].details), 2);
}

// ------------------------------------------------------------ retry policy

TEST(SubOrchestrationRetry, DelayFollowsTheSchedulersActivityRetryRules) {
  RetryPolicy p;
  p.max_attempts = 5;
  p.first_retry_interval_ms = 100;
  p.backoff_coefficient = 3.0;
  p.max_retry_interval_ms = 500;
  FailureDetails f;
  f.error_type = "Boom";
  EXPECT_EQ(detail::retry_delay_ms(p, 1, f, 0, 0), 100);
  EXPECT_EQ(detail::retry_delay_ms(p, 2, f, 0, 0), 300);
  EXPECT_EQ(detail::retry_delay_ms(p, 3, f, 0, 0), 500);  // capped
  EXPECT_EQ(detail::retry_delay_ms(p, 5, f, 0, 0), std::nullopt) << "max_attempts reached";
  p.retry_timeout_ms = 1000;
  EXPECT_EQ(detail::retry_delay_ms(p, 1, f, 0, 900), 100) << "starts exactly at the timeout";
  EXPECT_EQ(detail::retry_delay_ms(p, 1, f, 0, 901), std::nullopt);
  p.non_retryable_error_types = {"Boom"};
  EXPECT_EQ(detail::retry_delay_ms(p, 1, f, 0, 0), std::nullopt);
  p.non_retryable_error_types.clear();
  f.non_retryable = true;
  EXPECT_EQ(detail::retry_delay_ms(p, 1, f, 0, 0), std::nullopt);
}

// --------------------------------------------------------------------- uuid

TEST(Uuid, Sha1MatchesKnownDigests) {
  auto hex = [](const std::array<uint8_t, 20>& d) {
    std::string out;
    for (uint8_t b : d) {
      out.push_back("0123456789abcdef"[b >> 4]);
      out.push_back("0123456789abcdef"[b & 15]);
    }
    return out;
  };
  EXPECT_EQ(hex(detail::sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex(detail::sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(detail::sha1(std::string(56, 'a'))), "c2db330f6083854c99d4b5bfb6e8f29f201be699");
  EXPECT_EQ(hex(detail::sha1(std::string(64, 'a'))), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
}

TEST(Uuid, Version5MatchesPythonUuid5) {
  // python3 -c "import uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, 'x' * 200))"
  EXPECT_EQ(detail::uuid_v5(detail::kUuidNamespaceUrl, std::string(200, 'x')),
            "cd3580b9-d244-586a-8077-74317319b48d");
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
