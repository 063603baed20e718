#include "stack_window.h"

#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace baton::bench {
namespace {

constexpr std::chrono::milliseconds kRssPeriod{100};
constexpr const char* kCpuGroups[] = {"scheduler", "broker", "workers", "postgres"};
constexpr const char* kRssGroups[] = {"scheduler", "broker", "workers"};

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A field left out for want of its variable is said, not silently missing.
void note_unset(const char* variable, const char* fields) {
  std::fprintf(stderr, "baton-bench: %s is not set: no %s fields\n", variable, fields);
}

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

double client_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

Result<StackConfig> StackConfig::from_env() {
  StackConfig config;
  const std::string pids = env_or_empty("BATON_BENCH_PIDS");
  if (pids.empty()) {
    note_unset("BATON_BENCH_PIDS", "cpu_s_* / rss_mb_*");
  } else {
    auto processes = parse_stack_processes(pids);
    if (!processes) return processes.status();
    config.processes = std::move(*processes);
  }
  config.metrics_address = env_or_empty("BATON_METRICS_SCHEDULER");
  if (config.metrics_address.empty()) {
    note_unset("BATON_METRICS_SCHEDULER", "commits_per_s / ops_per_commit");
  }
  config.db_url = env_or_empty("BATON_DB_URL");
  if (config.db_url.empty()) note_unset("BATON_DB_URL", "pg_bytes_per_orch");
  if (!config.processes.empty()) {
    config.workers = static_cast<int>(config.group("workers").size());
  } else if (const std::string w = env_or_empty("BATON_WORKERS"); !w.empty()) {
    config.workers = std::atoi(w.c_str());
  }
  return config;
}

std::vector<StackProcess> StackConfig::group(const std::string& name) const {
  std::vector<StackProcess> members;
  for (const auto& p : processes) {
    if (p.group == name) members.push_back(p);
  }
  return members;
}

StackWindow::StackWindow(const StackConfig& config, bool count_bytes)
    : config_(config), count_bytes_(count_bytes && !config.db_url.empty()) {}

StackWindow::~StackWindow() = default;

Result<std::map<std::string, double>> StackWindow::cpu_seconds_by_group() const {
  std::map<std::string, double> cpu;
  for (const auto& p : config_.processes) {
    auto seconds = tree_cpu_seconds(p.pid);
    if (!seconds) return unavailable(p.name + ": " + seconds.status().message());
    cpu[p.group] += *seconds;
  }
  return cpu;
}

Status StackWindow::open() {
  if (count_bytes_) {
    auto bytes = baton_table_bytes(config_.db_url);
    if (!bytes) return bytes.status();
    bytes_at_open_ = *bytes;
  }
  if (!config_.metrics_address.empty()) {
    auto commits = read_commit_counters(config_.metrics_address);
    if (!commits) return commits.status();
    commits_at_open_ = *commits;
  }
  auto cpu = cpu_seconds_by_group();
  if (!cpu) return cpu.status();
  cpu_at_open_ = std::move(*cpu);
  client_cpu_at_open_ = client_cpu_seconds();
  if (!config_.processes.empty()) {
    rss_ = std::make_unique<RssSampler>(config_.processes, kRssPeriod);
  }
  opened_ = std::chrono::steady_clock::now();
  return Status::ok();
}

Status StackWindow::close(int completed, nlohmann::json& line) {
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - opened_).count();
  line["workers"] = config_.workers ? nlohmann::json(*config_.workers) : nlohmann::json();
  if (rss_) {
    auto rss = rss_->stop();
    if (!rss) return rss.status();
    for (const char* group : kRssGroups) {
      if (rss->contains(group)) line[std::string("rss_mb_") + group] = round3(rss->at(group));
    }
  }
  auto cpu = cpu_seconds_by_group();
  if (!cpu) return cpu.status();
  for (const char* group : kCpuGroups) {
    if (cpu->contains(group)) {
      line[std::string("cpu_s_") + group] = round3(cpu->at(group) - cpu_at_open_[group]);
    }
  }
  line["cpu_s_client"] = round3(client_cpu_seconds() - client_cpu_at_open_);
  if (!config_.metrics_address.empty()) {
    auto commits = read_commit_counters(config_.metrics_address);
    if (!commits) return commits.status();
    const double n = commits->commits - commits_at_open_.commits;
    const double ops = commits->ops_sum - commits_at_open_.ops_sum;
    const double batches = commits->ops_count - commits_at_open_.ops_count;
    line["commits_per_s"] = round3(n / wall_s);
    line["ops_per_commit"] = batches > 0 ? nlohmann::json(round3(ops / batches)) : nlohmann::json();
  }
  if (count_bytes_) {
    auto bytes = baton_table_bytes(config_.db_url);
    if (!bytes) return bytes.status();
    line["pg_bytes_per_orch"] =
        completed > 0 ? round3(static_cast<double>(*bytes - bytes_at_open_) / completed) : 0.0;
  }
  return Status::ok();
}

}  // namespace baton::bench
