#include "sdk/orchestration_cache.h"

#include <iterator>
#include <utility>

namespace baton::detail {

OrchestrationCache::OrchestrationCache(std::size_t capacity,
                                       std::function<void(std::size_t)> on_size)
    : capacity_(capacity), on_size_(std::move(on_size)) {}

std::string OrchestrationCache::key_of(const std::string& ns, const std::string& instance_id) {
  // The length prefix keeps ("a/b", "c") and ("a", "b/c") apart.
  return std::to_string(ns.size()) + ":" + ns + instance_id;
}

std::size_t OrchestrationCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

std::optional<OrchestrationCache::Entry> OrchestrationCache::take(
    const std::string& ns, const std::string& instance_id,
    const std::function<bool(const Entry&)>& only_if) {
  std::list<Node> taken;  // spliced out under the lock, returned after it
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(key_of(ns, instance_id));
    if (it == index_.end()) return std::nullopt;
    if (only_if && !only_if(it->second->entry)) return std::nullopt;
    taken.splice(taken.end(), lru_, it->second);
    index_.erase(it);
    if (on_size_) on_size_(lru_.size());
  }
  return std::move(taken.front().entry);
}

void OrchestrationCache::put(const std::string& ns, const std::string& instance_id, Entry entry) {
  std::list<Node> dropped;  // destroyed after the lock is released
  {
    std::lock_guard lock(mu_);
    std::string key = key_of(ns, instance_id);
    if (auto it = index_.find(key); it != index_.end()) {
      dropped.splice(dropped.end(), lru_, it->second);
      index_.erase(it);
    }
    if (capacity_ > 0) {
      lru_.push_front(Node{key, ns, instance_id, std::move(entry)});
      index_[std::move(key)] = lru_.begin();
      while (lru_.size() > capacity_) {
        const Node& last = lru_.back();
        evicted_.push_back(EvictedOrchestration{last.ns, last.instance_id, last.entry.token});
        index_.erase(last.key);
        dropped.splice(dropped.end(), lru_, std::prev(lru_.end()));
      }
    }
    if (on_size_) on_size_(lru_.size());
  }
}

std::vector<EvictedOrchestration> OrchestrationCache::take_evicted() {
  std::lock_guard lock(mu_);
  return std::exchange(evicted_, {});
}

void OrchestrationCache::clear() {
  std::list<Node> dropped;
  {
    std::lock_guard lock(mu_);
    dropped.swap(lru_);
    index_.clear();
    if (on_size_) on_size_(0);
  }
}

}  // namespace baton::detail
