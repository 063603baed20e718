// The Baton wire protocol: every message that crosses a process boundary.
//
// Frames (ZeroMQ multipart):
//   [routing envelope, ROUTER side only] [type frame] [body frame]
// The type frame is exactly two bytes: {kProtocolVersion, MsgType}. The body
// is one msgpack map (BATON_DEFINE_MAP, baton/wire_map.h), so fields can be added without
// breaking older peers. Nothing else in the code base defines frames; the
// codec (baton/wire.h) is the only place that turns frames into structs and
// it checks frame count, version, type, size and shape before anything else
// sees the message. docs/protocol.md describes each message.
//
// Payloads (orchestration input/output, activity input/output, event data)
// are opaque msgpack documents carried as bytes (`Bytes`).
//
// Links:
//   client  (DEALER) -> scheduler (ROUTER, default tcp://127.0.0.1:7233)
//   scheduler (DEALER) -> broker (ROUTER, default tcp://127.0.0.1:7234)
//   worker  (DEALER) -> broker (same ROUTER socket)
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "baton/wire_map.h"

namespace baton {

inline constexpr uint8_t kProtocolVersion = 1;
// A body larger than this is rejected by every decoder before parsing.
inline constexpr std::size_t kMaxBodyBytes = 64u << 20;
// Instances hash onto this many partitions (see partition_of).
inline constexpr int kPartitionCount = 16;

// Liveness between broker, scheduler and workers (Paranoid Pirate style):
// every peer sends a Heartbeat each interval when idle; a peer silent for
// kHeartbeatLiveness intervals is dead.
inline constexpr std::chrono::milliseconds kHeartbeatIntervalMs{500};
inline constexpr int kHeartbeatLiveness = 4;

// Opaque bytes (normally a msgpack document).
using Bytes = std::string;

// Message types. Values travel on the wire: append only, never renumber.
enum class MsgType : uint8_t {
  // client <-> scheduler
  kStartRequest = 1,
  kStartReply = 2,
  kDescribeRequest = 3,
  kWaitRequest = 4,
  kInstanceReply = 5,
  kErrorReply = 6,
  kOkReply = 7,
  kRaiseEventRequest = 8,
  kTerminateRequest = 9,
  kSuspendRequest = 10,
  kResumeRequest = 11,
  kHistoryRequest = 12,
  kHistoryReply = 13,
  kVerifyRequest = 14,
  kVerifyReply = 15,
  kListRequest = 16,
  kListReply = 17,
  kPurgeRequest = 18,
  kPurgeReply = 19,
  // scheduler <-> broker
  kSchedulerHello = 20,
  kDispatchBatch = 21,
  kWorkLost = 22,
  // worker <-> broker
  kWorkerReady = 40,
  kCredit = 41,
  kActivityTask = 42,
  kOrchestrationTask = 43,
  kActivityResult = 44,
  kOrchestrationResult = 45,
  kWorkerDisconnect = 46,
  kActivityHeartbeat = 47,
  // worker -> broker -> scheduler
  kResultBatch = 48,
  // any link
  kHeartbeat = 60,
  // broker -> scheduler and workers (both broker links, like Heartbeat)
  kBrokerGoodbye = 61,
};

// Values are stored in PostgreSQL and travel on the wire: append only.
enum class OrchestrationStatus : uint8_t {
  kPending = 0,
  kRunning = 1,
  kCompleted = 2,
  kFailed = 3,
  kTerminated = 4,
  kSuspended = 5,
  kContinuedAsNew = 6,
};
const char* orchestration_status_name(OrchestrationStatus s);  // "COMPLETED"
bool is_terminal(OrchestrationStatus s);

// History event types (mirror Durable Task). Stored in PostgreSQL: append only.
enum class EventType : uint8_t {
  kExecutionStarted = 1,
  kExecutionCompleted = 2,
  kExecutionTerminated = 3,
  kTaskScheduled = 4,
  kTaskCompleted = 5,
  kTaskFailed = 6,
  kTimerCreated = 7,
  kTimerFired = 8,
  kEventRaised = 9,
  kEventSent = 10,
  kSubOrchestrationCreated = 11,
  kSubOrchestrationCompleted = 12,
  kSubOrchestrationFailed = 13,
  kOrchestratorStarted = 14,
  kExecutionSuspended = 15,
  kExecutionResumed = 16,
  kContinuedAsNew = 17,
};
const char* event_type_name(EventType t);  // "TaskScheduled"

// Actions an orchestrator step produces. Append only.
enum class ActionType : uint8_t {
  kScheduleTask = 1,
  kCreateTimer = 2,
  kCreateSubOrchestration = 3,
  kSendEvent = 4,
  kCompleteOrchestration = 5,
};
const char* action_type_name(ActionType t);  // "ScheduleTask"

// What a start does when an instance with the requested id exists. Append only.
enum class IdReusePolicy : uint8_t {
  kReject = 0,              // fail with kAlreadyExists, running or finished
  kAllowIfFinished = 1,     // a finished instance starts a new execution; running: kAlreadyExists
  kTerminateIfRunning = 2,  // a running instance is terminated first; finished: new execution
};

}  // namespace baton

MSGPACK_ADD_ENUM(baton::OrchestrationStatus)
MSGPACK_ADD_ENUM(baton::EventType)
MSGPACK_ADD_ENUM(baton::ActionType)
MSGPACK_ADD_ENUM(baton::IdReusePolicy)

namespace baton {

// Why something failed: an activity that threw, an orchestrator that threw,
// a non-determinism error. User failures are data, never infrastructure errors.
struct FailureDetails {
  std::string error_type;  // e.g. "std::runtime_error", "NonDeterminismError"
  std::string message;
  std::string details;     // free text (stack, nested failure)
  bool non_retryable = false;
  bool operator==(const FailureDetails&) const = default;
  BATON_DEFINE_SPARSE_MAP(error_type, message, details, non_retryable)
};

// How the scheduler retries a failed activity attempt (no replay per attempt;
// only the final outcome enters history). max_attempts 1 = no retries. The
// delay before attempt n+1 is min(first_retry_interval_ms * coeff^(n-1),
// max_retry_interval_ms). retry_timeout_ms (0 = none) bounds the whole
// retrying, counted from the first attempt's scheduling.
struct RetryPolicy {
  int32_t max_attempts = 1;
  int64_t first_retry_interval_ms = 1000;
  double backoff_coefficient = 2.0;
  int64_t max_retry_interval_ms = 3600000;
  int64_t retry_timeout_ms = 0;
  std::vector<std::string> non_retryable_error_types;
  bool operator==(const RetryPolicy&) const = default;
  BATON_DEFINE_SPARSE_MAP(max_attempts, first_retry_interval_ms, backoff_coefficient,
                          max_retry_interval_ms, retry_timeout_ms, non_retryable_error_types)
};

// One entry of an orchestration's history. Flat: which fields are meaningful
// depends on `type` (see docs/protocol.md). `event_id` is the action id for
// events created from actions (TaskScheduled, TimerCreated, ...), -1 otherwise;
// `task_scheduled_id` links a completion to the event that scheduled it.
struct HistoryEvent {
  EventType type = EventType::kExecutionStarted;
  int32_t event_id = -1;
  int64_t timestamp_ms = 0;
  std::string name;        // orchestrator / activity / event name
  Bytes input;             // ExecutionStarted, TaskScheduled, EventRaised
  Bytes result;            // TaskCompleted, ExecutionCompleted
  int32_t task_scheduled_id = -1;
  OrchestrationStatus status = OrchestrationStatus::kRunning;  // ExecutionCompleted
  FailureDetails failure;  // TaskFailed, ExecutionCompleted(failed)
  std::string task_queue;  // ExecutionStarted, TaskScheduled
  std::string instance_id;  // sub-orchestrations
  int64_t fire_at_ms = 0;   // timers
  int32_t attempt = 0;      // TaskCompleted / TaskFailed: the attempt that produced it
  bool operator==(const HistoryEvent&) const = default;
  BATON_DEFINE_SPARSE_MAP(type, event_id, timestamp_ms, name, input, result, task_scheduled_id,
                          status, failure, task_queue, instance_id, fire_at_ms, attempt)
};

// One decision of an orchestrator step. `id` is the orchestrator's action
// sequence number; the scheduler turns it into the matching history event:
//   kScheduleTask           -> TaskScheduled{event_id=id, name, input, task_queue}
//   kCreateTimer            -> TimerCreated{event_id=id, fire_at_ms}
//   kCreateSubOrchestration -> SubOrchestrationCreated{event_id=id, name, instance_id, input}
//   kSendEvent              -> EventSent{event_id=id, instance_id, name, input}
//   kCompleteOrchestration  -> ExecutionCompleted{status, result, failure}, or for
//                              status kContinuedAsNew: ContinuedAsNew{input=result}
//                              and a new execution started with `result` as input.
struct Action {
  ActionType type = ActionType::kScheduleTask;
  int32_t id = -1;
  std::string name;
  Bytes input;
  std::string task_queue;   // empty: the orchestration's task queue
  // kCompleteOrchestration
  OrchestrationStatus status = OrchestrationStatus::kCompleted;
  Bytes result;
  FailureDetails failure;
  // kScheduleTask: retries and timeouts (0 = none / the scheduler default).
  RetryPolicy retry;
  int64_t start_to_close_timeout_ms = 0;
  int64_t heartbeat_timeout_ms = 0;
  // kScheduleTask: how long the task may wait for a worker to start it
  // (0 = forever). Missing it fails the task with ScheduleToStartTimeout,
  // not retried.
  int64_t schedule_to_start_timeout_ms = 0;
  // kCreateTimer
  int64_t fire_at_ms = 0;
  // kCreateSubOrchestration (child id), kSendEvent (target instance)
  std::string instance_id;
  // kCompleteOrchestration with kContinuedAsNew: events the new execution
  // starts with (EventRaised the old one had not consumed).
  std::vector<HistoryEvent> carryover_events;
  bool operator==(const Action&) const = default;
  BATON_DEFINE_SPARSE_MAP(type, id, name, input, task_queue, status, result, failure, retry,
                          start_to_close_timeout_ms, heartbeat_timeout_ms, fire_at_ms, instance_id,
                          carryover_events, schedule_to_start_timeout_ms)
};

// ---------------------------------------------------------------- client API
// Every request carries a client-chosen request_id echoed in its reply, so
// one DEALER socket can have many requests outstanding.

// Headers a client sends with every request (its profile's `metadata`
// table): at most 32, keys of 1 to 64 characters [A-Za-z0-9._-], values of
// at most 1,024 bytes. The scheduler checks them and names them in its log
// line of every request it refuses, so a caller's trace id follows a failure.
using Metadata = std::map<std::string, std::string>;

struct StartRequest {
  static constexpr MsgType kType = MsgType::kStartRequest;
  uint64_t request_id = 0;
  std::string ns;
  std::string name;
  std::string instance_id;  // empty: the scheduler assigns a UUID
  std::string task_queue;   // empty: "default"
  Bytes input;
  // Wall-clock ms: the first step runs not before then (0: now). The
  // instance is PENDING until it starts.
  int64_t start_at_ms = 0;
  IdReusePolicy id_reuse_policy = IdReusePolicy::kReject;
  // A start carrying the idempotency key of the start that created the
  // existing instance succeeds (returns that instance) whatever the policy:
  // retrying a start whose reply was lost is safe. Empty: none.
  std::string idempotency_key;
  Metadata metadata;  // the client profile's headers (see Metadata)
  // > 0: start and wait in one request (execute_orchestration). The reply
  // waits until the instance has finished, as a WaitRequest would: an
  // InstanceReply. If it has not finished within wait_timeout_ms, the reply
  // is the StartReply (the start stands; wait with a WaitRequest). A
  // scheduler that predates the field answers every start with StartReply,
  // so a client handles both. 0: StartReply once the start is committed.
  int64_t wait_timeout_ms = 0;
  BATON_DEFINE_MAP(request_id, ns, name, instance_id, task_queue, input, start_at_ms,
                   id_reuse_policy, idempotency_key, metadata, wait_timeout_ms)
};

struct StartReply {
  static constexpr MsgType kType = MsgType::kStartReply;
  uint64_t request_id = 0;
  std::string instance_id;
  BATON_DEFINE_MAP(request_id, instance_id)
};

struct DescribeRequest {
  static constexpr MsgType kType = MsgType::kDescribeRequest;
  uint64_t request_id = 0;
  std::string ns;
  std::string instance_id;
  Metadata metadata;  // the client profile's headers (see Metadata)
  BATON_DEFINE_MAP(request_id, ns, instance_id, metadata)
};

// Long poll: answered with InstanceReply once the instance is terminal, or
// ErrorReply(kDeadlineExceeded) after timeout_ms.
struct WaitRequest {
  static constexpr MsgType kType = MsgType::kWaitRequest;
  uint64_t request_id = 0;
  std::string ns;
  std::string instance_id;
  int64_t timeout_ms = 30000;
  // false: until the instance finishes; true: until it has started (any
  // status but PENDING).
  bool until_started = false;
  Metadata metadata;  // the client profile's headers (see Metadata)
  BATON_DEFINE_MAP(request_id, ns, instance_id, timeout_ms, until_started, metadata)
};

struct InstanceInfo {
  std::string ns;
  std::string instance_id;
  std::string name;
  OrchestrationStatus status = OrchestrationStatus::kPending;
  std::string task_queue;
  Bytes input;
  Bytes output;
  Bytes custom_status;
  FailureDetails failure;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t completed_ms = 0;  // 0 while not terminal
  std::string parent_instance_id;
  BATON_DEFINE_MAP(ns, instance_id, name, status, task_queue, input, output, custom_status, failure,
                   created_ms, updated_ms, completed_ms, parent_instance_id)
};

struct InstanceReply {
  static constexpr MsgType kType = MsgType::kInstanceReply;
  uint64_t request_id = 0;
  InstanceInfo info;
  BATON_DEFINE_MAP(request_id, info)
};

// Instances of a namespace matching every filter that is set, ordered by
// (created_ms, instance_id); payloads (input, output, custom status) are
// left out of the listing. A reply with a non-empty continuation token has
// more: send the same request with that token.
struct ListRequest {
  static constexpr MsgType kType = MsgType::kListRequest;
  uint64_t request_id = 0;
  std::string ns;
  std::vector<OrchestrationStatus> statuses;  // empty: any
  std::string name;                           // exact orchestrator name; empty: any
  std::string instance_id_prefix;
  std::string task_queue;
  int64_t created_from_ms = 0;  // inclusive; 0: unbounded
  int64_t created_to_ms = 0;    // exclusive; 0: unbounded
  uint32_t page_size = 100;     // 1 to 1000
  std::string continuation_token;
  Metadata metadata;  // the client profile's headers (see Metadata)
  BATON_DEFINE_MAP(request_id, ns, statuses, name, instance_id_prefix, task_queue, created_from_ms,
                   created_to_ms, page_size, continuation_token, metadata)
};

struct ListReply {
  static constexpr MsgType kType = MsgType::kListReply;
  uint64_t request_id = 0;
  std::vector<InstanceInfo> instances;
  std::string continuation_token;  // empty: no more
  BATON_DEFINE_MAP(request_id, instances, continuation_token)
};

// Deletes finished instances with their history: one by id (with
// `recursive`, its sub-orchestrations too), or, when instance_id is empty,
// every instance of the namespace matching the filter (statuses must all be
// terminal; empty: COMPLETED, FAILED and TERMINATED). Purging a running
// instance by id is kFailedPrecondition; an unknown id is kNotFound.
struct PurgeRequest {
  static constexpr MsgType kType = MsgType::kPurgeRequest;
  uint64_t request_id = 0;
  std::string ns;
  std::string instance_id;
  bool recursive = false;
  std::vector<OrchestrationStatus> statuses;
  int64_t created_from_ms = 0;
  int64_t created_to_ms = 0;
  Metadata metadata;  // the client profile's headers (see Metadata)
  BATON_DEFINE_MAP(request_id, ns, instance_id, recursive, statuses, created_from_ms, created_to_ms,
                   metadata)
};

struct PurgeReply {
  static constexpr MsgType kType = MsgType::kPurgeReply;
  uint64_t request_id = 0;
  uint64_t deleted = 0;  // instances deleted
  BATON_DEFINE_MAP(request_id, deleted)
};


// Raise an external event: EventRaised{name, input=data} enters the
// instance's inbox. kNotFound for an unknown instance, kFailedPrecondition
// for a finished one. Answered with OkReply once committed.
struct RaiseEventRequest {
  static constexpr MsgType kType = MsgType::kRaiseEventRequest;
  uint64_t request_id = 0;
  std::string ns;
  std::string instance_id;
  std::string name;
  Bytes data;
  Metadata metadata;  // the client profile's headers (see Metadata)
  BATON_DEFINE_MAP(request_id, ns, instance_id, name, data, metadata)
};

// Terminate a running or suspended instance (and, if `recursive`, its
// running sub-orchestrations). Durable and ordered with other inbox events.
struct TerminateRequest {
  static constexpr MsgType kType = MsgType::kTerminateRequest;
  uint64_t request_id = 0;
  std::string ns;
  std::string instance_id;
  std::string reason;
  bool recursive = true;
  Metadata metadata;  // the client profile's headers (see Metadata)
  BATON_DEFINE_MAP(request_id, ns, instance_id, reason, recursive, metadata)
};

// Suspend: new events are buffered and nothing runs until ResumeRequest.
struct SuspendRequest {
  static constexpr MsgType kType = MsgType::kSuspendRequest;
  uint64_t request_id = 0;
  std::string ns;
  std::string instance_id;
  std::string reason;
  Metadata metadata;  // the client profile's headers (see Metadata)
  BATON_DEFINE_MAP(request_id, ns, instance_id, reason, metadata)
};

struct ResumeRequest {
  static constexpr MsgType kType = MsgType::kResumeRequest;
  uint64_t request_id = 0;
  std::string ns;
  std::string instance_id;
  std::string reason;
  Metadata metadata;  // the client profile's headers (see Metadata)
  BATON_DEFINE_MAP(request_id, ns, instance_id, reason, metadata)
};

// An instance's whole history (every execution, in seq order), answered with
// HistoryReply, or ErrorReply(kNotFound).
struct HistoryRequest {
  static constexpr MsgType kType = MsgType::kHistoryRequest;
  uint64_t request_id = 0;
  std::string ns;
  std::string instance_id;
  Metadata metadata;  // the client profile's headers (see Metadata)
  BATON_DEFINE_MAP(request_id, ns, instance_id, metadata)
};

struct HistoryReply {
  static constexpr MsgType kType = MsgType::kHistoryReply;
  uint64_t request_id = 0;
  std::vector<HistoryEvent> events;
  BATON_DEFINE_MAP(request_id, events)
};

// Check the database invariants (every task belongs to a live instance,
// history seq is contiguous and matches history_len, no finished instance
// has pending inbox events, no task lease held by an unknown owner past its
// expiry). Answered with VerifyReply listing every violation (at most 1000).
struct VerifyRequest {
  static constexpr MsgType kType = MsgType::kVerifyRequest;
  uint64_t request_id = 0;
  Metadata metadata;  // the client profile's headers (see Metadata)
  BATON_DEFINE_MAP(request_id, metadata)
};

struct VerifyReply {
  static constexpr MsgType kType = MsgType::kVerifyReply;
  uint64_t request_id = 0;
  std::vector<std::string> violations;
  BATON_DEFINE_MAP(request_id, violations)
};

// The answer to a request that succeeded and returns nothing else.
struct OkReply {
  static constexpr MsgType kType = MsgType::kOkReply;
  uint64_t request_id = 0;
  BATON_DEFINE_MAP(request_id)
};

// The answer to any request that failed; `code` is a StatusCode.
struct ErrorReply {
  static constexpr MsgType kType = MsgType::kErrorReply;
  uint64_t request_id = 0;
  uint8_t code = 0;
  std::string message;
  BATON_DEFINE_MAP(request_id, code, message)
};

// ----------------------------------------------------------- work items
// `work_id` is unique per dispatch (the scheduler never reuses one, also not
// across its restarts); results and WorkLost refer to it. A result whose
// work_id the scheduler no longer expects is stale and discarded.

// Replay `past_events` (already in history), then apply `new_events` (the
// step's input, starting with OrchestratorStarted) and answer with actions.
//
// Sticky execution (docs/architecture.md, "Sticky orchestrations"): a worker
// may keep an instance's orchestrator suspended in memory after a step, under
// `cache_token`. The next step then goes to that worker (`sticky_worker`) and
// carries only the history it has not seen: `past_events` start at index
// `past_from` of the execution's history. A worker without that state (same
// token, exactly `past_from` events applied) answers with `cache_miss` and
// the scheduler sends the step again with the whole history (past_from 0).
struct OrchestrationTask {
  static constexpr MsgType kType = MsgType::kOrchestrationTask;
  uint64_t work_id = 0;
  std::string ns;
  std::string instance_id;
  std::string task_queue;
  std::string name;
  std::vector<HistoryEvent> past_events;
  std::vector<HistoryEvent> new_events;
  // Wall-clock ms since the epoch at which the step became dispatchable (its
  // oldest new event was committed). 0: unknown.
  int64_t scheduled_at_ms = 0;
  // The worker (its worker_id) the broker should hand this step to; empty,
  // or a worker the broker does not know (or that is leaving): any worker.
  std::string sticky_worker;
  // Names the worker's cached state of this execution; 0: do not cache it.
  uint64_t cache_token = 0;
  // Index in the execution's history of past_events[0]; > 0 only with a
  // cache_token the worker is expected to hold.
  int32_t past_from = 0;
  BATON_DEFINE_MAP(work_id, ns, instance_id, task_queue, name, past_events, new_events,
                   scheduled_at_ms, sticky_worker, cache_token, past_from)
};

struct ActivityTask {
  static constexpr MsgType kType = MsgType::kActivityTask;
  uint64_t work_id = 0;
  int64_t task_id = 0;     // row in the scheduler's task table
  int32_t attempt = 1;
  std::string ns;
  std::string instance_id;
  std::string task_queue;
  std::string name;
  int32_t task_scheduled_id = -1;
  Bytes input;
  int64_t heartbeat_timeout_ms = 0;  // 0: the activity need not heartbeat
  Bytes heartbeat_details;           // the last details a previous attempt reported
  // The scheduler needs to know when the attempt starts (a schedule-to-start
  // timeout is running): the worker sends an ActivityHeartbeat as it starts.
  bool report_start = false;
  // Wall-clock ms since the epoch at which this attempt became dispatchable
  // (scheduled, or its retry delay ended); the worker's schedule-to-start
  // latency is measured from it. 0: unknown.
  int64_t scheduled_at_ms = 0;
  // Eager steps (docs/architecture.md, "Eager steps"): the worker that keeps
  // the instance's orchestrator suspended. The broker hands it the task if it
  // serves the queue and has a free activity slot now, else any worker (an
  // activity never waits for one worker). Empty: any worker.
  std::string sticky_worker;
  // At most one: the orchestrator step this activity's completion starts, as
  // the scheduler would dispatch it to sticky_worker (cache_token, past_from,
  // the unseen past_events), with new_events = [OrchestratorStarted] whose
  // timestamp is the earliest the step may claim. A worker that holds the
  // orchestrator in exactly that state runs the step as soon as the activity
  // completes (after appending TaskCompleted) and returns it in
  // ActivityResult.next_step; any other worker ignores it.
  std::vector<OrchestrationTask> next_step;
  BATON_DEFINE_MAP(work_id, task_id, attempt, ns, instance_id, task_queue, name, task_scheduled_id,
                   input, heartbeat_timeout_ms, heartbeat_details, report_start, scheduled_at_ms,
                   sticky_worker, next_step)
};

// A suspended orchestrator a worker dropped from its cache to make room
// (sticky orchestrations): the instance's next step must carry the whole
// history.
struct EvictedOrchestration {
  std::string ns;
  std::string instance_id;
  uint64_t cache_token = 0;
  BATON_DEFINE_MAP(ns, instance_id, cache_token)
};

// The actions of one step, in the order the orchestrator produced them. A
// step that cannot run (unknown orchestrator, non-determinism) answers with
// a single kCompleteOrchestration action of status kFailed.
struct OrchestrationResult {
  static constexpr MsgType kType = MsgType::kOrchestrationResult;
  uint64_t work_id = 0;
  std::string ns;
  std::string instance_id;
  std::vector<Action> actions;
  bool has_custom_status = false;  // set_custom_status() was called (this or an earlier step)
  Bytes custom_status;
  // The worker that ran the step (its worker_id).
  std::string worker_id;
  // The worker keeps the orchestrator suspended after this step, under the
  // task's cache_token, having applied past_from + past_events + new_events.
  bool cached = false;
  // The task had past_from > 0 and the worker holds no matching state: no
  // actions; send the step again with the whole history.
  bool cache_miss = false;
  // Orchestrators of other instances this worker dropped from its cache
  // since its previous result (least recently used first out).
  std::vector<EvictedOrchestration> evicted;
  // The fewest successful activity results (TaskCompleted) the orchestrator
  // needs, as this step left it, before its code can run again (e.g. 100
  // for a when_all over 100 pending activities). The scheduler may hold
  // fewer such results back instead of starting a step that could do
  // nothing. 0 (older workers) or 1: every result may wake it.
  uint32_t wake_after = 0;
  BATON_DEFINE_MAP(work_id, ns, instance_id, actions, has_custom_status, custom_status, worker_id,
                   cached, cache_miss, evicted, wake_after)
};

struct ActivityResult {
  static constexpr MsgType kType = MsgType::kActivityResult;
  uint64_t work_id = 0;
  int64_t task_id = 0;
  int32_t attempt = 1;
  std::string ns;
  std::string instance_id;
  bool failed = false;
  Bytes output;            // when !failed
  FailureDetails failure;  // when failed
  // At most one: the result of ActivityTask.next_step, run by this worker on
  // the orchestrator it keeps suspended with new_events =
  // [OrchestratorStarted{timestamp next_step_at_ms}, TaskCompleted{output,
  // timestamp next_step_at_ms}]. The scheduler records exactly those events
  // and commits the step with the result, or, if anything else happened to
  // the instance meanwhile, ignores the step and no longer counts on the
  // worker's copy of the orchestrator.
  std::vector<OrchestrationResult> next_step;
  int64_t next_step_at_ms = 0;
  BATON_DEFINE_MAP(work_id, task_id, attempt, ns, instance_id, failed, output, failure, next_step,
                   next_step_at_ms)
};

// worker -> broker -> scheduler: the activity of `work_id` is alive. Renews
// its lease (heartbeat timeout); `details` reach the next attempt if this one
// fails. The broker forwards it unchanged and returns no credit for it.
struct ActivityHeartbeat {
  static constexpr MsgType kType = MsgType::kActivityHeartbeat;
  uint64_t work_id = 0;
  int64_t task_id = 0;
  int32_t attempt = 1;
  Bytes details;
  BATON_DEFINE_MAP(work_id, task_id, attempt, details)
};

// worker -> broker and broker -> scheduler: several results in one message.
// Each element is the body of an ActivityResult / OrchestrationResult exactly
// as it would travel alone, so the broker checks and forwards them without
// encoding them again. Sent only to a peer that said it takes them
// (Heartbeat.result_batches from the broker, SchedulerHello.result_batches
// from the scheduler); every other peer gets one message per result. The
// order of results of different work items carries no meaning.
struct ResultBatch {
  static constexpr MsgType kType = MsgType::kResultBatch;
  std::vector<Bytes> activities;
  std::vector<Bytes> orchestrations;
  BATON_DEFINE_MAP(activities, orchestrations)
};

// ----------------------------------------------------- scheduler <-> broker

// First message of a scheduler on the broker link, and repeated whenever it
// sees a new broker incarnation. The broker routes results and WorkLost to
// the scheduler that said hello last.
// Sent by the scheduler that owns the partitions (never by a standby): the
// broker routes results and WorkLost to the sender of the hello with the
// highest lease epoch, so a fenced-out scheduler cannot take the route back.
struct SchedulerHello {
  static constexpr MsgType kType = MsgType::kSchedulerHello;
  std::string scheduler_id;
  uint64_t incarnation = 0;
  int64_t epoch = 0;  // the sender's partition lease epoch
  // The scheduler takes ResultBatch messages (else one message per result).
  bool result_batches = false;
  BATON_DEFINE_MAP(scheduler_id, incarnation, epoch, result_batches)
};

// scheduler -> broker, and broker -> a worker that said it takes them
// (WorkerReady.task_batches; every other worker gets one ActivityTask /
// OrchestrationTask message per item). To a worker, each item uses one
// credit of its kind, as if it had come alone.
struct DispatchBatch {
  static constexpr MsgType kType = MsgType::kDispatchBatch;
  std::vector<ActivityTask> activities;
  std::vector<OrchestrationTask> orchestrations;
  BATON_DEFINE_MAP(activities, orchestrations)
};

// broker -> scheduler: these work items will not produce a result (their
// worker died, or they could not be queued); dispatch them again.
struct WorkLost {
  static constexpr MsgType kType = MsgType::kWorkLost;
  std::vector<uint64_t> work_ids;
  std::string reason;
  BATON_DEFINE_MAP(work_ids, reason)
};

// ------------------------------------------------------- worker <-> broker

// First message of a worker, and repeated on a new broker incarnation. The
// slots are the work the worker can take now (its credits); every result
// returns one credit of its kind; Credit adds more.
struct WorkerReady {
  static constexpr MsgType kType = MsgType::kWorkerReady;
  std::string worker_id;
  uint64_t incarnation = 0;
  std::string ns;
  std::vector<std::string> task_queues;
  int32_t activity_slots = 0;
  int32_t orchestration_slots = 0;
  std::vector<std::string> orchestrators;  // registered names (informational)
  std::vector<std::string> activities;
  // The worker takes DispatchBatch messages (several work items in one).
  bool task_batches = false;
  BATON_DEFINE_MAP(worker_id, incarnation, ns, task_queues, activity_slots, orchestration_slots,
                   orchestrators, activities, task_batches)
};

struct Credit {
  static constexpr MsgType kType = MsgType::kCredit;
  int32_t activity = 0;
  int32_t orchestration = 0;
  BATON_DEFINE_MAP(activity, orchestration)
};

// A worker that is stopping says so: the broker routes no new work to it but
// keeps tracking its in-flight items until their results arrive or it goes silent.
struct WorkerDisconnect {
  static constexpr MsgType kType = MsgType::kWorkerDisconnect;
  std::string worker_id;
  BATON_DEFINE_MAP(worker_id)
};

// Sent by every peer each kHeartbeatIntervalMs. A changed `incarnation`
// tells the receiver its peer restarted and lost its soft state.
struct Heartbeat {
  static constexpr MsgType kType = MsgType::kHeartbeat;
  std::string sender_id;
  uint64_t incarnation = 0;
  // The sender (a broker) takes ResultBatch messages from workers.
  bool result_batches = false;
  BATON_DEFINE_MAP(sender_id, incarnation, result_batches)
};

// broker -> scheduler and every worker it knows: the broker is stopping
// (graceful shutdown). Sent without blocking, once, as the broker exits; a
// receiver treats it like broker silence at once (no liveness wait): it
// reconnects with its usual backoff and announces itself again (WorkerReady /
// SchedulerHello) to whichever broker answers. `incarnation` is the stopping
// broker's; `reason` is free text for logs.
struct BrokerGoodbye {
  static constexpr MsgType kType = MsgType::kBrokerGoodbye;
  uint64_t incarnation = 0;
  std::string reason;
  BATON_DEFINE_MAP(incarnation, reason)
};

// Stable hash of an instance onto [0, kPartitionCount).
int partition_of(std::string_view ns, std::string_view instance_id);

}  // namespace baton
