// The metric catalogue and the exposer: families built from
// monitoring/metrics.json, misuse refused, probes and /metrics over real HTTP.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "baton/metrics.h"
#include "tests/support/http.h"

namespace baton::metrics {
namespace {

TEST(Catalogue, NamesAreUniqueWellFormedAndTyped) {
  const std::regex name_re("^[a-z_][a-z0-9_]*$");
  std::set<std::string> names;
  ASSERT_FALSE(catalogue().empty());
  for (const MetricDef& d : catalogue()) {
    EXPECT_TRUE(names.insert(d.name).second) << "duplicate " << d.name;
    EXPECT_TRUE(std::regex_match(d.name, name_re)) << d.name;
    EXPECT_TRUE(d.part == "all" || d.part == "scheduler" || d.part == "broker" ||
                d.part == "worker")
        << d.name;
    EXPECT_FALSE(d.help.empty()) << d.name;
    if (d.type == "counter") {
      EXPECT_TRUE(d.name.ends_with("_total")) << d.name;
    } else if (d.type == "histogram") {
      EXPECT_FALSE(d.buckets.empty()) << d.name;
      EXPECT_TRUE(std::is_sorted(d.buckets.begin(), d.buckets.end())) << d.name;
    } else {
      EXPECT_EQ(d.type, "gauge") << d.name;
    }
  }
}

// Label cardinality stays bounded: no label may carry a per-instance,
// per-task or per-worker identifier.
TEST(Catalogue, NoUnboundedLabels) {
  const std::set<std::string> forbidden = {"instance_id", "instance", "task_id", "work_id",
                                           "worker_id", "execution_id", "event_id", "id"};
  for (const MetricDef& d : catalogue()) {
    for (const auto& l : d.labels) EXPECT_EQ(forbidden.count(l), 0u) << d.name << " has " << l;
  }
}

TEST(Metrics, EveryPartBuildsItsFamilies) {
  for (const char* part : {"scheduler", "broker", "worker"}) {
    Metrics m(part);
    const std::string text = m.serialize();
    EXPECT_NE(text.find("baton_build_info{part=\"" + std::string(part) + "\""), std::string::npos);
    EXPECT_NE(text.find("process_resident_memory_bytes"), std::string::npos);
    EXPECT_NE(text.find("process_cpu_seconds_total"), std::string::npos);
  }
  EXPECT_THROW(Metrics("janitor"), std::invalid_argument);
}

TEST(Metrics, MisuseIsRefused) {
  Metrics m("broker");
  EXPECT_THROW(m.counter("baton_no_such_metric_total"), std::invalid_argument);
  // A scheduler metric is not the broker's.
  EXPECT_THROW(m.counter("baton_orchestrations_started_total",
                         {{"namespace", "a"}, {"orchestrator", "b"}}),
               std::invalid_argument);
  EXPECT_THROW(m.gauge("baton_broker_results_total", {{"kind", "activity"}}),
               std::invalid_argument);
  EXPECT_THROW(m.counter("baton_broker_results_total"), std::invalid_argument);
  EXPECT_THROW(m.counter("baton_broker_results_total", {{"kind", "a"}, {"extra", "b"}}),
               std::invalid_argument);
  EXPECT_NO_THROW(m.counter("baton_broker_results_total", {{"kind", "activity"}}));
}

TEST(Metrics, ValuesAppearInTheExposition) {
  Metrics m("scheduler");
  m.counter("baton_activity_retries_total", {{"namespace", "ns1"}, {"task_queue", "q"}})
      .Increment(3);
  m.histogram("baton_db_commit_duration_seconds").Observe(0.002);
  const std::string text = m.serialize();
  EXPECT_NE(text.find("baton_activity_retries_total{namespace=\"ns1\",task_queue=\"q\"} 3"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("baton_db_commit_duration_seconds_count 1"), std::string::npos);
  EXPECT_NE(text.find("baton_db_commit_duration_seconds_bucket{le=\"0.0025\"} 1"),
            std::string::npos);
}

TEST(MetricsServer, ServesMetricsAndProbes) {
  Metrics m("worker");
  EXPECT_EQ(MetricsServer::start("localhost", m).status().code(), StatusCode::kInvalidArgument);
  auto server = MetricsServer::start("127.0.0.1:0", m);
  ASSERT_TRUE(server.is_ok()) << server.status().to_string();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);

  auto second = MetricsServer::start("127.0.0.1:0", m);
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);

  auto health = test::http_get("127.0.0.1", port, "/healthz");
  ASSERT_TRUE(health.is_ok()) << health.status().to_string();
  EXPECT_EQ(health->status, 200);

  m.set_ready(false, "broker not connected");
  auto not_ready = test::http_get("127.0.0.1", port, "/readyz");
  ASSERT_TRUE(not_ready.is_ok());
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_NE(not_ready->body.find("broker not connected"), std::string::npos);

  m.set_ready(true);
  auto ready = test::http_get("127.0.0.1", port, "/readyz");
  ASSERT_TRUE(ready.is_ok());
  EXPECT_EQ(ready->status, 200);

  m.counter("baton_worker_reconnects_total").Increment();
  auto scrape = test::http_get("127.0.0.1", port, "/metrics");
  ASSERT_TRUE(scrape.is_ok());
  EXPECT_EQ(scrape->status, 200);
  EXPECT_NE(scrape->body.find("baton_worker_reconnects_total 1"), std::string::npos);
  EXPECT_NE(scrape->body.find("baton_ready 1"), std::string::npos);
  EXPECT_NE(scrape->body.find("process_open_fds"), std::string::npos);
}

}  // namespace
}  // namespace baton::metrics
