// Backlog sampling: what PostgreSQL holds that is due and not yet done, per
// (namespace, task queue, kind). Read-only; its own connection.
// Thread-safety: none; one BacklogReader per thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "baton/status.h"

namespace baton::scheduler {

struct BacklogRow {
  std::string ns;
  std::string task_queue;
  std::string kind;  // "activity" (baton_tasks) or "orchestration" (baton_inbox)
  int64_t count = 0;
  double oldest_age_seconds = 0;
};

class BacklogReader {
 public:
  // Errors: kUnavailable when PostgreSQL cannot be reached.
  static Result<std::unique_ptr<BacklogReader>> open(const std::string& url);
  // Every group with at least one due item. kUnavailable on connection
  // trouble (reopen then).
  Result<std::vector<BacklogRow>> read();

 private:
  explicit BacklogReader(std::unique_ptr<pqxx::connection> conn) : conn_(std::move(conn)) {}
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace baton::scheduler
