#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "baton/config.h"
#include "baton/metrics.h"
#include "baton/worker.h"

namespace baton {
namespace {

// Activities mostly wait on I/O (HTTP calls, databases), so a worker runs
// more of them than it has cores: 10 per hardware thread, as Durable Task's
// default, at most 256 (hardware_concurrency counts the node's CPUs, not a
// container's limit). With 2 per thread a 100-way fan-out waited for credits
// in rounds of 8 on two 2-core workers (make bench fanout p50 ~20% slower).
int default_activity_slots() {
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(10 * hw, 4, 256);
}

std::string default_worker_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    std::snprintf(host, sizeof host, "worker");
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-%ld-%08x", static_cast<long>(getpid()),
                static_cast<unsigned>(random_u64() & 0xFFFFFFFFu));
  return std::string(host) + suffix;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

void read_int(const char* name, int& field) {
  const std::string text = env_or(name, "");
  if (text.empty()) return;
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    spdlog::warn("ignoring {}='{}': not a non-negative integer", name, text);
    return;
  }
  field = value;
}

void read_size(const char* name, std::size_t& field) {
  const std::string text = env_or(name, "");
  if (text.empty()) return;
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    spdlog::warn("ignoring {}='{}': not a non-negative integer", name, text);
    return;
  }
  field = value;
}

void read_positive_size(const char* name, std::size_t& field) {
  const std::string text = env_or(name, "");
  if (text.empty()) return;
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0) {
    spdlog::warn("ignoring {}='{}': not a positive integer", name, text);
    return;
  }
  field = value;
}

}  // namespace

WorkerOptions::WorkerOptions()
    : broker_address(kDefaultBrokerAddress),
      ns(kDefaultNamespace),
      task_queues{kDefaultTaskQueue},
      activity_slots(default_activity_slots()),
      worker_id(default_worker_id()) {}

WorkerOptions WorkerOptions::from_env() {
  WorkerOptions o;
  Result<ConnectionSettings> loaded = load_connection_settings();
  if (!loaded) o.config_error = loaded.status();
  const ConnectionSettings conn = loaded ? *loaded : connection_settings_from_env();
  o.broker_address = conn.broker_address;
  o.ns = conn.ns;
  o.curve = conn.curve;
  if (auto queues = split_list(env_or("BATON_TASK_QUEUES", "")); !queues.empty()) {
    o.task_queues = std::move(queues);
  }
  read_int("BATON_ACTIVITY_SLOTS", o.activity_slots);
  read_int("BATON_ORCHESTRATION_SLOTS", o.orchestration_slots);
  read_positive_size("BATON_MAX_PAYLOAD_BYTES", o.max_payload_bytes);
  read_size("BATON_MAX_CACHED_ORCHESTRATIONS", o.max_cached_orchestrations);
  o.worker_id = env_or("BATON_WORKER_ID", o.worker_id);
  o.metrics_address = env_or("BATON_METRICS_ADDRESS", metrics::kWorkerMetricsAddress);
  if (o.metrics_address == "off") o.metrics_address.clear();
  if (const std::string text = env_or("BATON_DRAIN_TIMEOUT_S", ""); !text.empty()) {
    char* end = nullptr;
    const double seconds = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !std::isfinite(seconds) || seconds < 0 ||
        seconds > 86400.0 * 365) {
      spdlog::warn("ignoring BATON_DRAIN_TIMEOUT_S='{}': not a number of seconds", text);
    } else {
      o.drain_timeout = std::chrono::milliseconds(std::llround(seconds * 1000.0));
    }
  }
  return o;
}

}  // namespace baton
