// The walking skeleton end to end: real scheduler, broker, workers and
// PostgreSQL; kill -9 and restarts of each part mid-run.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <msgpack.hpp>
#include <pqxx/pqxx>
#include <zmq.hpp>

#include "baton/client.h"
#include "baton/wire.h"
#include "tests/support/http.h"
#include "tests/support/itest.h"
#include "tests/support/metrics_text.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using testing::Stack;
using testing::StackOptions;
using testing::count_of;
using testing::stored_history;

constexpr const char* kExpected = "Hello World! How are you today? I hope you're doing well!";

std::string pack_string(const std::string& s) { return testing::pack(s); }
std::string unpack_string(const std::string& bytes) { return testing::unpack<std::string>(bytes); }

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class Chaining : public testing::StackTest {
 protected:
  void start(StackOptions options = {}) { start_stack(std::move(options)); }

  std::vector<std::string> start_many(int n, const std::string& prefix) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      StartOptions so;
      so.instance_id = prefix + std::to_string(i);
      auto id = client_->schedule_new_orchestration("function_chaining", pack_string("World"), so);
      EXPECT_TRUE(id) << id.status().to_string();
      if (id) ids.push_back(*id);
    }
    return ids;
  }

  int64_t completed() {
    return stack_->count("SELECT count(*) FROM baton_instances WHERE status = 2");
  }

  // Every instance completed with the exact output and an exact history:
  // contiguous seq, 3 TaskScheduled, 3 TaskCompleted, 1 ExecutionCompleted.
  void expect_all_completed_exactly(const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      auto md = client_->wait_for_orchestration_completion(id, 120s);
      ASSERT_TRUE(md) << id << ": " << md.status().to_string() << " (logs in "
                      << stack_->log_dir() << ")";
      ASSERT_EQ(md->status, OrchestrationStatus::kCompleted)
          << id << ": " << md->failure.error_type << " " << md->failure.message;
      EXPECT_EQ(unpack_string(md->output), kExpected) << id;
    }
    expect_exact_chain_histories(*client_, ids.size());
  }
};

TEST_F(Chaining, TwoHundredConcurrentOrchestrationsCompleteWithExactHistories) {
  start();
  auto ids = start_many(200, "c");
  ASSERT_EQ(ids.size(), 200u);
  expect_all_completed_exactly(ids);
}

TEST_F(Chaining, SurvivesKill9OfAWorkerWithActivitiesInFlight) {
  StackOptions o;
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "100"}, {"BATON_ACTIVITY_SLOTS", "8"}};
  start(o);
  auto ids = start_many(200, "k");
  ASSERT_TRUE(testing::wait_until([&] { return completed() >= 20; }, 60s));
  stack_->worker(0).kill9();
  expect_all_completed_exactly(ids);
  EXPECT_NE(read_file(stack_->log_dir() + "/scheduler.log").find("dispatching a new attempt"),
            std::string::npos)
      << "the killed worker's in-flight activities should have been dispatched again";
}

TEST_F(Chaining, SurvivesABrokerRestartMidRun) {
  StackOptions o;
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "20"}};
  start(o);
  auto ids = start_many(200, "b");
  ASSERT_TRUE(testing::wait_until([&] { return completed() >= 20; }, 60s));
  stack_->broker().kill9();
  stack_->start_broker();
  expect_all_completed_exactly(ids);
  EXPECT_NE(read_file(stack_->log_dir() + "/scheduler.log").find("broker restarted"),
            std::string::npos);
}

TEST_F(Chaining, SurvivesKill9OfTheSchedulerMidRun) {
  StackOptions o;
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "20"}};
  start(o);
  auto ids = start_many(200, "s");
  ASSERT_TRUE(testing::wait_until([&] { return completed() >= 20; }, 60s));
  stack_->scheduler().kill9();
  stack_->start_scheduler();
  expect_all_completed_exactly(ids);
}

// SIGTERM: the scheduler finishes the batch in flight, hands its partition
// leases back (so a successor need not wait for them to expire) and exits 0.
TEST_F(Chaining, SigtermStopsTheSchedulerAndHandsItsLeasesBack) {
  StackOptions o;
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "20"}};
  start(o);
  auto ids = start_many(100, "t");
  ASSERT_TRUE(testing::wait_until([&] { return completed() >= 10; }, 60s));
  stack_->scheduler().signal(SIGTERM);
  EXPECT_EQ(stack_->scheduler().wait(10s), 0) << "logs in " << stack_->log_dir();
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_partitions WHERE owner = '' "
                          "AND lease_expires_at < now()"),
            16);
  EXPECT_NE(read_file(stack_->log_dir() + "/scheduler.log").find("handed 16 partitions back"),
            std::string::npos);
  stack_->start_scheduler();
  expect_all_completed_exactly(ids);
}

// Backpressure: a backlog larger than --max-held-activities waits in
// PostgreSQL (parked) instead of scheduler memory, also across a scheduler
// restart, and all of it completes.
TEST_F(Chaining, BacklogBeyondTheMemoryCapWaitsInPostgreSQL) {
  constexpr int kCap = 50;
  StackOptions o;
  o.scheduler_args = {"--max-held-activities", std::to_string(kCap)};
  start(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto id = client_->schedule_new_orchestration("fan_out_fan_in", testing::pack(500));
    ASSERT_TRUE(id) << id.status().to_string();
    ids.push_back(*id);
  }
  // The scheduler's own count of activities in flight, from its /metrics.
  auto in_flight = [&]() -> double {
    auto r = test::http_get("127.0.0.1", stack_->scheduler_metrics_port(), "/metrics");
    if (!r) return -1;
    const std::string key = "baton_scheduler_in_flight{kind=\"activity\"} ";
    const auto at = r->body.find(key);
    return at == std::string::npos ? -1 : std::stod(r->body.substr(at + key.size()));
  };
  double max_in_flight = 0;
  int64_t max_parked = 0;
  bool restarted = false;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline &&
         stack_->count("SELECT count(*) FROM baton_instances WHERE status IN (2, 3)") < 4) {
    max_in_flight = std::max(max_in_flight, in_flight());
    const int64_t parked = stack_->count("SELECT count(*) FROM baton_tasks WHERE parked");
    max_parked = std::max(max_parked, parked);
    if (!restarted && parked > 500) {
      // Recovery must respect the cap too.
      stack_->scheduler().kill9();
      stack_->start_scheduler();
      restarted = true;
    }
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(restarted) << "the backlog never grew past 500 parked tasks";
  EXPECT_GT(max_parked, 500);
  EXPECT_GT(max_in_flight, 0) << "never saw the in-flight gauge";
  EXPECT_LE(max_in_flight, kCap);
  for (const auto& id : ids) {
    auto md = client_->wait_for_orchestration_completion(id, 60s);
    ASSERT_TRUE(md) << md.status().to_string();
    ASSERT_EQ(md->status, OrchestrationStatus::kCompleted) << md->failure.message;
    EXPECT_EQ(testing::unpack<int>(md->output), 10 * 6 + 90 * 7 + 400 * 8);
  }
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_tasks"), 0);
  auto violations = client_->verify_database();
  ASSERT_TRUE(violations) << violations.status().to_string();
  EXPECT_TRUE(violations->empty());
}

// Issue 6: an activity result whose instance the scheduler holds in memory
// goes straight into the next step and is committed with it; with
// --instance-cache 0 every result goes through the inbox and a load. Both
// give the same exact histories.
class ResultPaths : public Chaining, public ::testing::WithParamInterface<bool> {};

TEST_P(ResultPaths, ActivityResultsReachHistoryWithTheNextStepOrThroughTheInbox) {
  const bool cached = GetParam();
  StackOptions o;
  if (!cached) o.scheduler_args = {"--instance-cache", "0"};
  start(o);
  constexpr int kRuns = 5;
  std::vector<std::string> ids;
  for (int i = 0; i < kRuns; ++i) {  // one at a time: nothing else is pending for them
    auto run = start_many(1, "p" + std::to_string(i) + "-");
    ASSERT_EQ(run.size(), 1u);
    auto md = client_->wait_for_orchestration_completion(run[0], 60s);
    ASSERT_TRUE(md) << md.status().to_string();
    ids.push_back(run[0]);
  }
  expect_all_completed_exactly(ids);
  // A fan-in: results that arrive while a step runs or commits wait in
  // memory for the next step (cached) or go through the inbox (not).
  constexpr int kFanOut = 50;
  auto fan = client_->schedule_new_orchestration("fan_out_fan_in", testing::pack(kFanOut));
  ASSERT_TRUE(fan) << fan.status().to_string();
  auto fanned = client_->wait_for_orchestration_completion(*fan, 60s);
  ASSERT_TRUE(fanned) << fanned.status().to_string();
  ASSERT_EQ(fanned->status, OrchestrationStatus::kCompleted) << fanned->failure.message;
  EXPECT_EQ(testing::unpack<int>(fanned->output), 10 * 6 + 40 * 7);  // "item-0".."item-49"
  auto violations = client_->verify_database();
  ASSERT_TRUE(violations) << violations.status().to_string();
  EXPECT_TRUE(violations->empty());
  auto r = test::http_get("127.0.0.1", stack_->scheduler_metrics_port(), "/metrics");
  ASSERT_TRUE(r) << r.status().to_string();
  auto results = [&](const char* path) {
    return testing::metric(r->body, "baton_activity_results_total", {{"path", path}}).value_or(0);
  };
  EXPECT_EQ(results(cached ? "step" : "inbox"), 3 * kRuns + 1 + kFanOut);
  EXPECT_EQ(results(cached ? "inbox" : "step"), 0);
}

INSTANTIATE_TEST_SUITE_P(Cache, ResultPaths, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "On" : "Off"; });

// Issue 6: a new instance's first step runs before its start is committed,
// and both are committed in one transaction; the client's start returns
// after it. Histories are the same as with the start committed first.
TEST_F(Chaining, AStartIsCommittedWithItsFirstStep) {
  StackOptions o;
  o.scheduler_args = {"--first-step-wait-ms", "10000"};  // never falls back here
  start(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto run = start_many(1, "early" + std::to_string(i) + "-");
    ASSERT_EQ(run.size(), 1u);
    auto md = client_->wait_for_orchestration_completion(run[0], 60s);
    ASSERT_TRUE(md) << md.status().to_string();
    ids.push_back(run[0]);
  }
  expect_all_completed_exactly(ids);
  // The id is taken: the start is refused, its early step with it, and the
  // finished instance is left as it was.
  StartOptions so;
  so.instance_id = ids[0];
  auto again = client_->schedule_new_orchestration("function_chaining", pack_string("Again"), so);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().to_string();
  expect_all_completed_exactly(ids);
  auto violations = client_->verify_database();
  ASSERT_TRUE(violations) << violations.status().to_string();
  EXPECT_TRUE(violations->empty());
  auto r = test::http_get("127.0.0.1", stack_->scheduler_metrics_port(), "/metrics");
  ASSERT_TRUE(r) << r.status().to_string();
  auto starts = [&](const char* path) {
    return testing::metric(r->body, "baton_starts_total", {{"path", path}}).value_or(0);
  };
  EXPECT_EQ(starts("with_first_step"), 3);
  EXPECT_EQ(starts("alone"), 0);
}

// With no worker to run the first step in time, the start is committed alone
// (and acknowledged) after --first-step-wait-ms; the instance stays PENDING
// until a worker for its task queue runs it.
TEST_F(Chaining, AStartWhoseFirstStepDoesNotComeBackIsCommittedAlone) {
  StackOptions o;
  o.scheduler_args = {"--first-step-wait-ms", "200"};
  start(o);
  StartOptions so;
  so.instance_id = "nobody-runs-me";
  so.task_queue = "no-such-queue";
  auto id = client_->schedule_new_orchestration("function_chaining", pack_string("World"), so);
  ASSERT_TRUE(id) << id.status().to_string();
  auto md = client_->get_orchestration_metadata(*id);
  ASSERT_TRUE(md) << md.status().to_string();
  EXPECT_EQ(md->status, OrchestrationStatus::kPending);
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_inbox WHERE instance_id = 'nobody-runs-me'"),
            1);
  // A start on a served queue still goes with its first step.
  auto ok = start_many(1, "served-");
  ASSERT_EQ(ok.size(), 1u);
  auto done = client_->wait_for_orchestration_completion(ok[0], 60s);
  ASSERT_TRUE(done) << done.status().to_string();
  EXPECT_EQ(done->status, OrchestrationStatus::kCompleted) << done->failure.message;
  auto r = test::http_get("127.0.0.1", stack_->scheduler_metrics_port(), "/metrics");
  ASSERT_TRUE(r) << r.status().to_string();
  auto starts = [&](const char* path) {
    return testing::metric(r->body, "baton_starts_total", {{"path", path}}).value_or(0);
  };
  EXPECT_EQ(starts("alone"), 1);
  EXPECT_EQ(starts("with_first_step"), 1);
}

TEST_F(Chaining, ActivityWhoseLeaseExpiresIsDispatchedAgain) {
  StackOptions o;
  o.scheduler_args = {"--activity-lease", "2"};
  start(o);
  StartOptions so;
  so.instance_id = "hang";
  ASSERT_TRUE(client_->schedule_new_orchestration("hang_once", pack_string("in"), so));
  auto md = client_->wait_for_orchestration_completion("hang", 60s);
  ASSERT_TRUE(md) << md.status().to_string();
  ASSERT_EQ(md->status, OrchestrationStatus::kCompleted) << md->failure.message;
  // The first attempt still hangs on its worker; the second one finished.
  EXPECT_EQ(unpack_string(md->output), "in after attempt 2");
  EXPECT_EQ(count_of(stored_history(stack_->db_url()), EventType::kTaskCompleted), 1);
  EXPECT_NE(read_file(stack_->log_dir() + "/scheduler.log").find("lease expired"),
            std::string::npos);
}

TEST_F(Chaining, SigtermDrainsAWorkerWithoutLosingWork) {
  StackOptions o;
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "50"}};
  start(o);
  auto ids = start_many(50, "t");
  ASSERT_TRUE(testing::wait_until([&] { return completed() >= 5; }, 60s));
  stack_->worker(0).signal(SIGTERM);
  EXPECT_EQ(stack_->worker(0).wait(30s), 0) << "a drained worker exits 0";
  expect_all_completed_exactly(ids);
}

TEST_F(Chaining, UnknownOrchestratorFailsTheInstanceWithAClearError) {
  start();
  StartOptions so;
  so.instance_id = "nope";
  auto id = client_->schedule_new_orchestration("no_such_orchestrator", pack_string("x"), so);
  ASSERT_TRUE(id) << id.status().to_string();
  auto md = client_->wait_for_orchestration_completion("nope", 60s);
  ASSERT_TRUE(md) << md.status().to_string();
  EXPECT_EQ(md->status, OrchestrationStatus::kFailed);
  EXPECT_EQ(md->failure.error_type, "OrchestratorNotFound");
  EXPECT_NE(md->failure.message.find("no_such_orchestrator"), std::string::npos);
}

TEST_F(Chaining, DuplicateInstanceIdIsRejected) {
  start();
  StartOptions so;
  so.instance_id = "once";
  ASSERT_TRUE(client_->schedule_new_orchestration("function_chaining", pack_string("W"), so));
  auto again = client_->schedule_new_orchestration("function_chaining", pack_string("W"), so);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
}

TEST_F(Chaining, MalformedClientFramesGetAnErrorAndServiceContinues) {
  start();
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::rcvtimeo, 10000);
  s.connect(stack_->scheduler_address());
  auto expect_error = [&](const char* what) {
    auto r = wire::recv(s, false);
    for (int i = 0; i < 100 && !r && r.status().code() == StatusCode::kUnavailable; ++i) {
      zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 100ms);
      r = wire::recv(s, false);
    }
    ASSERT_TRUE(r) << what << ": " << r.status().to_string();
    EXPECT_EQ(r->type, MsgType::kErrorReply) << what;
    auto e = wire::decode<ErrorReply>(r->body_view());
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code, static_cast<uint8_t>(StatusCode::kInvalidArgument)) << what;
    EXPECT_FALSE(e->message.empty());
  };
  s.send(zmq::str_buffer("garbage"), zmq::send_flags::none);
  expect_error("one frame");
  wire::send_raw(s, {}, MsgType::kStartRequest, "\x92\x01\x02");
  expect_error("array body");
  wire::send_raw(s, {}, MsgType::kStartRequest, std::string("\x81\xa4name", 6));
  expect_error("truncated body");
  wire::send_raw(s, {}, MsgType::kHeartbeat, wire::encode(Heartbeat{"x", 1}));
  expect_error("not a client request");
  StartRequest big;
  big.request_id = 9;
  big.name = "function_chaining";
  big.input.assign((2u << 20) + 1, 'x');
  wire::send(s, big);
  auto r = wire::recv(s, false);
  for (int i = 0; i < 100 && !r; ++i) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 100ms);
    r = wire::recv(s, false);
  }
  ASSERT_TRUE(r);
  auto e = wire::decode<ErrorReply>(r->body_view());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, static_cast<uint8_t>(StatusCode::kResourceExhausted));
  EXPECT_NE(e->message.find("payload limit"), std::string::npos);

  auto ids = start_many(5, "after-garbage");
  expect_all_completed_exactly(ids);
}

TEST_F(Chaining, BatonctlStartWaitPrintsTheResult) {
  start();
  std::string out;
  const std::string env = "BATON_ADDRESS=" + stack_->scheduler_address() + " ";
  const int rc = testing::run_command(env + testing::batonctl_binary() +
                                          " start function_chaining --input '\"World\"' --id cli "
                                          "--wait --timeout 60",
                                      &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(kExpected), std::string::npos) << out;

  out.clear();
  EXPECT_EQ(testing::run_command(env + testing::batonctl_binary() + " describe cli", &out), 0);
  EXPECT_NE(out.find("COMPLETED"), std::string::npos) << out;

  out.clear();
  EXPECT_EQ(testing::run_command(env + testing::batonctl_binary() + " history cli", &out), 0);
  std::size_t completions = 0;
  for (auto at = out.find("TaskCompleted"); at != std::string::npos;
       at = out.find("TaskCompleted", at + 1)) {
    ++completions;
  }
  EXPECT_EQ(completions, 3u) << out;
  EXPECT_NE(out.find("ExecutionCompleted"), std::string::npos) << out;

  out.clear();
  EXPECT_EQ(testing::run_command(env + testing::batonctl_binary() + " admin verify", &out), 0)
      << out;
  {
    // A task whose instance does not exist is a violation admin verify reports.
    pqxx::connection c(stack_->db_url());
    pqxx::work tx(c);
    tx.exec0(
        "INSERT INTO baton_tasks (namespace, instance_id, partition, task_queue, name, "
        "task_scheduled_id, input, lease_owner, lease_expires_at) VALUES "
        "('default', 'ghost', 0, 'default', 'x', 0, '', 'nobody', now() - interval '1 hour')");
    tx.commit();
  }
  out.clear();
  EXPECT_EQ(testing::run_command(env + testing::batonctl_binary() + " admin verify", &out), 1)
      << out;
  EXPECT_NE(out.find("belongs to no instance default/ghost"), std::string::npos) << out;
  EXPECT_NE(out.find("unknown owner nobody"), std::string::npos) << out;

  out.clear();
  EXPECT_EQ(testing::run_command(
                env + testing::batonctl_binary() + " start function_chaining --input '{bad' 2>&1",
                &out),
            2)
      << out;
  out.clear();
  EXPECT_EQ(testing::run_command(env + testing::batonctl_binary() + " describe missing 2>&1", &out),
            1)
      << out;
}

}  // namespace
}  // namespace baton
