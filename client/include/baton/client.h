// The Baton client: start orchestrations, read their state and history, and
// raise events on them, terminate, suspend and resume them.
//
//   baton::Client client(baton::ClientOptions::from_env());
//   auto id = client.schedule_new_orchestration("greet", std::string_view("World"));
//   auto done = client.wait_for_orchestration_completion(*id, std::chrono::seconds(60));
//   if (done && done->is_completed()) std::cout << *done->read_output<std::string>();
//
// A Client talks to the scheduler (DEALER -> the scheduler's ROUTER, see
// baton/protocol.h) and never to PostgreSQL, the broker or workers. It connects
// lazily and reconnects on its own: the scheduler may be started after the
// client, and may restart while the client lives (a request in flight while it
// restarts times out).
//
// Errors are values (baton/status.h), never exceptions:
//   - an ErrorReply from the scheduler becomes a Status with its code and message
//     (kNotFound, kAlreadyExists, kInvalidArgument, kDeadlineExceeded, ...);
//   - no reply within the request's timeout: kUnavailable when the client has
//     no connection to the scheduler, kDeadlineExceeded when it is connected
//     but the scheduler did not answer. Either way the message names the
//     address. A state-changing request that timed out may still have been
//     applied; retrying a start with the same instance_id is safe (the second
//     one fails with kAlreadyExists). Retrying a raise may deliver the
//     event twice.
//   - an invalid address, a malformed reply or an unusable input:
//     kInvalidArgument / kInternal.
//
// Thread-safety: a Client is thread-safe; calls from many threads run
// concurrently (each call has its own request id; a long wait does not block
// other calls). The Client must outlive every call made on it.
#pragma once

#include <chrono>
#include <optional>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "baton/config.h"
#include "baton/protocol.h"
#include "baton/status.h"

namespace baton {

struct ClientOptions {
  // The scheduler's client endpoint (a ZeroMQ address).
  std::string address = kDefaultSchedulerAddress;
  // Namespace every request is made in.
  std::string ns = kDefaultNamespace;
  // How long a request waits for its reply. A wait gets its own timeout plus
  // this much.
  std::chrono::milliseconds request_timeout{30000};
  // Sent with every request to authenticate; empty: none.
  std::string api_key;
  // CurveZMQ on the scheduler link when curve.enabled() (server_key set; then
  // public_key and secret_key must be set too). Empty: plain TCP.
  CurveSettings curve;
  // Headers sent with every request (string keys and values).
  std::map<std::string, std::string> metadata;

  // The settings of load_connection_settings() (baton/config.h): the
  // environment (BATON_ADDRESS, BATON_NAMESPACE, BATON_API_KEY, BATON_CURVE_*),
  // then the profile file ($BATON_CONFIG_FILE or ~/.config/baton/baton.toml,
  // profile `profile` if non-empty, else $BATON_PROFILE, else "default"),
  // then defaults. kInvalidArgument naming the file or variable when the
  // configuration is wrong (see load_connection_settings); nothing is
  // silently ignored. Fields set in code afterwards override all of it.
  static Result<ClientOptions> load(const std::string& profile = {});

  // The options of `settings` (address, namespace, API key, curve, metadata).
  static ClientOptions from_settings(const ConnectionSettings& settings);

  // load(), or, when the configuration is wrong, the defaults overridden by
  // the BATON_* variables that are set (connection_settings_from_env(): the
  // profile file and client key pair are then ignored, silently). Programs
  // that can report an error should call load().
  static ClientOptions from_env();
};

struct StartOptions {
  // Empty: the scheduler assigns a UUID. What happens when an instance with
  // this id exists is `id_reuse_policy`'s call.
  std::string instance_id;
  // Empty: the default task queue.
  std::string task_queue;
  // Wall clock: the orchestration's first step runs not before then (the
  // instance is PENDING until; wait_for_orchestration_start sees it start).
  // Unset: now.
  std::optional<std::chrono::system_clock::time_point> start_at;
  // kReject (default): an existing instance with the id, running or
  // finished, fails the start with kAlreadyExists. kAllowIfFinished: a
  // finished one starts a new execution (its history is kept before it).
  // kTerminateIfRunning: a running one is terminated first.
  IdReusePolicy id_reuse_policy = IdReusePolicy::kReject;
  // Identifies this start: retrying a start with the key of the start that
  // created the instance succeeds and returns that instance, whatever the
  // policy. Empty: a fresh key per call (so only retries inside the client
  // are deduplicated); set your own to retry safely across processes.
  std::string idempotency_key;
};

// Filters of list_orchestrations; unset fields match everything.
struct OrchestrationQuery {
  std::vector<OrchestrationStatus> statuses;
  std::string name;                // orchestrator name
  std::string instance_id_prefix;
  std::string task_queue;
  std::optional<std::chrono::system_clock::time_point> created_from;  // inclusive
  std::optional<std::chrono::system_clock::time_point> created_to;    // exclusive
  uint32_t page_size = 100;        // 1 to 1000
  std::string continuation_token;  // from the previous page
};

// Filters of purge_orchestrations; statuses must be terminal (empty:
// COMPLETED, FAILED and TERMINATED).
struct PurgeFilter {
  std::vector<OrchestrationStatus> statuses;
  std::optional<std::chrono::system_clock::time_point> created_from;
  std::optional<std::chrono::system_clock::time_point> created_to;
};

// A snapshot of one orchestration instance: the InstanceInfo fields (ns,
// instance_id, name, status, task_queue, input, output, custom_status,
// failure, created_ms, updated_ms, completed_ms, parent_instance_id) plus
// helpers. Payloads are msgpack bytes; read_*<T>() decode them.
struct OrchestrationMetadata : InstanceInfo {
  const char* status_name() const { return orchestration_status_name(status); }
  bool is_terminal() const { return baton::is_terminal(status); }
  bool is_completed() const { return status == OrchestrationStatus::kCompleted; }
  bool is_failed() const { return status == OrchestrationStatus::kFailed; }

  // kInvalidArgument when the payload is empty or not a T.
  template <class T>
  Result<T> read_input() const {
    return decode_payload<T>(input, "input");
  }
  template <class T>
  Result<T> read_output() const {
    return decode_payload<T>(output, "output");
  }
  template <class T>
  Result<T> read_custom_status() const {
    return decode_payload<T>(custom_status, "custom_status");
  }

 private:
  template <class T>
  static Result<T> decode_payload(const Bytes& bytes, const char* what) {
    if (bytes.empty()) return invalid_argument(std::string(what) + " is empty");
    try {
      msgpack::object_handle oh = msgpack::unpack(bytes.data(), bytes.size());
      return oh.get().as<T>();
    } catch (const std::exception& e) {
      return invalid_argument(std::string("cannot decode ") + what + ": " + e.what());
    }
  }
};

// One page of a listing. Payloads (input, output, custom status) are not
// included: get_orchestration_metadata has them.
struct OrchestrationPage {
  std::vector<OrchestrationMetadata> instances;
  std::string continuation_token;  // empty: this was the last page
};


class Client {
 public:
  // Does not block and never throws: an unusable address (e.g. "foo") is
  // reported by every call as kInvalidArgument.
  explicit Client(ClientOptions options = ClientOptions::from_env());
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const;

  // Starts orchestration `name` with an input that is already one msgpack
  // document (empty: no input). Returns the instance id once the start has
  // committed. kInvalidArgument if `input_msgpack` is not exactly one msgpack
  // document, which catches the classic slip of passing a std::string value
  // here (std::string is Bytes): to send a string, call the typed overload
  // with an explicit type, schedule_new_orchestration<std::string>(name, s),
  // or pass a std::string_view.
  Result<std::string> schedule_new_orchestration(std::string_view name, const Bytes& input_msgpack,
                                                 const StartOptions& options = {});

  // Same, msgpack-encoding `input` (any type msgpack-c can pack, including
  // structs with MSGPACK_DEFINE_MAP).
  template <class I>
  Result<std::string> schedule_new_orchestration(std::string_view name, const I& input,
                                                 const StartOptions& options = {}) {
    Bytes encoded;
    try {
      msgpack::sbuffer buf;
      msgpack::pack(buf, input);
      encoded.assign(buf.data(), buf.size());
    } catch (const std::exception& e) {
      return invalid_argument(std::string("cannot encode input: ") + e.what());
    }
    return schedule_new_orchestration(name, encoded, options);
  }

  // The instance's current state. kNotFound if it does not exist.
  Result<OrchestrationMetadata> get_orchestration_metadata(std::string_view instance_id);

  // The instance's whole history: every event of every execution (after a
  // continue-as-new too), in the order the scheduler recorded them. Payloads
  // (input, result) are msgpack bytes as in HistoryEvent. kNotFound if the
  // instance does not exist; kInvalidArgument for an empty instance id.
  Result<std::vector<HistoryEvent>> get_orchestration_history(std::string_view instance_id);

  // Checks the database invariants on the scheduler (VerifyRequest) and
  // returns every violation found (empty: all hold). See docs/reliability
  // notes in docs/architecture.md.
  Result<std::vector<std::string>> verify_database();

  // Starts an orchestration and waits for it to finish: the started
  // instance's final metadata (a failed orchestration is a value; check
  // status). One request: the scheduler answers once the instance finished
  // (a second request, a WaitRequest, only if it has not within `timeout`).
  // Errors as schedule_new_orchestration, then as
  // wait_for_orchestration_completion; kInvalidArgument for a negative
  // timeout, before anything starts.
  Result<OrchestrationMetadata> execute_orchestration(std::string_view name,
                                                      const Bytes& input_msgpack,
                                                      std::chrono::milliseconds timeout,
                                                      const StartOptions& options = {});

  // Long poll: returns once the instance has started (left PENDING: running,
  // suspended or already finished). kDeadlineExceeded if it has not within
  // `timeout`; kNotFound if it does not exist.
  Result<OrchestrationMetadata> wait_for_orchestration_start(std::string_view instance_id,
                                                             std::chrono::milliseconds timeout);

  // One page of the namespace's instances matching `query`, oldest first
  // (by creation time, then id). kInvalidArgument for bad filters or a
  // malformed continuation token.
  Result<OrchestrationPage> list_orchestrations(const OrchestrationQuery& query = {});

  // Deletes a finished instance and its history; with `recursive`, its
  // sub-orchestrations too (all must be finished). Returns how many
  // instances were deleted. kNotFound for an unknown id;
  // kFailedPrecondition if it (or a descendant) has not finished.
  Result<uint64_t> purge_orchestration(std::string_view instance_id, bool recursive = false);

  // Deletes every finished instance of the namespace matching `filter`, with
  // its history. Returns how many were deleted.
  Result<uint64_t> purge_orchestrations(const PurgeFilter& filter);

  // Long poll on the scheduler (WaitRequest): returns as soon as the instance
  // is terminal (completed, failed, terminated; check status, a failed
  // orchestration is a value, not an error). kDeadlineExceeded if it is not
  // terminal within `timeout`; kNotFound if it does not exist. The client
  // itself gives up after timeout + options().request_timeout.
  Result<OrchestrationMetadata> wait_for_orchestration_completion(
      std::string_view instance_id, std::chrono::milliseconds timeout);

  // The calls below change an instance through its inbox: each returns ok
  // once the scheduler has durably recorded the request (OkReply), in order
  // with the instance's other inbox events; the instance acts on it at its
  // next step (use get_orchestration_metadata / wait_for_orchestration_completion
  // to see the effect). Each returns kNotFound for an unknown instance and
  // kFailedPrecondition for one that has finished (completed, failed,
  // terminated); any other ErrorReply is passed through with its code.

  // Raises external event `event_name` on the instance: EventRaised{name =
  // event_name, input = data_msgpack} enters its inbox and completes the
  // orchestrator's wait for that event (or stays buffered until it waits).
  // `data_msgpack` is already one msgpack document (empty: no data).
  // kInvalidArgument for an empty instance id or event name, or data that is
  // not exactly one msgpack document (a std::string value passed here: see
  // schedule_new_orchestration; call raise_orchestration_event<std::string>).
  Status raise_orchestration_event(std::string_view instance_id, std::string_view event_name,
                                   const Bytes& data_msgpack = {});

  // Same, msgpack-encoding `data` (any type msgpack-c can pack).
  template <class D>
  Status raise_orchestration_event(std::string_view instance_id, std::string_view event_name,
                                   const D& data) {
    Bytes encoded;
    try {
      msgpack::sbuffer buf;
      msgpack::pack(buf, data);
      encoded.assign(buf.data(), buf.size());
    } catch (const std::exception& e) {
      return invalid_argument(std::string("cannot encode event data: ") + e.what());
    }
    return raise_orchestration_event(instance_id, event_name, encoded);
  }

  // Terminates a running or suspended instance: it ends as TERMINATED with
  // `reason` (free text, may be empty) without running further; with
  // `recursive`, its running sub-orchestrations are terminated too.
  // kInvalidArgument for an empty instance id.
  Status terminate_orchestration(std::string_view instance_id, std::string_view reason,
                                 bool recursive = true);

  // Suspends the instance: new events are buffered and it runs no further
  // step until resume_orchestration. `reason` is free text (may be empty).
  // kInvalidArgument for an empty instance id.
  Status suspend_orchestration(std::string_view instance_id, std::string_view reason = "");

  // Resumes a suspended instance: it processes the events kept meanwhile.
  // kInvalidArgument for an empty instance id.
  Status resume_orchestration(std::string_view instance_id, std::string_view reason = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton
