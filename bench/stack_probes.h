// Readings baton-bench takes from the stack around a scenario, through the
// same doors an operator uses: the scheduler's Prometheus endpoint (with
// curl) and PostgreSQL (with psql). Both tools must be on PATH; a failed
// reading is an error, never a zero.
//
// Thread-safety: every function is thread-safe (each runs its own child
// process).
#pragma once

#include <cstdint>
#include <string>

#include "baton/status.h"

namespace baton::bench {

// The scheduler's batch-commit counters (monitoring/metrics.json):
// baton_db_commit_duration_seconds_count and baton_db_commit_ops_sum/_count.
struct CommitCounters {
  double commits = 0;
  double ops_sum = 0;
  double ops_count = 0;
};

// GET http://<metrics_address>/metrics ("127.0.0.1:9233"). kUnavailable if
// the endpoint does not answer; kNotFound if a counter is missing.
Result<CommitCounters> read_commit_counters(const std::string& metrics_address);

// Bytes on disk of every baton_* table with its indexes and TOAST
// (pg_total_relation_size), in the database of `db_url`. kUnavailable if psql
// fails.
Result<int64_t> baton_table_bytes(const std::string& db_url);

}  // namespace baton::bench
