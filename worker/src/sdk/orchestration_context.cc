#include "baton/orchestration_context.h"

#include <utility>

#include "sdk/replay_state.h"

namespace baton {

TaskFailedError::TaskFailedError(std::string task_name, FailureDetails failure)
    : std::runtime_error(failure.message),
      task_name_(std::move(task_name)),
      failure_(std::move(failure)) {}

const std::string& OrchestrationContext::instance_id() const { return state_->instance_id(); }
const std::string& OrchestrationContext::name() const { return state_->name(); }
bool OrchestrationContext::is_replaying() const { return state_->replaying(); }

std::chrono::system_clock::time_point OrchestrationContext::current_time() const {
  return std::chrono::system_clock::time_point(
      std::chrono::milliseconds(state_->current_time_ms()));
}

detail::TaskCompletion* OrchestrationContext::schedule_task(std::string_view name, Bytes input) {
  return state_->schedule_task(name, std::move(input));
}

namespace detail {
Bytes CompletionAwaiter::await_resume() {
  if (completion_->failed) throw TaskFailedError(completion_->name, completion_->failure);
  return std::move(completion_->result);
}
}  // namespace detail

}  // namespace baton
