// The worker runtime against a fake broker: a ROUTER socket on
// tcp://127.0.0.1:<random port> in the test process speaking the wire
// protocol. Every wait has a deadline; nothing sleeps a fixed time. The
// metrics tests scrape the worker's HTTP server (127.0.0.1, port 0; the port
// from Worker::metrics_port()).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "tests/support/metrics_text.h"
#include "baton/clock.h"
#include "baton/config.h"
#include "baton/payload.h"
#include "baton/protocol.h"
#include "baton/wire.h"
#include "baton/worker.h"
#include "tests/support/http.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kDeadline = 5s;

Task<std::string> function_chaining(OrchestrationContext& ctx, std::string name) {
  auto a = co_await ctx.call_activity<std::string>("say_hello", name);
  auto b = co_await ctx.call_activity<std::string>("process_greeting", a);
  co_return co_await ctx.call_activity<std::string>("finalize_response", b);
}

// Returns a string of n bytes.
Task<std::string> big_result(OrchestrationContext&, int n) {
  co_return std::string(static_cast<std::size_t>(n), 'x');
}

// Passes a string of n bytes to an activity.
Task<std::string> big_input(OrchestrationContext& ctx, int n) {
  const std::string input(static_cast<std::size_t>(n), 'x');
  co_return co_await ctx.call_activity<std::string>("say_hello", input);
}

// Lets a test hold an activity inside the worker until it says so. Thread-safe.
class Latch {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // True if opened before the deadline.
  bool wait(std::chrono::milliseconds timeout = kDeadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;  // guarded by mu_
};

// The broker's side of the worker link. Thread-safety: test thread only.
class FakeBroker {
 public:
  FakeBroker() : router_(ctx_, zmq::socket_type::router) {
    router_.set(zmq::sockopt::router_handover, 1);  // a reconnecting worker keeps its id
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  }

  const std::string& endpoint() const { return endpoint_; }
  // While true, expect() sends a Heartbeat every 200 ms so the worker sees a live broker.
  void set_heartbeats(bool on) { heartbeats_ = on; }
  void set_incarnation(uint64_t incarnation) { incarnation_ = incarnation; }
  // Whether its Heartbeats say it takes ResultBatch messages.
  void set_result_batches(bool on) { result_batches_ = on; }

  // The next message from the worker other than a Heartbeat (all are
  // recorded in seen()), or nullopt at the deadline.
  std::optional<wire::Received> next(std::chrono::milliseconds timeout = kDeadline) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      maybe_heartbeat();
      std::array<zmq::pollitem_t, 1> items{};
      items[0] = {router_.handle(), 0, static_cast<short>(ZMQ_POLLIN), 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      zmq::poll(items.data(), 1, std::clamp(left, 0ms, 100ms));
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      Result<wire::Received> msg = wire::recv(router_, /*router=*/true);
      if (!msg) continue;
      identity_ = msg->identity;
      seen_.push_back(msg->type);
      if (msg->type != MsgType::kHeartbeat) return std::move(*msg);
    }
    return std::nullopt;
  }

  // The next message of type T (not Heartbeat) from the worker (others are
  // recorded in seen() and skipped), or nullopt at the deadline.
  template <class T>
  std::optional<T> expect(std::chrono::milliseconds timeout = kDeadline) {
    static_assert(T::kType != MsgType::kHeartbeat);
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      std::optional<wire::Received> msg =
          next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (!msg) break;
      if (msg->type != T::kType) continue;
      Result<T> decoded = wire::decode<T>(msg->body_view());
      EXPECT_TRUE(decoded.is_ok()) << decoded.status().to_string();
      if (decoded) return std::move(*decoded);
    }
    return std::nullopt;
  }

  template <class T>
  void send(const T& msg) {
    ASSERT_TRUE(wire::send(router_, msg, identity_));
  }
  void send_frames(const std::vector<std::string>& frames) {
    ASSERT_TRUE(router_.send(zmq::buffer(identity_), zmq::send_flags::sndmore));
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      ASSERT_TRUE(router_.send(zmq::buffer(frames[i]), flags));
    }
  }
  void heartbeat() { send(Heartbeat{"fake-broker", incarnation_, result_batches_}); }

  const std::vector<MsgType>& seen() const { return seen_; }

 private:
  void maybe_heartbeat() {
    if (!heartbeats_ || identity_.empty()) return;
    if (Clock::now() - last_heartbeat_ < 200ms) return;
    last_heartbeat_ = Clock::now();
    heartbeat();
  }

  zmq::context_t ctx_{1};
  zmq::socket_t router_;
  std::string endpoint_;
  std::string identity_;
  bool heartbeats_ = true;
  uint64_t incarnation_ = 1;
  bool result_batches_ = false;
  Clock::time_point last_heartbeat_{};
  std::vector<MsgType> seen_;
};

using Labels = std::map<std::string, std::string>;

using testing::metric;

Labels queue_labels(const std::string& kind) {
  return {{"namespace", "default"}, {"task_queue", "default"}, {"kind", kind}};
}

// GET path from the worker's metrics server; status 0 when the request failed.
test::HttpResponse http(int port, const std::string& path) {
  auto r = test::http_get("127.0.0.1", port, path);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : test::HttpResponse{};
}

// Polls GET path until `pred` holds or the deadline passes; the last
// response is left in `last`.
bool http_until(int port, const std::string& path,
                const std::function<bool(const test::HttpResponse&)>& pred,
                test::HttpResponse& last) {
  const auto deadline = Clock::now() + kDeadline;
  while (Clock::now() < deadline) {
    last = http(port, path);
    if (pred(last)) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

ActivityTask activity_task(uint64_t work_id, const std::string& name, Bytes input) {
  ActivityTask t;
  t.work_id = work_id;
  t.task_id = static_cast<int64_t>(work_id) * 10;
  t.attempt = 1;
  t.ns = "default";
  t.instance_id = "inst-1";
  t.task_queue = "default";
  t.name = name;
  t.input = std::move(input);
  return t;
}

class WorkerRuntime : public ::testing::Test {
 protected:
  // Reads what the worker sends until its ActivityResult, keeping the
  // ActivityHeartbeats that came before it.
  void collect_until_result(std::vector<ActivityHeartbeat>& heartbeats,
                            std::optional<ActivityResult>& result) {
    while (!result) {
      std::optional<wire::Received> msg = broker_.next();
      ASSERT_TRUE(msg.has_value()) << "no ActivityResult";
      if (msg->type == MsgType::kActivityHeartbeat) {
        Result<ActivityHeartbeat> hb = wire::decode<ActivityHeartbeat>(msg->body_view());
        ASSERT_TRUE(hb.is_ok()) << hb.status().to_string();
        heartbeats.push_back(*hb);
      } else if (msg->type == MsgType::kActivityResult) {
        Result<ActivityResult> r = wire::decode<ActivityResult>(msg->body_view());
        ASSERT_TRUE(r.is_ok());
        result = *r;
      }
    }
  }

  WorkerRuntime() {
    options_.broker_address = broker_.endpoint();
    options_.worker_id = "test-worker-" + std::to_string(random_u64() % 1000000);
    options_.activity_slots = 4;
    options_.orchestration_slots = 8;
    options_.drain_timeout = 10s;
    options_.handle_signals = false;
  }

  ~WorkerRuntime() override {
    release_->open();
    if (result_.valid()) {
      worker_->stop();
      result_.wait();
    }
  }

  void start() {
    worker_ = std::make_unique<Worker>(options_);
    worker_->add_orchestrator("function_chaining", function_chaining);
    worker_->add_orchestrator("big_result", big_result);
    worker_->add_orchestrator("big_input", big_input);
    worker_->add_activity("say_hello",
                          [](ActivityContext&, std::string n) { return "Hello " + n + "!"; });
    worker_->add_activity("process_greeting", [](ActivityContext&, std::string s) {
      return s + " How are you today?";
    });
    worker_->add_activity("finalize_response", [](ActivityContext&, std::string s) {
      return s + " I hope you're doing well!";
    });
    worker_->add_activity(
        "explode", [](ActivityContext&, int) -> int { throw std::length_error("too long"); });
    worker_->add_activity("big_output", [](ActivityContext&, int n) {
      return std::string(static_cast<std::size_t>(n), 'x');
    });
    // Heartbeats 1..steps (resuming after the last details of an earlier
    // attempt); the first attempt then crashes.
    worker_->add_activity("progress", [](ActivityContext& ctx, int steps) {
      const int from = ctx.last_heartbeat_details<int>().value_or(0);
      for (int i = from + 1; i <= steps; ++i) ctx.heartbeat(i);
      if (ctx.attempt() == 1) throw std::runtime_error("crashed after " + std::to_string(steps));
      return "resumed after " + std::to_string(from);
    });
    // Latches are shared: after an abandoned drain this runs on a detached thread.
    worker_->add_activity("hold",
                          [held = held_, release = release_, done = done_](ActivityContext& ctx) {
                            ctx.heartbeat(std::string("holding"));
                            held->open();
                            const bool released = release->wait(10s);
                            done->open();
                            return std::string(released ? "released" : "timed out");
                          });
    result_ = std::async(std::launch::async, [this] { return worker_->run(); });
  }

  // Starts the worker and consumes its WorkerReady.
  WorkerReady start_and_register() {
    start();
    auto ready = broker_.expect<WorkerReady>();
    EXPECT_TRUE(ready.has_value()) << "no WorkerReady";
    broker_.heartbeat();
    return ready.value_or(WorkerReady{});
  }

  bool run_returned(std::chrono::milliseconds timeout) {
    return result_.wait_for(timeout) == std::future_status::ready;
  }

  FakeBroker broker_;
  WorkerOptions options_;
  std::unique_ptr<Worker> worker_;
  std::future<int> result_;
  std::shared_ptr<Latch> held_ = std::make_shared<Latch>();
  std::shared_ptr<Latch> release_ = std::make_shared<Latch>();
  std::shared_ptr<Latch> done_ = std::make_shared<Latch>();
};

TEST_F(WorkerRuntime, AnnouncesItselfWithWorkerReady) {
  WorkerReady ready = start_and_register();
  EXPECT_EQ(ready.worker_id, options_.worker_id);
  EXPECT_NE(ready.incarnation, 0u);
  EXPECT_EQ(ready.ns, "default");
  EXPECT_THAT(ready.task_queues, ::testing::ElementsAre("default"));
  EXPECT_EQ(ready.activity_slots, 4);
  EXPECT_EQ(ready.orchestration_slots, 8);
  EXPECT_TRUE(ready.task_batches) << "it takes DispatchBatch";
  EXPECT_THAT(ready.orchestrators,
              ::testing::ElementsAre("big_input", "big_result", "function_chaining"));
  EXPECT_THAT(ready.activities,
              ::testing::ElementsAre("big_output", "explode", "finalize_response", "hold",
                                     "process_greeting", "progress", "say_hello"));
}

TEST_F(WorkerRuntime, RunsAnActivityTaskAndSendsItsResult) {
  start_and_register();
  broker_.send(activity_task(1, "say_hello", to_bytes(std::string("World"))));
  auto result = broker_.expect<ActivityResult>();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->work_id, 1u);
  EXPECT_EQ(result->task_id, 10);
  EXPECT_EQ(result->attempt, 1);
  EXPECT_EQ(result->instance_id, "inst-1");
  EXPECT_FALSE(result->failed);
  EXPECT_EQ(from_bytes<std::string>(result->output), "Hello World!");
}

TEST_F(WorkerRuntime, FailingAndUnknownActivitiesComeBackAsFailedResults) {
  start_and_register();
  broker_.send(activity_task(1, "explode", to_bytes(1)));
  auto failed = broker_.expect<ActivityResult>();
  ASSERT_TRUE(failed.has_value());
  EXPECT_TRUE(failed->failed);
  EXPECT_EQ(failed->failure.error_type, "std::length_error");
  EXPECT_EQ(failed->failure.message, "too long");

  broker_.send(activity_task(2, "nobody_has_this", {}));
  auto missing = broker_.expect<ActivityResult>();
  ASSERT_TRUE(missing.has_value());
  EXPECT_TRUE(missing->failed);
  EXPECT_EQ(missing->failure.error_type, "ActivityNotFound");
}

TEST_F(WorkerRuntime, ActivityHeartbeatsReachTheBrokerBeforeTheResultWithTheLatestDetails) {
  start_and_register();
  broker_.send(activity_task(11, "progress", to_bytes(3)));
  std::vector<ActivityHeartbeat> heartbeats;
  std::optional<ActivityResult> result;
  ASSERT_NO_FATAL_FAILURE(collect_until_result(heartbeats, result));
  EXPECT_TRUE(result->failed);
  EXPECT_EQ(result->failure.message, "crashed after 3");
  // Three calls within 500 ms: the first is handed over at once, the latest
  // before the failed result; the ones in between are dropped (and a queued
  // heartbeat is replaced by a newer one of the same activity).
  ASSERT_GE(heartbeats.size(), 1u);
  EXPECT_LE(heartbeats.size(), 2u);
  for (const ActivityHeartbeat& hb : heartbeats) {
    EXPECT_EQ(hb.work_id, 11u);
    EXPECT_EQ(hb.task_id, 110);
    EXPECT_EQ(hb.attempt, 1);
  }
  EXPECT_THAT(from_bytes<int>(heartbeats.front().details), ::testing::AnyOf(1, 3));
  EXPECT_EQ(from_bytes<int>(heartbeats.back().details), 3);

  // The next attempt gets the last details back (the scheduler's job in production).
  ActivityTask retry = activity_task(12, "progress", to_bytes(3));
  retry.task_id = 110;
  retry.attempt = 2;
  retry.heartbeat_timeout_ms = 1000;
  retry.heartbeat_details = heartbeats.back().details;
  broker_.send(retry);
  auto second = broker_.expect<ActivityResult>();
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->failed) << second->failure.message;
  EXPECT_EQ(from_bytes<std::string>(second->output), "resumed after 3");
}

TEST_F(WorkerRuntime, AHeartbeatIsSentWhileTheActivityIsStillRunning) {
  start_and_register();
  broker_.send(activity_task(13, "hold", {}));
  auto hb = broker_.expect<ActivityHeartbeat>();
  ASSERT_TRUE(hb.has_value());
  EXPECT_EQ(hb->work_id, 13u);
  EXPECT_EQ(from_bytes<std::string>(hb->details), "holding");
  ASSERT_TRUE(held_->wait());
  EXPECT_THAT(broker_.seen(), ::testing::Not(::testing::Contains(MsgType::kActivityResult)))
      << "the activity is still running";
  release_->open();
  auto result = broker_.expect<ActivityResult>();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(from_bytes<std::string>(result->output), "released");
}

TEST_F(WorkerRuntime, ReportStartSendsAHeartbeatBeforeTheResultAndOnlyWhenAsked) {
  start_and_register();
  for (bool report_start : {true, false}) {
    SCOPED_TRACE(report_start ? "report_start" : "no report_start");
    const uint64_t work_id = report_start ? 21 : 22;
    ActivityTask task = activity_task(work_id, "say_hello", to_bytes(std::string("World")));
    task.report_start = report_start;
    broker_.send(task);
    std::vector<ActivityHeartbeat> heartbeats;
    std::optional<ActivityResult> result;
    ASSERT_NO_FATAL_FAILURE(collect_until_result(heartbeats, result));
    EXPECT_EQ(result->work_id, work_id);
    EXPECT_FALSE(result->failed);
    if (!report_start) {
      EXPECT_TRUE(heartbeats.empty()) << "say_hello never heartbeats";
      continue;
    }
    ASSERT_EQ(heartbeats.size(), 1u);
    EXPECT_EQ(heartbeats[0].work_id, work_id);
    EXPECT_EQ(heartbeats[0].task_id, static_cast<int64_t>(work_id) * 10);
    EXPECT_EQ(heartbeats[0].attempt, 1);
    EXPECT_TRUE(heartbeats[0].details.empty());
  }
}

TEST_F(WorkerRuntime, DrivesFunctionChainingToCompletionOverTheWire) {
  start_and_register();
  std::vector<HistoryEvent> history;
  std::vector<HistoryEvent> fresh;
  HistoryEvent started;
  started.type = EventType::kOrchestratorStarted;
  started.timestamp_ms = 1;
  HistoryEvent exec;
  exec.type = EventType::kExecutionStarted;
  exec.name = "function_chaining";
  exec.input = to_bytes(std::string("World"));
  fresh = {started, exec};

  std::optional<Bytes> output;
  uint64_t work_id = 100;
  for (int step = 0; step < 10 && !output; ++step) {
    OrchestrationTask t;
    t.work_id = ++work_id;
    t.ns = "default";
    t.instance_id = "chain-1";
    t.task_queue = "default";
    t.name = "function_chaining";
    t.past_events = history;
    t.new_events = fresh;
    broker_.send(t);
    auto r = broker_.expect<OrchestrationResult>();
    ASSERT_TRUE(r.has_value()) << "no OrchestrationResult at step " << step;
    ASSERT_EQ(r->work_id, work_id);
    history.insert(history.end(), fresh.begin(), fresh.end());
    fresh.clear();
    for (const Action& a : r->actions) {
      if (a.type == ActionType::kCompleteOrchestration) {
        ASSERT_EQ(a.status, OrchestrationStatus::kCompleted) << a.failure.message;
        output = a.result;
        break;
      }
      ASSERT_EQ(a.type, ActionType::kScheduleTask);
      HistoryEvent scheduled;
      scheduled.type = EventType::kTaskScheduled;
      scheduled.event_id = a.id;
      scheduled.name = a.name;
      history.push_back(scheduled);
      broker_.send(activity_task(++work_id, a.name, a.input));
      auto ar = broker_.expect<ActivityResult>();
      ASSERT_TRUE(ar.has_value());
      ASSERT_FALSE(ar->failed) << ar->failure.message;
      started.timestamp_ms += 1;
      HistoryEvent completed;
      completed.type = EventType::kTaskCompleted;
      completed.task_scheduled_id = a.id;
      completed.result = ar->output;
      fresh = {started, completed};
    }
  }
  ASSERT_TRUE(output.has_value());
  EXPECT_EQ(from_bytes<std::string>(*output),
            "Hello World! How are you today? I hope you're doing well!");
}

// ------------------------------------------------- sticky orchestrations

HistoryEvent orchestrator_started(int64_t timestamp_ms) {
  HistoryEvent e;
  e.type = EventType::kOrchestratorStarted;
  e.timestamp_ms = timestamp_ms;
  return e;
}
HistoryEvent chain_started() {
  HistoryEvent e;
  e.type = EventType::kExecutionStarted;
  e.name = "function_chaining";
  e.input = to_bytes(std::string("World"));
  return e;
}
HistoryEvent task_scheduled(int32_t id, const std::string& name) {
  HistoryEvent e;
  e.type = EventType::kTaskScheduled;
  e.event_id = id;
  e.name = name;
  return e;
}
HistoryEvent task_completed(int32_t id, const std::string& result) {
  HistoryEvent e;
  e.type = EventType::kTaskCompleted;
  e.task_scheduled_id = id;
  e.result = to_bytes(result);
  return e;
}

// A step of function_chaining instance `instance_id`.
OrchestrationTask chain_step(uint64_t work_id, const std::string& instance_id, uint64_t token,
                             int32_t past_from, std::vector<HistoryEvent> past,
                             std::vector<HistoryEvent> fresh) {
  OrchestrationTask t;
  t.work_id = work_id;
  t.ns = "default";
  t.instance_id = instance_id;
  t.task_queue = "default";
  t.name = "function_chaining";
  t.cache_token = token;
  t.past_from = past_from;
  t.past_events = std::move(past);
  t.new_events = std::move(fresh);
  return t;
}

// Steps 1 and 2 of a chain: the first with the whole (empty) history, the
// second resuming it (past_from 2: OrchestratorStarted, ExecutionStarted).
OrchestrationTask chain_first(uint64_t work_id, const std::string& instance_id, uint64_t token) {
  return chain_step(work_id, instance_id, token, 0, {},
                    {orchestrator_started(1), chain_started()});
}
OrchestrationTask chain_second(uint64_t work_id, const std::string& instance_id, uint64_t token,
                               int32_t past_from = 2) {
  return chain_step(work_id, instance_id, token, past_from, {task_scheduled(0, "say_hello")},
                    {orchestrator_started(2), task_completed(0, "Hello World!")});
}

class StickyRuntime : public WorkerRuntime {
 protected:
  OrchestrationResult step(const OrchestrationTask& task) {
    broker_.send(task);
    std::optional<OrchestrationResult> r = broker_.expect<OrchestrationResult>();
    EXPECT_TRUE(r.has_value()) << "no OrchestrationResult for work " << task.work_id;
    if (!r) return {};
    EXPECT_EQ(r->work_id, task.work_id);
    EXPECT_EQ(r->instance_id, task.instance_id);
    EXPECT_EQ(r->worker_id, options_.worker_id);
    return *r;
  }
  static void expect_miss(const OrchestrationResult& r) {
    EXPECT_TRUE(r.cache_miss);
    EXPECT_FALSE(r.cached);
    EXPECT_TRUE(r.actions.empty());
    EXPECT_FALSE(r.has_custom_status);
  }
  static void expect_scheduled(const OrchestrationResult& r, int32_t id, const std::string& name) {
    EXPECT_FALSE(r.cache_miss);
    ASSERT_EQ(r.actions.size(), 1u);
    EXPECT_EQ(r.actions[0].type, ActionType::kScheduleTask);
    EXPECT_EQ(r.actions[0].id, id);
    EXPECT_EQ(r.actions[0].name, name);
  }
};

TEST_F(StickyRuntime, APartialStepResumesTheCachedOrchestratorOnlyWithItsTokenAndPosition) {
  options_.metrics_address = "127.0.0.1:0";
  start_and_register();

  OrchestrationResult first = step(chain_first(1, "sticky-1", 7));
  expect_scheduled(first, 0, "say_hello");
  EXPECT_TRUE(first.cached);

  OrchestrationResult second = step(chain_second(2, "sticky-1", 7));
  expect_scheduled(second, 1, "process_greeting");
  EXPECT_TRUE(second.cached);
  EXPECT_EQ(from_bytes<std::string>(second.actions[0].input), "Hello World!");

  // Wrong position (5 events applied, not 4): a miss, and the entry is gone.
  expect_miss(step(chain_step(3, "sticky-1", 7, 4, {task_scheduled(1, "process_greeting")},
                              {orchestrator_started(3),
                               task_completed(1, "Hello World! How are you today?")})));
  expect_miss(step(chain_step(4, "sticky-1", 7, 5, {task_scheduled(1, "process_greeting")},
                              {orchestrator_started(3),
                               task_completed(1, "Hello World! How are you today?")})));

  // The whole history again: replayed, cached again under the new token.
  std::vector<HistoryEvent> history = {orchestrator_started(1), chain_started(),
                                       task_scheduled(0, "say_hello"), orchestrator_started(2),
                                       task_completed(0, "Hello World!"),
                                       task_scheduled(1, "process_greeting")};
  OrchestrationResult third = step(chain_step(
      5, "sticky-1", 8, 0, history,
      {orchestrator_started(3), task_completed(1, "Hello World! How are you today?")}));
  expect_scheduled(third, 2, "finalize_response");
  EXPECT_TRUE(third.cached);

  // Another token at the right position (8 events applied): a miss, and
  // the entry is dropped.
  expect_miss(step(chain_step(6, "sticky-1", 9, 8, {task_scheduled(2, "finalize_response")},
                              {orchestrator_started(4), task_completed(2, "done")})));
  expect_miss(step(chain_step(16, "sticky-1", 8, 8, {task_scheduled(2, "finalize_response")},
                              {orchestrator_started(4), task_completed(2, "done")})));
  // Unknown instance.
  expect_miss(step(chain_second(7, "never-seen", 7)));

  // A completed execution is not kept.
  OrchestrationResult restarted = step(chain_first(8, "sticky-2", 11));
  EXPECT_TRUE(restarted.cached);
  EXPECT_TRUE(step(chain_second(9, "sticky-2", 11)).cached);
  OrchestrationResult last = step(chain_step(
      10, "sticky-2", 11, 5, {task_scheduled(1, "process_greeting")},
      {orchestrator_started(3), task_completed(1, "x")}));
  EXPECT_TRUE(last.cached);
  OrchestrationResult done = step(chain_step(11, "sticky-2", 11, 8,
                                             {task_scheduled(2, "finalize_response")},
                                             {orchestrator_started(4), task_completed(2, "out")}));
  ASSERT_EQ(done.actions.size(), 1u);
  EXPECT_EQ(done.actions[0].type, ActionType::kCompleteOrchestration);
  EXPECT_EQ(from_bytes<std::string>(done.actions[0].result), "out");
  EXPECT_FALSE(done.cached);
  expect_miss(step(chain_step(12, "sticky-2", 11, 11, {}, {orchestrator_started(5)})));

  // No token: replayed as before, not kept.
  OrchestrationResult untracked = step(chain_first(13, "sticky-3", 0));
  expect_scheduled(untracked, 0, "say_hello");
  EXPECT_FALSE(untracked.cached);
  expect_miss(step(chain_second(14, "sticky-3", 0)));

  const std::string text = http(worker_->metrics_port(), "/metrics").body;
  EXPECT_EQ(metric(text, "baton_worker_orchestration_cache_total", {{"result", "hit"}}), 4)
      << text;
  EXPECT_EQ(metric(text, "baton_worker_orchestration_cache_total", {{"result", "miss"}}), 7)
      << text;
  EXPECT_EQ(metric(text, "baton_worker_cached_orchestrations"), 0) << text;
}

// Eager steps (ActivityTask.next_step): the activity's worker, keeping the
// orchestrator in exactly the state the step expects, runs the step its
// completion starts and returns it with the result; in any other state it
// returns the result alone and leaves its cached orchestrator untouched.
TEST_F(StickyRuntime, AnActivityRunsTheStepItsCompletionStartsOnlyOnTheExactCachedState) {
  start_and_register();
  expect_scheduled(step(chain_first(1, "eager-1", 7)), 0, "say_hello");
  // say_hello of eager-1 (task_scheduled_id 0), offered the step at
  // past_from 2 under `token`, not before `earliest_ms`.
  auto say_hello = [](uint64_t work_id, uint64_t token, int32_t past_from, int64_t earliest_ms) {
    ActivityTask t = activity_task(work_id, "say_hello", to_bytes(std::string("World")));
    t.instance_id = "eager-1";
    t.task_scheduled_id = 0;
    t.attempt = 2;
    OrchestrationTask next = chain_step(0, "eager-1", token, past_from,
                                        {task_scheduled(0, "say_hello")},
                                        {orchestrator_started(earliest_ms)});
    t.next_step.push_back(std::move(next));
    return t;
  };
  auto run = [this](const ActivityTask& t) {
    broker_.send(t);
    std::optional<ActivityResult> r = broker_.expect<ActivityResult>();
    EXPECT_TRUE(r.has_value()) << "no ActivityResult for work " << t.work_id;
    if (r) {
      EXPECT_EQ(from_bytes<std::string>(r->output), "Hello World!");
    }
    return r.value_or(ActivityResult{});
  };

  // Another token, another position: the result alone.
  for (const ActivityTask& t : {say_hello(2, 8, 2, 0), say_hello(3, 7, 3, 0)}) {
    const ActivityResult alone = run(t);
    EXPECT_TRUE(alone.next_step.empty()) << "work " << t.work_id;
    EXPECT_EQ(alone.next_step_at_ms, 0);
  }
  // The exact state: the step runs at once, at the earliest time it may claim.
  const int64_t earliest = SystemClock().now_ms() + 3600 * 1000;
  const ActivityResult eager = run(say_hello(4, 7, 2, earliest));
  ASSERT_EQ(eager.next_step.size(), 1u);
  EXPECT_EQ(eager.next_step_at_ms, earliest);
  const OrchestrationResult& next = eager.next_step.front();
  expect_scheduled(next, 1, "process_greeting");
  EXPECT_EQ(from_bytes<std::string>(next.actions[0].input), "Hello World!");
  EXPECT_TRUE(next.cached);
  EXPECT_EQ(next.worker_id, options_.worker_id);
  EXPECT_EQ(next.instance_id, "eager-1");
  // The orchestrator went on from there: 5 events applied, same token.
  expect_scheduled(step(chain_step(5, "eager-1", 7, 5, {task_scheduled(1, "process_greeting")},
                                   {orchestrator_started(3),
                                    task_completed(1, "Hello World! How are you today?")})),
                   2, "finalize_response");
  // A failed activity offers no step.
  ActivityTask failing = activity_task(6, "explode", to_bytes(1));
  failing.instance_id = "eager-1";
  failing.next_step.push_back(chain_step(0, "eager-1", 7, 8, {task_scheduled(2, "finalize_response")},
                                         {orchestrator_started(4)}));
  broker_.send(failing);
  std::optional<ActivityResult> failed = broker_.expect<ActivityResult>();
  ASSERT_TRUE(failed.has_value());
  EXPECT_TRUE(failed->failed);
  EXPECT_TRUE(failed->next_step.empty());
}

TEST_F(StickyRuntime, ZeroMaxCachedOrchestrationsNeverCaches) {
  options_.max_cached_orchestrations = 0;
  start_and_register();
  OrchestrationResult first = step(chain_first(1, "uncached", 7));
  expect_scheduled(first, 0, "say_hello");
  EXPECT_FALSE(first.cached);
  expect_miss(step(chain_second(2, "uncached", 7)));
}

TEST_F(StickyRuntime, AStepFailedByThePayloadLimitIsNotCached) {
  options_.max_payload_bytes = 1000;
  start_and_register();
  HistoryEvent exec;
  exec.type = EventType::kExecutionStarted;
  exec.name = "big_input";
  exec.input = to_bytes(5000);
  OrchestrationTask big = chain_step(1, "too-big", 7, 0, {}, {orchestrator_started(1), exec});
  big.name = "big_input";
  OrchestrationResult r = step(big);
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].failure.error_type, "PayloadTooLarge");
  EXPECT_FALSE(r.cached) << "the orchestrator did not fail; the worker failed it";
  OrchestrationTask next = chain_step(2, "too-big", 7, 2, {}, {orchestrator_started(2)});
  next.name = "big_input";
  expect_miss(step(next));
}

TEST_F(StickyRuntime, TheLeastRecentlyUsedOrchestratorIsEvictedBeyondTheBound) {
  options_.max_cached_orchestrations = 2;
  options_.metrics_address = "127.0.0.1:0";
  start_and_register();
  for (uint64_t i = 1; i <= 2; ++i) {
    OrchestrationResult r = step(chain_first(i, "lru-" + std::to_string(i), 100 + i));
    EXPECT_TRUE(r.cached);
    EXPECT_TRUE(r.evicted.empty());
  }
  // lru-1 was evicted when lru-3 came, and lru-3's result says so (with
  // lru-1's token); lru-2 and lru-3 are kept.
  OrchestrationResult third = step(chain_first(3, "lru-3", 103));
  EXPECT_TRUE(third.cached);
  ASSERT_EQ(third.evicted.size(), 1u);
  EXPECT_EQ(third.evicted[0].ns, third.ns);
  EXPECT_EQ(third.evicted[0].instance_id, "lru-1");
  EXPECT_EQ(third.evicted[0].cache_token, 101u);
  expect_miss(step(chain_second(11, "lru-1", 101)));
  OrchestrationResult three = step(chain_second(13, "lru-3", 103));
  expect_scheduled(three, 1, "process_greeting");
  EXPECT_TRUE(three.cached);
  EXPECT_TRUE(three.evicted.empty()) << "each eviction is reported once";
  OrchestrationResult two = step(chain_second(12, "lru-2", 102));
  expect_scheduled(two, 1, "process_greeting");
  EXPECT_TRUE(two.cached);
  EXPECT_EQ(metric(http(worker_->metrics_port(), "/metrics").body,
                   "baton_worker_cached_orchestrations"),
            2);
}

// ---------------------------------------------------------------- batches

TEST_F(WorkerRuntime, RunsEveryItemOfADispatchBatchAndAnswersEachAloneToABrokerTakingNoBatches) {
  start_and_register();
  DispatchBatch batch;
  for (uint64_t id : {1, 2, 3}) {
    batch.activities.push_back(
        activity_task(id, "say_hello", to_bytes("World " + std::to_string(id))));
  }
  batch.orchestrations.push_back(chain_first(4, "chain-4", 0));
  broker_.send(batch);
  std::map<uint64_t, std::string> outputs;
  std::optional<OrchestrationResult> step;
  while (outputs.size() < 3 || !step) {
    std::optional<wire::Received> msg = broker_.next();
    ASSERT_TRUE(msg.has_value()) << outputs.size() << " activity results";
    ASSERT_NE(msg->type, MsgType::kResultBatch) << "the broker said it takes none";
    if (msg->type == MsgType::kActivityResult) {
      auto r = wire::decode<ActivityResult>(msg->body_view());
      ASSERT_TRUE(r.is_ok());
      outputs[r->work_id] = from_bytes<std::string>(r->output);
    } else if (msg->type == MsgType::kOrchestrationResult) {
      auto r = wire::decode<OrchestrationResult>(msg->body_view());
      ASSERT_TRUE(r.is_ok());
      step = *r;
    }
  }
  EXPECT_EQ(outputs, (std::map<uint64_t, std::string>{
                         {1, "Hello World 1!"}, {2, "Hello World 2!"}, {3, "Hello World 3!"}}));
  ASSERT_EQ(step->actions.size(), 1u);
  EXPECT_EQ(step->actions[0].name, "say_hello");
}

TEST_F(WorkerRuntime, ResultsReadyTogetherLeaveInOneResultBatchWhenTheBrokerTakesThem) {
  broker_.set_result_batches(true);
  start_and_register();
  // Short steps run on the I/O thread: the three results are ready together.
  DispatchBatch batch;
  for (uint64_t id : {1, 2, 3}) {
    batch.orchestrations.push_back(chain_first(id, "chain-" + std::to_string(id), 0));
  }
  broker_.send(batch);
  auto results = broker_.expect<ResultBatch>();
  ASSERT_TRUE(results.has_value());
  EXPECT_TRUE(results->activities.empty());
  ASSERT_EQ(results->orchestrations.size(), 3u);
  std::set<uint64_t> ids;
  for (const Bytes& body : results->orchestrations) {
    auto r = wire::decode<OrchestrationResult>(body);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ids.insert(r->work_id);
    EXPECT_EQ(r->worker_id, options_.worker_id);
  }
  EXPECT_EQ(ids, (std::set<uint64_t>{1, 2, 3}));
}

TEST_F(WorkerRuntime, AMalformedDispatchBatchIsCountedAndTheNextOneRuns) {
  options_.metrics_address = "127.0.0.1:0";
  start_and_register();
  broker_.send_frames({std::string{static_cast<char>(kProtocolVersion),
                                   static_cast<char>(MsgType::kDispatchBatch)},
                       "\x93\x01\x02\x03"});
  DispatchBatch batch;
  batch.activities.push_back(activity_task(7, "say_hello", to_bytes(std::string("again"))));
  broker_.send(batch);
  auto result = broker_.expect<ActivityResult>();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->work_id, 7u);
  EXPECT_EQ(metric(http(worker_->metrics_port(), "/metrics").body, "baton_malformed_frames_total",
                   {{"peer", "broker"}}),
            1);
}

TEST_F(WorkerRuntime, StopSendsWorkerDisconnectAndDrainsInFlightWorkBeforeReturning) {
  start_and_register();
  broker_.send(activity_task(7, "hold", {}));
  ASSERT_TRUE(held_->wait()) << "activity never started";

  worker_->stop();
  ASSERT_TRUE(broker_.expect<WorkerDisconnect>().has_value());
  EXPECT_FALSE(run_returned(0ms)) << "run() returned with an activity in flight";

  release_->open();
  auto result = broker_.expect<ActivityResult>();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->work_id, 7u);
  EXPECT_EQ(from_bytes<std::string>(result->output), "released");
  ASSERT_TRUE(run_returned(kDeadline));
  EXPECT_EQ(result_.get(), 0);
}

TEST_F(WorkerRuntime, DrainGivesUpAfterTheDrainTimeout) {
  options_.drain_timeout = 200ms;
  start_and_register();
  broker_.send(activity_task(7, "hold", {}));
  ASSERT_TRUE(held_->wait());
  worker_->stop();
  ASSERT_TRUE(run_returned(kDeadline));
  EXPECT_EQ(result_.get(), 0);
  release_->open();  // the abandoned activity ends on its detached thread
  EXPECT_TRUE(done_->wait());
}

TEST_F(WorkerRuntime, SigtermStopsTheWorkerLikeStop) {
  options_.handle_signals = true;
  start_and_register();
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  ASSERT_TRUE(broker_.expect<WorkerDisconnect>().has_value());
  ASSERT_TRUE(run_returned(kDeadline));
  EXPECT_EQ(result_.get(), 0);
}

TEST_F(WorkerRuntime, MalformedFramesAreDroppedAndServiceContinues) {
  options_.metrics_address = "127.0.0.1:0";
  start_and_register();
  const std::string version_and_task{static_cast<char>(kProtocolVersion),
                                     static_cast<char>(MsgType::kActivityTask)};
  broker_.send_frames({version_and_task, "\x01\x02 definitely not msgpack"});  // bad body
  broker_.send_frames({std::string("\x09\x2a", 2), "{}"});                     // bad version
  broker_.send_frames({"only one frame"});                                     // bad shape
  broker_.send_frames({std::string{static_cast<char>(kProtocolVersion), '\xee'}, "x"});  // bad type

  // The undecodable ActivityTask consumed a credit: the worker gives it back.
  auto credit = broker_.expect<Credit>();
  ASSERT_TRUE(credit.has_value());
  EXPECT_EQ(credit->activity, 1);
  EXPECT_EQ(credit->orchestration, 0);

  broker_.send(activity_task(3, "say_hello", to_bytes(std::string("again"))));
  auto result = broker_.expect<ActivityResult>();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(from_bytes<std::string>(result->output), "Hello again!");
  // All four were handled before the task that followed them.
  const std::string text = http(worker_->metrics_port(), "/metrics").body;
  EXPECT_EQ(metric(text, "baton_malformed_frames_total", {{"peer", "broker"}}), 4) << text;
}

TEST_F(WorkerRuntime, BrokerRestartAnnouncedByHeartbeatGetsWorkerReadyWithFreeSlots) {
  start_and_register();  // the broker's first incarnation is 1
  broker_.send(activity_task(5, "hold", {}));
  ASSERT_TRUE(held_->wait());

  broker_.set_incarnation(2);
  broker_.heartbeat();
  auto again = broker_.expect<WorkerReady>();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->activity_slots, 3);  // one of four is busy
  EXPECT_EQ(again->orchestration_slots, 8);
  release_->open();
  ASSERT_TRUE(broker_.expect<ActivityResult>().has_value());
}

TEST_F(WorkerRuntime, SilentBrokerMakesTheWorkerReconnectAndResendRecentResults) {
  broker_.set_heartbeats(false);
  options_.metrics_address = "127.0.0.1:0";
  start();
  ASSERT_TRUE(broker_.expect<WorkerReady>().has_value());
  broker_.send(activity_task(9, "say_hello", to_bytes(std::string("you"))));
  ASSERT_TRUE(broker_.expect<ActivityResult>().has_value());

  // No heartbeat for kHeartbeatLiveness intervals: a new connection, a new
  // WorkerReady, then the result the old connection may have lost.
  const auto silent_for = kHeartbeatIntervalMs * (kHeartbeatLiveness + 2) + kDeadline;
  auto ready = broker_.expect<WorkerReady>(silent_for);
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->activity_slots, 4);
  auto resent = broker_.expect<ActivityResult>();
  ASSERT_TRUE(resent.has_value());
  EXPECT_EQ(resent->work_id, 9u);
  EXPECT_EQ(from_bytes<std::string>(resent->output), "Hello you!");

  // The broker never answered: counted as one reconnect, never connected, not ready.
  // (The worker counts the reconnect once its new socket has sent what it
  // sends, so the count may trail the messages by a moment.)
  const int port = worker_->metrics_port();
  ASSERT_GT(port, 0);
  test::HttpResponse last;
  (void)http_until(
      port, "/metrics",
      [](const auto& r) { return metric(r.body, "baton_worker_reconnects_total") >= 1; }, last);
  const std::string& text = last.body;
  EXPECT_EQ(metric(text, "baton_worker_reconnects_total"), 1) << text;
  EXPECT_EQ(metric(text, "baton_worker_broker_connected"), 0) << text;
  const test::HttpResponse readyz = http(port, "/readyz");
  EXPECT_EQ(readyz.status, 503);
  EXPECT_NE(readyz.body.find("broker"), std::string::npos) << readyz.body;
}

TEST_F(WorkerRuntime, BrokerGoodbyeMakesTheWorkerReconnectAtOnceAndKeepsItsResultForTheNextBroker) {
  options_.metrics_address = "127.0.0.1:0";
  start_and_register();
  const int port = worker_->metrics_port();
  ASSERT_GT(port, 0);
  test::HttpResponse last;
  ASSERT_TRUE(http_until(
      port, "/readyz", [](const auto& r) { return r.status == 200; }, last))
      << last.status << " " << last.body;
  broker_.send(activity_task(5, "hold", {}));
  ASSERT_TRUE(held_->wait());

  // The broker leaves and answers nothing until "the next broker" (the same
  // fake, bound to the same address) does.
  broker_.set_heartbeats(false);
  const auto said_goodbye = Clock::now();
  broker_.send(BrokerGoodbye{1, "broker fake-broker is stopping"});
  ASSERT_TRUE(http_until(
      port, "/readyz", [](const auto& r) { return r.status == 503; }, last))
      << last.status << " " << last.body;
  EXPECT_LT(Clock::now() - said_goodbye, kHeartbeatIntervalMs * kHeartbeatLiveness / 2)
      << "not ready at once, not after the liveness window";
  EXPECT_NE(last.body.find("broker"), std::string::npos) << last.body;
  EXPECT_EQ(metric(http(port, "/metrics").body, "baton_worker_broker_connected"), 0);

  // The activity keeps running and ends while no broker answers.
  release_->open();
  ASSERT_TRUE(done_->wait());

  // A new connection announces the worker again, then sends the result.
  auto ready = broker_.expect<WorkerReady>();
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->worker_id, options_.worker_id);
  broker_.heartbeat();
  ASSERT_TRUE(http_until(
      port, "/readyz", [](const auto& r) { return r.status == 200; }, last))
      << last.status << " " << last.body;
  auto result = broker_.expect<ActivityResult>();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->work_id, 5u);
  EXPECT_EQ(from_bytes<std::string>(result->output), "released");
  const std::string text = http(port, "/metrics").body;
  EXPECT_EQ(metric(text, "baton_worker_reconnects_total"), 1) << text;
  EXPECT_EQ(metric(text, "baton_worker_broker_connected"), 1) << text;
}

TEST_F(WorkerRuntime, ActivityOutputOverThePayloadLimitFailsTheAttemptAsNonRetryable) {
  options_.max_payload_bytes = 1000;
  start_and_register();
  broker_.send(activity_task(1, "big_output", to_bytes(2000)));
  auto big = broker_.expect<ActivityResult>();
  ASSERT_TRUE(big.has_value());
  EXPECT_TRUE(big->failed);
  EXPECT_TRUE(big->output.empty());
  EXPECT_EQ(big->failure.error_type, "PayloadTooLarge");
  EXPECT_TRUE(big->failure.non_retryable) << "the retry policy must not run it again";
  const std::string& message = big->failure.message;
  EXPECT_NE(message.find("big_output"), std::string::npos) << message;
  EXPECT_NE(message.find("2003 bytes"), std::string::npos) << message;  // msgpack str16: +3
  EXPECT_NE(message.find("1000-byte"), std::string::npos) << message;

  // At the limit or below is fine.
  broker_.send(activity_task(2, "big_output", to_bytes(997)));
  auto fits = broker_.expect<ActivityResult>();
  ASSERT_TRUE(fits.has_value());
  EXPECT_FALSE(fits->failed) << fits->failure.message;
  EXPECT_EQ(fits->output.size(), 1000u);
}

TEST_F(WorkerRuntime, StepWithAPayloadOverTheLimitFailsTheOrchestration) {
  options_.max_payload_bytes = 1000;
  start_and_register();
  struct Case {
    std::string orchestrator;
    int n;
    std::string what;
    int32_t completion_id;
  };
  const std::vector<Case> cases = {
      {"big_result", 2000, "the output is 2003 bytes", 0},
      {"big_input", 5000, "the input of activity 'say_hello' (action 0) is 5003 bytes", 1},
  };
  uint64_t work_id = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.orchestrator);
    HistoryEvent started;
    started.type = EventType::kOrchestratorStarted;
    started.timestamp_ms = 1;
    HistoryEvent exec;
    exec.type = EventType::kExecutionStarted;
    exec.name = c.orchestrator;
    exec.input = to_bytes(c.n);
    OrchestrationTask t;
    t.work_id = ++work_id;
    t.ns = "default";
    t.instance_id = "big-" + c.orchestrator;
    t.task_queue = "default";
    t.name = c.orchestrator;
    t.new_events = {started, exec};
    broker_.send(t);
    auto r = broker_.expect<OrchestrationResult>();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->work_id, work_id);
    ASSERT_EQ(r->actions.size(), 1u) << "nothing oversized leaves the worker";
    const Action& a = r->actions[0];
    EXPECT_EQ(a.type, ActionType::kCompleteOrchestration);
    EXPECT_EQ(a.status, OrchestrationStatus::kFailed);
    EXPECT_EQ(a.id, c.completion_id);
    EXPECT_TRUE(a.result.empty());
    EXPECT_EQ(a.failure.error_type, "PayloadTooLarge");
    EXPECT_NE(a.failure.message.find(c.what), std::string::npos) << a.failure.message;
    EXPECT_NE(a.failure.message.find("orchestrator '" + c.orchestrator +
                                     "' in instance 'default/big-" + c.orchestrator + "'"),
              std::string::npos)
        << a.failure.message;
    EXPECT_NE(a.failure.message.find("1000-byte"), std::string::npos) << a.failure.message;
  }

  // Small payloads pass untouched.
  HistoryEvent started;
  started.type = EventType::kOrchestratorStarted;
  HistoryEvent exec;
  exec.type = EventType::kExecutionStarted;
  exec.name = "big_result";
  exec.input = to_bytes(10);
  OrchestrationTask small;
  small.work_id = ++work_id;
  small.ns = "default";
  small.instance_id = "small";
  small.task_queue = "default";
  small.name = "big_result";
  small.new_events = {started, exec};
  broker_.send(small);
  auto ok = broker_.expect<OrchestrationResult>();
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->actions.size(), 1u);
  EXPECT_EQ(ok->actions[0].status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(from_bytes<std::string>(ok->actions[0].result), std::string(10, 'x'));
}

TEST_F(WorkerRuntime, MetricsTimeActivitiesAndStepsByNameAndOutcome) {
  options_.metrics_address = "127.0.0.1:0";
  start_and_register();
  const int port = worker_->metrics_port();
  ASSERT_GT(port, 0);
  const int64_t now_ms = SystemClock().now_ms();

  ActivityTask hello = activity_task(1, "say_hello", to_bytes(std::string("World")));
  hello.scheduled_at_ms = now_ms - 250;
  broker_.send(hello);
  ASSERT_TRUE(broker_.expect<ActivityResult>().has_value());
  ActivityTask explode = activity_task(2, "explode", to_bytes(1));
  explode.scheduled_at_ms = now_ms + 60'000;  // a scheduler clock ahead of ours: counts as 0
  broker_.send(explode);
  auto failed = broker_.expect<ActivityResult>();
  ASSERT_TRUE(failed.has_value());
  EXPECT_TRUE(failed->failed);
  broker_.send(
      activity_task(3, "say_hello", to_bytes(std::string("again"))));  // no scheduled_at_ms
  ASSERT_TRUE(broker_.expect<ActivityResult>().has_value());

  // A first step (schedules say_hello), then a replay whose history
  // disagrees with the code at sequence 0.
  HistoryEvent started;
  started.type = EventType::kOrchestratorStarted;
  started.timestamp_ms = 1;
  HistoryEvent exec;
  exec.type = EventType::kExecutionStarted;
  exec.name = "function_chaining";
  exec.input = to_bytes(std::string("World"));
  OrchestrationTask step;
  step.work_id = 10;
  step.ns = "default";
  step.instance_id = "metrics-1";
  step.task_queue = "default";
  step.name = "function_chaining";
  step.new_events = {started, exec};
  step.scheduled_at_ms = now_ms - 250;
  broker_.send(step);
  auto ok = broker_.expect<OrchestrationResult>();
  ASSERT_TRUE(ok.has_value());
  ASSERT_FALSE(ok->actions.empty());
  EXPECT_EQ(ok->actions.front().type, ActionType::kScheduleTask);

  HistoryEvent wrong;
  wrong.type = EventType::kTaskScheduled;
  wrong.event_id = 0;
  wrong.name = "not_what_the_code_calls";
  OrchestrationTask replay = step;
  replay.work_id = 11;
  replay.scheduled_at_ms = 0;
  replay.past_events = {started, exec, wrong};
  replay.new_events = {started};
  broker_.send(replay);
  auto nondeterministic = broker_.expect<OrchestrationResult>();
  ASSERT_TRUE(nondeterministic.has_value());
  ASSERT_EQ(nondeterministic->actions.size(), 1u);
  EXPECT_EQ(nondeterministic->actions[0].failure.error_type, "NonDeterminismError");

  // Each result left the worker after its job recorded it: no waiting needed.
  const std::string text = http(port, "/metrics").body;
  const Labels hello_done = {{"namespace", "default"},
                             {"task_queue", "default"},
                             {"activity", "say_hello"},
                             {"outcome", "completed"}};
  EXPECT_EQ(metric(text, "baton_activity_execution_seconds_count", hello_done), 2) << text;
  const Labels explode_failed = {{"namespace", "default"},
                                 {"task_queue", "default"},
                                 {"activity", "explode"},
                                 {"outcome", "failed"}};
  EXPECT_EQ(metric(text, "baton_activity_execution_seconds_count", explode_failed), 1) << text;
  EXPECT_EQ(metric(text, "baton_activity_execution_seconds_count",
                   {{"namespace", "default"},
                    {"task_queue", "default"},
                    {"activity", "explode"},
                    {"outcome", "completed"}}),
            0);
  Labels step_labels = {{"namespace", "default"},
                        {"task_queue", "default"},
                        {"orchestrator", "function_chaining"},
                        {"outcome", "ok"}};
  EXPECT_EQ(metric(text, "baton_orchestration_step_seconds_count", step_labels), 1) << text;
  step_labels["outcome"] = "nondeterminism";
  EXPECT_EQ(metric(text, "baton_orchestration_step_seconds_count", step_labels), 1) << text;
  step_labels["outcome"] = "failed";
  EXPECT_EQ(metric(text, "baton_orchestration_step_seconds_count", step_labels), 0) << text;
  EXPECT_EQ(metric(text, "baton_nondeterminism_errors_total",
                   {{"namespace", "default"}, {"orchestrator", "function_chaining"}}),
            1)
      << text;

  // Only tasks with scheduled_at_ms are observed; the one from the future as 0.
  EXPECT_EQ(metric(text, "baton_schedule_to_start_seconds_count", queue_labels("activity")), 2)
      << text;
  const double activity_wait =
      metric(text, "baton_schedule_to_start_seconds_sum", queue_labels("activity")).value_or(-1);
  EXPECT_GE(activity_wait, 0.25);
  EXPECT_LT(activity_wait, 30);
  EXPECT_EQ(metric(text, "baton_schedule_to_start_seconds_count", queue_labels("orchestration")), 1)
      << text;
  EXPECT_GE(metric(text, "baton_schedule_to_start_seconds_sum", queue_labels("orchestration"))
                .value_or(-1),
            0.25);

  EXPECT_EQ(metric(text, "baton_worker_in_flight", queue_labels("activity")), 0) << text;
  EXPECT_EQ(metric(text, "baton_worker_in_flight", queue_labels("orchestration")), 0) << text;
  EXPECT_EQ(metric(text, "baton_worker_slots", queue_labels("activity")), 4) << text;
  EXPECT_EQ(metric(text, "baton_worker_slots", queue_labels("orchestration")), 8) << text;
  EXPECT_EQ(metric(text, "baton_worker_broker_connected"), 1) << text;
  EXPECT_EQ(metric(text, "baton_build_info", {{"part", "worker"}, {"version", BATON_VERSION}}), 1);
}

TEST_F(WorkerRuntime, ReadinessFollowsTheBrokerAndTheDrainWhileInFlightCountsRunningWork) {
  broker_.set_heartbeats(false);
  options_.metrics_address = "127.0.0.1:0";
  start();
  ASSERT_TRUE(broker_.expect<WorkerReady>().has_value());
  const int port = worker_->metrics_port();
  ASSERT_GT(port, 0);
  // Announced, but no answer yet.
  EXPECT_EQ(http(port, "/readyz").status, 503);
  EXPECT_EQ(http(port, "/healthz").status, 200);
  EXPECT_EQ(metric(http(port, "/metrics").body, "baton_worker_broker_connected"), 0);

  broker_.heartbeat();
  test::HttpResponse last;
  ASSERT_TRUE(http_until(
      port, "/readyz", [](const auto& r) { return r.status == 200; }, last))
      << last.status << " " << last.body;
  broker_.set_heartbeats(true);

  broker_.send(activity_task(5, "hold", {}));
  ASSERT_TRUE(held_->wait());
  std::string text = http(port, "/metrics").body;
  EXPECT_EQ(metric(text, "baton_worker_in_flight", queue_labels("activity")), 1) << text;
  EXPECT_EQ(metric(text, "baton_worker_broker_connected"), 1) << text;
  EXPECT_EQ(metric(text, "baton_ready"), 1) << text;

  // A new broker incarnation: the worker announces itself again.
  broker_.set_incarnation(2);
  broker_.heartbeat();
  ASSERT_TRUE(broker_.expect<WorkerReady>().has_value());
  EXPECT_EQ(metric(http(port, "/metrics").body, "baton_worker_reconnects_total"), 1);

  worker_->stop();
  ASSERT_TRUE(broker_.expect<WorkerDisconnect>().has_value());
  const test::HttpResponse draining = http(port, "/readyz");
  EXPECT_EQ(draining.status, 503);
  EXPECT_NE(draining.body.find("draining"), std::string::npos) << draining.body;

  release_->open();
  ASSERT_TRUE(broker_.expect<ActivityResult>().has_value());
  ASSERT_TRUE(run_returned(kDeadline));
  EXPECT_EQ(result_.get(), 0);
  EXPECT_EQ(worker_->metrics_port(), 0) << "the server stops with run()";
}

TEST(WorkerMetricsOptions, OnlyFromEnvDefaultsToTheWorkerMetricsPortAndOffTurnsItOff) {
  const char* saved = std::getenv("BATON_METRICS_ADDRESS");
  const std::optional<std::string> restore =
      saved ? std::optional<std::string>(saved) : std::nullopt;
  EXPECT_EQ(WorkerOptions().metrics_address, "");
  unsetenv("BATON_METRICS_ADDRESS");
  EXPECT_EQ(WorkerOptions::from_env().metrics_address, "127.0.0.1:9235");
  setenv("BATON_METRICS_ADDRESS", "0.0.0.0:9300", 1);
  EXPECT_EQ(WorkerOptions::from_env().metrics_address, "0.0.0.0:9300");
  setenv("BATON_METRICS_ADDRESS", "off", 1);
  EXPECT_EQ(WorkerOptions::from_env().metrics_address, "");
  if (restore) {
    setenv("BATON_METRICS_ADDRESS", restore->c_str(), 1);
  } else {
    unsetenv("BATON_METRICS_ADDRESS");
  }
}

TEST(WorkerPayloadOptions, MaxPayloadBytesDefaultsToTwoMibAndComesFromTheEnvironment) {
  const char* saved = std::getenv("BATON_MAX_PAYLOAD_BYTES");
  const std::optional<std::string> restore =
      saved ? std::optional<std::string>(saved) : std::nullopt;
  EXPECT_EQ(WorkerOptions().max_payload_bytes, std::size_t{2} << 20);
  unsetenv("BATON_MAX_PAYLOAD_BYTES");
  EXPECT_EQ(WorkerOptions::from_env().max_payload_bytes, std::size_t{2} << 20);
  setenv("BATON_MAX_PAYLOAD_BYTES", "1000", 1);
  EXPECT_EQ(WorkerOptions::from_env().max_payload_bytes, 1000u);
  for (const char* ignored : {"0", "-5", "lots", "12kb"}) {
    setenv("BATON_MAX_PAYLOAD_BYTES", ignored, 1);
    EXPECT_EQ(WorkerOptions::from_env().max_payload_bytes, std::size_t{2} << 20) << ignored;
  }
  if (restore) {
    setenv("BATON_MAX_PAYLOAD_BYTES", restore->c_str(), 1);
  } else {
    unsetenv("BATON_MAX_PAYLOAD_BYTES");
  }

  WorkerOptions zero;
  zero.handle_signals = false;
  zero.max_payload_bytes = 0;
  EXPECT_EQ(Worker(zero).run(), 1) << "a zero limit is an invalid option";
}

TEST(WorkerCacheOptions, MaxCachedOrchestrationsDefaultsToFiveThousandAndComesFromTheEnvironment) {
  const char* saved = std::getenv("BATON_MAX_CACHED_ORCHESTRATIONS");
  const std::optional<std::string> restore =
      saved ? std::optional<std::string>(saved) : std::nullopt;
  EXPECT_EQ(WorkerOptions().max_cached_orchestrations, 5000u);
  unsetenv("BATON_MAX_CACHED_ORCHESTRATIONS");
  EXPECT_EQ(WorkerOptions::from_env().max_cached_orchestrations, 5000u);
  setenv("BATON_MAX_CACHED_ORCHESTRATIONS", "25", 1);
  EXPECT_EQ(WorkerOptions::from_env().max_cached_orchestrations, 25u);
  setenv("BATON_MAX_CACHED_ORCHESTRATIONS", "0", 1);
  EXPECT_EQ(WorkerOptions::from_env().max_cached_orchestrations, 0u) << "0 turns the cache off";
  for (const char* ignored : {"-5", "lots", "12k"}) {
    setenv("BATON_MAX_CACHED_ORCHESTRATIONS", ignored, 1);
    EXPECT_EQ(WorkerOptions::from_env().max_cached_orchestrations, 5000u) << ignored;
  }
  if (restore) {
    setenv("BATON_MAX_CACHED_ORCHESTRATIONS", restore->c_str(), 1);
  } else {
    unsetenv("BATON_MAX_CACHED_ORCHESTRATIONS");
  }
}

TEST(WorkerMetricsOptions, RunFailsWhenTheMetricsAddressCannotBeServed) {
  WorkerOptions options;
  options.handle_signals = false;
  options.metrics_address = "no-port-here";
  EXPECT_EQ(Worker(options).run(), 1);

  zmq::context_t ctx;
  zmq::socket_t squatter(ctx, zmq::socket_type::router);
  squatter.set(zmq::sockopt::linger, 0);
  squatter.bind("tcp://127.0.0.1:*");
  const std::string taken = squatter.get(zmq::sockopt::last_endpoint);  // tcp://127.0.0.1:N
  options.metrics_address = taken.substr(taken.find("127.0.0.1"));
  EXPECT_EQ(Worker(options).run(), 1);
}

TEST(WorkerWithoutBroker, StopReturnsPromptlyAfterTheBrokerWentAway) {
  auto broker = std::make_unique<FakeBroker>();
  WorkerOptions options;
  options.broker_address = broker->endpoint();
  options.drain_timeout = 60s;
  options.handle_signals = false;
  Worker worker(options);
  auto result = std::async(std::launch::async, [&] { return worker.run(); });
  ASSERT_TRUE(broker->expect<WorkerReady>().has_value());
  broker.reset();  // the broker dies; nothing is in flight

  worker.stop();
  ASSERT_EQ(result.wait_for(kDeadline), std::future_status::ready)
      << "run() waited for a broker it cannot reach";
  EXPECT_EQ(result.get(), 0);
}

}  // namespace
}  // namespace baton
