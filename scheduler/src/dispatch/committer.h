// The committer: the thread that owns the PostgreSQL connection.
//
// The scheduler loop hands it one request at a time over an inproc PAIR
// socket (a pointer whose ownership travels with the message) and gets the
// answer back the same way, so the loop never blocks on the database and
// while one batch commits the next one accumulates (group commit).
// Thread-safety: start()/join() from the owning thread; the rest runs on the
// committer's own thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include <zmq.hpp>

#include "store/ops.h"
#include "store/pg_store.h"

namespace baton::scheduler {

struct CommitRequest {
  enum class Kind { kRecover, kCommit, kRelease } kind = Kind::kCommit;
  std::string owner;  // kRecover
  int64_t now_ms = 0;  // kRecover: scheduler clock
  std::size_t max_tasks = 0;  // kRecover: tasks to hold in memory
  Lease lease;        // kCommit, kRelease
  Batch batch;        // kCommit
};

struct CommitResponse {
  CommitRequest::Kind kind = CommitRequest::Kind::kCommit;
  Result<Recovery> recovery = Status(StatusCode::kInternal, "not a recovery");
  BatchOutcome outcome;
  int64_t commit_us = 0;
};

class Committer {
 public:
  // `endpoint` is an inproc address the caller has bound a PAIR socket to.
  Committer(zmq::context_t& ctx, std::string endpoint, StoreOptions options);
  ~Committer();

  void start();
  // Asks the thread to stop (also interrupts reconnect backoff) and joins it.
  void stop();

  // Ownership transfer helpers for the PAIR socket.
  static bool send_request(zmq::socket_t& s, std::unique_ptr<CommitRequest> r);
  static std::unique_ptr<CommitResponse> recv_response(zmq::socket_t& s);

 private:
  void run();
  std::unique_ptr<CommitResponse> handle(CommitRequest& req);

  zmq::context_t& ctx_;
  std::string endpoint_;
  StoreOptions options_;
  std::unique_ptr<PgStore> store_;  // owned by the committer thread
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace baton::scheduler
