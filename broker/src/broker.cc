#include "broker/src/broker.h"

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "baton/metrics.h"
#include "baton/wire.h"

namespace baton::broker {
namespace {

// Messages handled per poll wakeup before timers are checked again.
constexpr int kMaxMessagesPerWake = 512;
// Rate limit of repetitive warnings (malformed input, dropped results).
constexpr std::chrono::milliseconds kLogWindowMs{1000};
constexpr int kLogBurstPerWindow = 5;
// How long a stop() wakeup may wait for the loop to read it.
constexpr std::chrono::milliseconds kStopLingerMs{1000};
// How long the ROUTER may hold the BrokerGoodbyes (and the last flushed
// results) when the broker exits: long enough to hand them to live peers,
// short enough that a stalled peer does not hold up the exit.
constexpr std::chrono::milliseconds kGoodbyeLingerMs{500};
// Outbound queue per peer inside ZeroMQ before a send reports EAGAIN.
constexpr int kRouterSendHwm = 100000;
// A worker declared dead is remembered this long (and at most kMaxTombstones
// of them), so that it can resume if it was only stalled or cut off.
constexpr std::chrono::milliseconds kTombstoneTtlMs{10 * 60 * 1000};
constexpr std::size_t kMaxTombstones = 10000;
// Upper bound of a worker's credits per kind (guards against overflow).
constexpr int64_t kMaxCredits = int64_t{1} << 30;
// A ResultBatch to the scheduler is sent once its results reach this size,
// whatever their number.
constexpr std::size_t kMaxResultBatchBytes = 1u << 20;

enum class Kind : uint8_t { kActivity = 0, kOrchestration = 1 };
constexpr std::array<Kind, 2> kKinds = {Kind::kActivity, Kind::kOrchestration};

constexpr std::size_t idx(Kind k) { return static_cast<std::size_t>(k); }
constexpr const char* kind_name(Kind k) {
  return k == Kind::kActivity ? "activity" : "orchestration";
}
constexpr MsgType task_type(Kind k) {
  return k == Kind::kActivity ? MsgType::kActivityTask : MsgType::kOrchestrationTask;
}
constexpr MsgType result_type(Kind k) {
  return k == Kind::kActivity ? MsgType::kActivityResult : MsgType::kOrchestrationResult;
}

using SteadyClock = std::chrono::steady_clock;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string default_broker_id() {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  std::string name = host[0] != '\0' ? host.data() : "unknown";
  return "broker-" + name + "-" + std::to_string(::getpid());
}

// Routing ids are binary when ZeroMQ generates them; print those as hex.
std::string printable(std::string_view identity) {
  const bool text = !identity.empty() && std::all_of(identity.begin(), identity.end(),
                                                     [](char c) { return c >= 0x20 && c < 0x7f; });
  if (text) return std::string(identity);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  for (unsigned char c : identity) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

std::string_view or_default(std::string_view v, std::string_view fallback) {
  return v.empty() ? fallback : v;
}

// " (N similar messages suppressed)" when N > 0.
std::string suppressed_note(uint64_t n) {
  return n == 0 ? std::string() : fmt::format(" ({} similar messages suppressed)", n);
}

int32_t clamp_credits(int64_t v) {
  return static_cast<int32_t>(std::clamp<int64_t>(v, 0, kMaxCredits));
}

// Lets a burst of messages through per window and counts the rest.
// Thread-safety: none; owned by the loop thread.
class LogLimiter {
 public:
  // True when the caller may log now; `suppressed` gets the number of
  // messages skipped since the last one allowed.
  bool allow(int64_t now_ms, uint64_t& suppressed) {
    if (now_ms - window_start_ms_ >= kLogWindowMs.count()) {
      window_start_ms_ = now_ms;
      in_window_ = 0;
    }
    if (in_window_ >= kLogBurstPerWindow) {
      ++suppressed_;
      return false;
    }
    ++in_window_;
    suppressed = std::exchange(suppressed_, 0);
    return true;
  }

 private:
  int64_t window_start_ms_ = 0;
  int in_window_ = 0;
  uint64_t suppressed_ = 0;
};

struct QueueKey {
  std::string ns;
  std::string task_queue;
  Kind kind;
};
struct QueueKeyView {
  std::string_view ns;
  std::string_view task_queue;
  Kind kind;
};
template <class K>
std::tuple<std::string_view, std::string_view, Kind> key_tuple(const K& k) {
  return {k.ns, k.task_queue, k.kind};
}
// (namespace, task queue) without a kind.
using TaskQueueKey = std::pair<std::string, std::string>;
// Transparent, so lookups by QueueKeyView do not allocate.
struct QueueKeyLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return key_tuple(a) < key_tuple(b);
  }
};

}  // namespace

// The loop state. Everything except `counters_`, `stop_requested_` and the
// immutable identity fields is touched by the loop thread only.
class Broker::Impl {
 public:
  explicit Impl(BrokerOptions options);
  ~Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status bind();
  Status run();
  void stop();
  BrokerStats stats() const;

  const std::string& id() const { return id_; }
  uint64_t incarnation() const { return incarnation_; }
  const std::string& endpoint() const { return endpoint_; }

  // Starts the HTTP metrics server if options_.metrics_address is set.
  Status serve_metrics();
  const metrics::Metrics& metrics() const { return metrics_; }
  int metrics_port() const;

 private:
  // The metrics of one (ns, task_queue, kind), kept for the broker's
  // lifetime (so a gauge is set back to 0 when its queue goes away); their
  // number is bounded by the queues schedulers dispatch to and workers serve.
  struct QueueStats {
    prometheus::Gauge* depth = nullptr;
    prometheus::Histogram* wait = nullptr;
    prometheus::Counter* dispatched = nullptr;
    prometheus::Counter* sticky = nullptr;  // orchestration queues only
    prometheus::Gauge* credits_free = nullptr;
    prometheus::Gauge* credits_used = nullptr;
    int64_t in_flight = 0;  // items from this queue at workers (credits used)
    int64_t free = 0;       // scratch of publish_metrics()
  };
  using QueueStatsMap = std::map<QueueKey, QueueStats, QueueKeyLess>;
  // The workers gauge of one (ns, task_queue); kept like QueueStats.
  struct TaskQueueStats {
    prometheus::Gauge* workers = nullptr;
    int64_t count = 0;  // scratch of publish_metrics()
  };
  // Who sent a malformed message (the `peer` label).
  enum class Peer : uint8_t { kScheduler = 0, kWorker = 1, kUnknown = 2 };
  // Why work is reported lost (the `reason` label of work_lost_total).
  enum class LostReason : uint8_t { kWorkerDead = 0, kQueueFull = 1, kNoScheduler = 2 };
  // Where a DispatchBatch or ResultBatch went (the `link` label of
  // baton_broker_batches_total).
  enum class BatchLink : uint8_t { kToWorker = 0, kFromWorker = 1, kToScheduler = 2 };
  // Handles of the label-free and fixed-label metrics, resolved once.
  struct MetricHandles {
    explicit MetricHandles(metrics::Metrics& m);
    std::array<prometheus::Counter*, 2> results;       // by Kind
    std::array<prometheus::Counter*, 3> work_lost;     // by LostReason
    std::array<prometheus::Counter*, 3> workers_lost;  // heartbeat, restarted, disconnect
    std::array<prometheus::Counter*, 3> malformed;     // by Peer
    std::array<prometheus::Counter*, 3> batches;       // by BatchLink
    prometheus::Counter* heartbeat_misses;
    prometheus::Gauge* scheduler_connected;
  };

  struct QueuedItem {
    uint64_t work_id = 0;
    std::string body;  // the encoded ActivityTask / OrchestrationTask
    SteadyClock::time_point enqueued;
  };
  struct InFlight {
    uint64_t handle = 0;          // the worker holding it
    QueueStats* stats = nullptr;  // of the queue it came from
  };
  struct Queue {
    Kind kind = Kind::kActivity;
    QueueStats* stats = nullptr;
    std::string label;  // "ns/task_queue (kind)" for logs
    std::deque<QueuedItem> items;
    // Items of this queue waiting in workers' sticky queues: they count in
    // its depth and bound, and keep it from being collected.
    std::size_t sticky_waiting = 0;
    std::vector<uint64_t> servers;  // handles of workers serving this queue
    std::size_t next_server = 0;    // round-robin cursor
  };
  using QueueMap = std::map<QueueKey, Queue, QueueKeyLess>;
  // A step waiting for its sticky worker's credit, or an activity routed to
  // its sticky worker and sent once the DispatchBatch is routed.
  struct StickyItem {
    Queue* queue = nullptr;  // the shared queue it belongs to (and returns to)
    QueuedItem item;
  };

  struct Worker {
    uint64_t handle = 0;
    std::string identity;
    std::string worker_id;
    uint64_t incarnation = 0;
    std::string ns;
    std::vector<std::string> task_queues;  // normalized, sorted, unique
    std::array<int32_t, 2> credits{};      // by Kind
    std::unordered_set<uint64_t> in_flight;
    // Items sent to it by sticky_worker, FIFO by Kind; served before the
    // shared queues. Steps wait here while it lacks orchestration credit (or
    // is blocked); activities only until the end of their DispatchBatch.
    // Emptied into the shared queues when it leaves or dies.
    std::array<std::deque<StickyItem>, 2> sticky;
    int64_t last_seen_ms = 0;
    bool draining = false;  // sent WorkerDisconnect: no new work
    bool blocked = false;   // its pipe was full (EAGAIN) since the last tick
    bool task_batches = false;  // takes DispatchBatch (WorkerReady.task_batches)
  };

  // Results in a scheduler-bound message, by Kind.
  using ResultCount = std::array<uint32_t, 2>;
  static ResultCount one_result(Kind kind) {
    ResultCount n{};
    n[idx(kind)] = 1;
    return n;
  }
  struct Pending {
    MsgType type;
    std::string body;
    ResultCount results{};
  };
  // An item on its way to a worker: the queue it is accounted to.
  struct Outbound {
    Queue* queue = nullptr;
    const QueuedItem* item = nullptr;
  };

  // Why a worker is forgotten.
  enum class Fate : uint8_t {
    kDrained,      // left cleanly: nothing is lost
    kRestarted,    // same routing id, new process: its work is lost
    kDead,         // silent: its work is lost; it may come back
    kUnreachable,  // a send to it failed (its connection is gone): like kDead
  };

  // What is kept of a dead worker: everything but its in-flight set (reported
  // lost), so that it can be revived with exact credits (see revive()).
  struct Tombstone {
    Worker worker;
    int64_t died_ms = 0;
  };

  struct Counters {
    std::atomic<uint64_t> messages_received{0};
    std::atomic<uint64_t> malformed_dropped{0};
    std::atomic<uint64_t> unexpected_dropped{0};
    std::atomic<uint64_t> items_received{0};
    std::atomic<uint64_t> items_dispatched{0};
    std::atomic<uint64_t> sticky_dispatched{0};
    std::atomic<uint64_t> results_forwarded{0};
    std::atomic<uint64_t> task_batches_sent{0};
    std::atomic<uint64_t> result_batches_received{0};
    std::atomic<uint64_t> result_batches_forwarded{0};
    std::atomic<uint64_t> activity_heartbeats_forwarded{0};
    std::atomic<uint64_t> pending_dropped{0};
    std::atomic<uint64_t> work_lost{0};
    std::atomic<uint64_t> workers_dead{0};
    std::atomic<uint64_t> unknown_peer_replies{0};
    std::atomic<uint64_t> items_queued{0};
    std::atomic<uint64_t> items_in_flight{0};
    std::atomic<uint64_t> pending_results{0};
    std::atomic<uint64_t> workers{0};
    std::atomic<uint64_t> workers_draining{0};
    std::atomic<bool> scheduler_connected{false};
  };

  static void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }

  // Input.
  void receive_all();
  void handle(wire::Received& m);
  template <class T>
  std::optional<T> decode(const wire::Received& m);
  void on_scheduler_hello(const wire::Received& m);
  void on_dispatch_batch(const wire::Received& m);
  void on_worker_ready(const wire::Received& m);
  void on_credit(const wire::Received& m, Worker* w);
  template <class T>
  void on_result(const wire::Received& m, Worker* w, Kind kind);
  void on_result_batch(const wire::Received& m, Worker* w);
  // A valid result from `w` (nullptr: an unknown sender): completes its
  // item and forwards `body`. True when `w` gets the credit back.
  bool accept_result(Worker* w, Kind kind, uint64_t work_id, std::string_view body);
  void on_activity_heartbeat(const wire::Received& m);
  void on_worker_disconnect(const wire::Received& m, Worker* w);
  void on_heartbeat(const wire::Received& m, Worker* w);
  // `type`: the message type when the frames were valid but the body not.
  void malformed(std::string_view identity, std::string_view why,
                 std::optional<MsgType> type = std::nullopt);
  Peer classify(std::string_view identity, std::optional<MsgType> type) const;

  // Queues and workers.
  Worker* find_worker(const std::string& identity);
  Queue& queue_for(std::string_view ns, std::string_view task_queue, Kind kind);
  QueueStats& stats_for(std::string_view ns, std::string_view task_queue, Kind kind);
  void track_in_flight(uint64_t work_id, uint64_t handle, QueueStats* stats);
  void untrack_in_flight(std::unordered_map<uint64_t, InFlight>::iterator it);
  template <class Item>
  void enqueue(Kind kind, const Item& item, std::map<Queue*, std::vector<uint64_t>>& full,
               std::vector<Queue*>& touched, SteadyClock::time_point now);
  // Routes an item with a sticky_worker to that worker (into its sticky
  // queue; a step also when its credits do not cover it now, or reported
  // full): true. False when the worker is not eligible (unknown, draining, other ns
  // or queue, unreachable; for an activity also blocked or without a free
  // activity credit): the shared queue takes it.
  template <class Item>
  bool route_sticky(Kind kind, const Item& item, std::map<Queue*, std::vector<uint64_t>>& full,
                    SteadyClock::time_point now);
  // How many of `waiting` items of `kind` go to `w` in one message: its fair
  // share among `servers` workers, within its credits and max_batch; 1 for a
  // worker that takes no DispatchBatch.
  std::size_t batch_size(const Worker& w, Kind kind, std::size_t waiting,
                         std::size_t servers) const;
  void serve(Worker& w);
  void unserve(Worker& w);
  void drain(Queue& q);
  // Sends `w` its sticky items while it has credit for them; the activities
  // it cannot take now (blocked) go to the shared queues. False if `w` was
  // forgotten (unreachable) meanwhile: `w` is then invalid.
  bool drain_sticky(Worker& w);
  bool drain_sticky(Worker& w, Kind kind);
  // Sends `items` of `kind` (from a shared queue or a worker's sticky queue;
  // `sticky` counts steps as such) to `w` in one message: the item's own for
  // one, a DispatchBatch for more. kSent: `w` holds them now. kBlocked:
  // `w`'s pipe is full; it is skipped until the next tick. kGone: `w` was
  // unreachable and is forgotten (invalid now).
  enum class Send { kSent, kBlocked, kGone };
  Send send_items(Worker& w, Kind kind, const std::vector<Outbound>& items, bool sticky,
                  SteadyClock::time_point now);
  void set_depth(const Queue& q);
  // Moves `w`'s sticky items (of both kinds, or of `kind`) to the front of
  // their shared queues, in order (all of them, or only those of queues it no
  // longer serves), and marks those queues for drain_requeued().
  void requeue_sticky(Worker& w, bool keep_served);
  void requeue_sticky(Worker& w, Kind kind, bool keep_served);
  // Drains the queues requeue_sticky() refilled. Called where no drain() is
  // running: after each message and in tick().
  void drain_requeued();
  void drain_for(uint64_t handle);
  void drain_all();
  Worker* pick(Queue& q);
  void complete(uint64_t work_id);
  // Forgets `w` (invalidated). Unless it drained, its in-flight work ids go to
  // the scheduler in a WorkLost with `reason`; a dead one leaves a Tombstone.
  void forget_worker(Worker& w, Fate fate, std::string reason = {});
  // A message from the routing id of a dead worker: revives it (returned) if
  // the message shows the same process is still there, else drops the
  // tombstone (nullptr).
  Worker* revive(const wire::Received& m);
  void expire_tombstones(int64_t now);
  void gc_queues();

  // Output.
  void tick(int64_t now);
  void send_heartbeat(std::string_view identity);
  void reply_unknown(std::string_view identity);
  void report_lost(std::vector<uint64_t> work_ids, std::string reason, LostReason why);
  void forward_to_scheduler(MsgType type, std::string_view body, ResultCount results = {});
  bool send_to_scheduler(MsgType type, std::string_view body);
  void count_forwarded(MsgType type, ResultCount results);
  // A batch message sent or received: BrokerStats and baton_broker_batches_total.
  void count_batch(BatchLink link);
  // A result for the scheduler: into the ResultBatch being gathered when the
  // scheduler takes them, else forwarded at once.
  void forward_result(Kind kind, std::string_view body);
  // Sends the gathered ResultBatch (a lone result as itself). Called at the
  // end of every burst of input and before any other scheduler-bound message.
  void flush_results();
  // Sends a buffered ResultBatch to a scheduler that takes none: one message
  // per result. False if the scheduler stopped taking messages midway (the
  // results not yet sent stay buffered).
  bool send_batch_unbatched(Pending& p);
  void flush_pending();
  // On stop(): a last flush, then BrokerGoodbye to the scheduler and every
  // known worker (never blocking), with a bounded linger for the exit.
  void say_goodbye();
  void publish_gauges();
  // The gauges derived from every worker (workers, credits): once per tick.
  void publish_metrics();

  const BrokerOptions options_;
  const std::string id_;
  const uint64_t incarnation_;
  const std::string control_endpoint_;
  const std::string heartbeat_body_;
  std::unique_ptr<zmq::context_t> owned_context_;  // null when shared
  zmq::context_t* const context_;
  std::unique_ptr<security::ZapHandler> zap_;  // before router_: outlives it
  zmq::socket_t router_;
  zmq::socket_t control_;
  std::string endpoint_;  // written by bind() before any other thread sees it

  std::atomic<bool> stop_requested_{false};
  Counters counters_;
  // Thread-safe (prometheus-cpp); updated by the loop thread.
  metrics::Metrics metrics_{"broker"};
  MetricHandles handles_{metrics_};
  std::unique_ptr<metrics::MetricsServer> metrics_server_;  // after metrics_: stops first

  // Loop-thread state.
  int64_t now_ms_ = 0;  // time of the current wakeup
  QueueMap queues_;
  uint64_t queued_total_ = 0;
  std::unordered_map<uint64_t, Worker> workers_;           // by handle
  std::unordered_map<std::string, uint64_t> by_identity_;  // routing id -> handle
  std::unordered_map<uint64_t, InFlight> in_flight_;       // by work id
  std::unordered_map<std::string, Tombstone> tombstones_;  // by routing id
  std::vector<Queue*> requeued_;                           // see drain_requeued()
  std::vector<uint64_t> sticky_touched_;  // workers given sticky items (on_dispatch_batch)
  std::vector<Outbound> outbound_;        // scratch of drain() and drain_sticky()
  QueueStatsMap queue_stats_;
  std::map<TaskQueueKey, TaskQueueStats> task_queue_stats_;
  int64_t last_tick_ms_ = 0;
  uint64_t next_handle_ = 1;
  uint64_t draining_total_ = 0;
  bool any_blocked_ = false;
  std::string scheduler_identity_;  // empty until a SchedulerHello
  int64_t scheduler_epoch_ = 0;     // the highest lease epoch a hello carried
  std::string scheduler_id_;
  bool scheduler_reachable_ = false;
  bool scheduler_batches_ = false;  // the scheduler takes ResultBatch
  std::deque<Pending> pending_;
  ResultBatch gathered_;  // results for the scheduler, sent by flush_results()
  std::size_t gathered_bytes_ = 0;
  msgpack::sbuffer pack_buf_;
  msgpack::sbuffer batch_buf_;  // a DispatchBatch to a worker
  LogLimiter malformed_log_;
  LogLimiter dropped_log_;
};

namespace {
std::string control_endpoint_for(uint64_t incarnation) {
  static std::atomic<uint64_t> counter{0};
  return "inproc://baton-broker-control-" + std::to_string(incarnation) + "-" +
         std::to_string(counter.fetch_add(1));
}
}  // namespace

Broker::Impl::Impl(BrokerOptions options)
    : options_(std::move(options)),
      id_(options_.broker_id.empty() ? default_broker_id() : options_.broker_id),
      incarnation_(random_u64()),
      control_endpoint_(control_endpoint_for(incarnation_)),
      heartbeat_body_(wire::encode(Heartbeat{id_, incarnation_, options_.max_batch > 1})),
      owned_context_(options_.context ? nullptr : std::make_unique<zmq::context_t>(1)),
      context_(options_.context ? options_.context : owned_context_.get()),
      router_(*context_, zmq::socket_type::router),
      control_(*context_, zmq::socket_type::pull) {}

Broker::Impl::MetricHandles::MetricHandles(metrics::Metrics& m)
    : results{&m.counter("baton_broker_results_total", {{"kind", kind_name(Kind::kActivity)}}),
              &m.counter("baton_broker_results_total",
                         {{"kind", kind_name(Kind::kOrchestration)}})},
      work_lost{&m.counter("baton_broker_work_lost_total", {{"reason", "worker_dead"}}),
                &m.counter("baton_broker_work_lost_total", {{"reason", "queue_full"}}),
                &m.counter("baton_broker_work_lost_total", {{"reason", "no_scheduler"}})},
      workers_lost{&m.counter("baton_broker_workers_lost_total", {{"reason", "heartbeat"}}),
                   &m.counter("baton_broker_workers_lost_total", {{"reason", "restarted"}}),
                   &m.counter("baton_broker_workers_lost_total", {{"reason", "disconnect"}})},
      malformed{&m.counter("baton_malformed_frames_total", {{"peer", "scheduler"}}),
                &m.counter("baton_malformed_frames_total", {{"peer", "worker"}}),
                &m.counter("baton_malformed_frames_total", {{"peer", "unknown"}})},
      batches{&m.counter("baton_broker_batches_total", {{"link", "to_worker"}}),
              &m.counter("baton_broker_batches_total", {{"link", "from_worker"}}),
              &m.counter("baton_broker_batches_total", {{"link", "to_scheduler"}})},
      heartbeat_misses(&m.counter("baton_broker_heartbeat_misses_total")),
      scheduler_connected(&m.gauge("baton_broker_scheduler_connected")) {}

Status Broker::Impl::bind() {
  if (options_.auth.enabled()) {
    auto zap = security::ZapHandler::start(*context_, options_.auth);
    if (!zap) return zap.status();
    zap_ = std::move(zap).value();
  }
  try {
    security::apply_server(router_, options_.auth);
    router_.set(zmq::sockopt::router_mandatory, true);
    router_.set(zmq::sockopt::router_handover, true);
    router_.set(zmq::sockopt::linger, 0);
    router_.set(zmq::sockopt::sndhwm, kRouterSendHwm);
    router_.bind(options_.bind_address);
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
    control_.set(zmq::sockopt::linger, 0);
    control_.bind(control_endpoint_);
  } catch (const zmq::error_t& e) {
    return unavailable("cannot bind " + options_.bind_address + ": " + e.what());
  }
  // The broker needs nothing else to route: ready from here until stop().
  metrics_.set_ready(true);
  return Status::ok();
}

Status Broker::Impl::serve_metrics() {
  if (options_.metrics_address.empty()) return Status::ok();
  auto server = metrics::MetricsServer::start(options_.metrics_address, metrics_);
  if (!server) return server.status();
  metrics_server_ = std::move(server).value();
  spdlog::info("broker {}: metrics on http://{}:{}/metrics", id_,
               options_.metrics_address.substr(0, options_.metrics_address.rfind(':')),
               metrics_server_->port());
  return Status::ok();
}

int Broker::Impl::metrics_port() const { return metrics_server_ ? metrics_server_->port() : 0; }

Status Broker::Impl::run() {
  spdlog::info("broker {} (incarnation {:016x}) listening on {}", id_, incarnation_, endpoint_);
  std::array<zmq::pollitem_t, 2> items{};
  items[0] = {router_.handle(), 0, ZMQ_POLLIN, 0};
  items[1] = {control_.handle(), 0, ZMQ_POLLIN, 0};
  const int64_t interval = options_.heartbeat_interval.count();
  last_tick_ms_ = steady_ms();
  int64_t next_tick = last_tick_ms_ + interval;
  publish_metrics();
  try {
    while (!stop_requested_.load()) {
      now_ms_ = steady_ms();
      if (now_ms_ >= next_tick) {
        tick(now_ms_);
        next_tick = now_ms_ + interval;
        publish_gauges();
        publish_metrics();
      }
      const std::chrono::milliseconds timeout{std::max<int64_t>(0, next_tick - now_ms_)};
      try {
        zmq::poll(items.data(), items.size(), timeout);
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        throw;
      }
      if (items[1].revents & ZMQ_POLLIN) {
        zmq::message_t msg;
        while (control_.recv(msg, zmq::recv_flags::dontwait)) {
        }
      }
      if (items[0].revents & ZMQ_POLLIN) {
        now_ms_ = steady_ms();
        receive_all();
        publish_gauges();
      }
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == ETERM) {
      metrics_.set_ready(false, "context shut down");
      spdlog::info("broker {}: context shut down, stopping", id_);
      return Status::ok();
    }
    metrics_.set_ready(false, "loop failed");
    spdlog::error("broker {}: loop failed: {}", id_, e.what());
    return internal_error(std::string("broker loop failed: ") + e.what());
  }
  say_goodbye();
  const BrokerStats st = stats();
  spdlog::info(
      "broker {} stopped: {} items dispatched ({} DispatchBatch messages to workers), {} results "
      "forwarded ({} ResultBatch messages from workers, {} to the scheduler)",
      id_, st.items_dispatched, st.task_batches_sent, st.results_forwarded,
      st.result_batches_received, st.result_batches_forwarded);
  return Status::ok();
}

void Broker::Impl::stop() {
  stop_requested_.store(true);
  metrics_.set_ready(false, "stopping");
  try {
    zmq::socket_t wake(*context_, zmq::socket_type::push);
    wake.set(zmq::sockopt::linger, static_cast<int>(kStopLingerMs.count()));
    wake.connect(control_endpoint_);
    (void)wake.send(zmq::str_buffer("stop"), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    // The loop also checks stop_requested_ at least once per heartbeat interval.
  }
}

BrokerStats Broker::Impl::stats() const {
  constexpr auto r = std::memory_order_relaxed;
  BrokerStats s;
  s.messages_received = counters_.messages_received.load(r);
  s.malformed_dropped = counters_.malformed_dropped.load(r);
  s.unexpected_dropped = counters_.unexpected_dropped.load(r);
  s.items_received = counters_.items_received.load(r);
  s.items_dispatched = counters_.items_dispatched.load(r);
  s.sticky_dispatched = counters_.sticky_dispatched.load(r);
  s.results_forwarded = counters_.results_forwarded.load(r);
  s.task_batches_sent = counters_.task_batches_sent.load(r);
  s.result_batches_received = counters_.result_batches_received.load(r);
  s.result_batches_forwarded = counters_.result_batches_forwarded.load(r);
  s.activity_heartbeats_forwarded = counters_.activity_heartbeats_forwarded.load(r);
  s.pending_dropped = counters_.pending_dropped.load(r);
  s.work_lost = counters_.work_lost.load(r);
  s.workers_dead = counters_.workers_dead.load(r);
  s.unknown_peer_replies = counters_.unknown_peer_replies.load(r);
  s.items_queued = counters_.items_queued.load(r);
  s.items_in_flight = counters_.items_in_flight.load(r);
  s.pending_results = counters_.pending_results.load(r);
  s.workers = counters_.workers.load(r);
  s.workers_draining = counters_.workers_draining.load(r);
  s.scheduler_connected = counters_.scheduler_connected.load(r);
  return s;
}

void Broker::Impl::publish_gauges() {
  constexpr auto r = std::memory_order_relaxed;
  counters_.items_queued.store(queued_total_, r);
  counters_.items_in_flight.store(in_flight_.size(), r);
  counters_.pending_results.store(pending_.size(), r);
  counters_.workers.store(workers_.size(), r);
  counters_.workers_draining.store(draining_total_, r);
  const bool connected = !scheduler_identity_.empty() && scheduler_reachable_;
  counters_.scheduler_connected.store(connected, r);
  handles_.scheduler_connected->Set(connected ? 1 : 0);
}

void Broker::Impl::publish_metrics() {
  for (auto& [key, s] : queue_stats_) s.free = 0;
  for (auto& [key, t] : task_queue_stats_) t.count = 0;
  for (const auto& [handle, w] : workers_) {
    if (w.draining) continue;  // serves nothing any more
    for (const auto& tq : w.task_queues) {
      auto it = task_queue_stats_.find(TaskQueueKey{w.ns, tq});
      if (it == task_queue_stats_.end()) {
        TaskQueueStats t;
        t.workers =
            &metrics_.gauge("baton_broker_workers", {{"namespace", w.ns}, {"task_queue", tq}});
        it = task_queue_stats_.emplace(TaskQueueKey{w.ns, tq}, t).first;
      }
      ++it->second.count;
      for (Kind k : kKinds) stats_for(w.ns, tq, k).free += w.credits[idx(k)];
    }
  }
  for (auto& [key, s] : queue_stats_) {
    s.credits_free->Set(static_cast<double>(s.free));
    s.credits_used->Set(static_cast<double>(s.in_flight));
  }
  for (auto& [key, t] : task_queue_stats_) t.workers->Set(static_cast<double>(t.count));
}

// ------------------------------------------------------------------ input

void Broker::Impl::receive_all() {
  std::string identity;
  for (int i = 0; i < kMaxMessagesPerWake; ++i) {
    identity.clear();
    auto received = wire::recv(router_, /*router=*/true, &identity);
    if (!received) {
      if (received.status().code() == StatusCode::kUnavailable) break;
      bump(counters_.messages_received);
      malformed(identity, received.status().message());  // frames or header: type unknown
      continue;
    }
    bump(counters_.messages_received);
    handle(*received);
    if (!requeued_.empty()) drain_requeued();
  }
  // The results of this burst leave together.
  flush_results();
}

void Broker::Impl::handle(wire::Received& m) {
  Worker* w = find_worker(m.identity);
  if (w == nullptr && !tombstones_.empty()) w = revive(m);
  if (w != nullptr) {
    w->last_seen_ms = now_ms_;
  } else if (!scheduler_identity_.empty() && m.identity == scheduler_identity_ &&
             !scheduler_reachable_) {
    // The scheduler's connection is back (same routing id, handed over).
    spdlog::info("scheduler {} reachable again", scheduler_id_);
    scheduler_reachable_ = true;
    flush_pending();
  }
  switch (m.type) {
    case MsgType::kSchedulerHello:
      on_scheduler_hello(m);
      return;
    case MsgType::kDispatchBatch:
      on_dispatch_batch(m);
      return;
    case MsgType::kWorkerReady:
      on_worker_ready(m);
      return;
    case MsgType::kCredit:
      on_credit(m, w);
      return;
    case MsgType::kActivityResult:
      on_result<ActivityResult>(m, w, Kind::kActivity);
      return;
    case MsgType::kOrchestrationResult:
      on_result<OrchestrationResult>(m, w, Kind::kOrchestration);
      return;
    case MsgType::kResultBatch:
      on_result_batch(m, w);
      return;
    case MsgType::kActivityHeartbeat:
      on_activity_heartbeat(m);
      return;
    case MsgType::kWorkerDisconnect:
      on_worker_disconnect(m, w);
      return;
    case MsgType::kHeartbeat:
      on_heartbeat(m, w);
      return;
    default:
      break;
  }
  bump(counters_.unexpected_dropped);
  uint64_t suppressed = 0;
  if (malformed_log_.allow(now_ms_, suppressed)) {
    spdlog::warn("dropped {} from {}: not a broker-bound message{}", wire::msg_type_name(m.type),
                 printable(m.identity), suppressed_note(suppressed));
  }
}

template <class T>
std::optional<T> Broker::Impl::decode(const wire::Received& m) {
  auto r = wire::decode<T>(m.body_view());
  if (!r) {
    malformed(m.identity, std::string(wire::msg_type_name(T::kType)) + ": " + r.status().message(),
              T::kType);
    return std::nullopt;
  }
  return std::move(r).value();
}

void Broker::Impl::malformed(std::string_view identity, std::string_view why,
                             std::optional<MsgType> type) {
  bump(counters_.malformed_dropped);
  handles_.malformed[static_cast<std::size_t>(classify(identity, type))]->Increment();
  uint64_t suppressed = 0;
  if (malformed_log_.allow(now_ms_, suppressed)) {
    spdlog::warn("dropped malformed message from {}: {}{}", printable(identity), why,
                 suppressed_note(suppressed));
  }
}

// By routing id when it is known, else by what the message claims to be.
Broker::Impl::Peer Broker::Impl::classify(std::string_view identity,
                                          std::optional<MsgType> type) const {
  if (!scheduler_identity_.empty() && identity == scheduler_identity_) return Peer::kScheduler;
  const std::string id(identity);
  if (by_identity_.count(id) != 0 || tombstones_.count(id) != 0) return Peer::kWorker;
  if (!type) return Peer::kUnknown;
  switch (*type) {
    case MsgType::kSchedulerHello:
    case MsgType::kDispatchBatch:
      return Peer::kScheduler;
    case MsgType::kWorkerReady:
    case MsgType::kCredit:
    case MsgType::kActivityResult:
    case MsgType::kOrchestrationResult:
    case MsgType::kResultBatch:
    case MsgType::kActivityHeartbeat:
    case MsgType::kWorkerDisconnect:
      return Peer::kWorker;
    default:
      return Peer::kUnknown;
  }
}

void Broker::Impl::on_scheduler_hello(const wire::Received& m) {
  auto hello = decode<SchedulerHello>(m);
  if (!hello) return;
  if (hello->epoch < scheduler_epoch_ && m.identity != scheduler_identity_) {
    // A scheduler fenced out by a newer lease holder: it must not take the
    // route back (its results would be lost with it).
    spdlog::warn("ignoring scheduler {}: lease epoch {} is older than {}'s {}", hello->scheduler_id,
                 hello->epoch, scheduler_id_, scheduler_epoch_);
    reply_unknown(m.identity);
    return;
  }
  scheduler_epoch_ = std::max(scheduler_epoch_, hello->epoch);
  flush_results();  // gathered under the previous scheduler's terms
  if (m.identity != scheduler_identity_ || !scheduler_reachable_) {
    spdlog::info("scheduler {} (incarnation {:016x}) connected{}", hello->scheduler_id,
                 hello->incarnation,
                 scheduler_identity_.empty() || scheduler_identity_ == m.identity
                     ? ""
                     : fmt::format(", replacing {}", scheduler_id_));
  }
  scheduler_identity_ = m.identity;
  scheduler_id_ = std::move(hello->scheduler_id);
  scheduler_reachable_ = true;
  scheduler_batches_ = hello->result_batches && options_.max_batch > 1;
  send_heartbeat(m.identity);
  flush_pending();
}

template <class Item>
void Broker::Impl::enqueue(Kind kind, const Item& item,
                           std::map<Queue*, std::vector<uint64_t>>& full,
                           std::vector<Queue*>& touched, SteadyClock::time_point now) {
  if (!item.sticky_worker.empty() && route_sticky(kind, item, full, now)) return;
  Queue& q = queue_for(item.ns, item.task_queue, kind);
  if (q.items.size() + q.sticky_waiting >= options_.max_queue) {
    full[&q].push_back(item.work_id);
    return;
  }
  pack_buf_.clear();
  msgpack::pack(pack_buf_, item);
  q.items.push_back(QueuedItem{item.work_id, std::string(pack_buf_.data(), pack_buf_.size()), now});
  set_depth(q);
  ++queued_total_;
  if (touched.empty() || touched.back() != &q) touched.push_back(&q);
}

template <class Item>
bool Broker::Impl::route_sticky(Kind kind, const Item& item,
                                std::map<Queue*, std::vector<uint64_t>>& full,
                                SteadyClock::time_point now) {
  // Workers connect with their worker_id as routing id.
  Worker* w = find_worker(item.sticky_worker);
  if (w == nullptr || w->draining || w->worker_id != item.sticky_worker) return false;
  const std::string_view ns = or_default(item.ns, kDefaultNamespace);
  const std::string_view tq = or_default(item.task_queue, kDefaultTaskQueue);
  if (w->ns != ns ||
      !std::binary_search(w->task_queues.begin(), w->task_queues.end(), tq, std::less<>{})) {
    return false;
  }
  // Into its sticky queue; on_dispatch_batch() sends what its credits allow
  // once the whole batch is routed, several items to a message. An item its
  // credits cover goes out in this batch: it does not count against the bound.
  std::deque<StickyItem>& sticky = w->sticky[idx(kind)];
  const bool sent_now =
      !w->blocked && sticky.size() < static_cast<std::size_t>(std::max(0, w->credits[idx(kind)]));
  // An activity never waits for one worker: any worker takes it.
  if (!sent_now && kind == Kind::kActivity) return false;
  Queue& q = queue_for(ns, tq, kind);
  if (!sent_now && q.items.size() + q.sticky_waiting >= options_.max_queue) {
    full[&q].push_back(item.work_id);
    return true;
  }
  pack_buf_.clear();
  msgpack::pack(pack_buf_, item);
  std::string body(pack_buf_.data(), pack_buf_.size());
  sticky.push_back(StickyItem{&q, QueuedItem{item.work_id, std::move(body), now}});
  ++q.sticky_waiting;
  ++queued_total_;
  set_depth(q);
  sticky_touched_.push_back(w->handle);  // on_dispatch_batch() makes them unique
  return true;
}

void Broker::Impl::on_dispatch_batch(const wire::Received& m) {
  auto batch = decode<DispatchBatch>(m);
  if (!batch) return;
  // Items from a scheduler that has not said hello (to this incarnation) are
  // still routed; the reply tells it to say hello so results reach it.
  if (m.identity != scheduler_identity_) reply_unknown(m.identity);
  bump(counters_.items_received, batch->activities.size() + batch->orchestrations.size());
  std::map<Queue*, std::vector<uint64_t>> full;
  std::vector<Queue*> touched;
  const SteadyClock::time_point now = SteadyClock::now();
  sticky_touched_.clear();
  for (const auto& a : batch->activities) enqueue(Kind::kActivity, a, full, touched, now);
  for (const auto& o : batch->orchestrations) enqueue(Kind::kOrchestration, o, full, touched, now);
  // Items for their sticky workers first, as their credits allow.
  std::sort(sticky_touched_.begin(), sticky_touched_.end());
  sticky_touched_.erase(std::unique(sticky_touched_.begin(), sticky_touched_.end()),
                        sticky_touched_.end());
  for (uint64_t handle : sticky_touched_) {
    auto it = workers_.find(handle);  // an earlier one's send may have forgotten it
    if (it != workers_.end()) (void)drain_sticky(it->second);
  }
  for (auto& [q, ids] : full) {
    uint64_t suppressed = 0;
    if (dropped_log_.allow(now_ms_, suppressed)) {
      spdlog::warn("queue {} is full ({} items waiting): {} items reported lost{}", q->label,
                   options_.max_queue, ids.size(), suppressed_note(suppressed));
    }
    report_lost(std::move(ids),
                fmt::format("queue {} is full ({} items waiting)", q->label, options_.max_queue),
                LostReason::kQueueFull);
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (Queue* q : touched) drain(*q);
}

void Broker::Impl::on_worker_ready(const wire::Received& m) {
  auto ready = decode<WorkerReady>(m);
  if (!ready) return;
  Worker* w = find_worker(m.identity);
  if (w != nullptr && w->incarnation != ready->incarnation) {
    forget_worker(*w, Fate::kRestarted,
                  fmt::format("worker {} restarted (new incarnation)", w->worker_id));
    w = nullptr;
  }
  if (w == nullptr) {
    const uint64_t handle = next_handle_++;
    w = &workers_[handle];
    w->handle = handle;
    w->identity = m.identity;
    by_identity_[m.identity] = handle;
  } else {
    unserve(*w);  // its queues may have changed
  }
  w->worker_id = std::move(ready->worker_id);
  w->incarnation = ready->incarnation;
  w->ns = std::string(or_default(ready->ns, kDefaultNamespace));
  w->task_queues.clear();
  for (const auto& tq : ready->task_queues) {
    w->task_queues.emplace_back(or_default(tq, kDefaultTaskQueue));
  }
  if (w->task_queues.empty()) w->task_queues.emplace_back(kDefaultTaskQueue);
  std::sort(w->task_queues.begin(), w->task_queues.end());
  w->task_queues.erase(std::unique(w->task_queues.begin(), w->task_queues.end()),
                       w->task_queues.end());
  w->credits[idx(Kind::kActivity)] = clamp_credits(ready->activity_slots);
  w->credits[idx(Kind::kOrchestration)] = clamp_credits(ready->orchestration_slots);
  w->task_batches = ready->task_batches;
  if (w->draining) --draining_total_;  // back from a disconnect
  w->draining = false;
  w->blocked = false;
  w->last_seen_ms = now_ms_;
  spdlog::info("worker {} ready: ns={} queues=[{}] slots activity={} orchestration={} in-flight={}",
               w->worker_id, w->ns, fmt::join(w->task_queues, ","),
               w->credits[idx(Kind::kActivity)], w->credits[idx(Kind::kOrchestration)],
               w->in_flight.size());
  serve(*w);
  requeue_sticky(*w, /*keep_served=*/true);  // a resync may have dropped queues
  send_heartbeat(m.identity);
  drain_for(w->handle);
}

void Broker::Impl::on_credit(const wire::Received& m, Worker* w) {
  auto credit = decode<Credit>(m);
  if (!credit) return;
  if (w == nullptr) {
    reply_unknown(m.identity);
    return;
  }
  if (w->draining) return;
  for (Kind k : kKinds) {
    const int64_t add = k == Kind::kActivity ? credit->activity : credit->orchestration;
    w->credits[idx(k)] = clamp_credits(int64_t{w->credits[idx(k)]} + std::max<int64_t>(0, add));
  }
  drain_for(w->handle);
}

template <class T>
void Broker::Impl::on_result(const wire::Received& m, Worker* w, Kind kind) {
  // Decoded only to validate it and learn the work id; the scheduler gets the
  // original bytes.
  auto result = decode<T>(m);
  if (!result) return;
  if (accept_result(w, kind, result->work_id, m.body_view())) drain_for(w->handle);
}

void Broker::Impl::on_result_batch(const wire::Received& m, Worker* w) {
  auto batch = decode<ResultBatch>(m);
  if (!batch) return;
  count_batch(BatchLink::kFromWorker);
  // A draining sender may be forgotten by the completion of its last item.
  if (w != nullptr && w->draining) w = nullptr;
  bool credit_back = false;
  // Each result is checked like one that came alone; a bad one is dropped
  // (and counted) without its neighbours.
  const auto take = [&]<class T>(const std::vector<Bytes>& bodies, Kind kind) {
    for (const Bytes& body : bodies) {
      auto r = wire::decode<T>(body);
      if (!r) {
        malformed(m.identity,
                  fmt::format("ResultBatch: {}: {}", wire::msg_type_name(T::kType),
                              r.status().message()),
                  MsgType::kResultBatch);
        continue;
      }
      credit_back = accept_result(w, kind, r->work_id, body) || credit_back;
    }
  };
  take.template operator()<ActivityResult>(batch->activities, Kind::kActivity);
  take.template operator()<OrchestrationResult>(batch->orchestrations, Kind::kOrchestration);
  if (credit_back) drain_for(w->handle);
}

bool Broker::Impl::accept_result(Worker* w, Kind kind, uint64_t work_id, std::string_view body) {
  // Only draining workers are forgotten by complete(), so a non-draining
  // sender stays valid across it.
  const bool credit_back = w != nullptr && !w->draining;
  complete(work_id);
  forward_result(kind, body);
  if (credit_back) w->credits[idx(kind)] = clamp_credits(int64_t{w->credits[idx(kind)]} + 1);
  return credit_back;
}

// Forwarded byte for byte like a result, also from unknown senders (without a
// reply to them). Unlike a result it neither completes the item nor returns a
// credit: the activity still occupies its slot. Whether the work_id is still
// current is the scheduler's call. handle() already counted it as a sign of life.
void Broker::Impl::on_activity_heartbeat(const wire::Received& m) {
  if (!decode<ActivityHeartbeat>(m)) return;
  flush_results();  // a result gathered before it goes first
  forward_to_scheduler(m.type, m.body_view());
}

void Broker::Impl::on_worker_disconnect(const wire::Received& m, Worker* w) {
  auto bye = decode<WorkerDisconnect>(m);
  if (!bye) return;
  if (w == nullptr) {
    reply_unknown(m.identity);
    return;
  }
  spdlog::info("worker {} disconnecting with {} items in flight", w->worker_id,
               w->in_flight.size());
  unserve(*w);
  requeue_sticky(*w, /*keep_served=*/false);
  if (!w->draining) ++draining_total_;
  w->draining = true;
  w->credits = {};
  if (w->in_flight.empty()) forget_worker(*w, Fate::kDrained);
}

void Broker::Impl::on_heartbeat(const wire::Received& m, Worker* w) {
  auto hb = decode<Heartbeat>(m);
  if (!hb) return;
  if (w != nullptr) {
    if (hb->incarnation != w->incarnation) {
      forget_worker(*w, Fate::kRestarted,
                    fmt::format("worker {} restarted (heartbeat from incarnation {:016x})",
                                w->worker_id, hb->incarnation));
      reply_unknown(m.identity);
    }
    return;
  }
  if (!scheduler_identity_.empty() && m.identity == scheduler_identity_) return;
  reply_unknown(m.identity);
}

// ------------------------------------------------------- queues and workers

Broker::Impl::Worker* Broker::Impl::find_worker(const std::string& identity) {
  auto it = by_identity_.find(identity);
  if (it == by_identity_.end()) return nullptr;
  auto wit = workers_.find(it->second);
  return wit == workers_.end() ? nullptr : &wit->second;
}

Broker::Impl::Queue& Broker::Impl::queue_for(std::string_view ns, std::string_view task_queue,
                                             Kind kind) {
  ns = or_default(ns, kDefaultNamespace);
  task_queue = or_default(task_queue, kDefaultTaskQueue);
  auto it = queues_.find(QueueKeyView{ns, task_queue, kind});
  if (it == queues_.end()) {
    Queue q;
    q.kind = kind;
    q.stats = &stats_for(ns, task_queue, kind);
    q.label = fmt::format("{}/{} ({})", ns, task_queue, kind_name(kind));
    it = queues_.emplace(QueueKey{std::string(ns), std::string(task_queue), kind}, std::move(q))
             .first;
  }
  return it->second;
}

Broker::Impl::QueueStats& Broker::Impl::stats_for(std::string_view ns, std::string_view task_queue,
                                                  Kind kind) {
  auto it = queue_stats_.find(QueueKeyView{ns, task_queue, kind});
  if (it != queue_stats_.end()) return it->second;
  const metrics::Labels labels = {{"namespace", std::string(ns)},
                                  {"task_queue", std::string(task_queue)},
                                  {"kind", kind_name(kind)}};
  metrics::Labels free_labels = labels;
  free_labels["state"] = "free";
  metrics::Labels used_labels = labels;
  used_labels["state"] = "used";
  QueueStats s;
  s.depth = &metrics_.gauge("baton_broker_queue_depth", labels);
  s.wait = &metrics_.histogram("baton_broker_queue_wait_seconds", labels);
  s.dispatched = &metrics_.counter("baton_broker_dispatched_total", labels);
  if (kind == Kind::kOrchestration) {
    s.sticky = &metrics_.counter(
        "baton_broker_sticky_dispatched_total",
        {{"namespace", std::string(ns)}, {"task_queue", std::string(task_queue)}});
  }
  s.credits_free = &metrics_.gauge("baton_broker_credits", free_labels);
  s.credits_used = &metrics_.gauge("baton_broker_credits", used_labels);
  return queue_stats_.emplace(QueueKey{std::string(ns), std::string(task_queue), kind}, s)
      .first->second;
}

void Broker::Impl::track_in_flight(uint64_t work_id, uint64_t handle, QueueStats* stats) {
  auto [it, inserted] = in_flight_.try_emplace(work_id);
  if (!inserted) --it->second.stats->in_flight;  // dispatched again: the newest holder counts
  it->second = InFlight{handle, stats};
  ++stats->in_flight;
}

void Broker::Impl::untrack_in_flight(std::unordered_map<uint64_t, InFlight>::iterator it) {
  --it->second.stats->in_flight;
  in_flight_.erase(it);
}

void Broker::Impl::serve(Worker& w) {
  for (const auto& tq : w.task_queues) {
    for (Kind k : kKinds) queue_for(w.ns, tq, k).servers.push_back(w.handle);
  }
}

void Broker::Impl::unserve(Worker& w) {
  for (const auto& tq : w.task_queues) {
    for (Kind k : kKinds) {
      auto it = queues_.find(QueueKeyView{w.ns, tq, k});
      if (it == queues_.end()) continue;
      auto& servers = it->second.servers;
      servers.erase(std::remove(servers.begin(), servers.end(), w.handle), servers.end());
      if (it->second.next_server >= servers.size()) it->second.next_server = 0;
    }
  }
}

Broker::Impl::Worker* Broker::Impl::pick(Queue& q) {
  const std::size_t n = q.servers.size();
  const std::size_t k = idx(q.kind);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t at = (q.next_server + i) % n;
    auto it = workers_.find(q.servers[at]);
    if (it == workers_.end()) continue;
    Worker& w = it->second;
    if (w.credits[k] > 0 && !w.draining && !w.blocked) {
      q.next_server = (at + 1) % n;
      return &w;
    }
  }
  return nullptr;
}

std::size_t Broker::Impl::batch_size(const Worker& w, Kind kind, std::size_t waiting,
                                     std::size_t servers) const {
  if (!w.task_batches || options_.max_batch <= 1) return 1;
  const std::size_t share = (waiting + std::max<std::size_t>(servers, 1) - 1) /
                            std::max<std::size_t>(servers, 1);
  const auto credits = static_cast<std::size_t>(std::max(0, w.credits[idx(kind)]));
  return std::max<std::size_t>(1, std::min({share, credits, options_.max_batch}));
}

void Broker::Impl::drain(Queue& q) {
  const std::size_t queued_before = q.items.size();
  const SteadyClock::time_point now = SteadyClock::now();
  const std::size_t servers = q.servers.size();  // shares are of what waits now
  while (!q.items.empty()) {
    Worker* w = pick(q);
    if (w == nullptr) break;
    const std::size_t n =
        std::min(batch_size(*w, q.kind, queued_before, servers), q.items.size());
    outbound_.clear();
    for (std::size_t i = 0; i < n; ++i) outbound_.push_back(Outbound{&q, &q.items[i]});
    // Blocked or gone, the items stay first in line for another worker.
    if (send_items(*w, q.kind, outbound_, /*sticky=*/false, now) == Send::kSent) {
      q.items.erase(q.items.begin(), q.items.begin() + static_cast<std::ptrdiff_t>(n));
      queued_total_ -= n;
    }
  }
  if (q.items.size() != queued_before) set_depth(q);
}

bool Broker::Impl::drain_sticky(Worker& w) {
  for (Kind kind : kKinds) {
    if (!drain_sticky(w, kind)) return false;
  }
  // An activity never waits for its sticky worker: what it could not take
  // goes to the front of the shared queue.
  requeue_sticky(w, Kind::kActivity, /*keep_served=*/false);
  return true;
}

bool Broker::Impl::drain_sticky(Worker& w, Kind kind) {
  const std::size_t k = idx(kind);
  std::deque<StickyItem>& sticky = w.sticky[k];
  if (sticky.empty() || w.credits[k] <= 0 || w.blocked || w.draining) return true;
  const SteadyClock::time_point now = SteadyClock::now();
  while (!sticky.empty() && w.credits[k] > 0) {
    const std::size_t n = batch_size(w, kind, sticky.size(), 1);
    outbound_.clear();
    for (std::size_t i = 0; i < n; ++i) {
      outbound_.push_back(Outbound{sticky[i].queue, &sticky[i].item});
    }
    switch (send_items(w, kind, outbound_, /*sticky=*/true, now)) {
      case Send::kSent:
        for (std::size_t i = 0; i < n; ++i) {
          Queue& q = *sticky.front().queue;
          sticky.pop_front();
          --q.sticky_waiting;
          --queued_total_;
          set_depth(q);
        }
        break;
      case Send::kBlocked:
        return true;  // the next tick retries
      case Send::kGone:
        return false;  // its sticky items went to the shared queues (requeue_sticky)
    }
  }
  return true;
}

Broker::Impl::Send Broker::Impl::send_items(Worker& w, Kind kind,
                                            const std::vector<Outbound>& items, bool sticky,
                                            SteadyClock::time_point now) {
  bool sent = false;
  if (items.size() == 1) {
    sent = wire::send_raw(router_, w.identity, task_type(kind), items.front().item->body);
  } else {
    // A DispatchBatch of the items' own encodings: a map of one array.
    batch_buf_.clear();
    msgpack::packer<msgpack::sbuffer> pk(batch_buf_);
    const std::string_view key = kind == Kind::kActivity ? "activities" : "orchestrations";
    pk.pack_map(1);
    pk.pack_str(static_cast<uint32_t>(key.size()));
    pk.pack_str_body(key.data(), static_cast<uint32_t>(key.size()));
    pk.pack_array(static_cast<uint32_t>(items.size()));
    for (const Outbound& o : items) batch_buf_.write(o.item->body.data(), o.item->body.size());
    sent = wire::send_raw(router_, w.identity, MsgType::kDispatchBatch,
                          std::string_view(batch_buf_.data(), batch_buf_.size()));
    if (sent) count_batch(BatchLink::kToWorker);
  }
  if (sent) {
    for (const Outbound& o : items) {
      QueueStats& stats = *o.queue->stats;
      --w.credits[idx(kind)];
      w.in_flight.insert(o.item->work_id);
      track_in_flight(o.item->work_id, w.handle, &stats);
      stats.wait->Observe(std::chrono::duration<double>(now - o.item->enqueued).count());
      stats.dispatched->Increment();
      bump(counters_.items_dispatched);
      if (sticky && kind == Kind::kOrchestration) {  // the sticky metric counts steps only
        stats.sticky->Increment();
        bump(counters_.sticky_dispatched);
      }
    }
    return Send::kSent;
  }
  const int err = zmq_errno();
  if (err == EAGAIN) {
    w.blocked = true;
    any_blocked_ = true;
    return Send::kBlocked;
  }
  // Gone (ROUTER_MANDATORY: EHOSTUNREACH); the items it held are lost.
  forget_worker(
      w, Fate::kUnreachable,
      fmt::format("worker {} unreachable (send failed: {})", w.worker_id, zmq_strerror(err)));
  return Send::kGone;
}

void Broker::Impl::set_depth(const Queue& q) {
  q.stats->depth->Set(static_cast<double>(q.items.size() + q.sticky_waiting));
}

void Broker::Impl::requeue_sticky(Worker& w, bool keep_served) {
  for (Kind kind : kKinds) requeue_sticky(w, kind, keep_served);
}

void Broker::Impl::requeue_sticky(Worker& w, Kind kind, bool keep_served) {
  std::deque<StickyItem>& sticky = w.sticky[idx(kind)];
  if (sticky.empty()) return;
  std::deque<StickyItem> kept;
  // Backwards, so that pushing to the fronts keeps their order.
  for (auto it = sticky.rbegin(); it != sticky.rend(); ++it) {
    Queue& q = *it->queue;
    if (keep_served && std::find(q.servers.begin(), q.servers.end(), w.handle) != q.servers.end()) {
      kept.push_front(std::move(*it));
      continue;
    }
    --q.sticky_waiting;
    q.items.push_front(std::move(it->item));
    if (requeued_.empty() || requeued_.back() != &q) requeued_.push_back(&q);
  }
  sticky = std::move(kept);
}

void Broker::Impl::drain_requeued() {
  std::vector<Queue*> queues;
  while (!requeued_.empty()) {
    queues.clear();
    queues.swap(requeued_);
    std::sort(queues.begin(), queues.end());
    queues.erase(std::unique(queues.begin(), queues.end()), queues.end());
    for (Queue* q : queues) drain(*q);  // may forget workers: requeued_ grows again
  }
}

void Broker::Impl::drain_for(uint64_t handle) {
  auto it = workers_.find(handle);
  if (it == workers_.end()) return;
  if (!drain_sticky(it->second)) return;  // its own sticky items first
  const Worker& w = it->second;
  // Collect first: drain() may forget this worker.
  std::array<Queue*, 16> small{};
  std::vector<Queue*> many;
  std::size_t n = 0;
  for (const auto& tq : w.task_queues) {
    for (Kind k : kKinds) {
      if (w.credits[idx(k)] <= 0) continue;
      auto qit = queues_.find(QueueKeyView{w.ns, tq, k});
      if (qit == queues_.end() || qit->second.items.empty()) continue;
      if (n < small.size()) {
        small[n++] = &qit->second;
      } else {
        many.push_back(&qit->second);
      }
    }
  }
  for (std::size_t i = 0; i < n; ++i) drain(*small[i]);
  for (Queue* q : many) drain(*q);
}

void Broker::Impl::drain_all() {
  for (auto& [key, q] : queues_) {
    if (!q.items.empty()) drain(q);
  }
}

void Broker::Impl::complete(uint64_t work_id) {
  auto it = in_flight_.find(work_id);
  if (it == in_flight_.end()) return;  // dispatched by an earlier broker, or already lost
  auto wit = workers_.find(it->second.handle);
  untrack_in_flight(it);
  if (wit == workers_.end()) return;
  Worker& owner = wit->second;
  owner.in_flight.erase(work_id);
  if (owner.draining && owner.in_flight.empty()) {
    spdlog::info("worker {} drained", owner.worker_id);
    forget_worker(owner, Fate::kDrained);
  }
}

void Broker::Impl::forget_worker(Worker& w, Fate fate, std::string reason) {
  requeue_sticky(w, /*keep_served=*/false);
  unserve(w);
  std::vector<uint64_t> lost;
  lost.reserve(w.in_flight.size());
  for (uint64_t id : w.in_flight) {
    auto it = in_flight_.find(id);
    if (it != in_flight_.end() && it->second.handle == w.handle) {
      untrack_in_flight(it);
      lost.push_back(id);
    }
  }
  std::sort(lost.begin(), lost.end());
  // workers_lost_total reasons: heartbeat, restarted, disconnect (it left,
  // or its connection is gone).
  const std::size_t loss = fate == Fate::kDead ? 0 : fate == Fate::kRestarted ? 1 : 2;
  handles_.workers_lost[loss]->Increment();
  const bool dead = fate == Fate::kDead || fate == Fate::kUnreachable;
  if (w.draining) --draining_total_;
  by_identity_.erase(w.identity);
  if (dead && !w.draining) {
    if (tombstones_.size() >= kMaxTombstones) {
      auto oldest = std::min_element(
          tombstones_.begin(), tombstones_.end(),
          [](const auto& a, const auto& b) { return a.second.died_ms < b.second.died_ms; });
      tombstones_.erase(oldest);
    }
    Tombstone& t = tombstones_[w.identity];
    t.worker = std::move(w);
    t.worker.in_flight.clear();
    t.worker.blocked = false;
    t.died_ms = now_ms_;
  }
  workers_.erase(w.handle);
  if (fate == Fate::kDrained) return;
  bump(counters_.workers_dead);
  spdlog::warn("{}; {} items in flight reported lost", reason, lost.size());
  report_lost(std::move(lost), std::move(reason), LostReason::kWorkerDead);
}

Broker::Impl::Worker* Broker::Impl::revive(const wire::Received& m) {
  auto it = tombstones_.find(m.identity);
  if (it == tombstones_.end()) return nullptr;
  switch (m.type) {
    case MsgType::kHeartbeat: {
      auto hb = wire::decode<Heartbeat>(m.body_view());
      if (!hb) return nullptr;  // counted when handled
      if (hb->incarnation != it->second.worker.incarnation) {
        tombstones_.erase(it);  // a new process: it will announce itself
        return nullptr;
      }
      break;
    }
    case MsgType::kActivityResult:
    case MsgType::kOrchestrationResult:
    case MsgType::kResultBatch:
    case MsgType::kActivityHeartbeat:
    case MsgType::kCredit:
      break;  // only the process that had the work sends these before a Ready
    default:
      tombstones_.erase(it);  // Ready / Disconnect speak for themselves
      return nullptr;
  }
  const uint64_t handle = next_handle_++;
  Worker& w = workers_[handle];
  w = std::move(it->second.worker);
  tombstones_.erase(it);
  w.handle = handle;
  w.last_seen_ms = now_ms_;
  by_identity_[w.identity] = handle;
  serve(w);
  spdlog::info("worker {} is back; resuming with credits activity={} orchestration={}", w.worker_id,
               w.credits[idx(Kind::kActivity)], w.credits[idx(Kind::kOrchestration)]);
  drain_for(handle);
  // drain_for may have found it unreachable again.
  auto wit = workers_.find(handle);
  return wit == workers_.end() ? nullptr : &wit->second;
}

void Broker::Impl::expire_tombstones(int64_t now) {
  for (auto it = tombstones_.begin(); it != tombstones_.end();) {
    if (now - it->second.died_ms > kTombstoneTtlMs.count()) {
      it = tombstones_.erase(it);
    } else {
      ++it;
    }
  }
}

void Broker::Impl::gc_queues() {
  for (auto it = queues_.begin(); it != queues_.end();) {
    const Queue& q = it->second;
    if (q.items.empty() && q.sticky_waiting == 0 && q.servers.empty()) {
      it = queues_.erase(it);
    } else {
      ++it;
    }
  }
}

// ------------------------------------------------------------------ output

void Broker::Impl::tick(int64_t now) {
  const int64_t silent_limit = options_.heartbeat_interval.count() * options_.heartbeat_liveness;
  std::vector<uint64_t> dead;
  uint64_t misses = 0;
  for (const auto& [handle, w] : workers_) {
    if (w.last_seen_ms < last_tick_ms_) ++misses;  // nothing from it since the last tick
    if (now - w.last_seen_ms > silent_limit) dead.push_back(handle);
  }
  last_tick_ms_ = now;
  if (misses > 0) handles_.heartbeat_misses->Increment(static_cast<double>(misses));
  for (uint64_t handle : dead) {
    Worker& w = workers_.at(handle);
    forget_worker(w, Fate::kDead,
                  fmt::format("worker {} declared dead (silent for {} ms)", w.worker_id,
                              now - w.last_seen_ms));
  }

  if (!scheduler_identity_.empty()) {
    if (wire::send_raw(router_, scheduler_identity_, MsgType::kHeartbeat, heartbeat_body_)) {
      if (!scheduler_reachable_) {
        spdlog::info("scheduler {} reachable again", scheduler_id_);
        scheduler_reachable_ = true;
      }
    } else if (zmq_errno() != EAGAIN && scheduler_reachable_) {
      spdlog::warn("scheduler {} unreachable; buffering its messages", scheduler_id_);
      scheduler_reachable_ = false;
    }
  }
  std::vector<std::pair<uint64_t, int>> unreachable;
  for (const auto& [handle, w] : workers_) {
    if (!wire::send_raw(router_, w.identity, MsgType::kHeartbeat, heartbeat_body_)) {
      const int err = zmq_errno();
      if (err != EAGAIN) unreachable.emplace_back(handle, err);
    }
  }
  for (const auto& [handle, err] : unreachable) {
    Worker& w = workers_.at(handle);
    forget_worker(
        w, Fate::kUnreachable,
        fmt::format("worker {} unreachable (send failed: {})", w.worker_id, zmq_strerror(err)));
  }

  if (any_blocked_) {
    any_blocked_ = false;
    std::vector<uint64_t> sticky;
    for (auto& [handle, w] : workers_) {
      w.blocked = false;
      if (!w.sticky[0].empty() || !w.sticky[1].empty()) sticky.push_back(handle);
    }
    // Collected first: drain_sticky() may forget a worker.
    for (uint64_t handle : sticky) {
      auto it = workers_.find(handle);
      if (it != workers_.end()) (void)drain_sticky(it->second);
    }
    drain_all();
  }
  drain_requeued();
  flush_pending();
  gc_queues();
  expire_tombstones(now);
}

void Broker::Impl::send_heartbeat(std::string_view identity) {
  (void)wire::send_raw(router_, identity, MsgType::kHeartbeat, heartbeat_body_);
}

void Broker::Impl::reply_unknown(std::string_view identity) {
  bump(counters_.unknown_peer_replies);
  send_heartbeat(identity);
}

void Broker::Impl::report_lost(std::vector<uint64_t> work_ids, std::string reason, LostReason why) {
  if (work_ids.empty()) return;
  bump(counters_.work_lost, work_ids.size());
  handles_.work_lost[static_cast<std::size_t>(why)]->Increment(
      static_cast<double>(work_ids.size()));
  WorkLost lost;
  lost.work_ids = std::move(work_ids);
  lost.reason = std::move(reason);
  flush_results();  // results gathered before it go first
  forward_to_scheduler(MsgType::kWorkLost, wire::encode(lost));
}

void Broker::Impl::forward_to_scheduler(MsgType type, std::string_view body,
                                        ResultCount results) {
  if (pending_.empty() && send_to_scheduler(type, body)) {
    count_forwarded(type, results);
    return;
  }
  if (pending_.size() >= options_.max_pending_results) {
    const Pending& dropped = pending_.front();
    const uint32_t lost = dropped.results[0] + dropped.results[1];
    const MsgType dropped_type = dropped.type;
    pending_.pop_front();
    bump(counters_.pending_dropped);
    // A dropped result is work whose outcome no scheduler will hear of (its
    // lease expires and it runs again). A dropped WorkLost's items were
    // counted when reported; a dropped ActivityHeartbeat is no work item.
    if (lost > 0) {
      handles_.work_lost[static_cast<std::size_t>(LostReason::kNoScheduler)]->Increment(lost);
    }
    uint64_t suppressed = 0;
    if (dropped_log_.allow(now_ms_, suppressed)) {
      spdlog::error("no scheduler reachable and {} messages buffered: dropped the oldest ({}){}",
                    options_.max_pending_results, wire::msg_type_name(dropped_type),
                    suppressed_note(suppressed));
    }
  }
  pending_.push_back(Pending{type, std::string(body), results});
  flush_pending();
}

bool Broker::Impl::send_to_scheduler(MsgType type, std::string_view body) {
  if (scheduler_identity_.empty() || !scheduler_reachable_) return false;
  if (wire::send_raw(router_, scheduler_identity_, type, body)) return true;
  if (zmq_errno() != EAGAIN) {
    spdlog::warn("scheduler {} unreachable; buffering its messages", scheduler_id_);
    scheduler_reachable_ = false;
  }
  return false;
}

void Broker::Impl::count_batch(BatchLink link) {
  static constexpr std::atomic<uint64_t> Counters::*kStats[] = {
      &Counters::task_batches_sent, &Counters::result_batches_received,
      &Counters::result_batches_forwarded};
  bump(counters_.*kStats[static_cast<std::size_t>(link)]);
  handles_.batches[static_cast<std::size_t>(link)]->Increment();
}

void Broker::Impl::count_forwarded(MsgType type, ResultCount results) {
  if (results[0] + results[1] > 0) {
    bump(counters_.results_forwarded, results[0] + results[1]);
    for (Kind k : kKinds) {
      if (results[idx(k)] > 0) handles_.results[idx(k)]->Increment(results[idx(k)]);
    }
  }
  if (type == MsgType::kResultBatch) count_batch(BatchLink::kToScheduler);
  if (type == MsgType::kActivityHeartbeat) bump(counters_.activity_heartbeats_forwarded);
}

void Broker::Impl::forward_result(Kind kind, std::string_view body) {
  if (!scheduler_batches_) {
    forward_to_scheduler(result_type(kind), body, one_result(kind));
    return;
  }
  (kind == Kind::kActivity ? gathered_.activities : gathered_.orchestrations).emplace_back(body);
  gathered_bytes_ += body.size();
  if (gathered_.activities.size() + gathered_.orchestrations.size() >= options_.max_batch ||
      gathered_bytes_ >= kMaxResultBatchBytes) {
    flush_results();
  }
}

void Broker::Impl::flush_results() {
  const ResultCount n{static_cast<uint32_t>(gathered_.activities.size()),
                      static_cast<uint32_t>(gathered_.orchestrations.size())};
  if (n[0] + n[1] == 0) return;
  if (n[0] + n[1] == 1) {
    const Kind kind = n[0] == 1 ? Kind::kActivity : Kind::kOrchestration;
    const Bytes& body = n[0] == 1 ? gathered_.activities.front() : gathered_.orchestrations.front();
    forward_to_scheduler(result_type(kind), body, n);
  } else {
    forward_to_scheduler(MsgType::kResultBatch, wire::encode(gathered_), n);
  }
  gathered_.activities.clear();
  gathered_.orchestrations.clear();
  gathered_bytes_ = 0;
}

bool Broker::Impl::send_batch_unbatched(Pending& p) {
  auto batch = wire::decode<ResultBatch>(p.body);
  if (!batch) return true;  // we encoded it ourselves: cannot happen
  const auto send_all = [&](std::vector<Bytes>& bodies, Kind kind) {
    std::size_t sent = 0;
    for (; sent < bodies.size(); ++sent) {
      if (!send_to_scheduler(result_type(kind), bodies[sent])) break;
      count_forwarded(result_type(kind), one_result(kind));
    }
    bodies.erase(bodies.begin(), bodies.begin() + static_cast<std::ptrdiff_t>(sent));
    p.results[idx(kind)] = static_cast<uint32_t>(bodies.size());
    return bodies.empty();
  };
  const bool done = send_all(batch->activities, Kind::kActivity) &&
                    send_all(batch->orchestrations, Kind::kOrchestration);
  if (!done) p.body = wire::encode(*batch);  // what is left
  return done;
}

void Broker::Impl::flush_pending() {
  while (!pending_.empty()) {
    Pending& p = pending_.front();
    if (p.type == MsgType::kResultBatch && !scheduler_batches_) {
      // Gathered for a scheduler that took batches; this one does not.
      if (!send_batch_unbatched(p)) return;
    } else {
      if (!send_to_scheduler(p.type, p.body)) return;
      count_forwarded(p.type, p.results);
    }
    pending_.pop_front();
  }
}

void Broker::Impl::say_goodbye() {
  now_ms_ = steady_ms();
  flush_results();
  flush_pending();
  const std::string body =
      wire::encode(BrokerGoodbye{incarnation_, fmt::format("broker {} is stopping", id_)});
  bool told_scheduler = false;
  if (!scheduler_identity_.empty()) {
    told_scheduler = wire::send_raw(router_, scheduler_identity_, MsgType::kBrokerGoodbye, body);
  }
  std::size_t told_workers = 0;
  for (const auto& [handle, w] : workers_) {
    if (wire::send_raw(router_, w.identity, MsgType::kBrokerGoodbye, body)) ++told_workers;
  }
  try {
    router_.set(zmq::sockopt::linger, static_cast<int>(kGoodbyeLingerMs.count()));
  } catch (const zmq::error_t&) {
    // Closing without linger only loses the goodbyes: peers fall back to liveness.
  }
  spdlog::info(
      "broker {} stopping: said goodbye to {} and {} of {} workers ({} items queued, {} "
      "in flight, {} messages for the scheduler still buffered)",
      id_,
      told_scheduler                ? "the scheduler"
      : scheduler_identity_.empty() ? "no scheduler"
                                    : "not the scheduler (unreachable)",
      told_workers, workers_.size(), queued_total_, in_flight_.size(), pending_.size());
}

// ------------------------------------------------------------------ Broker

Result<std::unique_ptr<Broker>> Broker::create(BrokerOptions options) {
  if (options.bind_address.empty()) return invalid_argument("bind address is empty");
  if (options.heartbeat_interval.count() <= 0) {
    return invalid_argument("heartbeat interval must be positive");
  }
  if (options.heartbeat_liveness < 1) return invalid_argument("heartbeat liveness must be >= 1");
  if (options.max_queue == 0) return invalid_argument("max queue must be positive");
  if (options.max_pending_results == 0) {
    return invalid_argument("max pending results must be positive");
  }
  if (options.max_batch == 0) return invalid_argument("max batch must be positive (1: no batches)");
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(std::move(options));
  } catch (const zmq::error_t& e) {
    return unavailable(std::string("cannot create broker sockets: ") + e.what());
  }
  if (Status s = impl->bind(); !s) return s;
  if (Status s = impl->serve_metrics(); !s) return s;
  return std::make_unique<Broker>(Key{}, std::move(impl));
}

Broker::Broker(Key, std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Broker::~Broker() = default;

Status Broker::run() { return impl_->run(); }
void Broker::stop() { impl_->stop(); }
const std::string& Broker::id() const { return impl_->id(); }
uint64_t Broker::incarnation() const { return impl_->incarnation(); }
const std::string& Broker::endpoint() const { return impl_->endpoint(); }
BrokerStats Broker::stats() const { return impl_->stats(); }
const metrics::Metrics& Broker::metrics() const { return impl_->metrics(); }
int Broker::metrics_port() const { return impl_->metrics_port(); }

}  // namespace baton::broker
