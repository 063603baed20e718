// Metrics of one Baton process, built from the catalogue monitoring/metrics.json
// (every metric is defined there once: name, type, labels, help, buckets).
//
// A part creates one Metrics for its process ("scheduler", "broker" or
// "worker"); it holds the families of that part's metrics plus the ones every
// process has (build info, readiness, malformed frames, process_*).
// MetricsServer exposes them over HTTP with prometheus-cpp, with /healthz and
// /readyz for Kubernetes probes.
//
// Asking for a metric the catalogue does not define for this part, or with
// labels other than its declared ones, is a programming error: it throws
// std::invalid_argument (the tests of each part create every metric they use).
//
// Thread-safety: every method of Metrics may be called from any thread; the
// returned references stay valid as long as the Metrics. Cache them on hot
// paths: a lookup hashes the labels under a mutex.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "baton/status.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
class Collectable;
}  // namespace prometheus

namespace baton::metrics {

using Labels = std::map<std::string, std::string>;

// Default metrics addresses (host:port), one port per part.
inline constexpr const char* kSchedulerMetricsAddress = "127.0.0.1:9233";
inline constexpr const char* kBrokerMetricsAddress = "127.0.0.1:9234";
inline constexpr const char* kWorkerMetricsAddress = "127.0.0.1:9235";

// One metric of the catalogue.
struct MetricDef {
  std::string name;
  std::string part;  // scheduler, broker, worker or all
  std::string type;  // counter, gauge or histogram
  std::string help;
  std::vector<std::string> labels;
  std::vector<double> buckets;  // histograms only
};

// The catalogue, parsed once from the embedded monitoring/metrics.json.
const std::vector<MetricDef>& catalogue();

class Metrics {
 public:
  // `part` is "scheduler", "broker" or "worker".
  explicit Metrics(std::string part);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  prometheus::Counter& counter(std::string_view name, const Labels& labels = {});
  prometheus::Gauge& gauge(std::string_view name, const Labels& labels = {});
  prometheus::Histogram& histogram(std::string_view name, const Labels& labels = {});

  // Readiness, reported by /readyz and the baton_ready gauge. `reason` says
  // what is missing when not ready.
  void set_ready(bool ready, std::string reason = {});
  bool ready(std::string* reason) const;

  const std::string& part() const { return part_; }
  // What MetricsServer exposes: the families, then the process metrics.
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables() const;
  // The text exposition format of everything collectables() holds.
  std::string serialize() const;

 private:
  struct Families;
  std::string part_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> process_;
  std::unique_ptr<Families> families_;
  mutable std::mutex ready_mu_;
  bool ready_ = false;        // guarded by ready_mu_
  std::string not_ready_why_ = "starting";  // guarded by ready_mu_
};

// Serves GET /metrics (text format), /healthz (200 while the process runs)
// and /readyz (200 when Metrics::ready, else 503 with the reason) on one
// address. One per process. Thread-safety: start and the destructor from one
// thread; requests are served on the server's own threads.
class MetricsServer {
 public:
  // `address` is host:port ("127.0.0.1:9233", "0.0.0.0:9233", port 0 picks
  // a free port). Errors: kInvalidArgument for a malformed address,
  // kUnavailable when it cannot bind, kFailedPrecondition when this process
  // already runs a MetricsServer.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& address,
                                                      Metrics& metrics);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace baton::metrics
