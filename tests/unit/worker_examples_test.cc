// The examples (examples/*.cc) run end to end on a toy in-process engine:
// histories in memory, activities run inline, timers and retry delays on a
// virtual clock. It is NOT the scheduler; it applies the protocol's action ->
// event rules (baton/protocol.h) just enough to check each example's
// documented output through the real replayer and activity runner.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "baton/payload.h"
#include "baton/worker.h"
#include "examples.h"
#include "runtime/worker_impl.h"
#include "sdk/activity_runner.h"
#include "sdk/replayer.h"

namespace baton {
namespace {

// Thread-safety: single test thread.
class ToyEngine {
 public:
  struct Instance {
    std::string name;
    OrchestrationStatus status = OrchestrationStatus::kRunning;
    std::vector<HistoryEvent> history;
    std::vector<HistoryEvent> inbox;  // the next step's events
    Bytes output;
    FailureDetails failure;
    Bytes custom_status;
    std::string parent;
    int32_t parent_event_id = -1;
    int64_t completed_ms = 0;
    int executions = 1;
  };
  // One activity attempt, as the scheduler would dispatch it.
  struct Attempt {
    std::string instance_id;
    std::string name;
    int32_t attempt = 0;
    bool failed = false;
    int64_t at_ms = 0;
  };

  explicit ToyEngine(const detail::Registry& registry) : registry_(registry) {}

  void start(const std::string& instance_id, const std::string& name, Bytes input) {
    Instance& inst = instances_[instance_id];
    inst.name = name;
    HistoryEvent started;
    started.type = EventType::kExecutionStarted;
    started.name = name;
    started.input = std::move(input);
    inst.inbox.push_back(std::move(started));
  }

  // Into the instance's next step, now.
  void raise_event(const std::string& instance_id, const std::string& name, Bytes data) {
    HistoryEvent raised;
    raised.type = EventType::kEventRaised;
    raised.name = name;
    raised.input = std::move(data);
    deliver(instance_id, std::move(raised));
  }

  // When the virtual clock reaches `at_ms` (and nothing else is left to do).
  void raise_event_at(int64_t at_ms, const std::string& instance_id, const std::string& name,
                      Bytes data) {
    HistoryEvent raised;
    raised.type = EventType::kEventRaised;
    raised.name = name;
    raised.input = std::move(data);
    later_.emplace(at_ms, Later{instance_id, raised, {}});
  }

  // Runs until nothing is left to do (or `max_steps` steps: a runaway guard).
  void run(int max_steps = 1000) {
    for (int steps = 0; steps < max_steps; ++steps) {
      auto ready = std::find_if(instances_.begin(), instances_.end(), [](const auto& kv) {
        return !kv.second.inbox.empty() && !is_terminal(kv.second.status);
      });
      if (ready != instances_.end()) {
        step(ready->first);
        continue;
      }
      if (later_.empty()) return;
      auto next = later_.begin();
      now_ms_ = std::max(now_ms_, next->first);
      Later item = std::move(next->second);
      later_.erase(next);
      if (item.retry) {
        run_attempt(*item.retry);
      } else {
        deliver(item.instance_id, std::move(item.event));
      }
    }
    ADD_FAILURE() << "the engine did not settle";
  }

  const Instance& instance(const std::string& id) { return instances_.at(id); }
  const std::vector<Attempt>& attempts() const { return attempts_; }
  int64_t now_ms() const { return now_ms_; }

 private:
  struct Retry {
    ActivityTask task;
    RetryPolicy policy;
    int64_t first_scheduled_ms = 0;
  };
  struct Later {
    std::string instance_id;
    HistoryEvent event;
    std::optional<Retry> retry;
  };

  void deliver(const std::string& instance_id, HistoryEvent event) {
    auto it = instances_.find(instance_id);
    if (it == instances_.end() || is_terminal(it->second.status)) return;
    event.timestamp_ms = now_ms_;
    it->second.inbox.push_back(std::move(event));
  }

  void step(const std::string& id) {
    Instance& inst = instances_[id];
    OrchestrationTask task;
    task.work_id = ++work_id_;
    task.ns = "default";
    task.instance_id = id;
    task.name = inst.name;
    task.past_events = inst.history;
    HistoryEvent started;
    started.type = EventType::kOrchestratorStarted;
    started.timestamp_ms = now_ms_;
    task.new_events.push_back(started);
    for (HistoryEvent& e : inst.inbox) task.new_events.push_back(std::move(e));
    inst.inbox.clear();
    const OrchestrationResult result = detail::run_step(registry_, task);
    inst.history.insert(inst.history.end(), task.new_events.begin(), task.new_events.end());
    if (result.has_custom_status) inst.custom_status = result.custom_status;
    for (const Action& a : result.actions) apply(id, a);
  }

  HistoryEvent recorded(EventType type, const Action& a) const {
    HistoryEvent e;
    e.type = type;
    e.event_id = a.id;
    e.timestamp_ms = now_ms_;
    e.name = a.name;
    e.input = a.input;
    e.instance_id = a.instance_id;
    e.fire_at_ms = a.fire_at_ms;
    return e;
  }

  void apply(const std::string& id, const Action& a) {
    Instance& inst = instances_[id];
    switch (a.type) {
      case ActionType::kScheduleTask: {
        inst.history.push_back(recorded(EventType::kTaskScheduled, a));
        Retry r;
        r.task.work_id = ++work_id_;
        r.task.task_id = static_cast<int64_t>(r.task.work_id);
        r.task.attempt = 1;
        r.task.instance_id = id;
        r.task.name = a.name;
        r.task.task_scheduled_id = a.id;
        r.task.input = a.input;
        r.policy = a.retry;
        r.first_scheduled_ms = now_ms_;
        run_attempt(r);
        return;
      }
      case ActionType::kCreateTimer: {
        inst.history.push_back(recorded(EventType::kTimerCreated, a));
        HistoryEvent fired;
        fired.type = EventType::kTimerFired;
        fired.task_scheduled_id = a.id;
        fired.fire_at_ms = a.fire_at_ms;
        later_.emplace(a.fire_at_ms, Later{id, fired, {}});
        return;
      }
      case ActionType::kCreateSubOrchestration: {
        inst.history.push_back(recorded(EventType::kSubOrchestrationCreated, a));
        start(a.instance_id, a.name, a.input);
        Instance& child = instances_[a.instance_id];
        child.parent = id;
        child.parent_event_id = a.id;
        return;
      }
      case ActionType::kSendEvent: {
        inst.history.push_back(recorded(EventType::kEventSent, a));
        HistoryEvent raised;
        raised.type = EventType::kEventRaised;
        raised.name = a.name;
        raised.input = a.input;
        deliver(a.instance_id, std::move(raised));
        return;
      }
      case ActionType::kCompleteOrchestration:
        complete(id, a);
        return;
    }
  }

  void complete(const std::string& id, const Action& a) {
    Instance& inst = instances_[id];
    if (a.status == OrchestrationStatus::kContinuedAsNew) {
      inst.history.clear();
      inst.inbox.clear();
      ++inst.executions;
      HistoryEvent started;
      started.type = EventType::kExecutionStarted;
      started.name = inst.name;
      started.input = a.result;
      inst.inbox.push_back(std::move(started));
      for (const HistoryEvent& e : a.carryover_events) inst.inbox.push_back(e);
      return;
    }
    inst.status = a.status;
    inst.output = a.result;
    inst.failure = a.failure;
    inst.completed_ms = now_ms_;
    if (inst.parent.empty()) return;
    HistoryEvent outcome;
    outcome.task_scheduled_id = inst.parent_event_id;
    if (a.status == OrchestrationStatus::kCompleted) {
      outcome.type = EventType::kSubOrchestrationCompleted;
      outcome.result = a.result;
    } else {
      outcome.type = EventType::kSubOrchestrationFailed;
      outcome.failure = a.failure;
    }
    deliver(inst.parent, std::move(outcome));
  }

  // One attempt now; a failure is retried later per the policy (virtual
  // time), or becomes TaskFailed.
  void run_attempt(Retry r) {
    const ActivityResult result = detail::run_activity(registry_, r.task);
    attempts_.push_back(
        Attempt{r.task.instance_id, r.task.name, r.task.attempt, result.failed, now_ms_});
    HistoryEvent outcome;
    outcome.task_scheduled_id = r.task.task_scheduled_id;
    outcome.attempt = r.task.attempt;
    if (!result.failed) {
      outcome.type = EventType::kTaskCompleted;
      outcome.result = result.output;
      deliver(r.task.instance_id, std::move(outcome));
      return;
    }
    const bool retryable =
        !result.failure.non_retryable &&
        std::find(r.policy.non_retryable_error_types.begin(),
                  r.policy.non_retryable_error_types.end(),
                  result.failure.error_type) == r.policy.non_retryable_error_types.end();
    if (retryable && r.task.attempt < r.policy.max_attempts) {
      const double delay = std::min(static_cast<double>(r.policy.first_retry_interval_ms) *
                                        std::pow(r.policy.backoff_coefficient, r.task.attempt - 1),
                                    static_cast<double>(r.policy.max_retry_interval_ms));
      const int64_t at = now_ms_ + static_cast<int64_t>(delay);
      ++r.task.attempt;
      later_.emplace(at, Later{r.task.instance_id, {}, std::move(r)});
      return;
    }
    outcome.type = EventType::kTaskFailed;
    outcome.failure = result.failure;
    deliver(r.task.instance_id, std::move(outcome));
  }

  const detail::Registry& registry_;
  int64_t now_ms_ = 1'000'000;
  uint64_t work_id_ = 0;
  std::map<std::string, Instance> instances_;
  std::multimap<int64_t, Later> later_;  // by due time, then insertion order
  std::vector<Attempt> attempts_;
};

class Examples : public ::testing::Test {
 protected:
  Examples() {
    WorkerOptions options;
    options.handle_signals = false;
    worker_ = std::make_unique<Worker>(options);
    examples::register_all_examples(*worker_);
    engine_ = std::make_unique<ToyEngine>(detail::WorkerAccess::registry(*worker_));
  }

  // Starts `name` as instance "ex-1", runs to the end, returns the instance.
  template <class I>
  const ToyEngine::Instance& run(const std::string& name, const I& input) {
    engine_->start("ex-1", name, to_bytes(input));
    engine_->run();
    return engine_->instance("ex-1");
  }

  static std::string text(const ToyEngine::Instance& inst) {
    EXPECT_EQ(inst.status, OrchestrationStatus::kCompleted)
        << inst.failure.error_type << ": " << inst.failure.message;
    return from_bytes<std::string>(inst.output);
  }

  std::unique_ptr<Worker> worker_;
  std::unique_ptr<ToyEngine> engine_;
};

struct Reminder {
  std::string message;
  int64_t delay_ms = 0;
  MSGPACK_DEFINE_MAP(message, delay_ms)
};
struct ApprovalRequest {
  std::string request;
  int64_t timeout_ms = 0;
  MSGPACK_DEFINE_MAP(request, timeout_ms)
};

TEST_F(Examples, FunctionChainingGreetsThreeTimes) {
  EXPECT_EQ(text(run("function_chaining", std::string("World"))),
            "Hello World! How are you today? I hope you're doing well!");
}

TEST_F(Examples, FanOutFanInSumsTheLengthsOfAllItems) {
  const auto& inst = run("fan_out_fan_in", 12);
  ASSERT_EQ(inst.status, OrchestrationStatus::kCompleted) << inst.failure.message;
  EXPECT_EQ(from_bytes<int>(inst.output), 74);
  EXPECT_EQ(engine_->attempts().size(), 13u);  // get_work_items + 12 in parallel
}

TEST_F(Examples, FanOutRunsEveryItemAtOnceWithoutListingThemFirst) {
  const auto& inst = run("fan_out", 12);
  ASSERT_EQ(inst.status, OrchestrationStatus::kCompleted) << inst.failure.message;
  EXPECT_EQ(from_bytes<int>(inst.output), 74);
  ASSERT_EQ(engine_->attempts().size(), 12u);  // no get_work_items
  for (const auto& attempt : engine_->attempts()) EXPECT_EQ(attempt.name, "process_work_item");
}

TEST_F(Examples, FanOutFanInOfFiveAndOfNothing) {
  EXPECT_EQ(from_bytes<int>(run("fan_out_fan_in", 5).output), 30);
  engine_->start("ex-0", "fan_out_fan_in", to_bytes(0));
  engine_->run();
  EXPECT_EQ(engine_->instance("ex-0").status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(from_bytes<int>(engine_->instance("ex-0").output), 0);
}

TEST_F(Examples, SubOrchestrationShipsTheOrderInAChildInstance) {
  EXPECT_EQ(text(run("process_order", std::string("A-1"))),
            "order A-1: reserved A-1, dispatched label-A-1");
  const auto& child = engine_->instance("ex-1:1");
  EXPECT_EQ(child.name, "ship_order");
  EXPECT_EQ(from_bytes<std::string>(child.output), "dispatched label-A-1");
}

TEST_F(Examples, DurableTimerRemindsAfterTheDelay) {
  const int64_t started = engine_->now_ms();
  const auto& inst = run("durable_timer", Reminder{"stand up", 1000});
  EXPECT_EQ(text(inst), "reminder sent: stand up");
  EXPECT_GE(inst.completed_ms - started, 1000);
  EXPECT_EQ(from_bytes<std::string>(inst.custom_status), "reminding");
}

TEST_F(Examples, HumanInteractionIsApprovedByTheEventBeforeTheTimeout) {
  engine_->raise_event_at(engine_->now_ms() + 500, "ex-1", "approval",
                          to_bytes(std::string("alice")));
  const auto& inst = run("human_interaction", ApprovalRequest{"deploy v2", 60000});
  EXPECT_EQ(text(inst), "approved by alice");
  EXPECT_EQ(from_bytes<std::string>(inst.custom_status), "approved by alice");
}

TEST_F(Examples, HumanInteractionTimesOutWithoutAnApproval) {
  engine_->raise_event_at(engine_->now_ms() + 90000, "ex-1", "approval",
                          to_bytes(std::string("too late")));
  const int64_t started = engine_->now_ms();
  const auto& inst = run("human_interaction", ApprovalRequest{"deploy v2", 60000});
  EXPECT_EQ(text(inst), "timed out");
  EXPECT_EQ(inst.completed_ms - started, 60000);
}

TEST_F(Examples, HumanInteractionTakesAnApprovalRaisedBeforeItWaits) {
  engine_->start("ex-1", "human_interaction", to_bytes(ApprovalRequest{"deploy v2", 60000}));
  // In the first step, with ExecutionStarted: the orchestrator is still
  // requesting the approval, so the event is buffered until it waits.
  engine_->raise_event("ex-1", "approval", to_bytes(std::string("early bird")));
  engine_->run();
  EXPECT_EQ(text(engine_->instance("ex-1")), "approved by early bird");
}

TEST_F(Examples, RetrySucceedsOnTheThirdAttemptAfterBackoff) {
  const auto& inst = run("retry", msgpack::type::nil_t());
  EXPECT_EQ(text(inst), "flaky succeeded on attempt 3");
  const auto& attempts = engine_->attempts();
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_TRUE(attempts[0].failed);
  EXPECT_TRUE(attempts[1].failed);
  EXPECT_FALSE(attempts[2].failed);
  EXPECT_EQ(attempts[1].at_ms - attempts[0].at_ms, 100);
  EXPECT_EQ(attempts[2].at_ms - attempts[1].at_ms, 200);
}

TEST_F(Examples, ErrorHandlingCompensatesAFailedCharge) {
  EXPECT_EQ(text(run("error_handling", std::string("A-1"))),
            "charge_payment failed (std::runtime_error: card declined for order A-1); "
            "compensated with cancel_order: order A-1 cancelled");
}

}  // namespace
}  // namespace baton
