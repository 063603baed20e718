// Pure translation between instance state and orchestrator steps.
//
// No I/O, no clock (time is passed in), no threads: tested from fixtures.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "baton/protocol.h"
#include "store/ops.h"

namespace baton::scheduler {

// An execution's history before a step, as the scheduler keeps it between
// steps, with what apply_actions needs from it without walking it.
struct PastEvents {
  std::vector<HistoryEvent> events;
  std::vector<int32_t> used_ids;  // the events' event_id >= 0, sorted, unique
  int64_t started_ms = 0;         // ExecutionStarted's timestamp (0: none yet)

  explicit PastEvents(std::vector<HistoryEvent> history = {});
  void append(const HistoryEvent& ev);
  bool uses(int32_t id) const;
};
// Shared, never modified once shared: a dispatched step and the instance
// cache hold the same history (InstanceCache copies before it appends to
// one a step still holds).
using SharedPast = std::shared_ptr<const PastEvents>;

// What the scheduler dispatched for one step and must remember to apply it.
struct DispatchedStep {
  // task.past_events is empty here: the history is `past`, copied (or its
  // unseen tail) only into the message that goes out (see sent_past_from).
  OrchestrationTask task;
  SharedPast past;  // never null
  // The step went out with past->events from this index on (sticky
  // orchestrations; 0: the whole history).
  std::size_t sent_past_from = 0;
  int32_t history_len = 0;         // the instance's history_len when loaded
  std::vector<int64_t> inbox_ids;  // inbox rows behind new_events[1..]
};

// What to do with a loaded instance.
struct StepPlan {
  enum class Kind {
    kNothing,  // no visible events it may act on (or finished): stay idle
    kControl,  // the scheduler handles it alone: commit `control`
    kWorker,   // run the orchestrator: dispatch `step`
  };
  Kind kind = Kind::kNothing;
  StepOp control;
  DispatchedStep step;
  // Visible inbox events remain after this step: plan again once it commits.
  bool leaves_events = false;
};

// Decides the next step of a loaded instance, handling control events in
// inbox order:
// - ExecutionTerminated anywhere in the inbox terminates the instance now
//   (every inbox event is consumed; `name == "recursive"` also terminates
//   its running sub-orchestrations).
// - A suspended instance only consumes its first ExecutionResumed; other
//   events stay buffered in the inbox, in order.
// - Otherwise a leading run of ExecutionSuspended/ExecutionResumed events is
//   applied by the scheduler, or a leading run of other events goes to the
//   orchestrator, after an OrchestratorStarted at `now_ms`.
// `past` is loaded.history as the scheduler already holds it (the instance
// cache); null: loaded.history is copied.
StepPlan plan_step(const std::string& ns, const std::string& instance_id,
                   const LoadedInstance& loaded, int64_t now_ms, uint64_t work_id,
                   SharedPast past = nullptr);

// Turns the worker's actions into the StepOp to commit: the step's new
// events, then one history event per action (tasks, timers, children, sent
// events), ExecutionCompleted / ContinuedAsNew for a CompleteOrchestration
// (actions after it are ignored). Actions the scheduler cannot carry out
// (reused or negative ids, empty names, unknown types) fail the
// orchestration with an explanation instead, and so does a running
// execution whose history would grow past `max_history_events` (0: no
// limit; the explanation suggests continue-as-new). Completing, failing or
// continuing-as-new is always allowed.
StepOp apply_actions(const DispatchedStep& step, const OrchestrationResult& result,
                     int64_t now_ms, std::size_t max_history_events = 0);

// Whether a failed attempt is retried, and after how long.
struct RetryDecision {
  bool retry = false;
  int64_t delay_ms = 0;
  std::string why_not;  // when !retry: why (for the failure details)
};
RetryDecision decide_retry(const RetryPolicy& policy, int32_t attempt,
                           const FailureDetails& failure, int64_t first_scheduled_ms,
                           int64_t now_ms);

// The failure recorded when no worker started a task in time (not retried).
FailureDetails schedule_to_start_failure(const std::string& activity, int64_t timeout_ms);

// The failure recorded when an attempt exceeded its timeout.
FailureDetails timeout_failure(const std::string& activity, int32_t attempt, bool heartbeat);

}  // namespace baton::scheduler
