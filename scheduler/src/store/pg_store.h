// PgStore: every PostgreSQL access of the scheduler.
//
// One connection, prepared statements only, multi-row statements (unnest of
// arrays) so that a batch of many instances costs a handful of round trips.
// libpqxx exceptions never leave this class: they become Status values
// (kUnavailable for connection trouble, kLeaseLost when fenced out).
// Thread-safety: none; one PgStore per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "baton/status.h"
#include "store/ops.h"


namespace baton::scheduler {
namespace detail {
class PgConnection;
}  // namespace detail

struct StoreOptions {
  std::string url;                                // postgresql://...
  std::chrono::milliseconds partition_lease{10000};  // lease_expires_at = now() + this
  std::chrono::milliseconds activity_lease{300000};  // baton_tasks.lease_expires_at
  // Send a common batch as one pipelined round trip (PgStore::commit).
  bool pipeline_batches = true;
};

class PgStore {
 public:
  // Connects and checks the schema is fully migrated (kFailedPrecondition
  // otherwise, with the versions in the message).
  static Result<std::unique_ptr<PgStore>> open(StoreOptions options);
  ~PgStore();
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  // Takes every partition that is free, expired or already ours, with a new
  // epoch (fencing out any older holder with our name), bumps the attempt of
  // every task in them and lists the instances with unconsumed inbox events.
  // Returns the partitions actually acquired (possibly fewer than all).
  // `now_ms` (scheduler clock) splits due inbox events from future timers.
  // Every task is parked and at most `max_tasks` due ones (oldest first)
  // are returned to hold in memory; Recovery::parked counts the rest.
  Result<Recovery> recover(const std::string& owner, int64_t now_ms,
                           std::size_t max_tasks = 1u << 30);

  // Applies a batch in one transaction. The transaction first locks the
  // rows of the partitions it touches FOR SHARE, checking owner and epoch;
  // if any is not ours any more, it rolls back and returns kLeaseLost.
  //
  // A batch of starts (new ids), activity results, steps without children,
  // sent events or continue-as-new, loads and describes is first sent as
  // one pipelined round trip that expects every start to create, every
  // result to be pending and every step to apply; if one of those does not
  // hold, that transaction rolls back and the batch is applied statement by
  // statement, which handles every outcome. BatchOutcome::path says which.
  BatchOutcome commit(const Lease& lease, const Batch& batch);

  // Hands the partitions of `lease` back (owner '' and expired) so another
  // scheduler can take them at once; graceful shutdown. kLeaseLost if some
  // were not ours any more.
  Status release(const Lease& lease);

  const StoreOptions& options() const { return options_; }

 private:
  PgStore(StoreOptions options, std::unique_ptr<detail::PgConnection> conn);
  void prepare();

  StoreOptions options_;
  std::unique_ptr<detail::PgConnection> conn_;
};

// The statements a pipelined batch runs (name, SQL, as PgStore prepares
// them), and the settings it plans them under in its transaction: generic
// plans (made once per connection), index scans and nested loops only, and
// no JIT (a disabled sequential scan costs 10^10, past every JIT threshold).
// Exposed for the test that checks those plans on a fresh schema.
std::vector<std::pair<std::string, std::string>> pipelined_statements();
extern const char* const kPipelinedPlanSettings;

}  // namespace baton::scheduler
