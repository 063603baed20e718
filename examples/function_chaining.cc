// Function chaining: an orchestrator calls three activities in sequence,
// each consuming the previous one's output.
//
//   function_chaining("World")
//     -> say_hello         "Hello World!"
//     -> process_greeting  "Hello World! How are you today?"
//     -> finalize_response "Hello World! How are you today? I hope you're doing well!"
//
// A longer chain, count_up_chain(n): n sequential count_up activities, each
// adding one to the previous result; returns n. A long-running process in
// miniature (its history grows by two events per activity).
//
// Run: BATON_BROKER_ADDRESS=tcp://127.0.0.1:7234 build/examples/function_chaining_worker
// (stops, draining in-flight work, on SIGTERM/SIGINT).
//
// The same file also builds the library baton_example_function_chaining
// (with BATON_EXAMPLE_NO_MAIN), so test workers can register the example:
// register_function_chaining(worker, work) in examples.h.
#include <chrono>
#include <string>
#include <thread>

#include "baton/worker.h"
#include "examples.h"

namespace baton::examples {

baton::Task<std::string> function_chaining(baton::OrchestrationContext& ctx, std::string name) {
  auto greeting = co_await ctx.call_activity<std::string>("say_hello", name);
  auto processed = co_await ctx.call_activity<std::string>("process_greeting", greeting);
  co_return co_await ctx.call_activity<std::string>("finalize_response", processed);
}

baton::Task<int> count_up_chain(baton::OrchestrationContext& ctx, int n) {
  int value = 0;
  for (int i = 0; i < n; ++i) value = co_await ctx.call_activity<int>("count_up", value);
  co_return value;
}

// Registers the orchestrators "function_chaining" (with its three
// activities) and "count_up_chain" (with "count_up").
// Each activity takes `work` (simulated work, so tests can hit work in flight).
void register_function_chaining(baton::Worker& worker, std::chrono::milliseconds work) {
  auto simulate = [work] {
    if (work.count() > 0) std::this_thread::sleep_for(work);
  };
  worker.add_orchestrator("function_chaining", function_chaining);
  worker.add_activity("say_hello", [simulate](baton::ActivityContext&, std::string n) {
    simulate();
    return "Hello " + n + "!";
  });
  worker.add_activity("process_greeting", [simulate](baton::ActivityContext&, std::string s) {
    simulate();
    return s + " How are you today?";
  });
  worker.add_activity("finalize_response", [simulate](baton::ActivityContext&, std::string s) {
    simulate();
    return s + " I hope you're doing well!";
  });
  worker.add_orchestrator("count_up_chain", count_up_chain);
  worker.add_activity("count_up", [simulate](baton::ActivityContext&, int v) {
    simulate();
    return v + 1;
  });
}

}  // namespace baton::examples

#ifndef BATON_EXAMPLE_NO_MAIN
int main() {
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_function_chaining(worker, std::chrono::milliseconds(0));
  return worker.run();  // until SIGTERM/SIGINT; drains in-flight work first, returns 0
}
#endif
