#include "baton/orchestration_context.h"

#include <optional>
#include <utility>

#include "sdk/replay_state.h"
#include "sdk/retry.h"

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

std::string OrchestrationContext::new_uuid() { return state_->new_uuid(); }

void OrchestrationContext::log(LogLevel level, std::string_view message) {
  state_->log(level, message);
}

Task<void> OrchestrationContext::create_timer(std::chrono::milliseconds delay) {
  return detail::await_completion<void>(
      state_->create_timer(state_->current_time_ms() + delay.count()));
}

Task<void> OrchestrationContext::create_timer(std::chrono::system_clock::time_point fire_at) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(fire_at.time_since_epoch()).count();
  return detail::await_completion<void>(state_->create_timer(ms));
}

void OrchestrationContext::send_event(std::string_view instance_id, std::string_view name) {
  send_event_bytes(instance_id, name, Bytes());
}

detail::TaskCompletion* OrchestrationContext::schedule_task(std::string_view name, Bytes input,
                                                            const ActivityOptions& options) {
  return state_->schedule_task(name, std::move(input), options);
}

detail::TaskCompletion* OrchestrationContext::start_sub_orchestration(
    std::string_view name, Bytes input, const SubOrchestrationOptions& options) {
  return state_->start_sub_orchestration(name, std::move(input), options);
}

Task<Bytes> OrchestrationContext::sub_orchestration_with_retry(std::string name, Bytes input,
                                                               SubOrchestrationOptions options) {
  const int64_t first_started_ms = state_->current_time_ms();
  const std::string base_id =
      options.instance_id.empty() ? state_->default_child_instance_id() : options.instance_id;
  for (int32_t attempt = 1;; ++attempt) {
    if (attempt > 1) options.instance_id = base_id + "#" + std::to_string(attempt);
    detail::TaskCompletion* child = state_->start_sub_orchestration(name, input, options);
    std::optional<TaskFailedError> failed;
    try {
      co_return co_await detail::CompletionAwaiter(child);
    } catch (const TaskFailedError& e) {
      failed = e;  // no co_await inside a handler
    }
    const std::optional<int64_t> delay_ms = detail::retry_delay_ms(
        options.retry, attempt, failed->failure(), first_started_ms, state_->current_time_ms());
    if (!delay_ms) throw *failed;
    (void)co_await detail::CompletionAwaiter(
        state_->create_timer(state_->current_time_ms() + *delay_ms));
  }
}

detail::TaskCompletion* OrchestrationContext::wait_for_event(std::string_view name) {
  return state_->wait_for_event(name);
}

void OrchestrationContext::send_event_bytes(std::string_view instance_id, std::string_view name,
                                            Bytes data) {
  state_->send_event(instance_id, name, std::move(data));
}

void OrchestrationContext::continue_as_new_bytes(Bytes input, bool keep_unprocessed_events) {
  state_->continue_as_new(std::move(input), keep_unprocessed_events);
}

void OrchestrationContext::set_custom_status_bytes(Bytes value) {
  state_->set_custom_status(std::move(value));
}

namespace detail {
Bytes CompletionAwaiter::await_resume() {
  if (completion_->failed) throw TaskFailedError(completion_->name, completion_->failure);
  return std::move(completion_->result);
}
}  // namespace detail

}  // namespace baton
