// Issue 5, "Nothing lost": faults beyond kill -9 (chaining_itest has those).
// PostgreSQL restarts and outages (on a private cluster, so the shared test
// cluster is never touched), and hung processes (SIGSTOP/SIGCONT) of a
// worker, the broker and the scheduler. Every scenario ends with exact
// outcome checks: each orchestration completed with the right output, each
// activity result recorded exactly once, a clean `admin verify`.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "baton/client.h"
#include "tests/chaos/pg_cluster.h"
#include "tests/support/itest.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using testing::PgCluster;
using testing::Process;
using testing::StackOptions;

constexpr const char* kExpected = "Hello World! How are you today? I hope you're doing well!";
// Short, so a hung scheduler loses its partitions within a test's time.
constexpr int kPartitionLeaseS = 3;

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool log_has(const std::string& path, const std::string& needle) {
  return read_file(path).find(needle) != std::string::npos;
}

class Faults : public testing::StackTest {
 protected:
  void TearDown() override {
    // Processes first, then the database's cluster.
    client_.reset();
    stack_.reset();
    pg_.reset();
  }

  // A private PostgreSQL cluster for this test (it will be stopped), its
  // files under build/test-logs/<Suite>.<Test>.pg/. Returns its admin URL.
  std::string start_private_postgres() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string dir =
        testing::test_log_dir(std::string(info->test_suite_name()) + "." + info->name() + ".pg");
    pg_ = std::make_unique<PgCluster>(dir + "/cluster");
    return pg_->url();
  }

  std::string start_one(Client& client, const std::string& id) {
    StartOptions so;
    so.instance_id = id;
    auto r = client.schedule_new_orchestration("function_chaining",
                                               testing::pack(std::string("World")), so);
    EXPECT_TRUE(r) << id << ": " << r.status().to_string();
    return r ? *r : std::string();
  }

  std::vector<std::string> start_many(int n, const std::string& prefix) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      auto id = start_one(*client_, prefix + std::to_string(i));
      if (!id.empty()) ids.push_back(id);
    }
    return ids;
  }

  int64_t completed() {
    return stack_->count("SELECT count(*) FROM baton_instances WHERE status = 2");
  }

  // Every instance of `ids` (and no other) completed with the exact output
  // and an exact history: contiguous seq, 3 TaskScheduled, 3 TaskCompleted
  // (each activity result recorded once), one ExecutionStarted and one
  // ExecutionCompleted; nothing left in tasks or inbox; verify is clean.
  void expect_all_completed_exactly(Client& client, const std::vector<std::string>& ids,
                                    std::chrono::seconds deadline = 60s) {
    const auto n = static_cast<int64_t>(ids.size());
    ASSERT_TRUE(testing::wait_until([&] { return completed() >= n; }, deadline))
        << completed() << " of " << n << " completed (logs in " << stack_->log_dir() << ")";
    for (const auto& id : ids) {
      auto md = client.wait_for_orchestration_completion(id, 30s);
      ASSERT_TRUE(md) << id << ": " << md.status().to_string();
      ASSERT_EQ(md->status, OrchestrationStatus::kCompleted)
          << id << ": " << md->failure.error_type << " " << md->failure.message;
      EXPECT_EQ(testing::unpack<std::string>(md->output), kExpected) << id;
      // One completion per scheduled activity: task_scheduled_id 0, 1, 2.
      auto history = client.get_orchestration_history(id);
      ASSERT_TRUE(history) << id << ": " << history.status().to_string();
      std::vector<int32_t> completed_tasks;
      for (const auto& ev : *history) {
        if (ev.type == EventType::kTaskCompleted) completed_tasks.push_back(ev.task_scheduled_id);
      }
      EXPECT_EQ(completed_tasks, (std::vector<int32_t>{0, 1, 2})) << id;
    }
    expect_exact_chain_histories(client, ids.size());
  }

  // A second scheduler on the stack's database and broker, id "standby";
  // returns once it waits for the active scheduler's partitions.
  Process start_standby() {
    standby_address_ = "tcp://127.0.0.1:" + std::to_string(testing::free_port());
    Process standby = Process::spawn(
        {testing::scheduler_binary(), "serve", "--db", stack_->db_url(), "--listen",
         standby_address_, "--broker", stack_->broker_address(), "--id", "standby"},
        {{"BATON_METRICS_ADDRESS", "127.0.0.1:" + std::to_string(testing::free_port())}},
        standby_log());
    EXPECT_TRUE(testing::wait_until([&] { return log_has(standby_log(), "waiting"); }, 20s))
        << "the standby should wait for the active scheduler's partitions";
    return standby;
  }
  std::string standby_log() const { return stack_->log_dir() + "/standby.log"; }

  std::unique_ptr<PgCluster> pg_;
  std::string standby_address_;
};

// ------------------------------------------------------------ PostgreSQL

TEST_F(Faults, PostgresRestartMidRunLosesNothing) {
  StackOptions o;
  o.pg_admin_url = start_private_postgres();
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "100"}};
  start_stack(o);
  auto ids = start_many(50, "pgr");
  ASSERT_EQ(ids.size(), 50u);
  // Activities in flight (a task row exists only until its instance moves
  // on; each instance runs 3 of 100 ms): the restart hits work in flight.
  ASSERT_TRUE(testing::wait_until(
      [&] { return stack_->count("SELECT count(*) FROM baton_tasks") > 0; }, 60s));
  ASSERT_LT(completed(), 50) << "the restart should hit work in flight";
  ASSERT_TRUE(pg_->restart()) << "pg_ctl restart failed";
  expect_all_completed_exactly(*client_, ids);
  EXPECT_TRUE(log_has(stack_->log_dir() + "/scheduler.log", "recovering from PostgreSQL") ||
              log_has(stack_->log_dir() + "/scheduler.log", "database unavailable"))
      << "the scheduler should have noticed the restart";
}

// Starts issued while PostgreSQL is down for seconds either fail with a
// clear error (and, retried with the same id, are found applied or apply
// now) or succeed once it is back. An acknowledged start is never lost.
TEST_F(Faults, StartsDuringAPostgresOutageFailClearlyOrSucceedAndAreNeverLost) {
  StackOptions o;
  o.pg_admin_url = start_private_postgres();
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "20"}};
  start_stack(o);
  auto ids = start_many(10, "before");
  ASSERT_EQ(ids.size(), 10u);
  ASSERT_TRUE(testing::wait_until([&] { return completed() >= 1; }, 60s));

  ClientOptions co;
  co.address = stack_->scheduler_address();
  co.request_timeout = 1500ms;
  Client impatient(co);

  std::mutex mu;
  std::vector<std::string> acknowledged;               // guarded by mu
  std::vector<std::pair<std::string, Status>> failed;  // guarded by mu
  std::atomic<bool> outage_over{false};
  std::atomic<bool> stop{false};
  std::atomic<int> next{0};
  auto starter = [&] {
    while (!stop.load()) {
      const std::string id = "during" + std::to_string(next.fetch_add(1));
      StartOptions so;
      so.instance_id = id;
      auto r = impatient.schedule_new_orchestration("function_chaining",
                                                    testing::pack(std::string("World")), so);
      std::lock_guard<std::mutex> lock(mu);
      if (r) {
        acknowledged.push_back(id);
      } else {
        failed.emplace_back(id, r.status());
      }
    }
  };
  ASSERT_TRUE(pg_->stop()) << "pg_ctl stop failed";
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(starter);
  // The outage itself is the fault under test: it lasts a fixed time.
  std::this_thread::sleep_for(4s);
  ASSERT_TRUE(pg_->start()) << "pg_ctl start failed";
  outage_over = true;
  // Keep starting across the recovery.
  ASSERT_TRUE(testing::wait_until(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return acknowledged.size() >= 20;
      },
      60s));
  stop = true;
  for (auto& t : threads) t.join();

  ASSERT_FALSE(failed.empty()) << "a 4 s outage with a 1.5 s request timeout should fail starts";
  for (const auto& [id, st] : failed) {
    EXPECT_TRUE(st.code() == StatusCode::kDeadlineExceeded || st.code() == StatusCode::kUnavailable)
        << id << ": " << st.to_string();
    EXPECT_FALSE(st.message().empty()) << id;
  }
  // A failed start may or may not have been applied; retried with the same
  // id it either applies now or is found already there. Never anything else.
  std::vector<std::string> all = ids;
  all.insert(all.end(), acknowledged.begin(), acknowledged.end());
  int applied_anyway = 0;
  for (const auto& [id, st] : failed) {
    StartOptions so;
    so.instance_id = id;
    auto r = client_->schedule_new_orchestration("function_chaining",
                                                 testing::pack(std::string("World")), so);
    if (!r) {
      EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists)
          << id << ": " << r.status().to_string();
      ++applied_anyway;
    }
    all.push_back(id);
  }
  std::cout << "outage: " << acknowledged.size() << " starts acknowledged, " << failed.size()
            << " failed (" << applied_anyway << " of them had been applied)\n";
  expect_all_completed_exactly(*client_, all);
}

// ------------------------------------------------------------ hung processes

TEST_F(Faults, HungWorkerIsReplacedAndItsLateResultsAreDiscarded) {
  StackOptions o;
  o.workers = 2;
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "200"}, {"BATON_ACTIVITY_SLOTS", "4"}};
  o.scheduler_args = {"--activity-lease", "3"};
  start_stack(o);
  auto ids = start_many(40, "hw");
  ASSERT_EQ(ids.size(), 40u);
  ASSERT_TRUE(testing::wait_until([&] { return completed() >= 3; }, 60s));
  stack_->worker(0).signal(SIGSTOP);
  const auto stopped_at = std::chrono::steady_clock::now();
  const int64_t before = completed();
  // The other worker carries on with the hung one's work: wait for progress
  // past the broker's liveness (2 s) and the activity lease (3 s).
  const bool progressed = testing::wait_until(
      [&] {
        return std::chrono::steady_clock::now() - stopped_at > 4s && completed() >= before + 5;
      },
      60s);
  stack_->worker(0).signal(SIGCONT);
  ASSERT_TRUE(progressed) << "no progress while worker 0 hung: " << completed() << " completed";
  expect_all_completed_exactly(*client_, ids);
  // The broker gave the hung worker up (its work went elsewhere) and took it
  // back after SIGCONT; whatever results it still sent were stale, and the
  // histories above hold each activity's result once.
  const std::string broker_log = read_file(stack_->log_dir() + "/broker.log");
  EXPECT_NE(broker_log.find("declared dead"), std::string::npos);
}

TEST_F(Faults, HungBrokerPastHeartbeatLivenessLosesNothing) {
  StackOptions o;
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "50"}};
  start_stack(o);
  auto ids = start_many(50, "hb");
  ASSERT_EQ(ids.size(), 50u);
  ASSERT_TRUE(testing::wait_until([&] { return completed() >= 5; }, 60s));
  stack_->broker().signal(SIGSTOP);
  // Until the scheduler and a worker gave up on the silent broker
  // (kHeartbeatLiveness x kHeartbeatIntervalMs = 2 s).
  const bool noticed = testing::wait_until(
      [&] {
        return log_has(stack_->log_dir() + "/scheduler.log", "no word from the broker") &&
               log_has(stack_->log_dir() + "/worker-0.log", "silent for");
      },
      20s);
  stack_->broker().signal(SIGCONT);
  ASSERT_TRUE(noticed) << "scheduler and workers should notice a hung broker";
  expect_all_completed_exactly(*client_, ids);
}

// A second scheduler started as a hot standby (it waits for the partitions)
// must not disturb the active one.
TEST_F(Faults, StandbySchedulerLeavesTheActiveOneWorking) {
  StackOptions o;
  o.scheduler_args = {"--id", "primary", "--partition-lease", std::to_string(kPartitionLeaseS)};
  start_stack(o);
  auto before = start_many(5, "pre");
  ASSERT_TRUE(testing::wait_until([&] { return completed() >= 5; }, 30s));
  Process standby = start_standby();
  auto ids = start_many(20, "sb");
  ids.insert(ids.end(), before.begin(), before.end());
  expect_all_completed_exactly(*client_, ids, 30s);
}

// The hung scheduler's partition lease (3 s here) expires; the standby
// takes every partition over. Resumed, the old scheduler is fenced: its
// first write fails and it exits.
TEST_F(Faults, HungSchedulerIsFencedAndAStandbyTakesOver) {
  StackOptions o;
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "100"}};
  o.scheduler_args = {"--id", "primary", "--partition-lease", std::to_string(kPartitionLeaseS)};
  start_stack(o);
  auto ids = start_many(50, "hs");
  ASSERT_EQ(ids.size(), 50u);
  ASSERT_TRUE(testing::wait_until([&] { return completed() >= 5; }, 60s));
  Process standby = start_standby();

  stack_->scheduler().signal(SIGSTOP);
  const bool took_over =
      testing::wait_until([&] { return log_has(standby_log(), "recovered at epoch"); }, 30s);
  stack_->scheduler().signal(SIGCONT);
  ASSERT_TRUE(took_over) << "the standby did not take over within 30 s";
  EXPECT_EQ(stack_->scheduler().wait(15s), 1) << "the fenced scheduler should exit with an error";
  EXPECT_TRUE(
      log_has(stack_->log_dir() + "/scheduler.log", "another scheduler owns our partitions"));

  ClientOptions co;
  co.address = standby_address_;
  Client standby_client(co);
  expect_all_completed_exactly(standby_client, ids, 30s);
}

}  // namespace
}  // namespace baton
