#include "runtime/worker_impl.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "baton/config.h"
#include "baton/metrics.h"
#include "runtime/session.h"
#include "runtime/signals.h"
#include "runtime/worker_metrics.h"

namespace baton::detail {
namespace {

// Upper bound on threads we are willing to start for activities.
constexpr int kMaxActivitySlots = 4096;

// Empty when the options can be served; otherwise why not.
std::string validate(const WorkerOptions& o) {
  if (o.broker_address.empty()) return "broker_address is empty";
  if (o.ns.empty()) return "ns is empty";
  if (o.worker_id.empty() || o.worker_id.size() > 255) {
    return "worker_id must be 1..255 bytes (it is the ZeroMQ routing id)";
  }
  if (o.worker_id.front() == '\0') return "worker_id must not start with a zero byte";
  if (o.task_queues.empty()) return "task_queues is empty";
  for (const std::string& q : o.task_queues) {
    if (q.empty()) return "task_queues contains an empty name";
  }
  if (o.activity_slots < 0 || o.activity_slots > kMaxActivitySlots) {
    return "activity_slots must be in [0, " + std::to_string(kMaxActivitySlots) + "]";
  }
  if (o.orchestration_slots < 0) return "orchestration_slots must be >= 0";
  if (o.activity_slots == 0 && o.orchestration_slots == 0) return "all slots are 0";
  if (o.drain_timeout.count() < 0) return "drain_timeout is negative";
  if (o.max_payload_bytes == 0) return "max_payload_bytes must be > 0";
  if (o.curve.enabled() || !o.curve.public_key.empty() || !o.curve.secret_key.empty()) {
    if (!o.curve.enabled()) return "curve.public_key/secret_key are set, curve.server_key is not";
    for (const auto& [key, where] : {std::pair{&o.curve.server_key, "curve.server_key"},
                                     std::pair{&o.curve.public_key, "curve.public_key"},
                                     std::pair{&o.curve.secret_key, "curve.secret_key"}}) {
      if (Status st = validate_z85_key(*key, where); !st) return st.message();
    }
    if (Status st = check_curve_key_pair(o.curve.public_key, o.curve.secret_key, "curve"); !st) {
      return st.message();
    }
  }
  return {};
}

}  // namespace

WorkerImpl::WorkerImpl(WorkerOptions options)
    : options_(std::move(options)), registry_(std::make_shared<Registry>()) {
  int fds[2] = {-1, -1};
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    spdlog::critical("worker: cannot create its wake pipe");
    std::abort();  // out of file descriptors at startup: nothing sensible to do
  }
  wake_read_fd_ = fds[0];
  wake_write_fd_ = fds[1];
}

WorkerImpl::~WorkerImpl() {
  close(wake_read_fd_);
  close(wake_write_fd_);
}

int WorkerImpl::run() {
  if (started_.exchange(true)) {
    spdlog::error("worker {}: run() called twice", options_.worker_id);
    return 1;
  }
  if (!options_.config_error.is_ok()) {
    spdlog::error("worker {}: configuration error: {}", options_.worker_id,
                  options_.config_error.message());
    return 1;
  }
  if (const std::string problem = validate(options_); !problem.empty()) {
    spdlog::error("worker {}: invalid options: {}", options_.worker_id, problem);
    return 1;
  }
  if (stop_requested_.load()) return 0;
  // Shared: pool threads record into it and may outlive run() (abandoned drain).
  auto worker_metrics = std::make_shared<WorkerMetrics>(options_);
  std::unique_ptr<metrics::MetricsServer> metrics_server;  // destroyed after the session
  if (!options_.metrics_address.empty() && options_.metrics_address != "off") {
    auto started =
        metrics::MetricsServer::start(options_.metrics_address, worker_metrics->metrics());
    if (!started) {
      spdlog::error(
          "worker {}: {}; set BATON_METRICS_ADDRESS (WorkerOptions::metrics_address) to a free "
          "host:port, or to 'off'",
          options_.worker_id, started.status().to_string());
      return 1;
    }
    metrics_server = std::move(started).value();
    metrics_port_.store(metrics_server->port());
    spdlog::info("worker {}: metrics on http://{}:{}/metrics", options_.worker_id,
                 options_.metrics_address.substr(0, options_.metrics_address.rfind(':')),
                 metrics_server->port());
  }
  std::optional<SignalRoute> signals;
  if (options_.handle_signals) {
    signals.emplace(wake_write_fd_);
    if (!signals->active()) {
      spdlog::warn(
          "worker {}: SIGTERM/SIGINT not handled (another worker in this process "
          "handles them); use stop()",
          options_.worker_id);
    }
  }
  int rc = 0;
  {
    Session session(options_, registry_, worker_metrics, wake_read_fd_, stop_requested_);
    rc = session.run();
  }
  metrics_port_.store(0);
  return rc;
}

void WorkerImpl::stop() {
  stop_requested_.store(true);
  const char byte = kStopByte;
  [[maybe_unused]] ssize_t n = write(wake_write_fd_, &byte, 1);  // full pipe: already awake
}

}  // namespace baton::detail
