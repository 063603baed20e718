// Sub-orchestrations: an order orchestration reserves stock, then runs the
// shipping workflow as a child orchestration (its own instance and history)
// and waits for its output.
//
//   orchestrator "process_order", input: string order id
//     -> reserve_inventory(id)             "reserved <id>"
//     -> child "ship_order"(id), instance "<parent instance id>:1"
//          -> create_shipping_label(id)    "label-<id>"
//          -> dispatch_shipment(label)     "dispatched label-<id>"
//          -> output "dispatched label-<id>"
//     -> output "order <id>: reserved <id>, dispatched label-<id>"
//   process_order("A-1") -> "order A-1: reserved A-1, dispatched label-A-1"
//   ship_order("A-1")    -> "dispatched label-A-1" (also startable on its own)
//
// Run: BATON_BROKER_ADDRESS=tcp://127.0.0.1:7234 build/examples/sub_orchestration_worker
// Library: baton_example_sub_orchestration, register_sub_orchestration (examples.h).
#include <string>

#include "baton/worker.h"
#include "examples.h"

namespace baton::examples {

baton::Task<std::string> ship_order(baton::OrchestrationContext& ctx, std::string order_id) {
  std::string label = co_await ctx.call_activity<std::string>("create_shipping_label", order_id);
  co_return co_await ctx.call_activity<std::string>("dispatch_shipment", label);
}

baton::Task<std::string> process_order(baton::OrchestrationContext& ctx, std::string order_id) {
  std::string reservation = co_await ctx.call_activity<std::string>("reserve_inventory", order_id);
  // A failed child would throw baton::TaskFailedError with the child's failure.
  std::string shipping = co_await ctx.call_sub_orchestrator<std::string>("ship_order", order_id);
  co_return "order " + order_id + ": " + reservation + ", " + shipping;
}

void register_sub_orchestration(baton::Worker& worker) {
  worker.add_orchestrator("process_order", process_order);
  worker.add_orchestrator("ship_order", ship_order);
  worker.add_activity("reserve_inventory",
                      [](baton::ActivityContext&, std::string id) { return "reserved " + id; });
  worker.add_activity("create_shipping_label",
                      [](baton::ActivityContext&, std::string id) { return "label-" + id; });
  worker.add_activity("dispatch_shipment", [](baton::ActivityContext&, std::string label) {
    return "dispatched " + label;
  });
}

}  // namespace baton::examples

#ifndef BATON_EXAMPLE_NO_MAIN
int main() {
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_sub_orchestration(worker);
  return worker.run();  // until SIGTERM/SIGINT; drains in-flight work first, returns 0
}
#endif
