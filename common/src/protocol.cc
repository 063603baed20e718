#include "baton/protocol.h"

namespace baton {

const char* orchestration_status_name(OrchestrationStatus s) {
  switch (s) {
    case OrchestrationStatus::kPending: return "PENDING";
    case OrchestrationStatus::kRunning: return "RUNNING";
    case OrchestrationStatus::kCompleted: return "COMPLETED";
    case OrchestrationStatus::kFailed: return "FAILED";
    case OrchestrationStatus::kTerminated: return "TERMINATED";
    case OrchestrationStatus::kSuspended: return "SUSPENDED";
    case OrchestrationStatus::kContinuedAsNew: return "CONTINUED_AS_NEW";
  }
  return "UNKNOWN";
}

bool is_terminal(OrchestrationStatus s) {
  return s == OrchestrationStatus::kCompleted || s == OrchestrationStatus::kFailed ||
         s == OrchestrationStatus::kTerminated;
}

const char* event_type_name(EventType t) {
  switch (t) {
    case EventType::kExecutionStarted: return "ExecutionStarted";
    case EventType::kExecutionCompleted: return "ExecutionCompleted";
    case EventType::kExecutionTerminated: return "ExecutionTerminated";
    case EventType::kTaskScheduled: return "TaskScheduled";
    case EventType::kTaskCompleted: return "TaskCompleted";
    case EventType::kTaskFailed: return "TaskFailed";
    case EventType::kTimerCreated: return "TimerCreated";
    case EventType::kTimerFired: return "TimerFired";
    case EventType::kEventRaised: return "EventRaised";
    case EventType::kEventSent: return "EventSent";
    case EventType::kSubOrchestrationCreated: return "SubOrchestrationCreated";
    case EventType::kSubOrchestrationCompleted: return "SubOrchestrationCompleted";
    case EventType::kSubOrchestrationFailed: return "SubOrchestrationFailed";
    case EventType::kOrchestratorStarted: return "OrchestratorStarted";
    case EventType::kExecutionSuspended: return "ExecutionSuspended";
    case EventType::kExecutionResumed: return "ExecutionResumed";
    case EventType::kContinuedAsNew: return "ContinuedAsNew";
  }
  return "Unknown";
}

const char* action_type_name(ActionType t) {
  switch (t) {
    case ActionType::kScheduleTask: return "ScheduleTask";
    case ActionType::kCreateTimer: return "CreateTimer";
    case ActionType::kCreateSubOrchestration: return "CreateSubOrchestration";
    case ActionType::kSendEvent: return "SendEvent";
    case ActionType::kCompleteOrchestration: return "CompleteOrchestration";
  }
  return "Unknown";
}

int partition_of(std::string_view ns, std::string_view instance_id) {
  // FNV-1a over "ns/instance_id": stable across builds and platforms.
  uint32_t h = 2166136261u;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 16777619u;
    }
  };
  mix(ns);
  mix("/");
  mix(instance_id);
  return static_cast<int>(h % static_cast<uint32_t>(kPartitionCount));
}

}  // namespace baton
