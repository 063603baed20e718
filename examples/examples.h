// The example orchestrations, each registrable on any worker. Every example
// file also builds a runnable worker of its own (build/examples/<name>_worker);
// examples_worker registers all of them. Orchestrator and activity names are
// unique across the examples, so they can share one worker.
#pragma once

#include <chrono>

#include "baton/worker.h"

namespace baton::examples {

// function_chaining.cc: "function_chaining"; each activity takes `work`
// (simulated work, so tests can hit work in flight).
void register_function_chaining(baton::Worker& worker, std::chrono::milliseconds work);
// fan_out_fan_in.cc: "fan_out_fan_in" and "fan_out" (the same without the listing activity).
void register_fan_out_fan_in(baton::Worker& worker);
// sub_orchestration.cc: "process_order" and its child "ship_order".
void register_sub_orchestration(baton::Worker& worker);
// durable_timer.cc: "durable_timer".
void register_durable_timer(baton::Worker& worker);
// human_interaction.cc: "human_interaction".
void register_human_interaction(baton::Worker& worker);
// retry.cc: "retry".
void register_retry(baton::Worker& worker);
// error_handling.cc: "error_handling".
void register_error_handling(baton::Worker& worker);

// All of the above (function_chaining without simulated work).
void register_all_examples(baton::Worker& worker);

}  // namespace baton::examples
