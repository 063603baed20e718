// Sticky orchestrations end to end (docs/architecture.md, "Sticky
// orchestrations"): a worker keeps an instance's orchestrator suspended
// between steps, the next step goes to it with only the history it has not
// seen, and a worker that no longer holds it makes the scheduler send the
// step again with the whole history.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "baton/client.h"
#include "baton/clock.h"
#include "baton/protocol.h"
#include "baton/wire.h"
#include "tests/support/http.h"
#include "tests/support/itest.h"
#include "tests/support/metrics_text.h"
#include "tests/support/process.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using testing::pack;
using testing::StackOptions;
using testing::unpack;

class Sticky : public testing::StackTest {
 protected:
  // A start always commits with its first step here (never alone after a
  // slow step), so the counts of dispatches below are exact. Eager steps
  // (their own tests below) would take the place of partial dispatches.
  void start_stack_with(StackOptions o, bool eager_steps = false) {
    o.scheduler_args.insert(o.scheduler_args.end(), {"--first-step-wait-ms", "10000"});
    if (!eager_steps) o.scheduler_args.insert(o.scheduler_args.end(), {"--eager-steps", "false"});
    start_stack(std::move(o));
  }
  void start(const std::string& name, const Bytes& input, const std::string& id) {
    StartOptions so;
    so.instance_id = id;
    auto r = client_->schedule_new_orchestration(name, input, so);
    ASSERT_TRUE(r) << r.status().to_string();
  }

  OrchestrationMetadata completed(const std::string& id) {
    auto md = client_->wait_for_orchestration_completion(id, 60s);
    EXPECT_TRUE(md) << id << ": " << md.status().to_string() << " (logs in "
                    << stack_->log_dir() << ")";
    if (!md) return {};
    EXPECT_EQ(md->status, OrchestrationStatus::kCompleted)
        << id << ": " << md->failure.error_type << ": " << md->failure.message;
    return *md;
  }

  // A scheduler counter (0 when it has no sample yet).
  double scheduler_metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    auto r = test::http_get("127.0.0.1", stack_->scheduler_metrics_port(), "/metrics");
    EXPECT_TRUE(r) << r.status().to_string();
    return r ? testing::metric(r->body, name, labels).value_or(0) : -1;
  }
  double dispatches(const char* history) {
    return scheduler_metric("baton_step_dispatches_total", {{"history", history}});
  }
  double eager_steps(const char* outcome) {
    return scheduler_metric("baton_eager_steps_total", {{"outcome", outcome}});
  }

  // Raises event "a" on a two_events instance and waits until its step
  // committed (the custom status it sets shows).
  bool got_event_a(const std::string& id) {
    if (!client_->raise_orchestration_event<std::string>(id, "a", "x").is_ok()) return false;
    return testing::wait_until(
        [&] {
          auto md = client_->get_orchestration_metadata(id);
          return md && !md->custom_status.empty();
        },
        30s);
  }

  void expect_verified() {
    auto violations = client_->verify_database();
    ASSERT_TRUE(violations) << violations.status().to_string();
    EXPECT_TRUE(violations->empty()) << violations->front();
  }
};

// Every step after the first goes to the worker that ran the one before,
// with only the events it has not seen; the result and the history are
// exactly those of a full replay.
TEST_F(Sticky, ALongChainRunsOnItsWorkerWithOnlyTheNewEvents) {
  start_stack_with({});
  constexpr int kSteps = 40;
  start("long_chain", pack(kSteps), "chain40");
  const OrchestrationMetadata md = completed("chain40");
  EXPECT_EQ(unpack<int>(md.output), kSteps * (kSteps - 1) / 2);
  EXPECT_EQ(events("chain40", EventType::kTaskScheduled), kSteps);
  EXPECT_EQ(events("chain40", EventType::kTaskCompleted), kSteps);
  // kSteps + 1 steps: the first carries the whole (empty) history, every
  // later one only the previous step's TaskScheduled.
  EXPECT_EQ(dispatches("full"), 1);
  EXPECT_EQ(dispatches("partial"), kSteps);
  EXPECT_EQ(scheduler_metric("baton_sticky_misses_total"), 0);
  expect_verified();
}

// Custom status set in one step is still reported after steps that did not
// set it again, and external events reach the suspended orchestrator.
TEST_F(Sticky, EventsAndCustomStatusCarryAcrossSuspendedSteps) {
  StackOptions o;
  o.workers = 1;
  start_stack_with(o);
  start("two_events", {}, "ev1");
  ASSERT_TRUE(got_event_a("ev1"));
  ASSERT_TRUE(client_->raise_orchestration_event<std::string>("ev1", "b", "y").is_ok());
  const OrchestrationMetadata md = completed("ev1");
  EXPECT_EQ(unpack<std::string>(md.output), "xy");
  EXPECT_EQ(unpack<std::string>(md.custom_status), "got a");
  EXPECT_EQ(dispatches("full"), 1);
  EXPECT_GE(dispatches("partial"), 2);
  expect_verified();
}

// A worker that stopped took the suspended orchestrator with it: the step
// reaches another worker, which does not hold it, and the scheduler sends it
// again with the whole history. Nothing is lost or recorded twice.
TEST_F(Sticky, AStepWhoseWorkerIsGoneIsSentAgainWithTheWholeHistory) {
  StackOptions o;
  o.workers = 1;
  start_stack_with(o);
  start("two_events", {}, "gone1");
  ASSERT_TRUE(got_event_a("gone1"));
  ASSERT_EQ(dispatches("partial"), 1);  // the step that took event "a"
  // A graceful stop: the worker says it is leaving, so the broker gives its
  // sticky step to whichever worker serves the queue next.
  stack_->worker(0).signal(SIGTERM);
  ASSERT_EQ(stack_->worker(0).wait(30s), 0);
  stack_->start_worker(0);
  ASSERT_TRUE(client_->raise_orchestration_event<std::string>("gone1", "b", "y").is_ok());
  const OrchestrationMetadata md = completed("gone1");
  EXPECT_EQ(unpack<std::string>(md.output), "xy");
  EXPECT_EQ(unpack<std::string>(md.custom_status), "got a");
  EXPECT_EQ(scheduler_metric("baton_sticky_misses_total"), 1);
  EXPECT_EQ(dispatches("full"), 2);  // the first step, and the one sent again
  EXPECT_EQ(events("gone1", EventType::kEventRaised), 2);
  expect_verified();
}

// A worker that drops an orchestrator to make room says so in its next
// result, and that instance's next step goes whole at once instead of
// missing first.
TEST_F(Sticky, AnEvictedOrchestratorsNextStepGoesWholeWithoutAMiss) {
  StackOptions o;
  o.workers = 1;
  o.worker_env["BATON_MAX_CACHED_ORCHESTRATIONS"] = "1";
  start_stack_with(o);
  start("two_events", {}, "evict-a");  // answered once its first step committed
  start("two_events", {}, "evict-b");  // its step evicts evict-a's orchestrator
  for (const char* id : {"evict-a", "evict-b"}) {
    ASSERT_TRUE(got_event_a(id)) << id;
  }
  EXPECT_EQ(scheduler_metric("baton_sticky_misses_total"), 0);
  EXPECT_EQ(dispatches("full"), 4);  // each step evicts the other instance
  EXPECT_EQ(dispatches("partial"), 0);
  expect_verified();
}

// A worker of the test's own: it answers what the scheduler sends (through
// the real broker) exactly as the test says.
class FakeWorker {
 public:
  explicit FakeWorker(const std::string& broker, int activity_slots = 4,
                      int orchestration_slots = 4)
      : socket_(ctx_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::routing_id, kId);
    socket_.connect(broker);
    WorkerReady ready;
    ready.worker_id = kId;
    ready.incarnation = 1;
    ready.ns = "default";
    ready.task_queues = {"default"};
    ready.activity_slots = activity_slots;
    ready.orchestration_slots = orchestration_slots;
    EXPECT_TRUE(wire::send(socket_, ready));
  }
  // The next message of type T from the broker (heartbeats answered), or none.
  template <class T>
  std::optional<T> next(std::chrono::milliseconds within = 30s) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 100ms);
      (void)wire::send(socket_, Heartbeat{kId, 1});
      auto r = wire::recv(socket_, false);
      if (!r || r->type != T::kType) continue;
      auto msg = wire::decode<T>(r->body_view());
      if (msg) return *msg;
    }
    return std::nullopt;
  }
  template <class T>
  void send(const T& msg) {
    EXPECT_TRUE(wire::send(socket_, msg));
  }
  // The answer to `task`: `actions`, the orchestrator kept or not.
  OrchestrationResult answer(const OrchestrationTask& task, std::vector<Action> actions,
                             bool cached) const {
    OrchestrationResult r;
    r.work_id = task.work_id;
    r.ns = task.ns;
    r.instance_id = task.instance_id;
    r.actions = std::move(actions);
    r.worker_id = kId;
    r.cached = cached;
    return r;
  }

  static constexpr const char* kId = "fake-worker";

 private:
  zmq::context_t ctx_;
  zmq::socket_t socket_;
};

// A worker out of protocol (a cache miss for a step that carried the whole
// history) does not make the scheduler forget the step: it stays in flight
// until its lease expires, and is not resent at once (no loop).
TEST_F(Sticky, AMissForAWholeStepLeavesTheStepToItsLease) {
  StackOptions o;
  o.workers = 0;
  o.scheduler_args = {"--first-step-wait-ms", "0"};  // the start commits alone
  start_stack(o);
  FakeWorker fake(stack_->broker_address(), /*activity_slots=*/0, /*orchestration_slots=*/1);
  start("two_events", {}, "bogus");
  std::optional<OrchestrationTask> task = fake.next<OrchestrationTask>();
  ASSERT_TRUE(task);
  EXPECT_EQ(task->past_from, 0);
  EXPECT_NE(task->cache_token, 0u);
  OrchestrationResult miss = fake.answer(*task, {}, /*cached=*/false);
  miss.cache_miss = true;
  fake.send(miss);
  EXPECT_FALSE(fake.next<OrchestrationTask>(2s)) << "sent again at once";
  EXPECT_EQ(scheduler_metric("baton_scheduler_in_flight", {{"kind", "orchestration"}}), 1)
      << "the step is no longer awaited: nothing would ever resend it";
  EXPECT_EQ(scheduler_metric("baton_sticky_misses_total"), 0);
}

// --sticky-orchestrations false: every step carries the whole history.
TEST_F(Sticky, TurnedOffEveryStepCarriesTheWholeHistory) {
  StackOptions o;
  o.scheduler_args = {"--sticky-orchestrations", "false"};
  start_stack_with(o);
  start("long_chain", pack(5), "plain5");
  const OrchestrationMetadata md = completed("plain5");
  EXPECT_EQ(unpack<int>(md.output), 10);
  EXPECT_EQ(dispatches("full"), 6);
  EXPECT_EQ(dispatches("partial"), 0);
  expect_verified();
}

// ------------------------------------------------------------ eager steps

// Every step after the first runs on the worker that ran the activity
// before it, returned with that activity's result: nothing is dispatched
// but the first step, and the result and history are a full replay's.
TEST_F(Sticky, EagerStepsRunAChainWithOnlyItsFirstStepDispatched) {
  StackOptions o;
  o.workers = 1;
  start_stack_with(o, /*eager_steps=*/true);
  constexpr int kSteps = 40;
  start("long_chain", pack(kSteps), "eager40");
  const OrchestrationMetadata md = completed("eager40");
  EXPECT_EQ(unpack<int>(md.output), kSteps * (kSteps - 1) / 2);
  EXPECT_EQ(events("eager40", EventType::kTaskScheduled), kSteps);
  EXPECT_EQ(events("eager40", EventType::kTaskCompleted), kSteps);
  EXPECT_EQ(events("eager40", EventType::kOrchestratorStarted), kSteps + 1);
  EXPECT_EQ(eager_steps("accepted"), kSteps);
  EXPECT_EQ(eager_steps("refused"), 0);
  EXPECT_EQ(dispatches("full"), 1);
  EXPECT_EQ(dispatches("partial"), 0);
  EXPECT_EQ(scheduler_metric("baton_sticky_misses_total"), 0);
  expect_verified();
}

Action schedule_echo(int32_t id) {
  Action a;
  a.type = ActionType::kScheduleTask;
  a.id = id;
  a.name = "echo";
  a.input = pack(id);
  return a;
}
Action complete_with(int32_t id, int value) {
  Action a;
  a.type = ActionType::kCompleteOrchestration;
  a.id = id;
  a.status = OrchestrationStatus::kCompleted;
  a.result = pack(value);
  return a;
}
// The activity's result, carrying `step` (its next step) run at `at_ms`.
ActivityResult result_with_step(const ActivityTask& t, OrchestrationResult step, int64_t at_ms) {
  ActivityResult r;
  r.work_id = t.work_id;
  r.task_id = t.task_id;
  r.attempt = t.attempt;
  r.ns = t.ns;
  r.instance_id = t.instance_id;
  r.output = pack(0);
  r.next_step.push_back(std::move(step));
  r.next_step_at_ms = at_ms;
  return r;
}

class EagerSteps : public Sticky {
 protected:
  // Starts `id` on a stack whose only worker is the fake, answers its first
  // step with one activity (kept suspended) and returns that activity.
  std::optional<ActivityTask> first_activity(const std::string& id) {
    StackOptions o;
    o.workers = 0;
    o.scheduler_args = {"--first-step-wait-ms", "0"};  // start() returns before the step
    start_stack(o);
    fake_.emplace(stack_->broker_address());
    start("long_chain", pack(1), id);
    std::optional<OrchestrationTask> first = fake_->next<OrchestrationTask>();
    EXPECT_TRUE(first);
    if (!first) return std::nullopt;
    first_ = *first;
    fake_->send(fake_->answer(*first, {schedule_echo(0)}, /*cached=*/true));
    return fake_->next<ActivityTask>();
  }
  std::optional<FakeWorker> fake_;
  OrchestrationTask first_;
};

// The activity carries the step its completion starts, as the scheduler
// would dispatch it to the worker keeping the orchestrator; that step,
// returned with the result, commits with it, at the worker's time.
TEST_F(EagerSteps, AStepReturnedWithItsActivitysResultIsCommittedWithIt) {
  std::optional<ActivityTask> act = first_activity("eager-ok");
  ASSERT_TRUE(act);
  EXPECT_EQ(act->sticky_worker, FakeWorker::kId);
  ASSERT_EQ(act->next_step.size(), 1u);
  const OrchestrationTask& next = act->next_step.front();
  EXPECT_EQ(next.cache_token, first_.cache_token);
  EXPECT_NE(next.cache_token, 0u);
  EXPECT_EQ(next.past_from, static_cast<int32_t>(first_.new_events.size()));
  ASSERT_EQ(next.past_events.size(), 1u);
  EXPECT_EQ(next.past_events[0].type, EventType::kTaskScheduled);
  ASSERT_EQ(next.new_events.size(), 1u);
  EXPECT_EQ(next.new_events[0].type, EventType::kOrchestratorStarted);
  EXPECT_EQ(next.name, "long_chain");

  const int64_t at = next.new_events[0].timestamp_ms + 1;
  fake_->send(result_with_step(*act, fake_->answer(next, {complete_with(1, 42)}, false), at));
  const OrchestrationMetadata md = completed("eager-ok");
  EXPECT_EQ(unpack<int>(md.output), 42);
  EXPECT_EQ(eager_steps("accepted"), 1);
  EXPECT_EQ(dispatches("full"), 1);
  EXPECT_EQ(dispatches("partial"), 0);
  auto history = client_->get_orchestration_history("eager-ok");
  ASSERT_TRUE(history) << history.status().to_string();
  // ... OrchestratorStarted, TaskCompleted (both at the worker's time),
  // ExecutionCompleted.
  ASSERT_GE(history->size(), 3u);
  const HistoryEvent& started = (*history)[history->size() - 3];
  const HistoryEvent& done = (*history)[history->size() - 2];
  EXPECT_EQ(started.type, EventType::kOrchestratorStarted);
  EXPECT_EQ(started.timestamp_ms, at);
  EXPECT_EQ(done.type, EventType::kTaskCompleted);
  EXPECT_EQ(done.timestamp_ms, at);
  EXPECT_EQ(done.task_scheduled_id, 0);
  EXPECT_EQ(done.name, "echo");
  EXPECT_EQ(history->back().type, EventType::kExecutionCompleted);
  expect_verified();
}

// Something else happened to the instance while the activity ran (an event
// raised, its step in flight): the eager step is refused, the result is
// recorded alone and the instance's next step is dispatched as usual.
TEST_F(EagerSteps, AStepForAnInstanceThatMovedOnIsRefusedAndTheResultKept) {
  std::optional<ActivityTask> act = first_activity("eager-busy");
  ASSERT_TRUE(act);
  ASSERT_EQ(act->next_step.size(), 1u);
  ASSERT_TRUE(client_->raise_orchestration_event<std::string>("eager-busy", "a", "x").is_ok());
  std::optional<OrchestrationTask> for_event = fake_->next<OrchestrationTask>();
  ASSERT_TRUE(for_event);
  fake_->send(result_with_step(
      *act, fake_->answer(act->next_step.front(), {complete_with(1, 42)}, false),
      SystemClock().now_ms()));
  ASSERT_TRUE(testing::wait_until([&] { return eager_steps("refused") == 1; }, 30s));
  // The worker's copy of the orchestrator moved on: it answers the event's
  // step with a miss, as a real worker would.
  OrchestrationResult miss = fake_->answer(*for_event, {}, false);
  miss.cache_miss = true;
  fake_->send(miss);
  // The event and the result, in whole steps from here on.
  for (int i = 0; i < 3; ++i) {
    std::optional<OrchestrationTask> step = fake_->next<OrchestrationTask>();
    ASSERT_TRUE(step);
    EXPECT_EQ(step->past_from, 0);
    const bool has_result =
        std::any_of(step->new_events.begin(), step->new_events.end(),
                    [](const HistoryEvent& e) { return e.type == EventType::kTaskCompleted; });
    fake_->send(fake_->answer(*step, has_result ? std::vector{complete_with(1, 7)}
                                                : std::vector<Action>{},
                              false));
    if (has_result) break;
  }
  const OrchestrationMetadata md = completed("eager-busy");
  EXPECT_EQ(unpack<int>(md.output), 7);
  EXPECT_EQ(eager_steps("accepted"), 0);
  EXPECT_EQ(events("eager-busy", EventType::kTaskCompleted), 1);
  EXPECT_EQ(events("eager-busy", EventType::kEventRaised), 1);
  expect_verified();
}

// A step claiming a time well ahead of the scheduler's clock is refused;
// the worker's copy, which ran it, is no longer counted on: the next step
// carries the whole history.
TEST_F(EagerSteps, AStepFromAClockFarAheadIsRefusedAndTheNextStepGoesWhole) {
  std::optional<ActivityTask> act = first_activity("eager-skew");
  ASSERT_TRUE(act);
  ASSERT_EQ(act->next_step.size(), 1u);
  fake_->send(result_with_step(
      *act, fake_->answer(act->next_step.front(), {complete_with(1, 42)}, true),
      SystemClock().now_ms() + 3600 * 1000));
  std::optional<OrchestrationTask> step = fake_->next<OrchestrationTask>();
  ASSERT_TRUE(step);
  EXPECT_EQ(step->past_from, 0);
  EXPECT_EQ(eager_steps("refused"), 1);
  fake_->send(fake_->answer(*step, {complete_with(1, 7)}, false));
  const OrchestrationMetadata md = completed("eager-skew");
  EXPECT_EQ(unpack<int>(md.output), 7);
  EXPECT_EQ(events("eager-skew", EventType::kTaskCompleted), 1);
  expect_verified();
}


// ------------------------------------------------------------ quiet results
// A result the orchestrator cannot wake on yet (its when_all waits for
// others, as its last step reported in wake_after) is held in memory, up to
// --quiet-result-hold-ms, instead of starting a step that would do nothing
// (docs/architecture.md, "Quiet results").
class QuietResults : public Sticky {
 protected:
  void start_with_hold(const char* hold_ms) {
    StackOptions o;
    o.scheduler_args = {"--quiet-result-hold-ms", hold_ms};
    start_stack_with(std::move(o), /*eager_steps=*/true);
  }
  double quiet(const char* outcome) {
    return scheduler_metric("baton_quiet_results_total", {{"outcome", outcome}});
  }
  int64_t inbox_rows(const std::string& id) {
    return stack_->count("SELECT count(*) FROM baton_inbox WHERE instance_id = '" + id + "'");
  }
};

// All 20 results of a when_all start one step: the first step and the last
// are the only ones dispatched, and 19 results waited in memory for the 20th.
TEST_F(QuietResults, AWhenAllOfTwentyActivitiesTakesOneStepForAllTheirResults) {
  start_with_hold("60000");
  start("fan_out_echo", pack(20), "fan20");
  const OrchestrationMetadata md = completed("fan20");
  std::vector<int> expected(20);
  for (int i = 0; i < 20; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(unpack<std::vector<int>>(md.output), expected);
  EXPECT_EQ(quiet("held"), 19);
  EXPECT_EQ(quiet("expired"), 0);
  EXPECT_EQ(dispatches("full") + dispatches("partial"), 2);
  EXPECT_EQ(events("fan20", EventType::kOrchestratorStarted), 2);
  EXPECT_EQ(events("fan20", EventType::kTaskCompleted), 20);
  expect_verified();
}

// --quiet-result-hold-ms 0: nothing is held.
TEST_F(QuietResults, AZeroHoldHoldsNothing) {
  start_with_hold("0");
  start("fan_out_echo", pack(20), "fan20");
  EXPECT_EQ(unpack<std::vector<int>>(completed("fan20").output).size(), 20u);
  EXPECT_EQ(quiet("held"), 0);
  expect_verified();
}

// The fast result waits for the slow one only up to the hold: then it
// starts its own step (committing it), and the slow one the last step.
TEST_F(QuietResults, AHeldResultStartsItsStepWhenItsHoldExpires) {
  start_with_hold("300");
  start("fast_and_slow", pack(3000), "slow");
  EXPECT_EQ(unpack<int>(completed("slow").output), 3000);
  EXPECT_EQ(quiet("held"), 1);
  EXPECT_EQ(quiet("expired"), 1);
  EXPECT_EQ(events("slow", EventType::kOrchestratorStarted), 3);
  expect_verified();
}

// A failure is never held: when_all fails fast although the other activity
// still runs for 15 s and the hold is a minute.
TEST_F(QuietResults, AFailureWakesTheOrchestratorAtOnce) {
  start_with_hold("60000");
  start("slow_or_fail", pack(15000), "fails");
  auto md = client_->wait_for_orchestration_completion("fails", 10s);
  ASSERT_TRUE(md) << md.status().to_string() << " (logs in " << stack_->log_dir() << ")";
  EXPECT_EQ(md->status, OrchestrationStatus::kFailed);
  EXPECT_EQ(md->failure.message, "failed on purpose");
  EXPECT_EQ(quiet("held"), 0);
}

// A scheduler stopped with SIGTERM writes the results it holds to their
// inboxes first; its successor finishes the orchestration with them, and
// the fast activity did not run again.
TEST_F(QuietResults, AStoppingSchedulerWritesHeldResultsToTheInbox) {
  start_with_hold("60000");
  start("fast_and_slow", pack(4000), "stop");
  ASSERT_TRUE(testing::wait_until([&] { return quiet("held") == 1; }, 30s));
  EXPECT_EQ(inbox_rows("stop"), 0);
  stack_->scheduler().signal(SIGTERM);
  ASSERT_EQ(stack_->scheduler().wait(10s), 0) << "logs in " << stack_->log_dir();
  EXPECT_EQ(inbox_rows("stop"), 1);
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_tasks WHERE instance_id = 'stop'"), 1);
  stack_->start_scheduler();
  EXPECT_EQ(unpack<int>(completed("stop").output), 4000);
  EXPECT_EQ(events("stop", EventType::kTaskCompleted), 2);
  expect_verified();
}

// Held results are not durable: a scheduler killed with SIGKILL loses the
// one it held, its successor runs that activity again, and history still
// records each result once.
TEST_F(QuietResults, AKilledSchedulerLosesHeldResultsAndTheirActivitiesRunAgain) {
  start_with_hold("60000");
  start("fast_and_slow", pack(3000), "killed");
  ASSERT_TRUE(testing::wait_until([&] { return quiet("held") == 1; }, 30s));
  stack_->scheduler().kill9();
  EXPECT_EQ(inbox_rows("killed"), 0);
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_tasks WHERE instance_id = 'killed'"), 2);
  stack_->start_scheduler();
  EXPECT_EQ(unpack<int>(completed("killed").output), 3000);
  EXPECT_EQ(events("killed", EventType::kTaskCompleted), 2);
  expect_verified();
}

// An activity scheduled alone by a step, whose result alone cannot wake
// the orchestrator (its when_all also waits for an older activity), gets
// no eager step (the worker would run a step that does nothing): its result
// is held until the older one arrives.
TEST_F(QuietResults, AnActivityWhoseResultCannotWakeTheOrchestratorGetsNoEagerStep) {
  start_with_hold("60000");
  start("staggered", pack(2000), "stag");
  EXPECT_EQ(unpack<int>(completed("stag").output), 2001);
  EXPECT_EQ(eager_steps("accepted") + eager_steps("refused"), 0);
  EXPECT_EQ(quiet("held"), 1);
  expect_verified();
}

}  // namespace
}  // namespace baton
