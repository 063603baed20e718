// Pure translation of an orchestrator step into state changes.
//
// No I/O, no clock (time is passed in), no threads: tested from fixtures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "baton/protocol.h"
#include "store/ops.h"

namespace baton::scheduler {

// What the scheduler dispatched for one step and must remember to apply it.
struct DispatchedStep {
  OrchestrationTask task;          // past_events + new_events as sent
  int32_t history_len = 0;         // == task.past_events.size()
  std::vector<int64_t> inbox_ids;  // inbox rows behind new_events[1..]
};

// Builds the work item for an instance's next step: new_events are an
// OrchestratorStarted at `now_ms` followed by the inbox events in order.
DispatchedStep make_step(const std::string& ns, const std::string& instance_id,
                         const LoadedInstance& loaded, int64_t now_ms, uint64_t work_id);

// Turns the worker's actions into the StepOp to commit: the step's new events,
// one TaskScheduled + task per ScheduleTask, ExecutionCompleted for a
// CompleteOrchestration (actions after it are ignored). Actions this
// scheduler cannot carry out (invalid ids, unknown or not yet supported
// types, empty names) fail the orchestration with an explanation instead.
StepOp apply_actions(const DispatchedStep& step, const std::vector<Action>& actions,
                     int64_t now_ms);

}  // namespace baton::scheduler
