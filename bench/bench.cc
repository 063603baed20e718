// baton-bench: drives the standard scenarios against a running stack and
// prints one JSON line per scenario (DESIGN.md "Measuring"). Latency is
// measured by the client from submit to result, so every part is inside it.
// Every result's output is checked; a wrong or failed result aborts.
//
//   baton-bench [--scenario chain|chain-serial|fanout|fanout-10000|sequence|memory|all]
//   baton-bench --summary FILE   medians of FILE's JSON lines, on stderr
//   env: CHAIN_M, CHAIN_C (chain), SEQ_N (chain-serial),
//        FANOUT_N, FANOUT_RUNS, FANOUT_LIST (fanout),
//        FANOUT_BIG_N, FANOUT_BIG_RUNS, FANOUT_BIG_TIMEOUT_S (fanout-10000),
//        SEQUENCE_N, SEQUENCE_RUNS (sequence), MEM_N, MEM_C (memory);
//        START_THEN_WAIT (chain, chain-serial, fanout, fanout-10000);
//        BATON_BENCH_PIDS, BATON_METRICS_SCHEDULER, BATON_DB_URL for the stack-side fields
//        (stack_window.h; each one unset leaves its fields out).
//
// chain: function_chaining (3 sequential activities), CHAIN_C at a time.
// chain-serial: the same, one at a time (unloaded latency).
// fanout: fan_out over FANOUT_N items (N activities at once), one
//   orchestration at a time; FANOUT_LIST=1: fan_out_fan_in (an activity lists
//   the items first: 1 + N activities).
// fanout-10000: the same over FANOUT_BIG_N (10,000) items.
// Those four run each orchestration with execute_orchestration (one request
// answered with the result); START_THEN_WAIT=1: a start, then a wait (two
// requests, as before StartRequest.wait_timeout_ms).
// sequence: count_up_chain over SEQUENCE_N (1,000) sequential activities, one
//   orchestration at a time (SEQUENCE_RUNS): a long history, step after step.
// memory: MEM_N human_interaction orchestrations parked on their event at
//   once; the RSS of every part while they wait; then all finished.
//
// Every scenario line also carries the stack-side fields of StackWindow
// (workers, cpu_s_*, rss_mb_*, commits_per_s, ops_per_commit; chain:
// pg_bytes_per_orch). stdout holds the JSON lines only; notes go to stderr.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "baton/client.h"
#include "baton/config.h"
#include "process_stats.h"
#include "stack_window.h"

namespace {

using Clock = std::chrono::steady_clock;
using baton::bench::StackConfig;
using baton::bench::StackWindow;

constexpr const char* kExpected = "Hello World! How are you today? I hope you're doing well!";
constexpr std::chrono::seconds kDefaultTimeout{120};
const std::vector<std::string> kAllScenarios = {"chain", "chain-serial", "fanout", "fanout-10000",
                                                "sequence", "memory"};

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::atoi(v) : fallback;
}

template <class T>
std::string pack(const T& v) {
  msgpack::sbuffer b;
  msgpack::pack(b, v);
  return {b.data(), b.size()};
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void print_line(const nlohmann::json& line) {
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

struct Scenario {
  std::string name;
  std::string orchestrator;
  std::string input;                                  // msgpack
  std::function<bool(const msgpack::object&)> check;  // the output is right
  int steps;                                          // activities per orchestration
  std::chrono::seconds timeout = kDefaultTimeout;     // per orchestration
  bool count_bytes = false;                           // report pg_bytes_per_orch
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// How many Clients parallel_for() shares between its threads: BENCH_CLIENTS
// (1, as one application process would have; at most one per thread).
int clients_for(int count, int concurrency) {
  return std::clamp(env_int("BENCH_CLIENTS", 1), 1, std::max(1, std::min(concurrency, count)));
}

// Calls body(client, i) for every i in [0, count), `concurrency` threads at
// a time, sharing clients_for() Clients (connections) between them, round
// robin. Hands out no more work after the first false (the body has said why
// on stderr). True when every call returned true.
bool parallel_for(int count, int concurrency,
                  const std::function<bool(baton::Client&, int)>& body) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  const int threads_n = std::min(concurrency, count);
  const int clients_n = clients_for(count, concurrency);
  std::vector<std::unique_ptr<baton::Client>> clients;
  for (int c = 0; c < clients_n; ++c) {
    clients.push_back(std::make_unique<baton::Client>(baton::ClientOptions::from_env()));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_n; ++t) {
    threads.emplace_back([&, t] {
      baton::Client& client = *clients[static_cast<std::size_t>(t % clients_n)];
      while (!failed) {
        const int i = next.fetch_add(1);
        if (i >= count) break;
        if (!body(client, i)) failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  return !failed;
}

// The stack-side figures are part of the result: a reading that fails
// fails the scenario.
bool open_window(StackWindow& window) {
  if (auto st = window.open(); !st) {
    std::fprintf(stderr, "stack readings failed: %s\n", st.to_string().c_str());
    return false;
  }
  return true;
}

bool close_window(StackWindow& window, int completed, nlohmann::json& line) {
  if (auto st = window.close(completed, line); !st) {
    std::fprintf(stderr, "stack readings failed: %s\n", st.to_string().c_str());
    return false;
  }
  return true;
}

// START_THEN_WAIT=1: run_one starts, then waits (two requests).
bool start_then_wait() {
  static const bool on = env_int("START_THEN_WAIT", 0) != 0;
  return on;
}

// Whether `md`, the outcome of `id`, is a completion whose output passes
// `check`; says why on stderr when it is not.
bool completed_with(const baton::Result<baton::OrchestrationMetadata>& md, const std::string& id,
                    const std::function<bool(const msgpack::object&)>& check) {
  if (!md || md->status != baton::OrchestrationStatus::kCompleted) {
    std::fprintf(stderr, "%s did not complete: %s\n", id.c_str(),
                 md ? md->failure.message.c_str() : md.status().to_string().c_str());
    return false;
  }
  auto oh = msgpack::unpack(md->output.data(), md->output.size());
  if (!check(oh.get())) {
    std::fprintf(stderr, "%s: wrong output\n", id.c_str());
    return false;
  }
  return true;
}

// Waits for `id` to complete and checks its output with `check`; says why
// on stderr when it does not.
bool completes_with(baton::Client& client, const std::string& id, std::chrono::seconds timeout,
                    const std::function<bool(const msgpack::object&)>& check) {
  return completed_with(client.wait_for_orchestration_completion(id, timeout), id, check);
}

// Starts one orchestration of the scenario and waits for its checked
// result; the latency in ms, or nothing after saying why.
std::optional<double> run_one(baton::Client& client, const Scenario& sc, const std::string& id) {
  const auto s = Clock::now();
  baton::StartOptions so;
  so.instance_id = id;
  if (start_then_wait()) {
    auto started = client.schedule_new_orchestration(sc.orchestrator, sc.input, so);
    if (!started) {
      std::fprintf(stderr, "start failed: %s\n", started.status().to_string().c_str());
      return std::nullopt;
    }
    if (!completes_with(client, *started, sc.timeout, sc.check)) return std::nullopt;
  } else if (!completed_with(
                 client.execute_orchestration(sc.orchestrator, sc.input, sc.timeout, so), id,
                 sc.check)) {
    return std::nullopt;
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - s).count();
}

// Runs `count` orchestrations of the scenario, `concurrency` at a time.
int run(const Scenario& sc, int count, int concurrency, const StackConfig& stack) {
  const std::string run_id = baton::random_uuid().substr(0, 8);
  StackWindow window(stack, sc.count_bytes);
  if (!open_window(window)) return 1;
  std::mutex mu;
  std::vector<double> latencies;  // guarded by mu
  const auto t0 = Clock::now();
  const bool ok = parallel_for(count, concurrency, [&](baton::Client& client, int i) {
    auto ms = run_one(client, sc, sc.name + "-" + run_id + "-" + std::to_string(i));
    if (!ms) return false;
    std::lock_guard<std::mutex> lock(mu);
    latencies.push_back(*ms);
    return true;
  });
  if (!ok) return 1;
  const double wall = seconds_since(t0);
  nlohmann::json j = {{"system", "baton"},
                      {"scenario", sc.name},
                      {"orchestrator", sc.orchestrator},
                      {"requests", start_then_wait() ? "start+wait" : "execute"},
                      {"count", count},
                      {"concurrency", concurrency},
                      {"clients", clients_for(count, concurrency)},
                      {"wall_s", wall},
                      {"per_s", count / wall},
                      {"steps_per_s", static_cast<double>(sc.steps) * count / wall},
                      {"p50_ms", percentile(latencies, 0.50)},
                      {"p99_ms", percentile(latencies, 0.99)}};
  if (!close_window(window, count, j)) return 1;
  print_line(j);
  return 0;
}

// fan_out(n) and fan_out_fan_in(n) sum the lengths of "item-0".."item-<n-1>".
int64_t item_length_sum(int n) {
  int64_t sum = 0;
  for (int i = 0; i < n; ++i) sum += 5 + static_cast<int64_t>(std::to_string(i).size());
  return sum;
}

// n activities at once (fan_out); with FANOUT_LIST=1, one activity that
// lists the n items first (fan_out_fan_in: 1 + n activities, one more step
// and commit in sequence; the workload of the figures before 2026-11-21's
// tenth session, and of revisions without fan_out).
Scenario fanout_scenario(std::string name, int n) {
  const int64_t sum = item_length_sum(n);
  const bool listed = env_int("FANOUT_LIST", 0) != 0;
  return {std::move(name), listed ? "fan_out_fan_in" : "fan_out", pack(n),
          [sum](const msgpack::object& o) {
            return o.type == msgpack::type::POSITIVE_INTEGER && o.as<int64_t>() == sum;
          },
          listed ? n + 1 : n};
}

// ---- memory ----------------------------------------------------------------

// human_interaction's input (examples/human_interaction.cc). Its timer is a
// day long, so only the event we raise ends the wait.
struct ApprovalRequest {
  std::string request;
  int64_t timeout_ms = 0;
  MSGPACK_DEFINE_MAP(request, timeout_ms)
};
constexpr int64_t kApprovalTimeoutMs = 24LL * 3600 * 1000;
constexpr const char* kWaitingStatus = "waiting for approval";
constexpr const char* kApprover = "bench";
constexpr std::chrono::seconds kParkTimeout{600};
// Nothing long-polls a custom status, so parking is polled at this pace.
constexpr std::chrono::milliseconds kParkPoll{100};
// RSS is sampled for this long once every instance is parked.
constexpr std::chrono::milliseconds kParkedSampling{1000};

// Polls `id` until it waits for its approval event (custom status
// kWaitingStatus); false, after saying why, if it ends or takes too long.
bool wait_until_parked(baton::Client& client, const std::string& id, Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    auto md = client.get_orchestration_metadata(id);
    if (!md) {
      std::fprintf(stderr, "%s: %s\n", id.c_str(), md.status().to_string().c_str());
      return false;
    }
    if (md->is_terminal()) {
      std::fprintf(stderr, "%s ended (%s) before its event\n", id.c_str(), md->status_name());
      return false;
    }
    auto status = md->read_custom_status<std::string>();
    if (status && *status == kWaitingStatus) return true;
    std::this_thread::sleep_for(kParkPoll);
  }
  std::fprintf(stderr, "%s is not waiting for its event after %lld s\n", id.c_str(),
               static_cast<long long>(kParkTimeout.count()));
  return false;
}

// Raises the approval on `id` and checks it completes "approved by bench".
bool approve(baton::Client& client, const std::string& id) {
  if (auto st = client.raise_orchestration_event<std::string>(id, "approval", kApprover); !st) {
    std::fprintf(stderr, "raise on %s failed: %s\n", id.c_str(), st.to_string().c_str());
    return false;
  }
  const std::string expected = std::string("approved by ") + kApprover;
  return completes_with(client, id, kDefaultTimeout, [&expected](const msgpack::object& o) {
    return o.type == msgpack::type::STR && o.as<std::string>() == expected;
  });
}

// The largest RSS per group over `duration` (zero: one reading).
baton::Result<std::map<std::string, double>> rss_over(const StackConfig& stack,
                                                      std::chrono::milliseconds duration) {
  baton::bench::RssSampler sampler(stack.processes, std::chrono::milliseconds(100));
  std::this_thread::sleep_for(duration);
  return sampler.stop();
}

// One group's MiB, rounded like StackWindow's figures (null if the group
// has no process).
nlohmann::json mb_of(const std::map<std::string, double>& rss, const char* group) {
  if (!rss.contains(group)) return nlohmann::json();
  return nlohmann::json(std::round(rss.at(group) * 1000) / 1000);
}

std::string memory_instance(const std::string& run_id, int i) {
  return "memory-" + run_id + "-" + std::to_string(i);
}

bool start_waiting_instances(int count, int concurrency, const std::string& run_id) {
  const std::string input = pack(ApprovalRequest{"bench", kApprovalTimeoutMs});
  return parallel_for(count, concurrency, [&](baton::Client& client, int i) {
    baton::StartOptions so;
    so.instance_id = memory_instance(run_id, i);
    auto id = client.schedule_new_orchestration("human_interaction", input, so);
    if (!id) std::fprintf(stderr, "start failed: %s\n", id.status().to_string().c_str());
    return id.is_ok();
  });
}

int run_memory(int count, int concurrency, const StackConfig& stack) {
  if (stack.processes.empty()) {
    std::fprintf(stderr, "memory: needs BATON_BENCH_PIDS (scripts/bench.sh sets it)\n");
    return 1;
  }
  const std::string run_id = baton::random_uuid().substr(0, 8);
  // RSS before, so what is left over from earlier scenarios can be told apart.
  auto before = rss_over(stack, std::chrono::milliseconds(0));
  if (!before) {
    std::fprintf(stderr, "memory: %s\n", before.status().to_string().c_str());
    return 1;
  }
  StackWindow window(stack, false);
  if (!open_window(window)) return 1;

  const auto t0 = Clock::now();
  if (!start_waiting_instances(count, concurrency, run_id)) return 1;
  const double start_s = seconds_since(t0);
  const auto deadline = Clock::now() + kParkTimeout;
  if (!parallel_for(count, concurrency, [&](baton::Client& client, int i) {
        return wait_until_parked(client, memory_instance(run_id, i), deadline);
      })) {
    return 1;
  }
  const double park_s = seconds_since(t0);
  auto parked = rss_over(stack, kParkedSampling);
  if (!parked) {
    std::fprintf(stderr, "memory: %s\n", parked.status().to_string().c_str());
    return 1;
  }

  const auto t_finish = Clock::now();
  if (!parallel_for(count, concurrency, [&](baton::Client& client, int i) {
        return approve(client, memory_instance(run_id, i));
      })) {
    return 1;
  }
  nlohmann::json j = {{"system", "baton"},
                      {"scenario", "memory"},
                      {"count", count},
                      {"concurrency", concurrency},
                      {"clients", clients_for(count, concurrency)},
                      {"wall_s", seconds_since(t0)},
                      {"start_per_s", count / start_s},
                      {"parked_s", park_s},
                      {"finish_s", seconds_since(t_finish)},
                      {"scheduler_rss_mb", mb_of(*parked, "scheduler")},
                      {"broker_rss_mb", mb_of(*parked, "broker")},
                      {"worker_rss_mb", mb_of(*parked, "workers")},
                      {"scheduler_rss_mb_before", mb_of(*before, "scheduler")},
                      {"broker_rss_mb_before", mb_of(*before, "broker")},
                      {"worker_rss_mb_before", mb_of(*before, "workers")}};
  if (!close_window(window, count, j)) return 1;
  print_line(j);
  return 0;
}

// ---- summary ---------------------------------------------------------------

// The figures the summary gives the median of, when a line has them.
const std::vector<std::string> kSummaryFields = {"per_s",
                                                  "p50_ms",
                                                  "p99_ms",
                                                  "start_per_s",
                                                  "scheduler_rss_mb",
                                                  "worker_rss_mb",
                                                  "broker_rss_mb",
                                                  "pg_bytes_per_orch"};

// Reads the JSON lines of several runs from `path` and prints, per scenario
// and worker count, the median of each summary figure (to stderr: stdout
// stays JSON lines only).
int summarize(const char* path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "summary: cannot read %s\n", path);
    return 1;
  }
  std::vector<std::string> order;  // groups in order of first appearance
  std::map<std::string, std::map<std::string, std::vector<double>>> values;
  std::map<std::string, int> runs;
  for (std::string text; std::getline(in, text);) {
    if (text.empty()) continue;
    const auto line = nlohmann::json::parse(text, nullptr, false);
    if (line.is_discarded() || !line.is_object() || !line.contains("scenario") ||
        !line["scenario"].is_string()) {
      std::fprintf(stderr, "summary: not a result line: %s\n", text.c_str());
      return 1;
    }
    const std::string key = line["scenario"].get<std::string>() +
                            " workers=" + line.value("workers", nlohmann::json()).dump();
    if (runs[key]++ == 0) order.push_back(key);
    for (const auto& field : kSummaryFields) {
      if (line.contains(field) && line[field].is_number()) {
        values[key][field].push_back(line[field].get<double>());
      }
    }
  }
  std::fprintf(stderr, "summary: medians over runs\n");
  for (const auto& key : order) {
    std::string figures;
    for (const auto& field : kSummaryFields) {
      const auto& v = values[key][field];
      if (v.empty()) continue;
      char buf[64];
      std::snprintf(buf, sizeof buf, "  %s %.1f", field.c_str(), median(v));
      figures += buf;
    }
    std::fprintf(stderr, "  %-26s runs %d%s\n", key.c_str(), runs[key], figures.c_str());
  }
  return 0;
}

// ---- main ------------------------------------------------------------------

int run_scenario(const std::string& name, const StackConfig& stack) {
  auto is_expected = [](const msgpack::object& o) {
    return o.type == msgpack::type::STR && o.as<std::string>() == kExpected;
  };
  Scenario chain{"chain", "function_chaining", pack(std::string("World")), is_expected, 3};
  if (name == "chain") {
    chain.count_bytes = true;
    return run(chain, env_int("CHAIN_M", 2000), env_int("CHAIN_C", 64), stack);
  }
  if (name == "chain-serial") {
    chain.name = "chain-serial";
    return run(chain, env_int("SEQ_N", 200), 1, stack);
  }
  if (name == "fanout") {
    return run(fanout_scenario("fanout", env_int("FANOUT_N", 100)), env_int("FANOUT_RUNS", 20), 1,
               stack);
  }
  if (name == "fanout-10000") {
    Scenario big = fanout_scenario("fanout-10000", env_int("FANOUT_BIG_N", 10000));
    big.timeout = std::chrono::seconds(env_int("FANOUT_BIG_TIMEOUT_S", 900));
    return run(big, env_int("FANOUT_BIG_RUNS", 1), 1, stack);
  }
  if (name == "sequence") {
    const int n = env_int("SEQUENCE_N", 1000);
    Scenario seq{"sequence", "count_up_chain", pack(n),
                 [n](const msgpack::object& o) {
                   return o.type == msgpack::type::POSITIVE_INTEGER && o.as<int64_t>() == n;
                 },
                 n};
    seq.timeout = std::chrono::seconds(env_int("SEQUENCE_TIMEOUT_S", 600));
    return run(seq, env_int("SEQUENCE_RUNS", 1), 1, stack);
  }
  if (name == "memory") return run_memory(env_int("MEM_N", 10000), env_int("MEM_C", 64), stack);
  std::fprintf(stderr, "unknown scenario '%s'\n", name.c_str());
  return 2;
}

int usage() {
  std::fprintf(stderr,
               "usage: baton-bench [--scenario chain|chain-serial|fanout|fanout-10000|sequence|memory|all]\n"
               "       baton-bench --summary FILE\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string scenario = "all";
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return usage();
    if (flag == "--summary") return summarize(argv[i + 1]);
    if (flag != "--scenario") return usage();
    scenario = argv[i + 1];
  }
  auto stack = StackConfig::from_env();
  if (!stack) {
    std::fprintf(stderr, "%s\n", stack.status().to_string().c_str());
    return 2;
  }
  if (scenario != "all") return run_scenario(scenario, *stack);
  int rc = 0;
  for (const auto& name : kAllScenarios) rc |= run_scenario(name, *stack);
  return rc;
}
