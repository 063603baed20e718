// OrchestrationCache: the suspended orchestrators a worker keeps between
// steps (sticky orchestrations, see OrchestrationTask::cache_token in
// baton/protocol.h): at most `capacity` resumable Replayers, one per
// (namespace, instance id), each with the cache token of the execution it
// runs. The least recently put entry is evicted first.
//
// A step TAKES its instance's entry out and puts a replayer back when it is
// done, so an entry is never driven by two threads; a step that throws just
// drops what it took. Evicted and replaced entries are destroyed outside the
// lock (destroying a suspended coroutine runs its locals' destructors).
//
// Thread-safety: every method from any thread (one mutex). `on_size` is
// called under it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "baton/protocol.h"

#include "sdk/replayer.h"

namespace baton::detail {

class OrchestrationCache {
 public:
  struct Entry {
    uint64_t token = 0;                  // the execution's cache_token
    std::unique_ptr<Replayer> replayer;  // resumable, applied() events applied
  };

  // capacity 0: put() keeps nothing. `on_size`, if given, receives the
  // number of entries after each change (a gauge), under the lock.
  explicit OrchestrationCache(std::size_t capacity, std::function<void(std::size_t)> on_size = {});
  OrchestrationCache(const OrchestrationCache&) = delete;
  OrchestrationCache& operator=(const OrchestrationCache&) = delete;

  std::size_t capacity() const { return capacity_; }
  bool enabled() const { return capacity_ > 0; }
  std::size_t size() const;

  // Removes and returns the entry of `ns`/`instance_id`, if any and if
  // `only_if` (when given; called under the lock) holds for it; else the
  // entry stays where it is.
  std::optional<Entry> take(const std::string& ns, const std::string& instance_id,
                            const std::function<bool(const Entry&)>& only_if = nullptr);
  // Keeps `entry` as the most recently used one of `ns`/`instance_id`
  // (replacing an entry already there), then evicts the least recently used
  // entries beyond capacity. With capacity 0 `entry` is dropped.
  void put(const std::string& ns, const std::string& instance_id, Entry entry);
  // Drops every entry.
  void clear();
  // The entries put() evicted to stay within capacity since the last call
  // (not those replaced or taken), oldest first.
  std::vector<EvictedOrchestration> take_evicted();

 private:
  struct Node {
    std::string key;
    std::string ns;
    std::string instance_id;
    Entry entry;
  };
  static std::string key_of(const std::string& ns, const std::string& instance_id);

  const std::size_t capacity_;
  const std::function<void(std::size_t)> on_size_;
  mutable std::mutex mu_;
  std::list<Node> lru_;  // guarded by mu_; most recently used first
  std::unordered_map<std::string, std::list<Node>::iterator> index_;  // guarded by mu_
  std::vector<EvictedOrchestration> evicted_;                         // guarded by mu_
};

}  // namespace baton::detail
