// The worker the integration tests run: the function-chaining example, with
// optional simulated work per activity so that faults hit work in flight,
// plus "hang_once", whose only activity hangs on its first attempt (to test
// lease expiry).
//   BATON_TEST_ACTIVITY_DELAY_MS  milliseconds each chaining activity takes (default 0)
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "baton/worker.h"

namespace baton::examples {
void register_function_chaining(baton::Worker& worker, std::chrono::milliseconds work);
}

namespace {

baton::Task<std::string> hang_once(baton::OrchestrationContext& ctx, std::string input) {
  co_return co_await ctx.call_activity<std::string>("hang_on_first_attempt", input);
}

}  // namespace

int main() {
  const char* delay = std::getenv("BATON_TEST_ACTIVITY_DELAY_MS");
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_function_chaining(
      worker, std::chrono::milliseconds(delay ? std::atoi(delay) : 0));
  worker.add_orchestrator("hang_once", hang_once);
  worker.add_activity("hang_on_first_attempt", [](baton::ActivityContext& ctx, std::string in) {
    if (ctx.attempt() == 1) std::this_thread::sleep_for(std::chrono::seconds(60));
    return in + " after attempt " + std::to_string(ctx.attempt());
  });
  return worker.run();
}
