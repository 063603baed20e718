// The replayer over hand-written histories: what one orchestration step
// returns for a given history (worker/src/sdk/replayer.h is the contract).
// Two kinds of cases: the fixtures in tests/replay/*.json (data: one step
// and the result it must give, see tests/replay/README.md), run by
// ReplayFixture, and cases written in code below (generated histories,
// callbacks, timing).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "baton/orchestration_context.h"
#include "baton/payload.h"
#include "baton/task.h"
#include "sdk/registry.h"
#include "sdk/replayer.h"

namespace baton {
namespace {

using detail::Registry;
using detail::run_step;

// ------------------------------------------------------------ orchestrators

Task<std::string> function_chaining(OrchestrationContext& ctx, std::string name) {
  auto a = co_await ctx.call_activity<std::string>("say_hello", name);
  auto b = co_await ctx.call_activity<std::string>("process_greeting", a);
  co_return co_await ctx.call_activity<std::string>("finalize_response", b);
}

// The same orchestrator after someone renamed its first activity.
Task<std::string> function_chaining_v2(OrchestrationContext& ctx, std::string name) {
  auto a = co_await ctx.call_activity<std::string>("say_goodbye", name);
  co_return a;
}

Task<std::string> compensating(OrchestrationContext& ctx, std::string input) {
  std::string why;
  try {
    co_return co_await ctx.call_activity<std::string>("charge_card", input);
  } catch (const TaskFailedError& e) {
    why = e.error_type() + ": " + e.message();  // C++ forbids co_await inside a handler
  }
  co_return co_await ctx.call_activity<std::string>("refund", why);
}

Task<int> throws_logic_error(OrchestrationContext&, int) {
  throw std::invalid_argument("amount must be positive");
  co_return 0;
}

Task<void> fire_and_forget(OrchestrationContext& ctx) {
  (void)ctx.call_activity("audit", std::string("started"));  // never awaited
  co_await ctx.call_activity("work");
}

Task<int> fan_out(OrchestrationContext& ctx, int n) {
  Task<int> first = ctx.call_activity<int>("square", n);
  Task<int> second = ctx.call_activity<int>("square", n + 1);
  int a = co_await first;
  int b = co_await second;
  co_return a + b;
}

Task<int> add_one_via_activity(OrchestrationContext& ctx, int n) {
  co_return co_await ctx.call_activity<int>("increment", n);
}

Task<int> uses_helper_coroutine(OrchestrationContext& ctx, int n) {
  int once = co_await add_one_via_activity(ctx, n);
  co_return co_await add_one_via_activity(ctx, once);
}

// Reports what the context says through the inputs of the actions it
// produces, so the test can read them back.
struct Observation {
  bool replaying = false;
  int64_t now_ms = 0;
  std::string instance_id;
  MSGPACK_DEFINE_MAP(replaying, now_ms, instance_id)
};
Task<void> observer(OrchestrationContext& ctx) {
  auto observe = [&ctx] {
    return Observation{
        ctx.is_replaying(),
        std::chrono::duration_cast<std::chrono::milliseconds>(ctx.current_time().time_since_epoch())
            .count(),
        ctx.instance_id()};
  };
  Observation first = observe();
  co_await ctx.call_activity("observe", first);
  // (g++ 12 rejects a braced init-list inside a co_await expression: use a local.)
  std::vector<Observation> both{first, observe()};
  co_await ctx.call_activity("observe", both);
}

// ActivityOptions travel in the ScheduleTask action.
Task<std::string> activity_with_options(OrchestrationContext& ctx, std::string input) {
  ActivityOptions options;
  options.task_queue = "gpu";
  options.retry.max_attempts = 5;
  options.retry.first_retry_interval_ms = 100;
  options.retry.backoff_coefficient = 1.5;
  options.retry.max_retry_interval_ms = 10000;
  options.retry.retry_timeout_ms = 60000;
  options.retry.non_retryable_error_types = {"InvalidInput"};
  options.start_to_close_timeout = std::chrono::seconds(30);
  options.heartbeat_timeout = std::chrono::seconds(5);
  options.schedule_to_start_timeout = std::chrono::minutes(2);
  co_return co_await ctx.call_activity<std::string>("render", input, options);
}

// A relative timer, then an absolute one, then an activity.
Task<std::string> reminder(OrchestrationContext& ctx, int64_t delay_ms) {
  co_await ctx.create_timer(std::chrono::milliseconds(delay_ms));
  co_await ctx.create_timer(ctx.current_time() + std::chrono::seconds(1));
  co_return co_await ctx.call_activity<std::string>("send_reminder", std::string("wake up"));
}

// Two children in parallel: a default instance id, and an explicit id and queue.
Task<std::string> parent(OrchestrationContext& ctx, std::string order) {
  Task<std::string> shipped = ctx.call_sub_orchestrator<std::string>("ship", order);
  SubOrchestrationOptions options;
  options.instance_id = "invoice-" + order;
  options.task_queue = "billing";
  Task<std::string> invoiced = ctx.call_sub_orchestrator<std::string>("invoice", order, options);
  std::string a = co_await shipped;
  std::string b;
  try {
    b = co_await invoiced;
  } catch (const TaskFailedError& e) {
    b = "failed " + e.task_name() + " " + e.error_type() + ": " + e.message() + " (" + e.details() +
        ")";
  }
  co_return a + "; " + b;
}

// A child the SDK retries: up to 3 attempts, 1 s then 2 s apart; the last
// failure escapes.
Task<std::string> retrying_parent(OrchestrationContext& ctx, std::string order) {
  SubOrchestrationOptions options;
  options.retry.max_attempts = 3;
  options.retry.first_retry_interval_ms = 1000;
  co_return co_await ctx.call_sub_orchestrator<std::string>("ship", order, options);
}

// An explicit child id, retries bounded by a retry timeout and a
// non-retryable error type; an activity runs in parallel with the retries.
Task<std::string> retrying_parent_with_id(OrchestrationContext& ctx, std::string order) {
  SubOrchestrationOptions options;
  options.instance_id = "ship-" + order;
  options.retry.max_attempts = 10;
  options.retry.first_retry_interval_ms = 1000;
  options.retry.backoff_coefficient = 3.0;
  options.retry.retry_timeout_ms = 5000;
  options.retry.non_retryable_error_types = {"AddressUnknown"};
  Task<std::string> shipped = ctx.call_sub_orchestrator<std::string>("ship", order, options);
  Task<std::string> billed = ctx.call_activity<std::string>("bill", order);
  std::string a;
  try {
    a = co_await shipped;
  } catch (const TaskFailedError& e) {
    a = "gave up: " + e.error_type() + ": " + e.message();
  }
  std::string b = co_await billed;
  co_return a + "; " + b;
}

Task<std::string> notifier(OrchestrationContext& ctx, std::string target) {
  ctx.send_event(target, "ping", std::string("hello"));
  ctx.send_event(target, "poke");
  co_return "notified " + target;
}

// Counts to 3, one execution per tick, keeping events nobody consumed.
Task<int> ticker(OrchestrationContext& ctx, int n) {
  if (n >= 3) co_return n;
  co_await ctx.create_timer(std::chrono::seconds(1));
  ctx.continue_as_new(n + 1, /*keep_unprocessed_events=*/true);
  co_return 0;
}

// Actions before continue_as_new in the same step are still returned.
Task<void> batch_loop(OrchestrationContext& ctx, int batch) {
  ctx.send_event("monitor", "batch_done", batch);
  ctx.continue_as_new(batch + 1);
  co_return;
}

Task<std::string> status_reporter(OrchestrationContext& ctx, std::string input) {
  ctx.set_custom_status(std::string("charging"));
  std::string receipt = co_await ctx.call_activity<std::string>("charge", input);
  ctx.set_custom_status(
      std::map<std::string, std::string>{{"stage", "shipping"}, {"receipt", receipt}});
  co_return co_await ctx.call_activity<std::string>("ship", receipt);
}

// Approval with a timeout: whichever comes first.
Task<std::string> approval(OrchestrationContext& ctx, int64_t timeout_ms) {
  Task<std::string> approved = ctx.wait_for_external_event<std::string>("approval");
  Task<void> timeout = ctx.create_timer(std::chrono::milliseconds(timeout_ms));
  const std::size_t winner = co_await when_any(approved, timeout);
  if (winner == 1) co_return std::string("timed out");
  std::string who = co_await approved;
  co_return co_await ctx.call_activity<std::string>("record_approval", who);
}

// Three "item" events one after the other, then two waiters of "pair" at once.
Task<std::vector<std::string>> collector(OrchestrationContext& ctx) {
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    std::string item = co_await ctx.wait_for_external_event<std::string>("item");
    got.push_back(item);
  }
  Task<std::string> first = ctx.wait_for_external_event<std::string>("pair");
  Task<std::string> second = ctx.wait_for_external_event<std::string>("pair");
  std::string b = co_await second;
  std::string a = co_await first;
  got.push_back(a);
  got.push_back(b);
  co_return got;
}

// ---------------------------------------------------------------- histories

HistoryEvent orchestrator_started(int64_t timestamp_ms) {
  HistoryEvent e;
  e.type = EventType::kOrchestratorStarted;
  e.timestamp_ms = timestamp_ms;
  return e;
}
HistoryEvent execution_started(const std::string& name, Bytes input) {
  HistoryEvent e;
  e.type = EventType::kExecutionStarted;
  e.name = name;
  e.input = std::move(input);
  return e;
}
HistoryEvent task_scheduled(int32_t id, const std::string& name) {
  HistoryEvent e;
  e.type = EventType::kTaskScheduled;
  e.event_id = id;
  e.name = name;
  return e;
}
HistoryEvent task_completed(int32_t id, Bytes result) {
  HistoryEvent e;
  e.type = EventType::kTaskCompleted;
  e.task_scheduled_id = id;
  e.result = std::move(result);
  return e;
}
HistoryEvent task_failed(int32_t id, const std::string& error_type, const std::string& message) {
  HistoryEvent e;
  e.type = EventType::kTaskFailed;
  e.task_scheduled_id = id;
  e.failure.error_type = error_type;
  e.failure.message = message;
  e.failure.details = "at charge_card.cc:12";
  return e;
}
HistoryEvent execution_completed() {
  HistoryEvent e;
  e.type = EventType::kExecutionCompleted;
  e.status = OrchestrationStatus::kCompleted;
  return e;
}

OrchestrationTask step(const std::string& name, std::vector<HistoryEvent> past,
                       std::vector<HistoryEvent> fresh) {
  OrchestrationTask t;
  t.work_id = 77;
  t.ns = "default";
  t.instance_id = "order-42";
  t.task_queue = "default";
  t.name = name;
  t.past_events = std::move(past);
  t.new_events = std::move(fresh);
  return t;
}

void register_orchestrators(Registry& r) {
  r.add_orchestrator("function_chaining", detail::erase_orchestrator(function_chaining));
  r.add_orchestrator("compensating", detail::erase_orchestrator(compensating));
  r.add_orchestrator("throws_logic_error", detail::erase_orchestrator(throws_logic_error));
  r.add_orchestrator("fire_and_forget", detail::erase_orchestrator(fire_and_forget));
  r.add_orchestrator("fan_out", detail::erase_orchestrator(fan_out));
  r.add_orchestrator("uses_helper_coroutine", detail::erase_orchestrator(uses_helper_coroutine));
  r.add_orchestrator("observer", detail::erase_orchestrator(observer));
  r.add_orchestrator("activity_with_options", detail::erase_orchestrator(activity_with_options));
  r.add_orchestrator("reminder", detail::erase_orchestrator(reminder));
  r.add_orchestrator("parent", detail::erase_orchestrator(parent));
  r.add_orchestrator("retrying_parent", detail::erase_orchestrator(retrying_parent));
  r.add_orchestrator("retrying_parent_with_id",
                     detail::erase_orchestrator(retrying_parent_with_id));
  r.add_orchestrator("notifier", detail::erase_orchestrator(notifier));
  r.add_orchestrator("ticker", detail::erase_orchestrator(ticker));
  r.add_orchestrator("batch_loop", detail::erase_orchestrator(batch_loop));
  r.add_orchestrator("status_reporter", detail::erase_orchestrator(status_reporter));
  r.add_orchestrator("approval", detail::erase_orchestrator(approval));
  r.add_orchestrator("collector", detail::erase_orchestrator(collector));
}

class Replay : public ::testing::Test {
 protected:
  Replay() { register_orchestrators(registry_); }

  std::vector<Action> run(const OrchestrationTask& task) {
    OrchestrationResult r = run_step(registry_, task);
    EXPECT_EQ(r.work_id, task.work_id);
    EXPECT_EQ(r.ns, task.ns);
    EXPECT_EQ(r.instance_id, task.instance_id);
    return r.actions;
  }

  Registry registry_;
};

const std::string kHello = "Hello World!";
const std::string kProcessed = "Hello World! How are you today?";
const std::string kFinal = "Hello World! How are you today? I hope you're doing well!";

// ------------------------------------------------------------------- tests

TEST_F(Replay, FirstStepSchedulesTheFirstActivityWithSequenceZero) {
  auto actions =
      run(step("function_chaining", {},
               {orchestrator_started(1000),
                execution_started("function_chaining", to_bytes(std::string("World")))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].type, ActionType::kScheduleTask);
  EXPECT_EQ(actions[0].id, 0);
  EXPECT_EQ(actions[0].name, "say_hello");
  EXPECT_EQ(from_bytes<std::string>(actions[0].input), "World");
}

TEST_F(Replay, MidRunReturnsOnlyTheNextActivityWithSequenceOne) {
  auto actions = run(step("function_chaining",
                          {orchestrator_started(1000),
                           execution_started("function_chaining", to_bytes(std::string("World"))),
                           task_scheduled(0, "say_hello")},
                          {orchestrator_started(2000), task_completed(0, to_bytes(kHello))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].type, ActionType::kScheduleTask);
  EXPECT_EQ(actions[0].id, 1);
  EXPECT_EQ(actions[0].name, "process_greeting");
  EXPECT_EQ(from_bytes<std::string>(actions[0].input), kHello);
}

TEST_F(Replay, LastCompletionCompletesTheOrchestrationWithItsOutput) {
  auto actions =
      run(step("function_chaining",
               {orchestrator_started(1000),
                execution_started("function_chaining", to_bytes(std::string("World"))),
                task_scheduled(0, "say_hello"), orchestrator_started(2000),
                task_completed(0, to_bytes(kHello)), task_scheduled(1, "process_greeting"),
                orchestrator_started(3000), task_completed(1, to_bytes(kProcessed)),
                task_scheduled(2, "finalize_response")},
               {orchestrator_started(4000), task_completed(2, to_bytes(kFinal))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(actions[0].id, 3);
  EXPECT_EQ(actions[0].status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(from_bytes<std::string>(actions[0].result), kFinal);
}

TEST_F(Replay, UnmatchedActionIsReturnedAgainWhenHistoryLacksItsTaskScheduled) {
  // The previous step's actions were not recorded (e.g. lost): produce them again.
  auto actions = run(step("function_chaining",
                          {orchestrator_started(1000),
                           execution_started("function_chaining", to_bytes(std::string("World")))},
                          {orchestrator_started(2000)}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].id, 0);
  EXPECT_EQ(actions[0].name, "say_hello");
}

TEST_F(Replay, CaughtActivityFailureLetsTheOrchestratorCompensate) {
  auto actions = run(step(
      "compensating",
      {orchestrator_started(1000), execution_started("compensating", to_bytes(std::string("4242"))),
       task_scheduled(0, "charge_card")},
      {orchestrator_started(2000), task_failed(0, "CardDeclined", "insufficient funds")}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].type, ActionType::kScheduleTask);
  EXPECT_EQ(actions[0].id, 1);
  EXPECT_EQ(actions[0].name, "refund");
  EXPECT_EQ(from_bytes<std::string>(actions[0].input), "CardDeclined: insufficient funds");
}

TEST_F(Replay, UncaughtActivityFailureFailsTheOrchestrationWithTheTaskError) {
  auto actions = run(
      step("function_chaining",
           {orchestrator_started(1000),
            execution_started("function_chaining", to_bytes(std::string("World"))),
            task_scheduled(0, "say_hello")},
           {orchestrator_started(2000), task_failed(0, "std::runtime_error", "greeter is down")}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(actions[0].id, 1);
  EXPECT_EQ(actions[0].status, OrchestrationStatus::kFailed);
  EXPECT_EQ(actions[0].failure.error_type, "std::runtime_error");
  EXPECT_EQ(actions[0].failure.message, "greeter is down");
  EXPECT_EQ(actions[0].failure.details, "at charge_card.cc:12");
}

TEST_F(Replay, OrchestratorExceptionFailsWithItsDemangledTypeAndMessage) {
  auto actions =
      run(step("throws_logic_error", {},
               {orchestrator_started(1000), execution_started("throws_logic_error", to_bytes(5))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(actions[0].id, 0);
  EXPECT_EQ(actions[0].status, OrchestrationStatus::kFailed);
  EXPECT_EQ(actions[0].failure.error_type, "std::invalid_argument");
  EXPECT_EQ(actions[0].failure.message, "amount must be positive");
}

TEST_F(Replay, UnknownOrchestratorFailsWithOrchestratorNotFound) {
  auto actions = run(step("no_such_thing", {},
                          {orchestrator_started(1000), execution_started("no_such_thing", {})}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(actions[0].status, OrchestrationStatus::kFailed);
  EXPECT_EQ(actions[0].failure.error_type, "OrchestratorNotFound");
  EXPECT_EQ(actions[0].failure.message,
            "orchestrator 'no_such_thing' is not registered on this worker");
}

TEST_F(Replay, RenamedActivityIsANonDeterminismErrorNamingBothSides) {
  registry_.add_orchestrator("greeting", detail::erase_orchestrator(function_chaining_v2));
  auto actions = run(step(
      "greeting",
      {orchestrator_started(1000), execution_started("greeting", to_bytes(std::string("World"))),
       task_scheduled(0, "say_hello")},
      {orchestrator_started(2000), task_completed(0, to_bytes(kHello))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(actions[0].status, OrchestrationStatus::kFailed);
  EXPECT_EQ(actions[0].failure.error_type, "NonDeterminismError");
  EXPECT_EQ(actions[0].failure.message,
            "non-deterministic orchestrator 'greeting' in instance 'default/order-42': at sequence "
            "0 history has ScheduleTask(say_hello) but the orchestrator produced "
            "ScheduleTask(say_goodbye)");
}

TEST_F(Replay, HistoryWithAnActionTheOrchestratorNeverProducedIsANonDeterminismError) {
  auto actions = run(step("function_chaining",
                          {orchestrator_started(1000),
                           execution_started("function_chaining", to_bytes(std::string("World"))),
                           task_scheduled(0, "say_hello"), task_scheduled(1, "say_hello_again")},
                          {orchestrator_started(2000)}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].failure.error_type, "NonDeterminismError");
  EXPECT_EQ(actions[0].failure.message,
            "non-deterministic orchestrator 'function_chaining' in instance 'default/order-42': at "
            "sequence 1 history has ScheduleTask(say_hello_again) but the orchestrator produced "
            "nothing");
}

TEST_F(Replay, CompletedInstanceProducesNoActions) {
  auto actions = run(step("function_chaining",
                          {orchestrator_started(1000),
                           execution_started("function_chaining", to_bytes(std::string("World"))),
                           execution_completed()},
                          {orchestrator_started(2000)}));
  EXPECT_TRUE(actions.empty());
}

TEST_F(Replay, CompletionForAnUnknownSequenceNumberIsIgnored) {
  auto actions =
      run(step("function_chaining",
               {orchestrator_started(1000),
                execution_started("function_chaining", to_bytes(std::string("World"))),
                task_scheduled(0, "say_hello")},
               {orchestrator_started(2000), task_completed(9, to_bytes(std::string("stray")))}));
  EXPECT_TRUE(actions.empty());
}

TEST_F(Replay, ActivitiesAreScheduledWhenCalledNotWhenAwaited) {
  auto actions = run(
      step("fan_out", {}, {orchestrator_started(1), execution_started("fan_out", to_bytes(3))}));
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].id, 0);
  EXPECT_EQ(from_bytes<int>(actions[0].input), 3);
  EXPECT_EQ(actions[1].id, 1);
  EXPECT_EQ(from_bytes<int>(actions[1].input), 4);
}

TEST_F(Replay, CompletionsArrivingOutOfOrderStillGiveTheRightSum) {
  auto actions = run(step(
      "fan_out",
      {orchestrator_started(1), execution_started("fan_out", to_bytes(3)),
       task_scheduled(0, "square"), task_scheduled(1, "square")},
      {orchestrator_started(2), task_completed(1, to_bytes(16)), task_completed(0, to_bytes(9))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].id, 2);
  EXPECT_EQ(from_bytes<int>(actions[0].result), 25);
}

TEST_F(Replay, AwaitedHelperCoroutinesShareTheSequence) {
  auto actions =
      run(step("uses_helper_coroutine",
               {orchestrator_started(1), execution_started("uses_helper_coroutine", to_bytes(1)),
                task_scheduled(0, "increment")},
               {orchestrator_started(2), task_completed(0, to_bytes(2))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].id, 1);
  EXPECT_EQ(actions[0].name, "increment");
  EXPECT_EQ(from_bytes<int>(actions[0].input), 2);
}

TEST_F(Replay, UnawaitedActivityStillSchedulesAndItsLateResultIsHarmless) {
  auto first = run(step("fire_and_forget", {},
                        {orchestrator_started(1), execution_started("fire_and_forget", {})}));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].name, "audit");
  EXPECT_EQ(first[1].name, "work");

  auto last = run(step(
      "fire_and_forget",
      {orchestrator_started(1), execution_started("fire_and_forget", {}),
       task_scheduled(0, "audit"), task_scheduled(1, "work")},
      {orchestrator_started(2), task_completed(0, nil_bytes()), task_completed(1, nil_bytes())}));
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(last[0].status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(last[0].result, nil_bytes());
}

TEST_F(Replay, ContextReportsReplayingAndTheTimeOfTheLatestOrchestratorStarted) {
  auto actions = run(step(
      "observer",
      {orchestrator_started(1000), execution_started("observer", {}), task_scheduled(0, "observe")},
      {orchestrator_started(5000), task_completed(0, nil_bytes())}));
  ASSERT_EQ(actions.size(), 1u);
  auto seen = from_bytes<std::vector<Observation>>(actions[0].input);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].replaying);
  EXPECT_EQ(seen[0].now_ms, 1000);
  EXPECT_FALSE(seen[1].replaying);
  EXPECT_EQ(seen[1].now_ms, 5000);
  EXPECT_EQ(seen[1].instance_id, "order-42");

  // The first call ran during replay, at the time of the first step.
  auto first =
      run(step("observer", {}, {orchestrator_started(1000), execution_started("observer", {})}));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(from_bytes<Observation>(first[0].input).now_ms, 1000);
}

TEST_F(Replay, UndecodableOrchestratorInputFailsAsInvalidInput) {
  auto actions = run(step("fan_out", {},
                          {orchestrator_started(1),
                           execution_started("fan_out", to_bytes(std::string("not a number")))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].status, OrchestrationStatus::kFailed);
  EXPECT_EQ(actions[0].failure.error_type, "InvalidInput");
  EXPECT_THAT(actions[0].failure.message, ::testing::HasSubstr("cannot decode payload as int"));
}

TEST_F(Replay, ActivityResultOfTheWrongTypeFailsWithPayloadError) {
  auto actions =
      run(step("fan_out",
               {orchestrator_started(1), execution_started("fan_out", to_bytes(3)),
                task_scheduled(0, "square"), task_scheduled(1, "square")},
               {orchestrator_started(2), task_completed(0, to_bytes(std::string("nine"))),
                task_completed(1, to_bytes(16))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].status, OrchestrationStatus::kFailed);
  EXPECT_EQ(actions[0].failure.error_type, "baton::PayloadError");
}

TEST_F(Replay, StepsAreRepeatableFromTheSameHistory) {
  auto task = step("function_chaining",
                   {orchestrator_started(1000),
                    execution_started("function_chaining", to_bytes(std::string("World"))),
                    task_scheduled(0, "say_hello")},
                   {orchestrator_started(2000), task_completed(0, to_bytes(kHello))});
  auto a = run(task);
  auto b = run(task);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(to_bytes(a[0]), to_bytes(b[0]));
}

// ------------------------------------------------------ fixtures (data)
// tests/replay/<case>.json: one step of one orchestrator (registered above)
// and exactly what it must answer. Format: tests/replay/README.md.

using nlohmann::json;

// Payloads in fixtures are JSON values; on the wire they are msgpack.
Bytes msgpack_of(const json& value) {
  const std::vector<std::uint8_t> bytes = json::to_msgpack(value);
  return Bytes(bytes.begin(), bytes.end());
}
// Empty bytes (no payload) read as null.
json json_of(const Bytes& bytes) {
  if (bytes.empty()) return nullptr;
  return json::from_msgpack(bytes);
}

template <class Enum, class NameOf>
Enum enum_named(const std::string& name, int first, int last, NameOf name_of) {
  for (int v = first; v <= last; ++v) {
    if (name == name_of(static_cast<Enum>(v))) return static_cast<Enum>(v);
  }
  throw std::invalid_argument("unknown name '" + name + "'");
}
EventType event_type_named(const std::string& n) {
  return enum_named<EventType>(n, 1, 17, event_type_name);
}
OrchestrationStatus status_named(const std::string& n) {
  return enum_named<OrchestrationStatus>(n, 0, 6, orchestration_status_name);
}

// Fails loudly on a key the loader would silently ignore (a typo).
void only_keys(const json& object, const std::set<std::string>& allowed, const std::string& what) {
  for (const auto& [key, value] : object.items()) {
    if (!allowed.count(key)) throw std::invalid_argument(what + " has unknown key '" + key + "'");
  }
}

FailureDetails failure_from(const json& j) {
  only_keys(j, {"error_type", "message", "details", "non_retryable"}, "failure");
  FailureDetails f;
  f.error_type = j.value("error_type", "");
  f.message = j.value("message", "");
  f.details = j.value("details", "");
  f.non_retryable = j.value("non_retryable", false);
  return f;
}

const std::set<std::string> kEventKeys = {
    "type",        "event_id",          "timestamp_ms", "name",    "input",
    "result",      "task_scheduled_id", "status",       "failure", "task_queue",
    "instance_id", "fire_at_ms",        "attempt"};

HistoryEvent event_from(const json& j) {
  only_keys(j, kEventKeys, "event");
  HistoryEvent e;
  e.type = event_type_named(j.at("type").get<std::string>());
  e.event_id = j.value("event_id", -1);
  e.timestamp_ms = j.value("timestamp_ms", int64_t{0});
  e.name = j.value("name", "");
  if (j.contains("input")) e.input = msgpack_of(j["input"]);
  if (j.contains("result")) e.result = msgpack_of(j["result"]);
  e.task_scheduled_id = j.value("task_scheduled_id", -1);
  if (j.contains("status")) e.status = status_named(j["status"].get<std::string>());
  if (j.contains("failure")) e.failure = failure_from(j["failure"]);
  e.task_queue = j.value("task_queue", "");
  e.instance_id = j.value("instance_id", "");
  e.fire_at_ms = j.value("fire_at_ms", int64_t{0});
  e.attempt = j.value("attempt", 0);
  return e;
}

std::vector<HistoryEvent> events_from(const json& list) {
  std::vector<HistoryEvent> out;
  for (const json& j : list) out.push_back(event_from(j));
  return out;
}

// EXPECTs `got` (as JSON) == want[key] when `want` has `key`.
template <class T>
void check(const json& want, const char* key, const T& got) {
  if (want.contains(key)) {
    EXPECT_EQ(json(got), want[key]) << "field " << key;
  }
}

void expect_failure(const json& want, const FailureDetails& got) {
  only_keys(want, {"error_type", "message", "details", "non_retryable"}, "expected failure");
  check(want, "error_type", got.error_type);
  check(want, "message", got.message);
  check(want, "details", got.details);
  check(want, "non_retryable", got.non_retryable);
}

// Only the keys present in `want` are checked (payloads as decoded JSON).
void expect_event(const json& want, const HistoryEvent& got) {
  only_keys(want, kEventKeys, "expected event");
  EXPECT_EQ(event_type_name(got.type), want.at("type"));
  check(want, "event_id", got.event_id);
  check(want, "timestamp_ms", got.timestamp_ms);
  check(want, "name", got.name);
  check(want, "input", json_of(got.input));
  check(want, "result", json_of(got.result));
  check(want, "task_scheduled_id", got.task_scheduled_id);
  check(want, "instance_id", got.instance_id);
  check(want, "fire_at_ms", got.fire_at_ms);
}

// `type` and `id` always; other keys when present. carryover_events is
// compared element by element (an absent key means it must be empty).
void expect_action(const json& want, const Action& got) {
  only_keys(want,
            {"type", "id", "name", "input", "task_queue", "status", "result", "failure", "retry",
             "start_to_close_timeout_ms", "heartbeat_timeout_ms", "schedule_to_start_timeout_ms",
             "fire_at_ms", "instance_id", "carryover_events"},
            "expected action");
  EXPECT_EQ(action_type_name(got.type), want.at("type"));
  EXPECT_EQ(got.id, want.at("id"));
  check(want, "name", got.name);
  check(want, "input", json_of(got.input));
  check(want, "task_queue", got.task_queue);
  check(want, "status", std::string(orchestration_status_name(got.status)));
  check(want, "result", json_of(got.result));
  if (want.contains("failure")) expect_failure(want["failure"], got.failure);
  if (want.contains("retry")) {
    const json& r = want["retry"];
    only_keys(r,
              {"max_attempts", "first_retry_interval_ms", "backoff_coefficient",
               "max_retry_interval_ms", "retry_timeout_ms", "non_retryable_error_types"},
              "expected retry");
    check(r, "max_attempts", got.retry.max_attempts);
    check(r, "first_retry_interval_ms", got.retry.first_retry_interval_ms);
    check(r, "backoff_coefficient", got.retry.backoff_coefficient);
    check(r, "max_retry_interval_ms", got.retry.max_retry_interval_ms);
    check(r, "retry_timeout_ms", got.retry.retry_timeout_ms);
    check(r, "non_retryable_error_types", got.retry.non_retryable_error_types);
  }
  check(want, "start_to_close_timeout_ms", got.start_to_close_timeout_ms);
  check(want, "heartbeat_timeout_ms", got.heartbeat_timeout_ms);
  check(want, "schedule_to_start_timeout_ms", got.schedule_to_start_timeout_ms);
  check(want, "fire_at_ms", got.fire_at_ms);
  check(want, "instance_id", got.instance_id);
  const json carryover = want.value("carryover_events", json::array());
  ASSERT_EQ(got.carryover_events.size(), carryover.size());
  for (std::size_t i = 0; i < carryover.size(); ++i) {
    SCOPED_TRACE("carryover event " + std::to_string(i));
    expect_event(carryover[i], got.carryover_events[i]);
  }
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(BATON_REPLAY_FIXTURES_DIR)) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class ReplayFixture : public ::testing::TestWithParam<std::string> {
 protected:
  ReplayFixture() { register_orchestrators(registry_); }
  Registry registry_;
};

TEST_P(ReplayFixture, StepGivesTheExpectedResult) {
  const std::string path = std::string(BATON_REPLAY_FIXTURES_DIR) + "/" + GetParam() + ".json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot open " << path;
  const json fixture = json::parse(in);
  only_keys(fixture,
            {"description", "orchestrator", "instance_id", "past_events", "new_events", "expect"},
            "fixture");
  SCOPED_TRACE(fixture.value("description", GetParam()));

  OrchestrationTask task = step(fixture.at("orchestrator").get<std::string>(),
                                events_from(fixture.value("past_events", json::array())),
                                events_from(fixture.value("new_events", json::array())));
  task.instance_id = fixture.value("instance_id", task.instance_id);
  const OrchestrationResult result = run_step(registry_, task);

  const json& expect = fixture.at("expect");
  only_keys(expect, {"actions", "custom_status"}, "expect");
  const json& actions = expect.at("actions");
  ASSERT_EQ(result.actions.size(), actions.size()) << "actions: " << [&] {
    std::string all;
    for (const Action& a : result.actions) {
      all += std::string(action_type_name(a.type)) + "#" + std::to_string(a.id) + " " +
             a.failure.message + "; ";
    }
    return all;
  }();
  for (std::size_t i = 0; i < actions.size(); ++i) {
    SCOPED_TRACE("action " + std::to_string(i));
    expect_action(actions[i], result.actions[i]);
  }
  EXPECT_EQ(result.has_custom_status, expect.contains("custom_status"));
  if (expect.contains("custom_status")) {
    EXPECT_EQ(json_of(result.custom_status), expect["custom_status"]);
  }
}

INSTANTIATE_TEST_SUITE_P(Histories, ReplayFixture, ::testing::ValuesIn(fixture_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// ---------------------------------------------------------- code-only cases

Task<int64_t> fan_out_fan_in(OrchestrationContext& ctx, int n) {
  std::vector<Task<int>> work;
  work.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) work.push_back(ctx.call_activity<int>("double", i));
  std::vector<int> doubled = co_await when_all(std::move(work));
  int64_t sum = 0;
  for (int d : doubled) sum += d;
  co_return sum;
}

// Fails fast: reports the first failure while the other task is still pending.
Task<std::vector<std::string>> all_or_nothing(OrchestrationContext& ctx) {
  std::vector<Task<std::string>> work;
  work.push_back(ctx.call_activity<std::string>("slow"));
  work.push_back(ctx.call_activity<std::string>("breaks"));
  work.push_back(ctx.call_activity<std::string>("fine"));
  co_return co_await when_all(std::move(work));
}

Task<void> all_void(OrchestrationContext& ctx) {
  std::vector<Task<void>> work;
  work.push_back(ctx.call_activity("a"));
  work.push_back(ctx.call_activity("b"));
  co_await when_all(std::move(work));
}

// Results in the order they finish, via repeated when_any over a vector.
Task<std::vector<std::string>> as_completed(OrchestrationContext& ctx) {
  std::vector<Task<std::string>> pending;
  for (const char* name : {"a", "b", "c"}) pending.push_back(ctx.call_activity<std::string>(name));
  std::vector<std::string> order;
  while (!pending.empty()) {
    const std::size_t first = co_await when_any(pending);
    Task<std::string>& winner = pending[first];  // g++ 12 would copy `co_await pending[first]`
    std::string value = co_await winner;
    order.push_back(value);
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(first));
  }
  co_return order;
}

// Each round waits for "ping" with a timeout; a round lost to its timer
// drops its waiter, which must not swallow the next ping.
Task<std::vector<std::string>> ping_rounds(OrchestrationContext& ctx) {
  std::vector<std::string> log;
  for (int round = 0; round < 2; ++round) {
    Task<std::string> ping = ctx.wait_for_external_event<std::string>("ping");
    Task<void> timer = ctx.create_timer(std::chrono::seconds(10));
    if (co_await when_any(ping, timer) == 0) {
      std::string data = co_await ping;
      log.push_back(data);
    } else {
      log.push_back("timeout");
    }
  }
  co_return log;
}

Task<std::vector<std::string>> uuids(OrchestrationContext& ctx) {
  std::vector<std::string> ids{ctx.new_uuid(), ctx.new_uuid()};
  co_await ctx.call_activity("wait");
  ids.push_back(ctx.new_uuid());
  co_return ids;
}

Task<void> chatty(OrchestrationContext& ctx, std::string who) {
  ctx.log_info("hello {}", who);
  co_await ctx.call_activity("wait");
  ctx.log_warn("after the wait");
  ctx.log_error("{} + {} = {}", 1, 2, 3);
}

class ReplayCode : public Replay {
 protected:
  ReplayCode() {
    registry_.add_orchestrator("fan_out_fan_in", detail::erase_orchestrator(fan_out_fan_in));
    registry_.add_orchestrator("all_or_nothing", detail::erase_orchestrator(all_or_nothing));
    registry_.add_orchestrator("all_void", detail::erase_orchestrator(all_void));
    registry_.add_orchestrator("as_completed", detail::erase_orchestrator(as_completed));
    registry_.add_orchestrator("ping_rounds", detail::erase_orchestrator(ping_rounds));
    registry_.add_orchestrator("uuids", detail::erase_orchestrator(uuids));
    registry_.add_orchestrator("chatty", detail::erase_orchestrator(chatty));
  }
};

HistoryEvent event_raised(const std::string& name, const std::string& data) {
  HistoryEvent e;
  e.type = EventType::kEventRaised;
  e.name = name;
  e.input = to_bytes(data);
  return e;
}
HistoryEvent timer_created(int32_t id, int64_t fire_at_ms) {
  HistoryEvent e;
  e.type = EventType::kTimerCreated;
  e.event_id = id;
  e.fire_at_ms = fire_at_ms;
  return e;
}
HistoryEvent timer_fired(int32_t id, int64_t fire_at_ms) {
  HistoryEvent e;
  e.type = EventType::kTimerFired;
  e.task_scheduled_id = id;
  e.fire_at_ms = fire_at_ms;
  return e;
}

TEST_F(ReplayCode, FanOutOfTenThousandActivitiesReplaysInLinearTime) {
  constexpr int kN = 10'000;
  const auto started = std::chrono::steady_clock::now();

  std::vector<HistoryEvent> history{orchestrator_started(1),
                                    execution_started("fan_out_fan_in", to_bytes(kN))};
  auto first = run(step("fan_out_fan_in", {}, history));
  ASSERT_EQ(first.size(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(first[static_cast<std::size_t>(i)].id, i);
    ASSERT_EQ(from_bytes<int>(first[static_cast<std::size_t>(i)].input), i);
    history.push_back(task_scheduled(i, "double"));
  }
  // Half the results, newest first: nothing to do yet.
  std::vector<HistoryEvent> fresh{orchestrator_started(2)};
  for (int i = kN - 1; i >= kN / 2; --i) fresh.push_back(task_completed(i, to_bytes(2 * i)));
  EXPECT_TRUE(run(step("fan_out_fan_in", history, fresh)).empty());

  history.insert(history.end(), fresh.begin(), fresh.end());
  fresh = {orchestrator_started(3)};
  for (int i = 0; i < kN / 2; ++i) fresh.push_back(task_completed(i, to_bytes(2 * i)));
  auto last = run(step("fan_out_fan_in", history, fresh));
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(last[0].id, kN);
  EXPECT_EQ(last[0].status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(from_bytes<int64_t>(last[0].result), int64_t{kN} * (kN - 1));

  // Typically ~40 ms optimized; quadratic bookkeeping would take seconds.
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  constexpr auto kBudget = std::chrono::milliseconds(500);
#else
  constexpr auto kBudget = std::chrono::milliseconds(5000);  // debug / sanitizer builds
#endif
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_LT(elapsed, kBudget) << "three steps over 10,000 actions";
}

TEST_F(ReplayCode, WhenAllFailsFastWithTheFirstFailureWhileOthersArePending) {
  auto actions =
      run(step("all_or_nothing",
               {orchestrator_started(1), execution_started("all_or_nothing", {}),
                task_scheduled(0, "slow"), task_scheduled(1, "breaks"), task_scheduled(2, "fine")},
               {orchestrator_started(2), task_completed(2, to_bytes(std::string("ok"))),
                task_failed(1, "std::runtime_error", "broken"),
                task_failed(0, "std::logic_error", "later")}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].status, OrchestrationStatus::kFailed);
  EXPECT_EQ(actions[0].failure.error_type, "std::runtime_error");
  EXPECT_EQ(actions[0].failure.message, "broken");

  auto pending =
      run(step("all_or_nothing",
               {orchestrator_started(1), execution_started("all_or_nothing", {}),
                task_scheduled(0, "slow"), task_scheduled(1, "breaks"), task_scheduled(2, "fine")},
               {orchestrator_started(2), task_failed(1, "std::runtime_error", "broken")}));
  ASSERT_EQ(pending.size(), 1u) << "slow (0) has not finished, yet the failure is reported";
  EXPECT_EQ(pending[0].failure.message, "broken");
}

TEST_F(ReplayCode, WhenAllKeepsInputOrderWhateverTheCompletionOrder) {
  auto actions =
      run(step("all_or_nothing",
               {orchestrator_started(1), execution_started("all_or_nothing", {}),
                task_scheduled(0, "slow"), task_scheduled(1, "breaks"), task_scheduled(2, "fine")},
               {orchestrator_started(2), task_completed(2, to_bytes(std::string("c"))),
                task_completed(0, to_bytes(std::string("a"))),
                task_completed(1, to_bytes(std::string("b")))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(from_bytes<std::vector<std::string>>(actions[0].result),
            (std::vector<std::string>{"a", "b", "c"}));

  auto voids = run(step("all_void",
                        {orchestrator_started(1), execution_started("all_void", {}),
                         task_scheduled(0, "a"), task_scheduled(1, "b")},
                        {orchestrator_started(2), task_completed(1, nil_bytes())}));
  EXPECT_TRUE(voids.empty());
}

TEST_F(ReplayCode, WhenAnyOverAVectorGivesResultsInCompletionOrder) {
  auto actions = run(step("as_completed",
                          {orchestrator_started(1), execution_started("as_completed", {}),
                           task_scheduled(0, "a"), task_scheduled(1, "b"), task_scheduled(2, "c")},
                          {orchestrator_started(2), task_completed(1, to_bytes(std::string("B"))),
                           task_completed(2, to_bytes(std::string("C"))),
                           task_completed(0, to_bytes(std::string("A")))}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].status, OrchestrationStatus::kCompleted) << actions[0].failure.message;
  EXPECT_EQ(from_bytes<std::vector<std::string>>(actions[0].result),
            (std::vector<std::string>{"B", "C", "A"}));
}

TEST_F(ReplayCode, AWaiterDroppedAfterLosingARaceDoesNotSwallowTheNextEvent) {
  auto actions = run(step(
      "ping_rounds",
      {orchestrator_started(1000), execution_started("ping_rounds", {}), timer_created(0, 11000)},
      {orchestrator_started(11000), timer_fired(0, 11000), event_raised("ping", "late")}));
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].type, ActionType::kCreateTimer);
  EXPECT_EQ(actions[0].id, 1);
  EXPECT_EQ(actions[0].fire_at_ms, 21000);
  EXPECT_EQ(actions[1].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(from_bytes<std::vector<std::string>>(actions[1].result),
            (std::vector<std::string>{"timeout", "late"}));
}

TEST_F(ReplayCode, NewUuidIsAVersion5UuidThatReplaysIdentically) {
  const std::vector<HistoryEvent> past{orchestrator_started(1000), execution_started("uuids", {}),
                                       task_scheduled(0, "wait")};
  const std::vector<HistoryEvent> fresh{orchestrator_started(2000), task_completed(0, nil_bytes())};
  auto a = run(step("uuids", past, fresh));
  auto b = run(step("uuids", past, fresh));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  const auto ids = from_bytes<std::vector<std::string>>(a[0].result);
  EXPECT_EQ(ids, from_bytes<std::vector<std::string>>(b[0].result));
  // uuid.uuid5(uuid.NAMESPACE_URL, "default/order-42_<current time ms>_<counter>")
  EXPECT_THAT(ids, ::testing::ElementsAre("0687bc7c-a4c0-537a-997b-0384fedccbae",
                                          "ce92ce30-9fbe-532b-9806-1991d0a10755",
                                          "c6462004-3648-574b-97ad-9932ea92341c"));
}

TEST_F(ReplayCode, LoggingIsSilentWhileReplaying) {
  std::vector<std::pair<LogLevel, std::string>> lines;
  const detail::LogSink sink = [&](LogLevel level, std::string_view message) {
    lines.emplace_back(level, std::string(message));
  };
  const auto first =
      step("chatty", {},
           {orchestrator_started(1), execution_started("chatty", to_bytes(std::string("ada")))});
  (void)run_step(registry_, first, sink);
  EXPECT_THAT(lines, ::testing::ElementsAre(std::pair(LogLevel::kInfo, std::string("hello ada"))));

  lines.clear();
  const auto second =
      step("chatty",
           {orchestrator_started(1), execution_started("chatty", to_bytes(std::string("ada"))),
            task_scheduled(0, "wait")},
           {orchestrator_started(2), task_completed(0, nil_bytes())});
  (void)run_step(registry_, second, sink);
  EXPECT_THAT(lines,
              ::testing::ElementsAre(std::pair(LogLevel::kWarn, std::string("after the wait")),
                                     std::pair(LogLevel::kError, std::string("1 + 2 = 3"))));
}

// ---------------------------------------- sticky orchestrations (Replayer)
// A Replayer kept between steps: each later task carries as past_events only
// the events the scheduler recorded for the previous step's actions (from
// index past_from of the history), then the new events; the suspended
// coroutine is resumed, not replayed.

int g_counted_body_runs = 0;

// Counts how often its body starts (once per replay from the top).
Task<std::string> counted(OrchestrationContext& ctx, std::string name) {
  ++g_counted_body_runs;
  co_return co_await function_chaining(ctx, name);
}

// Sets its custom status before the first activity only.
Task<std::string> status_once(OrchestrationContext& ctx, std::string input) {
  ctx.set_custom_status(std::string("started"));
  std::string a = co_await ctx.call_activity<std::string>("first", input);
  co_return co_await ctx.call_activity<std::string>("second", a);
}

// The history events the scheduler records for a step's actions
// (scheduler/src/engine/step.cc apply_actions); none for CompleteOrchestration.
std::vector<HistoryEvent> recorded_for(const std::vector<Action>& actions) {
  std::vector<HistoryEvent> out;
  for (const Action& a : actions) {
    HistoryEvent e;
    e.event_id = a.id;
    e.name = a.name;
    e.input = a.input;
    switch (a.type) {
      case ActionType::kScheduleTask:
        e.type = EventType::kTaskScheduled;
        break;
      case ActionType::kCreateTimer:
        e.type = EventType::kTimerCreated;
        e.fire_at_ms = a.fire_at_ms;
        break;
      case ActionType::kCreateSubOrchestration:
        e.type = EventType::kSubOrchestrationCreated;
        e.instance_id = a.instance_id;
        break;
      case ActionType::kSendEvent:
        e.type = EventType::kEventSent;
        e.instance_id = a.instance_id;
        break;
      default:
        continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

HistoryEvent sub_orchestration_completed(int32_t id, Bytes result) {
  HistoryEvent e;
  e.type = EventType::kSubOrchestrationCompleted;
  e.task_scheduled_id = id;
  e.result = std::move(result);
  return e;
}
HistoryEvent sub_orchestration_failed(int32_t id, const std::string& error_type,
                                      const std::string& message) {
  HistoryEvent e;
  e.type = EventType::kSubOrchestrationFailed;
  e.task_scheduled_id = id;
  e.failure.error_type = error_type;
  e.failure.message = message;
  return e;
}

std::string describe_actions(const std::vector<Action>& actions) {
  std::string all;
  for (const Action& a : actions) {
    all += std::string(action_type_name(a.type)) + "#" + std::to_string(a.id) + "(" + a.name +
           ") " + a.failure.message + "; ";
  }
  return all;
}

class Sticky : public ReplayCode {
 protected:
  Sticky() {
    registry_.add_orchestrator("counted", detail::erase_orchestrator(counted));
    registry_.add_orchestrator("status_once", detail::erase_orchestrator(status_once));
  }

  // The next task of a resumed execution: `past` starts at history index `past_from`.
  static OrchestrationTask partial(const std::string& name, std::vector<HistoryEvent> past,
                                   int32_t past_from, std::vector<HistoryEvent> fresh) {
    OrchestrationTask t = step(name, std::move(past), std::move(fresh));
    t.past_from = past_from;
    t.cache_token = 7;
    return t;
  }

  // Drives one execution through `steps` (each step's new events) on one
  // Replayer, each task carrying only the events recorded for the previous
  // step's actions. With `compare`, every step is also replayed from the
  // whole history with run_step and must give exactly the same result.
  // Returns the resumed results.
  std::vector<OrchestrationResult> resume(const std::string& name,
                                          const std::vector<std::vector<HistoryEvent>>& steps,
                                          bool compare = true) {
    detail::Replayer replayer("default", "order-42", name);
    std::vector<HistoryEvent> history;   // the whole history so far
    std::vector<HistoryEvent> recorded;  // its tail: the previous step's actions
    std::vector<OrchestrationResult> out;
    for (std::size_t k = 0; k < steps.size(); ++k) {
      SCOPED_TRACE("step " + std::to_string(k));
      const OrchestrationTask task =
          partial(name, recorded, static_cast<int32_t>(history.size() - recorded.size()), steps[k]);
      EXPECT_TRUE(replayer.resumable());
      EXPECT_EQ(replayer.applied(), task.past_from);
      EXPECT_TRUE(replayer.can_resume(task));
      OrchestrationResult resumed = replayer.step(registry_, task);
      EXPECT_EQ(resumed.work_id, task.work_id);
      EXPECT_EQ(resumed.instance_id, task.instance_id);
      if (compare) {
        const OrchestrationResult replayed = run_step(registry_, step(name, history, steps[k]));
        EXPECT_EQ(to_bytes(resumed.actions), to_bytes(replayed.actions))
            << "resumed: " << describe_actions(resumed.actions)
            << "\nreplayed: " << describe_actions(replayed.actions);
        EXPECT_EQ(resumed.has_custom_status, replayed.has_custom_status);
        EXPECT_EQ(resumed.custom_status, replayed.custom_status);
      }
      history.insert(history.end(), steps[k].begin(), steps[k].end());
      recorded = recorded_for(resumed.actions);
      history.insert(history.end(), recorded.begin(), recorded.end());
      out.push_back(std::move(resumed));
    }
    EXPECT_EQ(replayer.applied(), static_cast<int64_t>(history.size() - recorded.size()));
    return out;
  }
};

TEST_F(Sticky, ResumedChainReturnsExactlyWhatAFullReplayReturns) {
  const auto results =
      resume("function_chaining",
             {{orchestrator_started(1000),
               execution_started("function_chaining", to_bytes(std::string("World")))},
              {orchestrator_started(2000), task_completed(0, to_bytes(kHello))},
              {orchestrator_started(3000), task_completed(1, to_bytes(kProcessed))},
              {orchestrator_started(4000), task_completed(2, to_bytes(kFinal))}});
  ASSERT_EQ(results.size(), 4u);
  const char* names[] = {"say_hello", "process_greeting", "finalize_response"};
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(results[i].actions.size(), 1u) << describe_actions(results[i].actions);
    EXPECT_EQ(results[i].actions[0].type, ActionType::kScheduleTask);
    EXPECT_EQ(results[i].actions[0].id, i);
    EXPECT_EQ(results[i].actions[0].name, names[i]);
  }
  EXPECT_EQ(from_bytes<std::string>(results[1].actions[0].input), kHello);
  ASSERT_EQ(results[3].actions.size(), 1u);
  EXPECT_EQ(results[3].actions[0].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(results[3].actions[0].id, 3);
  EXPECT_EQ(from_bytes<std::string>(results[3].actions[0].result), kFinal);
}

TEST_F(Sticky, ResumedFanOutFanInReturnsExactlyWhatAFullReplayReturns) {
  const auto results = resume(
      "fan_out_fan_in",
      {{orchestrator_started(1), execution_started("fan_out_fan_in", to_bytes(5))},
       {orchestrator_started(2), task_completed(3, to_bytes(6)), task_completed(1, to_bytes(2))},
       {orchestrator_started(3), task_completed(0, to_bytes(0)), task_completed(4, to_bytes(8))},
       {orchestrator_started(4), task_completed(2, to_bytes(4))}});
  ASSERT_EQ(results.size(), 4u);
  ASSERT_EQ(results[0].actions.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(results[0].actions[static_cast<std::size_t>(i)].id, i);
  EXPECT_TRUE(results[1].actions.empty()) << describe_actions(results[1].actions);
  EXPECT_TRUE(results[2].actions.empty()) << describe_actions(results[2].actions);
  ASSERT_EQ(results[3].actions.size(), 1u);
  EXPECT_EQ(results[3].actions[0].id, 5);
  EXPECT_EQ(from_bytes<int64_t>(results[3].actions[0].result), 20);

  // Two children (sub-orchestrations), one fails.
  const auto children = resume(
      "parent",
      {{orchestrator_started(1), execution_started("parent", to_bytes(std::string("o1")))},
       {orchestrator_started(2), sub_orchestration_completed(0, to_bytes(std::string("shipped")))},
       {orchestrator_started(3), sub_orchestration_failed(1, "Declined", "no credit")}});
  ASSERT_EQ(children[0].actions.size(), 2u);
  EXPECT_EQ(children[0].actions[1].instance_id, "invoice-o1");
  EXPECT_TRUE(children[1].actions.empty());
  ASSERT_EQ(children[2].actions.size(), 1u);
  EXPECT_EQ(from_bytes<std::string>(children[2].actions[0].result),
            "shipped; failed invoice Declined: no credit ()");
}

TEST_F(Sticky, ResumedStepWhosePastDisagreesWithTheOrchestratorIsANonDeterminismError) {
  const std::vector<HistoryEvent> first = {
      orchestrator_started(1000),
      execution_started("function_chaining", to_bytes(std::string("World")))};
  const std::vector<HistoryEvent> fresh = {orchestrator_started(2000),
                                           task_completed(0, to_bytes(kHello))};
  struct Case {
    std::vector<HistoryEvent> past;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{task_scheduled(0, "say_goodbye")},
       "non-deterministic orchestrator 'function_chaining' in instance 'default/order-42': at "
       "sequence 0 history has ScheduleTask(say_goodbye) but the orchestrator produced "
       "ScheduleTask(say_hello)"},
      {{task_scheduled(0, "say_hello"), task_scheduled(1, "say_hello_again")},
       "non-deterministic orchestrator 'function_chaining' in instance 'default/order-42': at "
       "sequence 1 history has ScheduleTask(say_hello_again) but the orchestrator produced "
       "nothing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    detail::Replayer replayer("default", "order-42", "function_chaining");
    ASSERT_EQ(replayer.step(registry_, partial("function_chaining", {}, 0, first)).actions.size(),
              1u);
    const OrchestrationTask task = partial("function_chaining", c.past, 2, fresh);
    ASSERT_TRUE(replayer.can_resume(task));
    detail::StepOutcome outcome = detail::StepOutcome::kOk;
    const OrchestrationResult resumed = replayer.step(registry_, task, {}, &outcome);
    ASSERT_EQ(resumed.actions.size(), 1u) << describe_actions(resumed.actions);
    EXPECT_EQ(resumed.actions[0].type, ActionType::kCompleteOrchestration);
    EXPECT_EQ(resumed.actions[0].status, OrchestrationStatus::kFailed);
    EXPECT_EQ(resumed.actions[0].failure.error_type, "NonDeterminismError");
    EXPECT_EQ(resumed.actions[0].failure.message, c.message);
    EXPECT_EQ(outcome, detail::StepOutcome::kNonDeterminism);
    EXPECT_FALSE(replayer.resumable()) << "an execution that failed is not kept";

    std::vector<HistoryEvent> whole = first;
    whole.insert(whole.end(), c.past.begin(), c.past.end());
    const OrchestrationResult replayed =
        run_step(registry_, step("function_chaining", whole, fresh));
    EXPECT_EQ(to_bytes(resumed.actions), to_bytes(replayed.actions)) << "as in a full replay";
  }
}

TEST_F(Sticky, CustomStatusSetInAnEarlierStepIsStillReportedAfterResumedSteps) {
  const auto results = resume(
      "status_once",
      {{orchestrator_started(1), execution_started("status_once", to_bytes(std::string("in")))},
       {orchestrator_started(2), task_completed(0, to_bytes(std::string("a")))},
       {orchestrator_started(3), task_completed(1, to_bytes(std::string("b")))}});
  ASSERT_EQ(results.size(), 3u);
  for (const OrchestrationResult& r : results) {
    EXPECT_TRUE(r.has_custom_status);
    EXPECT_EQ(from_bytes<std::string>(r.custom_status), "started");
  }
  EXPECT_EQ(results[1].actions.at(0).name, "second");
  EXPECT_EQ(from_bytes<std::string>(results[2].actions.at(0).result), "b");

  // A status changed in a later step replaces it.
  const auto changed = resume(
      "status_reporter",
      {{orchestrator_started(1), execution_started("status_reporter", to_bytes(std::string("c")))},
       {orchestrator_started(2), task_completed(0, to_bytes(std::string("r-1")))}});
  EXPECT_EQ(from_bytes<std::string>(changed[0].custom_status), "charging");
  EXPECT_EQ((from_bytes<std::map<std::string, std::string>>(changed[1].custom_status)),
            (std::map<std::string, std::string>{{"stage", "shipping"}, {"receipt", "r-1"}}));
}

TEST_F(Sticky, ExternalEventsReachTheSuspendedOrchestratorAcrossSteps) {
  const auto collected =
      resume("collector", {{orchestrator_started(1), execution_started("collector", {})},
                           {orchestrator_started(2), event_raised("item", "a")},
                           {orchestrator_started(3), event_raised("item", "b"),
                            event_raised("item", "c"), event_raised("pair", "x")},
                           {orchestrator_started(4), event_raised("pair", "y")}});
  ASSERT_EQ(collected.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(collected[static_cast<std::size_t>(i)].actions.empty());
  ASSERT_EQ(collected[3].actions.size(), 1u);
  EXPECT_EQ(from_bytes<std::vector<std::string>>(collected[3].actions[0].result),
            (std::vector<std::string>{"a", "b", "c", "x", "y"}));

  // An event racing a timer; then an activity.
  const auto approved = resume(
      "approval",
      {{orchestrator_started(1000), execution_started("approval", to_bytes(5000))},
       {orchestrator_started(2000), event_raised("approval", "ada")},
       {orchestrator_started(3000), task_completed(1, to_bytes(std::string("recorded ada")))}});
  ASSERT_EQ(approved[0].actions.size(), 1u);
  EXPECT_EQ(approved[0].actions[0].type, ActionType::kCreateTimer);
  EXPECT_EQ(approved[0].actions[0].fire_at_ms, 6000);
  ASSERT_EQ(approved[1].actions.size(), 1u);
  EXPECT_EQ(approved[1].actions[0].name, "record_approval");
  EXPECT_EQ(from_bytes<std::string>(approved[1].actions[0].input), "ada");
  ASSERT_EQ(approved[2].actions.size(), 1u);
  EXPECT_EQ(from_bytes<std::string>(approved[2].actions[0].result), "recorded ada");

  // A round lost to its timer, across steps.
  const auto rounds = resume(
      "ping_rounds", {{orchestrator_started(1000), execution_started("ping_rounds", {})},
                      {orchestrator_started(2000), event_raised("ping", "early")},
                      {orchestrator_started(12000), timer_fired(1, 12000), timer_fired(0, 11000)}});
  ASSERT_EQ(rounds[1].actions.size(), 1u);
  EXPECT_EQ(rounds[1].actions[0].id, 1);
  EXPECT_EQ(rounds[1].actions[0].fire_at_ms, 12000);
  ASSERT_EQ(rounds[2].actions.size(), 1u);
  EXPECT_EQ(from_bytes<std::vector<std::string>>(rounds[2].actions[0].result),
            (std::vector<std::string>{"early", "timeout"}));
}

TEST_F(Sticky, TheOrchestratorBodyRunsOnceAcrossResumedSteps) {
  const std::vector<std::vector<HistoryEvent>> steps = {
      {orchestrator_started(1000), execution_started("counted", to_bytes(std::string("World")))},
      {orchestrator_started(2000), task_completed(0, to_bytes(kHello))},
      {orchestrator_started(3000), task_completed(1, to_bytes(kProcessed))},
      {orchestrator_started(4000), task_completed(2, to_bytes(kFinal))}};
  g_counted_body_runs = 0;
  const auto results = resume("counted", steps, /*compare=*/false);
  EXPECT_EQ(g_counted_body_runs, 1) << "resumed, not replayed";
  ASSERT_EQ(results.size(), 4u);
  ASSERT_EQ(results[3].actions.size(), 1u);
  EXPECT_EQ(from_bytes<std::string>(results[3].actions[0].result), kFinal);

  // Replaying from the whole history runs the body again at every step.
  g_counted_body_runs = 0;
  (void)resume("counted", steps, /*compare=*/true);
  EXPECT_EQ(g_counted_body_runs, 1 + 4);
}

TEST_F(Sticky, ResumesOnlyWhereTheLastStepLeftOffWithItsActionsRecorded) {
  detail::Replayer replayer("default", "order-42", "function_chaining");
  const auto first = replayer.step(
      registry_, partial("function_chaining", {}, 0,
                         {orchestrator_started(1000),
                          execution_started("function_chaining", to_bytes(std::string("World")))}));
  ASSERT_EQ(first.actions.size(), 1u);
  EXPECT_EQ(replayer.applied(), 2);
  const std::vector<HistoryEvent> fresh = {orchestrator_started(2000),
                                           task_completed(0, to_bytes(kHello))};
  EXPECT_FALSE(replayer.can_resume(
      partial("function_chaining", {task_scheduled(0, "say_hello")}, 1, fresh)));
  EXPECT_FALSE(replayer.can_resume(
      partial("function_chaining", {task_scheduled(0, "say_hello")}, 3, fresh)));
  EXPECT_FALSE(replayer.can_resume(partial("function_chaining", {}, 2, fresh)))
      << "action 0 was returned but history does not record it";
  {
    detail::Replayer unchecked("default", "order-42", "function_chaining");
    (void)unchecked.step(
        registry_,
        partial("function_chaining", {}, 0,
                {orchestrator_started(1000),
                 execution_started("function_chaining", to_bytes(std::string("World")))}));
    EXPECT_THAT(
        unchecked.step(registry_, partial("function_chaining", {}, 2, {orchestrator_started(2000)}))
            .actions,
        ::testing::IsEmpty())
        << "an action a step returned is never returned again";
  }
  const OrchestrationTask next =
      partial("function_chaining", {task_scheduled(0, "say_hello")}, 2, fresh);
  ASSERT_TRUE(replayer.can_resume(next));
  const auto second = replayer.step(registry_, next);
  ASSERT_EQ(second.actions.size(), 1u);
  EXPECT_EQ(second.actions[0].id, 1) << "action 0 is not returned again";
  EXPECT_EQ(replayer.applied(), 5);

  // The scheduler ended the execution: nothing is kept.
  HistoryEvent terminated;
  terminated.type = EventType::kExecutionTerminated;
  const OrchestrationTask ended =
      partial("function_chaining", {task_scheduled(1, "process_greeting")}, 5,
              {orchestrator_started(3000), terminated});
  ASSERT_TRUE(replayer.can_resume(ended));
  EXPECT_TRUE(replayer.step(registry_, ended).actions.empty());
  EXPECT_FALSE(replayer.resumable());
  EXPECT_FALSE(replayer.can_resume(partial("function_chaining", {}, 8, {orchestrator_started(4)})));
}

TEST_F(Sticky, EachStepLogsToTheSinkItWasGiven) {
  std::vector<std::string> first_lines;
  std::vector<std::string> second_lines;
  const detail::LogSink first_sink = [&](LogLevel, std::string_view m) {
    first_lines.emplace_back(m);
  };
  const detail::LogSink second_sink = [&](LogLevel, std::string_view m) {
    second_lines.emplace_back(m);
  };
  detail::Replayer replayer("default", "order-42", "chatty");
  (void)replayer.step(
      registry_,
      partial("chatty", {}, 0,
              {orchestrator_started(1), execution_started("chatty", to_bytes(std::string("ada")))}),
      first_sink);
  (void)replayer.step(registry_,
                      partial("chatty", {task_scheduled(0, "wait")}, 2,
                              {orchestrator_started(2), task_completed(0, nil_bytes())}),
                      second_sink);
  EXPECT_THAT(first_lines, ::testing::ElementsAre("hello ada"));
  EXPECT_THAT(second_lines, ::testing::ElementsAre("after the wait", "1 + 2 = 3"));
}

TEST_F(Sticky, ResumedStepsCostTheirOwnEventsNotTheWholeHistory) {
  constexpr int kN = 5'000;  // one step per completion: replaying each would be quadratic
  const auto started = std::chrono::steady_clock::now();
  detail::Replayer replayer("default", "order-42", "fan_out_fan_in");
  const OrchestrationResult first = replayer.step(
      registry_,
      partial("fan_out_fan_in", {}, 0,
              {orchestrator_started(1), execution_started("fan_out_fan_in", to_bytes(kN))}));
  ASSERT_EQ(first.actions.size(), static_cast<std::size_t>(kN));
  std::vector<HistoryEvent> past = recorded_for(first.actions);
  int32_t past_from = 2;
  OrchestrationResult last;
  for (int i = 0; i < kN; ++i) {
    const OrchestrationTask next =
        partial("fan_out_fan_in", std::move(past), past_from,
                {orchestrator_started(2 + i), task_completed(i, to_bytes(2 * i))});
    ASSERT_TRUE(replayer.can_resume(next)) << i;
    last = replayer.step(registry_, next);
    past_from += static_cast<int32_t>(next.past_events.size() + next.new_events.size());
    past.clear();
    if (i + 1 < kN) {
      ASSERT_TRUE(last.actions.empty()) << i;
    }
  }
  ASSERT_EQ(last.actions.size(), 1u);
  EXPECT_EQ(from_bytes<int64_t>(last.actions[0].result), int64_t{kN} * (kN - 1));
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  constexpr auto kBudget = std::chrono::milliseconds(500);
#else
  constexpr auto kBudget = std::chrono::milliseconds(5000);  // debug / sanitizer builds
#endif
  EXPECT_LT(std::chrono::steady_clock::now() - started, kBudget) << kN << " resumed steps";
}

TEST_F(Sticky, DestroyingASuspendedOrchestratorLeavesNothingBehind) {
  for (const char* name : {"approval", "collector", "fan_out_fan_in", "ping_rounds"}) {
    SCOPED_TRACE(name);
    auto replayer = std::make_unique<detail::Replayer>("default", "order-42", name);
    const OrchestrationResult r = replayer->step(
        registry_,
        partial(name, {}, 0, {orchestrator_started(1), execution_started(name, to_bytes(3))}));
    ASSERT_TRUE(r.actions.empty() || r.actions.back().type != ActionType::kCompleteOrchestration)
        << describe_actions(r.actions);
    ASSERT_TRUE(replayer->resumable());
    replayer.reset();  // suspended in when_any / when_all / an event wait
  }
}


// ------------------------------------------------ wake_after (quiet results)
// OrchestrationResult::wake_after: the fewest successful activity results
// the orchestrator needs, as a step left it, before its code can run.

// Two when_alls of two activities each, inside a when_all of both.
Task<int> pair_sum(OrchestrationContext& ctx, int base) {
  std::vector<Task<int>> work;
  work.push_back(ctx.call_activity<int>("double", base));
  work.push_back(ctx.call_activity<int>("double", base + 1));
  std::vector<int> v = co_await when_all(std::move(work));
  co_return v[0] + v[1];
}
Task<int> nested_fan_out(OrchestrationContext& ctx) {
  std::vector<Task<int>> parts;
  parts.push_back(pair_sum(ctx, 0));
  parts.push_back(pair_sum(ctx, 10));
  std::vector<int> v = co_await when_all(std::move(parts));
  co_return v[0] + v[1];
}
// An activity it awaits only after a timer.
Task<void> audit_then_sleep(OrchestrationContext& ctx) {
  Task<void> audit = ctx.call_activity("audit", std::string("x"));
  co_await ctx.create_timer(std::chrono::seconds(10));
  co_await audit;
}

// when_all of its own making: a completion callback on each task.
Task<int> own_combinator(OrchestrationContext& ctx) {
  Task<int> a = ctx.call_activity<int>("double", 1);
  Task<int> b = ctx.call_activity<int>("double", 2);
  int finished = 0;
  a.set_completion_callback([&finished] { ++finished; });
  b.set_completion_callback([&finished] { ++finished; });
  co_await ctx.create_timer(std::chrono::seconds(10));
  co_return finished;
}

class WakeAfter : public Sticky {
 protected:
  WakeAfter() {
    registry_.add_orchestrator("nested_fan_out", detail::erase_orchestrator(nested_fan_out));
    registry_.add_orchestrator("audit_then_sleep", detail::erase_orchestrator(audit_then_sleep));
    registry_.add_orchestrator("own_combinator", detail::erase_orchestrator(own_combinator));
  }
  // The wake_after of the step that applies `done` completions (ids, in
  // that order) to `name` after its first step scheduled `activities`.
  uint32_t after(const std::string& name, Bytes input, const std::vector<std::string>& activities,
                 const std::vector<int32_t>& done) {
    std::vector<HistoryEvent> past{orchestrator_started(1), execution_started(name, input)};
    for (std::size_t i = 0; i < activities.size(); ++i) {
      past.push_back(task_scheduled(static_cast<int32_t>(i), activities[i]));
    }
    std::vector<HistoryEvent> fresh{orchestrator_started(2)};
    for (int32_t id : done) fresh.push_back(task_completed(id, to_bytes(2 * id)));
    const OrchestrationResult r = run_step(registry_, step(name, past, fresh));
    EXPECT_TRUE(r.actions.empty()) << describe_actions(r.actions);
    return r.wake_after;
  }
  static std::vector<std::string> doubles(int n) {
    return std::vector<std::string>(static_cast<std::size_t>(n), "double");
  }
};

TEST_F(WakeAfter, AWhenAllNeedsAllItsPendingActivities) {
  const OrchestrationResult first = run_step(
      registry_, step("fan_out_fan_in", {},
                      {orchestrator_started(1), execution_started("fan_out_fan_in", to_bytes(5))}));
  ASSERT_EQ(first.actions.size(), 5u);
  EXPECT_EQ(first.wake_after, 5u);
  EXPECT_EQ(after("fan_out_fan_in", to_bytes(5), doubles(5), {3, 0}), 3u);
  EXPECT_EQ(after("fan_out_fan_in", to_bytes(5), doubles(5), {4, 0, 1, 2}), 1u);
}

TEST_F(WakeAfter, AnActivityAwaitedAloneOrRacedWakesItAtOnce) {
  // fan_out awaits its first activity directly, the second after it.
  EXPECT_EQ(run_step(registry_, step("fan_out", {},
                                     {orchestrator_started(1),
                                      execution_started("fan_out", to_bytes(3))}))
                .wake_after,
            1u);
  // as_completed races a, b and c with when_any.
  EXPECT_EQ(after("as_completed", {}, {"a", "b", "c"}, {}), 1u);
  // fire_and_forget never awaits "audit" but awaits "work".
  EXPECT_EQ(after("fire_and_forget", {}, {"audit", "work"}, {0}), 1u);
}

TEST_F(WakeAfter, NestedWhenAllsCountTheClosestToDone) {
  EXPECT_EQ(after("nested_fan_out", {}, doubles(4), {}), 2u);
  // One pair has one activity left: its result resumes pair_sum.
  EXPECT_EQ(after("nested_fan_out", {}, doubles(4), {2}), 1u);
}

TEST_F(WakeAfter, NoActivityResultWakesAnOrchestratorWaitingForATimer) {
  // One pending activity, awaited only after the timer: more results than
  // can come.
  const OrchestrationResult r = run_step(
      registry_,
      step("audit_then_sleep", {},
           {orchestrator_started(1), execution_started("audit_then_sleep", {})}));
  ASSERT_EQ(r.actions.size(), 2u);
  EXPECT_EQ(r.wake_after, 2u);
}

TEST_F(WakeAfter, ACompletionCallbackOfTheUsersOwnMayWakeIt) {
  const OrchestrationResult r = run_step(
      registry_, step("own_combinator", {},
                      {orchestrator_started(1), execution_started("own_combinator", {})}));
  ASSERT_EQ(r.actions.size(), 3u);  // two activities and the timer
  EXPECT_EQ(r.wake_after, 1u);
}

TEST_F(WakeAfter, ASuspendedOrchestratorCountsDownAcrossSteps) {
  detail::Replayer replayer("default", "order-42", "fan_out_fan_in");
  OrchestrationResult r = replayer.step(
      registry_, partial("fan_out_fan_in", {}, 0,
                         {orchestrator_started(1), execution_started("fan_out_fan_in", to_bytes(4))}));
  ASSERT_EQ(r.actions.size(), 4u);
  EXPECT_EQ(r.wake_after, 4u);
  std::vector<HistoryEvent> recorded;
  for (int32_t i = 0; i < 4; ++i) recorded.push_back(task_scheduled(i, "double"));
  r = replayer.step(registry_, partial("fan_out_fan_in", recorded, 2,
                                       {orchestrator_started(2), task_completed(1, to_bytes(2))}));
  EXPECT_TRUE(r.actions.empty());
  EXPECT_EQ(r.wake_after, 3u);
  // A finished execution reports nothing to wait for.
  r = replayer.step(registry_,
                    partial("fan_out_fan_in", {}, 8,
                            {orchestrator_started(3), task_completed(0, to_bytes(0)),
                             task_completed(2, to_bytes(4)), task_completed(3, to_bytes(6))}));
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(r.wake_after, 0u);
}

}  // namespace
}  // namespace baton
