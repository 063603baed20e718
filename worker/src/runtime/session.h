// Session: one Worker::run(), the I/O loop.
//
// The loop owns the DEALER to the broker and the PULL end of the result
// hand-off; nothing else touches them. Each iteration polls the broker
// socket, the result PULL and the wake pipe, then:
//   - broker frames: ActivityTask/OrchestrationTask, alone or several in a
//     DispatchBatch (WorkerReady says task_batches), go to their pool (one
//     credit each), Heartbeat refreshes liveness and detects a broker restart
//     (new incarnation -> WorkerReady with the FREE slots again),
//     BrokerGoodbye (the broker is stopping) is handled like broker silence
//     at once (below); malformed frames are logged and counted (a malformed
//     work item returns its credit);
//   - orchestration steps use the session's OrchestrationCache (sticky
//     orchestrations, sdk/orchestration_cache.h; at most
//     options.max_cached_orchestrations): a task with past_from != 0
//     resumes the cached orchestrator of its execution (same cache_token,
//     exactly past_from events applied, every action it returned recorded
//     by the task's past_events) or is answered with cache_miss and no
//     actions; a task with past_from == 0 replays from scratch (dropping
//     any cached one). After the step the orchestrator is kept (result
//     cached = true) if the task had a cache_token and the execution goes
//     on (no CompleteOrchestration, the payload limit did not rewrite the
//     result). Every result carries worker_id. The cache dies with the
//     session;
//   - jobs apply options.max_payload_bytes to what they return
//     (runtime/payload_limit.h) before encoding it;
//   - pool results are queued in the outbox and sent in order (a result
//     returns its credit implicitly; a job without a result sends Credit);
//     results waiting together leave in one ResultBatch when the broker's
//     latest Heartbeat said result_batches (reset with each new socket); the
//     resend log keeps them one by one;
//     activity heartbeats handed over by activity threads are queued too
//     (not results: never resent, not waited for by the drain; a queued one
//     is replaced by a newer one of the same activity);
//   - timers: Heartbeat every kHeartbeatIntervalMs; a broker silent for
//     kHeartbeatLiveness intervals (or, at once, one that said BrokerGoodbye)
//     -> close the socket and open a new one after a backoff (100 ms
//     doubling to 2 s), re-announce with WorkerReady
//     and resend the results handed to the old socket since the broker was
//     last heard (duplicates are harmless: the scheduler records a result
//     once and discards stale ones);
//   - stop (stop(), or SIGTERM/SIGINT): WorkerDisconnect, then wait until
//     nothing is in flight and the outbox is empty, at most drain_timeout.
//
// Metrics (runtime/worker_metrics.h): an item counts in flight from its
// dispatch to the end of its job; the jobs observe schedule-to-start as they
// start and time themselves (a cache miss is not a step: not timed), and
// count cache hits and misses of partial tasks; the cache keeps the gauge
// of cached orchestrations. The loop keeps broker_connected (a valid
// message from the broker on the current socket, which is closed once the
// broker is silent past the liveness window or says goodbye), reconnects (a new broker
// incarnation, or a new socket after silence), malformed frames, and
// readiness: ready while connected and not draining.
//
// Thread-safety: everything runs on the thread that called run().
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "baton/clock.h"
#include "baton/protocol.h"
#include "baton/wire.h"
#include "baton/worker.h"
#include "runtime/result_pool.h"
#include "runtime/worker_metrics.h"
#include "sdk/orchestration_cache.h"
#include "sdk/registry.h"

namespace baton::detail {

// Resend window: results handed to the broker socket at most this long
// before the broker was last heard from are resent after a reconnect.
inline constexpr int64_t kResendWindowMs = 2 * kHeartbeatIntervalMs.count();
// Cap on bytes kept for resending (oldest dropped first; leases recover them).
inline constexpr std::size_t kResendLogMaxBytes = 64u << 20;
inline constexpr int64_t kReconnectBackoffMinMs = 100;
inline constexpr int64_t kReconnectBackoffMaxMs = 2000;
// Linger of the broker socket when run() returns (flushes the last results).
inline constexpr int kFinalLingerMs = 1000;

class Session {
 public:
  Session(const WorkerOptions& options, std::shared_ptr<const Registry> registry,
          std::shared_ptr<WorkerMetrics> metrics, int wake_fd,
          const std::atomic<bool>& stop_requested);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The loop; returns run()'s exit code.
  int run();

 private:
  struct Outgoing {
    MsgType type = MsgType::kHeartbeat;
    std::string body;
    bool is_result = false;
    uint64_t heartbeat_work_id = 0;  // kActivityHeartbeat: the activity's work_id
  };
  struct Sent {
    int64_t sent_ms = 0;
    Outgoing message;
  };

  bool open_broker_socket(int64_t now_ms);
  void close_broker_socket(int linger_ms);
  WorkerReady ready_message() const;
  template <class T>
  void enqueue(const T& msg, bool front = false);
  void enqueue_result(MsgType type, std::string body);
  void enqueue_heartbeat(std::string body);
  void flush_outbox(int64_t now_ms);
  // How many results lead the outbox that can leave in one message: several
  // in a ResultBatch when the broker takes them, else 1 (0: not a result).
  std::size_t results_up_front() const;
  // Sends the first `n` outbox entries (results) as one ResultBatch; false
  // if the socket cannot take it now.
  bool send_result_batch(std::size_t n);

  void on_wake();
  void begin_drain(int64_t now_ms);
  void on_results();
  // A job's result (empty: none) leaves its slot: sent, or the credit given back.
  void on_job_done(MsgType type, std::string body);
  void on_broker_readable(int64_t now_ms);
  void on_broker_message(wire::Received& msg);
  void on_heartbeat(const Heartbeat& hb);
  void on_goodbye(const BrokerGoodbye& bye);
  void dispatch(ActivityTask task);
  void dispatch(OrchestrationTask task);
  void count_malformed(const std::string& what);
  // broker_connected and readiness follow connected_ and draining_.
  void set_connected(bool connected);
  void publish_readiness();
  void on_timers(int64_t now_ms);
  // Closes the broker socket (silence, goodbye) and schedules a new one after
  // the backoff; `why` ("silent", "said goodbye") goes into the readiness reason.
  void drop_broker(int64_t now_ms, const char* why);
  void prune_sent_log();
  long poll_timeout_ms(int64_t now_ms) const;
  // Nothing in flight and no result waiting to be handed to the socket.
  bool drained() const;

  const WorkerOptions& options_;
  std::shared_ptr<const Registry> registry_;
  std::shared_ptr<WorkerMetrics> metrics_;
  const int wake_fd_;
  const std::atomic<bool>& stop_requested_;
  SystemClock clock_;
  const uint64_t incarnation_;

  // Broker link (its own context: terminating it flushes with linger).
  zmq::context_t broker_context_{1};
  std::optional<zmq::socket_t> broker_;  // empty while waiting to reconnect
  std::optional<uint64_t> broker_incarnation_;
  int64_t last_rx_ms_ = 0;
  int64_t next_heartbeat_ms_ = 0;
  int64_t reconnect_at_ms_ = 0;
  int64_t backoff_ms_ = kReconnectBackoffMinMs;
  bool connected_ = false;       // the broker answered on the current socket
  bool broker_batches_ = false;  // its last Heartbeat: it takes ResultBatch
  const char* lost_why_ = "silent";  // why the last socket was dropped
  std::deque<Outgoing> outbox_;  // not yet accepted by the socket, in send order
  std::deque<Sent> sent_log_;    // results accepted by the socket, for resend
  std::size_t sent_log_bytes_ = 0;
  msgpack::sbuffer batch_buf_;  // scratch of send_result_batch()

  // Result hand-off from the pools (inproc needs one context on both ends;
  // shared: detached pool threads may outlive the session).
  std::shared_ptr<zmq::context_t> inproc_context_;
  std::optional<zmq::socket_t> results_;  // PULL
  std::unique_ptr<ResultPool> activity_pool_;
  std::unique_ptr<ResultPool> orchestration_pool_;
  int in_flight_activities_ = 0;
  int in_flight_orchestrations_ = 0;
  // Suspended orchestrators between steps (shared: a step's job holds it;
  // jobs of an abandoned drain may outlive the session).
  std::shared_ptr<OrchestrationCache> cache_;

  bool draining_ = false;
  bool abandon_ = false;
  int signals_seen_ = 0;
  int64_t drain_deadline_ms_ = 0;
  uint64_t malformed_frames_ = 0;
};

}  // namespace baton::detail
