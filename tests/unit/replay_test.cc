// The replayer over hand-written histories: what one orchestration step
// returns for a given history (worker/src/sdk/replayer.h is the contract).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "baton/orchestration_context.h"
#include "baton/payload.h"
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

class Replay : public ::testing::Test {
 protected:
  Replay() {
    registry_.add_orchestrator("function_chaining", detail::erase_orchestrator(function_chaining));
    registry_.add_orchestrator("compensating", detail::erase_orchestrator(compensating));
    registry_.add_orchestrator("throws_logic_error",
                               detail::erase_orchestrator(throws_logic_error));
    registry_.add_orchestrator("fire_and_forget", detail::erase_orchestrator(fire_and_forget));
    registry_.add_orchestrator("fan_out", detail::erase_orchestrator(fan_out));
    registry_.add_orchestrator("uses_helper_coroutine",
                               detail::erase_orchestrator(uses_helper_coroutine));
    registry_.add_orchestrator("observer", detail::erase_orchestrator(observer));
  }

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

}  // namespace
}  // namespace baton
