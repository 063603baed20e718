#include "sdk/activity_runner.h"

#include <chrono>
#include <utility>

#include "sdk/failure.h"

namespace baton::detail {

ActivityResult run_activity(const Registry& registry, const ActivityTask& task,
                            ActivityContext::HeartbeatSink heartbeat) {
  ActivityResult result;
  result.work_id = task.work_id;
  result.task_id = task.task_id;
  result.attempt = task.attempt;
  result.ns = task.ns;
  result.instance_id = task.instance_id;
  const ActivityFn* fn = registry.find_activity(task.name);
  if (fn == nullptr) {
    result.failed = true;
    result.failure.error_type = "ActivityNotFound";
    result.failure.message = "activity '" + task.name + "' is not registered on this worker";
    return result;
  }
  try {
    ActivityContext ctx(task.instance_id, task.task_id, task.attempt, task.name,
                        std::chrono::milliseconds(task.heartbeat_timeout_ms),
                        task.heartbeat_details, std::move(heartbeat));
    result.output = (*fn)(ctx, task.input);
  } catch (...) {
    result.failed = true;
    result.output.clear();
    result.failure = describe_current_exception();
  }
  return result;
}

}  // namespace baton::detail
