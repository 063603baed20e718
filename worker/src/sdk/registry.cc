#include "sdk/registry.h"

#include <stdexcept>
#include <utility>

namespace baton::detail {
namespace {

template <class Map, class Fn>
void add(Map& map, const char* kind, std::string name, Fn fn) {
  if (name.empty()) throw std::invalid_argument(std::string(kind) + " name must not be empty");
  if (!fn) throw std::invalid_argument(std::string(kind) + " '" + name + "' has no function");
  auto [it, inserted] = map.try_emplace(std::move(name), std::move(fn));
  if (!inserted) {
    throw std::invalid_argument(std::string(kind) + " '" + it->first + "' is already registered");
  }
}

template <class Map>
const typename Map::mapped_type* find(const Map& map, std::string_view name) {
  auto it = map.find(name);
  return it == map.end() ? nullptr : &it->second;
}

template <class Map>
std::vector<std::string> names(const Map& map) {
  std::vector<std::string> out;
  out.reserve(map.size());
  for (const auto& [name, fn] : map) out.push_back(name);
  return out;
}

}  // namespace

void Registry::add_orchestrator(std::string name, OrchestratorFn fn) {
  add(orchestrators_, "orchestrator", std::move(name), std::move(fn));
}
void Registry::add_activity(std::string name, ActivityFn fn) {
  add(activities_, "activity", std::move(name), std::move(fn));
}
const OrchestratorFn* Registry::find_orchestrator(std::string_view name) const {
  return find(orchestrators_, name);
}
const ActivityFn* Registry::find_activity(std::string_view name) const {
  return find(activities_, name);
}
std::vector<std::string> Registry::orchestrator_names() const { return names(orchestrators_); }
std::vector<std::string> Registry::activity_names() const { return names(activities_); }

}  // namespace baton::detail
