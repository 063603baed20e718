// Durable timer: wait (without holding a worker or a thread) for a delay
// given in the input, then act. The timer lives in the scheduler; the
// orchestrator is replayed when it fires, even after restarts.
//
//   orchestrator "durable_timer", input: {"message": string, "delay_ms": int}
//     -> timer of delay_ms after the instance's current time
//     -> send_reminder(message)   "reminder sent: <message>"
//     -> output "reminder sent: <message>"
//   durable_timer({"message": "stand up", "delay_ms": 1000})
//     -> "reminder sent: stand up" (no earlier than 1 s after the start)
//
// Run: BATON_BROKER_ADDRESS=tcp://127.0.0.1:7234 build/examples/durable_timer_worker
// Library: baton_example_durable_timer, register_durable_timer (examples.h).
#include <chrono>
#include <cstdint>
#include <string>

#include "baton/worker.h"
#include "examples.h"

namespace baton::examples {

struct Reminder {
  std::string message;
  int64_t delay_ms = 0;
  MSGPACK_DEFINE_MAP(message, delay_ms)
};

baton::Task<std::string> durable_timer(baton::OrchestrationContext& ctx, Reminder reminder) {
  ctx.set_custom_status(std::string("waiting"));
  co_await ctx.create_timer(std::chrono::milliseconds(reminder.delay_ms));
  ctx.set_custom_status(std::string("reminding"));
  co_return co_await ctx.call_activity<std::string>("send_reminder", reminder.message);
}

void register_durable_timer(baton::Worker& worker) {
  worker.add_orchestrator("durable_timer", durable_timer);
  worker.add_activity("send_reminder", [](baton::ActivityContext&, std::string message) {
    return "reminder sent: " + message;
  });
}

}  // namespace baton::examples

#ifndef BATON_EXAMPLE_NO_MAIN
int main() {
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_durable_timer(worker);
  return worker.run();  // until SIGTERM/SIGINT; drains in-flight work first, returns 0
}
#endif
