#include "runtime/session.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "baton/security.h"
#include "baton/config.h"
#include "runtime/heartbeats.h"
#include "runtime/payload_limit.h"
#include "runtime/signals.h"
#include "sdk/orchestration_cache.h"
#include "sdk/replayer.h"

namespace baton::detail {
namespace {

constexpr const char* kResultsEndpoint = "inproc://baton-worker-results";
constexpr int64_t kIntervalMs = kHeartbeatIntervalMs.count();
constexpr int64_t kLivenessMs = kHeartbeatLiveness * kIntervalMs;
// Messages handled per socket per loop iteration (fairness between sockets).
constexpr int kMaxBatch = 1024;
// Most results in one ResultBatch, and the size past which no more join it.
constexpr std::size_t kMaxResultBatch = 64;
constexpr std::size_t kMaxResultBatchBytes = 1u << 20;
// An orchestrator step whose history is at most this long replays in
// microseconds: it runs on the I/O thread instead of going to a pool thread
// and back (two thread hand-offs per step). Longer ones use the pool, so a
// long replay never holds up heartbeats and dispatch.
constexpr std::size_t kInlineStepEvents = 64;

// Takes a work item out of its in-flight gauge when its job ends (however
// it ends), before its result leaves the job.
class InFlightRelease {
 public:
  explicit InFlightRelease(prometheus::Gauge& gauge) : gauge_(gauge) {}
  ~InFlightRelease() { gauge_.Decrement(); }
  InFlightRelease(const InFlightRelease&) = delete;
  InFlightRelease& operator=(const InFlightRelease&) = delete;

 private:
  prometheus::Gauge& gauge_;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The replayer a step runs on. A partial task (past_from != 0) resumes the
// cached orchestrator of its execution if that continues exactly where the
// task starts; else null: a cache miss (a mismatching entry is dropped). A
// whole-history task gets a fresh replayer (any cached one of the instance
// is dropped: the scheduler started over).
std::unique_ptr<Replayer> replayer_for(OrchestrationCache& cache, const OrchestrationTask& task) {
  std::optional<OrchestrationCache::Entry> entry = cache.take(task.ns, task.instance_id);
  if (task.past_from == 0) return std::make_unique<Replayer>(task.ns, task.instance_id, task.name);
  if (!entry || entry->token != task.cache_token || !entry->replayer->can_resume(task)) {
    return nullptr;
  }
  return std::move(entry->replayer);
}

// Orchestrator log lines of `task`'s step go to the worker's log.
LogSink step_log_sink(const OrchestrationTask& task) {
  return [&task](LogLevel level, std::string_view message) {
    const auto spd = level == LogLevel::kError  ? spdlog::level::err
                     : level == LogLevel::kWarn ? spdlog::level::warn
                                                : spdlog::level::info;
    spdlog::log(spd, "orchestration {}/{} ({}): {}", task.ns, task.instance_id, task.name,
                message);
  };
}

void observe_step(const WorkerMetrics::Step& m, StepOutcome outcome, double seconds) {
  switch (outcome) {
    case StepOutcome::kOk:
      m.ok->Observe(seconds);
      break;
    case StepOutcome::kFailed:
      m.failed->Observe(seconds);
      break;
    case StepOutcome::kNonDeterminism:
      m.nondeterminism->Observe(seconds);
      m.nondeterminism_errors->Increment();
      break;
  }
}

// Keeps the step's orchestrator suspended under the task's token when `keep`
// and the execution goes on, then signs the result: this worker, and the
// orchestrators it evicted since its previous result.
void finish_step(OrchestrationCache& cache, const OrchestrationTask& task,
                 std::unique_ptr<Replayer> replayer, bool keep, const std::string& worker_id,
                 OrchestrationResult& r) {
  if (keep && task.cache_token != 0 && cache.enabled() && replayer->resumable()) {
    cache.put(task.ns, task.instance_id,
              OrchestrationCache::Entry{task.cache_token, std::move(replayer)});
    r.cached = true;
  }
  r.worker_id = worker_id;
  r.evicted = cache.take_evicted();
}

// Eager steps (ActivityTask.next_step): when this worker keeps the
// orchestrator suspended in exactly the state the step expects (same token,
// past_from events applied, past_events recording what it returned), runs
// the step the completed activity starts and attaches it to `result`.
// Otherwise leaves `result` alone and the cached orchestrator where it is:
// the scheduler dispatches the step as usual.
void run_next_step(const Registry& registry, OrchestrationCache& cache, const ActivityTask& task,
                   ActivityResult& result, std::size_t limit, const std::string& worker_id,
                   const WorkerMetrics::Step& m, const Clock& clock) {
  OrchestrationTask step = task.next_step.front();
  if (step.past_from <= 0 || step.cache_token == 0 || step.new_events.size() != 1 ||
      step.new_events[0].type != EventType::kOrchestratorStarted) {
    return;
  }
  std::optional<OrchestrationCache::Entry> entry =
      cache.take(step.ns, step.instance_id, [&step](const OrchestrationCache::Entry& e) {
        return e.token == step.cache_token && e.replayer->can_resume(step);
      });
  if (!entry) return;
  // Never before the scheduler's clock said the step could start.
  const int64_t at = std::max(clock.now_ms(), step.new_events[0].timestamp_ms);
  step.new_events[0].timestamp_ms = at;
  HistoryEvent done;
  done.type = EventType::kTaskCompleted;
  done.timestamp_ms = at;
  done.name = task.name;
  done.result = result.output;
  done.task_scheduled_id = task.task_scheduled_id;
  done.attempt = task.attempt;
  step.new_events.push_back(std::move(done));
  const auto start = std::chrono::steady_clock::now();
  StepOutcome outcome = StepOutcome::kOk;
  OrchestrationResult r = entry->replayer->step(registry, step, step_log_sink(step), &outcome);
  // A rewritten result is not what the orchestrator did: the scheduler runs
  // the step again elsewhere (this worker no longer holds the orchestrator).
  if (enforce_payload_limit(r, step, limit)) return;
  finish_step(cache, step, std::move(entry->replayer), /*keep=*/true, worker_id, r);
  observe_step(m, outcome, seconds_since(start));
  result.next_step.push_back(std::move(r));
  result.next_step_at_ms = at;
}

}  // namespace

Session::Session(const WorkerOptions& options, std::shared_ptr<const Registry> registry,
                 std::shared_ptr<WorkerMetrics> metrics, int wake_fd,
                 const std::atomic<bool>& stop_requested)
    : options_(options),
      registry_(std::move(registry)),
      metrics_(std::move(metrics)),
      wake_fd_(wake_fd),
      stop_requested_(stop_requested),
      incarnation_(random_u64()),
      inproc_context_(std::make_shared<zmq::context_t>(1)),
      cache_(std::make_shared<OrchestrationCache>(
          options.max_cached_orchestrations,
          [metrics = metrics_](std::size_t size) { metrics->set_cached_orchestrations(size); })) {}

Session::~Session() {
  // Normally run() already did this; here for early returns.
  if (activity_pool_) activity_pool_->abandon();
  if (orchestration_pool_) orchestration_pool_->abandon();
  close_broker_socket(0);
}

int Session::run() {
  const int64_t start_ms = clock_.steady_ms();
  try {
    results_.emplace(*inproc_context_, zmq::socket_type::pull);
    results_->set(zmq::sockopt::rcvhwm, 0);
    results_->bind(kResultsEndpoint);
  } catch (const zmq::error_t& e) {
    spdlog::error("worker {}: cannot bind {}: {}", options_.worker_id, kResultsEndpoint, e.what());
    return 1;
  }
  if (!open_broker_socket(start_ms)) return 1;
  activity_pool_ = std::make_unique<ResultPool>("activity", std::max(1, options_.activity_slots),
                                                inproc_context_, kResultsEndpoint);
  orchestration_pool_ =
      std::make_unique<ResultPool>("orchestration", std::clamp(options_.orchestration_slots, 1, 2),
                                   inproc_context_, kResultsEndpoint);
  spdlog::info(
      "worker {} serving namespace '{}' queues [{}] on {} ({} activity slots, {} "
      "orchestration slots; {} orchestrators, {} activities)",
      options_.worker_id, options_.ns, fmt::join(options_.task_queues, ","),
      options_.broker_address, options_.activity_slots, options_.orchestration_slots,
      registry_->orchestrator_names().size(), registry_->activity_names().size());
  publish_readiness();
  if (stop_requested_.load()) begin_drain(start_ms);

  while (true) {
    const int64_t now = clock_.steady_ms();
    if (draining_ && drained()) break;
    if (draining_ && (abandon_ || now >= drain_deadline_ms_)) break;

    std::array<zmq::pollitem_t, 3> items{};
    items[0] = {results_->handle(), 0, static_cast<short>(ZMQ_POLLIN), 0};
    items[1] = {nullptr, wake_fd_, static_cast<short>(ZMQ_POLLIN), 0};
    std::size_t count = 2;
    if (broker_) {
      const short events = static_cast<short>(ZMQ_POLLIN | (outbox_.empty() ? 0 : ZMQ_POLLOUT));
      items[2] = {broker_->handle(), 0, events, 0};
      count = 3;
    }
    try {
      zmq::poll(items.data(), count, std::chrono::milliseconds(poll_timeout_ms(now)));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      spdlog::error("worker {}: poll failed: {}", options_.worker_id, e.what());
      break;
    }
    if (items[1].revents & ZMQ_POLLIN) on_wake();
    if (items[0].revents & ZMQ_POLLIN) on_results();
    if (count == 3 && (items[2].revents & ZMQ_POLLIN)) on_broker_readable(clock_.steady_ms());
    flush_outbox(clock_.steady_ms());
    on_timers(clock_.steady_ms());
  }

  const bool clean = drained();
  if (!clean) {
    spdlog::warn(
        "worker {}: drain {} with {} activities and {} orchestration steps in flight; "
        "abandoning them (they will be dispatched again)",
        options_.worker_id, abandon_ ? "abandoned" : "timed out", in_flight_activities_,
        in_flight_orchestrations_);
  }
  if (clean) {
    activity_pool_->join();
    orchestration_pool_->join();
  } else {
    activity_pool_->abandon();
    orchestration_pool_->abandon();
  }
  cache_->clear();  // the suspended orchestrators die with the session
  flush_outbox(clock_.steady_ms());
  if (!outbox_.empty()) {
    spdlog::warn("worker {}: {} messages could not be handed to the broker socket",
                 options_.worker_id, outbox_.size());
  }
  close_broker_socket(kFinalLingerMs);
  metrics_->set_broker_connected(false);
  metrics_->metrics().set_ready(false, "stopped");
  spdlog::info("worker {} stopped after {} ms ({} malformed frames received)", options_.worker_id,
               clock_.steady_ms() - start_ms, malformed_frames_);
  return 0;
}

// ------------------------------------------------------------- broker link

bool Session::open_broker_socket(int64_t now_ms) {
  try {
    zmq::socket_t socket(broker_context_, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::routing_id, options_.worker_id);
    socket.set(zmq::sockopt::linger, 0);
    security::apply_client(socket, options_.curve, "");
    socket.connect(options_.broker_address);
    broker_.emplace(std::move(socket));
  } catch (const zmq::error_t& e) {
    spdlog::error("worker {}: cannot connect to broker {}: {}", options_.worker_id,
                  options_.broker_address, e.what());
    return false;
  }
  last_rx_ms_ = now_ms;
  next_heartbeat_ms_ = now_ms + kIntervalMs;
  broker_batches_ = false;  // until the broker on this socket says so
  // Announce first, then what the old socket may not have delivered, then
  // whatever was waiting.
  std::deque<Outgoing> pending;
  Outgoing hello;
  if (draining_) {
    hello.type = WorkerDisconnect::kType;
    hello.body = wire::encode(WorkerDisconnect{options_.worker_id});
  } else {
    hello.type = WorkerReady::kType;
    hello.body = wire::encode(ready_message());
  }
  pending.push_back(std::move(hello));
  for (Sent& s : sent_log_) pending.push_back(std::move(s.message));
  sent_log_.clear();
  sent_log_bytes_ = 0;
  for (Outgoing& o : outbox_) pending.push_back(std::move(o));
  outbox_ = std::move(pending);
  flush_outbox(now_ms);
  return true;
}

void Session::close_broker_socket(int linger_ms) {
  if (!broker_) return;
  try {
    broker_->set(zmq::sockopt::linger, linger_ms);
  } catch (const zmq::error_t&) {
  }
  broker_.reset();
}

WorkerReady Session::ready_message() const {
  WorkerReady r;
  r.worker_id = options_.worker_id;
  r.incarnation = incarnation_;
  r.ns = options_.ns;
  r.task_queues = options_.task_queues;
  r.activity_slots = std::max(0, options_.activity_slots - in_flight_activities_);
  r.orchestration_slots = std::max(0, options_.orchestration_slots - in_flight_orchestrations_);
  r.orchestrators = registry_->orchestrator_names();
  r.activities = registry_->activity_names();
  r.task_batches = true;
  return r;
}

template <class T>
void Session::enqueue(const T& msg, bool front) {
  Outgoing o{T::kType, wire::encode(msg), false};
  if (front) {
    outbox_.push_front(std::move(o));
  } else {
    outbox_.push_back(std::move(o));
  }
}

void Session::enqueue_result(MsgType type, std::string body) {
  outbox_.push_back(Outgoing{type, std::move(body), true});
}

void Session::enqueue_heartbeat(std::string body) {
  Result<ActivityHeartbeat> hb = wire::decode<ActivityHeartbeat>(body);
  if (!hb) return;  // we encoded it ourselves: cannot happen
  // While the broker cannot take it (outage, HWM) a newer heartbeat of the
  // same activity replaces the queued one: only the latest matters.
  for (auto it = outbox_.rbegin(); it != outbox_.rend(); ++it) {
    if (it->type == MsgType::kActivityHeartbeat && it->heartbeat_work_id == hb->work_id) {
      it->body = std::move(body);
      return;
    }
  }
  Outgoing o{MsgType::kActivityHeartbeat, std::move(body), false};
  o.heartbeat_work_id = hb->work_id;
  outbox_.push_back(std::move(o));
}

void Session::flush_outbox(int64_t now_ms) {
  while (broker_ && !outbox_.empty()) {
    const std::size_t n = results_up_front();
    if (n > 1) {
      if (!send_result_batch(n)) break;  // HWM: retry on POLLOUT
    } else {
      Outgoing& o = outbox_.front();
      if (!wire::send_raw(*broker_, {}, o.type, o.body, /*dont_wait=*/true)) break;
    }
    // The resend log keeps each result on its own: the next broker may take
    // no batches.
    for (std::size_t i = 0; i < std::max<std::size_t>(n, 1); ++i) {
      Outgoing& o = outbox_.front();
      if (o.is_result) {
        sent_log_bytes_ += o.body.size();
        sent_log_.push_back(Sent{now_ms, std::move(o)});
      }
      outbox_.pop_front();
    }
  }
  while (sent_log_bytes_ > kResendLogMaxBytes && !sent_log_.empty()) {
    sent_log_bytes_ -= sent_log_.front().message.body.size();
    sent_log_.pop_front();
  }
}

std::size_t Session::results_up_front() const {
  if (!broker_batches_) return outbox_.front().is_result ? 1 : 0;
  std::size_t n = 0;
  std::size_t bytes = 0;
  for (const Outgoing& o : outbox_) {
    const bool too_big = n > 0 && bytes + o.body.size() > kMaxResultBatchBytes;
    if (!o.is_result || n == kMaxResultBatch || too_big) break;
    ++n;
    bytes += o.body.size();
  }
  return n;
}

bool Session::send_result_batch(std::size_t n) {
  // A ResultBatch of the results' own encodings, built in place.
  batch_buf_.clear();
  msgpack::packer<msgpack::sbuffer> pk(batch_buf_);
  pk.pack_map(2);
  for (const MsgType type : {MsgType::kActivityResult, MsgType::kOrchestrationResult}) {
    pk.pack(type == MsgType::kActivityResult ? "activities" : "orchestrations");
    const auto count = static_cast<uint32_t>(std::count_if(
        outbox_.begin(), outbox_.begin() + static_cast<std::ptrdiff_t>(n),
        [type](const Outgoing& o) { return o.type == type; }));
    pk.pack_array(count);
    for (std::size_t i = 0; i < n; ++i) {
      if (outbox_[i].type == type) pk.pack(outbox_[i].body);
    }
  }
  return wire::send_raw(*broker_, {}, MsgType::kResultBatch,
                        std::string_view(batch_buf_.data(), batch_buf_.size()),
                        /*dont_wait=*/true);
}

// ------------------------------------------------------------------ inputs

void Session::on_wake() {
  std::array<char, 64> buf{};
  bool stop = false;
  while (true) {
    const ssize_t n = read(wake_fd_, buf.data(), buf.size());
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[static_cast<std::size_t>(i)] == kSignalByte) ++signals_seen_;
      stop = true;
    }
  }
  if (!stop && !stop_requested_.load()) return;
  if (!draining_) {
    begin_drain(clock_.steady_ms());
  } else if (signals_seen_ >= 2) {
    abandon_ = true;  // a second signal: the operator does not want to wait
  }
}

void Session::begin_drain(int64_t now_ms) {
  draining_ = true;
  publish_readiness();
  drain_deadline_ms_ = now_ms + options_.drain_timeout.count();
  spdlog::info(
      "worker {} stopping: draining {} activities and {} orchestration steps (at most "
      "{} ms)",
      options_.worker_id, in_flight_activities_, in_flight_orchestrations_,
      options_.drain_timeout.count());
  enqueue(WorkerDisconnect{options_.worker_id}, /*front=*/true);
  flush_outbox(now_ms);
}

void Session::on_results() {
  for (int i = 0; i < kMaxBatch; ++i) {
    zmq::message_t type_frame;
    zmq::message_t body;
    try {
      if (!results_->recv(type_frame, zmq::recv_flags::dontwait)) return;
      if (!type_frame.more() || !results_->recv(body, zmq::recv_flags::none)) continue;
    } catch (const zmq::error_t& e) {
      spdlog::error("worker {}: result hand-off failed: {}", options_.worker_id, e.what());
      return;
    }
    const auto type = static_cast<MsgType>(*static_cast<const uint8_t*>(type_frame.data()));
    if (type == MsgType::kActivityHeartbeat) {
      enqueue_heartbeat(body.to_string());
      continue;
    }
    on_job_done(type, body.to_string());
  }
}

void Session::on_job_done(MsgType type, std::string body) {
  const bool activity = type == MsgType::kActivityResult;
  int& in_flight = activity ? in_flight_activities_ : in_flight_orchestrations_;
  in_flight = std::max(0, in_flight - 1);
  if (!body.empty()) {
    enqueue_result(type, std::move(body));
  } else if (!draining_) {
    // No result to return the credit with: give it back explicitly.
    Credit credit;
    (activity ? credit.activity : credit.orchestration) = 1;
    enqueue(credit);
  }
}

void Session::on_broker_readable(int64_t now_ms) {
  for (int i = 0; i < kMaxBatch && broker_; ++i) {
    Result<wire::Received> msg = wire::recv(*broker_, /*router=*/false);
    if (!msg) {
      if (msg.status().code() == StatusCode::kUnavailable) return;
      last_rx_ms_ = now_ms;  // garbage is still a sign of life
      count_malformed(msg.status().message());
      continue;
    }
    last_rx_ms_ = now_ms;
    backoff_ms_ = kReconnectBackoffMinMs;
    if (!connected_) set_connected(true);
    on_broker_message(*msg);
  }
}

void Session::on_broker_message(wire::Received& msg) {
  switch (msg.type) {
    case MsgType::kActivityTask: {
      Result<ActivityTask> task = wire::decode<ActivityTask>(msg.body_view());
      if (!task) {
        count_malformed("ActivityTask: " + task.status().message());
        if (!draining_) enqueue(Credit{1, 0});
        return;
      }
      dispatch(std::move(*task));
      return;
    }
    case MsgType::kOrchestrationTask: {
      Result<OrchestrationTask> task = wire::decode<OrchestrationTask>(msg.body_view());
      if (!task) {
        count_malformed("OrchestrationTask: " + task.status().message());
        if (!draining_) enqueue(Credit{0, 1});
        return;
      }
      dispatch(std::move(*task));
      return;
    }
    case MsgType::kDispatchBatch: {
      Result<DispatchBatch> batch = wire::decode<DispatchBatch>(msg.body_view());
      if (!batch) {
        // Its items cannot be told apart, so their credits cannot be given
        // back: they return when the scheduler dispatches them again.
        count_malformed("DispatchBatch: " + batch.status().message());
        return;
      }
      for (ActivityTask& task : batch->activities) dispatch(std::move(task));
      for (OrchestrationTask& task : batch->orchestrations) dispatch(std::move(task));
      return;
    }
    case MsgType::kHeartbeat: {
      Result<Heartbeat> hb = wire::decode<Heartbeat>(msg.body_view());
      if (!hb) {
        count_malformed("Heartbeat: " + hb.status().message());
        return;
      }
      on_heartbeat(*hb);
      return;
    }
    case MsgType::kBrokerGoodbye: {
      Result<BrokerGoodbye> bye = wire::decode<BrokerGoodbye>(msg.body_view());
      if (!bye) {
        count_malformed("BrokerGoodbye: " + bye.status().message());
        return;
      }
      on_goodbye(*bye);
      return;
    }
    case MsgType::kErrorReply: {
      Result<ErrorReply> err = wire::decode<ErrorReply>(msg.body_view());
      if (!err) {
        count_malformed("ErrorReply: " + err.status().message());
        return;
      }
      spdlog::warn("worker {}: broker error {}: {}", options_.worker_id, err->code, err->message);
      return;
    }
    default:
      count_malformed(std::string("unexpected message type ") + wire::msg_type_name(msg.type));
      return;
  }
}

void Session::on_heartbeat(const Heartbeat& hb) {
  broker_batches_ = hb.result_batches;
  if (!broker_incarnation_) {
    broker_incarnation_ = hb.incarnation;
    return;
  }
  if (*broker_incarnation_ == hb.incarnation) return;
  spdlog::info("worker {}: broker {} restarted (incarnation {:x} -> {:x}); announcing again",
               options_.worker_id, hb.sender_id, *broker_incarnation_, hb.incarnation);
  broker_incarnation_ = hb.incarnation;
  metrics_->count_reconnect();
  if (!draining_) enqueue(ready_message(), /*front=*/true);
}

// The broker is stopping: no point waiting out the liveness window. What the
// old socket had not delivered is in sent_log_ / outbox_ and goes to the
// next broker that answers.
void Session::on_goodbye(const BrokerGoodbye& bye) {
  spdlog::info("worker {}: broker {} (incarnation {:x}) said goodbye ({}); reconnecting in {} ms",
               options_.worker_id, options_.broker_address, bye.incarnation, bye.reason,
               backoff_ms_);
  drop_broker(clock_.steady_ms(), "said goodbye");
}

// An item is in flight (its gauge) from here, like the slot it takes, until
// its job ends; schedule-to-start is measured when the job starts. The job
// holds `metrics` (not only handles into it): an abandoned job may outlive
// the session and the worker.
void Session::dispatch(ActivityTask task) {
  ++in_flight_activities_;
  const WorkerMetrics::Activity* m = &metrics_->activity(task);
  m->in_flight->Increment();
  // An eager step runs on the pool thread after the activity; its metrics
  // are resolved here, on the thread that creates them.
  const WorkerMetrics::Step* step_metrics = nullptr;
  if (task.next_step.size() == 1 && cache_->enabled()) {
    step_metrics = &metrics_->step(task.next_step.front());
  }
  activity_pool_->submit(
      MsgType::kActivityResult,
      [registry = registry_, metrics = metrics_, cache = cache_, m, step_metrics,
       limit = options_.max_payload_bytes, worker_id = options_.worker_id,
       task = std::move(task)](const ResultPool::Emit& emit) -> std::string {
        const InFlightRelease in_flight(*m->in_flight);
        const SystemClock clock;
        observe_schedule_to_start(*m->schedule_to_start, task.scheduled_at_ms, clock.now_ms());
        const auto start = std::chrono::steady_clock::now();
        ActivityResult result = run_activity_with_heartbeats(
            *registry, task, clock,
            [&emit](std::string heartbeat) { emit(MsgType::kActivityHeartbeat, heartbeat); });
        if (enforce_payload_limit(result, task.name, limit)) {
          spdlog::warn("activity {} of {}/{} (attempt {}) failed: {}", task.name, task.ns,
                       task.instance_id, task.attempt, result.failure.message);
        }
        (result.failed ? m->failed : m->completed)->Observe(seconds_since(start));
        if (step_metrics != nullptr && !result.failed) {
          run_next_step(*registry, *cache, task, result, limit, worker_id, *step_metrics, clock);
        }
        return wire::encode(result);
      });
}

void Session::dispatch(OrchestrationTask task) {
  ++in_flight_orchestrations_;
  const WorkerMetrics::Step* m = &metrics_->step(task);
  m->in_flight->Increment();
  // Counts what the task carries: a resumed step is small and runs inline.
  const bool inline_step =
      task.past_events.size() + task.new_events.size() <= kInlineStepEvents;
  ResultPool::Job job =
      [registry = registry_, metrics = metrics_, cache = cache_, m,
       limit = options_.max_payload_bytes, worker_id = options_.worker_id,
       task = std::move(task)](const ResultPool::Emit&) -> std::string {
        const InFlightRelease in_flight(*m->in_flight);
        observe_schedule_to_start(*m->schedule_to_start, task.scheduled_at_ms,
                                  SystemClock().now_ms());
        std::unique_ptr<Replayer> replayer = replayer_for(*cache, task);
        if (task.past_from != 0) metrics->count_cache(replayer != nullptr);
        if (!replayer) {
          spdlog::debug("orchestration {}/{} ({}): no cached state for token {:x} at event {}",
                        task.ns, task.instance_id, task.name, task.cache_token, task.past_from);
          OrchestrationResult miss;
          miss.work_id = task.work_id;
          miss.ns = task.ns;
          miss.instance_id = task.instance_id;
          miss.worker_id = worker_id;
          miss.cache_miss = true;
          miss.evicted = cache->take_evicted();
          return wire::encode(miss);
        }
        const LogSink log = step_log_sink(task);
        const auto start = std::chrono::steady_clock::now();
        StepOutcome outcome = StepOutcome::kOk;
        OrchestrationResult result = replayer->step(*registry, task, log, &outcome);
        const bool rewritten = enforce_payload_limit(result, task, limit);
        if (rewritten) {
          outcome = StepOutcome::kFailed;
          spdlog::warn("orchestration {}/{} ({}) failed: {}", task.ns, task.instance_id, task.name,
                       result.actions.front().failure.message);
        }
        // Kept only while the execution goes on exactly as the scheduler
        // will record it (a rewritten result is not what the replayer did).
        finish_step(*cache, task, std::move(replayer), /*keep=*/!rewritten, worker_id, result);
        observe_step(*m, outcome, seconds_since(start));
        return wire::encode(result);
      };
  if (!inline_step) {
    orchestration_pool_->submit(MsgType::kOrchestrationResult, std::move(job));
    return;
  }
  on_job_done(MsgType::kOrchestrationResult,
              ResultPool::run(job, [](MsgType, std::string) {}, "orchestration"));
}

void Session::count_malformed(const std::string& what) {
  ++malformed_frames_;
  metrics_->count_malformed();
  // First few in full, then one line per 1000 (a hostile peer must not flood the log).
  if (malformed_frames_ <= 10 || malformed_frames_ % 1000 == 0) {
    spdlog::warn("worker {}: dropped malformed frame from broker ({} so far): {}",
                 options_.worker_id, malformed_frames_, what);
  }
}

void Session::set_connected(bool connected) {
  connected_ = connected;
  metrics_->set_broker_connected(connected);
  publish_readiness();
}

void Session::publish_readiness() {
  if (draining_) {
    metrics_->metrics().set_ready(false, "draining");
  } else if (!connected_) {
    metrics_->metrics().set_ready(false,
                                  "broker " + options_.broker_address +
                                      (broker_ ? std::string(" has not answered yet")
                                               : " " + std::string(lost_why_) + "; reconnecting"));
  } else {
    metrics_->metrics().set_ready(true);
  }
}

// ------------------------------------------------------------------ timers

void Session::on_timers(int64_t now_ms) {
  if (broker_) {
    if (now_ms >= next_heartbeat_ms_) {
      wire::send(*broker_, Heartbeat{options_.worker_id, incarnation_});  // dropped at HWM: fine
      next_heartbeat_ms_ = now_ms + kIntervalMs;
    }
    if (now_ms - last_rx_ms_ > kLivenessMs) {
      spdlog::warn("worker {}: broker {} silent for {} ms; reconnecting in {} ms",
                   options_.worker_id, options_.broker_address, now_ms - last_rx_ms_, backoff_ms_);
      drop_broker(now_ms, "silent");
    }
  } else if (now_ms >= reconnect_at_ms_) {
    if (open_broker_socket(now_ms)) {
      metrics_->count_reconnect();
    } else {
      reconnect_at_ms_ = now_ms + backoff_ms_;
      backoff_ms_ = std::min(backoff_ms_ * 2, kReconnectBackoffMaxMs);
    }
  }
  prune_sent_log();
}

void Session::drop_broker(int64_t now_ms, const char* why) {
  close_broker_socket(0);
  lost_why_ = why;
  set_connected(false);
  reconnect_at_ms_ = now_ms + backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, kReconnectBackoffMaxMs);
}

void Session::prune_sent_log() {
  while (!sent_log_.empty() && sent_log_.front().sent_ms < last_rx_ms_ - kResendWindowMs) {
    sent_log_bytes_ -= sent_log_.front().message.body.size();
    sent_log_.pop_front();
  }
}

long Session::poll_timeout_ms(int64_t now_ms) const {
  int64_t wake = now_ms + kIntervalMs;
  if (broker_) {
    wake = std::min({wake, next_heartbeat_ms_, last_rx_ms_ + kLivenessMs + 1});
  } else {
    wake = std::min(wake, reconnect_at_ms_);
  }
  if (draining_) wake = std::min(wake, drain_deadline_ms_);
  return static_cast<long>(std::max<int64_t>(0, wake - now_ms));
}

bool Session::drained() const {
  if (in_flight_activities_ > 0 || in_flight_orchestrations_ > 0) return false;
  // Only results are worth waiting for; WorkerDisconnect/Credit are not
  // (a broker we cannot reach does not route to us anyway).
  return std::none_of(outbox_.begin(), outbox_.end(),
                      [](const Outgoing& o) { return o.is_result; });
}

}  // namespace baton::detail
