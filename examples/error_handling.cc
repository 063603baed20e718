// Error handling and compensation: a failed activity surfaces in the
// orchestrator as baton::TaskFailedError; the orchestrator catches it and
// runs a compensating activity instead of failing.
//
//   orchestrator "error_handling", input: string order id
//     -> charge_payment(id)   always throws std::runtime_error("card declined for order <id>")
//     -> caught: cancel_order(id)   "order <id> cancelled"
//     -> output "charge_payment failed (std::runtime_error: card declined for order <id>);
//               compensated with cancel_order: order <id> cancelled"   (one line)
//   error_handling("A-1") -> "charge_payment failed (std::runtime_error: card declined for
//     order A-1); compensated with cancel_order: order A-1 cancelled"
//
// Run: BATON_BROKER_ADDRESS=tcp://127.0.0.1:7234 build/examples/error_handling_worker
// Library: baton_example_error_handling, register_error_handling (examples.h).
#include <stdexcept>
#include <string>

#include "baton/worker.h"
#include "examples.h"

namespace baton::examples {

baton::Task<std::string> error_handling(baton::OrchestrationContext& ctx, std::string order_id) {
  std::string failure;
  try {
    co_return co_await ctx.call_activity<std::string>("charge_payment", order_id);
  } catch (const baton::TaskFailedError& e) {
    // C++ forbids co_await inside a handler: remember, compensate below.
    failure = e.task_name() + " failed (" + e.error_type() + ": " + e.message() + ")";
  }
  ctx.log_warn("{}; compensating", failure);
  std::string undone = co_await ctx.call_activity<std::string>("cancel_order", order_id);
  co_return failure + "; compensated with cancel_order: " + undone;
}

void register_error_handling(baton::Worker& worker) {
  worker.add_orchestrator("error_handling", error_handling);
  worker.add_activity("charge_payment", [](baton::ActivityContext&, std::string id) -> std::string {
    throw std::runtime_error("card declined for order " + id);
  });
  worker.add_activity("cancel_order", [](baton::ActivityContext&, std::string id) {
    return "order " + id + " cancelled";
  });
}

}  // namespace baton::examples

#ifndef BATON_EXAMPLE_NO_MAIN
int main() {
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_error_handling(worker);
  return worker.run();  // until SIGTERM/SIGINT; drains in-flight work first, returns 0
}
#endif
