// Registry: orchestrator and activity names -> type-erased functions.
//
// Thread-safety: filled by one thread before the worker runs; afterwards
// only const methods are called, from any number of threads at once.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "baton/activity_context.h"
#include "baton/orchestration_context.h"

namespace baton::detail {

class Registry {
 public:
  // Throw std::invalid_argument for an empty or already registered name
  // (a programmer error found at startup).
  void add_orchestrator(std::string name, OrchestratorFn fn);
  void add_activity(std::string name, ActivityFn fn);

  // nullptr when `name` is not registered.
  const OrchestratorFn* find_orchestrator(std::string_view name) const;
  const ActivityFn* find_activity(std::string_view name) const;

  // Registered names, sorted.
  std::vector<std::string> orchestrator_names() const;
  std::vector<std::string> activity_names() const;

 private:
  std::map<std::string, OrchestratorFn, std::less<>> orchestrators_;
  std::map<std::string, ActivityFn, std::less<>> activities_;
};

}  // namespace baton::detail
