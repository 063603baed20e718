#include "baton/status.h"

namespace baton {

std::string_view status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "kOk";
    case StatusCode::kNotFound: return "kNotFound";
    case StatusCode::kAlreadyExists: return "kAlreadyExists";
    case StatusCode::kInvalidArgument: return "kInvalidArgument";
    case StatusCode::kLeaseLost: return "kLeaseLost";
    case StatusCode::kConflict: return "kConflict";
    case StatusCode::kUnavailable: return "kUnavailable";
    case StatusCode::kDeadlineExceeded: return "kDeadlineExceeded";
    case StatusCode::kFailedPrecondition: return "kFailedPrecondition";
    case StatusCode::kResourceExhausted: return "kResourceExhausted";
    case StatusCode::kPermissionDenied: return "kPermissionDenied";
    case StatusCode::kUnauthenticated: return "kUnauthenticated";
    case StatusCode::kInternal: return "kInternal";
  }
  return "kUnknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "kOk";
  return std::string(status_code_name(code_)) + ": " + message_;
}

}  // namespace baton
