#include "json_codec.h"

#include <cstdio>
#include <ctime>
#include <exception>
#include <vector>

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

}  // namespace

Result<Bytes> json_to_msgpack(std::string_view text) {
  try {
    const Json j = Json::parse(text);
    std::vector<uint8_t> packed = Json::to_msgpack(j);
    return Bytes(packed.begin(), packed.end());
  } catch (const std::exception& e) {
    return invalid_argument("invalid JSON: " + strip_exception_tag(e.what()));
  }
}

Result<Json> msgpack_to_json(std::string_view bytes) {
  if (bytes.empty()) return Json(nullptr);
  try {
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

}  // namespace baton::cli
