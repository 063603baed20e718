// Fan-out/fan-in: batch processing. One activity lists the work items, one
// activity per item runs in parallel, and the orchestrator aggregates.
//
//   orchestrator "fan_out_fan_in", input: int n (how many items)
//     -> get_work_items(n)       ["item-0", "item-1", ..., "item-<n-1>"]
//     -> process_work_item(item) for every item at once: the item's length
//     -> output: the sum of the lengths (int)
//   fan_out_fan_in(5)  -> 30      (5 items of 6 characters)
//   fan_out_fan_in(12) -> 74      (10 x 6 + 2 x 7)
//   fan_out_fan_in(0)  -> 0
//
//   orchestrator "fan_out", input: int n: the same items without listing
//     them first: n activities, all at once (the bench's fanout scenarios)
//   fan_out(12) -> 74
//
// Run: BATON_BROKER_ADDRESS=tcp://127.0.0.1:7234 build/examples/fan_out_fan_in_worker
// Library: baton_example_fan_out_fan_in, register_fan_out_fan_in (examples.h).
#include <string>
#include <utility>
#include <vector>

#include "baton/worker.h"
#include "examples.h"

namespace baton::examples {

namespace {

std::vector<std::string> work_items(int n) {
  std::vector<std::string> items;
  for (int i = 0; i < n; ++i) items.push_back("item-" + std::to_string(i));
  return items;
}

// process_work_item for every item at once; the sum of their lengths. (Takes the
// items by value: a coroutine must not hold a reference to its caller's.)
baton::Task<int> process_all(baton::OrchestrationContext& ctx, std::vector<std::string> items) {
  // Every call schedules at once; when_all waits for all of them (and fails
  // as soon as one fails).
  std::vector<baton::Task<int>> work;
  work.reserve(items.size());
  for (const std::string& item : items) {
    work.push_back(ctx.call_activity<int>("process_work_item", item));
  }
  std::vector<int> lengths = co_await baton::when_all(std::move(work));
  int total = 0;
  for (int length : lengths) total += length;
  ctx.log_info("processed {} items, total {}", lengths.size(), total);
  co_return total;
}

}  // namespace

baton::Task<int> fan_out_fan_in(baton::OrchestrationContext& ctx, int n) {
  std::vector<std::string> items =
      co_await ctx.call_activity<std::vector<std::string>>("get_work_items", n);
  co_return co_await process_all(ctx, std::move(items));
}

// Deterministic: the items follow from the input alone.
baton::Task<int> fan_out(baton::OrchestrationContext& ctx, int n) {
  co_return co_await process_all(ctx, work_items(n));
}

void register_fan_out_fan_in(baton::Worker& worker) {
  worker.add_orchestrator("fan_out_fan_in", fan_out_fan_in);
  worker.add_orchestrator("fan_out", fan_out);
  worker.add_activity("get_work_items",
                      [](baton::ActivityContext&, int n) { return work_items(n); });
  worker.add_activity("process_work_item", [](baton::ActivityContext&, std::string item) {
    return static_cast<int>(item.size());
  });
}

}  // namespace baton::examples

#ifndef BATON_EXAMPLE_NO_MAIN
int main() {
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_fan_out_fan_in(worker);
  return worker.run();  // until SIGTERM/SIGINT; drains in-flight work first, returns 0
}
#endif
