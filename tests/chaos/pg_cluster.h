// A private throwaway PostgreSQL cluster that a fault test may stop, crash
// and restart without disturbing the shared test cluster (BATON_TEST_PG_URL).
// Started with scripts/pg.sh (same layout and settings as `make test`); the
// server itself is driven with pg_ctl on the cluster's data directory, so it
// comes back on the same port. Used by tests/integration/faults_itest.cc and
// the chaos driver (tests/chaos/chaos.cc).
//
// Needs the compile definition BATON_SOURCE_DIR (the repository root).
// Thread-safety: none; one owner.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include "tests/support/process.h"

#ifndef BATON_SOURCE_DIR
#error "pg_cluster.h needs BATON_SOURCE_DIR (the repository root)"
#endif

namespace baton::testing {

class PgCluster {
 public:
  // initdb + start in `dir` (created; removed again by the destructor).
  // Throws std::runtime_error if the cluster does not start.
  explicit PgCluster(std::string dir) : dir_(std::move(dir)) {
    std::string out;
    if (run_command(pg_sh() + " start '" + dir_ + "' 2>&1", &out) != 0) {
      throw std::runtime_error("scripts/pg.sh start failed: " + out);
    }
    url_ = trim(out.substr(out.rfind("postgresql://")));
    cluster_ = dir_;
    std::ifstream redirect(dir_ + "/cluster");
    if (redirect) std::getline(redirect, cluster_);
  }
  ~PgCluster() { run_command(pg_sh() + " stop '" + dir_ + "' >/dev/null 2>&1", nullptr); }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // postgresql://postgres@127.0.0.1:PORT/baton (the admin database).
  const std::string& url() const { return url_; }

  // Clean shutdown (`pg_ctl -m fast stop`): sessions are disconnected, no
  // crash recovery needed. True when the server stopped.
  bool stop() { return pg_ctl("-m fast -w -t 60 stop") == 0; }
  // A crash (`pg_ctl -m immediate stop`: SIGQUIT to every server process,
  // no checkpoint); the next start replays the WAL.
  bool crash() { return pg_ctl("-m immediate -w -t 60 stop") == 0; }
  // Starts the stopped server again on the same port; waits until it accepts
  // connections (crash recovery included).
  bool start() { return pg_ctl("-l '" + cluster_ + "/server.log' -w -t 60 start") == 0; }
  // `pg_ctl -m fast restart`.
  bool restart() {
    return pg_ctl("-m fast -l '" + cluster_ + "/server.log' -w -t 60 restart") == 0;
  }

 private:
  static std::string pg_sh() { return std::string(BATON_SOURCE_DIR) + "/scripts/pg.sh"; }
  static std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
  int pg_ctl(const std::string& args) {
    const char* bin = std::getenv("PG_BIN");
    const std::string pg_bin = bin && *bin ? bin : "/usr/lib/postgresql/15/bin";
    // As root the server runs as the `postgres` OS user (see scripts/pg.sh).
    const std::string as = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
    return run_command("cd '" + cluster_ + "' && " + as + pg_bin + "/pg_ctl -D '" + cluster_ +
                           "/data' " + args + " >/dev/null 2>&1",
                       nullptr);
  }

  std::string dir_;
  std::string cluster_;
  std::string url_;
};

}  // namespace baton::testing
