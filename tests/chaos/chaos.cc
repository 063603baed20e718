// baton_chaos: a long randomized fault run (`make chaos`, scripts/chaos.sh).
//
// Starts a private PostgreSQL cluster and a local stack (scheduler, broker,
// N test workers), feeds it a steady stream of orchestrations (function
// chaining with simulated work, fan-out, continue-as-new, sub-orchestrations)
// and, until the time is up, injects a random fault every few seconds:
// kill -9, SIGSTOP/SIGCONT and SIGTERM of workers, the broker and the
// scheduler, and PostgreSQL restarts, crashes (immediate stop) and outages.
// Then it heals everything, waits for every orchestration to finish and
// checks that nothing was lost: each started orchestration completed with
// its exact output, every history records each activity result once, no
// task or inbox row is left, and `batonctl admin verify` is clean.
//
//   baton_chaos [--seconds N] [--seed S] [--workers N] [--rate R] [--log-dir
//   DIR] env: CHAOS_SECONDS (600), CHAOS_SEED (random, printed), CHAOS_WORKERS
//   (3),
//        CHAOS_RATE (starts per second, 15), CHAOS_DRAIN_SECONDS (240)
//
// The seed fixes the sequence of workloads and faults (which fault, which
// process, how long); their timing against the system's is not
// reproducible, so a failure found with a seed may need a few runs to recur.
// Exit codes: 0 nothing lost, 1 something lost or wrong, 2 setup failure.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <msgpack.hpp>
#include <pqxx/pqxx>

#include "baton/client.h"
#include "tests/chaos/pg_cluster.h"
#include "tests/support/stack.h"

namespace {

using namespace std::chrono_literals;
using baton::testing::PgCluster;
using baton::testing::Stack;
using Clock = std::chrono::steady_clock;

constexpr const char* kChained = "Hello World! How are you today? I hope you're doing well!";

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted = true; }

struct Settings {
  int seconds = 600;
  uint64_t seed = 0;
  int workers = 3;
  double rate = 15;
  int drain_seconds = 240;
  std::string log_dir;
};

long long env_int(const char* name, long long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

Clock::time_point g_t0 = Clock::now();

template <class... A>
void say(const char* fmt, A... args) {
  const double t = std::chrono::duration<double>(Clock::now() - g_t0).count();
  std::printf("[%7.1f s] ", t);
  std::printf(fmt, args...);
  std::printf("\n");
  std::fflush(stdout);
}

// Sleeps up to `d`, waking early on Ctrl-C.
void pause_for(std::chrono::milliseconds d) {
  const auto until = Clock::now() + d;
  while (!g_interrupted && Clock::now() < until) std::this_thread::sleep_for(20ms);
}

// ------------------------------------------------------------ workload

enum class Kind { kChain, kFanOut, kCountTo, kOrder };

struct Started {
  Kind kind;
  int n = 0;  // fan-out width
};

class Workload {
 public:
  Workload(const std::string& address, uint64_t seed) : rng_(seed) {
    baton::ClientOptions co;
    co.address = address;
    co.request_timeout = 5s;
    client_ = std::make_unique<baton::Client>(co);
  }

  // Starts orchestration number `i` (its kind and input come from the seed),
  // retrying the same id until the start is known to have committed.
  // Returns false only when interrupted.
  bool start_next() {
    const int i = next_++;
    Started s;
    switch (rng_() % 4) {
      case 0:
        s.kind = Kind::kChain;
        break;
      case 1:
        s.kind = Kind::kFanOut;
        s.n = 1 + static_cast<int>(rng_() % 12);
        break;
      case 2:
        s.kind = Kind::kCountTo;
        break;
      default:
        s.kind = Kind::kOrder;
        break;
    }
    const std::string id = "chaos-" + std::to_string(i);
    auto backoff = 100ms;
    while (!g_interrupted) {
      const baton::Status st = start(id, s);
      if (st.is_ok() || st.code() == baton::StatusCode::kAlreadyExists) {
        std::lock_guard<std::mutex> lock(mu_);
        started_[id] = s;
        if (!st.is_ok()) ++applied_after_error_;
        return true;
      }
      ++start_errors_;
      if (st.code() != baton::StatusCode::kUnavailable &&
          st.code() != baton::StatusCode::kDeadlineExceeded) {
        say("start %s failed unexpectedly: %s", id.c_str(), st.to_string().c_str());
        unexpected_errors_.push_back(id + ": " + st.to_string());
      }
      pause_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
    return false;
  }

  std::map<std::string, Started> started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  int start_errors() const { return start_errors_; }
  int applied_after_error() const { return applied_after_error_; }
  const std::vector<std::string>& unexpected_errors() const { return unexpected_errors_; }

 private:
  baton::Status start(const std::string& id, const Started& s) {
    baton::StartOptions so;
    so.instance_id = id;
    baton::Result<std::string> r = baton::internal_error("no kind");
    switch (s.kind) {
      case Kind::kChain:
        r = client_->schedule_new_orchestration("function_chaining", std::string_view("World"), so);
        break;
      case Kind::kFanOut:
        r = client_->schedule_new_orchestration("fan_out_echo", s.n, so);
        break;
      case Kind::kCountTo:
        r = client_->schedule_new_orchestration("count_to", 0, so);
        break;
      case Kind::kOrder:
        r = client_->schedule_new_orchestration("process_order", std::string_view(id), so);
        break;
    }
    return r.status();
  }

  std::mt19937_64 rng_;
  std::unique_ptr<baton::Client> client_;
  int next_ = 0;
  std::mutex mu_;
  std::map<std::string, Started> started_;  // guarded by mu_
  std::atomic<int> start_errors_{0};
  std::atomic<int> applied_after_error_{0};
  std::vector<std::string> unexpected_errors_;  // workload thread only
};

// ------------------------------------------------------------ faults

class Faults {
 public:
  Faults(Stack& stack, PgCluster& pg, uint64_t seed) : stack_(stack), pg_(pg), rng_(seed) {}

  // One random fault, including its recovery (a restart, SIGCONT).
  void inject() {
    const auto down = std::chrono::milliseconds(rng_() % 3000);
    const auto hang = std::chrono::milliseconds(1000 + rng_() % 4000);
    const std::size_t w = rng_() % static_cast<std::size_t>(workers());
    const int what = static_cast<int>(rng_() % 100);
    if (what < 15) {
      note("kill -9 worker " + std::to_string(w) + ", restart after " + ms(down));
      stack_.worker(w).kill9();
      pause_for(down);
      stack_.start_worker(w);
    } else if (what < 27) {
      note("SIGSTOP worker " + std::to_string(w) + " for " + ms(hang));
      hang_process(stack_.worker(w), hang);
    } else if (what < 33) {
      note("SIGTERM (drain) worker " + std::to_string(w) + ", restart");
      stack_.worker(w).signal(SIGTERM);
      if (stack_.worker(w).wait(15s) < 0) say("  worker %zu did not drain in 15 s: kill -9", w);
      stack_.start_worker(w);
    } else if (what < 43) {
      note("kill -9 broker, restart after " + ms(down));
      stack_.broker().kill9();
      pause_for(down);
      stack_.start_broker();
    } else if (what < 50) {
      note("SIGSTOP broker for " + ms(hang));
      hang_process(stack_.broker(), hang);
    } else if (what < 62) {
      note("kill -9 scheduler, restart after " + ms(down));
      stack_.scheduler().kill9();
      pause_for(down);
      stack_.start_scheduler();
    } else if (what < 70) {
      note("SIGSTOP scheduler for " + ms(hang));
      hang_process(stack_.scheduler(), hang);
    } else if (what < 75) {
      note("SIGTERM scheduler, restart");
      stack_.scheduler().signal(SIGTERM);
      if (stack_.scheduler().wait(15s) < 0) say("  scheduler did not stop in 15 s: kill -9");
      stack_.start_scheduler();
    } else if (what < 84) {
      note("PostgreSQL restart (fast)");
      if (!pg_.restart()) fail_infra("pg_ctl restart");
    } else if (what < 92) {
      note("PostgreSQL crash (immediate stop), start after " + ms(down));
      if (!pg_.crash()) fail_infra("pg_ctl stop -m immediate");
      pause_for(down);
      if (!pg_.start()) fail_infra("pg_ctl start");
    } else {
      note("PostgreSQL outage for " + ms(hang));
      if (!pg_.stop()) fail_infra("pg_ctl stop");
      pause_for(hang);
      if (!pg_.start()) fail_infra("pg_ctl start");
    }
  }

  // Everything running again (a process that died on its own is restarted
  // and reported: nothing should die unless we kill it).
  void heal() {
    if (!stack_.broker().running()) {
      say("broker was not running at the end: restarting");
      ++unexpected_exits_;
      stack_.start_broker();
    }
    if (!stack_.scheduler().running()) {
      say("scheduler was not running at the end: restarting");
      ++unexpected_exits_;
      stack_.start_scheduler();
    }
    for (int i = 0; i < workers(); ++i) {
      if (!stack_.worker(static_cast<std::size_t>(i)).running()) {
        say("worker %d was not running at the end: restarting", i);
        ++unexpected_exits_;
        stack_.start_worker(static_cast<std::size_t>(i));
      }
    }
  }

  // Processes that exited without being told to, seen between faults.
  void check_unexpected_exits() {
    auto check = [&](baton::testing::Process& p, const std::string& name, auto restart) {
      if (!p.running()) {
        const int rc = p.wait(0ms);
        say("%s exited on its own (status %d): restarting", name.c_str(), rc);
        ++unexpected_exits_;
        restart();
      }
    };
    check(stack_.broker(), "broker", [&] { stack_.start_broker(); });
    check(stack_.scheduler(), "scheduler", [&] { stack_.start_scheduler(); });
    for (int i = 0; i < workers(); ++i) {
      const auto w = static_cast<std::size_t>(i);
      check(stack_.worker(w), "worker " + std::to_string(i), [&] { stack_.start_worker(w); });
    }
  }

  int count() const { return count_; }
  int unexpected_exits() const { return unexpected_exits_; }
  bool infra_failed() const { return infra_failed_; }
  void set_workers(int n) { workers_ = n; }

 private:
  int workers() const { return workers_; }
  static std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }
  void note(const std::string& what) {
    ++count_;
    say("fault %d: %s", count_, what.c_str());
  }
  void hang_process(baton::testing::Process& p, std::chrono::milliseconds d) {
    p.signal(SIGSTOP);
    pause_for(d);
    p.signal(SIGCONT);
  }
  void fail_infra(const char* what) {
    say("%s failed (see the cluster's server.log)", what);
    infra_failed_ = true;
  }

  Stack& stack_;
  PgCluster& pg_;
  std::mt19937_64 rng_;
  int workers_ = 1;
  int count_ = 0;
  int unexpected_exits_ = 0;
  bool infra_failed_ = false;
};

// ------------------------------------------------------------ checks

template <class T>
std::optional<T> read(const std::string& bytes) {
  try {
    auto oh = msgpack::unpack(bytes.data(), bytes.size());
    return oh.get().as<T>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Every activity result recorded once: per execution, each TaskScheduled
// has at most one TaskCompleted/TaskFailed and nothing completes a task
// that was not scheduled; the finished execution left no task open.
std::string check_history(const std::vector<baton::HistoryEvent>& events) {
  std::set<int32_t> scheduled, done;
  for (const auto& ev : events) {
    switch (ev.type) {
      case baton::EventType::kExecutionStarted:
        scheduled.clear();
        done.clear();
        break;
      case baton::EventType::kTaskScheduled:
        if (!scheduled.insert(ev.event_id).second) {
          return "task " + std::to_string(ev.event_id) + " scheduled twice";
        }
        break;
      case baton::EventType::kTaskCompleted:
      case baton::EventType::kTaskFailed:
        if (!scheduled.count(ev.task_scheduled_id)) {
          return "result for unscheduled task " + std::to_string(ev.task_scheduled_id);
        }
        if (!done.insert(ev.task_scheduled_id).second) {
          return "task " + std::to_string(ev.task_scheduled_id) + " has two results";
        }
        break;
      default:
        break;
    }
  }
  if (done.size() != scheduled.size()) {
    return std::to_string(scheduled.size() - done.size()) + " scheduled tasks never completed";
  }
  return "";
}

std::string check_output(const std::string& id, const Started& s, const std::string& output) {
  switch (s.kind) {
    case Kind::kChain: {
      auto v = read<std::string>(output);
      return v && *v == kChained ? "" : "wrong chaining output";
    }
    case Kind::kFanOut: {
      auto v = read<std::vector<int>>(output);
      std::vector<int> want(static_cast<std::size_t>(s.n));
      for (int i = 0; i < s.n; ++i) want[static_cast<std::size_t>(i)] = i;
      return v && *v == want ? "" : "wrong fan-out output";
    }
    case Kind::kCountTo: {
      auto v = read<int>(output);
      return v && *v == 5 ? "" : "wrong count_to output";
    }
    case Kind::kOrder: {
      auto v = read<std::string>(output);
      const std::string want = "order " + id + ": reserved " + id + ", dispatched label-" + id;
      return v && *v == want ? "" : "wrong process_order output";
    }
  }
  return "unknown kind";
}

int64_t count(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx.exec1(sql)[0].as<int64_t>();
  } catch (const std::exception& e) {
    say("query failed: %s", e.what());
    return -1;
  }
}

// Returns the number of problems found (each one printed).
int verify_outcome(Stack& stack, const std::map<std::string, Started>& started, int drain_seconds) {
  int problems = 0;
  // The summary line: started / completed (right output) / lost (missing,
  // failed or wrong) / stuck (not finished) / histories with duplicated events.
  int64_t completed = 0, lost = 0, stuck = 0, duplicated = 0;
  auto problem = [&](const std::string& what) {
    if (++problems <= 50) say("LOST OR WRONG: %s", what.c_str());
  };
  const std::string& db = stack.db_url();
  const int64_t expected_top = static_cast<int64_t>(started.size());
  // Children (process_order's ship_order) count as instances too.
  const std::string open_sql = "SELECT count(*) FROM baton_instances WHERE status NOT IN (2, 3, 4)";
  const auto drain_until = Clock::now() + std::chrono::seconds(drain_seconds);
  bool drained = false;
  while (!drained && !g_interrupted && Clock::now() < drain_until) {
    drained = count(db, open_sql) == 0;
    if (!drained) pause_for(500ms);
  }
  if (!drained) {
    problem(std::to_string(count(db, open_sql)) + " instances still not finished after " +
            std::to_string(drain_seconds) + " s");
  }
  const int64_t top =
      count(db, "SELECT count(*) FROM baton_instances WHERE parent_instance_id = ''");
  if (top != expected_top) {
    problem("expected " + std::to_string(expected_top) + " started orchestrations, found " +
            std::to_string(top));
  }

  baton::ClientOptions co;
  co.address = stack.scheduler_address();
  co.request_timeout = 30s;
  baton::Client client(co);
  for (const auto& [id, s] : started) {
    auto md = client.get_orchestration_metadata(id);
    if (!md) {
      ++lost;
      problem(id + ": " + md.status().to_string());
      continue;
    }
    if (md->status != baton::OrchestrationStatus::kCompleted) {
      ++(md->is_terminal() ? lost : stuck);
      problem(id + ": " + md->status_name() + " " + md->failure.error_type + " " +
              md->failure.message);
      continue;
    }
    if (auto bad = check_output(id, s, md->output); !bad.empty()) {
      ++lost;
      problem(id + ": " + bad);
      continue;
    }
    ++completed;
  }
  // Histories of every instance, children included.
  std::vector<std::string> all;
  try {
    pqxx::connection c(db);
    pqxx::nontransaction tx(c);
    for (const auto& row : tx.exec("SELECT instance_id, status FROM baton_instances")) {
      all.push_back(row[0].c_str());
      if (row[1].as<int>() != 2) problem(std::string(row[0].c_str()) + ": not completed");
    }
  } catch (const std::exception& e) {
    problem(std::string("cannot list instances: ") + e.what());
  }
  for (const auto& id : all) {
    auto h = client.get_orchestration_history(id);
    if (!h) {
      problem(id + ": history: " + h.status().to_string());
      continue;
    }
    if (auto bad = check_history(*h); !bad.empty()) {
      if (bad.find("twice") != std::string::npos || bad.find("two results") != std::string::npos) {
        ++duplicated;
      }
      problem(id + ": " + bad);
    }
  }
  say("chaos summary: started %zu, completed %lld, lost %lld, stuck %lld, duplicated events %lld",
      started.size(), static_cast<long long>(completed), static_cast<long long>(lost),
      static_cast<long long>(stuck), static_cast<long long>(duplicated));
  if (const auto n = count(db, "SELECT count(*) FROM baton_tasks"); n != 0) {
    problem(std::to_string(n) + " task rows left");
  }
  if (const auto n = count(db, "SELECT count(*) FROM baton_inbox"); n != 0) {
    problem(std::to_string(n) + " inbox rows left");
  }
  std::string out;
  const int rc = baton::testing::run_command(baton::testing::batonctl_binary() + " --address " +
                                                 stack.scheduler_address() + " admin verify 2>&1",
                                             &out);
  if (rc != 0) problem("batonctl admin verify exited " + std::to_string(rc) + ":\n" + out);
  say("checked %zu orchestrations and %zu instance histories; batonctl admin "
      "verify exit %d",
      started.size(), all.size(), rc);
  return problems;
}

Settings parse(int argc, char** argv) {
  Settings s;
  s.seconds = static_cast<int>(env_int("CHAOS_SECONDS", s.seconds));
  s.workers = static_cast<int>(env_int("CHAOS_WORKERS", s.workers));
  s.drain_seconds = static_cast<int>(env_int("CHAOS_DRAIN_SECONDS", s.drain_seconds));
  if (const char* r = std::getenv("CHAOS_RATE"); r && *r) s.rate = std::atof(r);
  s.seed = static_cast<uint64_t>(env_int("CHAOS_SEED", 0));
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--seconds")
      s.seconds = std::atoi(v.c_str());
    else if (a == "--seed")
      s.seed = std::strtoull(v.c_str(), nullptr, 10);
    else if (a == "--workers")
      s.workers = std::atoi(v.c_str());
    else if (a == "--rate")
      s.rate = std::atof(v.c_str());
    else if (a == "--log-dir")
      s.log_dir = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      std::exit(2);
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr,
                 "usage: %s [--seconds N] [--seed S] [--workers N] [--rate R] "
                 "[--log-dir DIR]\n",
                 argv[0]);
    std::exit(2);
  }
  if (s.seed == 0) s.seed = std::random_device{}() | 1u;
  if (s.workers < 1) s.workers = 1;
  if (s.rate <= 0) s.rate = 1;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s = parse(argc, argv);
  if (s.log_dir.empty()) {
    const char* build = std::getenv("BATON_BUILD_DIR");
    s.log_dir =
        std::string(build && *build ? build : ".") + "/chaos-logs/seed-" + std::to_string(s.seed);
  }
  std::filesystem::remove_all(s.log_dir);
  std::filesystem::create_directories(s.log_dir);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  std::signal(SIGPIPE, SIG_IGN);
  say("chaos: seed %llu, %d s of faults, %d workers, %.1f starts/s; logs in %s",
      static_cast<unsigned long long>(s.seed), s.seconds, s.workers, s.rate, s.log_dir.c_str());
  say("reproduce: CHAOS_SEED=%llu CHAOS_SECONDS=%d make chaos",
      static_cast<unsigned long long>(s.seed), s.seconds);

  std::unique_ptr<PgCluster> pg;
  std::unique_ptr<Stack> stack;
  try {
    pg = std::make_unique<PgCluster>(s.log_dir + "/pg");
    baton::testing::StackOptions o;
    o.pg_admin_url = pg->url();
    o.workers = s.workers;
    o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "50"}, {"BATON_ACTIVITY_SLOTS", "16"}};
    // Work whose dispatch got lost in a way nobody reported resurfaces
    // within the run (the lease is the designed last resort).
    o.scheduler_args = {"--activity-lease", "20"};
    stack = std::make_unique<Stack>(s.log_dir, o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chaos: setup failed: %s\n", e.what());
    return 2;
  }
  say("stack up: scheduler %s, broker %s, PostgreSQL %s", stack->scheduler_address().c_str(),
      stack->broker_address().c_str(), pg->url().c_str());

  Workload workload(stack->scheduler_address(), s.seed);
  Faults faults(*stack, *pg, s.seed ^ 0x9e3779b97f4a7c15ull);
  faults.set_workers(s.workers);
  std::mt19937_64 pacing(s.seed + 1);

  std::atomic<bool> stop_starting{false};
  std::thread starter([&] {
    const auto gap = std::chrono::duration<double>(1.0 / s.rate);
    auto next = Clock::now();
    while (!stop_starting && !g_interrupted) {
      if (!workload.start_next()) break;
      next += std::chrono::duration_cast<Clock::duration>(gap);
      if (next > Clock::now())
        std::this_thread::sleep_until(next);
      else
        next = Clock::now();
    }
  });

  const auto end = Clock::now() + std::chrono::seconds(s.seconds);
  pause_for(3s);  // let work get in flight before the first fault
  while (!g_interrupted && Clock::now() < end) {
    faults.inject();
    pause_for(std::chrono::milliseconds(1000 + pacing() % 4000));
    faults.check_unexpected_exits();
  }
  stop_starting = true;
  starter.join();
  if (g_interrupted) {
    say("interrupted: stopping without checks");
    return 2;
  }
  faults.heal();
  say("faults over (%d injected); %zu orchestrations started (%d start "
      "attempts failed and were "
      "retried, %d of those had been applied); waiting up to %d s for all to "
      "finish",
      faults.count(), workload.started().size(), workload.start_errors(),
      workload.applied_after_error(), s.drain_seconds);

  int problems = verify_outcome(*stack, workload.started(), s.drain_seconds);
  for (const auto& e : workload.unexpected_errors()) {
    say("LOST OR WRONG: unexpected start error %s", e.c_str());
    ++problems;
  }
  if (faults.unexpected_exits() > 0) {
    say("LOST OR WRONG: %d processes exited without being killed (see their "
        "logs)",
        faults.unexpected_exits());
    ++problems;
  }
  if (faults.infra_failed()) {
    say("PostgreSQL control failed: the run is not conclusive");
    return 2;
  }
  if (problems > 0) {
    say("chaos: FAILED with %d problems (seed %llu; logs in %s)", problems,
        static_cast<unsigned long long>(s.seed), s.log_dir.c_str());
    return 1;
  }
  say("chaos: nothing lost (seed %llu)", static_cast<unsigned long long>(s.seed));
  return 0;
}
