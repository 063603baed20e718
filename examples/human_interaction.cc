// Human interaction: ask for an approval, then wait for a person to answer
// (an external event) or for a timeout, whichever comes first.
//
//   orchestrator "human_interaction",
//   input: {"request": string, "timeout_ms": int}
//     -> request_approval(request)   "approval requested: <request>"
//     -> custom status "waiting for approval"
//     -> the first of: event "approval" (data: the approver's name, string)
//                      a timer of timeout_ms
//     -> output "approved by <approver>"   or   "timed out"
//        (also the final custom status)
//   human_interaction({"request": "deploy v2", "timeout_ms": 60000}), then
//     batonctl raise <instance> approval --data '"alice"'  -> "approved by alice"
//   the same with no event within 60 s               -> "timed out"
//
// An "approval" raised before the orchestrator waits is buffered and wins
// at once. Run: build/examples/human_interaction_worker
// Library: baton_example_human_interaction, register_human_interaction (examples.h).
#include <chrono>
#include <cstdint>
#include <string>

#include "baton/worker.h"
#include "examples.h"

namespace baton::examples {

struct ApprovalRequest {
  std::string request;
  int64_t timeout_ms = 0;
  MSGPACK_DEFINE_MAP(request, timeout_ms)
};

baton::Task<std::string> human_interaction(baton::OrchestrationContext& ctx,
                                           ApprovalRequest input) {
  co_await ctx.call_activity<std::string>("request_approval", input.request);
  ctx.set_custom_status(std::string("waiting for approval"));

  baton::Task<std::string> approval = ctx.wait_for_external_event<std::string>("approval");
  baton::Task<void> timeout = ctx.create_timer(std::chrono::milliseconds(input.timeout_ms));
  std::string outcome = "timed out";
  if (co_await baton::when_any(approval, timeout) == 0) {
    std::string approver = co_await approval;
    outcome = "approved by " + approver;
  }
  ctx.set_custom_status(outcome);
  ctx.log_info("{}: {}", input.request, outcome);
  co_return outcome;
}

void register_human_interaction(baton::Worker& worker) {
  worker.add_orchestrator("human_interaction", human_interaction);
  worker.add_activity("request_approval", [](baton::ActivityContext&, std::string request) {
    return "approval requested: " + request;  // a real one would e-mail or page someone
  });
}

}  // namespace baton::examples

#ifndef BATON_EXAMPLE_NO_MAIN
int main() {
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_human_interaction(worker);
  return worker.run();  // until SIGTERM/SIGINT; drains in-flight work first, returns 0
}
#endif
