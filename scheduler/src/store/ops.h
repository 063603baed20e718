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
  int32_t parent_event_id = -1;  // the parent's SubOrchestrationCreated event_id
  int64_t now_ms = 0;
  int64_t start_at_ms = 0;  // ExecutionStarted becomes visible then (0: now)
  IdReusePolicy id_reuse_policy = IdReusePolicy::kReject;
  std::string idempotency_key;
  // The batch also holds the instance's first step (StepOp::first_step),
  // which records ExecutionStarted in history: no inbox row for it.
  bool with_first_step = false;
};

// The ExecutionStarted event a start gives its instance.
inline HistoryEvent execution_started_of(const StartOp& s) {
  HistoryEvent ev;
  ev.type = EventType::kExecutionStarted;
  ev.timestamp_ms = s.now_ms;
  ev.name = s.name;
  ev.input = s.input;
  ev.task_queue = s.task_queue;
  ev.instance_id = s.parent_instance_id;  // the parent, for sub-orchestrations
  return ev;
}

// Put `event` into an instance's inbox (raise event, send event, control
// requests, notifications to a parent). Refused with kNotFound if the
// instance does not exist and kFailedPrecondition if it has finished.
struct InboxOp {
  std::string ns;
  std::string instance_id;
  HistoryEvent event;
};

// Retries and timeouts of one activity, stored with its task (msgpack; the
// fields at their defaults are left out).
struct TaskOptions {
  RetryPolicy retry;
  int64_t start_to_close_timeout_ms = 0;  // 0: the scheduler's --activity-lease
  int64_t heartbeat_timeout_ms = 0;       // 0: no heartbeat required
  int64_t schedule_to_start_timeout_ms = 0;  // 0: may wait for a worker forever
  bool operator==(const TaskOptions&) const = default;
  BATON_DEFINE_SPARSE_MAP(retry, start_to_close_timeout_ms, heartbeat_timeout_ms,
                          schedule_to_start_timeout_ms)
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
  TaskOptions options;
};

// A durable timer: `fired` (TimerFired) enters the inbox, visible at fire_at_ms.
struct NewTimer {
  int64_t fire_at_ms = 0;
  HistoryEvent fired;
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
  std::vector<NewTimer> timers;
  std::vector<StartOp> children;  // sub-orchestrations to start
  std::vector<InboxOp> sends;     // events for other instances (dropped if gone)
  OrchestrationStatus status = OrchestrationStatus::kRunning;
  Bytes output;
  FailureDetails failure;
  bool has_custom_status = false;
  Bytes custom_status;
  // status kContinuedAsNew: the new execution's input and the events it
  // starts with besides ExecutionStarted.
  Bytes new_input;
  std::vector<HistoryEvent> carryover_events;
  // status kTerminated: also terminate running sub-orchestrations.
  bool terminate_children = false;
  // Activity results this step consumed straight from the scheduler's memory
  // (their events are among `events`, not in the inbox): their task rows go
  // with the step. The step is refused unless every row still exists at its
  // attempt; then the rows that did exist put their events into the inbox,
  // as a TaskResultOp would, so no result is lost.
  std::vector<TaskResultOp> results;
  // The instance's first step, run before its start was committed (the
  // StartOp with_first_step in the same batch): refused unless that start
  // created the instance in this batch.
  bool first_step = false;
  int64_t now_ms = 0;
};

// An activity attempt failed (or timed out) and its policy allows another:
// bump the attempt and make the task visible again at visible_at_ms.
struct RetryOp {
  int64_t task_id = 0;
  int32_t attempt = 0;  // the failed attempt
  int64_t visible_at_ms = 0;
  Bytes heartbeat_details;
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

// Read an instance's whole history (every execution) for a client.
struct HistoryOp {
  std::string ns;
  std::string instance_id;
};

struct Batch {
  std::vector<StartOp> starts;
  std::vector<InboxOp> inbox;  // client events and control requests
  std::vector<TaskResultOp> task_results;
  std::vector<StepOp> steps;
  std::vector<RedispatchOp> redispatches;
  std::vector<RetryOp> retries;
  std::vector<LoadOp> loads;          // run after every write of the batch
  std::vector<DescribeOp> describes;  // idem
  std::vector<HistoryOp> histories;   // idem
  std::vector<ListRequest> lists;     // idem (request_id unused)
  std::vector<PurgeRequest> purges;   // deletes; request_id unused
  std::size_t verifies = 0;           // invariant checks requested (all get one answer)
  // Tasks created by this or an earlier batch that the scheduler will not
  // hold in memory: they stay in PostgreSQL only until fetched.
  std::vector<int64_t> park_tasks;
  // Unpark and return up to this many due parked tasks (oldest first).
  std::size_t fetch_tasks = 0;
  bool renew_lease = false;
  int64_t now_ms = 0;  // scheduler clock: inbox visibility, timestamps

  bool empty() const {
    return size() == 0 && !renew_lease && park_tasks.empty() && fetch_tasks == 0;
  }
  std::size_t size() const {
    return starts.size() + inbox.size() + task_results.size() + steps.size() +
           redispatches.size() + retries.size() + loads.size() + describes.size() +
           histories.size() + verifies + lists.size() + purges.size();
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
  TaskOptions options;
  int64_t visible_at_ms = 0;       // dispatch not before
  int64_t first_scheduled_ms = 0;  // for RetryPolicy::retry_timeout_ms
  Bytes heartbeat_details;
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

// How a batch reached PostgreSQL: one pipelined round trip, statement by
// statement, or statement by statement after the pipelined attempt's
// expectations failed (PgStore::commit).
enum class BatchPath { kPipelined, kStepwise, kRetried };

struct BatchOutcome {
  // kOk: committed. kLeaseLost: fenced out, nothing changed. kUnavailable:
  // database trouble, the outcome of the transaction may be unknown.
  Status status;
  BatchPath path = BatchPath::kStepwise;
  std::vector<Status> starts;               // kOk or kAlreadyExists
  std::vector<Status> inbox;                // kOk, kNotFound or kFailedPrecondition
  std::vector<bool> task_results;           // recorded?
  std::vector<Status> steps;                // kOk or kConflict
  std::vector<std::vector<TaskRow>> step_tasks;  // created tasks per step (empty if refused)
  std::vector<std::optional<TaskRow>> redispatches;  // the task with its new attempt
  std::vector<std::optional<TaskRow>> retries;       // idem, with its visible_at
  std::vector<LoadedInstance> loads;
  std::vector<std::optional<InstanceInfo>> describes;
  std::vector<std::optional<std::vector<HistoryEvent>>> histories;  // nullopt: no such instance
  std::vector<std::string> violations;  // when verifies > 0
  std::vector<ListReply> lists;         // request_id unset
  std::vector<Status> purges;           // kOk, kNotFound or kFailedPrecondition
  std::vector<uint64_t> purged;         // instances deleted per purge
  std::vector<TaskRow> fetched;         // when fetch_tasks > 0
  int64_t parked_left = -1;             // parked tasks remaining after the fetch; -1: no fetch
  // Instances that received inbox events as a side effect of this batch
  // (children started, parents notified, targets of sent events, children
  // terminated) and timers created: (instance, visible at) pairs.
  std::vector<LoadOp> notified;
  std::vector<std::pair<LoadOp, int64_t>> timers;
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
  std::vector<LoadOp> instances_with_inbox;  // visible now
  std::vector<std::pair<LoadOp, int64_t>> timers;  // earliest future inbox event per instance
  int64_t parked = 0;  // tasks left parked in PostgreSQL (fetch them as memory frees up)
};

}  // namespace baton::scheduler
