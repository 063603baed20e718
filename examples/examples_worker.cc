// examples_worker: one worker serving every example (the integration tests
// run it). Orchestrators and their expected outputs: the header comment of
// each example file.
//   function_chaining  fan_out_fan_in  process_order (+ child ship_order)
//   durable_timer  human_interaction  retry  error_handling
//
// Run: BATON_BROKER_ADDRESS=tcp://127.0.0.1:7234 build/examples/examples_worker
// Metrics and probes on http://127.0.0.1:9235 (BATON_METRICS_ADDRESS; a
// second worker on the same host needs another address, or "off").
#include <chrono>

#include "baton/worker.h"
#include "examples.h"

namespace baton::examples {

void register_all_examples(baton::Worker& worker) {
  register_function_chaining(worker, std::chrono::milliseconds(0));
  register_fan_out_fan_in(worker);
  register_sub_orchestration(worker);
  register_durable_timer(worker);
  register_human_interaction(worker);
  register_retry(worker);
  register_error_handling(worker);
}

}  // namespace baton::examples

#ifndef BATON_EXAMPLE_NO_MAIN
int main() {
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_all_examples(worker);
  return worker.run();  // until SIGTERM/SIGINT; drains in-flight work first, returns 0
}
#endif
