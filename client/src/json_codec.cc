#include "json_codec.h"

#include <cstdio>
#include <stdexcept>
#include <ctime>
#include <exception>
#include <vector>

#include "baton/wire.h"

namespace baton::cli {
namespace {

// nlohmann's messages start with "[json.exception.parse_error.101] "; users
// need only the rest.
std::string strip_exception_tag(const char* what) {
  std::string s(what);
  if (!s.empty() && s.front() == '[') {
    if (auto end = s.find("] "); end != std::string::npos) s.erase(0, end + 2);
  }
  return s;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

Json time_or_null(int64_t unix_ms) {
  return unix_ms == 0 ? Json(nullptr) : Json(iso8601_utc(unix_ms));
}

// "type: message", or whichever of the two is set.
std::string failure_text(const FailureDetails& f) {
  if (f.error_type.empty()) return f.message;
  if (f.message.empty()) return f.error_type;
  return f.error_type + ": " + f.message;
}

// `text`, then ": failure" when the failure says anything.
std::string with_failure(std::string text, const FailureDetails& f) {
  const std::string failure = failure_text(f);
  if (failure.empty()) return text;
  return text.empty() ? failure : text + ": " + failure;
}

// A reason carried as a msgpack payload (terminate / suspend / resume).
std::string reason_text(const Bytes& input) {
  const Json j = payload_to_json(input);
  if (j.is_null() || (j.is_string() && j.get<std::string>().empty())) return "";
  return "reason: " + format_output(j);
}

}  // namespace

// Deeper documents are refused at this edge: nlohmann's msgpack conversions
// recurse once per level, so an adversarial payload could exhaust the stack.
constexpr int kMaxJsonDepth = 64;

Result<Bytes> json_to_msgpack(std::string_view text) {
  try {
    const Json j = Json::parse(text, [](int depth, Json::parse_event_t, Json&) {
      if (depth > kMaxJsonDepth) {
        throw std::invalid_argument("nested deeper than " + std::to_string(kMaxJsonDepth) +
                                    " levels");
      }
      return true;
    });
    std::vector<uint8_t> packed = Json::to_msgpack(j);
    return Bytes(packed.begin(), packed.end());
  } catch (const std::exception& e) {
    return invalid_argument("invalid JSON: " + strip_exception_tag(e.what()));
  }
}

Result<Json> msgpack_to_json(std::string_view bytes) {
  if (bytes.empty()) return Json(nullptr);
  try {
    // msgpack-c's parser is iterative and enforces the depth limit; only a
    // document within it reaches the recursive conversion.
    (void)msgpack::unpack(bytes.data(), bytes.size(), nullptr, nullptr, wire::body_limits());
    return Json::from_msgpack(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    return invalid_argument("payload has no JSON form: " + strip_exception_tag(e.what()));
  }
}

Json payload_to_json(std::string_view bytes) {
  Result<Json> j = msgpack_to_json(bytes);
  if (j) return std::move(j).value();
  Json out = Json::object();
  out["msgpack_hex"] = hex(bytes);
  return out;
}

std::string dump_compact(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string dump_pretty(const Json& j) {
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

std::string format_output(const Json& j) {
  if (j.is_string()) return j.get<std::string>();
  return dump_compact(j);
}

std::string iso8601_utc(int64_t unix_ms) {
  int64_t secs = unix_ms / 1000;
  int64_t millis = unix_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    secs -= 1;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(millis));
  return std::string(buf, n) + frac;
}

Json instance_to_json(const InstanceInfo& info) {
  Json j = Json::object();
  j["id"] = info.instance_id;
  j["namespace"] = info.ns;
  j["name"] = info.name;
  j["status"] = orchestration_status_name(info.status);
  j["task_queue"] = info.task_queue;
  j["input"] = payload_to_json(info.input);
  j["output"] = payload_to_json(info.output);
  j["custom_status"] = payload_to_json(info.custom_status);
  if (info.status == OrchestrationStatus::kFailed || !info.failure.error_type.empty() ||
      !info.failure.message.empty()) {
    j["failure"] = Json{{"type", info.failure.error_type},
                        {"message", info.failure.message},
                        {"details", info.failure.details}};
  }
  j["created"] = time_or_null(info.created_ms);
  j["updated"] = time_or_null(info.updated_ms);
  j["completed"] = time_or_null(info.completed_ms);
  if (!info.parent_instance_id.empty()) j["parent_id"] = info.parent_instance_id;
  return j;
}

Json history_event_to_json(const HistoryEvent& ev, std::size_t seq) {
  Json j = Json::object();
  j["seq"] = seq;
  j["type"] = event_type_name(ev.type);
  j["event_id"] = ev.event_id;
  j["timestamp"] = time_or_null(ev.timestamp_ms);
  j["name"] = ev.name;
  j["input"] = payload_to_json(ev.input);
  j["result"] = payload_to_json(ev.result);
  j["task_scheduled_id"] = ev.task_scheduled_id;
  j["status"] = orchestration_status_name(ev.status);
  j["failure"] = Json{{"type", ev.failure.error_type},
                      {"message", ev.failure.message},
                      {"details", ev.failure.details},
                      {"non_retryable", ev.failure.non_retryable}};
  j["task_queue"] = ev.task_queue;
  j["instance_id"] = ev.instance_id;
  j["fire_at"] = time_or_null(ev.fire_at_ms);
  j["attempt"] = ev.attempt;
  return j;
}

Json history_to_json(const std::vector<HistoryEvent>& events) {
  Json j = Json::array();
  for (std::size_t i = 0; i < events.size(); ++i) j.push_back(history_event_to_json(events[i], i));
  return j;
}

std::string history_event_detail(const HistoryEvent& ev) {
  const std::string id = std::to_string(ev.event_id);
  const std::string scheduled = std::to_string(ev.task_scheduled_id);
  switch (ev.type) {
    case EventType::kExecutionStarted:
      return ev.instance_id.empty() ? ev.name : ev.name + " (parent " + ev.instance_id + ")";
    case EventType::kExecutionCompleted:
      return with_failure(orchestration_status_name(ev.status), ev.failure);
    case EventType::kExecutionTerminated:
    case EventType::kExecutionSuspended:
    case EventType::kExecutionResumed:
      return reason_text(ev.input);
    case EventType::kTaskScheduled:
      return ev.name + " (id " + id + ")";
    case EventType::kTaskCompleted:
      return "task " + scheduled + ", attempt " + std::to_string(ev.attempt);
    case EventType::kTaskFailed:
      return with_failure("task " + scheduled + ", attempt " + std::to_string(ev.attempt),
                          ev.failure);
    case EventType::kTimerCreated:
      return "id " + id + ", fires " + iso8601_utc(ev.fire_at_ms);
    case EventType::kTimerFired:
      return "timer " + scheduled;
    case EventType::kEventRaised:
      return ev.name;
    case EventType::kEventSent:
      return ev.name + " -> " + ev.instance_id;
    case EventType::kSubOrchestrationCreated:
      return ev.name + " " + ev.instance_id + " (id " + id + ")";
    case EventType::kSubOrchestrationCompleted:
      return "sub-orchestration " + scheduled;
    case EventType::kSubOrchestrationFailed:
      return with_failure("sub-orchestration " + scheduled, ev.failure);
    case EventType::kOrchestratorStarted:
    case EventType::kContinuedAsNew:
      return "";
  }
  return with_failure(ev.name, ev.failure);  // a type newer than this batonctl
}

}  // namespace baton::cli
