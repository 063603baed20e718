// ReplayState: what one orchestration step knows while the coroutine runs —
// the actions it produced (by sequence number), the outcome slots of the
// tasks it scheduled, the deterministic clock and the replaying flag. The
// OrchestrationContext handed to user code is a view of it.
//
// Thread-safety: none; one step, one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "baton/orchestration_context.h"
#include "baton/protocol.h"

namespace baton::detail {

class ReplayState {
 public:
  struct Produced {
    Action action;
    bool recorded = false;  // matched by a TaskScheduled (etc.) event in history
  };

  ReplayState(std::string ns, std::string instance_id, std::string name)
      : ns_(std::move(ns)), instance_id_(std::move(instance_id)), name_(std::move(name)) {}
  ReplayState(const ReplayState&) = delete;
  ReplayState& operator=(const ReplayState&) = delete;

  OrchestrationContext& context() { return context_; }

  const std::string& ns() const { return ns_; }
  const std::string& instance_id() const { return instance_id_; }
  const std::string& name() const { return name_; }

  bool replaying() const { return replaying_; }
  void set_replaying(bool replaying) { replaying_ = replaying; }
  int64_t current_time_ms() const { return current_time_ms_; }
  void set_current_time_ms(int64_t ms) { current_time_ms_ = ms; }

  // Records a ScheduleTask action with the next sequence number; returns the
  // slot its outcome will be delivered to (owned here, stable address).
  TaskCompletion* schedule_task(std::string_view name, Bytes input) {
    Action a;
    a.type = ActionType::kScheduleTask;
    a.id = next_sequence();
    a.name = std::string(name);
    a.input = std::move(input);
    auto slot = std::make_unique<TaskCompletion>();
    slot->name = a.name;
    TaskCompletion* out = slot.get();
    completions_.emplace(a.id, std::move(slot));
    produced_.push_back(Produced{std::move(a), false});
    return out;
  }

  // The sequence number the next action gets (= actions produced so far).
  int32_t next_sequence() const { return static_cast<int32_t>(produced_.size()); }
  std::vector<Produced>& produced() { return produced_; }
  // The slot of action `id`, nullptr if it has none.
  TaskCompletion* completion(int32_t id) {
    auto it = completions_.find(id);
    return it == completions_.end() ? nullptr : it->second.get();
  }

 private:
  std::string ns_;
  std::string instance_id_;
  std::string name_;
  bool replaying_ = true;
  int64_t current_time_ms_ = 0;
  std::vector<Produced> produced_;  // index == action id
  std::unordered_map<int32_t, std::unique_ptr<TaskCompletion>> completions_;
  OrchestrationContext context_{*this};
};

}  // namespace baton::detail
