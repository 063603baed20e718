#include "api/validate.h"

#include <regex>

namespace baton::scheduler {
namespace {

Status check_name(const char* what, const std::string& v, bool allow_empty) {
  if (v.empty()) {
    return allow_empty ? Status::ok() : invalid_argument(std::string(what) + " must not be empty");
  }
  if (v.size() > kMaxNameBytes) {
    return invalid_argument(std::string(what) + " is longer than " + std::to_string(kMaxNameBytes) +
                            " bytes");
  }
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) {
      return invalid_argument(std::string(what) + " contains a control character");
    }
  }
  return Status::ok();
}

}  // namespace

Status validate_instance_ref(const std::string& ns, const std::string& instance_id) {
  if (auto st = check_name("namespace", ns, true); !st) return st;
  return check_name("instance id", instance_id, false);
}

Status validate_start(const StartRequest& req, std::size_t max_payload_bytes) {
  if (auto st = check_name("namespace", req.ns, true); !st) return st;
  if (auto st = check_name("orchestrator name", req.name, false); !st) return st;
  if (auto st = check_name("instance id", req.instance_id, true); !st) return st;
  if (auto st = check_name("task queue", req.task_queue, true); !st) return st;
  if (req.input.size() > max_payload_bytes) {
    return Status(StatusCode::kResourceExhausted,
                  "input of " + std::to_string(req.input.size()) + " bytes exceeds the " +
                      std::to_string(max_payload_bytes) + "-byte payload limit");
  }
  if (static_cast<int>(req.id_reuse_policy) > static_cast<int>(IdReusePolicy::kTerminateIfRunning)) {
    return invalid_argument("unknown id reuse policy " +
                            std::to_string(static_cast<int>(req.id_reuse_policy)));
  }
  if (req.start_at_ms < 0) return invalid_argument("start_at_ms must not be negative");
  if (req.wait_timeout_ms < 0) return invalid_argument("wait_timeout_ms must not be negative");
  if (req.idempotency_key.size() > kMaxNameBytes) {
    return invalid_argument("idempotency key is longer than " + std::to_string(kMaxNameBytes) +
                            " bytes");
  }
  return Status::ok();
}

namespace {
Status check_statuses(const std::vector<OrchestrationStatus>& statuses, bool terminal_only) {
  for (auto s : statuses) {
    if (static_cast<int>(s) > static_cast<int>(OrchestrationStatus::kContinuedAsNew)) {
      return invalid_argument("unknown status " + std::to_string(static_cast<int>(s)));
    }
    if (terminal_only && (!is_terminal(s) || s == OrchestrationStatus::kContinuedAsNew)) {
      return invalid_argument(std::string("only finished instances can be purged, not ") +
                              orchestration_status_name(s) + " ones");
    }
  }
  return Status::ok();
}

Status check_range(int64_t from_ms, int64_t to_ms) {
  if (from_ms < 0 || to_ms < 0) return invalid_argument("times must not be negative");
  if (from_ms > 0 && to_ms > 0 && from_ms >= to_ms) {
    return invalid_argument("the created time range is empty (from >= to)");
  }
  return Status::ok();
}
}  // namespace

Status validate_metadata(const Metadata& metadata) {
  if (metadata.size() > 32) return invalid_argument("at most 32 metadata headers");
  for (const auto& [k, v] : metadata) {
    if (k.empty() || k.size() > 64 ||
        k.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            std::string::npos) {
      return invalid_argument("metadata header '" + k.substr(0, 64) +
                              "': names are 1 to 64 characters of [A-Za-z0-9._-]");
    }
    if (v.size() > 1024) return invalid_argument("metadata header '" + k + "' is over 1024 bytes");
  }
  return Status::ok();
}

std::string encode_list_token(const std::string& raw) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> decode_list_token(const std::string& token) {
  if (token.size() > 1024 || token.size() % 2 != 0) return std::nullopt;
  std::string raw;
  for (std::size_t i = 0; i < token.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int hi = nibble(token[i]), lo = nibble(token[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    raw += static_cast<char>(hi * 16 + lo);
  }
  // "<timestamptz as PostgreSQL prints it>\x1f<instance id>"
  static const std::regex kRaw(
      R"(^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?\x1f[^\x1f]+$)");
  if (!std::regex_match(raw, kRaw)) return std::nullopt;
  return raw;
}

Status validate_list(const ListRequest& req) {
  if (auto st = check_name("namespace", req.ns, true); !st) return st;
  if (auto st = check_name("orchestrator name", req.name, true); !st) return st;
  if (auto st = check_name("instance id prefix", req.instance_id_prefix, true); !st) return st;
  if (auto st = check_name("task queue", req.task_queue, true); !st) return st;
  if (req.page_size < 1 || req.page_size > 1000) {
    return invalid_argument("page size must be 1 to 1000");
  }
  if (!req.continuation_token.empty() && !decode_list_token(req.continuation_token)) {
    return invalid_argument("malformed continuation token");
  }
  if (auto st = check_statuses(req.statuses, false); !st) return st;
  return check_range(req.created_from_ms, req.created_to_ms);
}

Status validate_purge(const PurgeRequest& req) {
  if (!req.instance_id.empty()) return validate_instance_ref(req.ns, req.instance_id);
  if (auto st = check_name("namespace", req.ns, true); !st) return st;
  if (req.recursive) return invalid_argument("recursive purge needs an instance id");
  if (auto st = check_statuses(req.statuses, true); !st) return st;
  return check_range(req.created_from_ms, req.created_to_ms);
}

}  // namespace baton::scheduler
