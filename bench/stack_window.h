// The stack-side figures of one scenario: what the scheduler, broker,
// workers and PostgreSQL spent while it ran (CPU seconds, peak RSS), how
// PostgreSQL was used (commits per second, operations per commit) and,
// optionally, how many bytes each completed orchestration left in it.
//
// Thread-safety: a StackWindow is used from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/status.h"
#include "process_stats.h"
#include "stack_probes.h"

namespace baton::bench {

// Where the stack is, from the environment scripts/bench.sh sets up. Each
// reading needs its variable; an unset variable leaves its fields out (with a
// note on stderr), so baton-bench also runs against any stack by hand.
struct StackConfig {
  std::vector<StackProcess> processes;  // BATON_BENCH_PIDS
  std::string metrics_address;          // BATON_METRICS_SCHEDULER, host:port
  std::string db_url;                   // BATON_DB_URL
  // Worker processes: those in BATON_BENCH_PIDS, else $BATON_WORKERS, else
  // unknown.
  std::optional<int> workers;

  // kInvalidArgument for a malformed BATON_BENCH_PIDS.
  static Result<StackConfig> from_env();
  // The processes of `group` ("scheduler", "workers", ...).
  std::vector<StackProcess> group(const std::string& name) const;
};

// Measures from open() to close().
class StackWindow {
 public:
  // `count_bytes`: also measure baton_* table growth (a psql call at each
  // end, outside the CPU window).
  StackWindow(const StackConfig& config, bool count_bytes);
  ~StackWindow();
  StackWindow(const StackWindow&) = delete;
  StackWindow& operator=(const StackWindow&) = delete;

  // Takes the first readings and starts sampling RSS every 100 ms.
  Status open();

  // Takes the last readings and adds to `line`: workers, cpu_s_scheduler,
  // cpu_s_broker, cpu_s_workers (sum), cpu_s_postgres (postmaster and every
  // backend), cpu_s_client (baton-bench itself), rss_mb_scheduler,
  // rss_mb_broker, rss_mb_workers (largest worker), commits_per_s,
  // ops_per_commit and, with count_bytes, pg_bytes_per_orch (growth divided
  // by `completed`). Any reading that fails is the error.
  Status close(int completed, nlohmann::json& line);

 private:
  Result<std::map<std::string, double>> cpu_seconds_by_group() const;

  const StackConfig& config_;
  const bool count_bytes_;
  std::chrono::steady_clock::time_point opened_;
  std::map<std::string, double> cpu_at_open_;
  double client_cpu_at_open_ = 0;
  CommitCounters commits_at_open_;
  int64_t bytes_at_open_ = 0;
  std::unique_ptr<RssSampler> rss_;
};

}  // namespace baton::bench
