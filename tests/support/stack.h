// The whole local stack as real processes for one integration test: a fresh
// database in the throwaway cluster, baton-scheduler, baton-broker and N
// worker processes on free ports, each logging to `log_dir`.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/pg_database.h"
#include "tests/support/process.h"

namespace baton::testing {

struct StackOptions {
  int workers = 2;
  std::string worker_binary;  // default: the test worker
  std::map<std::string, std::string> worker_env;
  std::vector<std::string> scheduler_args;  // extra `serve` flags
  std::vector<std::string> broker_args;     // extra baton-broker flags
  // The cluster the stack's database is created in; empty: BATON_TEST_PG_URL.
  // Tests that stop or restart PostgreSQL pass their private cluster here.
  std::string pg_admin_url;
};

class Stack {
 public:
  // Starts everything and waits until the scheduler answers. Throws on failure.
  Stack(const std::string& log_dir, StackOptions options = {});
  ~Stack();

  void start_scheduler();
  void start_broker();
  void start_worker(std::size_t i);

  Process& scheduler() { return scheduler_; }
  Process& broker() { return broker_; }
  Process& worker(std::size_t i) { return workers_.at(i); }

  const std::string& scheduler_address() const { return scheduler_address_; }
  const std::string& broker_address() const { return broker_address_; }
  const std::string& db_url() const { return db_.url(); }
  // Ports of the processes' HTTP endpoints (/metrics, /healthz, /readyz) on
  // 127.0.0.1; a worker keeps its port across restarts.
  int scheduler_metrics_port() const { return scheduler_metrics_port_; }
  int broker_metrics_port() const { return broker_metrics_port_; }
  int worker_metrics_port(std::size_t i) const { return worker_metrics_ports_.at(i); }
  const std::string& log_dir() const { return log_dir_; }

  // Count of rows of `sql` (a SELECT count(*) ...) in the stack's database.
  int64_t count(const std::string& sql) const;

 private:
  // Returns once `p` serves its metrics port; throws, with the end of its
  // log, if it exited instead (e.g. its port was taken), so a test fails at
  // once rather than after every client call timed out.
  void await_start(Process& p, int metrics_port, const std::string& name);
  std::string log_dir_;
  StackOptions options_;
  TempDatabase db_;
  std::string scheduler_address_;
  std::string broker_address_;
  int scheduler_metrics_port_ = 0;
  int broker_metrics_port_ = 0;
  std::vector<int> worker_metrics_ports_;
  Process scheduler_;
  Process broker_;
  std::vector<Process> workers_;
};

// Paths of the binaries under test (compile definitions of the support lib).
std::string scheduler_binary();
std::string broker_binary();
std::string batonctl_binary();
std::string test_worker_binary();

// A per-test log directory under the build tree, created empty.
std::string test_log_dir(const std::string& name);

}  // namespace baton::testing
