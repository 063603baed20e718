// The scheduler's pure engine: planning steps (control events, suspension),
// translating actions into history, and retry decisions.
#include <gtest/gtest.h>

#include "engine/instance_cache.h"
#include "engine/step.h"
#include "store/pg_codec.h"

namespace baton::scheduler {
namespace {

InboxEvent inbox(int64_t id, EventType type, std::string name = "") {
  InboxEvent e;
  e.id = id;
  e.event.type = type;
  e.event.name = std::move(name);
  return e;
}

LoadedInstance running(std::vector<InboxEvent> events,
                       OrchestrationStatus status = OrchestrationStatus::kRunning) {
  LoadedInstance l;
  l.found = true;
  l.name = "orch";
  l.task_queue = "q";
  l.status = status;
  l.history_len = 7;
  l.inbox = std::move(events);
  return l;
}

TEST(PlanStep, SendsALeadingRunOfOrdinaryEventsToTheWorker) {
  auto plan = plan_step("ns", "i", running({inbox(1, EventType::kTaskCompleted),
                                            inbox(2, EventType::kEventRaised, "e"),
                                            inbox(3, EventType::kExecutionSuspended),
                                            inbox(4, EventType::kTimerFired)}),
                        1000, 5);
  ASSERT_EQ(plan.kind, StepPlan::Kind::kWorker);
  EXPECT_EQ(plan.step.inbox_ids, (std::vector<int64_t>{1, 2}));
  ASSERT_EQ(plan.step.task.new_events.size(), 3u);
  EXPECT_EQ(plan.step.task.new_events[0].type, EventType::kOrchestratorStarted);
  EXPECT_EQ(plan.step.task.new_events[0].timestamp_ms, 1000);
  EXPECT_EQ(plan.step.history_len, 7);
  EXPECT_TRUE(plan.leaves_events) << "the suspend and the timer wait for the next plan";
}

TEST(PlanStep, SuspendsWithoutTheWorkerAndBuffersLaterEvents) {
  auto plan = plan_step("ns", "i", running({inbox(3, EventType::kExecutionSuspended),
                                            inbox(4, EventType::kTimerFired)}),
                        1000, 5);
  ASSERT_EQ(plan.kind, StepPlan::Kind::kControl);
  EXPECT_EQ(plan.control.status, OrchestrationStatus::kSuspended);
  EXPECT_EQ(plan.control.consumed_inbox_ids, (std::vector<int64_t>{3}));
  ASSERT_EQ(plan.control.events.size(), 1u);
  EXPECT_EQ(plan.control.events[0].type, EventType::kExecutionSuspended);
  EXPECT_TRUE(plan.leaves_events);
}

TEST(PlanStep, ASuspendedInstanceOnlyConsumesItsResume) {
  auto idle = plan_step("ns", "i",
                        running({inbox(4, EventType::kEventRaised, "e")},
                                OrchestrationStatus::kSuspended),
                        1000, 5);
  EXPECT_EQ(idle.kind, StepPlan::Kind::kNothing);

  auto resume = plan_step("ns", "i",
                          running({inbox(4, EventType::kEventRaised, "e"),
                                   inbox(5, EventType::kExecutionResumed)},
                                  OrchestrationStatus::kSuspended),
                          1000, 5);
  ASSERT_EQ(resume.kind, StepPlan::Kind::kControl);
  EXPECT_EQ(resume.control.status, OrchestrationStatus::kRunning);
  EXPECT_EQ(resume.control.consumed_inbox_ids, (std::vector<int64_t>{5}))
      << "the buffered event stays in the inbox for the next step";
  EXPECT_TRUE(resume.leaves_events);
}

TEST(PlanStep, TerminationPreemptsEverythingAndConsumesTheWholeInbox) {
  auto plan = plan_step("ns", "i",
                        running({inbox(1, EventType::kEventRaised, "e"),
                                 inbox(2, EventType::kExecutionTerminated, "recursive")},
                                OrchestrationStatus::kSuspended),
                        1000, 5);
  ASSERT_EQ(plan.kind, StepPlan::Kind::kControl);
  EXPECT_EQ(plan.control.status, OrchestrationStatus::kTerminated);
  EXPECT_TRUE(plan.control.terminate_children);
  EXPECT_EQ(plan.control.consumed_inbox_ids, (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(plan.leaves_events);
}

TEST(PlanStep, NothingForAFinishedOrEmptyInstance) {
  EXPECT_EQ(plan_step("ns", "i", running({}), 1, 1).kind, StepPlan::Kind::kNothing);
  EXPECT_EQ(plan_step("ns", "i",
                      running({inbox(1, EventType::kEventRaised)}, OrchestrationStatus::kCompleted),
                      1, 1)
                .kind,
            StepPlan::Kind::kNothing);
}

DispatchedStep step_with_history() {
  LoadedInstance l = running({inbox(9, EventType::kTaskCompleted)});
  HistoryEvent scheduled;
  scheduled.type = EventType::kTaskScheduled;
  scheduled.event_id = 0;
  l.history.push_back(scheduled);
  return plan_step("ns", "parent", l, 2000, 1).step;
}

TEST(ApplyActions, TranslatesEachActionKindIntoHistoryAndSideEffects) {
  OrchestrationResult r;
  Action timer;
  timer.type = ActionType::kCreateTimer;
  timer.id = 1;
  timer.fire_at_ms = 9000;
  Action child;
  child.type = ActionType::kCreateSubOrchestration;
  child.id = 2;
  child.name = "ship";
  child.instance_id = "parent:2";
  Action send;
  send.type = ActionType::kSendEvent;
  send.id = 3;
  send.name = "ping";
  send.instance_id = "other";
  Action task;
  task.type = ActionType::kScheduleTask;
  task.id = 4;
  task.name = "act";
  task.retry.max_attempts = 3;
  r.actions = {timer, child, send, task};
  r.has_custom_status = true;
  r.custom_status = "\xa2ok";

  StepOp op = apply_actions(step_with_history(), r, 3000);
  EXPECT_EQ(op.status, OrchestrationStatus::kRunning);
  ASSERT_EQ(op.timers.size(), 1u);
  EXPECT_EQ(op.timers[0].fire_at_ms, 9000);
  EXPECT_EQ(op.timers[0].fired.type, EventType::kTimerFired);
  EXPECT_EQ(op.timers[0].fired.task_scheduled_id, 1);
  ASSERT_EQ(op.children.size(), 1u);
  EXPECT_EQ(op.children[0].parent_instance_id, "parent");
  EXPECT_EQ(op.children[0].parent_event_id, 2);
  ASSERT_EQ(op.sends.size(), 1u);
  EXPECT_EQ(op.sends[0].instance_id, "other");
  EXPECT_EQ(op.sends[0].event.type, EventType::kEventRaised);
  ASSERT_EQ(op.tasks.size(), 1u);
  EXPECT_EQ(op.tasks[0].options.retry.max_attempts, 3);
  EXPECT_TRUE(op.has_custom_status);
  // OrchestratorStarted, TaskCompleted, then one event per action.
  ASSERT_EQ(op.events.size(), 6u);
  EXPECT_EQ(op.events[2].type, EventType::kTimerCreated);
  EXPECT_EQ(op.events[3].type, EventType::kSubOrchestrationCreated);
  EXPECT_EQ(op.events[4].type, EventType::kEventSent);
  EXPECT_EQ(op.events[5].type, EventType::kTaskScheduled);
}

TEST(ApplyActions, RejectsAReusedActionIdWithoutCorruptingHistory) {
  OrchestrationResult r;
  Action again;
  again.type = ActionType::kScheduleTask;
  again.id = 0;  // already in history
  again.name = "act";
  r.actions = {again};
  StepOp op = apply_actions(step_with_history(), r, 3000);
  EXPECT_EQ(op.status, OrchestrationStatus::kFailed);
  EXPECT_EQ(op.failure.error_type, "InvalidAction");
  EXPECT_TRUE(op.tasks.empty());
  EXPECT_EQ(op.events.back().type, EventType::kExecutionCompleted);
}

TEST(ApplyActions, RejectsAnIdTwiceInOneStep) {
  OrchestrationResult r;
  Action a;
  a.type = ActionType::kScheduleTask;
  a.id = 5;  // not in history
  a.name = "act";
  r.actions = {a, a};
  StepOp op = apply_actions(step_with_history(), r, 3000);
  EXPECT_EQ(op.status, OrchestrationStatus::kFailed);
  EXPECT_NE(op.failure.message.find("action id 5"), std::string::npos) << op.failure.message;
  r.actions = {a};
  EXPECT_EQ(apply_actions(step_with_history(), r, 3000).status, OrchestrationStatus::kRunning);
}

TEST(ApplyActions, ContinueAsNewAbandonsPendingWorkAndCarriesInputAndEvents) {
  OrchestrationResult r;
  Action task;
  task.type = ActionType::kScheduleTask;
  task.id = 1;
  task.name = "act";
  Action cont;
  cont.type = ActionType::kCompleteOrchestration;
  cont.id = 2;
  cont.status = OrchestrationStatus::kContinuedAsNew;
  cont.result = "\x05";
  HistoryEvent kept;
  kept.type = EventType::kEventRaised;
  cont.carryover_events = {kept};
  r.actions = {task, cont};
  StepOp op = apply_actions(step_with_history(), r, 3000);
  EXPECT_EQ(op.status, OrchestrationStatus::kContinuedAsNew);
  EXPECT_EQ(op.new_input, "\x05");
  EXPECT_TRUE(op.tasks.empty());
  EXPECT_EQ(op.carryover_events.size(), 1u);
  EXPECT_EQ(op.events.back().type, EventType::kContinuedAsNew);
}

TEST(ApplyActions, HistoryLimitFailsARunningExecutionAndSuggestsContinueAsNew) {
  // The past events, this step's new events and one TaskScheduled.
  const DispatchedStep step = step_with_history();
  const std::size_t n = step.past->events.size() + step.task.new_events.size() + 1;
  OrchestrationResult r;
  Action task;
  task.type = ActionType::kScheduleTask;
  task.id = 4;
  task.name = "act";
  r.actions = {task};
  EXPECT_EQ(apply_actions(step, r, 3000, n).status, OrchestrationStatus::kRunning);
  EXPECT_EQ(apply_actions(step, r, 3000, 0).status, OrchestrationStatus::kRunning);
  StepOp op = apply_actions(step, r, 3000, n - 1);
  EXPECT_EQ(op.status, OrchestrationStatus::kFailed);
  EXPECT_EQ(op.failure.error_type, "HistoryLimitExceeded");
  EXPECT_NE(op.failure.message.find("continue_as_new"), std::string::npos) << op.failure.message;
  EXPECT_TRUE(op.failure.non_retryable);
  EXPECT_TRUE(op.tasks.empty());
  EXPECT_EQ(op.events.back().type, EventType::kExecutionCompleted);

  // Completing is allowed even past the limit.
  Action done;
  done.type = ActionType::kCompleteOrchestration;
  done.id = 5;
  done.status = OrchestrationStatus::kCompleted;
  r.actions = {task, done};
  EXPECT_EQ(apply_actions(step, r, 3000, n - 1).status, OrchestrationStatus::kCompleted);
}

TEST(DecideRetry, BacksOffExponentiallyUpToTheMaximum) {
  RetryPolicy p;
  p.max_attempts = 5;
  p.first_retry_interval_ms = 100;
  p.backoff_coefficient = 2.0;
  p.max_retry_interval_ms = 300;
  FailureDetails f{"E", "m", "", false};
  EXPECT_EQ(decide_retry(p, 1, f, 0, 0).delay_ms, 100);
  EXPECT_EQ(decide_retry(p, 2, f, 0, 0).delay_ms, 200);
  EXPECT_EQ(decide_retry(p, 3, f, 0, 0).delay_ms, 300);
  EXPECT_TRUE(decide_retry(p, 4, f, 0, 0).retry);
  EXPECT_FALSE(decide_retry(p, 5, f, 0, 0).retry);
}

TEST(DecideRetry, StopsForNonRetryableFailuresAndTheRetryTimeout) {
  RetryPolicy p;
  p.max_attempts = 10;
  p.first_retry_interval_ms = 1000;
  p.non_retryable_error_types = {"Fatal"};
  p.retry_timeout_ms = 5000;
  EXPECT_FALSE(decide_retry(p, 1, {"Fatal", "", "", false}, 0, 0).retry);
  EXPECT_FALSE(decide_retry(p, 1, {"E", "", "", true}, 0, 0).retry);
  EXPECT_TRUE(decide_retry(p, 1, {"E", "", "", false}, 0, 3000).retry);
  auto late = decide_retry(p, 1, {"E", "", "", false}, 0, 4500);
  EXPECT_FALSE(late.retry);
  EXPECT_NE(late.why_not.find("retry timeout"), std::string::npos);
}

TEST(DecideRetry, DefaultPolicyDoesNotRetry) {
  EXPECT_FALSE(decide_retry(RetryPolicy{}, 1, {"E", "", "", false}, 0, 0).retry);
}

// ---- InstanceCache ------------------------------------------------------

LoadedInstance with_history(std::size_t events, OrchestrationStatus status) {
  LoadedInstance l = running({}, status);
  l.history.resize(events);
  l.history_len = static_cast<int32_t>(events);
  return l;
}

void put(InstanceCache& cache, const std::string& key, LoadedInstance l) { cache.put(key, l); }

StepOp step_from(int32_t history_len, std::size_t events, OrchestrationStatus status) {
  StepOp op;
  op.expected_history_len = history_len;
  op.events.resize(events);
  op.status = status;
  return op;
}

TEST(InstanceCache, AStepMovesTheEntryOnAndAnythingButRunningDropsIt) {
  InstanceCache cache(10, 1000);
  put(cache, "a", with_history(3, OrchestrationStatus::kRunning));
  put(cache, "done", with_history(3, OrchestrationStatus::kCompleted));
  EXPECT_EQ(cache.find("done"), nullptr) << "finished instances are not cached";
  cache.advance("a", step_from(3, 2, OrchestrationStatus::kRunning));
  ASSERT_NE(cache.find("a"), nullptr);
  EXPECT_EQ(cache.find("a")->history_len, 5);
  EXPECT_EQ(cache.find("a")->history->events.size(), 5u);
  EXPECT_EQ(cache.events(), 5u);
  cache.advance("a", step_from(4, 1, OrchestrationStatus::kRunning));  // planned from elsewhere
  EXPECT_EQ(cache.find("a"), nullptr);
  EXPECT_EQ(cache.events(), 0u);
  put(cache, "a", with_history(5, OrchestrationStatus::kRunning));
  cache.advance("a", step_from(5, 2, OrchestrationStatus::kCompleted));
  EXPECT_EQ(cache.find("a"), nullptr);
  EXPECT_EQ(cache.events(), 0u);
}

TEST(InstanceCache, StaysWithinItsInstanceAndEventBudgets) {
  InstanceCache cache(3, 100);
  for (const char* key : {"a", "b", "c", "d"}) {
    put(cache, key, with_history(10, OrchestrationStatus::kRunning));
  }
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_NE(cache.find("d"), nullptr) << "the newest entry stays";
  EXPECT_EQ(cache.events(), 30u);
  put(cache, "big", with_history(90, OrchestrationStatus::kRunning));
  EXPECT_NE(cache.find("big"), nullptr);
  EXPECT_LE(cache.events(), 100u);
  EXPECT_LE(cache.size(), 2u);
  put(cache, "huge", with_history(101, OrchestrationStatus::kRunning));
  EXPECT_EQ(cache.find("huge"), nullptr) << "a history over the whole budget is not cached";
  // Growing past the budget evicts others, or the entry itself if alone too big.
  cache.advance("big", step_from(90, 10, OrchestrationStatus::kRunning));
  EXPECT_EQ(cache.find("big")->history->events.size(), 100u);
  EXPECT_EQ(cache.events(), 100u);
  cache.advance("big", step_from(100, 1, OrchestrationStatus::kRunning));
  EXPECT_EQ(cache.find("big"), nullptr);
  EXPECT_LE(cache.events(), 100u);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.events(), 0u);
}

// The sticky worker of an entry survives its steps and a reload of the same
// history, and is forgotten with a reload of another history or on request;
// an instance not cached has none.
TEST(InstanceCache, RemembersTheStickyWorkerUntilReloadedOrCleared) {
  InstanceCache cache(10, 1000);
  cache.set_sticky("absent", "w1", 7, 3);
  EXPECT_EQ(cache.find("absent"), nullptr);
  put(cache, "a", with_history(3, OrchestrationStatus::kRunning));
  EXPECT_TRUE(cache.find("a")->sticky_worker.empty());
  cache.set_sticky("a", "w1", 7, 3);
  cache.advance("a", step_from(3, 2, OrchestrationStatus::kRunning));
  ASSERT_NE(cache.find("a"), nullptr);
  EXPECT_EQ(cache.find("a")->sticky_worker, "w1");
  EXPECT_EQ(cache.find("a")->cache_token, 7u);
  EXPECT_EQ(cache.find("a")->sticky_len, 3u);
  cache.clear_sticky("a");
  EXPECT_TRUE(cache.find("a")->sticky_worker.empty());
  EXPECT_EQ(cache.find("a")->cache_token, 0u);
  cache.set_sticky("a", "w2", 9, 5);
  put(cache, "a", with_history(5, OrchestrationStatus::kRunning));
  EXPECT_EQ(cache.find("a")->sticky_worker, "w2") << "the same history reloaded";
  EXPECT_EQ(cache.find("a")->cache_token, 9u);
  EXPECT_EQ(cache.find("a")->sticky_len, 5u);
  put(cache, "a", with_history(6, OrchestrationStatus::kRunning));
  EXPECT_TRUE(cache.find("a")->sticky_worker.empty()) << "another history reloaded";
}

// A step planned from an entry shares its history; the entry's next step
// appends to it in place once no step holds it, and to a copy otherwise, so
// what a step holds never changes under it.
TEST(InstanceCache, AHistoryAStepHoldsIsNeverChangedUnderIt) {
  InstanceCache cache(10, 1000);
  LoadedInstance l = with_history(3, OrchestrationStatus::kRunning);
  l.history[1].event_id = 4;
  const SharedPast held = cache.put("a", l);
  EXPECT_TRUE(l.history.empty()) << "moved into the cache";
  ASSERT_EQ(held.get(), cache.find("a")->history.get());
  EXPECT_TRUE(held->uses(4));
  StepOp op = step_from(3, 2, OrchestrationStatus::kRunning);
  op.events[0].event_id = 1;
  cache.advance("a", op);
  EXPECT_EQ(held->events.size(), 3u) << "a step's history changed under it";
  EXPECT_FALSE(held->uses(1));
  ASSERT_NE(held.get(), cache.find("a")->history.get());
  EXPECT_EQ(cache.find("a")->history->events.size(), 5u);
  EXPECT_TRUE(cache.find("a")->history->uses(1));
  EXPECT_TRUE(cache.find("a")->history->uses(4));
  const PastEvents* before = cache.find("a")->history.get();
  cache.advance("a", step_from(5, 1, OrchestrationStatus::kRunning));
  EXPECT_EQ(cache.find("a")->history.get(), before) << "no holder: appended in place";
  EXPECT_EQ(cache.find("a")->history->events.size(), 6u);
  EXPECT_EQ(cache.events(), 6u);
}

TEST(PastEvents, KnowsItsIdsAndStartWithoutWalkingTheEvents) {
  std::vector<HistoryEvent> h(3);
  h[0].type = EventType::kExecutionStarted;
  h[0].timestamp_ms = 1234;
  h[1].event_id = 7;
  h[2].event_id = 2;
  PastEvents past(h);
  EXPECT_EQ(past.started_ms, 1234);
  EXPECT_TRUE(past.uses(7));
  EXPECT_TRUE(past.uses(2));
  EXPECT_FALSE(past.uses(3));
  EXPECT_FALSE(past.uses(-1));
  HistoryEvent ev;
  ev.event_id = 3;
  past.append(ev);
  past.append(ev);  // twice: one id
  EXPECT_TRUE(past.uses(3));
  EXPECT_EQ(past.used_ids, (std::vector<int32_t>{2, 3, 7}));
  EXPECT_EQ(past.events.size(), 5u);
}

TEST(InstanceCache, SizeZeroCachesNothing) {
  InstanceCache cache(0, 1000);
  put(cache, "a", with_history(1, OrchestrationStatus::kRunning));
  EXPECT_EQ(cache.find("a"), nullptr);
}

// The array literals every batch statement takes: text escaped, bytes as
// lowercase hex (decode(x, 'hex') in SQL), numbers and booleans bare.
TEST(PgArray, BuildsLiteralsForUnnest) {
  detail::PgArray text, bytes, nums, flags, none;
  text.text("a");
  text.text("b\"c\\d");
  bytes.hex(std::string("\x00\xff\x10", 3));
  bytes.hex("");
  nums.integer(-5);
  nums.integer(1LL << 40);
  flags.boolean(true);
  flags.boolean(false);
  EXPECT_EQ(text.str(), R"({"a","b\"c\\d"})");
  EXPECT_EQ(bytes.str(), R"({"00ff10",""})");
  EXPECT_EQ(nums.str(), "{-5,1099511627776}");
  EXPECT_EQ(flags.str(), "{t,f}");
  EXPECT_EQ(none.str(), "{}");
  EXPECT_EQ(detail::to_hex(std::string("\xab\x01", 2)), "ab01");
}

}  // namespace
}  // namespace baton::scheduler
