#include "api/validate.h"

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
  return Status::ok();
}

}  // namespace baton::scheduler
