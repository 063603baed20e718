#include "process_stats.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <utility>

namespace baton::bench {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool parse_pid(std::string_view text, pid_t& pid) {
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, pid);
  return ec == std::errc() && p == end && pid > 0;
}

Result<std::string> read_proc_file(pid_t pid, const char* file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  if (!in) return not_found("process " + std::to_string(pid) + " is gone");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fields of /proc/PID/stat after "pid (comm) ": index 0 is the state,
// 1 the parent pid, 11..14 utime, stime, cutime, cstime (in clock ticks).
// comm may contain spaces and parentheses, hence the last ')'.
struct StatFields {
  pid_t ppid = 0;
  long long ticks = 0;  // utime + stime + cutime + cstime
};

bool parse_stat(const std::string& stat, StatFields& out) {
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream in(stat.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; in >> f && fields.size() < 15;) fields.push_back(std::move(f));
  if (fields.size() < 15) return false;
  out.ppid = static_cast<pid_t>(std::stoll(fields[1]));
  out.ticks = std::stoll(fields[11]) + std::stoll(fields[12]) + std::stoll(fields[13]) +
              std::stoll(fields[14]);
  return true;
}

// Every process's stat, read in one pass over /proc.
std::unordered_map<pid_t, StatFields> all_stats() {
  std::unordered_map<pid_t, StatFields> stats;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    pid_t pid = 0;
    if (!parse_pid(entry.path().filename().string(), pid)) continue;
    auto stat = read_proc_file(pid, "stat");
    StatFields fields;
    if (stat && parse_stat(*stat, fields)) stats.emplace(pid, fields);  // else: it just exited
  }
  return stats;
}

}  // namespace

Result<std::vector<StackProcess>> parse_stack_processes(std::string_view spec) {
  std::vector<StackProcess> processes;
  while (!spec.empty()) {
    const auto comma = spec.find(',');
    const std::string_view entry = trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (entry.empty()) continue;
    const auto eq = entry.find('=');
    StackProcess p;
    if (eq == std::string_view::npos || !parse_pid(entry.substr(eq + 1), p.pid)) {
      return invalid_argument("BATON_BENCH_PIDS: '" + std::string(entry) + "' is not NAME=PID");
    }
    p.name = std::string(entry.substr(0, eq));
    if (p.name == "scheduler" || p.name == "broker" || p.name == "postgres") {
      p.group = p.name;
    } else if (p.name.starts_with("worker-")) {
      p.group = "workers";
    } else {
      return invalid_argument("BATON_BENCH_PIDS: unknown process name '" + p.name +
                              "' (scheduler, broker, postgres, worker-N)");
    }
    processes.push_back(std::move(p));
  }
  return processes;
}

Result<double> tree_cpu_seconds(pid_t pid) {
  const auto stats = all_stats();
  if (!stats.contains(pid)) return not_found("process " + std::to_string(pid) + " is gone");
  std::unordered_map<pid_t, std::vector<pid_t>> children;
  for (const auto& [child, fields] : stats) children[fields.ppid].push_back(child);
  long long ticks = 0;
  std::vector<pid_t> todo{pid};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    ticks += stats.at(p).ticks;
    const auto it = children.find(p);
    if (it != children.end()) todo.insert(todo.end(), it->second.begin(), it->second.end());
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

Result<double> rss_mb(pid_t pid) {
  auto status = read_proc_file(pid, "status");
  if (!status) return status.status();
  const auto at = status->find("\nVmRSS:");
  // A zombie has no VmRSS line: it is gone as far as memory goes.
  if (at == std::string::npos) return not_found("process " + std::to_string(pid) + " is gone");
  const long long kib = std::stoll(status->substr(at + 7));
  return static_cast<double>(kib) / 1024.0;
}

RssSampler::RssSampler(std::vector<StackProcess> processes, std::chrono::milliseconds period)
    : processes_(std::move(processes)), period_(period) {
  std::erase_if(processes_, [](const StackProcess& p) { return p.group == "postgres"; });
  sample_once();  // a scenario shorter than one period still gets a figure
  thread_ = std::jthread([this](std::stop_token stop) {
    std::mutex wait_mu;
    std::condition_variable_any wake;
    std::unique_lock<std::mutex> lock(wait_mu);
    while (!stop.stop_requested()) {
      // Nothing notifies: the wait ends after a period or at stop().
      wake.wait_for(lock, stop, period_, [] { return false; });
      if (!stop.stop_requested()) sample_once();
    }
  });
}

RssSampler::~RssSampler() { (void)stop(); }

void RssSampler::sample_once() {
  for (const auto& p : processes_) {
    auto mb = rss_mb(p.pid);
    std::lock_guard<std::mutex> lock(mu_);
    if (!mb) {
      if (error_.empty()) error_ = p.name + " (pid " + std::to_string(p.pid) + ") is gone";
      continue;
    }
    double& max = max_mb_[p.group];
    max = std::max(max, *mb);
  }
}

Result<std::map<std::string, double>> RssSampler::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
    sample_once();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_.empty()) return unavailable(error_);
  return max_mb_;
}

}  // namespace baton::bench
