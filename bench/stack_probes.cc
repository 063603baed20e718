#include "stack_probes.h"

#include <sys/wait.h>

#include <cstdio>
#include <exception>
#include <sstream>
#include <string_view>

namespace baton::bench {
namespace {

// 'text' for /bin/sh: the command lines below are built from values out of
// the environment (addresses, URLs), never trusted to be shell-safe.
std::string shell_quote(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

// The standard output of `command` (run by /bin/sh); kUnavailable unless it
// exits with 0.
Result<std::string> run_command(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return unavailable("cannot run: " + command);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int rc = pclose(pipe);
  if (rc == -1 || !WIFEXITED(rc)) return unavailable("did not finish: " + command);
  if (WEXITSTATUS(rc) != 0) {
    return unavailable("exit code " + std::to_string(WEXITSTATUS(rc)) + ": " + command);
  }
  return out;
}

// The value of the unlabelled sample `name` in a Prometheus text exposition.
Result<double> sample_value(const std::string& exposition, std::string_view name) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > name.size() && line.starts_with(name) && line[name.size()] == ' ') {
      try {
        return std::stod(line.substr(name.size() + 1));
      } catch (const std::exception&) {
        return internal_error("cannot read the value of: " + line);
      }
    }
  }
  return not_found("no sample " + std::string(name) + " in the scheduler's /metrics");
}

}  // namespace

Result<CommitCounters> read_commit_counters(const std::string& metrics_address) {
  auto text = run_command("curl -sSf --max-time 10 " +
                          shell_quote("http://" + metrics_address + "/metrics"));
  if (!text) return text.status();
  auto commits = sample_value(*text, "baton_db_commit_duration_seconds_count");
  auto ops_sum = sample_value(*text, "baton_db_commit_ops_sum");
  auto ops_count = sample_value(*text, "baton_db_commit_ops_count");
  if (!commits) return commits.status();
  if (!ops_sum) return ops_sum.status();
  if (!ops_count) return ops_count.status();
  return CommitCounters{*commits, *ops_sum, *ops_count};
}

Result<int64_t> baton_table_bytes(const std::string& db_url) {
  // relkind 'r': ordinary tables; pg_total_relation_size adds their indexes
  // and TOAST. Dead row versions count: they are on disk until vacuumed.
  const std::string sql =
      "SELECT coalesce(sum(pg_total_relation_size(oid)), 0) FROM pg_class "
      "WHERE relkind = 'r' AND relname LIKE 'baton\\_%'";
  auto out = run_command("psql -X -q -At -v ON_ERROR_STOP=1 " + shell_quote(db_url) + " -c " +
                         shell_quote(sql));
  if (!out) return out.status();
  try {
    return static_cast<int64_t>(std::stoll(*out));
  } catch (const std::exception&) {
    return unavailable("psql printed '" + *out + "', not a size");
  }
}

}  // namespace baton::bench
