#include "service.h"

#include <unistd.h>

#include <algorithm>
#include <deque>
#include <iterator>
#include <queue>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "api/validate.h"
#include "baton/clock.h"
#include "baton/config.h"
#include "baton/wire.h"
#include "dispatch/committer.h"
#include "engine/instance_cache.h"
#include "engine/step.h"
#include "store/instance_key.h"
#include "telemetry/scheduler_metrics.h"

namespace baton::scheduler {
namespace {

constexpr std::chrono::milliseconds kPollIntervalMs{100};
constexpr std::chrono::milliseconds kRecoveryRetryMs{1000};
constexpr std::chrono::milliseconds kDeadlineScanMs{250};
constexpr std::chrono::milliseconds kShutdownWaitMs{5000};
constexpr std::size_t kDispatchChunk = 512;
constexpr std::size_t kFetchChunk = 1024;                 // parked tasks fetched per batch at most
constexpr std::chrono::milliseconds kParkedPollMs{1000};  // retry a fetch that found nothing due
constexpr const char* kCommitterEndpoint = "inproc://baton-committer";
// An eager step's time (its OrchestratorStarted, from the worker's clock) may
// be this far ahead of the scheduler's clock; further, the step is refused.
constexpr int64_t kEagerClockSkewMs = 1000;
// Quiet results: an instance's held outputs past this size start its step.
constexpr std::size_t kMaxQuietHeldBytes = 1u << 20;

std::string default_scheduler_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "baton-scheduler";
  return host;
}

int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The client operation a request type is, for baton_client_request_duration_seconds.
const char* operation_name(MsgType type) {
  switch (type) {
    case MsgType::kStartRequest: return "start";
    case MsgType::kDescribeRequest: return "describe";
    case MsgType::kWaitRequest: return "wait";
    case MsgType::kHistoryRequest: return "history";
    case MsgType::kVerifyRequest: return "verify";
    case MsgType::kRaiseEventRequest: return "raise_event";
    case MsgType::kTerminateRequest: return "terminate";
    case MsgType::kSuspendRequest: return "suspend";
    case MsgType::kResumeRequest: return "resume";
    case MsgType::kListRequest: return "list";
    case MsgType::kPurgeRequest: return "purge";
    default: return "invalid";
  }
}

// When the current execution started (wall clock ms), from its
// ExecutionStarted event; 0 if none is in sight.
// When the execution started: in its past, or among the step's new events.
int64_t execution_started_ms(const PastEvents& past, const std::vector<HistoryEvent>& more) {
  if (past.started_ms != 0) return past.started_ms;
  for (const auto& e : more) {
    if (e.type == EventType::kExecutionStarted) return e.timestamp_ms;
  }
  return 0;
}

// Who asked for a reply, and since when (for the request latency).
struct Requester {
  std::string identity;
  uint64_t request_id = 0;
  const char* operation = nullptr;  // nullptr: internal, not timed
  int64_t received_us = 0;
  std::string trace;  // the request's headers as "k=v k=v" (Metadata)
};

struct Waiter {
  Requester who;
  int64_t deadline_ms = 0;  // steady clock
  bool until_started = false;  // satisfied once the instance left PENDING
  // A start's own wait (StartRequest.wait_timeout_ms): at the deadline the
  // answer is the StartReply, not kDeadlineExceeded.
  bool start = false;
};

// Whether a waiter's instance reached what it waits for.
bool satisfies(const Waiter& w, OrchestrationStatus status) {
  return is_terminal(status) || (w.until_started && status != OrchestrationStatus::kPending);
}

// A client's wait, in ms: at most a day.
int64_t clamp_wait(int64_t timeout_ms) {
  return std::clamp<int64_t>(timeout_ms, 0, int64_t{24} * 3600 * 1000);
}

// What a DescribeOp in a batch is for, and for whom: kWait's waiter;
// kDescribe's requester is waiter.who; kNotifyWaiters has none.
struct DescribeCtx {
  enum class Kind { kDescribe, kWait, kNotifyWaiters } kind = Kind::kDescribe;
  Waiter waiter;
};

// Per-op context of a batch (vectors parallel to the Batch's).
struct StartCtx {
  Requester who;
  std::string ns;
  std::string instance_id;
  std::string name;
  bool with_first_step = false;  // committed with the instance's first step
  int64_t wait_ms = 0;  // StartRequest.wait_timeout_ms: answer once it finished
};

// A start whose instance's first step is running before the start is
// committed (try_start_with_first_step): both go into one batch.
struct EarlyStart {
  StartOp op;
  StartCtx ctx;
};

// What a recorded activity result means for the metrics.
struct TaskResultMeta {
  std::string ns;
  std::string task_queue;
  bool failed = false;
};

// What a committed step means for the metrics.
struct StepMeta {
  std::string ns;
  std::string name;
  OrchestrationStatus status = OrchestrationStatus::kRunning;
  int64_t started_ms = 0;  // its execution's ExecutionStarted timestamp
  std::vector<std::string> child_names;
  std::vector<TaskResultMeta> results;  // activity results folded into the step
};


// A client request that puts an event into an instance's inbox.
struct InboxCtx {
  Requester who;
  std::string ns;
  std::string instance_id;
};

struct BatchCtx {
  std::vector<StartCtx> starts;
  std::vector<InboxCtx> inbox;
  std::vector<DescribeCtx> describes;
  std::vector<std::string> step_keys;
  std::vector<StepMeta> steps;  // parallel to step_keys
  std::vector<TaskResultMeta> task_results;
  std::vector<std::string> load_keys;
  std::vector<Requester> histories;
  std::vector<Requester> verifies;
  std::vector<Requester> lists;
  std::vector<Requester> purges;
  bool fetch = false;  // the batch fetches parked tasks
};

// An instance with something in flight. Erased when idle.
struct Inst {
  enum class State { kIdle, kBusy, kRunning };
  State state = State::kIdle;
  bool dirty = false;          // the inbox may hold events no step has seen
  bool step_in_next = false;   // its StepOp sits in the batch being built
  bool load_queued = false;    // a LoadOp for it is in a batch not yet answered
  bool more_after_step = false;  // its inbox holds events the current step leaves behind
  uint64_t work_id = 0;        // kRunning: the dispatched step
  int64_t deadline_ms = 0;     // kRunning
  std::unique_ptr<DispatchedStep> step;  // kRunning
  // Activity results the dispatched step consumes straight from memory; they
  // are committed with the step (StepOp::results).
  std::vector<TaskResultOp> folded;
  std::vector<TaskResultMeta> folded_meta;
  // Activity results that arrived while a step was running or committing:
  // they go into the next step once it commits (release_held), or to the
  // inbox if the instance needs a load first.
  // Also successful results the orchestrator cannot wake on yet (quiet
  // results, release_held), until more arrive or hold_until_ms passes.
  std::vector<TaskResultOp> held;
  std::vector<TaskResultMeta> held_meta;
  std::size_t held_bytes = 0;    // of the held results' outputs
  bool held_failure = false;     // a held result is a failure
  std::size_t held_quiet = 0;    // held results counted as quiet (metrics)
  int64_t hold_until_ms = 0;     // steady clock; 0: not held quietly
  // kRunning: the step is the first of an instance whose start waits for it.
  std::unique_ptr<EarlyStart> early_start;
};


// An activity's final outcome `ev` as its instance's history records it, at `at_ms`.
TaskResultOp result_op(const TaskRow& task, HistoryEvent ev, int64_t at_ms) {
  TaskResultOp op;
  op.task_id = task.id;
  op.attempt = task.attempt;
  op.ns = task.ns;
  op.instance_id = task.instance_id;
  op.event = std::move(ev);
  op.event.task_scheduled_id = task.task_scheduled_id;
  op.event.timestamp_ms = at_ms;
  op.event.name = task.name;
  op.event.attempt = task.attempt;
  return op;
}

// A cached instance as a load would find it with `ops`' events in its inbox.
LoadedInstance loaded_from(const CachedInstance& c, const std::vector<TaskResultOp>& ops) {
  LoadedInstance l;
  l.found = true;
  l.name = c.name;
  l.task_queue = c.task_queue;
  l.status = c.status;
  l.history_len = c.history_len;
  for (const auto& op : ops) l.inbox.push_back(InboxEvent{0, op.event});
  return l;
}

// Eager steps: the step offered with an activity (ActivityTask.next_step),
// as the sticky state it was built from. token 0: none offered.
struct EagerOffer {
  uint64_t token = 0;
  std::string worker;
  std::size_t past_from = 0;  // the worker had applied history[0, past_from)
  std::size_t events = 0;     // the history's events when offered
  int32_t history_len = 0;
};

struct InflightActivity {
  TaskRow task;
  EagerOffer eager;
  int64_t deadline_ms = 0;      // steady clock: start-to-close (or the default lease)
  int64_t hb_deadline_ms = 0;   // steady clock: heartbeat timeout; 0 = none
  int64_t start_deadline_ms = 0;  // steady clock: schedule-to-start; 0 = none or started
  bool policy_timeout = false;  // the deadline is the activity's own timeout
};

// Min-heap of (due wall-clock ms, value).
template <class T>
using DueQueue =
    std::priority_queue<std::pair<int64_t, T>, std::vector<std::pair<int64_t, T>>, std::greater<>>;

}  // namespace

class Service::Loop {
 public:
  Loop(const ServiceOptions& options, std::atomic<bool>& stop)
      : options_(options),
        stop_(stop),
        committer_(ctx_, kCommitterEndpoint, store_options()),
        backlog_(metrics_, options.db_url, options.backlog_interval, active_) {}

  Status run();

 private:
  StoreOptions store_options() const {
    return StoreOptions{options_.db_url, options_.partition_lease, options_.activity_lease,
                        options_.pipeline_batches};
  }
  int64_t steady() const { return clock_.steady_ms(); }
  uint64_t next_work_id() { return ++work_seq_; }
  // Activity tasks in memory: dispatched or waiting for their retry delay.
  std::size_t held() const { return activities_.size() + delayed_rows_.size(); }

  // Sockets.
  void connect_broker();
  void on_client();
  void on_broker();
  void on_committer();
  void reply_error(const Requester& who, Status status);
  void reply_instance(const Requester& who, const InstanceInfo& info);
  template <class T>
  void reply(const Requester& who, const T& msg, bool ok = true);
  void set_serving(bool serving, const char* why);
  // Graceful stop: waits (bounded) for the batch with the committer so its
  // clients get answers, then hands the partitions back.
  void finish_and_release();
  // Waits up to `timeout_ms` for the committer's answer to the request in
  // flight and handles it.
  void await_committer(int64_t timeout_ms);
  void publish_state();

  // State machine.
  Inst& inst(const std::string& key) { return instances_[key]; }
  void mark_dirty(const std::string& ns, const std::string& id);
  void maybe_forget(const std::string& key);
  void on_activity_result(ActivityResult r);
  // Eager steps: offers `t`'s sticky worker the step the activity's
  // completion starts (noted in `a`), when the instance's orchestrator is
  // kept suspended there and its state is cached.
  void offer_next_step(ActivityTask& t, InflightActivity& a);
  // Commits r.next_step with the activity's result when it is exactly the
  // step the scheduler would dispatch now; else false, and the worker's copy
  // of the orchestrator is no longer counted on.
  bool take_next_step(const TaskRow& task, const EagerOffer& offer, ActivityResult& r);
  // Orchestrators the worker no longer keeps: their instances' next steps
  // go whole instead of missing first.
  void forget_evicted(const OrchestrationResult& r);
  void on_result_batch(const ResultBatch& batch);
  // What this scheduler says when it (re)connects to a broker.
  SchedulerHello hello() const;
  void on_activity_heartbeat(const ActivityHeartbeat& hb);
  void on_orchestration_result(OrchestrationResult r);
  void fail_or_retry(InflightActivity a, FailureDetails failure);
  // An activity's final outcome: folded into the instance's next step when
  // its state is cached and nothing else is pending for it, else recorded in
  // its inbox by the next batch.
  void record_result(const TaskRow& task, HistoryEvent ev, bool failed);
  // Plans and dispatches the instance's next step from its cached state plus
  // `ops` (moved into the step, to be committed with it). False, changing
  // nothing, unless the instance is cached and idle with nothing else pending.
  bool fold_results(const std::string& key, std::vector<TaskResultOp>& ops,
                    std::vector<TaskResultMeta>& metas);
  // The instance is idle with nothing queued for it (or unknown), apart
  // from results held quietly.
  bool idle(const std::string& key) const;
  // idle(), and no result held either.
  bool nothing_pending(const std::string& key) const;
  // Keeps a result in memory (moved from `op`) while the instance's step
  // runs or commits.
  bool hold_result(const std::string& key, TaskResultOp& op, const TaskResultMeta& meta);
  static void keep(Inst& in, TaskResultOp op, const TaskResultMeta& meta);
  static void clear_held(Inst& in);
  // After its step committed, or when another result joins them: held
  // results start the next step, or go to the inbox when they cannot,
  // unless they are quiet (quiet_held) and `expired` is false.
  void release_held(const std::string& key, Inst& in, bool expired = false);
  // The held results cannot wake the idle instance's orchestrator yet
  // (fewer successes than its last step's wake_after) and may wait longer.
  bool quiet_held(const std::string& key, const Inst& in);
  // Quietly held results whose hold_until_ms passed start their step.
  void expire_quiet_holds();
  // Held results go to the inbox (the instance is about to be loaded).
  void flush_held(Inst& in);
  void result_to_inbox(TaskResultOp op, const TaskResultMeta& meta);
  void queue_inbox_request(Requester who, const std::string& ns, const std::string& id,
                           HistoryEvent ev);
  // `past`: loaded's history (which put() moved into it).
  void apply_plan(const std::string& key, Inst& in, StepPlan plan, const LoadedInstance& loaded,
                  const PastEvents& past);
  // A new instance's first step is dispatched from memory at once, and its
  // start is committed with that step (one transaction instead of two).
  // False, changing nothing, when the start does not qualify.
  bool try_start_with_first_step(StartOp& op, StartCtx& ctx);
  // Starts whose first step did not come back in time are committed alone.
  void expire_early_starts();
  // A start committed alone, the instance loaded in the same batch.
  void queue_start(StartOp op, StartCtx ctx);
  void fire_due();
  // `reason` labels baton_redispatches_total.
  void on_work_lost(const WorkLost& lost, const char* reason);
  void redispatch_all(const char* why);
  // `scheduled_at_ms`: when the attempt became dispatchable (0: now).
  // `eager`: the task may carry the step its completion starts.
  void dispatch_task(TaskRow row, int64_t scheduled_at_ms = 0, bool eager = false);
  void dispatch_step(const std::string& key, Inst& in);
  // in.step is in flight from now on (a fresh work id, its lease, steps_).
  void await_step(const std::string& key, Inst& in);
  void check_deadlines();

  // Batches.
  void request_recovery();
  void on_recovery(Result<Recovery> rec);
  void maybe_send_batch();
  void on_outcome(BatchOutcome& out, BatchCtx& ctx);
  void reset_after_failure(const Status& why);
  void flush_dispatch();
  void queue_describe(const std::string& ns, const std::string& id, DescribeCtx ctx);
  // Before a step that leaves the instance in `status` joins the batch being
  // built: if that status satisfies a waiter, a describe joins it too (it
  // runs after the batch's writes, so a refused step satisfies nobody).
  void notify_waiters_with(const std::string& key, OrchestrationStatus status);
  // Answers `w` once the instance reached what it waits for: from the
  // cached state without a read when it is not there yet, else by a
  // describe in the next batch.
  void wait_for(const std::string& ns, const std::string& id, Waiter w);

  const ServiceOptions& options_;
  std::atomic<bool>& stop_;
  SystemClock clock_;
  zmq::context_t ctx_{1};
  std::unique_ptr<zmq::socket_t> client_;
  std::unique_ptr<zmq::socket_t> broker_;
  std::unique_ptr<zmq::socket_t> committer_sock_;
  std::unique_ptr<security::ZapHandler> zap_;
  Committer committer_;
  SchedulerMetrics metrics_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  std::atomic<bool> active_{false};  // serving_, for the backlog sampler
  BacklogSampler backlog_;
  std::size_t inflight_ops_ = 0;     // size of the batch with the committer
  int64_t last_broker_heard_ms_ = 0;  // 0: never
  bool parked_in_db_ = false;         // PostgreSQL holds parked tasks to fetch
  bool fetch_queued_ = false;         // a batch fetching them is on its way
  int64_t next_fetch_ms_ = 0;

  std::string id_;
  uint64_t incarnation_ = random_u64();
  uint64_t work_seq_ = random_u64() & 0x0000FFFFFFFFFFFFull;  // never reused across restarts
  uint64_t broker_incarnation_ = 0;
  bool redispatch_on_contact_ = false;
  int64_t last_broker_msg_ms_ = 0;
  int64_t last_heartbeat_sent_ms_ = 0;
  int64_t next_deadline_scan_ms_ = 0;
  int64_t next_renew_ms_ = 0;
  int64_t recover_at_ms_ = 0;
  Status fatal_;

  // Recovery/serving phase.
  bool serving_ = false;
  bool request_in_flight_ = false;  // a CommitRequest is with the committer
  bool recovery_pending_ = false;
  Lease lease_;

  Batch next_;
  BatchCtx next_ctx_;
  BatchCtx inflight_ctx_;
  std::vector<std::string> dirty_keys_;

  std::unordered_map<std::string, Inst> instances_;
  // Instances' state between steps. Trustworthy because this scheduler is
  // the only writer of its partitions while it holds their lease; a step
  // built from it is still checked against history_len when it commits.
  InstanceCache cache_{options_.instance_cache, options_.instance_cache_events};
  std::unordered_map<uint64_t, InflightActivity> activities_;  // by work_id
  std::unordered_map<uint64_t, std::string> steps_;            // work_id -> instance key
  std::unordered_map<std::string, std::vector<Waiter>> waiters_;
  DueQueue<std::string> timers_;     // instance keys whose inbox gets a visible event
  DueQueue<std::string> quiet_due_;  // (steady hold_until_ms, key) of quiet holds
  DueQueue<int64_t> delayed_tasks_;  // task ids waiting for their retry delay
  std::unordered_map<int64_t, TaskRow> delayed_rows_;
  DispatchBatch outbox_;
  // (steady deadline, instance key) of early starts, oldest first.
  std::deque<std::pair<int64_t, std::string>> early_starts_;
};

Status Service::Loop::run() {
  id_ = options_.scheduler_id.empty() ? default_scheduler_id() : options_.scheduler_id;
  try {
    committer_sock_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pair);
    committer_sock_->bind(kCommitterEndpoint);
    if (options_.client_auth.enabled()) {
      auto zap = security::ZapHandler::start(ctx_, options_.client_auth);
      if (!zap) return zap.status();
      zap_ = std::move(zap).value();
    }
    client_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::router);
    security::apply_server(*client_, options_.client_auth);
    client_->set(zmq::sockopt::linger, 0);
    client_->set(zmq::sockopt::sndhwm, 100000);
    client_->set(zmq::sockopt::rcvhwm, 100000);
    client_->bind(options_.listen_address);
  } catch (const zmq::error_t& e) {
    return unavailable("cannot listen on " + options_.listen_address + ": " + e.what());
  }
  if (!options_.metrics_address.empty()) {
    auto server = metrics::MetricsServer::start(options_.metrics_address, metrics_.registry());
    if (!server) return server.status();
    metrics_server_ = std::move(server).value();
    spdlog::info("metrics on http://{}/metrics", options_.metrics_address);
  }
  metrics_.registry().set_ready(false, "recovering from PostgreSQL");
  connect_broker();
  committer_.start();
  backlog_.start();
  spdlog::info("scheduler '{}' serving clients on {}, broker {}", id_, options_.listen_address,
               options_.broker_address);
  if (options_.client_auth.curve) {
    spdlog::info("client link: CurveZMQ, {} allow-listed clients", options_.client_auth.principals.size());
  } else if (options_.client_auth.api_keys()) {
    spdlog::info("client link: API keys ({} clients)", options_.client_auth.principals.size());
  } else {
    spdlog::warn("client link is plain TCP without authentication (no CurveZMQ keys or API keys configured)");
  }
  if (options_.broker_curve.enabled()) spdlog::info("broker link: CurveZMQ");
  request_recovery();

  while (!stop_.load(std::memory_order_relaxed) && fatal_.is_ok()) {
    const bool accept_input = serving_ && next_.size() < options_.max_batch_ops;
    zmq::pollitem_t items[] = {
        {committer_sock_->handle(), 0, ZMQ_POLLIN, 0},
        {broker_->handle(), 0, ZMQ_POLLIN, 0},
        {client_->handle(), 0, static_cast<short>(accept_input ? ZMQ_POLLIN : 0), 0},
    };
    auto poll_ms = kPollIntervalMs;
    if (!early_starts_.empty()) {
      poll_ms = std::min(poll_ms, std::chrono::milliseconds(std::max<int64_t>(
                                      0, early_starts_.front().first - steady())));
    }
    if (!quiet_due_.empty()) {
      poll_ms = std::min(poll_ms, std::chrono::milliseconds(std::max<int64_t>(
                                      0, quiet_due_.top().first - steady())));
    }
    try {
      zmq::poll(items, 3, poll_ms);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw;
    }
    if (items[0].revents & ZMQ_POLLIN) on_committer();
    // Drain in bounded bursts so one busy socket cannot starve the others.
    for (int i = 0; i < 1000 && (items[1].revents & ZMQ_POLLIN); ++i) {
      if (!(broker_->get(zmq::sockopt::events) & ZMQ_POLLIN)) break;
      on_broker();
    }
    for (int i = 0; accept_input && i < 1000 && (items[2].revents & ZMQ_POLLIN); ++i) {
      if (!(client_->get(zmq::sockopt::events) & ZMQ_POLLIN)) break;
      on_client();
    }

    const int64_t now = steady();
    if (now - last_heartbeat_sent_ms_ >= kHeartbeatIntervalMs.count()) {
      wire::send(*broker_, Heartbeat{id_, incarnation_});
      last_heartbeat_sent_ms_ = now;
    }
    if (now - last_broker_msg_ms_ > kHeartbeatIntervalMs.count() * kHeartbeatLiveness) {
      spdlog::warn("no word from the broker at {} for {} ms; reconnecting",
                   options_.broker_address, now - last_broker_msg_ms_);
      connect_broker();
      // What the old socket still held is gone: send it all again on contact.
      redispatch_on_contact_ = true;
    }
    if (serving_ && now >= next_renew_ms_) {
      next_.renew_lease = true;
      next_renew_ms_ = now + options_.partition_lease.count() / 3;
    }
    if (serving_) fire_due();
    if (serving_) expire_quiet_holds();
    expire_early_starts();
    if (serving_ && now >= next_deadline_scan_ms_) {
      check_deadlines();
      next_deadline_scan_ms_ = now + kDeadlineScanMs.count();
    }
    if (recovery_pending_ && !request_in_flight_ && now >= recover_at_ms_) request_recovery();
    maybe_send_batch();
    flush_dispatch();
    publish_state();
  }
  metrics_.registry().set_ready(false, "stopping");
  if (fatal_.is_ok()) finish_and_release();
  backlog_.stop();
  committer_.stop();
  spdlog::info("scheduler stopped");
  return fatal_;
}

void Service::Loop::connect_broker() {
  broker_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  broker_->set(zmq::sockopt::linger, 0);
  broker_->set(zmq::sockopt::sndhwm, 100000);
  broker_->set(zmq::sockopt::rcvhwm, 100000);
  // The incarnation keeps two schedulers with one --id apart at the broker.
  broker_->set(zmq::sockopt::routing_id, fmt::format("scheduler-{}-{:x}", id_, incarnation_));
  security::apply_client(*broker_, options_.broker_curve, "");
  broker_->connect(options_.broker_address);
  // Only the scheduler that owns the partitions claims the broker's results.
  if (serving_) wire::send(*broker_, hello());
  last_broker_msg_ms_ = steady();
}

// ---------------------------------------------------------------- clients

template <class T>
void Service::Loop::reply(const Requester& who, const T& msg, bool ok) {
  wire::send(*client_, msg, who.identity);
  if (who.operation) {
    metrics_.request_done(who.operation, ok,
                          static_cast<double>(monotonic_us() - who.received_us) / 1e6);
  }
}

void Service::Loop::reply_error(const Requester& who, Status status) {
  if (!who.trace.empty()) {
    spdlog::info("{} request refused ({}: {}) [{}]", who.operation ? who.operation : "internal",
                 status_code_name(status.code()), status.message(), who.trace);
  }
  reply(who, ErrorReply{who.request_id, static_cast<uint8_t>(status.code()), status.message()},
        false);
}

void Service::Loop::reply_instance(const Requester& who, const InstanceInfo& info) {
  reply(who, InstanceReply{who.request_id, info});
}

void Service::Loop::set_serving(bool serving, const char* why) {
  serving_ = serving;
  active_.store(serving);
  metrics_.registry().set_ready(serving, why);
}

void Service::Loop::await_committer(int64_t timeout_ms) {
  const int64_t give_up = steady() + timeout_ms;
  while (request_in_flight_ && steady() < give_up) {
    zmq::pollitem_t item{committer_sock_->handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, kPollIntervalMs);
    } catch (const zmq::error_t&) {
      continue;
    }
    if (item.revents & ZMQ_POLLIN) on_committer();
  }
}

void Service::Loop::finish_and_release() {
  await_committer(kShutdownWaitMs.count());
  if (request_in_flight_) {
    spdlog::warn("the batch in flight did not finish in {} ms; its leases expire on their own",
                 kShutdownWaitMs.count());
    return;
  }
  if (!serving_) return;
  // Results held back for quiet orchestrators go to their inboxes first.
  for (auto& [key, in] : instances_) {
    if (in.hold_until_ms != 0) flush_held(in);
  }
  if (!next_.task_results.empty()) {
    maybe_send_batch();
    await_committer(kShutdownWaitMs.count());
    if (request_in_flight_) {
      spdlog::warn("the last batch did not finish in {} ms; its leases expire on their own",
                   kShutdownWaitMs.count());
      return;
    }
  }
  set_serving(false, "stopping");
  auto req = std::make_unique<CommitRequest>();
  req->kind = CommitRequest::Kind::kRelease;
  req->lease = lease_;
  request_in_flight_ = Committer::send_request(*committer_sock_, std::move(req));
  await_committer(kShutdownWaitMs.count());
}

void Service::Loop::publish_state() {
  const bool broker_up =
      last_broker_heard_ms_ > 0 &&
      steady() - last_broker_heard_ms_ <= kHeartbeatIntervalMs.count() * kHeartbeatLiveness;
  metrics_.set_state(activities_.size(), steps_.size(), timers_.size() + delayed_rows_.size(),
                     serving_ ? lease_.partitions.size() : 0, broker_up);
}

void Service::Loop::on_client() {
  std::string identity;
  const int64_t received_us = monotonic_us();
  auto msg = wire::recv(*client_, true, &identity);
  if (!msg) {
    if (msg.status().code() == StatusCode::kUnavailable) return;
    metrics_.malformed_frame("client");
    spdlog::warn("malformed client frame: {}", msg.status().message());
    if (!identity.empty()) reply_error({identity, 0, "invalid", received_us, ""}, msg.status());
    return;
  }
  const int64_t now = steady();
  const char* operation = operation_name(msg->type);
  // With authentication on, every request names a principal (User-Id) whose
  // namespaces must include the request's.
  const security::Principal* principal = nullptr;
  if (zap_) {
    principal = zap_->principal(security::user_id_of(msg->body));
    if (!principal) {
      return reply_error({identity, 0, operation, received_us, ""},
                         Status(StatusCode::kUnauthenticated, "no authenticated client"));
    }
  }
  // The request's headers (Metadata): checked, and named in the log line of
  // a refused request.
  std::string trace;
  auto bad_metadata = [&](uint64_t request_id, const Metadata& metadata) {
    Status st = validate_metadata(metadata);
    for (const auto& [k, v] : metadata) trace += (trace.empty() ? "" : " ") + k + "=" + v;
    if (st.is_ok()) return false;
    reply_error({identity, request_id, operation, received_us, trace}, st);
    return true;
  };
  auto denied = [&](uint64_t request_id, const std::string& ns) {
    const std::string& n = ns.empty() ? std::string(kDefaultNamespace) : ns;
    if (!principal || principal->allows(n)) return false;
    reply_error({identity, request_id, operation, received_us, trace},
                Status(StatusCode::kPermissionDenied,
                       "client '" + principal->name + "' may not use namespace '" + n + "'"));
    return true;
  };
  auto who = [&](uint64_t request_id) {
    return Requester{identity, request_id, operation, received_us, trace};
  };
  // Refused requests: undecodable ones are malformed frames; the rest is
  // invalid input, answered and timed like any request.
  auto bad = [&](uint64_t request_id, const Status& st) {
    if (request_id == 0) metrics_.malformed_frame("client");
    reply_error(who(request_id), st);
  };
  switch (msg->type) {
    case MsgType::kStartRequest: {
      auto req = wire::decode<StartRequest>(msg->body_view());
      if (!req) return bad(0, req.status());
      if (bad_metadata(req->request_id, req->metadata) || denied(req->request_id, req->ns)) return;
      if (auto st = validate_start(*req, options_.max_payload_bytes); !st) {
        return bad(req->request_id, st);
      }
      StartOp op;
      op.ns = req->ns.empty() ? kDefaultNamespace : req->ns;
      op.instance_id = req->instance_id.empty() ? random_uuid() : req->instance_id;
      op.name = req->name;
      op.task_queue = req->task_queue.empty() ? kDefaultTaskQueue : req->task_queue;
      op.input = std::move(req->input);
      op.now_ms = clock_.now_ms();
      op.start_at_ms = req->start_at_ms;
      op.id_reuse_policy = req->id_reuse_policy;
      op.idempotency_key = std::move(req->idempotency_key);
      StartCtx ctx{who(req->request_id), op.ns, op.instance_id, op.name};
      if (req->wait_timeout_ms > 0) {
        ctx.wait_ms = clamp_wait(req->wait_timeout_ms);
        ctx.who.operation = "execute";  // timed as a start and its wait
      }
      if (!try_start_with_first_step(op, ctx)) queue_start(std::move(op), std::move(ctx));
      return;
    }
    case MsgType::kDescribeRequest: {
      auto req = wire::decode<DescribeRequest>(msg->body_view());
      if (!req) return bad(0, req.status());
      if (bad_metadata(req->request_id, req->metadata) || denied(req->request_id, req->ns)) return;
      if (auto st = validate_instance_ref(req->ns, req->instance_id); !st) {
        return bad(req->request_id, st);
      }
      queue_describe(req->ns.empty() ? kDefaultNamespace : req->ns, req->instance_id,
                     {DescribeCtx::Kind::kDescribe, Waiter{who(req->request_id)}});
      return;
    }
    case MsgType::kWaitRequest: {
      auto req = wire::decode<WaitRequest>(msg->body_view());
      if (!req) return bad(0, req.status());
      if (bad_metadata(req->request_id, req->metadata) || denied(req->request_id, req->ns)) return;
      if (auto st = validate_instance_ref(req->ns, req->instance_id); !st) {
        return bad(req->request_id, st);
      }
      const std::string ns = req->ns.empty() ? kDefaultNamespace : req->ns;
      wait_for(ns, req->instance_id,
               Waiter{who(req->request_id), now + clamp_wait(req->timeout_ms), req->until_started});
      return;
    }
    case MsgType::kListRequest: {
      auto req = wire::decode<ListRequest>(msg->body_view());
      if (!req) return bad(0, req.status());
      if (bad_metadata(req->request_id, req->metadata) || denied(req->request_id, req->ns)) return;
      if (auto st = validate_list(*req); !st) return bad(req->request_id, st);
      const uint64_t id = req->request_id;
      if (req->ns.empty()) req->ns = kDefaultNamespace;
      if (!req->continuation_token.empty()) {
        req->continuation_token = *decode_list_token(req->continuation_token);
      }
      next_.lists.push_back(std::move(req).value());
      next_ctx_.lists.push_back(who(id));
      return;
    }
    case MsgType::kPurgeRequest: {
      auto req = wire::decode<PurgeRequest>(msg->body_view());
      if (!req) return bad(0, req.status());
      if (bad_metadata(req->request_id, req->metadata) || denied(req->request_id, req->ns)) return;
      if (auto st = validate_purge(*req); !st) return bad(req->request_id, st);
      const uint64_t id = req->request_id;
      if (req->ns.empty()) req->ns = kDefaultNamespace;
      next_.purges.push_back(std::move(req).value());
      next_ctx_.purges.push_back(who(id));
      return;
    }
    case MsgType::kHistoryRequest: {
      auto req = wire::decode<HistoryRequest>(msg->body_view());
      if (!req) return bad(0, req.status());
      if (bad_metadata(req->request_id, req->metadata) || denied(req->request_id, req->ns)) return;
      if (auto st = validate_instance_ref(req->ns, req->instance_id); !st) {
        return bad(req->request_id, st);
      }
      next_.histories.push_back(
          HistoryOp{req->ns.empty() ? kDefaultNamespace : req->ns, req->instance_id});
      next_ctx_.histories.push_back(who(req->request_id));
      return;
    }
    case MsgType::kVerifyRequest: {
      auto req = wire::decode<VerifyRequest>(msg->body_view());
      if (!req) return bad(0, req.status());
      if (bad_metadata(req->request_id, req->metadata)) return;
      if (principal && !principal->namespaces.empty()) {
        return reply_error({identity, req->request_id, operation, received_us, trace},
                           Status(StatusCode::kPermissionDenied,
                                  "admin verify needs a client allowed in every namespace"));
      }
      ++next_.verifies;
      next_ctx_.verifies.push_back(who(req->request_id));
      return;
    }
    case MsgType::kRaiseEventRequest: {
      auto req = wire::decode<RaiseEventRequest>(msg->body_view());
      if (!req) return bad(0, req.status());
      if (bad_metadata(req->request_id, req->metadata) || denied(req->request_id, req->ns)) return;
      if (auto st = validate_instance_ref(req->ns, req->instance_id); !st) {
        return bad(req->request_id, st);
      }
      if (req->name.empty() || req->name.size() > kMaxNameBytes) {
        return bad(req->request_id, invalid_argument("event name must be 1 to 256 bytes"));
      }
      if (req->data.size() > options_.max_payload_bytes) {
        return bad(req->request_id, Status(StatusCode::kResourceExhausted,
                                           "event data exceeds the " +
                                               std::to_string(options_.max_payload_bytes) +
                                               "-byte payload limit"));
      }
      HistoryEvent ev;
      ev.type = EventType::kEventRaised;
      ev.name = req->name;
      ev.input = std::move(req->data);
      return queue_inbox_request(who(req->request_id), req->ns, req->instance_id,
                                 std::move(ev));
    }
    case MsgType::kTerminateRequest: {
      auto req = wire::decode<TerminateRequest>(msg->body_view());
      if (!req) return bad(0, req.status());
      if (bad_metadata(req->request_id, req->metadata) || denied(req->request_id, req->ns)) return;
      if (auto st = validate_instance_ref(req->ns, req->instance_id); !st) {
        return bad(req->request_id, st);
      }
      HistoryEvent ev;
      ev.type = EventType::kExecutionTerminated;
      ev.name = req->recursive ? "recursive" : "";
      ev.input = wire::encode(req->reason);
      return queue_inbox_request(who(req->request_id), req->ns, req->instance_id,
                                 std::move(ev));
    }
    case MsgType::kSuspendRequest:
    case MsgType::kResumeRequest: {
      const bool suspend = msg->type == MsgType::kSuspendRequest;
      // The two requests have the same fields.
      auto req = suspend ? wire::decode<SuspendRequest>(msg->body_view())
                         : [&]() -> Result<SuspendRequest> {
                             auto r = wire::decode<ResumeRequest>(msg->body_view());
                             if (!r) return r.status();
                             return SuspendRequest{r->request_id, r->ns, r->instance_id,
                                                   r->reason, r->metadata};
                           }();
      if (!req) return bad(0, req.status());
      if (bad_metadata(req->request_id, req->metadata) || denied(req->request_id, req->ns)) return;
      if (auto st = validate_instance_ref(req->ns, req->instance_id); !st) {
        return bad(req->request_id, st);
      }
      HistoryEvent ev;
      ev.type = suspend ? EventType::kExecutionSuspended : EventType::kExecutionResumed;
      ev.input = wire::encode(req->reason);
      return queue_inbox_request(who(req->request_id), req->ns, req->instance_id,
                                 std::move(ev));
    }
    default:
      return bad(0, invalid_argument(std::string(wire::msg_type_name(msg->type)) +
                                     " is not a client request"));
  }
}

void Service::Loop::queue_inbox_request(Requester who, const std::string& ns,
                                        const std::string& id, HistoryEvent ev) {
  ev.timestamp_ms = clock_.now_ms();
  const std::string& n = ns.empty() ? std::string(kDefaultNamespace) : ns;
  next_.inbox.push_back(InboxOp{n, id, std::move(ev)});
  next_ctx_.inbox.push_back({std::move(who), n, id});
}

void Service::Loop::queue_describe(const std::string& ns, const std::string& id, DescribeCtx ctx) {
  next_.describes.push_back(DescribeOp{ns, id});
  next_ctx_.describes.push_back(std::move(ctx));
}

void Service::Loop::wait_for(const std::string& ns, const std::string& id, Waiter w) {
  const std::string key = key_of(ns, id);
  if (const CachedInstance* c = cache_.find(key); c && !satisfies(w, c->status)) {
    // Its state is in memory and not there yet: wait without a read.
    // The step that gets it there notifies the waiters.
    waiters_[key].push_back(std::move(w));
    return;
  }
  queue_describe(ns, id, {DescribeCtx::Kind::kWait, std::move(w)});
}

void Service::Loop::notify_waiters_with(const std::string& key, OrchestrationStatus status) {
  auto it = waiters_.find(key);
  if (it == waiters_.end()) return;
  const bool any = std::any_of(it->second.begin(), it->second.end(),
                               [&](const Waiter& w) { return satisfies(w, status); });
  if (!any) return;
  const LoadOp ref = split_key(key);
  queue_describe(ref.ns, ref.instance_id, {DescribeCtx::Kind::kNotifyWaiters, {}});
}

// ----------------------------------------------------------------- broker

void Service::Loop::on_broker() {
  auto msg = wire::recv(*broker_, false);
  if (!msg) {
    if (msg.status().code() == StatusCode::kUnavailable) return;
    metrics_.malformed_frame("broker");
    spdlog::warn("malformed frame from broker dropped: {}", msg.status().message());
    return;
  }
  last_broker_msg_ms_ = steady();
  last_broker_heard_ms_ = last_broker_msg_ms_;
  switch (msg->type) {
    case MsgType::kHeartbeat: {
      auto hb = wire::decode<Heartbeat>(msg->body_view());
      if (!hb) break;
      const bool restarted = broker_incarnation_ != 0 && hb->incarnation != broker_incarnation_;
      if (restarted || redispatch_on_contact_) {
        spdlog::warn("broker {} (incarnation {} -> {}); dispatching in-flight work again",
                     restarted ? "restarted" : "is back", broker_incarnation_, hb->incarnation);
        redispatch_on_contact_ = false;
        broker_incarnation_ = hb->incarnation;
        if (serving_) wire::send(*broker_, hello());
        redispatch_all(restarted ? "broker restarted" : "broker link re-established");
      }
      broker_incarnation_ = hb->incarnation;
      return;
    }
    case MsgType::kActivityResult: {
      auto r = wire::decode<ActivityResult>(msg->body_view());
      if (r) return on_activity_result(std::move(r).value());
      break;
    }
    case MsgType::kOrchestrationResult: {
      auto r = wire::decode<OrchestrationResult>(msg->body_view());
      if (r) return on_orchestration_result(std::move(r).value());
      break;
    }
    case MsgType::kResultBatch: {
      auto r = wire::decode<ResultBatch>(msg->body_view());
      if (r) return on_result_batch(*r);
      break;
    }
    case MsgType::kActivityHeartbeat: {
      auto r = wire::decode<ActivityHeartbeat>(msg->body_view());
      if (r) return on_activity_heartbeat(*r);
      break;
    }
    case MsgType::kWorkLost: {
      auto r = wire::decode<WorkLost>(msg->body_view());
      if (r) return on_work_lost(*r, "work_lost");
      break;
    }
    case MsgType::kBrokerGoodbye: {
      auto r = wire::decode<BrokerGoodbye>(msg->body_view());
      if (!r) break;
      spdlog::info("broker {:x} said goodbye ({}); reconnecting", r->incarnation, r->reason);
      connect_broker();
      redispatch_on_contact_ = true;
      return;
    }
    default:
      break;
  }
  metrics_.malformed_frame("broker");
  spdlog::warn("unexpected or undecodable {} from broker dropped", wire::msg_type_name(msg->type));
}

// Each result as if it had come alone; an undecodable one is dropped and
// counted without its neighbours (its lease brings the work back).
void Service::Loop::on_result_batch(const ResultBatch& batch) {
  const auto take = [this]<class T>(const std::vector<Bytes>& bodies, void (Loop::*on)(T)) {
    for (const Bytes& body : bodies) {
      auto r = wire::decode<T>(body);
      if (r) {
        (this->*on)(std::move(r).value());
        continue;
      }
      metrics_.malformed_frame("broker");
      spdlog::warn("undecodable {} in a ResultBatch dropped: {}", wire::msg_type_name(T::kType),
                   r.status().message());
    }
  };
  take(batch.activities, &Loop::on_activity_result);
  take(batch.orchestrations, &Loop::on_orchestration_result);
}

SchedulerHello Service::Loop::hello() const {
  return SchedulerHello{id_, incarnation_, lease_.epoch, /*result_batches=*/true};
}

void Service::Loop::mark_dirty(const std::string& ns, const std::string& id) {
  const std::string key = key_of(ns, id);
  Inst& in = inst(key);
  if (!in.dirty) {
    in.dirty = true;
    dirty_keys_.push_back(key);
  }
}

void Service::Loop::maybe_forget(const std::string& key) {
  auto it = instances_.find(key);
  if (it == instances_.end()) return;
  const Inst& in = it->second;
  if (in.state == Inst::State::kIdle && !in.dirty && !in.load_queued && !in.step_in_next &&
      in.held.empty()) {
    instances_.erase(it);
  }
}

void Service::Loop::on_activity_result(ActivityResult r) {
  auto it = activities_.find(r.work_id);
  if (it == activities_.end() || it->second.task.id != r.task_id ||
      it->second.task.attempt != r.attempt) {
    metrics_.stale_result("activity");  // an abandoned attempt, or one from before a restart
    return;
  }
  if (r.failed) {
    InflightActivity a = std::move(it->second);
    activities_.erase(it);
    return fail_or_retry(std::move(a), std::move(r.failure));
  }
  const TaskRow task = std::move(it->second.task);
  const EagerOffer offer = std::move(it->second.eager);
  activities_.erase(it);
  if (!r.next_step.empty() && take_next_step(task, offer, r)) return;
  HistoryEvent ev;
  ev.type = EventType::kTaskCompleted;
  ev.result = std::move(r.output);
  record_result(task, std::move(ev), false);
}

bool Service::Loop::take_next_step(const TaskRow& task, const EagerOffer& offer,
                                   ActivityResult& r) {
  OrchestrationResult& step = r.next_step.front();
  const std::string key = key_of(task.ns, task.instance_id);
  CachedInstance* c = cache_.find(key);
  // The state the step was offered in, unchanged: same sticky worker and
  // token, nothing appended to the history since.
  bool same = offer.token != 0 && c != nullptr && !step.cache_miss &&
              step.worker_id == offer.worker && c->sticky_worker == offer.worker &&
              c->cache_token == offer.token && c->sticky_len == offer.past_from &&
              c->history->events.size() == offer.events && c->history_len == offer.history_len &&
              r.next_step_at_ms > 0 && r.next_step_at_ms <= clock_.now_ms() + kEagerClockSkewMs;
  same = same && nothing_pending(key);
  std::vector<TaskResultOp> ops;
  StepPlan plan;
  if (same) {
    // The step the scheduler would dispatch now, planned at the worker's
    // time: exactly OrchestratorStarted and this completion.
    HistoryEvent ev;
    ev.type = EventType::kTaskCompleted;
    ev.result = r.output;
    ops.push_back(result_op(task, std::move(ev), r.next_step_at_ms));
    plan = plan_step(task.ns, task.instance_id, loaded_from(*c, ops), r.next_step_at_ms, 0,
                     c->history);
    same = plan.kind == StepPlan::Kind::kWorker && !plan.leaves_events &&
           plan.step.task.new_events.size() == 2;
  }
  if (!same) {
    forget_evicted(step);
    // The worker's copy has moved on to a state history will not have.
    if (c != nullptr && c->sticky_worker == step.worker_id) cache_.clear_sticky(key);
    metrics_.eager_step(false);
    return false;
  }
  Inst& in = inst(key);
  in.folded.push_back(std::move(ops.front()));
  in.folded_meta.push_back(TaskResultMeta{task.ns, task.task_queue, false});
  in.more_after_step = false;
  in.step = std::make_unique<DispatchedStep>(std::move(plan.step));
  await_step(key, in);
  in.step->task.cache_token = offer.token;
  in.step->sent_past_from = offer.past_from;
  step.work_id = in.work_id;
  metrics_.activity_result("step");
  metrics_.eager_step(true);
  on_orchestration_result(std::move(step));
  return true;
}

void Service::Loop::record_result(const TaskRow& task, HistoryEvent ev, bool failed) {
  TaskResultOp op = result_op(task, std::move(ev), clock_.now_ms());
  const TaskResultMeta meta{task.ns, task.task_queue, failed};
  const std::string key = key_of(task.ns, task.instance_id);
  if (cache_.find(key) != nullptr && idle(key)) {
    // Straight into a step, with the results held back before it, unless
    // they all still cannot wake the orchestrator.
    Inst& in = inst(key);
    keep(in, std::move(op), meta);
    release_held(key, in);
    return;
  }
  if (hold_result(key, op, meta)) return;  // counted when released
  mark_dirty(task.ns, task.instance_id);
  result_to_inbox(std::move(op), meta);
}

void Service::Loop::result_to_inbox(TaskResultOp op, const TaskResultMeta& meta) {
  metrics_.activity_result("inbox");
  next_.task_results.push_back(std::move(op));
  next_ctx_.task_results.push_back(meta);
}

bool Service::Loop::fold_results(const std::string& key, std::vector<TaskResultOp>& ops,
                                 std::vector<TaskResultMeta>& metas) {
  CachedInstance* cached = cache_.find(key);
  // Anything else pending for the instance goes through a load instead.
  if (!cached || ops.empty() || !nothing_pending(key)) return false;
  CachedInstance& c = *cached;
  LoadedInstance l = loaded_from(c, ops);
  const LoadOp ref = split_key(key);
  const SharedPast past = c.history;
  StepPlan plan = plan_step(ref.ns, ref.instance_id, l, clock_.now_ms(), 0, past);
  // E.g. suspended: the inbox buffers them.
  if (plan.kind != StepPlan::Kind::kWorker || plan.leaves_events) return false;
  Inst& in = inst(key);
  in.folded.insert(in.folded.end(), std::make_move_iterator(ops.begin()),
                   std::make_move_iterator(ops.end()));
  in.folded_meta.insert(in.folded_meta.end(), metas.begin(), metas.end());
  ops.clear();
  metas.clear();
  apply_plan(key, in, std::move(plan), l, *past);
  return true;
}

bool Service::Loop::idle(const std::string& key) const {
  auto it = instances_.find(key);
  if (it == instances_.end()) return true;
  const Inst& in = it->second;
  return in.state == Inst::State::kIdle && !in.dirty && !in.load_queued && !in.step_in_next;
}

bool Service::Loop::nothing_pending(const std::string& key) const {
  auto it = instances_.find(key);
  return idle(key) && (it == instances_.end() || it->second.held.empty());
}

bool Service::Loop::hold_result(const std::string& key, TaskResultOp& op,
                                const TaskResultMeta& meta) {
  if (!cache_.find(key)) return false;
  auto it = instances_.find(key);
  if (it == instances_.end()) return false;
  Inst& in = it->second;
  const bool stepping = in.state == Inst::State::kRunning ||
                        (in.state == Inst::State::kBusy && !in.load_queued);
  if (!stepping || in.dirty) return false;
  keep(in, std::move(op), meta);
  return true;
}

void Service::Loop::keep(Inst& in, TaskResultOp op, const TaskResultMeta& meta) {
  in.held_bytes += op.event.result.size();
  in.held_failure = in.held_failure || meta.failed;
  in.held.push_back(std::move(op));
  in.held_meta.push_back(meta);
}

void Service::Loop::clear_held(Inst& in) {
  in.held.clear();
  in.held_meta.clear();
  in.held_bytes = 0;
  in.held_failure = false;
  in.held_quiet = 0;
  in.hold_until_ms = 0;
}

bool Service::Loop::quiet_held(const std::string& key, const Inst& in) {
  if (options_.quiet_result_hold.count() <= 0 || in.held_failure ||
      in.held_bytes > kMaxQuietHeldBytes || !idle(key)) {
    return false;
  }
  const CachedInstance* c = cache_.find(key);
  return c != nullptr && in.held.size() < c->wake_after;
}

void Service::Loop::release_held(const std::string& key, Inst& in, bool expired) {
  if (in.held.empty()) return;
  if (!expired && quiet_held(key, in)) {
    metrics_.quiet_results("held", in.held.size() - in.held_quiet);
    in.held_quiet = in.held.size();
    if (in.hold_until_ms == 0) {
      in.hold_until_ms = steady() + options_.quiet_result_hold.count();
      quiet_due_.emplace(in.hold_until_ms, key);
    }
    return;
  }
  std::vector<TaskResultOp> ops = std::move(in.held);
  std::vector<TaskResultMeta> metas = std::move(in.held_meta);
  clear_held(in);
  const std::size_t n = ops.size();
  if (fold_results(key, ops, metas)) {
    for (std::size_t i = 0; i < n; ++i) metrics_.activity_result("step");
    return;
  }
  const LoadOp ref = split_key(key);
  mark_dirty(ref.ns, ref.instance_id);
  for (std::size_t i = 0; i < ops.size(); ++i) result_to_inbox(std::move(ops[i]), metas[i]);
}

void Service::Loop::expire_quiet_holds() {
  const int64_t now = steady();
  while (!quiet_due_.empty() && quiet_due_.top().first <= now) {
    const auto [due, key] = quiet_due_.top();
    quiet_due_.pop();
    auto it = instances_.find(key);
    // Released since (or held again under a later deadline).
    if (it == instances_.end() || it->second.hold_until_ms != due) continue;
    Inst& in = it->second;
    metrics_.quiet_results("expired", in.held.size());
    release_held(key, in, /*expired=*/true);
    maybe_forget(key);
  }
}

void Service::Loop::flush_held(Inst& in) {
  for (std::size_t i = 0; i < in.held.size(); ++i) {
    result_to_inbox(std::move(in.held[i]), in.held_meta[i]);
  }
  clear_held(in);
}

void Service::Loop::fail_or_retry(InflightActivity a, FailureDetails failure) {
  TaskRow& task = a.task;
  const int64_t now = clock_.now_ms();
  const RetryDecision d =
      decide_retry(task.options.retry, task.attempt, failure, task.first_scheduled_ms, now);
  if (d.retry) {
    metrics_.activity_retry(task.ns, task.task_queue);
    next_.retries.push_back(
        RetryOp{task.id, task.attempt, now + d.delay_ms, std::move(task.heartbeat_details)});
    return;
  }
  HistoryEvent ev;
  ev.type = EventType::kTaskFailed;
  ev.failure = std::move(failure);
  record_result(task, std::move(ev), true);
}

void Service::Loop::on_activity_heartbeat(const ActivityHeartbeat& hb) {
  auto it = activities_.find(hb.work_id);
  if (it == activities_.end() || it->second.task.id != hb.task_id ||
      it->second.task.attempt != hb.attempt) {
    return;  // an abandoned attempt still running somewhere
  }
  InflightActivity& a = it->second;
  a.start_deadline_ms = 0;  // a worker has it
  if (!hb.details.empty()) a.task.heartbeat_details = hb.details;
  if (a.task.options.heartbeat_timeout_ms > 0) {
    a.hb_deadline_ms = steady() + a.task.options.heartbeat_timeout_ms;
  }
}

void Service::Loop::forget_evicted(const OrchestrationResult& r) {
  for (const EvictedOrchestration& e : r.evicted) {
    const std::string key = key_of(e.ns, e.instance_id);
    const CachedInstance* c = cache_.find(key);
    if (c != nullptr && c->cache_token == e.cache_token && c->sticky_worker == r.worker_id) {
      cache_.clear_sticky(key);
    }
  }
}

void Service::Loop::on_orchestration_result(OrchestrationResult r) {
  forget_evicted(r);  // any result, stale or not
  auto it = steps_.find(r.work_id);
  if (it == steps_.end()) {
    metrics_.stale_result("orchestration");
    return;
  }
  const std::string key = it->second;
  steps_.erase(it);
  auto found = instances_.find(key);
  if (found == instances_.end() || found->second.state != Inst::State::kRunning ||
      found->second.work_id != r.work_id) {
    metrics_.stale_result("orchestration");
    return;
  }
  Inst& in = found->second;
  if (r.cache_miss) {
    // The worker no longer holds the orchestrator (evicted, restarted, or
    // the broker gave the step to another worker): resend it whole.
    cache_.clear_sticky(key);
    if (in.step->sent_past_from == 0) {
      // A worker out of protocol: the step stays in flight (steps_) until
      // its lease expires, then goes again.
      spdlog::error("worker '{}' answered a cache miss to a step of '{}' that carried the whole "
                    "history; the step is dispatched again when its lease expires",
                    r.worker_id, key);
      steps_.emplace(r.work_id, key);
      return;
    }
    metrics_.sticky_miss();
    dispatch_step(key, in);
    return;
  }
  StepOp op = apply_actions(*in.step, r, clock_.now_ms(), options_.max_history_events);
  const std::size_t before = in.step->past->events.size();
  const std::size_t after = before + op.events.size();
  if (options_.history_warn_events > 0 && before < options_.history_warn_events &&
      after >= options_.history_warn_events && op.status == OrchestrationStatus::kRunning) {
    spdlog::warn("instance '{}' ({}) has {} history events in this execution (limit {}); "
                 "consider continue_as_new",
                 op.instance_id, in.step->task.name, after, options_.max_history_events);
  }
  StepMeta meta{op.ns, in.step->task.name, op.status,
                execution_started_ms(*in.step->past, in.step->task.new_events), {}, {}};
  for (const auto& c : op.children) {
    meta.child_names.push_back(c.name);
    cache_.erase(key_of(c.ns, c.instance_id));  // a finished child's id may be reused
  }
  op.results = std::move(in.folded);
  meta.results = std::move(in.folded_meta);
  in.folded.clear();
  in.folded_meta.clear();
  // Let go of the history first, so the cache appends to it in place.
  in.step->past.reset();
  cache_.advance(key, op);  // a refused step drops it again, in on_outcome
  if (CachedInstance* c = cache_.find(key)) c->wake_after = r.wake_after;
  if (r.cached && !r.worker_id.empty() && in.step->task.cache_token != 0) {
    cache_.set_sticky(key, r.worker_id, in.step->task.cache_token,
                      before + in.step->task.new_events.size());
  } else {
    cache_.clear_sticky(key);
  }
  notify_waiters_with(key, op.status);
  if (in.early_start) {
    // The start goes into the same batch (the store applies the step only
    // if that start creates the instance).
    in.early_start->op.with_first_step = true;
    in.early_start->ctx.with_first_step = true;
    op.first_step = true;
    next_.starts.push_back(std::move(in.early_start->op));
    next_ctx_.starts.push_back(std::move(in.early_start->ctx));
    in.early_start.reset();
  }
  next_.steps.push_back(std::move(op));
  next_ctx_.step_keys.push_back(key);
  next_ctx_.steps.push_back(std::move(meta));
  in.state = Inst::State::kBusy;
  in.step_in_next = true;
  in.step.reset();
  if (in.dirty) dirty_keys_.push_back(key);  // maybe_send_batch loads it in the same batch
}

void Service::Loop::on_work_lost(const WorkLost& lost, const char* reason) {
  std::size_t activities = 0, steps = 0;
  for (uint64_t work_id : lost.work_ids) {
    if (auto a = activities_.find(work_id); a != activities_.end()) {
      spdlog::debug("activity task {} attempt {} lost", a->second.task.id, a->second.task.attempt);
      next_.redispatches.push_back(RedispatchOp{a->second.task.id, a->second.task.attempt});
      activities_.erase(a);
      ++activities;
    } else if (auto s = steps_.find(work_id); s != steps_.end()) {
      const std::string key = s->second;
      steps_.erase(s);
      auto in = instances_.find(key);
      if (in != instances_.end() && in->second.state == Inst::State::kRunning &&
          in->second.work_id == work_id) {
        cache_.clear_sticky(key);  // its worker may be gone: send the whole history
        dispatch_step(key, in->second);
        ++steps;
      }
    }
  }
  metrics_.redispatched("activity", reason, activities);
  metrics_.redispatched("orchestration", reason, steps);
  if (activities + steps > 0) {
    spdlog::info("{} activities and {} orchestrator steps lost ({}); dispatching a new attempt",
                 activities, steps, lost.reason);
  }
}

void Service::Loop::redispatch_all(const char* why) {
  std::vector<uint64_t> ids;
  for (const auto& [id, _] : activities_) ids.push_back(id);
  for (const auto& [id, _] : steps_) ids.push_back(id);
  on_work_lost(WorkLost{std::move(ids), why}, "work_lost");
}

void Service::Loop::dispatch_task(TaskRow row, int64_t scheduled_at_ms, bool eager) {
  if (row.visible_at_ms > clock_.now_ms()) {
    delayed_tasks_.emplace(row.visible_at_ms, row.id);
    delayed_rows_[row.id] = std::move(row);
    return;
  }
  const uint64_t work_id = next_work_id();
  ActivityTask t;
  t.work_id = work_id;
  t.task_id = row.id;
  t.attempt = row.attempt;
  t.ns = row.ns;
  t.instance_id = row.instance_id;
  t.task_queue = row.task_queue;
  t.name = row.name;
  t.task_scheduled_id = row.task_scheduled_id;
  t.input = row.input;
  t.heartbeat_timeout_ms = row.options.heartbeat_timeout_ms;
  t.heartbeat_details = row.heartbeat_details;
  t.report_start = row.options.schedule_to_start_timeout_ms > 0;
  t.scheduled_at_ms = scheduled_at_ms > 0 ? scheduled_at_ms : clock_.now_ms();
  InflightActivity a;
  if (eager) offer_next_step(t, a);
  outbox_.activities.push_back(std::move(t));
  const int64_t now = steady();
  a.policy_timeout = row.options.start_to_close_timeout_ms > 0;
  a.deadline_ms = now + (a.policy_timeout ? row.options.start_to_close_timeout_ms
                                          : options_.activity_lease.count());
  if (row.options.heartbeat_timeout_ms > 0) a.hb_deadline_ms = now + row.options.heartbeat_timeout_ms;
  if (row.options.schedule_to_start_timeout_ms > 0) {
    a.start_deadline_ms = now + row.options.schedule_to_start_timeout_ms;
  }
  a.task = std::move(row);
  activities_[work_id] = std::move(a);
}

void Service::Loop::offer_next_step(ActivityTask& t, InflightActivity& a) {
  if (!options_.sticky_orchestrations || !options_.eager_steps) return;
  const CachedInstance* c = cache_.find(key_of(t.ns, t.instance_id));
  if (c == nullptr || c->status != OrchestrationStatus::kRunning || c->sticky_worker.empty() ||
      c->cache_token == 0 || c->sticky_len == 0) {
    return;
  }
  // Its result alone cannot wake the orchestrator (a when_all waiting for
  // more): the step would do nothing; the result is held instead.
  if (c->wake_after > 1) return;
  const std::vector<HistoryEvent>& past = c->history->events;
  if (c->sticky_len > past.size()) return;
  // The partial step dispatch_step() would send the sticky worker, with
  // only its OrchestratorStarted for new events: the worker adds the
  // completion and takes the time (never before now).
  OrchestrationTask step;
  step.ns = t.ns;
  step.instance_id = t.instance_id;
  step.task_queue = c->task_queue;
  step.name = c->name;
  step.past_events.assign(past.begin() + static_cast<std::ptrdiff_t>(c->sticky_len), past.end());
  step.cache_token = c->cache_token;
  step.past_from = static_cast<int32_t>(c->sticky_len);
  HistoryEvent started;
  started.type = EventType::kOrchestratorStarted;
  started.timestamp_ms = clock_.now_ms();
  step.new_events.push_back(std::move(started));
  t.sticky_worker = c->sticky_worker;
  t.next_step.push_back(std::move(step));
  a.eager = EagerOffer{c->cache_token, c->sticky_worker, c->sticky_len, past.size(),
                       c->history_len};
}

void Service::Loop::fire_due() {
  const int64_t now = clock_.now_ms();
  while (!timers_.empty() && timers_.top().first <= now) {
    const std::string key = timers_.top().second;
    timers_.pop();
    const LoadOp ref = split_key(key);
    mark_dirty(ref.ns, ref.instance_id);
  }
  while (!delayed_tasks_.empty() && delayed_tasks_.top().first <= now) {
    const int64_t id = delayed_tasks_.top().second;
    delayed_tasks_.pop();
    auto it = delayed_rows_.find(id);
    if (it == delayed_rows_.end()) continue;
    TaskRow row = std::move(it->second);
    delayed_rows_.erase(it);
    const int64_t due = row.visible_at_ms;
    row.visible_at_ms = 0;
    dispatch_task(std::move(row), due);
  }
}

void Service::Loop::await_step(const std::string& key, Inst& in) {
  in.work_id = next_work_id();
  in.step->task.work_id = in.work_id;
  in.deadline_ms = steady() + options_.step_lease.count();
  in.state = Inst::State::kRunning;
  steps_[in.work_id] = key;
}

void Service::Loop::dispatch_step(const std::string& key, Inst& in) {
  await_step(key, in);
  // Dispatchable since its oldest new event arrived (new_events[0] is the
  // OrchestratorStarted this dispatch adds).
  int64_t since = 0;
  for (std::size_t i = 1; i < in.step->task.new_events.size(); ++i) {
    const int64_t ts = in.step->task.new_events[i].timestamp_ms;
    if (ts > 0 && (since == 0 || ts < since)) since = ts;
  }
  OrchestrationTask& full = in.step->task;
  full.scheduled_at_ms = since > 0 ? since : clock_.now_ms();
  // Sticky orchestrations: a worker that keeps the orchestrator suspended
  // gets only the history it has not seen; otherwise the whole history,
  // with a fresh token under which the worker may keep it.
  const CachedInstance* c = options_.sticky_orchestrations ? cache_.find(key) : nullptr;
  const std::vector<HistoryEvent>& past = in.step->past->events;
  full.cache_token = 0;
  in.step->sent_past_from = 0;
  // Without a cache entry for this history, the scheduler could not
  // remember the worker: no token, the worker keeps nothing.
  if (c != nullptr && c->history_len != in.step->history_len) c = nullptr;
  OrchestrationTask out = full;  // full.past_events is empty: see DispatchedStep
  if (c == nullptr || c->sticky_worker.empty() || c->sticky_len == 0 ||
      c->sticky_len > past.size()) {
    // work_id: unique, never reused, not even across restarts.
    out.cache_token = full.cache_token = c != nullptr ? in.work_id : 0;
    out.past_events = past;
    metrics_.step_dispatched("full");
    outbox_.orchestrations.push_back(std::move(out));
    return;
  }
  // Only the history the worker has not seen.
  out.cache_token = full.cache_token = c->cache_token;
  in.step->sent_past_from = c->sticky_len;
  out.past_events.assign(past.begin() + static_cast<std::ptrdiff_t>(c->sticky_len), past.end());
  out.sticky_worker = c->sticky_worker;
  out.past_from = static_cast<int32_t>(c->sticky_len);
  metrics_.step_dispatched("partial");
  outbox_.orchestrations.push_back(std::move(out));
}

void Service::Loop::flush_dispatch() {
  if (outbox_.activities.empty() && outbox_.orchestrations.empty()) return;
  // Chunk so no single message grows without bound.
  DispatchBatch chunk;
  auto send_chunk = [&] {
    if (!wire::send(*broker_, chunk, {}, /*dont_wait=*/true)) {
      spdlog::warn("broker link full; {} work items wait for the lease deadline",
                   chunk.activities.size() + chunk.orchestrations.size());
    }
    chunk = DispatchBatch{};
  };
  for (auto& a : outbox_.activities) {
    chunk.activities.push_back(std::move(a));
    if (chunk.activities.size() >= kDispatchChunk) send_chunk();
  }
  for (auto& o : outbox_.orchestrations) {
    chunk.orchestrations.push_back(std::move(o));
    if (chunk.orchestrations.size() >= kDispatchChunk) send_chunk();
  }
  if (!chunk.activities.empty() || !chunk.orchestrations.empty()) send_chunk();
  outbox_ = DispatchBatch{};
}

void Service::Loop::check_deadlines() {
  const int64_t now = steady();
  std::vector<uint64_t> expired;
  std::vector<uint64_t> timed_out;
  std::vector<uint64_t> not_started;
  for (const auto& [id, a] : activities_) {
    if (a.start_deadline_ms > 0 && a.start_deadline_ms <= now) {
      not_started.push_back(id);
      continue;
    }
    const bool hb_missed = a.hb_deadline_ms > 0 && a.hb_deadline_ms <= now;
    if (hb_missed || (a.policy_timeout && a.deadline_ms <= now)) {
      timed_out.push_back(id);  // the activity's own timeout: a failed attempt
    } else if (a.deadline_ms <= now) {
      expired.push_back(id);  // the default lease: infrastructure, dispatch again
    }
  }
  for (uint64_t id : not_started) {
    auto it = activities_.find(id);
    InflightActivity a = std::move(it->second);
    activities_.erase(it);
    metrics_.activity_timeout(a.task.ns, a.task.task_queue, "schedule_to_start");
    FailureDetails f =
        schedule_to_start_failure(a.task.name, a.task.options.schedule_to_start_timeout_ms);
    spdlog::info("{}", f.message);
    fail_or_retry(std::move(a), std::move(f));
  }
  for (uint64_t id : timed_out) {
    auto it = activities_.find(id);
    InflightActivity a = std::move(it->second);
    activities_.erase(it);
    const bool hb = a.hb_deadline_ms > 0 && a.hb_deadline_ms <= now;
    metrics_.activity_timeout(a.task.ns, a.task.task_queue, hb ? "heartbeat" : "start_to_close");
    FailureDetails f = timeout_failure(a.task.name, a.task.attempt, hb);
    spdlog::info("{}", f.message);
    fail_or_retry(std::move(a), std::move(f));
  }
  metrics_.lease_expired("activity", expired.size());
  const std::size_t expired_activities = expired.size();
  for (const auto& [id, key] : steps_) {
    auto in = instances_.find(key);
    if (in != instances_.end() && in->second.deadline_ms <= now) expired.push_back(id);
  }
  metrics_.lease_expired("orchestration", expired.size() - expired_activities);
  if (!expired.empty()) on_work_lost(WorkLost{std::move(expired), "lease expired"}, "lease_expired");

  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto& list = it->second;
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const Waiter& w) {
                                if (w.deadline_ms > now) return false;
                                if (w.start) {
                                  reply(w.who, StartReply{w.who.request_id,
                                                          split_key(it->first).instance_id});
                                } else {
                                  reply_error(w.who, deadline_exceeded(
                                                         "orchestration did not complete in time"));
                                }
                                return true;
                              }),
               list.end());
    it = list.empty() ? waiters_.erase(it) : std::next(it);
  }
}

// ---------------------------------------------------------------- batches

void Service::Loop::request_recovery() {
  recovery_pending_ = false;
  auto req = std::make_unique<CommitRequest>();
  req->kind = CommitRequest::Kind::kRecover;
  req->owner = id_;
  req->now_ms = clock_.now_ms();
  req->max_tasks = options_.max_held_activities;
  request_in_flight_ = Committer::send_request(*committer_sock_, std::move(req));
}

void Service::Loop::on_committer() {
  auto resp = Committer::recv_response(*committer_sock_);
  if (!resp) return;
  request_in_flight_ = false;
  if (resp->kind == CommitRequest::Kind::kRecover) {
    on_recovery(std::move(resp->recovery));
  } else if (resp->kind == CommitRequest::Kind::kRelease) {
    if (resp->outcome.status.is_ok()) {
      spdlog::info("handed {} partitions back", lease_.partitions.size());
    } else {
      spdlog::warn("could not hand the partitions back ({}); their leases expire on their own",
                   resp->outcome.status.message());
    }
  } else {
    const BatchPath path = resp->outcome.path;
    metrics_.commit_done(resp->outcome.status.is_ok(), static_cast<double>(resp->commit_us) / 1e6,
                         inflight_ops_,
                         path == BatchPath::kPipelined ? "pipelined"
                         : path == BatchPath::kRetried ? "retried"
                                                       : "stepwise");
    BatchCtx ctx = std::move(inflight_ctx_);
    inflight_ctx_ = BatchCtx{};
    on_outcome(resp->outcome, ctx);
  }
}

void Service::Loop::on_recovery(Result<Recovery> rec) {
  if (!rec) {
    spdlog::warn("recovery failed: {}; retrying", rec.status().message());
    recovery_pending_ = true;
    recover_at_ms_ = steady() + kRecoveryRetryMs.count();
    return;
  }
  if (static_cast<int>(rec->lease.partitions.size()) < kPartitionCount && lease_.epoch > 0) {
    // We served before and lost a batch (e.g. PostgreSQL ended our hung
    // transaction); meanwhile another replica took partitions over: fenced,
    // exactly as when a batch reports kLeaseLost.
    fatal_ = lease_lost("partition lease lost: another scheduler owns " +
                        std::to_string(kPartitionCount - rec->lease.partitions.size()) +
                        " of our partitions");
    spdlog::critical("{}; another scheduler owns our partitions, stopping", fatal_.message());
    return;
  }
  if (static_cast<int>(rec->lease.partitions.size()) < kPartitionCount) {
    // This version serves all partitions from one replica; wait for the
    // previous holder's lease to expire.
    spdlog::warn("own {} of {} partitions (another scheduler holds the rest); waiting",
                 rec->lease.partitions.size(), kPartitionCount);
    metrics_.registry().set_ready(false, "standby: another scheduler holds partitions");
    recovery_pending_ = true;
    recover_at_ms_ = steady() + kRecoveryRetryMs.count();
    return;
  }
  lease_ = rec->lease;
  cache_.clear();  // PostgreSQL is the truth again
  set_serving(true, "");
  wire::send(*broker_, hello());
  metrics_.redispatched("activity", "recovery", rec->tasks.size());
  next_renew_ms_ = steady() + options_.partition_lease.count() / 3;
  spdlog::info("recovered at epoch {}: {} activity tasks to dispatch, {} instances with new events",
               lease_.epoch, rec->tasks.size(), rec->instances_with_inbox.size());
  for (auto& t : rec->tasks) {
    const int64_t since = t.visible_at_ms;  // the backlog's age counts in schedule-to-start
    dispatch_task(std::move(t), since);
  }
  parked_in_db_ = rec->parked > 0;
  fetch_queued_ = false;
  if (parked_in_db_) {
    spdlog::info("{} more activity tasks wait in PostgreSQL (holding at most {} in memory)",
                 rec->parked, options_.max_held_activities);
  }
  for (const auto& l : rec->instances_with_inbox) mark_dirty(l.ns, l.instance_id);
  for (const auto& [l, due] : rec->timers) timers_.emplace(due, key_of(l.ns, l.instance_id));
  // Waiters survive a recovery: ask again whether their instances finished.
  for (const auto& [key, list] : waiters_) {
    const LoadOp ref = split_key(key);
    queue_describe(ref.ns, ref.instance_id, {DescribeCtx::Kind::kNotifyWaiters, {}});
  }
}

void Service::Loop::maybe_send_batch() {
  if (!serving_ || request_in_flight_) return;
  // Instances with unseen inbox events and nothing in flight get loaded.
  for (const auto& key : dirty_keys_) {
    auto it = instances_.find(key);
    if (it == instances_.end() || !it->second.dirty || it->second.load_queued) continue;
    Inst& in = it->second;
    if (in.state == Inst::State::kIdle || (in.state == Inst::State::kBusy && in.step_in_next)) {
      flush_held(in);  // written before the batch's loads read the inbox
      const LoadOp ref = split_key(key);
      next_.loads.push_back(LoadOp{ref.ns, ref.instance_id});
      next_ctx_.load_keys.push_back(key);
      in.state = Inst::State::kBusy;
      in.dirty = false;
      in.load_queued = true;
    }
  }
  dirty_keys_.erase(std::remove_if(dirty_keys_.begin(), dirty_keys_.end(),
                                   [&](const std::string& k) {
                                     auto it = instances_.find(k);
                                     return it == instances_.end() || !it->second.dirty;
                                   }),
                    dirty_keys_.end());
  if (parked_in_db_ && !fetch_queued_ && held() < options_.max_held_activities &&
      steady() >= next_fetch_ms_) {
    next_.fetch_tasks = std::min(options_.max_held_activities - held(), kFetchChunk);
    next_ctx_.fetch = true;
    fetch_queued_ = true;
  }
  if (next_.empty()) return;
  for (const auto& key : next_ctx_.step_keys) {
    if (auto it = instances_.find(key); it != instances_.end()) it->second.step_in_next = false;
  }
  auto req = std::make_unique<CommitRequest>();
  req->kind = CommitRequest::Kind::kCommit;
  req->lease = lease_;
  next_.now_ms = clock_.now_ms();
  inflight_ops_ = next_.size();
  req->batch = std::move(next_);
  next_ = Batch{};
  inflight_ctx_ = std::move(next_ctx_);
  next_ctx_ = BatchCtx{};
  request_in_flight_ = Committer::send_request(*committer_sock_, std::move(req));
  if (!request_in_flight_) fatal_ = internal_error("cannot hand a batch to the committer");
}

void Service::Loop::on_outcome(BatchOutcome& out, BatchCtx& ctx) {
  if (out.status.code() == StatusCode::kLeaseLost) {
    spdlog::critical("{}; another scheduler owns our partitions, stopping", out.status.message());
    fatal_ = out.status;
    return;
  }
  if (!out.status.is_ok()) {
    for (const auto& s : ctx.starts) reply_error(s.who, out.status);
    for (const auto& c : ctx.inbox) reply_error(c.who, out.status);
    for (const auto& who : ctx.histories) reply_error(who, out.status);
    for (const auto& who : ctx.verifies) reply_error(who, out.status);
    for (const auto& who : ctx.lists) reply_error(who, out.status);
    for (const auto& who : ctx.purges) reply_error(who, out.status);
    for (const auto& d : ctx.describes) {
      if (d.kind != DescribeCtx::Kind::kNotifyWaiters) reply_error(d.waiter.who, out.status);
    }
    reset_after_failure(out.status);
    return;
  }
  const int64_t now_ms = clock_.now_ms();
  for (std::size_t i = 0; i < out.starts.size(); ++i) {
    const StartCtx& s = ctx.starts[i];
    if (out.starts[i].is_ok()) {
      metrics_.orchestration_started(s.ns, s.name);
      metrics_.start_committed(s.with_first_step ? "with_first_step" : "alone");
      if (s.wait_ms > 0) {
        wait_for(s.ns, s.instance_id,
                 Waiter{s.who, steady() + s.wait_ms, /*until_started=*/false, /*start=*/true});
      } else {
        reply(s.who, StartReply{s.who.request_id, s.instance_id});
      }
    } else {
      reply_error(s.who, out.starts[i]);
    }
  }
  for (std::size_t i = 0; i < out.inbox.size(); ++i) {
    const InboxCtx& c = ctx.inbox[i];
    if (out.inbox[i].is_ok()) {
      reply(c.who, OkReply{c.who.request_id});
      mark_dirty(c.ns, c.instance_id);
    } else {
      reply_error(c.who, out.inbox[i]);
    }
  }
  for (std::size_t i = 0; i < out.histories.size(); ++i) {
    if (out.histories[i]) {
      reply(ctx.histories[i],
            HistoryReply{ctx.histories[i].request_id, std::move(*out.histories[i])});
    } else {
      reply_error(ctx.histories[i], not_found("no orchestration instance with that id"));
    }
  }
  for (const auto& who : ctx.verifies) {
    reply(who, VerifyReply{who.request_id, out.violations});
  }
  for (std::size_t i = 0; i < out.lists.size() && i < ctx.lists.size(); ++i) {
    out.lists[i].request_id = ctx.lists[i].request_id;
    if (!out.lists[i].continuation_token.empty()) {
      out.lists[i].continuation_token = encode_list_token(out.lists[i].continuation_token);
    }
    reply(ctx.lists[i], out.lists[i]);
  }
  for (std::size_t i = 0; i < out.purges.size() && i < ctx.purges.size(); ++i) {
    if (out.purges[i].is_ok()) {
      reply(ctx.purges[i], PurgeReply{ctx.purges[i].request_id, out.purged[i]});
    } else {
      reply_error(ctx.purges[i], out.purges[i]);
    }
  }
  // Children started, parents notified, targets of sent events.
  for (const auto& n : out.notified) mark_dirty(n.ns, n.instance_id);
  for (const auto& [l, due] : out.timers) timers_.emplace(due, key_of(l.ns, l.instance_id));
  for (std::size_t i = 0; i < out.task_results.size() && i < ctx.task_results.size(); ++i) {
    if (out.task_results[i]) {
      const TaskResultMeta& m = ctx.task_results[i];
      metrics_.activity_finished(m.ns, m.task_queue, m.failed);
    }
  }
  for (auto& row : out.retries) {
    if (row) dispatch_task(std::move(*row));
  }
  for (std::size_t i = 0; i < out.steps.size(); ++i) {
    const std::string& key = ctx.step_keys[i];
    auto it = instances_.find(key);
    if (it == instances_.end()) continue;
    Inst& in = it->second;
    // A step that scheduled one activity, with nothing else pending for the
    // instance, may have that activity's worker run the next step too.
    const bool eager = out.step_tasks[i].size() == 1 && out.steps[i].is_ok() && !in.dirty &&
                       in.held.empty();
    for (auto& t : out.step_tasks[i]) {
      if (!parked_in_db_ && held() < options_.max_held_activities) {
        dispatch_task(std::move(t), 0, eager);
      } else {
        // Memory is full, or older tasks wait already (first come, first
        // served): the task waits in PostgreSQL until fetched.
        next_.park_tasks.push_back(t.id);
        parked_in_db_ = true;
      }
    }
    if (in.more_after_step && !in.dirty) {
      // The step consumed a prefix of the inbox (up to a control event, or a
      // resume with events buffered behind it): plan the rest.
      in.dirty = true;
      dirty_keys_.push_back(key);
    }
    in.more_after_step = false;
    if (out.steps[i].is_ok() && i < ctx.steps.size()) {
      const StepMeta& m = ctx.steps[i];
      metrics_.step_committed(m.ns, m.name, m.status, m.started_ms, now_ms);
      for (const auto& child : m.child_names) metrics_.orchestration_started(m.ns, child);
      for (const auto& r : m.results) metrics_.activity_finished(r.ns, r.task_queue, r.failed);
    }
    if (!out.steps[i].is_ok()) {
      cache_.erase(key);
      // Someone else moved the instance on (e.g. a stale duplicate step): reload.
      spdlog::info("{}", out.steps[i].message());
      if (!in.dirty) {
        in.dirty = true;
        dirty_keys_.push_back(key);
      }
    }
    if (!in.load_queued) {
      in.state = Inst::State::kIdle;
      release_held(key, in);
      maybe_forget(key);
    }
  }
  for (auto& row : out.redispatches) {
    if (row) dispatch_task(std::move(*row));
  }
  if (ctx.fetch) {
    fetch_queued_ = false;
    for (auto& t : out.fetched) {
      const int64_t since = t.visible_at_ms;
      dispatch_task(std::move(t), since);
    }
    parked_in_db_ = out.parked_left > 0;
    // Parked tasks that are not due yet (retry delays) are polled for.
    next_fetch_ms_ = steady() + (out.fetched.empty() ? kParkedPollMs.count() : 0);
  }
  for (std::size_t i = 0; i < out.loads.size(); ++i) {
    const std::string& key = ctx.load_keys[i];
    auto it = instances_.find(key);
    if (it == instances_.end()) continue;
    Inst& in = it->second;
    in.load_queued = false;
    LoadedInstance& l = out.loads[i];
    const LoadOp ref = split_key(key);
    if (l.found) notify_waiters_with(key, l.status);
    SharedPast past = cache_.put(key, l);
    apply_plan(key, in, plan_step(ref.ns, ref.instance_id, l, now_ms, 0, past), l, *past);
  }
  for (std::size_t i = 0; i < out.describes.size(); ++i) {
    const DescribeCtx& d = ctx.describes[i];
    const auto& info = out.describes[i];
    const std::string key = info ? key_of(info->ns, info->instance_id) : std::string();
    switch (d.kind) {
      case DescribeCtx::Kind::kDescribe:
        if (info) {
          reply_instance(d.waiter.who, *info);
        } else {
          reply_error(d.waiter.who, not_found("no orchestration instance with that id"));
        }
        break;
      case DescribeCtx::Kind::kWait:
        if (!info) {
          reply_error(d.waiter.who, not_found("no orchestration instance with that id"));
        } else if (satisfies(d.waiter, info->status)) {
          reply_instance(d.waiter.who, *info);
        } else {
          waiters_[key].push_back(d.waiter);
        }
        break;
      case DescribeCtx::Kind::kNotifyWaiters:
        if (!info) break;
        if (auto w = waiters_.find(key); w != waiters_.end()) {
          auto& list = w->second;
          list.erase(std::remove_if(list.begin(), list.end(),
                                    [&](const Waiter& waiter) {
                                      if (!satisfies(waiter, info->status)) return false;
                                      reply_instance(waiter.who, *info);
                                      return true;
                                    }),
                     list.end());
          if (list.empty()) waiters_.erase(w);
        }
        break;
    }
  }
  // Waiters that arrived while their instance's step was on its way to the
  // committer (the step's batch could not include a describe for them).
  for (std::size_t i = 0; i < out.steps.size() && i < ctx.steps.size(); ++i) {
    if (out.steps[i].is_ok()) notify_waiters_with(ctx.step_keys[i], ctx.steps[i].status);
  }
}

void Service::Loop::apply_plan(const std::string& key, Inst& in, StepPlan plan,
                               const LoadedInstance& loaded, const PastEvents& past) {
  in.more_after_step = plan.leaves_events;
  switch (plan.kind) {
    case StepPlan::Kind::kNothing:
      in.state = Inst::State::kIdle;
      maybe_forget(key);
      return;
    case StepPlan::Kind::kControl:
      // Suspend, resume or terminate: the scheduler commits it alone.
      {
        std::vector<HistoryEvent> inbox;
        for (const auto& e : loaded.inbox) inbox.push_back(e.event);
        next_ctx_.steps.push_back(StepMeta{plan.control.ns, loaded.name, plan.control.status,
                                           execution_started_ms(past, inbox), {}, {}});
      }
      cache_.erase(key);
      notify_waiters_with(key, plan.control.status);
      next_.steps.push_back(std::move(plan.control));
      next_ctx_.step_keys.push_back(key);
      in.state = Inst::State::kBusy;
      in.step_in_next = true;
      return;
    case StepPlan::Kind::kWorker:
      in.step = std::make_unique<DispatchedStep>(std::move(plan.step));
      dispatch_step(key, in);
      return;
  }
}

bool Service::Loop::try_start_with_first_step(StartOp& op, StartCtx& ctx) {
  // Only a plain new instance this scheduler knows nothing of, to run now;
  // the other starts need the database's answer first.
  const std::string key = key_of(op.ns, op.instance_id);
  if (options_.first_step_wait.count() <= 0 || !serving_ ||
      op.id_reuse_policy != IdReusePolicy::kReject || op.start_at_ms > op.now_ms ||
      instances_.count(key) > 0) {
    return false;
  }
  LoadedInstance fresh;
  fresh.found = true;
  fresh.name = op.name;
  fresh.task_queue = op.task_queue;
  fresh.inbox.push_back(InboxEvent{0, execution_started_of(op)});  // 0: never in the inbox
  StepPlan plan = plan_step(op.ns, op.instance_id, fresh, op.now_ms, 0);
  if (plan.kind != StepPlan::Kind::kWorker) return false;
  Inst& in = inst(key);
  in.early_start = std::make_unique<EarlyStart>(EarlyStart{std::move(op), std::move(ctx)});
  const SharedPast past = cache_.put(key, fresh);
  plan.step.past = past;  // the step shares the cache's (empty) history
  apply_plan(key, in, std::move(plan), fresh, *past);
  early_starts_.emplace_back(steady() + options_.first_step_wait.count(), key);
  return true;
}

void Service::Loop::expire_early_starts() {
  const int64_t now = steady();
  while (!early_starts_.empty() && early_starts_.front().first <= now) {
    const std::string key = std::move(early_starts_.front().second);
    early_starts_.pop_front();
    auto it = instances_.find(key);
    if (it == instances_.end() || !it->second.early_start) continue;  // its step came back
    // No answer in time (no worker for its task queue, or all busy): the
    // start is committed alone, and the instance loaded and run as usual.
    // The early step's result, if it comes, is stale.
    Inst& in = it->second;
    EarlyStart early = std::move(*in.early_start);
    in.early_start.reset();
    steps_.erase(in.work_id);
    in.step.reset();
    in.state = Inst::State::kIdle;
    queue_start(std::move(early.op), std::move(early.ctx));
  }
}

void Service::Loop::queue_start(StartOp op, StartCtx ctx) {
  mark_dirty(op.ns, op.instance_id);  // loaded in the start's own batch
  cache_.erase(key_of(op.ns, op.instance_id));  // an id reused by a new execution
  next_ctx_.starts.push_back(std::move(ctx));
  next_.starts.push_back(std::move(op));
}

void Service::Loop::reset_after_failure(const Status& why) {
  spdlog::error("batch failed ({}); dropping in-memory state and recovering from PostgreSQL",
                why.message());
  for (const auto& s : next_ctx_.starts) reply_error(s.who, why);
  for (const auto& [key, in] : instances_) {
    if (in.early_start) reply_error(in.early_start->ctx.who, why);
  }
  early_starts_.clear();
  for (const auto& c : next_ctx_.inbox) reply_error(c.who, why);
  for (const auto& who : next_ctx_.histories) reply_error(who, why);
  for (const auto& who : next_ctx_.verifies) reply_error(who, why);
  for (const auto& who : next_ctx_.lists) reply_error(who, why);
  for (const auto& who : next_ctx_.purges) reply_error(who, why);
  for (const auto& d : next_ctx_.describes) {
    if (d.kind != DescribeCtx::Kind::kNotifyWaiters) reply_error(d.waiter.who, why);
  }
  next_ = Batch{};
  next_ctx_ = BatchCtx{};
  dirty_keys_.clear();
  instances_.clear();
  cache_.clear();
  activities_.clear();
  steps_.clear();
  outbox_ = DispatchBatch{};
  timers_ = {};
  quiet_due_ = {};
  delayed_tasks_ = {};
  delayed_rows_.clear();
  fetch_queued_ = false;
  set_serving(false, "recovering from PostgreSQL after a failed batch");
  recovery_pending_ = true;
  recover_at_ms_ = steady();
}

// ---------------------------------------------------------------- service

Service::Service(ServiceOptions options) : options_(std::move(options)) {}
Service::~Service() = default;

Status Service::run() {
  Loop loop(options_, stop_);
  return loop.run();
}

}  // namespace baton::scheduler
