// The units of work a batch transaction applies, and their outcomes.
//
// The scheduler loop collects ops from many instances into one Batch; the
// committer applies a whole Batch in ONE PostgreSQL transaction (group
// commit) and answers with a BatchOutcome whose vectors run parallel to the
// Batch's. Plain data; no thread-safety of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "baton/protocol.h"
#include "baton/status.h"

namespace baton::scheduler {

// Create an instance and put ExecutionStarted into its inbox.
struct StartOp {
  std::string ns;
  std::string instance_id;
  std::string name;
  std::string task_queue;
  Bytes input;
  std::string parent_instance_id;
  int64_t now_ms = 0;
};

// Record an activity attempt's outcome: if task (id, attempt) still exists it
// is deleted and `event` (TaskCompleted / TaskFailed) enters the inbox.
// A missing row means a stale or duplicate result: nothing happens.
struct TaskResultOp {
  int64_t task_id = 0;
  int32_t attempt = 0;
  std::string ns;
  std::string instance_id;
  HistoryEvent event;
};

struct NewTask {
  std::string task_queue;
  std::string name;
  int32_t task_scheduled_id = -1;
  Bytes input;
};

// Apply one orchestrator step: append `events` at seq expected_history_len..,
// consume the inbox rows the step saw, create the tasks it scheduled and set
// the instance's status. Refused (kConflict) unless the instance's
// history_len still equals expected_history_len.
struct StepOp {
  std::string ns;
  std::string instance_id;
  int32_t expected_history_len = 0;
  std::vector<int64_t> consumed_inbox_ids;
  std::vector<HistoryEvent> events;
  std::vector<NewTask> tasks;
  OrchestrationStatus status = OrchestrationStatus::kRunning;
  Bytes output;
  FailureDetails failure;
  int64_t now_ms = 0;
};

// Give a task a new attempt (lease expired, worker lost, broker restarted).
struct RedispatchOp {
  int64_t task_id = 0;
  int32_t attempt = 0;  // the attempt being abandoned
};

// Read an instance for its next step (history + unconsumed inbox).
struct LoadOp {
  std::string ns;
  std::string instance_id;
};

// Read an instance's metadata for a client.
struct DescribeOp {
  std::string ns;
  std::string instance_id;
};

struct Batch {
  std::vector<StartOp> starts;
  std::vector<TaskResultOp> task_results;
  std::vector<StepOp> steps;
  std::vector<RedispatchOp> redispatches;
  std::vector<LoadOp> loads;          // run after every write of the batch
  std::vector<DescribeOp> describes;  // idem
  bool renew_lease = false;

  bool empty() const {
    return starts.empty() && task_results.empty() && steps.empty() && redispatches.empty() &&
           loads.empty() && describes.empty() && !renew_lease;
  }
  std::size_t size() const {
    return starts.size() + task_results.size() + steps.size() + redispatches.size() +
           loads.size() + describes.size();
  }
};

// A task row ready to dispatch.
struct TaskRow {
  int64_t id = 0;
  std::string ns;
  std::string instance_id;
  std::string task_queue;
  std::string name;
  int32_t task_scheduled_id = -1;
  Bytes input;
  int32_t attempt = 1;
};

struct InboxEvent {
  int64_t id = 0;
  HistoryEvent event;
};

struct LoadedInstance {
  bool found = false;
  std::string name;
  std::string task_queue;
  OrchestrationStatus status = OrchestrationStatus::kPending;
  int32_t history_len = 0;
  std::vector<HistoryEvent> history;
  std::vector<InboxEvent> inbox;
};

struct BatchOutcome {
  // kOk: committed. kLeaseLost: fenced out, nothing changed. kUnavailable:
  // database trouble, the outcome of the transaction may be unknown.
  Status status;
  std::vector<Status> starts;               // kOk or kAlreadyExists
  std::vector<bool> task_results;           // recorded?
  std::vector<Status> steps;                // kOk or kConflict
  std::vector<std::vector<TaskRow>> step_tasks;  // created tasks per step (empty if refused)
  std::vector<std::optional<TaskRow>> redispatches;  // the task with its new attempt
  std::vector<LoadedInstance> loads;
  std::vector<std::optional<InstanceInfo>> describes;
};

// What a scheduler owns after (re)acquiring its partitions.
struct Lease {
  std::string owner;
  int64_t epoch = 0;
  std::vector<int> partitions;
};

struct Recovery {
  Lease lease;
  std::vector<TaskRow> tasks;  // every task of the owned partitions, attempt already bumped
  std::vector<LoadOp> instances_with_inbox;
};

}  // namespace baton::scheduler
