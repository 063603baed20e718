// Seed corpora for the fuzz targets, generated from the protocol itself so
// they never go stale:
//
//   baton_fuzz_corpus DIR   writes DIR/wire_decode/, DIR/wire_frames/,
//                           DIR/json_codec/ and DIR/json_codec_deep/
//                           (existing files are overwritten)
//
// wire_decode: every message, default-constructed and filled with typical
// values (nested actions, history events, failures, payloads), as
// [type byte][body]. wire_frames: the same bodies as DEALER and ROUTER
// messages, plus malformed framings (wrong version, unknown type, missing
// and extra frames). json_codec: JSON a user might type (including edge
// cases: deep nesting, big numbers, escapes), msgpack payloads, and the
// history events and instances batonctl formats.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "tests/fuzz/messages.h"

namespace {

using namespace baton;

template <class T>
std::string pack(const T& v) {
  msgpack::sbuffer b;
  msgpack::pack(b, v);
  return std::string(b.data(), b.size());
}

FailureDetails failure() { return {"std::runtime_error", "boom", "at line 3", true}; }

HistoryEvent event(EventType type) {
  HistoryEvent e;
  e.type = type;
  e.event_id = 2;
  e.timestamp_ms = 1714564800123;
  e.name = "say_hello";
  e.input = pack(std::string("World"));
  e.result = pack(std::vector<int>{1, 2, 3});
  e.task_scheduled_id = 1;
  e.status = OrchestrationStatus::kFailed;
  e.failure = failure();
  e.task_queue = "default";
  e.instance_id = "child-1";
  e.fire_at_ms = 1714564900000;
  e.attempt = 3;
  return e;
}

Action action(ActionType type) {
  Action a;
  a.type = type;
  a.id = 4;
  a.name = "process_greeting";
  a.input = pack(std::map<std::string, int>{{"n", 3}});
  a.task_queue = "gpu";
  a.status = OrchestrationStatus::kContinuedAsNew;
  a.result = pack(2.5);
  a.failure = failure();
  a.retry.max_attempts = 5;
  a.retry.non_retryable_error_types = {"std::invalid_argument"};
  a.start_to_close_timeout_ms = 500;
  a.heartbeat_timeout_ms = 1000;
  a.schedule_to_start_timeout_ms = 250;
  a.fire_at_ms = 1714564900000;
  a.instance_id = "target";
  a.carryover_events = {event(EventType::kEventRaised)};
  return a;
}

InstanceInfo info() {
  InstanceInfo i;
  i.ns = "default";
  i.instance_id = "order-42";
  i.name = "process_order";
  i.status = OrchestrationStatus::kFailed;
  i.task_queue = "default";
  i.input = pack(std::string("in"));
  i.output = pack(msgpack::type::nil_t());
  i.custom_status = pack(std::map<std::string, bool>{{"ok", false}});
  i.failure = failure();
  i.created_ms = 1;
  i.updated_ms = 2;
  i.completed_ms = 3;
  i.parent_instance_id = "parent";
  return i;
}

ActivityTask activity_task() {
  ActivityTask t;
  t.work_id = 0x1234567890ull;
  t.task_id = 77;
  t.attempt = 2;
  t.ns = "default";
  t.instance_id = "i";
  t.task_queue = "default";
  t.name = "say_hello";
  t.task_scheduled_id = 0;
  t.input = pack(std::string("World"));
  t.heartbeat_timeout_ms = 1000;
  t.heartbeat_details = pack(5);
  t.report_start = true;
  t.scheduled_at_ms = 1714564800000;
  return t;
}

OrchestrationTask orchestration_task() {
  OrchestrationTask t;
  t.work_id = 9;
  t.ns = "default";
  t.instance_id = "i";
  t.task_queue = "default";
  t.name = "function_chaining";
  t.past_events = {event(EventType::kExecutionStarted), event(EventType::kTaskScheduled)};
  t.new_events = {event(EventType::kOrchestratorStarted), event(EventType::kTaskCompleted)};
  t.scheduled_at_ms = 1714564800000;
  return t;
}

// One typical value of each message (default-constructed ones are seeded
// too). Fields are set by name, so fields added later do not break this.
template <class T>
T filled() {
  T m{};
  if constexpr (requires { m.request_id; }) m.request_id = 7;
  if constexpr (requires { m.ns; }) m.ns = "default";
  if constexpr (requires { m.instance_id; }) m.instance_id = "id-1";
  if constexpr (std::is_same_v<T, StartRequest>) {
    m.name = "function_chaining";
    m.task_queue = "default";
    m.input = pack(std::string("World"));
    m.wait_timeout_ms = 60000;
  } else if constexpr (std::is_same_v<T, WaitRequest>) {
    m.timeout_ms = 60000;
  } else if constexpr (std::is_same_v<T, InstanceReply>) {
    m.info = info();
  } else if constexpr (std::is_same_v<T, ErrorReply>) {
    m.code = 3;
    m.message = "bad request";
  } else if constexpr (std::is_same_v<T, RaiseEventRequest>) {
    m.name = "approval";
    m.data = pack(true);
  } else if constexpr (std::is_same_v<T, TerminateRequest>) {
    m.reason = "enough";
    m.recursive = false;
  } else if constexpr (std::is_same_v<T, SuspendRequest> || std::is_same_v<T, ResumeRequest>) {
    m.reason = "maintenance";
  } else if constexpr (std::is_same_v<T, HistoryReply>) {
    for (int t = 1; t <= 17; ++t) m.events.push_back(event(static_cast<EventType>(t)));
  } else if constexpr (std::is_same_v<T, VerifyReply>) {
    m.violations = {"task 3 belongs to no instance default/ghost"};
  } else if constexpr (std::is_same_v<T, ListReply>) {
    m.instances = {info(), info()};
    m.continuation_token = "next";
  } else if constexpr (std::is_same_v<T, ListRequest>) {
    m.statuses = {OrchestrationStatus::kRunning, OrchestrationStatus::kFailed};
    m.name = "process_order";
    m.instance_id_prefix = "order-";
    m.continuation_token = "next";
  } else if constexpr (std::is_same_v<T, PurgeRequest>) {
    m.recursive = true;
    m.statuses = {OrchestrationStatus::kCompleted};
  } else if constexpr (std::is_same_v<T, SchedulerHello>) {
    m.scheduler_id = "scheduler-1";
    m.incarnation = 42;
    m.result_batches = true;
  } else if constexpr (std::is_same_v<T, DispatchBatch>) {
    m.activities = {activity_task(), activity_task()};
    m.orchestrations = {orchestration_task()};
  } else if constexpr (std::is_same_v<T, WorkLost>) {
    m.work_ids = {1, 2, 3};
    m.reason = "worker died";
  } else if constexpr (std::is_same_v<T, WorkerReady>) {
    m.worker_id = "w-1";
    m.incarnation = 5;
    m.task_queues = {"default", "gpu"};
    m.activity_slots = 8;
    m.orchestration_slots = 64;
    m.task_batches = true;
    m.orchestrators = {"function_chaining"};
    m.activities = {"say_hello"};
  } else if constexpr (std::is_same_v<T, Credit>) {
    m.activity = 3;
    m.orchestration = 1;
  } else if constexpr (std::is_same_v<T, ActivityTask>) {
    m = activity_task();
  } else if constexpr (std::is_same_v<T, OrchestrationTask>) {
    m = orchestration_task();
  } else if constexpr (std::is_same_v<T, ActivityResult>) {
    m.work_id = 9;
    m.task_id = 77;
    m.attempt = 2;
    m.failed = true;
    m.output = pack(std::string("out"));
    m.failure = failure();
  } else if constexpr (std::is_same_v<T, OrchestrationResult>) {
    m.work_id = 9;
    for (int t = 1; t <= 5; ++t) m.actions.push_back(action(static_cast<ActionType>(t)));
    m.has_custom_status = true;
    m.custom_status = pack(std::string("step 2"));
  } else if constexpr (std::is_same_v<T, ResultBatch>) {
    m.activities = {wire::encode(filled<ActivityResult>()),
                    wire::encode(filled<ActivityResult>())};
    m.orchestrations = {wire::encode(filled<OrchestrationResult>())};
  } else if constexpr (std::is_same_v<T, WorkerDisconnect>) {
    m.worker_id = "w-1";
  } else if constexpr (std::is_same_v<T, ActivityHeartbeat>) {
    m.work_id = 9;
    m.task_id = 77;
    m.attempt = 2;
    m.details = pack(5);
  } else if constexpr (std::is_same_v<T, Heartbeat>) {
    m.sender_id = "broker-1";
    m.incarnation = 99;
    m.result_batches = true;
  } else if constexpr (std::is_same_v<T, BrokerGoodbye>) {
    m.incarnation = 99;
    m.reason = "SIGTERM";
  }
  return m;
}

class Writer {
 public:
  explicit Writer(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
  }
  void add(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    ++count_;
  }
  int count() const { return count_; }

 private:
  std::filesystem::path dir_;
  int count_ = 0;
};

std::string frames(char flags, const std::vector<std::string>& parts) {
  std::string out(1, flags);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += fuzz::kFrameSeparator;
    out += parts[i];
  }
  return out;
}

std::string type_frame(uint8_t version, MsgType type) {
  return std::string{static_cast<char>(version), static_cast<char>(type)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  Writer decode(root / "wire_decode");
  Writer framed(root / "wire_frames");
  Writer json(root / "json_codec");

  if (const auto missing = fuzz::unlisted_message_types(); !missing.empty()) {
    std::fprintf(stderr,
                 "message types %s are not in tests/fuzz/messages.h (for_each_message): add "
                 "them so their decoders are fuzzed\n",
                 missing.c_str());
    return 1;
  }
  fuzz::for_each_message([&]<class T>() {
    const std::string name = wire::msg_type_name(T::kType);
    const char type = static_cast<char>(T::kType);
    for (const auto& [suffix, body] : {std::pair{"default", wire::encode(T{})},
                                       std::pair{"filled", wire::encode(filled<T>())}}) {
      decode.add(name + "-" + suffix, type + body);
      framed.add(name + "-" + suffix, frames(0, {type_frame(kProtocolVersion, T::kType), body}));
      framed.add(name + "-" + suffix + "-router",
                 frames(1, {"peer-7", type_frame(kProtocolVersion, T::kType), body}));
    }
  });
  const std::string hb = wire::encode(filled<Heartbeat>());
  framed.add("bad-version", frames(0, {type_frame(2, MsgType::kHeartbeat), hb}));
  framed.add("unknown-type",
             frames(0, {type_frame(kProtocolVersion, static_cast<MsgType>(99)), hb}));
  framed.add("one-frame", frames(0, {"garbage"}));
  framed.add("extra-frames",
             frames(0, {type_frame(kProtocolVersion, MsgType::kHeartbeat), hb, hb}));
  framed.add("long-type-frame", frames(0, {std::string(3, '\x01'), hb}));
  framed.add("empty-router", frames(1, {""}));

  // JSON as a user types it (mode byte 0).
  const std::vector<std::pair<std::string, std::string>> texts = {
      {"string", R"("World")"},
      {"object", R"({"n":3,"items":[1,2.5,-7,true,null],"nested":{"k":"v"}})"},
      {"numbers", R"([0,-0,1e308,-1e-308,18446744073709551615,-9223372036854775808,1.5e3])"},
      {"escapes", R"(["\u00e9\ud83d\ude00","\n\t\\\"","\u0000"])"},
      {"duplicate-keys", R"({"a":1,"a":2})"},
      {"empty", R"({"":[],"x":{}})"},
      {"invalid", R"({"a":)"},
      {"deep-256", std::string(256, '[') + std::string(256, ']')},
  };
  for (const auto& [name, text] : texts) json.add("json-" + name, '\0' + text);
  // Payloads as the scheduler stores them (mode byte 1).
  const std::vector<std::pair<std::string, std::string>> payloads = {
      {"string", pack(std::string("Hello World!"))},
      {"map", pack(std::map<std::string, std::vector<double>>{{"x", {1.5, -2}}})},
      {"int-keys", pack(std::map<int, int>{{1, 2}})},
      {"bin", std::string("\xc4\x03\x01\x02\x03", 5)},
      {"invalid-utf8", std::string("\xa2\xff\xfe", 3)},
      {"nan", std::string("\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 9)},
      {"ext", std::string("\xd4\x01\x02", 3)},
      {"two-documents", pack(1) + pack(2)},
      {"deep-256", std::string(256, '\x91') + '\xc0'},
  };
  for (const auto& [name, bytes] : payloads) json.add("payload-" + name, '\x01' + bytes);
  // History events and instances batonctl formats (mode byte 2).
  for (int t = 1; t <= 18; ++t) {
    json.add("event-" + std::to_string(t), '\x02' + wire::encode(event(static_cast<EventType>(t))));
  }
  json.add("instance", '\x02' + wire::encode(info()));
  // Nested 100000 levels: a separate corpus (fuzz.json_codec_deep_nesting).
  Writer deep(root / "json_codec_deep");
  constexpr std::size_t kDeep = 100000;
  deep.add("json-array", '\0' + std::string(kDeep, '[') + std::string(kDeep, ']'));
  deep.add("payload-array", '\x01' + std::string(kDeep, '\x91') + '\xc0');

  std::printf("wrote %d wire_decode, %d wire_frames and %d json_codec seeds under %s\n",
              decode.count(), framed.count(), json.count(), root.c_str());
  return 0;
}
