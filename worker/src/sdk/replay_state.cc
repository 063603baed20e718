#include "sdk/replay_state.h"

#include <algorithm>
#include <utility>

#include "sdk/uuid.h"

namespace baton::detail {

ReplayState::ReplayState(std::string ns, std::string instance_id, std::string name,
                         LogSink log_sink)
    : ns_(std::move(ns)),
      instance_id_(std::move(instance_id)),
      name_(std::move(name)),
      log_sink_(std::move(log_sink)) {}

TaskCompletion* ReplayState::add(Action action, bool awaitable) {
  action.id = next_sequence();
  Produced p;
  if (awaitable) {
    p.completion = std::make_unique<TaskCompletion>();
    p.completion->name = action.name;
  }
  p.action = std::move(action);
  TaskCompletion* slot = p.completion.get();
  produced_.push_back(std::move(p));
  return slot;
}

TaskCompletion* ReplayState::schedule_task(std::string_view name, Bytes input,
                                           const ActivityOptions& options) {
  Action a;
  a.type = ActionType::kScheduleTask;
  a.name = std::string(name);
  a.input = std::move(input);
  a.task_queue = options.task_queue;
  a.retry = options.retry;
  a.start_to_close_timeout_ms = options.start_to_close_timeout.count();
  a.heartbeat_timeout_ms = options.heartbeat_timeout.count();
  a.schedule_to_start_timeout_ms = options.schedule_to_start_timeout.count();
  return add(std::move(a), true);
}

TaskCompletion* ReplayState::create_timer(int64_t fire_at_ms) {
  Action a;
  a.type = ActionType::kCreateTimer;
  a.fire_at_ms = fire_at_ms;
  return add(std::move(a), true);
}

TaskCompletion* ReplayState::start_sub_orchestration(std::string_view name, Bytes input,
                                                     const SubOrchestrationOptions& options) {
  Action a;
  a.type = ActionType::kCreateSubOrchestration;
  a.name = std::string(name);
  a.input = std::move(input);
  a.task_queue = options.task_queue;
  a.instance_id = options.instance_id.empty() ? default_child_instance_id() : options.instance_id;
  return add(std::move(a), true);
}

std::string ReplayState::default_child_instance_id() const {
  return instance_id_ + ":" + std::to_string(next_sequence());
}

void ReplayState::send_event(std::string_view instance_id, std::string_view name, Bytes data) {
  Action a;
  a.type = ActionType::kSendEvent;
  a.instance_id = std::string(instance_id);
  a.name = std::string(name);
  a.input = std::move(data);
  add(std::move(a), false);
}

ReplayState::Produced* ReplayState::find(int32_t id) {
  if (id < 0 || id >= next_sequence()) return nullptr;
  return &produced_[static_cast<std::size_t>(id)];
}

uint32_t ReplayState::wake_after() {
  const auto pending = [](const Produced& p) {
    return p.action.type == ActionType::kScheduleTask && p.completion && !p.completion->done &&
           !p.completion->abandoned;
  };
  while (settled_ < produced_.size() && !pending(produced_[settled_])) ++settled_;
  uint32_t count = 0;
  std::unordered_map<const Join*, uint32_t> joined;  // pending activities per when_all
  for (std::size_t i = settled_; i < produced_.size(); ++i) {
    if (!pending(produced_[i])) continue;
    ++count;
    const TaskCompletion& c = *produced_[i].completion;
    if (c.owner == nullptr) {
      if (c.waiter) return 1;  // a coroutine we cannot see into
      continue;
    }
    if (c.owner->awaited()) return 1;
    const Join* join = c.owner->watcher();
    if (join == nullptr) {
      if (c.owner->has_callback()) return 1;  // a callback of the user's own
      continue;                               // called, not awaited (yet)
    }
    if (join->mode() == Join::Mode::kAny) return 1;
    ++joined[join];
  }
  uint32_t fewest = count + 1;
  for (const auto& [join, n] : joined) fewest = std::min(fewest, n);
  return fewest;
}

TaskCompletion* ReplayState::wait_for_event(std::string_view name) {
  auto slot = std::make_unique<TaskCompletion>();
  slot->name = std::string(name);
  TaskCompletion* out = slot.get();
  event_slots_.push_back(std::move(slot));
  auto buffered = buffered_.find(out->name);
  if (buffered != buffered_.end() && !buffered->second.empty()) {
    Buffered& b = events_[buffered->second.front()];
    buffered->second.pop_front();
    b.consumed = true;
    out->done = true;
    out->result = b.event.input;
  } else {
    waiters_[out->name].push_back(out);
  }
  return out;
}

void ReplayState::deliver_event(const HistoryEvent& raised) {
  auto waiting = waiters_.find(raised.name);
  if (waiting != waiters_.end()) {
    std::deque<TaskCompletion*>& queue = waiting->second;
    while (!queue.empty() && queue.front()->abandoned) queue.pop_front();
    if (!queue.empty()) {
      TaskCompletion* c = queue.front();
      queue.pop_front();
      resolve(c, false, raised.input, {});
      return;
    }
  }
  buffered_[raised.name].push_back(events_.size());
  events_.push_back(Buffered{raised, false});
}

std::vector<HistoryEvent> ReplayState::unconsumed_events() const {
  std::vector<HistoryEvent> out;
  for (const Buffered& b : events_) {
    if (!b.consumed) out.push_back(b.event);
  }
  return out;
}

void ReplayState::continue_as_new(Bytes input, bool keep_unprocessed_events) {
  continue_as_new_ = ContinueAsNew{std::move(input), keep_unprocessed_events};
}

std::string ReplayState::new_uuid() {
  // Replays reach the same call with the same clock and counter.
  const std::string name = ns_ + "/" + instance_id_ + "_" + std::to_string(current_time_ms_) + "_" +
                           std::to_string(uuid_counter_++);
  return uuid_v5(kUuidNamespaceUrl, name);
}

void ReplayState::log(LogLevel level, std::string_view message) const {
  if (replaying_ || !log_sink_) return;
  log_sink_(level, message);
}

void resolve(TaskCompletion* c, bool failed, Bytes result, FailureDetails failure) {
  if (c->done) return;
  c->done = true;
  c->failed = failed;
  c->result = std::move(result);
  c->failure = std::move(failure);
  if (std::coroutine_handle<> waiter = std::exchange(c->waiter, {})) waiter.resume();
}

}  // namespace baton::detail
