// Broker behaviour over real ZeroMQ sockets: the broker runs its loop on a
// thread, DEALER sockets play the scheduler and the workers over inproc://
// (one shared context). No fixed sleeps: every wait polls with a deadline.
// Metrics are read in-process (Broker::metrics()) and, in one test, over HTTP.
#include "tests/support/metrics_text.h"
#include "broker/src/broker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "baton/metrics.h"
#include "baton/wire.h"
#include "tests/support/http.h"

namespace baton::broker {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kWaitMs{5000};

// Polls `pred` until it holds or the deadline passes.
bool wait_until(const std::function<bool()>& pred, milliseconds timeout = kWaitMs) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds{1});
  }
  return true;
}

using testing::metric;

// The sum of every series of counter or gauge `name`.
double metric_sum(const std::string& text, const std::string& name) {
  double sum = 0;
  std::size_t line = 0;
  while (line < text.size()) {
    std::size_t end = text.find('\n', line);
    if (end == std::string::npos) end = text.size();
    const std::string_view l(text.data() + line, end - line);
    if (l.starts_with(name) && l.size() > name.size() &&
        (l[name.size()] == '{' || l[name.size()] == ' ')) {
      sum += std::stod(std::string(l.substr(l.rfind(' ') + 1)));
    }
    line = end + 1;
  }
  return sum;
}

metrics::Labels queue_labels(const std::string& kind, const std::string& tq = "default") {
  return {{"namespace", "default"}, {"task_queue", tq}, {"kind", kind}};
}

metrics::Labels credit_labels(const std::string& kind, const std::string& state,
                              const std::string& tq = "default") {
  metrics::Labels l = queue_labels(kind, tq);
  l["state"] = state;
  return l;
}

template <class T>
T decode_as(const wire::Received& r) {
  auto d = wire::decode<T>(r.body_view());
  EXPECT_TRUE(d.is_ok()) << d.status().to_string();
  return d.is_ok() ? std::move(d).value() : T{};
}

// A DEALER peer. Messages a wait skips stay in the inbox for later waits.
class Peer {
 public:
  Peer(zmq::context_t& ctx, const std::string& endpoint, const std::string& routing_id)
      : socket_(ctx, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    if (!routing_id.empty()) socket_.set(zmq::sockopt::routing_id, routing_id);
    socket_.connect(endpoint);
  }

  template <class T>
  void send(const T& msg) {
    ASSERT_TRUE(wire::send(socket_, msg, {}, /*dont_wait=*/false));
  }
  void send_body(MsgType type, std::string_view body) {
    ASSERT_TRUE(wire::send_raw(socket_, {}, type, body, /*dont_wait=*/false));
  }
  void send_frames(const std::vector<std::string>& frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      ASSERT_TRUE(socket_.send(zmq::buffer(frames[i].data(), frames[i].size()), flags));
    }
  }

  // The next message of `type`, skipping (and keeping) others.
  std::optional<wire::Received> wait_for(MsgType type, milliseconds timeout = kWaitMs) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      auto it = std::find_if(inbox_.begin(), inbox_.end(),
                             [type](const wire::Received& r) { return r.type == type; });
      if (it != inbox_.end()) {
        wire::Received out = std::move(*it);
        inbox_.erase(it);
        return out;
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() < 0 || !receive(left)) return std::nullopt;
    }
  }

  // The next `type` message decoded, failing the test on timeout.
  template <class T>
  std::optional<T> expect(milliseconds timeout = kWaitMs) {
    auto r = wait_for(T::kType, timeout);
    EXPECT_TRUE(r.has_value()) << "no " << wire::msg_type_name(T::kType) << " within "
                               << timeout.count() << " ms";
    if (!r) return std::nullopt;
    return decode_as<T>(*r);
  }

  // Every `type` message that has arrived so far (no waiting).
  std::vector<wire::Received> take_all(MsgType type) {
    while (receive(milliseconds{0})) {
    }
    std::vector<wire::Received> out;
    for (auto it = inbox_.begin(); it != inbox_.end();) {
      if (it->type == type) {
        out.push_back(std::move(*it));
        it = inbox_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

 private:
  bool receive(milliseconds timeout) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) <= 0) return false;
    auto r = wire::recv(socket_, /*router=*/false);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    if (!r) return false;
    inbox_.push_back(std::move(r).value());
    return true;
  }

  zmq::socket_t socket_;
  std::deque<wire::Received> inbox_;
};

ActivityTask activity(uint64_t work_id, std::string ns = "default", std::string tq = "default") {
  ActivityTask t;
  t.work_id = work_id;
  t.task_id = static_cast<int64_t>(work_id) * 10;
  t.ns = std::move(ns);
  t.task_queue = std::move(tq);
  t.instance_id = "instance-" + std::to_string(work_id);
  t.name = "say_hello";
  t.input = "\xa5world";
  return t;
}

OrchestrationTask orchestration(uint64_t work_id, std::string ns = "default",
                                std::string tq = "default") {
  OrchestrationTask t;
  t.work_id = work_id;
  t.ns = std::move(ns);
  t.task_queue = std::move(tq);
  t.instance_id = "instance-" + std::to_string(work_id);
  t.name = "greet";
  HistoryEvent started;
  started.type = EventType::kOrchestratorStarted;
  t.new_events.push_back(started);
  return t;
}

DispatchBatch batch(std::vector<ActivityTask> activities,
                    std::vector<OrchestrationTask> orchestrations = {}) {
  DispatchBatch b;
  b.activities = std::move(activities);
  b.orchestrations = std::move(orchestrations);
  return b;
}

ActivityResult activity_result(uint64_t work_id) {
  ActivityResult r;
  r.work_id = work_id;
  r.task_id = static_cast<int64_t>(work_id) * 10;
  r.ns = "default";
  r.instance_id = "instance-" + std::to_string(work_id);
  r.output = "\xa2ok";
  return r;
}

ActivityHeartbeat activity_heartbeat(uint64_t work_id, std::string details = "\xa4work") {
  ActivityHeartbeat h;
  h.work_id = work_id;
  h.task_id = static_cast<int64_t>(work_id) * 10;
  h.attempt = 1;
  h.details = std::move(details);
  return h;
}

// An ActivityResult body with a field this broker does not know.
std::string result_with_a_future_field(uint64_t work_id) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(3);
  pk.pack(std::string("work_id"));
  pk.pack(work_id);
  pk.pack(std::string("output"));
  pk.pack(std::string("\x92\x01\x02"));
  pk.pack(std::string("x_future_field"));
  pk.pack(std::string("kept as is"));
  return std::string(buf.data(), buf.size());
}

std::vector<uint64_t> work_ids_of(const std::vector<wire::Received>& tasks) {
  std::vector<uint64_t> ids;
  for (const auto& t : tasks) {
    ids.push_back(t.type == MsgType::kActivityTask ? decode_as<ActivityTask>(t).work_id
                                                   : decode_as<OrchestrationTask>(t).work_id);
  }
  return ids;
}

class BrokerFixture : public ::testing::Test {
 protected:
  void TearDown() override { stop(); }

  void start(BrokerOptions options = {}) {
    static std::atomic<int> counter{0};
    options.context = &ctx_;
    options.bind_address = "inproc://broker-test-" + std::to_string(counter.fetch_add(1));
    options.broker_id = "broker-under-test";
    auto created = Broker::create(options);
    ASSERT_TRUE(created.is_ok()) << created.status().to_string();
    broker_ = std::move(created).value();
    loop_ = std::thread([this] {
      const Status s = broker_->run();
      EXPECT_TRUE(s.is_ok()) << s.to_string();
    });
  }

  void stop() {
    if (!broker_) return;
    broker_->stop();
    loop_.join();
    broker_.reset();
  }

  std::unique_ptr<Peer> peer(const std::string& routing_id) {
    return std::make_unique<Peer>(ctx_, broker_->endpoint(), routing_id);
  }
 public:
  // For the free helpers of the batch tests.
  std::unique_ptr<Peer> peer_for_test(const std::string& routing_id) { return peer(routing_id); }
  WorkerReady ready_for_test(const std::string& id, const std::string& ns,
                             std::vector<std::string> queues, int32_t activity_slots,
                             int32_t orchestration_slots) {
    return ready(id, ns, std::move(queues), activity_slots, orchestration_slots);
  }

 protected:

  // A scheduler that said hello (the broker's Heartbeat reply has arrived).
  std::unique_ptr<Peer> scheduler(const std::string& id = "scheduler-1") {
    auto p = peer(id);
    p->send(SchedulerHello{id, 7, 0});
    EXPECT_TRUE(p->wait_for(MsgType::kHeartbeat).has_value());
    return p;
  }

  WorkerReady ready(const std::string& id, const std::string& ns, std::vector<std::string> queues,
                    int32_t activity_slots, int32_t orchestration_slots, uint64_t incarnation = 1) {
    WorkerReady r;
    r.worker_id = id;
    r.incarnation = incarnation;
    r.ns = ns;
    r.task_queues = std::move(queues);
    r.activity_slots = activity_slots;
    r.orchestration_slots = orchestration_slots;
    return r;
  }

  // A registered worker (the broker's Heartbeat reply to its Ready has arrived).
  std::unique_ptr<Peer> worker(const std::string& id, const std::string& ns,
                               std::vector<std::string> queues, int32_t activity_slots,
                               int32_t orchestration_slots = 0) {
    auto p = peer(id);
    p->send(ready(id, ns, std::move(queues), activity_slots, orchestration_slots));
    EXPECT_TRUE(p->wait_for(MsgType::kHeartbeat).has_value());
    return p;
  }

  bool stats_until(const std::function<bool(const BrokerStats&)>& pred) {
    return wait_until([&] { return pred(broker_->stats()); });
  }

  // Waits until the broker's metrics text satisfies `pred`; `last_metrics_`
  // keeps the text last read (for failure messages).
  bool metrics_until(const std::function<bool(const std::string&)>& pred) {
    return wait_until([&] {
      last_metrics_ = broker_->metrics().serialize();
      return pred(last_metrics_);
    });
  }
  std::optional<double> value(const std::string& name, const metrics::Labels& labels = {}) {
    return metric(last_metrics_, name, labels);
  }

  std::string last_metrics_;

  zmq::context_t ctx_;
  std::unique_ptr<Broker> broker_;
  std::thread loop_;
};

// Lower case on purpose: ctest names these tests "broker.<Specification>", so
// `ctest -R broker` selects them (ctest -R is case-sensitive).
using broker = BrokerFixture;

TEST_F(broker, RoutesItemsOnlyToWorkersServingTheirNamespaceAndQueue) {
  start();
  auto sched = scheduler();
  auto alpha = worker("w-alpha", "default", {"alpha"}, 10, 10);
  auto beta = worker("w-beta", "default", {"beta"}, 10, 10);
  auto other_ns = worker("w-other-ns", "other", {"alpha"}, 10, 10);

  const ActivityTask a1 = activity(1, "default", "alpha");
  sched->send(batch({a1, activity(3, "default", "beta"), activity(4, "other", "alpha"),
                     activity(5, "default", "gamma")},
                    {orchestration(2, "default", "alpha")}));

  auto got1 = alpha->wait_for(MsgType::kActivityTask);
  ASSERT_TRUE(got1);
  EXPECT_EQ(got1->body_view(), wire::encode(a1));
  auto got2 = alpha->expect<OrchestrationTask>();
  ASSERT_TRUE(got2);
  EXPECT_EQ(got2->work_id, 2u);
  EXPECT_EQ(got2->name, "greet");
  auto got3 = beta->expect<ActivityTask>();
  ASSERT_TRUE(got3);
  EXPECT_EQ(got3->work_id, 3u);
  auto got4 = other_ns->expect<ActivityTask>();
  ASSERT_TRUE(got4);
  EXPECT_EQ(got4->work_id, 4u);

  // Item 5's queue has no worker: it waits, nobody else receives it.
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_dispatched == 4 && s.items_queued == 1 && s.items_in_flight == 4;
  }));
  for (Peer* w : {alpha.get(), beta.get(), other_ns.get()}) {
    EXPECT_TRUE(w->take_all(MsgType::kActivityTask).empty());
    EXPECT_TRUE(w->take_all(MsgType::kOrchestrationTask).empty());
  }

  auto gamma = worker("w-gamma", "default", {"gamma"}, 1);
  auto got5 = gamma->expect<ActivityTask>();
  ASSERT_TRUE(got5);
  EXPECT_EQ(got5->work_id, 5u);
}

TEST_F(broker, EmptyNamespaceAndTaskQueueMeanDefault) {
  start();
  auto sched = scheduler();
  auto w = worker("w-default", "", {}, 1);
  sched->send(batch({activity(9, "", "")}));
  auto got = w->expect<ActivityTask>();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->work_id, 9u);
}

TEST_F(broker, OneSlotWorkerGetsTheSecondItemOnlyAfterItsFirstResult) {
  start();
  auto sched = scheduler();
  auto w = worker("w-one-slot", "default", {"default"}, 1, 0);

  sched->send(batch({activity(1), activity(2)}, {orchestration(3)}));
  auto first = w->expect<ActivityTask>();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->work_id, 1u);
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_received == 3 && s.items_dispatched == 1 && s.items_queued == 2;
  }));
  EXPECT_TRUE(w->take_all(MsgType::kActivityTask).empty());
  EXPECT_TRUE(w->take_all(MsgType::kOrchestrationTask).empty()) << "no orchestration slots";

  w->send(activity_result(1));
  auto forwarded = sched->expect<ActivityResult>();
  ASSERT_TRUE(forwarded);
  EXPECT_EQ(forwarded->work_id, 1u);
  auto second = w->expect<ActivityTask>();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->work_id, 2u);

  // Credit adds slots per kind.
  w->send(Credit{0, 1});
  auto orch = w->expect<OrchestrationTask>();
  ASSERT_TRUE(orch);
  EXPECT_EQ(orch->work_id, 3u);
}

TEST_F(broker, ResultsAreForwardedToTheSchedulerByteIdentical) {
  start();
  auto sched = scheduler();
  auto w = worker("w-results", "default", {"default"}, 5, 5);
  sched->send(batch({activity(7)}, {orchestration(8)}));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  ASSERT_TRUE(w->wait_for(MsgType::kOrchestrationTask));

  // A field this broker does not know must survive: no re-encoding.
  const std::string activity_body = result_with_a_future_field(7);
  w->send_body(MsgType::kActivityResult, activity_body);

  OrchestrationResult orch;
  orch.work_id = 8;
  orch.ns = "default";
  orch.instance_id = "instance-8";
  Action done;
  done.type = ActionType::kCompleteOrchestration;
  done.id = 0;
  done.result = "\xa3yes";
  orch.actions.push_back(done);
  const std::string orch_body = wire::encode(orch);
  w->send_body(MsgType::kOrchestrationResult, orch_body);

  auto r1 = sched->wait_for(MsgType::kActivityResult);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->body_view(), activity_body);
  auto r2 = sched->wait_for(MsgType::kOrchestrationResult);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body_view(), orch_body);
  ASSERT_TRUE(stats_until(
      [](const BrokerStats& s) { return s.results_forwarded == 2 && s.items_in_flight == 0; }));
}

TEST_F(broker, ResultsAreBufferedUntilASchedulerSaysHelloThenFlushedInOrder) {
  start();
  auto w = worker("w-early", "default", {"default"}, 1);
  auto stranger = peer("unknown-worker");  // e.g. dispatched by an earlier broker
  w->send(activity_result(41));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.pending_results == 1; }));
  stranger->send(activity_result(42));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.pending_results == 2; }));

  auto sched = scheduler();
  auto first = sched->expect<ActivityResult>();
  auto second = sched->expect<ActivityResult>();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->work_id, 41u);
  EXPECT_EQ(second->work_id, 42u);
  EXPECT_TRUE(stats_until([](const BrokerStats& s) {
    return s.pending_results == 0 && s.results_forwarded == 2 && s.scheduler_connected;
  }));
}

TEST_F(broker, SchedulerThatReconnectsUnderItsRoutingIdGetsTheBufferedResults) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{50};
  options.heartbeat_liveness = 1000;
  start(options);
  auto sched = scheduler("scheduler-a");
  auto w = worker("w-steady", "default", {"default"}, 1);
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.scheduler_connected; }));
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_scheduler_connected") == 1;
  })) << last_metrics_;
  sched.reset();  // its connection drops: the next heartbeat to it fails
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return !s.scheduler_connected; }));
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_scheduler_connected") == 0;
  })) << last_metrics_;
  w->send(activity_result(111));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.pending_results == 1; }));

  // Back with the same routing id, without a new hello: any message will do.
  auto again = peer("scheduler-a");
  again->send(Heartbeat{"scheduler-a", 7});
  auto result = again->expect<ActivityResult>();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->work_id, 111u);
}

TEST_F(broker, DispatchFromASchedulerWithoutHelloIsRoutedAndAnsweredWithHeartbeat) {
  start();
  auto w = worker("w-any", "default", {"default"}, 1);
  auto sched = peer("scheduler-late");
  sched->send(batch({activity(121)}));
  auto hb = sched->expect<Heartbeat>();
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->incarnation, broker_->incarnation());
  auto task = w->expect<ActivityTask>();
  ASSERT_TRUE(task);
  EXPECT_EQ(task->work_id, 121u);
}

TEST_F(broker, FullResultBufferDropsTheOldest) {
  BrokerOptions options;
  options.max_pending_results = 2;
  start(options);
  auto w = worker("w-chatty", "default", {"default"}, 1);
  for (uint64_t id : {91, 92, 93}) w->send(activity_result(id));
  ASSERT_TRUE(stats_until(
      [](const BrokerStats& s) { return s.pending_dropped == 1 && s.pending_results == 2; }));
  auto sched = scheduler();
  auto first = sched->expect<ActivityResult>();
  auto second = sched->expect<ActivityResult>();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->work_id, 92u);
  EXPECT_EQ(second->work_id, 93u);
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_work_lost_total", {{"reason", "no_scheduler"}}) == 1 &&
           metric(t, "baton_broker_results_total", {{"kind", "activity"}}) == 2;
  })) << last_metrics_;
}

TEST_F(broker, SilentWorkerIsDeclaredDeadAndItsInFlightWorkIsLost) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{100};
  options.heartbeat_liveness = 3;
  start(options);
  auto sched = scheduler();
  auto w = worker("w-silent", "default", {"default"}, 2);
  sched->send(batch({activity(11), activity(12)}));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  // The worker now says nothing (its socket stays open, so sends succeed).

  auto lost = sched->expect<WorkLost>();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->work_ids, (std::vector<uint64_t>{11, 12}));
  EXPECT_NE(lost->reason.find("w-silent"), std::string::npos) << lost->reason;
  EXPECT_NE(lost->reason.find("dead"), std::string::npos) << lost->reason;
  EXPECT_TRUE(stats_until([](const BrokerStats& s) {
    return s.workers == 0 && s.workers_dead == 1 && s.work_lost == 2 && s.items_in_flight == 0;
  }));
}

TEST_F(broker, WorkerDeclaredDeadResumesWhenItSpeaksAgain) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{50};
  options.heartbeat_liveness = 3;
  start(options);
  auto sched = scheduler();
  auto w = worker("w-stalled", "default", {"default"}, 2);
  sched->send(batch({activity(101)}));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  auto lost = sched->expect<WorkLost>();  // the worker stalls past the liveness window
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->work_ids, (std::vector<uint64_t>{101}));

  // Same process (same incarnation) speaks again: it gets work again with the
  // credits it had, without a new WorkerReady.
  sched->send(batch({activity(102)}));
  std::optional<wire::Received> task;
  ASSERT_TRUE(wait_until([&] {
    w->send(Heartbeat{"w-stalled", 1});
    task = w->wait_for(MsgType::kActivityTask, milliseconds{20});
    return task.has_value();
  }));
  EXPECT_EQ(decode_as<ActivityTask>(*task).work_id, 102u);

  // Its late result for the lost item is still forwarded (the scheduler
  // discards it as stale) and returns the slot.
  w->send(activity_result(101));
  auto late = sched->expect<ActivityResult>();
  ASSERT_TRUE(late);
  EXPECT_EQ(late->work_id, 101u);
}

TEST_F(broker, HeartbeatingWorkerStaysAliveAndPeersGetHeartbeats) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{40};
  options.heartbeat_liveness = 6;
  start(options);
  auto sched = scheduler();
  auto w = worker("w-alive", "default", {"default"}, 1);
  // Answer the broker's heartbeats for well over the liveness window.
  for (int i = 0; i < 10; ++i) {
    auto hb = w->expect<Heartbeat>();
    ASSERT_TRUE(hb);
    EXPECT_EQ(hb->incarnation, broker_->incarnation());
    w->send(Heartbeat{"w-alive", 1});
    ASSERT_TRUE(sched->wait_for(MsgType::kHeartbeat));
  }
  EXPECT_EQ(broker_->stats().workers, 1u);
  EXPECT_EQ(broker_->stats().workers_dead, 0u);
}

TEST_F(broker, VanishedWorkerIsReportedUnreachableWithItsWork) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{50};
  options.heartbeat_liveness = 1000;  // only the failed send can notice
  start(options);
  auto sched = scheduler();
  auto w = worker("w-vanishing", "default", {"default"}, 2);
  sched->send(batch({activity(61)}));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  w.reset();  // the DEALER closes: ROUTER_MANDATORY sends to it now fail

  auto lost = sched->expect<WorkLost>();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->work_ids, (std::vector<uint64_t>{61}));
  EXPECT_NE(lost->reason.find("unreachable"), std::string::npos) << lost->reason;
  EXPECT_TRUE(stats_until([](const BrokerStats& s) { return s.workers == 0; }));
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_workers_lost_total", {{"reason", "disconnect"}}) == 1 &&
           metric(t, "baton_broker_work_lost_total", {{"reason", "worker_dead"}}) == 1;
  })) << last_metrics_;
}

TEST_F(broker, WorkerRestartedUnderTheSameIdentityLosesItsOldWork) {
  start();
  auto sched = scheduler();
  auto w = worker("w-restarting", "default", {"default"}, 1);
  sched->send(batch({activity(71), activity(72)}));
  auto first = w->expect<ActivityTask>();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->work_id, 71u);

  w->send(ready("w-restarting", "default", {"default"}, 1, 0, /*incarnation=*/2));
  auto lost = sched->expect<WorkLost>();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->work_ids, (std::vector<uint64_t>{71}));
  EXPECT_NE(lost->reason.find("restarted"), std::string::npos) << lost->reason;
  auto second = w->expect<ActivityTask>();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->work_id, 72u);
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_workers_lost_total", {{"reason", "restarted"}}) == 1 &&
           metric(t, "baton_broker_work_lost_total", {{"reason", "worker_dead"}}) == 1 &&
           metric(t, "baton_broker_workers_lost_total", {{"reason", "heartbeat"}}) == 0;
  })) << last_metrics_;
}

TEST_F(broker, RepeatedWorkerReadyReplacesCredits) {
  start();
  auto sched = scheduler();
  auto w = worker("w-resync", "default", {"default"}, 1);
  sched->send(batch({activity(51), activity(52), activity(53), activity(54)}));
  auto first = w->expect<ActivityTask>();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->work_id, 51u);
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.items_queued == 3; }));

  // Resync: two free slots now (51 still runs). Replaced, not added to: two more items.
  w->send(ready("w-resync", "default", {"default"}, 2, 0));
  auto a = w->expect<ActivityTask>();
  auto b = w->expect<ActivityTask>();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->work_id, 52u);
  EXPECT_EQ(b->work_id, 53u);
  ASSERT_TRUE(stats_until(
      [](const BrokerStats& s) { return s.items_queued == 1 && s.items_in_flight == 3; }));
  EXPECT_TRUE(w->take_all(MsgType::kActivityTask).empty());
}

TEST_F(broker, HeartbeatFromAnUnknownIdentityGetsTheBrokerIncarnation) {
  start();
  auto stranger = peer("stranger");
  stranger->send(Heartbeat{"stranger", 42});
  auto reply = stranger->expect<Heartbeat>();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->incarnation, broker_->incarnation());
  EXPECT_EQ(reply->sender_id, broker_->id());
  EXPECT_EQ(broker_->id(), "broker-under-test");

  // So does any other non-registering message from it.
  stranger->send(Credit{1, 1});
  ASSERT_TRUE(stranger->expect<Heartbeat>());
  EXPECT_TRUE(stats_until([](const BrokerStats& s) { return s.unknown_peer_replies == 2; }));
}

TEST_F(broker, MalformedFramesAreCountedAndDroppedAndRoutingContinues) {
  start();
  auto mallory = peer("mallory");
  std::mt19937 rng(1234);
  std::string noise(64, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  const std::string ready_type{static_cast<char>(kProtocolVersion),
                               static_cast<char>(MsgType::kWorkerReady)};
  const std::string ready_body = wire::encode(ready("mallory", "default", {"default"}, 1, 1));
  msgpack::sbuffer not_a_map;
  msgpack::pack(not_a_map, 12345);
  msgpack::sbuffer wrong_shape;
  {
    msgpack::packer<msgpack::sbuffer> pk(wrong_shape);
    pk.pack_map(1);
    pk.pack(std::string("task_queues"));
    pk.pack(42);  // not an array of strings
  }

  int sent = 0;
  auto send = [&](const std::vector<std::string>& frames) {
    mallory->send_frames(frames);
    ++sent;
  };
  send({noise});                                                                 // one frame
  send({""});                                                                    // empty frame
  send({ready_type, ready_body, "extra"});                                       // three frames
  send({std::string{'\x02', '\x28'}, ready_body});                               // wrong version
  send({std::string{static_cast<char>(kProtocolVersion), '\x63'}, ready_body});  // unknown type
  send({std::string{static_cast<char>(kProtocolVersion)}, ready_body});     // 1-byte type frame
  send({ready_type, ready_body.substr(0, ready_body.size() - 5)});          // truncated msgpack
  send({ready_type, ready_body + "\x01"});                                  // trailing bytes
  send({ready_type, noise});                                                // random body
  send({ready_type, std::string(not_a_map.data(), not_a_map.size())});      // not a map
  send({ready_type, std::string(wrong_shape.data(), wrong_shape.size())});  // wrong field type
  send({ready_type, ""});                                                   // empty body
  ASSERT_TRUE(stats_until([&](const BrokerStats& s) {
    return s.malformed_dropped == static_cast<uint64_t>(sent);
  })) << "malformed_dropped="
      << broker_->stats().malformed_dropped << " sent=" << sent;
  // A stranger: frames that do not parse come from an unknown peer; a bad
  // WorkerReady body claims to be a worker's.
  EXPECT_TRUE(metrics_until([&](const std::string& t) {
    return metric_sum(t, "baton_malformed_frames_total") == sent;
  })) << last_metrics_;
  EXPECT_EQ(value("baton_malformed_frames_total", {{"peer", "worker"}}), 6) << last_metrics_;
  EXPECT_EQ(value("baton_malformed_frames_total", {{"peer", "unknown"}}), sent - 6);
  EXPECT_EQ(value("baton_malformed_frames_total", {{"peer", "scheduler"}}), 0);

  // Well-formed but not broker-bound.
  mallory->send(StartRequest{});
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.unexpected_dropped == 1; }));
  EXPECT_EQ(broker_->stats().workers, 0u) << "no malformed Ready registered a worker";

  auto sched = scheduler();
  auto w = worker("w-after", "default", {"default"}, 1);
  sched->send(batch({activity(81)}));
  auto task = w->expect<ActivityTask>();
  ASSERT_TRUE(task);
  EXPECT_EQ(task->work_id, 81u);
  w->send(activity_result(81));
  auto result = sched->expect<ActivityResult>();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->work_id, 81u);
}

TEST_F(broker, WorkerDisconnectStopsNewWorkButInFlightResultsAreForwarded) {
  start();
  auto sched = scheduler();
  auto leaving = worker("w-leaving", "default", {"default"}, 2);
  sched->send(batch({activity(21)}));
  ASSERT_TRUE(leaving->wait_for(MsgType::kActivityTask));

  leaving->send(WorkerDisconnect{"w-leaving"});
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.workers_draining == 1; }));
  sched->send(batch({activity(22)}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.items_queued == 1; }));
  EXPECT_TRUE(leaving->take_all(MsgType::kActivityTask).empty());

  leaving->send(activity_result(21));
  auto result = sched->expect<ActivityResult>();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->work_id, 21u);
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.workers == 0 && s.workers_draining == 0 && s.items_in_flight == 0;
  }));
  EXPECT_TRUE(leaving->take_all(MsgType::kActivityTask).empty());

  auto next = worker("w-next", "default", {"default"}, 1);
  auto task = next->expect<ActivityTask>();
  ASSERT_TRUE(task);
  EXPECT_EQ(task->work_id, 22u);
}

TEST_F(broker, IdleWorkerDisconnectIsForgottenAtOnce) {
  start();
  auto w = worker("w-idle", "default", {"default"}, 2);
  w->send(WorkerDisconnect{"w-idle"});
  EXPECT_TRUE(stats_until([](const BrokerStats& s) { return s.workers == 0; }));
  EXPECT_EQ(broker_->stats().workers_dead, 0u);
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_workers_lost_total", {{"reason", "disconnect"}}) == 1;
  })) << last_metrics_;
  EXPECT_EQ(metric_sum(last_metrics_, "baton_broker_work_lost_total"), 0);
}

TEST_F(broker, FullQueueReportsTheOverflowAsWorkLost) {
  BrokerOptions options;
  options.max_queue = 2;
  start(options);
  auto sched = scheduler();
  sched->send(batch({activity(31), activity(32), activity(33), activity(34)}));
  auto lost = sched->expect<WorkLost>();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->work_ids, (std::vector<uint64_t>{33, 34}));
  EXPECT_NE(lost->reason.find("full"), std::string::npos) << lost->reason;
  EXPECT_TRUE(
      stats_until([](const BrokerStats& s) { return s.items_queued == 2 && s.work_lost == 2; }));
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_work_lost_total", {{"reason", "queue_full"}}) == 2 &&
           metric(t, "baton_broker_queue_depth", queue_labels("activity")) == 2;
  })) << last_metrics_;

  // FIFO once a worker shows up.
  auto w = worker("w-late", "default", {"default"}, 5);
  auto a = w->expect<ActivityTask>();
  auto b = w->expect<ActivityTask>();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->work_id, 31u);
  EXPECT_EQ(b->work_id, 32u);
}

TEST_F(broker, WorkIsSpreadRoundRobinAcrossEligibleWorkers) {
  start();
  auto sched = scheduler();
  auto w1 = worker("w-rr-1", "default", {"default"}, 10);
  auto w2 = worker("w-rr-2", "default", {"default"}, 10);
  sched->send(batch({activity(1), activity(2), activity(3), activity(4)}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.items_dispatched == 4; }));
  std::vector<uint64_t> ids1, ids2;
  ASSERT_TRUE(wait_until([&] {
    for (auto id : work_ids_of(w1->take_all(MsgType::kActivityTask))) ids1.push_back(id);
    for (auto id : work_ids_of(w2->take_all(MsgType::kActivityTask))) ids2.push_back(id);
    return ids1.size() + ids2.size() == 4;
  }));
  EXPECT_EQ(ids1.size(), 2u);
  EXPECT_EQ(ids2.size(), 2u);
}

// ------------------------------------------------------- sticky orchestration

// A step for `worker` (the one keeping its orchestrator suspended).
OrchestrationTask sticky(uint64_t work_id, std::string worker, std::string tq = "default") {
  OrchestrationTask t = orchestration(work_id, "default", std::move(tq));
  t.sticky_worker = std::move(worker);
  t.cache_token = 1000 + work_id;
  t.past_from = 3;
  return t;
}

OrchestrationResult orchestration_result(uint64_t work_id) {
  OrchestrationResult r;
  r.work_id = work_id;
  r.ns = "default";
  r.instance_id = "instance-" + std::to_string(work_id);
  return r;
}

TEST_F(broker, StickyStepGoesToItsWorkerThoughRoundRobinWouldPickAnother) {
  start();
  auto sched = scheduler();
  auto first = worker("w-first", "default", {"default"}, 0, 5);  // first in round robin
  auto home = worker("w-home", "default", {"default"}, 0, 5);

  const OrchestrationTask step = sticky(1, "w-home");
  sched->send(batch({}, {step}));
  auto got = home->wait_for(MsgType::kOrchestrationTask);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->body_view(), wire::encode(step)) << "forwarded with all its fields";

  // A plain step shows whom the normal rule picks: w-first, which must not
  // have had the sticky one.
  sched->send(batch({}, {orchestration(2)}));
  auto plain = first->expect<OrchestrationTask>();
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->work_id, 2u);
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_dispatched == 2 && s.sticky_dispatched == 1 && s.items_in_flight == 2;
  }));
  EXPECT_TRUE(first->take_all(MsgType::kOrchestrationTask).empty());
  EXPECT_TRUE(home->take_all(MsgType::kOrchestrationTask).empty());
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_sticky_dispatched_total",
                  {{"namespace", "default"}, {"task_queue", "default"}}) == 1 &&
           metric(t, "baton_broker_dispatched_total", queue_labels("orchestration")) == 2;
  })) << last_metrics_;
}

TEST_F(broker, StickyStepWaitsForItsBusyWorkerInsteadOfGoingToAnIdleOne) {
  start();
  auto sched = scheduler();
  auto idle = worker("w-idle-other", "default", {"default"}, 0, 1);
  auto home = worker("w-busy-home", "default", {"default"}, 0, 1);
  sched->send(batch({}, {sticky(1, "w-busy-home")}));
  auto first = home->expect<OrchestrationTask>();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->work_id, 1u);

  sched->send(batch({}, {sticky(2, "w-busy-home")}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_received == 2 && s.items_queued == 1 && s.items_dispatched == 1;
  }));
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_queue_depth", queue_labels("orchestration")) == 1;
  })) << last_metrics_;
  // The idle worker's one credit is still free: a plain step is the first it gets.
  sched->send(batch({}, {orchestration(3)}));
  auto plain = idle->expect<OrchestrationTask>();
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->work_id, 3u);
  EXPECT_EQ(broker_->stats().items_queued, 1u);

  // Its worker's credit comes back with the result: the waiting step follows.
  home->send(orchestration_result(1));
  ASSERT_TRUE(sched->expect<OrchestrationResult>());
  auto second = home->expect<OrchestrationTask>();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->work_id, 2u);
  EXPECT_EQ(second->sticky_worker, "w-busy-home");
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_queued == 0 && s.items_in_flight == 2 && s.sticky_dispatched == 2 &&
           s.items_dispatched == 3;
  }));
  EXPECT_TRUE(idle->take_all(MsgType::kOrchestrationTask).empty());
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_queue_depth", queue_labels("orchestration")) == 0;
  })) << last_metrics_;
}

TEST_F(broker, StickyQueueIsServedBeforeOlderItemsOfTheSharedQueue) {
  start();
  auto sched = scheduler();
  auto home = worker("w-only", "default", {"default"}, 0, 1);
  sched->send(batch({}, {orchestration(1)}));
  ASSERT_TRUE(home->expect<OrchestrationTask>());
  sched->send(batch({}, {orchestration(2)}));  // older, shared
  sched->send(batch({}, {sticky(3, "w-only"), sticky(4, "w-only")}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.items_queued == 3; }));

  home->send(orchestration_result(1));  // one credit back
  auto a = home->expect<OrchestrationTask>();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->work_id, 3u);
  home->send(Credit{0, 2});  // a Credit serves its own steps first too
  auto b = home->expect<OrchestrationTask>();
  auto c = home->expect<OrchestrationTask>();
  ASSERT_TRUE(b && c);
  EXPECT_EQ(b->work_id, 4u);
  EXPECT_EQ(c->work_id, 2u);
  EXPECT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_queued == 0 && s.sticky_dispatched == 2 && s.items_dispatched == 4;
  }));
}

TEST_F(broker, StickyStepForAWorkerThatCannotTakeItGoesToAnyWorker) {
  start();
  auto sched = scheduler();
  auto elsewhere = worker("w-elsewhere", "default", {"elsewhere"}, 0, 5);
  auto other_ns = worker("w-other-ns", "other", {"default"}, 0, 5);
  auto leaving = worker("w-leaving", "default", {"default"}, 1, 5);
  auto any = worker("w-any", "default", {"default"}, 0, 5);
  sched->send(batch({activity(100)}));
  ASSERT_TRUE(leaving->wait_for(MsgType::kActivityTask));
  leaving->send(WorkerDisconnect{"w-leaving"});
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.workers_draining == 1; }));

  sched->send(batch({}, {sticky(1, "w-nobody"), sticky(2, "w-elsewhere"), sticky(3, "w-other-ns"),
                         sticky(4, "w-leaving")}));
  std::vector<uint64_t> ids;
  ASSERT_TRUE(wait_until([&] {
    for (auto id : work_ids_of(any->take_all(MsgType::kOrchestrationTask))) ids.push_back(id);
    return ids.size() == 4;
  }));
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3, 4}));
  for (Peer* p : {elsewhere.get(), other_ns.get(), leaving.get()}) {
    EXPECT_TRUE(p->take_all(MsgType::kOrchestrationTask).empty());
  }
  const BrokerStats s = broker_->stats();
  EXPECT_EQ(s.sticky_dispatched, 0u);
  EXPECT_EQ(s.items_queued, 0u);
}

TEST_F(broker, StickyStepsOfAWorkerDeclaredDeadGoToAnotherWorkerInOrder) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{50};
  options.heartbeat_liveness = 4;
  start(options);
  auto sched = scheduler();
  auto home = worker("w-doomed", "default", {"default"}, 0, 1);
  auto other = worker("w-survivor", "default", {"default"}, 0, 2);
  // Only `other` answers the broker's heartbeats.
  auto keep_alive = [&] {
    for (std::size_t i = other->take_all(MsgType::kHeartbeat).size(); i > 0; --i) {
      other->send(Heartbeat{"w-survivor", 1});
    }
  };
  sched->send(batch({}, {sticky(1, "w-doomed")}));
  ASSERT_TRUE(home->wait_for(MsgType::kOrchestrationTask));
  sched->send(batch({}, {sticky(2, "w-doomed"), sticky(3, "w-doomed")}));
  ASSERT_TRUE(wait_until([&] {
    keep_alive();
    const BrokerStats s = broker_->stats();
    return s.items_received == 3 && s.items_queued == 2 && s.items_in_flight == 1;
  }));
  EXPECT_TRUE(other->take_all(MsgType::kOrchestrationTask).empty());

  std::optional<WorkLost> lost;
  ASSERT_TRUE(wait_until([&] {
    keep_alive();
    auto msgs = sched->take_all(MsgType::kWorkLost);
    if (!msgs.empty()) lost = decode_as<WorkLost>(msgs.front());
    return lost.has_value();
  }));
  EXPECT_EQ(lost->work_ids, (std::vector<uint64_t>{1})) << "only the step in flight is lost";
  std::vector<uint64_t> ids;
  ASSERT_TRUE(wait_until([&] {
    keep_alive();
    for (auto id : work_ids_of(other->take_all(MsgType::kOrchestrationTask))) ids.push_back(id);
    const BrokerStats s = broker_->stats();
    return ids.size() == 2 && s.items_queued == 0 && s.items_in_flight == 2;
  }));
  EXPECT_EQ(ids, (std::vector<uint64_t>{2, 3}));
  const BrokerStats s = broker_->stats();
  EXPECT_EQ(s.sticky_dispatched, 1u);
  EXPECT_EQ(s.work_lost, 1u);
  EXPECT_EQ(s.workers, 1u);
}

TEST_F(broker, StickyStepsOfADisconnectingWorkerGoToTheFrontOfTheSharedQueue) {
  start();
  auto sched = scheduler();
  auto home = worker("w-going", "default", {"default"}, 0, 1);
  sched->send(batch({}, {orchestration(1)}));
  ASSERT_TRUE(home->expect<OrchestrationTask>());
  sched->send(batch({}, {orchestration(2)}));  // shared, older than the sticky ones
  sched->send(batch({}, {sticky(3, "w-going"), sticky(4, "w-going")}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.items_queued == 3; }));

  home->send(WorkerDisconnect{"w-going"});
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.workers_draining == 1; }));
  EXPECT_EQ(broker_->stats().items_queued, 3u) << "moved, not dropped";
  home->send(orchestration_result(1));  // draining: its credit is not used again
  ASSERT_TRUE(sched->expect<OrchestrationResult>());
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.workers == 0; }));
  EXPECT_TRUE(home->take_all(MsgType::kOrchestrationTask).empty());

  auto next = worker("w-next", "default", {"default"}, 0, 5);
  std::vector<uint64_t> ids;
  ASSERT_TRUE(wait_until([&] {
    for (auto id : work_ids_of(next->take_all(MsgType::kOrchestrationTask))) ids.push_back(id);
    return ids.size() == 3;
  }));
  EXPECT_EQ(ids, (std::vector<uint64_t>{3, 4, 2}));
  EXPECT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_queued == 0 && s.items_in_flight == 3 && s.sticky_dispatched == 0 &&
           s.work_lost == 0;
  }));
}

TEST_F(broker, StickyStepsOfARestartedWorkerAreNotLost) {
  start();
  auto sched = scheduler();
  auto home = worker("w-reborn", "default", {"default"}, 0, 1);
  sched->send(batch({}, {sticky(1, "w-reborn")}));
  ASSERT_TRUE(home->expect<OrchestrationTask>());
  sched->send(batch({}, {sticky(2, "w-reborn")}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.items_queued == 1; }));

  home->send(ready("w-reborn", "default", {"default"}, 0, 1, /*incarnation=*/2));
  auto lost = sched->expect<WorkLost>();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->work_ids, (std::vector<uint64_t>{1}));
  auto again = home->expect<OrchestrationTask>();  // from the shared queue now
  ASSERT_TRUE(again);
  EXPECT_EQ(again->work_id, 2u);
  EXPECT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_queued == 0 && s.items_in_flight == 1 && s.sticky_dispatched == 1;
  }));
}

TEST_F(broker, ResyncKeepsStickyStepsOfQueuesTheWorkerStillServes) {
  start();
  auto sched = scheduler();
  auto home = worker("w-resync-sticky", "default", {"alpha", "beta"}, 0, 1);
  sched->send(batch({}, {sticky(1, "w-resync-sticky", "alpha")}));
  ASSERT_TRUE(home->expect<OrchestrationTask>());
  sched->send(
      batch({}, {sticky(2, "w-resync-sticky", "alpha"), sticky(3, "w-resync-sticky", "beta")}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.items_queued == 2; }));

  // Same process, no longer serving beta, two free slots: alpha's step stays
  // its own, beta's goes to the shared queue for whoever serves beta.
  home->send(ready("w-resync-sticky", "default", {"alpha"}, 0, 2));
  auto kept = home->expect<OrchestrationTask>();
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->work_id, 2u);
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_queued == 1 && s.sticky_dispatched == 2 && s.items_in_flight == 2;
  }));
  EXPECT_TRUE(home->take_all(MsgType::kOrchestrationTask).empty());
  auto beta = worker("w-beta-only", "default", {"beta"}, 0, 1);
  auto moved = beta->expect<OrchestrationTask>();
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->work_id, 3u);
  EXPECT_TRUE(stats_until([](const BrokerStats& s) { return s.items_queued == 0; }));
}

TEST_F(broker, StickyStepsCountInTheQueueBound) {
  BrokerOptions options;
  options.max_queue = 2;
  start(options);
  auto sched = scheduler();
  auto home = worker("w-bounded", "default", {"default"}, 0, 1);
  sched->send(batch({}, {sticky(1, "w-bounded")}));
  ASSERT_TRUE(home->expect<OrchestrationTask>());
  sched->send(batch({}, {sticky(2, "w-bounded"), orchestration(3)}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.items_queued == 2; }));
  sched->send(batch({}, {sticky(4, "w-bounded"), orchestration(5)}));
  auto lost = sched->expect<WorkLost>();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->work_ids, (std::vector<uint64_t>{4, 5}));
  EXPECT_TRUE(
      stats_until([](const BrokerStats& s) { return s.items_queued == 2 && s.work_lost == 2; }));
}

// ------------------------------------------------------ sticky activities

// An activity whose completion starts a step of the orchestrator `worker`
// keeps suspended (eager steps).
ActivityTask sticky_activity(uint64_t work_id, std::string worker, std::string tq = "default") {
  ActivityTask t = activity(work_id, "default", std::move(tq));
  t.sticky_worker = std::move(worker);
  return t;
}

TEST_F(broker, StickyActivityGoesToItsWorkerThoughRoundRobinWouldPickAnother) {
  start();
  auto sched = scheduler();
  auto first = worker("w-first", "default", {"default"}, 5, 5);  // first in round robin
  auto home = worker("w-home", "default", {"default"}, 5, 5);

  ActivityTask task = sticky_activity(1, "w-home");
  task.next_step.push_back(sticky(2, "w-home"));
  sched->send(batch({task}));
  auto got = home->wait_for(MsgType::kActivityTask);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->body_view(), wire::encode(task)) << "forwarded with all its fields";

  // A plain activity shows whom the normal rule picks: w-first, which must
  // not have had the sticky one.
  sched->send(batch({activity(3)}));
  auto plain = first->expect<ActivityTask>();
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->work_id, 3u);
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_dispatched == 2 && s.items_in_flight == 2 && s.items_queued == 0;
  }));
  EXPECT_TRUE(first->take_all(MsgType::kActivityTask).empty());
  EXPECT_TRUE(home->take_all(MsgType::kActivityTask).empty());
  EXPECT_EQ(broker_->stats().sticky_dispatched, 0u) << "the sticky counters count steps only";
}

TEST_F(broker, StickyActivityForItsBusyWorkerGoesToAnIdleOneAtOnce) {
  start();
  auto sched = scheduler();
  auto idle = worker("w-idle-other", "default", {"default"}, 1, 5);  // first in round robin
  auto home = worker("w-busy-home", "default", {"default"}, 1, 5);
  sched->send(batch({sticky_activity(1, "w-busy-home")}));
  auto first = home->expect<ActivityTask>();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->work_id, 1u);

  // Its worker has no activity slot free (step slots do not count): unlike
  // a step, the activity does not wait for it.
  sched->send(batch({sticky_activity(2, "w-busy-home")}));
  auto second = idle->expect<ActivityTask>();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->work_id, 2u);
  EXPECT_EQ(second->sticky_worker, "w-busy-home");
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_queued == 0 && s.items_dispatched == 2 && s.items_in_flight == 2;
  }));
  EXPECT_TRUE(home->take_all(MsgType::kActivityTask).empty());
}

TEST_F(broker, StickyActivityForAWorkerThatCannotTakeItGoesToAnyWorker) {
  start();
  auto sched = scheduler();
  auto elsewhere = worker("w-elsewhere", "default", {"elsewhere"}, 5);
  auto other_ns = worker("w-other-ns", "other", {"default"}, 5);
  auto no_slots = worker("w-steps-only", "default", {"default"}, 0, 5);
  auto leaving = worker("w-leaving", "default", {"default"}, 1, 5);
  sched->send(batch({activity(100)}));
  ASSERT_TRUE(leaving->wait_for(MsgType::kActivityTask));
  leaving->send(WorkerDisconnect{"w-leaving"});
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.workers_draining == 1; }));
  auto any = worker("w-any", "default", {"default"}, 5);

  sched->send(batch({sticky_activity(1, "w-nobody"), sticky_activity(2, "w-elsewhere"),
                     sticky_activity(3, "w-other-ns"), sticky_activity(4, "w-steps-only"),
                     sticky_activity(5, "w-leaving")}));
  std::vector<uint64_t> ids;
  ASSERT_TRUE(wait_until([&] {
    for (auto id : work_ids_of(any->take_all(MsgType::kActivityTask))) ids.push_back(id);
    return ids.size() == 5;
  }));
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  for (Peer* p : {elsewhere.get(), other_ns.get(), no_slots.get(), leaving.get()}) {
    EXPECT_TRUE(p->take_all(MsgType::kActivityTask).empty());
  }
  EXPECT_EQ(broker_->stats().items_queued, 0u);
}

TEST_F(broker, StickyActivitiesOfAWorkerFoundGoneAreNotLost) {
  BrokerOptions options;
  options.heartbeat_liveness = 1000;  // only a failed send can notice
  start(options);
  auto sched = scheduler();
  auto other = worker("w-stays", "default", {"default"}, 5);
  auto home = worker("w-gone", "default", {"default"}, 5);
  home.reset();  // the DEALER closes: ROUTER_MANDATORY sends to it now fail
  // A round trip gives the broker time to see the connection close.
  sched->send(SchedulerHello{"scheduler-1", 7, 0});
  ASSERT_TRUE(sched->wait_for(MsgType::kHeartbeat));

  sched->send(batch({sticky_activity(1, "w-gone"), sticky_activity(2, "w-gone"),
                     sticky_activity(3, "w-gone")}));
  // Each reaches the other worker, or, if the broker sent it before it saw
  // the connection close, is reported lost; none vanishes.
  std::vector<uint64_t> ids;
  ASSERT_TRUE(wait_until([&] {
    for (auto id : work_ids_of(other->take_all(MsgType::kActivityTask))) ids.push_back(id);
    for (const auto& m : sched->take_all(MsgType::kWorkLost)) {
      for (auto id : decode_as<WorkLost>(m).work_ids) ids.push_back(id);
    }
    return ids.size() == 3;
  }));
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(stats_until([](const BrokerStats& s) {
    return s.workers == 1 && s.items_queued == 0;
  }));
}

TEST_F(broker, ActivityHeartbeatIsForwardedByteIdenticalAndReturnsNoCredit) {
  start();
  auto sched = scheduler();
  auto w = worker("w-long", "default", {"default"}, 1);
  sched->send(batch({activity(201), activity(202), activity(203)}));
  auto first = w->expect<ActivityTask>();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->work_id, 201u);

  // A field this broker does not know must survive: no re-encoding.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(4);
  pk.pack(std::string("work_id"));
  pk.pack(uint64_t{201});
  pk.pack(std::string("attempt"));
  pk.pack(int32_t{1});
  pk.pack(std::string("details"));
  pk.pack(std::string("\x93\x01\x02\x03"));
  pk.pack(std::string("x_future_field"));
  pk.pack(std::string("kept as is"));
  const std::string body(buf.data(), buf.size());
  w->send_body(MsgType::kActivityHeartbeat, body);
  w->send(activity_heartbeat(201));

  auto hb1 = sched->wait_for(MsgType::kActivityHeartbeat);
  ASSERT_TRUE(hb1);
  EXPECT_EQ(hb1->body_view(), body);
  auto hb2 = sched->wait_for(MsgType::kActivityHeartbeat);
  ASSERT_TRUE(hb2);
  EXPECT_EQ(hb2->body_view(), wire::encode(activity_heartbeat(201)));

  // Only the result returns the slot: exactly one more item goes out (had
  // the two heartbeats returned credits, both waiting items would have).
  w->send(activity_result(201));
  auto result = sched->expect<ActivityResult>();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->work_id, 201u);
  auto second = w->expect<ActivityTask>();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->work_id, 202u);
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_queued == 1 && s.items_in_flight == 1 && s.items_dispatched == 2 &&
           s.activity_heartbeats_forwarded == 2 && s.results_forwarded == 1;
  }));
  EXPECT_TRUE(w->take_all(MsgType::kActivityTask).empty());
}

TEST_F(broker, ActivityHeartbeatLeavesTheItemInFlightOnTheWorker) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{100};
  options.heartbeat_liveness = 3;
  start(options);
  auto sched = scheduler();
  auto w = worker("w-hb-then-silent", "default", {"default"}, 2);
  sched->send(batch({activity(251), activity(252)}));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  w->send(activity_heartbeat(251));
  ASSERT_TRUE(sched->expect<ActivityHeartbeat>());

  // Then the worker goes silent: both items, the heartbeated one included,
  // are reported lost.
  auto lost = sched->expect<WorkLost>();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->work_ids, (std::vector<uint64_t>{251, 252}));
}

TEST_F(broker, DrainingWorkerStaysUntilItsResultDespiteActivityHeartbeats) {
  start();
  auto sched = scheduler();
  auto w = worker("w-draining-hb", "default", {"default"}, 1);
  sched->send(batch({activity(261)}));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  w->send(WorkerDisconnect{"w-draining-hb"});
  w->send(activity_heartbeat(261));
  ASSERT_TRUE(sched->expect<ActivityHeartbeat>());
  // Still a known (draining) worker: its Heartbeat gets no "unknown peer" reply.
  w->send(Heartbeat{"w-draining-hb", 1});
  w->send(activity_result(261));
  ASSERT_TRUE(sched->expect<ActivityResult>());
  EXPECT_TRUE(stats_until([](const BrokerStats& s) {
    return s.workers == 0 && s.workers_draining == 0 && s.items_in_flight == 0;
  }));
  EXPECT_EQ(broker_->stats().unknown_peer_replies, 0u);
}

TEST_F(broker, ActivityHeartbeatForWorkNotInFlightOnTheSenderIsStillForwarded) {
  start();
  auto sched = scheduler();
  auto w = worker("w-idle-hb", "default", {"default"}, 1);
  auto stranger = peer("w-from-an-earlier-broker");
  w->send(activity_heartbeat(301));
  stranger->send(activity_heartbeat(302));

  auto first = sched->expect<ActivityHeartbeat>();
  auto second = sched->expect<ActivityHeartbeat>();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->work_id + second->work_id, 301u + 302u);
  ASSERT_TRUE(
      stats_until([](const BrokerStats& s) { return s.activity_heartbeats_forwarded == 2; }));
  // Like a result, it does not make the broker answer an unknown sender: the
  // stranger's only Heartbeat is the answer to its own Heartbeat.
  stranger->send(Heartbeat{"w-from-an-earlier-broker", 3});
  ASSERT_TRUE(stranger->expect<Heartbeat>());
  EXPECT_TRUE(stranger->take_all(MsgType::kHeartbeat).empty());
  EXPECT_EQ(broker_->stats().unknown_peer_replies, 1u);
  EXPECT_EQ(broker_->stats().items_in_flight, 0u);
}

TEST_F(broker, ActivityHeartbeatsAreBufferedWithResultsUntilASchedulerSaysHello) {
  start();
  auto w = worker("w-before-scheduler", "default", {"default"}, 1);
  w->send(activity_heartbeat(401));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.pending_results == 1; }));
  w->send(activity_result(401));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.pending_results == 2; }));

  auto sched = scheduler();
  auto first = sched->wait_for(MsgType::kActivityHeartbeat);
  auto second = sched->wait_for(MsgType::kActivityResult);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(decode_as<ActivityHeartbeat>(*first).work_id, 401u);
  EXPECT_EQ(decode_as<ActivityResult>(*second).work_id, 401u);
  EXPECT_TRUE(stats_until([](const BrokerStats& s) {
    return s.pending_results == 0 && s.activity_heartbeats_forwarded == 1 &&
           s.results_forwarded == 1;
  }));
}

TEST_F(broker, ActivityHeartbeatsAloneKeepAWorkerAlive) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{40};
  options.heartbeat_liveness = 6;
  start(options);
  auto sched = scheduler();
  auto w = worker("w-busy", "default", {"default"}, 1);
  sched->send(batch({activity(501)}));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  // The worker answers the broker's heartbeats only with ActivityHeartbeats,
  // for well over the liveness window.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(w->expect<Heartbeat>());
    w->send(activity_heartbeat(501));
  }
  std::size_t forwarded = 0;
  ASSERT_TRUE(wait_until([&] {
    forwarded += sched->take_all(MsgType::kActivityHeartbeat).size();
    return forwarded == 10;
  }));
  EXPECT_TRUE(sched->take_all(MsgType::kWorkLost).empty());
  const BrokerStats s = broker_->stats();
  EXPECT_EQ(s.workers, 1u);
  EXPECT_EQ(s.workers_dead, 0u);
  EXPECT_EQ(s.items_in_flight, 1u);
}

TEST_F(broker, ActivityHeartbeatRevivesAWorkerDeclaredDead) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{50};
  options.heartbeat_liveness = 3;
  start(options);
  auto sched = scheduler();
  auto w = worker("w-stalled-hb", "default", {"default"}, 2);
  sched->send(batch({activity(701)}));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  auto lost = sched->expect<WorkLost>();  // the worker stalls past the liveness window
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->work_ids, (std::vector<uint64_t>{701}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.workers == 0; }));

  // The same process speaks again with an ActivityHeartbeat: it is taken back
  // with the credit it had, and the heartbeat still reaches the scheduler.
  sched->send(batch({activity(702)}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.items_queued == 1; }));
  w->send(activity_heartbeat(701));
  auto hb = sched->expect<ActivityHeartbeat>();
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->work_id, 701u);
  auto task = w->expect<ActivityTask>();
  ASSERT_TRUE(task);
  EXPECT_EQ(task->work_id, 702u);
}

TEST_F(broker, MalformedActivityHeartbeatIsDroppedNotForwarded) {
  start();
  auto sched = scheduler();
  auto w = worker("w-garbled", "default", {"default"}, 1);
  w->send_body(MsgType::kActivityHeartbeat, "\xc1not msgpack");
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.malformed_dropped == 1; }));
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_malformed_frames_total", {{"peer", "worker"}}) == 1;
  })) << last_metrics_;
  w->send(activity_heartbeat(801));
  auto hb = sched->expect<ActivityHeartbeat>();
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->work_id, 801u);
  EXPECT_TRUE(stats_until([](const BrokerStats& s) {
    return s.activity_heartbeats_forwarded == 1 && s.malformed_dropped == 1;
  }));
}

TEST_F(broker, BindsAWildcardTcpPortAndAnswersOverTcp) {
  BrokerOptions options;
  options.bind_address = "tcp://127.0.0.1:*";
  auto created = Broker::create(options);
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  Broker& tcp_broker = **created;
  EXPECT_EQ(tcp_broker.endpoint().rfind("tcp://127.0.0.1:", 0), 0u) << tcp_broker.endpoint();
  EXPECT_EQ(tcp_broker.endpoint().find('*'), std::string::npos) << tcp_broker.endpoint();
  EXPECT_EQ(tcp_broker.id().rfind("broker-", 0), 0u) << tcp_broker.id();
  std::thread loop([&] { EXPECT_TRUE(tcp_broker.run().is_ok()); });
  {
    zmq::context_t ctx;
    Peer p(ctx, tcp_broker.endpoint(), "tcp-peer");
    p.send(Heartbeat{"tcp-peer", 5});
    auto hb = p.expect<Heartbeat>();  // no ASSERT: the loop must be joined below
    if (hb) {
      EXPECT_EQ(hb->incarnation, tcp_broker.incarnation());
    }
  }
  tcp_broker.stop();
  loop.join();
}

TEST_F(broker, StopSaysGoodbyeToTheSchedulerAndEveryKnownWorker) {
  start();
  auto sched = scheduler();
  auto idle = worker("w-bye-idle", "default", {"elsewhere"}, 1);
  auto draining = worker("w-bye-draining", "default", {"default"}, 1);
  sched->send(batch({activity(1)}));
  ASSERT_TRUE(draining->wait_for(MsgType::kActivityTask));
  // Draining, with an item in flight: still known, so it hears the goodbye too.
  draining->send(WorkerDisconnect{"w-bye-draining"});
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.workers_draining == 1; }));
  auto stranger = peer("w-never-said-ready");

  const uint64_t incarnation = broker_->incarnation();
  broker_->stop();
  loop_.join();
  for (Peer* p : {sched.get(), idle.get(), draining.get()}) {
    auto bye = p->expect<BrokerGoodbye>();
    ASSERT_TRUE(bye.has_value());
    EXPECT_EQ(bye->incarnation, incarnation);
    EXPECT_NE(bye->reason.find("broker-under-test is stopping"), std::string::npos) << bye->reason;
  }
  EXPECT_FALSE(stranger->wait_for(MsgType::kBrokerGoodbye, milliseconds{100}).has_value())
      << "only known peers are told";
  broker_.reset();
}

TEST_F(broker, StopBeforeRunMakesRunReturn) {
  BrokerOptions options;
  options.bind_address = "tcp://127.0.0.1:*";
  auto created = Broker::create(options);
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  (*created)->stop();
  EXPECT_TRUE((*created)->run().is_ok());
}

TEST_F(broker, RejectsUnusableOptions) {
  BrokerOptions options;
  options.bind_address = "tcp://127.0.0.1:*";
  options.heartbeat_interval = milliseconds{0};
  EXPECT_EQ(Broker::create(options).status().code(), StatusCode::kInvalidArgument);
  options.heartbeat_interval = milliseconds{100};
  options.max_queue = 0;
  EXPECT_EQ(Broker::create(options).status().code(), StatusCode::kInvalidArgument);
  options.max_queue = 10;
  options.max_batch = 0;
  auto zero_batch = Broker::create(options);
  EXPECT_EQ(zero_batch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(zero_batch.status().message().find("max batch"), std::string::npos);
  options.max_batch = 1;
  options.bind_address = "nonsense://address";
  EXPECT_EQ(Broker::create(options).status().code(), StatusCode::kUnavailable);
  options.bind_address = "tcp://127.0.0.1:*";
  options.metrics_address = "no-port";
  EXPECT_EQ(Broker::create(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(broker, MetricsAddressInUseIsAnError) {
  zmq::context_t ctx;
  zmq::socket_t squatter(ctx, zmq::socket_type::router);
  squatter.set(zmq::sockopt::linger, 0);
  squatter.bind("tcp://127.0.0.1:*");
  const std::string taken = squatter.get(zmq::sockopt::last_endpoint);  // tcp://127.0.0.1:N
  BrokerOptions options;
  options.bind_address = "tcp://127.0.0.1:*";
  options.metrics_address = taken.substr(taken.find("127.0.0.1"));
  auto created = Broker::create(options);
  EXPECT_EQ(created.status().code(), StatusCode::kUnavailable) << created.status().to_string();
}

TEST_F(broker, MetricsShowQueueDepthWhileItemsWaitThenDispatchesAndResults) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{50};  // credit gauges refresh per interval
  options.heartbeat_liveness = 1000;
  start(options);
  auto sched = scheduler();
  sched->send(batch({activity(1), activity(2)}, {orchestration(3)}));
  const auto act = queue_labels("activity");
  const auto orch = queue_labels("orchestration");
  // No worker: everything waits. (One scrape can see a queue's depth and not
  // yet its other series, registered by the broker's thread meanwhile: all
  // are asked of the same scrape.)
  ASSERT_TRUE(metrics_until([&](const std::string& t) {
    return metric(t, "baton_broker_queue_depth", act) == 2 &&
           metric(t, "baton_broker_queue_depth", orch) == 1 &&
           metric(t, "baton_broker_dispatched_total", act) == 0 &&
           metric(t, "baton_broker_queue_wait_seconds_count", act) == 0;
  })) << last_metrics_;

  auto w = worker("w-metrics", "default", {"default"}, 1, 1);
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  ASSERT_TRUE(w->wait_for(MsgType::kOrchestrationTask));
  ASSERT_TRUE(metrics_until([&](const std::string& t) {
    return metric(t, "baton_broker_dispatched_total", act) == 1 &&
           metric(t, "baton_broker_dispatched_total", orch) == 1 &&
           metric(t, "baton_broker_queue_depth", act) == 1 &&
           metric(t, "baton_broker_queue_depth", orch) == 0 &&
           metric(t, "baton_broker_queue_wait_seconds_count", act) == 1 &&
           metric(t, "baton_broker_queue_wait_seconds_count", orch) == 1 &&
           metric(t, "baton_broker_workers",
                  {{"namespace", "default"}, {"task_queue", "default"}}) == 1 &&
           metric(t, "baton_broker_credits", credit_labels("activity", "used")) == 1 &&
           metric(t, "baton_broker_credits", credit_labels("activity", "free")) == 0;
  })) << last_metrics_;
  EXPECT_GT(value("baton_broker_queue_wait_seconds_sum", act).value_or(0), 0);
  EXPECT_EQ(value("baton_broker_results_total", {{"kind", "activity"}}), 0);

  w->send(activity_result(1));
  ASSERT_TRUE(sched->expect<ActivityResult>());
  auto second = w->expect<ActivityTask>();  // the credit came back with the result
  ASSERT_TRUE(second);
  EXPECT_EQ(second->work_id, 2u);
  EXPECT_TRUE(metrics_until([&](const std::string& t) {
    return metric(t, "baton_broker_results_total", {{"kind", "activity"}}) == 1 &&
           metric(t, "baton_broker_results_total", {{"kind", "orchestration"}}) == 0 &&
           metric(t, "baton_broker_dispatched_total", act) == 2 &&
           metric(t, "baton_broker_queue_depth", act) == 0 &&
           metric(t, "baton_broker_queue_wait_seconds_count", act) == 2;
  })) << last_metrics_;
}

TEST_F(broker, MetricsCountWorkersPerTaskQueueAndDropThemToZeroWhenTheWorkerIsLost) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{50};
  options.heartbeat_liveness = 3;
  start(options);
  auto sched = scheduler();
  auto w = worker("w-two-queues", "default", {"alpha", "beta"}, 2);
  sched->send(batch({activity(11, "default", "alpha")}));
  ASSERT_TRUE(w->wait_for(MsgType::kActivityTask));
  // One credit pool per kind, shared by both queues; the item came from alpha.
  ASSERT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_workers", {{"namespace", "default"}, {"task_queue", "alpha"}}) ==
               1 &&
           metric(t, "baton_broker_workers", {{"namespace", "default"}, {"task_queue", "beta"}}) ==
               1 &&
           metric(t, "baton_broker_credits", credit_labels("activity", "free", "alpha")) == 1 &&
           metric(t, "baton_broker_credits", credit_labels("activity", "used", "alpha")) == 1 &&
           metric(t, "baton_broker_credits", credit_labels("activity", "free", "beta")) == 1 &&
           metric(t, "baton_broker_credits", credit_labels("activity", "used", "beta")) == 0;
  })) << last_metrics_;
  EXPECT_EQ(value("baton_broker_workers_lost_total", {{"reason", "heartbeat"}}), 0);

  // The worker says nothing more: declared dead, its item lost, gauges back to 0.
  ASSERT_TRUE(sched->expect<WorkLost>());
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_workers", {{"namespace", "default"}, {"task_queue", "alpha"}}) ==
               0 &&
           metric(t, "baton_broker_workers", {{"namespace", "default"}, {"task_queue", "beta"}}) ==
               0 &&
           metric(t, "baton_broker_credits", credit_labels("activity", "free", "alpha")) == 0 &&
           metric(t, "baton_broker_credits", credit_labels("activity", "used", "alpha")) == 0 &&
           metric(t, "baton_broker_workers_lost_total", {{"reason", "heartbeat"}}) == 1 &&
           metric(t, "baton_broker_work_lost_total", {{"reason", "worker_dead"}}) == 1;
  })) << last_metrics_;
  // Silent for more than the 3-interval liveness window: at least two whole
  // intervals without a word were counted before it was declared dead.
  EXPECT_GE(value("baton_broker_heartbeat_misses_total").value_or(0), 2) << last_metrics_;
}

TEST_F(broker, ServesMetricsAndReadinessOverHttpUntilStopped) {
  BrokerOptions options;
  options.metrics_address = "127.0.0.1:0";
  start(options);
  const int port = broker_->metrics_port();
  ASSERT_GT(port, 0);

  auto ready = test::http_get("127.0.0.1", port, "/readyz");
  ASSERT_TRUE(ready.is_ok()) << ready.status().to_string();
  EXPECT_EQ(ready->status, 200) << ready->body;

  auto sched = scheduler();
  std::string body;
  EXPECT_TRUE(wait_until([&] {
    auto scrape = test::http_get("127.0.0.1", port, "/metrics");
    if (!scrape || scrape->status != 200) return false;
    body = scrape->body;
    return metric(body, "baton_broker_scheduler_connected") == 1;
  })) << body;
  EXPECT_EQ(metric(body, "baton_build_info", {{"part", "broker"}, {"version", BATON_VERSION}}), 1);
  EXPECT_EQ(metric(body, "baton_ready"), 1);

  broker_->stop();
  auto stopping = test::http_get("127.0.0.1", port, "/readyz");
  ASSERT_TRUE(stopping.is_ok()) << stopping.status().to_string();
  EXPECT_EQ(stopping->status, 503);
  EXPECT_NE(stopping->body.find("stopping"), std::string::npos) << stopping->body;
}

// ---------------------------------------------------------------- batches

// A worker that takes DispatchBatch and a scheduler that takes ResultBatch.
std::unique_ptr<Peer> batch_worker(BrokerFixture& f, const std::string& id,
                                   int32_t activity_slots, int32_t orchestration_slots) {
  auto p = f.peer_for_test(id);
  WorkerReady r = f.ready_for_test(id, "default", {"default"}, activity_slots, orchestration_slots);
  r.task_batches = true;
  p->send(r);
  EXPECT_TRUE(p->wait_for(MsgType::kHeartbeat).has_value());
  return p;
}

std::unique_ptr<Peer> batch_scheduler(BrokerFixture& f, const std::string& id = "scheduler-b") {
  auto p = f.peer_for_test(id);
  p->send(SchedulerHello{id, 7, 0, /*result_batches=*/true});
  EXPECT_TRUE(p->wait_for(MsgType::kHeartbeat).has_value());
  return p;
}

std::vector<uint64_t> ids_in(const DispatchBatch& b) {
  std::vector<uint64_t> ids;
  for (const auto& a : b.activities) ids.push_back(a.work_id);
  for (const auto& o : b.orchestrations) ids.push_back(o.work_id);
  return ids;
}

ResultBatch result_batch(std::vector<std::string> activities,
                         std::vector<std::string> orchestrations = {}) {
  ResultBatch b;
  b.activities = std::move(activities);
  b.orchestrations = std::move(orchestrations);
  return b;
}

TEST_F(broker, WorkerThatTakesBatchesGetsItsItemsSeveralToAMessageWithinItsCredits) {
  start();
  auto sched = scheduler();
  auto w = batch_worker(*this, "w-batches", 3, 10);
  const ActivityTask first = activity(1);
  sched->send(batch({first, activity(2), activity(3), activity(4), activity(5)},
                    {orchestration(6), orchestration(7)}));

  auto activities = w->expect<DispatchBatch>();
  auto orchestrations = w->expect<DispatchBatch>();
  ASSERT_TRUE(activities && orchestrations);
  if (activities->activities.empty()) std::swap(activities, orchestrations);
  EXPECT_EQ(ids_in(*activities), (std::vector<uint64_t>{1, 2, 3})) << "three credits";
  EXPECT_EQ(ids_in(*orchestrations), (std::vector<uint64_t>{6, 7}));
  ASSERT_EQ(activities->activities.size(), 3u);
  EXPECT_EQ(wire::encode(activities->activities[0]), wire::encode(first)) << "every field kept";
  EXPECT_TRUE(w->take_all(MsgType::kActivityTask).empty());
  EXPECT_TRUE(w->take_all(MsgType::kOrchestrationTask).empty());
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_dispatched == 5 && s.items_in_flight == 5 && s.items_queued == 2 &&
           s.task_batches_sent == 2;
  }));

  // Two results give two credits back: the rest follows in one message.
  w->send(result_batch({wire::encode(activity_result(1)), wire::encode(activity_result(2))}));
  auto rest = w->expect<DispatchBatch>();
  ASSERT_TRUE(rest);
  EXPECT_EQ(ids_in(*rest), (std::vector<uint64_t>{4, 5}));
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_dispatched_total", queue_labels("activity")) == 5 &&
           metric(t, "baton_broker_queue_depth", queue_labels("activity")) == 0 &&
           metric(t, "baton_broker_batches_total", {{"link", "to_worker"}}) == 3 &&
           metric(t, "baton_broker_batches_total", {{"link", "from_worker"}}) == 1;
  })) << last_metrics_;
}

TEST_F(broker, BatchesShareWhatWaitsAmongTheWorkersServingTheQueue) {
  start();
  auto sched = scheduler();
  auto a = batch_worker(*this, "w-a", 10, 0);
  auto b = batch_worker(*this, "w-b", 10, 0);
  sched->send(batch({activity(1), activity(2), activity(3), activity(4), activity(5),
                     activity(6), activity(7), activity(8)}));
  auto to_a = a->expect<DispatchBatch>();
  auto to_b = b->expect<DispatchBatch>();
  ASSERT_TRUE(to_a && to_b);
  EXPECT_EQ(to_a->activities.size(), 4u);
  EXPECT_EQ(to_b->activities.size(), 4u);
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.items_dispatched == 8; }));
}

TEST_F(broker, StickyStepsForOneWorkerTravelInOneBatch) {
  start();
  auto sched = scheduler();
  auto other = batch_worker(*this, "w-other", 0, 10);
  auto home = batch_worker(*this, "w-home", 0, 10);
  sched->send(batch({}, {sticky(1, "w-home"), sticky(2, "w-home"), sticky(3, "w-home")}));
  auto got = home->expect<DispatchBatch>();
  ASSERT_TRUE(got);
  EXPECT_EQ(ids_in(*got), (std::vector<uint64_t>{1, 2, 3}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.sticky_dispatched == 3 && s.task_batches_sent == 1 && s.items_queued == 0;
  }));
  EXPECT_TRUE(other->take_all(MsgType::kDispatchBatch).empty());
  EXPECT_TRUE(other->take_all(MsgType::kOrchestrationTask).empty());
}

TEST_F(broker, StickyActivitiesForOneWorkerTravelInOneBatchWithinItsFreeSlots) {
  start();
  auto sched = scheduler();
  auto other = batch_worker(*this, "w-other", 10, 0);  // first in round robin
  auto home = batch_worker(*this, "w-home", 3, 0);
  sched->send(batch({sticky_activity(1, "w-home"), sticky_activity(2, "w-home"),
                     sticky_activity(3, "w-home"), sticky_activity(4, "w-home"),
                     sticky_activity(5, "w-home")}));
  auto got = home->expect<DispatchBatch>();
  ASSERT_TRUE(got);
  EXPECT_EQ(ids_in(*got), (std::vector<uint64_t>{1, 2, 3})) << "three free slots";
  // Beyond its slots they do not wait for it: the other worker takes them.
  std::vector<uint64_t> rest;
  ASSERT_TRUE(wait_until([&] {
    for (auto id : work_ids_of(other->take_all(MsgType::kActivityTask))) rest.push_back(id);
    for (const auto& m : other->take_all(MsgType::kDispatchBatch)) {
      for (auto id : ids_in(decode_as<DispatchBatch>(m))) rest.push_back(id);
    }
    return rest.size() == 2;
  }));
  EXPECT_EQ(rest, (std::vector<uint64_t>{4, 5}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.items_dispatched == 5 && s.items_queued == 0 && s.items_in_flight == 5;
  }));
  EXPECT_TRUE(home->take_all(MsgType::kDispatchBatch).empty());
  EXPECT_TRUE(home->take_all(MsgType::kActivityTask).empty());
}

TEST_F(broker, WithMaxBatchOneEveryItemAndResultTravelsAlone) {
  BrokerOptions options;
  options.max_batch = 1;
  start(options);
  auto sched = batch_scheduler(*this);
  auto p = peer("w-single");
  WorkerReady r = ready("w-single", "default", {"default"}, 10, 0);
  r.task_batches = true;
  p->send(r);
  auto hb = p->expect<Heartbeat>();
  ASSERT_TRUE(hb);
  EXPECT_FALSE(hb->result_batches) << "the broker says it takes no batches";
  sched->send(batch({activity(1), activity(2), activity(3)}));
  for (uint64_t id : {1, 2, 3}) {
    auto t = p->expect<ActivityTask>();
    ASSERT_TRUE(t);
    EXPECT_EQ(t->work_id, id);
  }
  p->send(activity_result(1));
  p->send(activity_result(2));
  for (uint64_t id : {1, 2}) {
    auto res = sched->expect<ActivityResult>();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->work_id, id);
  }
  EXPECT_TRUE(sched->take_all(MsgType::kResultBatch).empty());
  EXPECT_TRUE(p->take_all(MsgType::kDispatchBatch).empty());
  EXPECT_EQ(broker_->stats().task_batches_sent, 0u);
}

TEST_F(broker, HeartbeatsTellWorkersTheBrokerTakesResultBatches) {
  start();
  auto w = peer("w-asks");
  w->send(ready("w-asks", "default", {"default"}, 1, 0));
  auto hb = w->expect<Heartbeat>();
  ASSERT_TRUE(hb);
  EXPECT_TRUE(hb->result_batches);
}

TEST_F(broker, ResultBatchReachesASchedulerThatTakesThemAsOneBatchByteIdentical) {
  start();
  auto sched = batch_scheduler(*this);
  auto w = batch_worker(*this, "w-results", 3, 1);
  sched->send(batch({activity(1), activity(2), activity(3)}, {orchestration(4)}));
  ASSERT_TRUE(w->wait_for(MsgType::kDispatchBatch));
  ASSERT_TRUE(w->wait_for(MsgType::kOrchestrationTask));

  // A field this broker does not know must survive: no re-encoding.
  OrchestrationResult orch;
  orch.work_id = 4;
  orch.instance_id = "instance-4";
  const ResultBatch sent =
      result_batch({wire::encode(activity_result(1)), result_with_a_future_field(2),
                    wire::encode(activity_result(3))},
                   {wire::encode(orch)});
  w->send(sent);

  auto got = sched->expect<ResultBatch>();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->activities, sent.activities);
  EXPECT_EQ(got->orchestrations, sent.orchestrations);
  EXPECT_TRUE(sched->take_all(MsgType::kActivityResult).empty());
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.results_forwarded == 4 && s.result_batches_received == 1 &&
           s.result_batches_forwarded == 1 && s.items_in_flight == 0;
  }));
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_broker_results_total", {{"kind", "activity"}}) == 3 &&
           metric(t, "baton_broker_results_total", {{"kind", "orchestration"}}) == 1 &&
           metric(t, "baton_broker_batches_total", {{"link", "from_worker"}}) == 1 &&
           metric(t, "baton_broker_batches_total", {{"link", "to_scheduler"}}) == 1;
  })) << last_metrics_;

  // The four credits came back.
  sched->send(batch({activity(5), activity(6), activity(7)}, {orchestration(8)}));
  auto more = w->expect<DispatchBatch>();
  ASSERT_TRUE(more);
  EXPECT_EQ(ids_in(*more), (std::vector<uint64_t>{5, 6, 7}));
  auto step = w->expect<OrchestrationTask>();
  ASSERT_TRUE(step);
  EXPECT_EQ(step->work_id, 8u);
}

TEST_F(broker, ResultBatchReachesASchedulerThatTakesNoneOneResultAtATime) {
  start();
  auto sched = scheduler();
  auto w = batch_worker(*this, "w-results", 2, 0);
  sched->send(batch({activity(1), activity(2)}));
  ASSERT_TRUE(w->wait_for(MsgType::kDispatchBatch));
  const std::string first = wire::encode(activity_result(1));
  const std::string second = wire::encode(activity_result(2));
  w->send(result_batch({first, second}));
  auto one = sched->wait_for(MsgType::kActivityResult);
  auto two = sched->wait_for(MsgType::kActivityResult);
  ASSERT_TRUE(one && two);
  EXPECT_EQ(one->body_view(), first);
  EXPECT_EQ(two->body_view(), second);
  EXPECT_TRUE(sched->take_all(MsgType::kResultBatch).empty());
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.results_forwarded == 2 && s.result_batches_forwarded == 0;
  }));
}

TEST_F(broker, MalformedResultInABatchIsDroppedWithoutItsNeighbours) {
  start();
  auto sched = batch_scheduler(*this);
  auto w = batch_worker(*this, "w-garbled", 2, 0);
  sched->send(batch({activity(1), activity(2)}));
  ASSERT_TRUE(w->wait_for(MsgType::kDispatchBatch));
  w->send(result_batch({"\x01not a map", wire::encode(activity_result(2))}));
  auto got = sched->expect<ActivityResult>();  // a batch of one leaves as itself
  ASSERT_TRUE(got);
  EXPECT_EQ(got->work_id, 2u);
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.malformed_dropped == 1 && s.results_forwarded == 1 && s.items_in_flight == 1;
  }));
  EXPECT_TRUE(metrics_until([](const std::string& t) {
    return metric(t, "baton_malformed_frames_total", {{"peer", "worker"}}) == 1;
  })) << last_metrics_;

  // A batch that is not a ResultBatch at all is dropped whole.
  w->send_body(MsgType::kResultBatch, "\x93\x01\x02\x03");
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.malformed_dropped == 2; }));
}

TEST_F(broker, BufferedResultBatchReachesASchedulerThatTakesNoneAsSingleResults) {
  BrokerOptions options;
  options.heartbeat_interval = milliseconds{50};
  options.heartbeat_liveness = 1000;
  start(options);
  auto sched = batch_scheduler(*this, "scheduler-new");
  auto w = batch_worker(*this, "w-steady", 2, 0);
  sched->send(batch({activity(1), activity(2)}));
  ASSERT_TRUE(w->wait_for(MsgType::kDispatchBatch));
  sched.reset();  // its connection drops: the next heartbeat to it fails
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return !s.scheduler_connected; }));
  w->send(result_batch({wire::encode(activity_result(1)), wire::encode(activity_result(2))}));
  ASSERT_TRUE(stats_until([](const BrokerStats& s) { return s.pending_results == 1; }));

  // An older scheduler takes over: it cannot read a ResultBatch.
  auto old = scheduler("scheduler-old");
  for (uint64_t id : {1, 2}) {
    auto r = old->expect<ActivityResult>();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->work_id, id);
  }
  EXPECT_TRUE(old->take_all(MsgType::kResultBatch).empty());
  ASSERT_TRUE(stats_until([](const BrokerStats& s) {
    return s.pending_results == 0 && s.results_forwarded == 2;
  }));
}

}  // namespace
}  // namespace baton::broker
