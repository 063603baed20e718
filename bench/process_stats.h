// What the stack's processes cost, read from /proc (Linux only): CPU time
// and resident memory of the scheduler, the broker, the workers and
// PostgreSQL, so every benchmark line can say where the time and memory went.
//
// The processes come from BATON_BENCH_PIDS (scripts/bench.sh sets it from
// the pid files scripts/stack.sh writes):
//   "scheduler=PID,broker=PID,worker-1=PID,worker-2=PID,postgres=PID"
// where postgres is the postmaster.
//
// Thread-safety: the free functions are thread-safe; RssSampler is used from
// one thread (its own sampling thread is internal).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "baton/status.h"

namespace baton::bench {

// One process of the stack. `group` is what the output fields are named
// after: "scheduler", "broker", "workers" (every worker-N) or "postgres".
struct StackProcess {
  std::string name;   // as given: "worker-2"
  std::string group;  // "workers"
  pid_t pid = 0;
};

// Parses a BATON_BENCH_PIDS value. kInvalidArgument for a malformed entry or
// an unknown name (known: scheduler, broker, postgres, worker-N).
Result<std::vector<StackProcess>> parse_stack_processes(std::string_view spec);

// CPU seconds (user + system) used so far by `pid` and all its descendants,
// living or already reaped (a reaped child's time is in its parent's
// cutime/cstime), so the difference of two readings is what the process tree
// used in between even while PostgreSQL backends come and go.
// kNotFound if the process is gone.
Result<double> tree_cpu_seconds(pid_t pid);

// VmRSS of `pid` in MiB. kNotFound if the process is gone.
Result<double> rss_mb(pid_t pid);

// Samples the RSS of every process except PostgreSQL (its backends share
// their buffers, so a sum of their RSS means little) every `period` on a
// thread of its own, keeping the maximum per group (for "workers": the
// largest single worker). A process that disappears is an error reported by
// stop(): a benchmark with a dead part is not a benchmark.
class RssSampler {
 public:
  RssSampler(std::vector<StackProcess> processes, std::chrono::milliseconds period);
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  // Stops sampling (idempotent) and returns the maximum MiB per group.
  Result<std::map<std::string, double>> stop();

 private:
  void sample_once();

  std::vector<StackProcess> processes_;
  std::chrono::milliseconds period_;
  std::mutex mu_;
  std::map<std::string, double> max_mb_;  // guarded by mu_
  std::string error_;                     // guarded by mu_
  std::jthread thread_;
};

}  // namespace baton::bench
