// baton-bench: drives the standard scenarios against a running stack and
// prints one JSON line per scenario (DESIGN.md "Measuring"). Latency is
// measured by the client from submit to result, so every part is inside it.
// Every result's output is checked; a wrong or failed result aborts.
//
//   baton-bench [--scenario chain|chain-serial|fanout|all]
//   env: CHAIN_M, CHAIN_C (chain), SEQ_N (chain-serial), FANOUT_N, FANOUT_RUNS (fanout)
//
// chain: function_chaining (3 sequential activities), CHAIN_C at a time.
// chain-serial: the same, one at a time (unloaded latency).
// fanout: fan_out_fan_in over FANOUT_N items (1 + N activities), one at a time.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "baton/client.h"
#include "baton/config.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kExpected = "Hello World! How are you today? I hope you're doing well!";

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

struct Scenario {
  const char* name;
  std::string orchestrator;
  std::string input;                                  // msgpack
  std::function<bool(const msgpack::object&)> check;  // the output is right
  int steps;                                          // activities per orchestration
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Runs `count` orchestrations of the scenario, `concurrency` at a time, each
// client thread with its own connection.
int run(const Scenario& sc, int count, int concurrency) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::vector<double> latencies;  // guarded by mu
  const char* scenario = sc.name;
  const std::string run_id = baton::random_uuid().substr(0, 8);
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      baton::Client client(baton::ClientOptions::from_env());
      std::vector<double> mine;
      while (!failed) {
        const int i = next.fetch_add(1);
        if (i >= count) break;
        const auto s = Clock::now();
        baton::StartOptions so;
        so.instance_id = std::string(scenario) + "-" + run_id + "-" + std::to_string(i);
        auto id = client.schedule_new_orchestration(sc.orchestrator, sc.input, so);
        if (!id) {
          std::fprintf(stderr, "start failed: %s\n", id.status().to_string().c_str());
          failed = true;
          break;
        }
        auto md = client.wait_for_orchestration_completion(*id, std::chrono::seconds(120));
        if (!md || md->status != baton::OrchestrationStatus::kCompleted) {
          std::fprintf(stderr, "%s did not complete: %s\n", id->c_str(),
                       md ? md->failure.message.c_str() : md.status().to_string().c_str());
          failed = true;
          break;
        }
        auto oh = msgpack::unpack(md->output.data(), md->output.size());
        if (!sc.check(oh.get())) {
          std::fprintf(stderr, "%s: wrong output\n", id->c_str());
          failed = true;
          break;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  if (failed) return 1;
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  nlohmann::json j = {{"system", "baton"},
                      {"scenario", scenario},
                      {"count", count},
                      {"concurrency", concurrency},
                      {"wall_s", wall},
                      {"per_s", count / wall},
                      {"steps_per_s", static_cast<double>(sc.steps) * count / wall},
                      {"p50_ms", percentile(latencies, 0.50)},
                      {"p99_ms", percentile(latencies, 0.99)}};
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string scenario = "all";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--scenario") scenario = argv[i + 1];
  }
  auto is_expected = [](const msgpack::object& o) {
    return o.type == msgpack::type::STR && o.as<std::string>() == kExpected;
  };
  const int fanout_n = env_int("FANOUT_N", 100);
  int64_t fanout_sum = 0;  // fan_out_fan_in sums the lengths of "item-0".."item-<n-1>"
  for (int i = 0; i < fanout_n; ++i) fanout_sum += 5 + static_cast<int64_t>(std::to_string(i).size());
  const Scenario chain{"chain", "function_chaining", pack(std::string("World")), is_expected, 3};
  Scenario serial = chain;
  serial.name = "chain-serial";
  const Scenario fanout{"fanout", "fan_out_fan_in", pack(fanout_n),
                        [fanout_sum](const msgpack::object& o) {
                          return o.type == msgpack::type::POSITIVE_INTEGER &&
                                 o.as<int64_t>() == fanout_sum;
                        },
                        fanout_n + 1};
  int rc = 0;
  if (scenario == "all" || scenario == "chain") {
    rc |= run(chain, env_int("CHAIN_M", 2000), env_int("CHAIN_C", 64));
  }
  if (scenario == "all" || scenario == "chain-serial") rc |= run(serial, env_int("SEQ_N", 200), 1);
  if (scenario == "all" || scenario == "fanout") rc |= run(fanout, env_int("FANOUT_RUNS", 20), 1);
  return rc;
}
