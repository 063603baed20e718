// ReplayState: what an orchestration's replayer knows while the coroutine
// runs — the actions it produced (by sequence number) with the outcome slots
// of the awaitable ones, the external events buffered or awaited by name, the
// continue-as-new decision, the custom status, the deterministic clock and
// the replaying flag. The OrchestrationContext handed to user code is a view
// of it. It lives as long as the replayer: one step, or several steps of a
// cached (sticky) orchestration.
//
// Every lookup is by index or hash (a step with 10,000 actions stays linear).
// Thread-safety: none; one thread at a time (a cached replayer moves between
// threads only through the cache's lock).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "baton/orchestration_context.h"
#include "baton/protocol.h"

namespace baton::detail {

// Where OrchestrationContext::log lines go (never called while replaying).
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

class ReplayState {
 public:
  struct Produced {
    Action action;
    bool recorded = false;  // matched by its TaskScheduled (etc.) event in history
    // Returned by an earlier step of a resumable replayer: never returned
    // again (a later step's history must record it). `action.input` is
    // released then; type, id and keys stay for the history checks.
    bool sent = false;
    std::unique_ptr<TaskCompletion> completion;  // null for SendEvent
  };
  struct ContinueAsNew {
    Bytes input;
    bool keep_unprocessed_events = false;
  };

  ReplayState(std::string ns, std::string instance_id, std::string name, LogSink log_sink);
  ReplayState(const ReplayState&) = delete;
  ReplayState& operator=(const ReplayState&) = delete;

  OrchestrationContext& context() { return context_; }

  const std::string& ns() const { return ns_; }
  const std::string& instance_id() const { return instance_id_; }
  const std::string& name() const { return name_; }

  // Replaces where log lines go (each step of a cached orchestration brings
  // its own sink; empty: dropped).
  void set_log_sink(LogSink log_sink) { log_sink_ = std::move(log_sink); }

  bool replaying() const { return replaying_; }
  void set_replaying(bool replaying) { replaying_ = replaying; }
  int64_t current_time_ms() const { return current_time_ms_; }
  void set_current_time_ms(int64_t ms) { current_time_ms_ = ms; }

  // ---- actions: each takes the next sequence number; the awaitable ones
  // return the slot their outcome will be delivered to (stable address).
  TaskCompletion* schedule_task(std::string_view name, Bytes input, const ActivityOptions& options);
  TaskCompletion* create_timer(int64_t fire_at_ms);
  TaskCompletion* start_sub_orchestration(std::string_view name, Bytes input,
                                          const SubOrchestrationOptions& options);
  void send_event(std::string_view instance_id, std::string_view name, Bytes data);
  // The instance id a child started next without an explicit one gets:
  // "<instance id>:<next sequence number>".
  std::string default_child_instance_id() const;

  // The sequence number the next action gets (= actions produced so far).
  int32_t next_sequence() const { return static_cast<int32_t>(produced_.size()); }
  std::vector<Produced>& produced() { return produced_; }
  const std::vector<Produced>& produced() const { return produced_; }
  // Action `id`, nullptr if the orchestrator has not produced it.
  Produced* find(int32_t id);

  // The fewest successful activity results (TaskCompleted) that must arrive
  // before the orchestrator, suspended as it is now, can run code of its
  // own: 1 if a pending activity is awaited directly or raced (when_any);
  // else n for the when_all with the fewest (n) pending activities among
  // the tasks it waits for; else pending activities + 1 (no activity result
  // alone can wake it: it waits for a timer, an event or a child). A lower
  // bound whatever the order the results come in; anything else (a
  // failure, a timer, an event, a child's outcome) may wake it sooner.
  // Linear in the actions from the oldest pending one.
  uint32_t wake_after();

  // ---- external events
  // A slot completed by the next EventRaised named `name` (at once if one is
  // buffered).
  TaskCompletion* wait_for_event(std::string_view name);
  // Hands `raised` to the oldest live waiter of its name (resuming it), or
  // buffers it.
  void deliver_event(const HistoryEvent& raised);
  // Buffered events no waiter consumed, in arrival order.
  std::vector<HistoryEvent> unconsumed_events() const;

  // ---- the rest of the context
  void continue_as_new(Bytes input, bool keep_unprocessed_events);
  const std::optional<ContinueAsNew>& continued_as_new() const { return continue_as_new_; }
  void set_custom_status(Bytes value) { custom_status_ = std::move(value); }
  const std::optional<Bytes>& custom_status() const { return custom_status_; }
  std::string new_uuid();
  void log(LogLevel level, std::string_view message) const;

 private:
  struct Buffered {
    HistoryEvent event;
    bool consumed = false;
  };
  TaskCompletion* add(Action action, bool awaitable);

  std::string ns_;
  std::string instance_id_;
  std::string name_;
  LogSink log_sink_;
  bool replaying_ = true;
  int64_t current_time_ms_ = 0;
  std::vector<Produced> produced_;  // index == action id
  std::vector<Buffered> events_;    // every EventRaised buffered, arrival order
  std::unordered_map<std::string, std::deque<std::size_t>> buffered_;     // name -> events_ index
  std::unordered_map<std::string, std::deque<TaskCompletion*>> waiters_;  // name -> FIFO
  std::vector<std::unique_ptr<TaskCompletion>> event_slots_;
  std::optional<ContinueAsNew> continue_as_new_;
  std::optional<Bytes> custom_status_;
  uint64_t uuid_counter_ = 0;
  std::size_t settled_ = 0;  // wake_after: produced_[0, settled_) is no pending activity
  OrchestrationContext context_{*this};
};

// Fills `c` with its outcome and resumes the coroutine waiting on it, which
// runs user code up to its next suspension (its exceptions stay in the
// promises). No-op for a slot that is already done.
void resolve(TaskCompletion* c, bool failed, Bytes result, FailureDetails failure);

}  // namespace baton::detail
