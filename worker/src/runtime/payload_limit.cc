#include "runtime/payload_limit.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string>

namespace baton::detail {
namespace {

std::string over_limit(std::size_t size, std::size_t limit) {
  return fmt::format("{} bytes, more than the worker's {}-byte payload limit (max_payload_bytes)",
                     size, limit);
}

// What the first oversized payload of the step is, if any.
std::optional<std::string> oversized_payload(const OrchestrationResult& result, std::size_t limit) {
  for (const Action& a : result.actions) {
    switch (a.type) {
      case ActionType::kScheduleTask:
        if (a.input.size() > limit) {
          return fmt::format("the input of activity '{}' (action {}) is {}", a.name, a.id,
                             over_limit(a.input.size(), limit));
        }
        break;
      case ActionType::kCreateSubOrchestration:
        if (a.input.size() > limit) {
          return fmt::format("the input of sub-orchestration '{}' (action {}) is {}", a.name, a.id,
                             over_limit(a.input.size(), limit));
        }
        break;
      case ActionType::kSendEvent:
        if (a.input.size() > limit) {
          return fmt::format("the data of event '{}' to instance '{}' (action {}) is {}", a.name,
                             a.instance_id, a.id, over_limit(a.input.size(), limit));
        }
        break;
      case ActionType::kCompleteOrchestration:
        if (a.result.size() > limit) {
          const bool next = a.status == OrchestrationStatus::kContinuedAsNew;
          return fmt::format("{} is {}", next ? "the input of continue_as_new" : "the output",
                             over_limit(a.result.size(), limit));
        }
        break;
      case ActionType::kCreateTimer:
        break;
    }
  }
  if (result.has_custom_status && result.custom_status.size() > limit) {
    return fmt::format("the custom status is {}", over_limit(result.custom_status.size(), limit));
  }
  return std::nullopt;
}

// An id no action of this execution has used: past every id of the history
// and of the step's own actions.
int32_t fresh_completion_id(const OrchestrationResult& result, const OrchestrationTask& task) {
  int32_t id = 0;
  for (const Action& a : result.actions) {
    if (a.type == ActionType::kCompleteOrchestration) return a.id;
    id = std::max(id, a.id + 1);
  }
  for (const auto* events : {&task.past_events, &task.new_events}) {
    for (const HistoryEvent& e : *events) id = std::max(id, e.event_id + 1);
  }
  return id;
}

}  // namespace

bool enforce_payload_limit(ActivityResult& result, std::string_view activity, std::size_t limit) {
  if (result.failed || result.output.size() <= limit) return false;
  const std::size_t size = result.output.size();
  result.failed = true;
  result.output.clear();
  result.failure = FailureDetails{};
  result.failure.error_type = std::string(kPayloadTooLarge);
  result.failure.message =
      fmt::format("activity '{}' returned {}", activity, over_limit(size, limit));
  result.failure.non_retryable = true;
  return true;
}

bool enforce_payload_limit(OrchestrationResult& result, const OrchestrationTask& task,
                           std::size_t limit) {
  std::optional<std::string> what = oversized_payload(result, limit);
  if (!what) return false;
  Action failed;
  failed.type = ActionType::kCompleteOrchestration;
  failed.id = fresh_completion_id(result, task);
  failed.status = OrchestrationStatus::kFailed;
  failed.failure.error_type = std::string(kPayloadTooLarge);
  failed.failure.message = fmt::format("orchestrator '{}' in instance '{}/{}': {}", task.name,
                                       task.ns, task.instance_id, *what);
  failed.failure.non_retryable = true;
  result.actions.clear();
  result.actions.push_back(std::move(failed));
  result.has_custom_status = false;
  result.custom_status.clear();
  return true;
}

}  // namespace baton::detail
