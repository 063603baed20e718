// Retries: an activity that fails twice and then succeeds, scheduled with a
// retry policy. The scheduler retries (100 ms, then 200 ms later); the
// orchestrator only sees the final outcome and is not replayed per attempt.
//
//   orchestrator "retry", no input (any input is ignored)
//     -> flaky() with RetryPolicy{max_attempts 5, first_retry_interval_ms 100}
//          attempt 1: throws std::runtime_error("flaky failure on attempt 1")
//          attempt 2: throws std::runtime_error("flaky failure on attempt 2")
//          attempt 3: "succeeded on attempt 3"
//     -> output "flaky succeeded on attempt 3"
//
// Run: BATON_BROKER_ADDRESS=tcp://127.0.0.1:7234 build/examples/retry_worker
// Library: baton_example_retry, register_retry (examples.h).
#include <stdexcept>
#include <string>

#include "baton/worker.h"
#include "examples.h"

namespace baton::examples {

baton::Task<std::string> retry(baton::OrchestrationContext& ctx) {
  baton::ActivityOptions options;
  options.retry.max_attempts = 5;
  options.retry.first_retry_interval_ms = 100;  // then x2 (backoff_coefficient)
  std::string outcome = co_await ctx.call_activity<std::string>("flaky", 0, options);
  co_return "flaky " + outcome;
}

void register_retry(baton::Worker& worker) {
  worker.add_orchestrator("retry", retry);
  // ctx.attempt() counts the scheduler's attempts: deterministic failures
  // for the example. A real activity fails for real reasons.
  worker.add_activity("flaky", [](baton::ActivityContext& ctx, int) {
    if (ctx.attempt() < 3) {
      throw std::runtime_error("flaky failure on attempt " + std::to_string(ctx.attempt()));
    }
    return "succeeded on attempt " + std::to_string(ctx.attempt());
  });
}

}  // namespace baton::examples

#ifndef BATON_EXAMPLE_NO_MAIN
int main() {
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_retry(worker);
  return worker.run();  // until SIGTERM/SIGINT; drains in-flight work first, returns 0
}
#endif
