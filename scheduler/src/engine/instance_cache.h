// The scheduler's copy of instances' state between steps (see
// ServiceOptions::instance_cache and docs/architecture.md, "An activity
// result and the next step in one transaction").
//
// Bounded twice: by the number of instances and by the history events held
// in total, so a few huge histories cannot take the scheduler's memory.
// Eviction drops an arbitrary entry: a miss only costs a load. No I/O, no
// threads: the scheduler loop owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "baton/protocol.h"
#include "engine/step.h"
#include "store/ops.h"

namespace baton::scheduler {

// An instance as of its last committed step.
struct CachedInstance {
  std::string name;
  std::string task_queue;
  OrchestrationStatus status = OrchestrationStatus::kPending;
  int32_t history_len = 0;
  // The current execution's history, never null. Steps planned from the
  // entry share it (DispatchedStep::past); advance() copies it first if one
  // still does.
  std::shared_ptr<PastEvents> history;
  // Sticky orchestrations: the worker that keeps the orchestrator suspended
  // under `cache_token`, having applied history[0, sticky_len). Empty: none.
  std::string sticky_worker;
  uint64_t cache_token = 0;
  std::size_t sticky_len = 0;
  // OrchestrationResult::wake_after of the step that brought the entry to
  // this history (0: unknown, e.g. loaded): successful activity results
  // fewer than this cannot wake the orchestrator.
  uint32_t wake_after = 0;
};

class InstanceCache {
 public:
  InstanceCache(std::size_t max_instances, std::size_t max_events)
      : max_instances_(max_instances), max_events_(max_events) {}

  // nullptr when absent. The pointer is valid until the next non-const call.
  CachedInstance* find(const std::string& key);
  // Caches what a load read (history as of its last step; the inbox is not
  // kept), and returns that history for the step planned from it (also when
  // it is not cached). A finished or missing instance, or one whose history
  // alone passes the event budget, is dropped instead. The sticky worker
  // and wake_after of the entry it replaces stay if the load found the same
  // history_len.
  // loaded.history is moved from.
  SharedPast put(const std::string& key, LoadedInstance& loaded);
  // A step about to be committed moves the entry on; one that does not
  // leave the instance running, or was planned from another history_len,
  // drops it (the next load refreshes it).
  void advance(const std::string& key, const StepOp& step);
  // Records which worker keeps the instance's orchestrator (no-op for an
  // instance not cached); clear_sticky forgets it.
  void set_sticky(const std::string& key, std::string worker, uint64_t token, std::size_t len);
  void clear_sticky(const std::string& key) { set_sticky(key, {}, 0, 0); }
  void erase(const std::string& key);
  void clear();

  std::size_t size() const { return entries_.size(); }
  std::size_t events() const { return events_; }

 private:
  // Evicts entries other than `keep` until one more instance holding
  // `incoming` events fits.
  void make_room(const std::string& keep, std::size_t incoming);

  std::size_t max_instances_;
  std::size_t max_events_;
  std::size_t events_ = 0;  // sum of history sizes
  std::unordered_map<std::string, CachedInstance> entries_;
};

}  // namespace baton::scheduler
