// Monitoring end to end: the real stack scraped by a real Prometheus server
// (Debian's `prometheus`, on a private port); the test asks Prometheus's HTTP
// API whether queue depth, latency histograms and counters are there and
// moved as they should, and checks the probes of every part.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "baton/client.h"
#include "tests/support/http.h"
#include "tests/support/itest.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using testing::StackOptions;

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

class Monitoring : public testing::StackTest {
 protected:
  void TearDown() override {
    prometheus_.kill9();
    if (!prom_dir_.empty()) std::filesystem::remove_all(prom_dir_);
  }

  // Starts Prometheus scraping every part of the stack once a second.
  void start_prometheus(int workers) {
    const std::string bin = find_on_path("prometheus");
    ASSERT_FALSE(bin.empty()) << "the prometheus server is not installed: run scripts/install-deps.sh";
    prom_dir_ = stack_->log_dir() + "/prometheus";
    std::filesystem::create_directories(prom_dir_ + "/data");
    std::ofstream cfg(prom_dir_ + "/prometheus.yml");
    cfg << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n"
        << "  - job_name: baton-scheduler\n    static_configs:\n      - targets: ['127.0.0.1:"
        << stack_->scheduler_metrics_port() << "']\n"
        << "  - job_name: baton-broker\n    static_configs:\n      - targets: ['127.0.0.1:"
        << stack_->broker_metrics_port() << "']\n"
        << "  - job_name: baton-worker\n    static_configs:\n      - targets: [";
    if (workers == 0) cfg << "]\n";
    for (int i = 0; i < workers; ++i) {
      cfg << (i ? ", " : "") << "'127.0.0.1:" << stack_->worker_metrics_port(i) << "'"
          << (i + 1 == workers ? "]\n" : "");
    }
    cfg.close();
    prom_port_ = testing::free_port();
    prometheus_ = testing::Process::spawn(
        {bin, "--config.file=" + prom_dir_ + "/prometheus.yml",
         "--storage.tsdb.path=" + prom_dir_ + "/data",
         "--web.listen-address=127.0.0.1:" + std::to_string(prom_port_)},
        {}, stack_->log_dir() + "/prometheus.log");
    ASSERT_TRUE(eventually([&] { return query_value("count(up == 1)") == 2 + workers; }, 30s))
        << "Prometheus does not see every part up; see " << stack_->log_dir();
  }

  // The API's answer to an instant query, as its `result` array.
  nlohmann::json query(const std::string& promql) {
    auto r = test::http_get("127.0.0.1", prom_port_, "/api/v1/query?query=" + test::url_encode(promql));
    if (!r || r->status != 200) return nlohmann::json::array();
    auto doc = nlohmann::json::parse(r->body, nullptr, false);
    if (doc.is_discarded() || doc.value("status", "") != "success") return nlohmann::json::array();
    return doc["data"]["result"];
  }

  // The value of a query that yields one sample; -1 when it yields none.
  double query_value(const std::string& promql) {
    auto result = query(promql);
    if (!result.is_array() || result.size() != 1) return -1;
    return std::stod(result[0]["value"][1].get<std::string>());
  }

  template <class Pred>
  bool eventually(Pred pred, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(250ms);
    }
    return pred();
  }

  int probe(int port, const std::string& path) {
    auto r = test::http_get("127.0.0.1", port, path);
    return r ? r->status : -1;
  }

  testing::Process prometheus_;
  std::string prom_dir_;
  int prom_port_ = 0;
};

TEST_F(Monitoring, PrometheusSeesQueueDepthLatenciesAndCounters) {
  constexpr int kWorkers = 2;
  constexpr int kRuns = 20;
  StackOptions opts;
  opts.workers = 0;  // first build a backlog nobody serves
  opts.scheduler_args = {"--backlog-interval", "0.2"};
  start_stack(opts);

  // Probes: alive at once; the scheduler is ready when it owns its partitions.
  EXPECT_TRUE(eventually([&] { return probe(stack_->scheduler_metrics_port(), "/readyz") == 200; }, 20s));
  EXPECT_EQ(probe(stack_->scheduler_metrics_port(), "/healthz"), 200);
  EXPECT_TRUE(eventually([&] { return probe(stack_->broker_metrics_port(), "/readyz") == 200; }, 20s));
  EXPECT_EQ(probe(stack_->broker_metrics_port(), "/healthz"), 200);
  EXPECT_EQ(probe(stack_->scheduler_metrics_port(), "/nope"), 404);

  std::vector<std::string> ids;
  for (int i = 0; i < kRuns; ++i) {
    auto id = client_->schedule_new_orchestration("function_chaining", testing::pack(std::string("World")));
    ASSERT_TRUE(id) << id.status().to_string();
    ids.push_back(*id);
  }
  auto failing = client_->schedule_new_orchestration("always_fails", testing::pack(std::string("boom")));
  ASSERT_TRUE(failing) << failing.status().to_string();

  // With no worker, the work waits: in PostgreSQL (the inbox) and in the
  // broker's memory (the first steps were dispatched to it).
  start_prometheus(0);
  EXPECT_TRUE(eventually([&] {
    return query_value(R"(sum(baton_backlog_tasks{namespace="default",task_queue="default",kind="orchestration"}))") >= kRuns;
  }, 20s)) << "backlog in PostgreSQL not seen";
  EXPECT_TRUE(eventually([&] {
    return query_value(R"(max(baton_backlog_oldest_age_seconds{kind="orchestration"}))") > 0;
  }, 20s));
  EXPECT_TRUE(eventually([&] {
    return query_value(R"(sum(baton_broker_queue_depth{task_queue="default",kind="orchestration"}))") >= 1;
  }, 20s)) << "broker queue depth not seen";
  EXPECT_EQ(query_value(R"(sum(baton_broker_workers{task_queue="default"}) or vector(0))"), 0);

  // Now the workers come, and Prometheus (restarted on the same data) scrapes
  // them too.
  prometheus_.kill9();
  for (std::size_t i = 0; i < static_cast<std::size_t>(kWorkers); ++i) stack_->start_worker(i);
  start_prometheus(kWorkers);
  for (const auto& id : ids) {
    auto md = client_->wait_for_orchestration_completion(id, 60s);
    ASSERT_TRUE(md) << md.status().to_string();
    ASSERT_EQ(md->status, OrchestrationStatus::kCompleted);
  }
  auto fmd = client_->wait_for_orchestration_completion(*failing, 60s);
  ASSERT_TRUE(fmd);
  ASSERT_EQ(fmd->status, OrchestrationStatus::kFailed);

  for (std::size_t i = 0; i < static_cast<std::size_t>(kWorkers); ++i) {
    EXPECT_TRUE(eventually([&] { return probe(stack_->worker_metrics_port(i), "/readyz") == 200; }, 20s));
  }

  // Counters equal what ran.
  const std::string completed =
      R"(sum(baton_orchestrations_finished_total{namespace="default",orchestrator="function_chaining",outcome="completed"}))";
  EXPECT_TRUE(eventually([&] { return query_value(completed) == kRuns; }, 20s))
      << completed << " = " << query_value(completed);
  EXPECT_TRUE(eventually([&] {
    return query_value(R"(sum(baton_orchestrations_finished_total{orchestrator="always_fails",outcome="failed"}))") == 1;
  }, 20s));
  EXPECT_TRUE(eventually([&] {
    return query_value(R"(sum(baton_orchestrations_started_total{orchestrator="function_chaining"}))") == kRuns;
  }, 20s));
  EXPECT_TRUE(eventually([&] {
    return query_value(R"(sum(baton_activities_finished_total{task_queue="default",outcome="completed"}))") == 3 * kRuns;
  }, 20s));
  EXPECT_TRUE(eventually([&] {
    return query_value(R"(sum(baton_activity_execution_seconds_count{outcome="completed"}))") == 3 * kRuns;
  }, 20s)) << "worker activity histogram";
  EXPECT_TRUE(eventually([&] {
    return query_value(R"(sum(baton_client_request_duration_seconds_count{operation="start",outcome="ok"}))") == kRuns + 1;
  }, 20s));

  // Latency histograms have buckets and a quantile Prometheus can compute.
  EXPECT_TRUE(eventually([&] {
    return query_value(R"(histogram_quantile(0.5, sum by (le) (baton_orchestration_duration_seconds_bucket{orchestrator="function_chaining",outcome="completed"})))") > 0;
  }, 20s));
  EXPECT_GT(query_value("sum(baton_db_commit_duration_seconds_count)"), 0);
  EXPECT_GT(query_value("sum(baton_db_commit_ops_sum)"), 0);
  EXPECT_GT(query_value(R"(sum(baton_orchestration_step_seconds_count{orchestrator="function_chaining"}))"), 0);
  EXPECT_GT(query_value(R"(sum(baton_schedule_to_start_seconds_count{kind="activity"}))"), 0);
  EXPECT_TRUE(eventually([&] {
    return query_value(R"(sum(baton_broker_dispatched_total{kind="activity"}))") >= 3 * kRuns;
  }, 20s));

  // Queue depth drains back to zero once the work is done.
  EXPECT_TRUE(eventually([&] { return query_value("sum(baton_backlog_tasks)") == 0; }, 20s));
  EXPECT_TRUE(eventually([&] { return query_value("sum(baton_broker_queue_depth)") == 0; }, 20s));
  EXPECT_EQ(query_value("sum(baton_worker_in_flight)"), 0);
  EXPECT_TRUE(eventually([&] { return query_value(R"(sum(baton_broker_workers{task_queue="default"}))") == kWorkers; }, 20s));
  EXPECT_EQ(query_value("sum(baton_scheduler_partitions_owned)"), 16);
  EXPECT_EQ(query_value(R"(count(baton_build_info))"), 2 + kWorkers);
  EXPECT_GT(query_value(R"(max(process_resident_memory_bytes{job="baton-scheduler"}))"), 0);

  // Label cardinality: no series anywhere carries an instance id.
  auto series = test::http_get("127.0.0.1", prom_port_,
                               "/api/v1/series?" + test::url_encode("match[]") + "=" +
                                   test::url_encode(R"({__name__=~"baton_.+"})"));
  ASSERT_TRUE(series);
  ASSERT_EQ(series->status, 200);
  for (const auto& id : ids) EXPECT_EQ(series->body.find(id), std::string::npos) << id;
  EXPECT_EQ(series->body.find(*failing), std::string::npos);
}

// A part that stops is seen as down, and a scheduler without its database
// stops being ready.
TEST_F(Monitoring, ReadinessFollowsTheBroker) {
  StackOptions opts;
  opts.workers = 1;
  start_stack(opts);
  EXPECT_TRUE(eventually([&] { return probe(stack_->worker_metrics_port(0), "/readyz") == 200; }, 20s));
  stack_->broker().kill9();
  EXPECT_TRUE(eventually([&] { return probe(stack_->worker_metrics_port(0), "/readyz") == 503; }, 20s))
      << "a worker without its broker must not be ready";
  EXPECT_EQ(probe(stack_->worker_metrics_port(0), "/healthz"), 200);
  stack_->start_broker();
  EXPECT_TRUE(eventually([&] { return probe(stack_->worker_metrics_port(0), "/readyz") == 200; }, 20s));
}

}  // namespace
}  // namespace baton
