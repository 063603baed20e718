#include "engine/instance_cache.h"

namespace baton::scheduler {

CachedInstance* InstanceCache::find(const std::string& key) {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

SharedPast InstanceCache::put(const std::string& key, LoadedInstance& loaded) {
  // A load that finds the history this entry already holds (nothing was
  // appended since: the same history_len) keeps its sticky worker
  // and wake_after.
  CachedInstance sticky;
  if (const CachedInstance* old = find(key); old && old->history_len == loaded.history_len) {
    sticky.sticky_worker = old->sticky_worker;
    sticky.cache_token = old->cache_token;
    sticky.sticky_len = old->sticky_len;
    sticky.wake_after = old->wake_after;
  }
  erase(key);
  auto history = std::make_shared<PastEvents>(std::move(loaded.history));
  loaded.history.clear();
  if (max_instances_ == 0 || !loaded.found || is_terminal(loaded.status) ||
      history->events.size() > max_events_) {
    return history;
  }
  make_room(key, history->events.size());
  CachedInstance& c = entries_[key];
  c.name = loaded.name;
  c.task_queue = loaded.task_queue;
  c.status = loaded.status;
  c.history_len = loaded.history_len;
  c.history = history;
  c.sticky_worker = std::move(sticky.sticky_worker);
  c.cache_token = sticky.cache_token;
  c.sticky_len = sticky.sticky_len;
  c.wake_after = sticky.wake_after;
  events_ += history->events.size();
  return history;
}

void InstanceCache::advance(const std::string& key, const StepOp& step) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  CachedInstance& c = it->second;
  if (c.history_len != step.expected_history_len ||
      step.status != OrchestrationStatus::kRunning ||
      c.history->events.size() + step.events.size() > max_events_) {
    erase(key);
    return;
  }
  make_room(key, step.events.size());
  // A step still holding this history sees it unchanged.
  if (c.history.use_count() > 1) c.history = std::make_shared<PastEvents>(*c.history);
  for (const auto& ev : step.events) c.history->append(ev);
  c.history_len += static_cast<int32_t>(step.events.size());
  c.status = step.status;
  c.wake_after = 0;  // until the step's result says
  events_ += step.events.size();
}

void InstanceCache::set_sticky(const std::string& key, std::string worker, uint64_t token,
                               std::size_t len) {
  CachedInstance* c = find(key);
  if (c == nullptr) return;
  c->sticky_worker = std::move(worker);
  c->cache_token = token;
  c->sticky_len = len;
}

void InstanceCache::erase(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  events_ -= it->second.history->events.size();
  entries_.erase(it);
}

void InstanceCache::clear() {
  entries_.clear();
  events_ = 0;
}

void InstanceCache::make_room(const std::string& keep, std::size_t incoming) {
  const bool present = entries_.count(keep) > 0;
  auto full = [&] {
    return entries_.size() + (present ? 0 : 1) > max_instances_ ||
           events_ + incoming > max_events_;
  };
  for (auto it = entries_.begin(); full() && it != entries_.end();) {
    if (it->first == keep) {
      ++it;
      continue;
    }
    events_ -= it->second.history->events.size();
    it = entries_.erase(it);
  }
}

}  // namespace baton::scheduler
