// Every orchestration pattern end to end through real processes: the
// examples (fan-out/fan-in, sub-orchestrations, durable timers, human
// interaction, retries, error handling) and the engine features behind them.
#include <gtest/gtest.h>

#include <chrono>

#include <msgpack.hpp>

#include "baton/client.h"
#include "baton/wire.h"
#include "tests/support/itest.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using testing::Stack;
using testing::StackOptions;
using testing::quoted;
using testing::stored_history;

struct Reminder {
  std::string message;
  int64_t delay_ms = 0;
  MSGPACK_DEFINE_MAP(message, delay_ms)
};

struct Approval {
  std::string request;
  int64_t timeout_ms = 0;
  MSGPACK_DEFINE_MAP(request, timeout_ms)
};

using testing::pack;
using testing::unpack;

class Patterns : public testing::StackTest {
 protected:
  void SetUp() override { start_stack(); }

  template <class I>
  void start(const std::string& name, const I& input, const std::string& id) {
    StartOptions so;
    so.instance_id = id;
    auto r = client_->schedule_new_orchestration(name, pack(input), so);
    ASSERT_TRUE(r) << r.status().to_string();
  }

  OrchestrationMetadata wait(const std::string& id, std::chrono::seconds timeout = 60s) {
    auto md = client_->wait_for_orchestration_completion(id, timeout);
    EXPECT_TRUE(md) << id << ": " << md.status().to_string() << " (logs in " << stack_->log_dir()
                    << ")";
    return md ? *md : OrchestrationMetadata{};
  }

  OrchestrationMetadata completed(const std::string& id, std::chrono::seconds timeout = 60s) {
    auto md = wait(id, timeout);
    EXPECT_EQ(md.status, OrchestrationStatus::kCompleted)
        << id << ": " << md.failure.error_type << ": " << md.failure.message;
    return md;
  }

  std::vector<HistoryEvent> history(const std::string& id, EventType type) {
    std::vector<HistoryEvent> out;
    for (auto& e : stored_history(stack_->db_url(), "instance_id = " + quoted(id))) {
      if (e.event.type == type) out.push_back(std::move(e.event));
    }
    return out;
  }
};

TEST_F(Patterns, FanOutFanInAggregatesEveryItem) {
  start("fan_out_fan_in", 12, "fan");
  EXPECT_EQ(unpack<int>(completed("fan").output), 74);
  EXPECT_EQ(events("fan", EventType::kTaskCompleted), 13);  // get_work_items + 12
}

TEST_F(Patterns, FanOutSchedulesEveryItemInItsFirstStep) {
  start("fan_out", 12, "fan-direct");
  EXPECT_EQ(unpack<int>(completed("fan-direct").output), 74);
  EXPECT_EQ(events("fan-direct", EventType::kTaskCompleted), 12);
  // No activity lists the items first: every task is one of them.
  const auto scheduled = history("fan-direct", EventType::kTaskScheduled);
  ASSERT_EQ(scheduled.size(), 12u);
  for (const auto& e : scheduled) EXPECT_EQ(e.name, "process_work_item");
}

TEST_F(Patterns, FanOutOfTenThousandActivitiesReturnsEveryResultInOrder) {
  start("fan_out_echo", 10000, "wide");
  auto out = unpack<std::vector<int>>(completed("wide", 300s).output);
  ASSERT_EQ(out.size(), 10000u);
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(out[static_cast<std::size_t>(i)], i) << "at " << i;
  EXPECT_EQ(events("wide", EventType::kTaskCompleted), 10000);
}

TEST_F(Patterns, SubOrchestrationRunsAsItsOwnInstance) {
  start("process_order", std::string("A-1"), "order");
  EXPECT_EQ(unpack<std::string>(completed("order").output),
            "order A-1: reserved A-1, dispatched label-A-1");
  auto child = client_->get_orchestration_metadata("order:1");
  ASSERT_TRUE(child) << child.status().to_string();
  EXPECT_EQ(child->name, "ship_order");
  EXPECT_EQ(child->parent_instance_id, "order");
  EXPECT_EQ(child->status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(events("order", EventType::kSubOrchestrationCreated), 1);
  EXPECT_EQ(events("order", EventType::kSubOrchestrationCompleted), 1);
}

TEST_F(Patterns, ChildFailureSurfacesInTheParentWithItsDetails) {
  start("parent_of_failing", std::string("no stock"), "pf");
  EXPECT_EQ(unpack<std::string>(completed("pf").output),
            "caught std::invalid_argument: child refused: no stock");
  EXPECT_EQ(events("pf", EventType::kSubOrchestrationFailed), 1);
}

TEST_F(Patterns, SubOrchestrationRetriesWithNewChildInstances) {
  start("retrying_parent", std::string("job"), "rp");
  EXPECT_EQ(unpack<std::string>(completed("rp").output), "job done by rp:0#3");
  EXPECT_EQ(events("rp", EventType::kSubOrchestrationCreated), 3);
  EXPECT_EQ(events("rp", EventType::kSubOrchestrationFailed), 2);
  EXPECT_EQ(events("rp", EventType::kTimerFired), 2) << "durable backoff between attempts";
  auto first = client_->get_orchestration_metadata("rp:0");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, OrchestrationStatus::kFailed);
}

TEST_F(Patterns, ScheduleToStartTimeoutFailsATaskNoWorkerTakes) {
  start("unserved_queue", std::string(), "unserved");
  EXPECT_EQ(unpack<std::string>(completed("unserved").output), "ScheduleToStartTimeout");
  auto failed = history("unserved", EventType::kTaskFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].attempt, 1) << "not retried: no worker serves the queue";
}

TEST_F(Patterns, DurableTimerFiresAfterItsDelay) {
  start("durable_timer", Reminder{"stand up", 1000}, "timer");
  auto md = completed("timer");
  EXPECT_EQ(unpack<std::string>(md.output), "reminder sent: stand up");
  EXPECT_GE(md.completed_ms - md.created_ms, 1000);
  EXPECT_EQ(events("timer", EventType::kTimerCreated), 1);
  EXPECT_EQ(events("timer", EventType::kTimerFired), 1);
}

TEST_F(Patterns, TimerThatFiresWhileTheSchedulerIsDownFiresAfterRestart) {
  start("durable_timer", Reminder{"after restart", 1500}, "down");
  ASSERT_TRUE(testing::wait_until([&] { return events("down", EventType::kTimerCreated) == 1; },
                                  30s));
  stack_->scheduler().kill9();
  const auto created = std::chrono::steady_clock::now();
  // Stay down past the fire time: wait on the clock, not a fixed sleep.
  ASSERT_TRUE(testing::wait_until(
      [&] { return std::chrono::steady_clock::now() - created > 2s; }, 10s));
  EXPECT_EQ(events("down", EventType::kTimerFired), 0);
  stack_->start_scheduler();
  EXPECT_EQ(unpack<std::string>(completed("down").output), "reminder sent: after restart");
}

TEST_F(Patterns, HumanInteractionApprovedByAnEvent) {
  start("human_interaction", Approval{"deploy v2", 60000}, "approve");
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto md = client_->get_orchestration_metadata("approve");
        return md && !md->custom_status.empty() &&
               unpack<std::string>(md->custom_status) == "waiting for approval";
      },
      30s));
  ASSERT_TRUE(client_->raise_orchestration_event("approve", "approval", pack(std::string("alice"))));
  EXPECT_EQ(unpack<std::string>(completed("approve").output), "approved by alice");
}

TEST_F(Patterns, HumanInteractionTimesOut) {
  start("human_interaction", Approval{"deploy v3", 500}, "late");
  auto md = completed("late");
  EXPECT_EQ(unpack<std::string>(md.output), "timed out");
  EXPECT_EQ(unpack<std::string>(md.custom_status), "timed out");
}

TEST_F(Patterns, EventRaisedDuringSuspensionIsAppliedAfterResume) {
  start("human_interaction", Approval{"deploy v4", 60000}, "held");
  ASSERT_TRUE(testing::wait_until([&] { return events("held", EventType::kTimerCreated) == 1; },
                                  30s));
  ASSERT_TRUE(client_->suspend_orchestration("held", "freeze"));
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto md = client_->get_orchestration_metadata("held");
        return md && md->status == OrchestrationStatus::kSuspended;
      },
      30s));
  ASSERT_TRUE(client_->raise_orchestration_event("held", "approval", pack(std::string("bob"))));
  auto early = client_->wait_for_orchestration_completion("held", 1s);
  EXPECT_FALSE(early) << "a suspended instance does not act on the event";
  EXPECT_EQ(events("held", EventType::kEventRaised), 0);
  ASSERT_TRUE(client_->resume_orchestration("held"));
  EXPECT_EQ(unpack<std::string>(completed("held").output), "approved by bob");
}

TEST_F(Patterns, RetryRecordsThreeAttemptsAndOneCompletion) {
  start("retry", std::string(), "flaky");
  EXPECT_EQ(unpack<std::string>(completed("flaky").output), "flaky succeeded on attempt 3");
  auto done = history("flaky", EventType::kTaskCompleted);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].attempt, 3);
  EXPECT_EQ(events("flaky", EventType::kTaskFailed), 0);
  EXPECT_EQ(events("flaky", EventType::kTaskScheduled), 1) << "no replay per attempt";
}

TEST_F(Patterns, MissedHeartbeatRetriesWithTheLastDetails) {
  start("resume_from_heartbeat", std::string(), "hb");
  EXPECT_EQ(unpack<int>(completed("hb").output), 52) << "attempt 2 saw the details 5";
  auto done = history("hb", EventType::kTaskCompleted);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].attempt, 2);
}

TEST_F(Patterns, StartToCloseTimeoutFailsTheTaskAfterItsRetries) {
  start("too_slow", std::string(), "slow");
  EXPECT_EQ(unpack<std::string>(completed("slow").output), "StartToCloseTimeout");
  auto failed = history("slow", EventType::kTaskFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].attempt, 2);
}

TEST_F(Patterns, CaughtFailureRunsTheCompensation) {
  start("error_handling", std::string("A-1"), "comp");
  EXPECT_EQ(unpack<std::string>(completed("comp").output),
            "charge_payment failed (std::runtime_error: card declined for order A-1); "
            "compensated with cancel_order: order A-1 cancelled");
  auto failed = history("comp", EventType::kTaskFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].failure.error_type, "std::runtime_error");
  EXPECT_EQ(events("comp", EventType::kTaskCompleted), 1);
}

TEST_F(Patterns, RecursiveTerminateStopsTheChildren) {
  start("parent_of_sleeper", std::string(), "top");
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto md = client_->get_orchestration_metadata("top:0");
        return md && md->status == OrchestrationStatus::kRunning;
      },
      30s));
  ASSERT_TRUE(client_->terminate_orchestration("top", "cancelled", true));
  EXPECT_EQ(wait("top").status, OrchestrationStatus::kTerminated);
  EXPECT_EQ(wait("top:0").status, OrchestrationStatus::kTerminated);
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_inbox"), 0) << "the child's timer is gone";
}

TEST_F(Patterns, EachExecutionMayReuseTheIdOfItsFinishedChild) {
  start("rounds", 1, "rounds");
  EXPECT_EQ(unpack<std::string>(completed("rounds").output), "dispatched label-R3");
  auto child = client_->get_orchestration_metadata("rounds:0");
  ASSERT_TRUE(child) << child.status().to_string();
  EXPECT_EQ(child->status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(unpack<std::string>(child->input), "R3");
  EXPECT_EQ(events("rounds:0", EventType::kExecutionStarted), 3);
  EXPECT_EQ(events("rounds", EventType::kSubOrchestrationCompleted), 3);
}

TEST_F(Patterns, ContinueAsNewStartsFreshExecutions) {
  start("count_to", 0, "count");
  EXPECT_EQ(unpack<int>(completed("count").output), 5);
  EXPECT_EQ(events("count", EventType::kContinuedAsNew), 5);
  EXPECT_EQ(events("count", EventType::kExecutionStarted), 6);
  auto md = client_->get_orchestration_metadata("count");
  ASSERT_TRUE(md);
  EXPECT_EQ(unpack<int>(md->input), 5) << "the instance shows the latest execution's input";
}

}  // namespace
}  // namespace baton
