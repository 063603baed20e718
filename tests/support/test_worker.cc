// The worker the integration tests run: the function-chaining example, with
// optional simulated work per activity so that faults hit work in flight.
//   BATON_TEST_ACTIVITY_DELAY_MS  milliseconds each activity takes (default 0)
#include <chrono>
#include <cstdlib>

#include "baton/worker.h"

namespace baton::examples {
void register_function_chaining(baton::Worker& worker, std::chrono::milliseconds work);
}

int main() {
  const char* delay = std::getenv("BATON_TEST_ACTIVITY_DELAY_MS");
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_function_chaining(
      worker, std::chrono::milliseconds(delay ? std::atoi(delay) : 0));
  return worker.run();
}
