// The worker the integration tests run: every example (function chaining
// with optional simulated work per activity, so that faults hit work in
// flight), plus orchestrations that exist only to test the engine:
//   hang_once            its activity hangs on attempt 1 (lease expiry)
//   fan_out_echo(n)      n parallel echo(i) activities; returns the results in order
//   long_chain(n)        n sequential echo(i) activities; returns their sum
//   two_events           waits for event "a" (then sets custom status "got a"),
//                        then for "b"; returns a + b
//   parent_of_failing    calls child "always_fails", returns the caught failure
//   parent_of_sleeper    calls child "sleeper" (a one-hour timer)
//   count_to(n)          continues as new with n+1 until n == 5, returns n
//   resume_from_heartbeat  attempt 1 heartbeats 5 then hangs; the heartbeat
//                        timeout retries it and attempt 2 returns details*10+attempt
//   rounds(n)            calls child "ship_order" (default id, the same in every
//                        execution) then continues as new until n == 3
//   retrying_parent      a child that fails until its third instance (id "...#3"),
//                        called with a retry policy
//   unserved_queue       an activity on a queue no worker serves, with a
//                        schedule-to-start timeout; returns the caught error type
//   too_slow             an activity that outlives its start-to-close timeout
//                        twice; returns the caught failure's error type
//   big_output(n)        returns activity "big_string"(n): a string of n bytes,
//                        with a retry policy of 3 attempts (payload limit tests)
//   big_result(n)        returns a string of n bytes itself
//   fast_and_slow(ms)    when_all of sleep_ms(0) and sleep_ms(ms); returns the sum
//   slow_or_fail(ms)     when_all of sleep_ms(ms) and fail_now; fails with fail_now's error
//   staggered(ms)        starts sleep_ms(ms), awaits sleep_ms(0), then schedules
//                        sleep_ms(1) alone and awaits both in a when_all; returns ms + 1
//   BATON_TEST_ACTIVITY_DELAY_MS  milliseconds each chaining activity takes (default 0)
//   BATON_TEST_ECHO_DELAY_MS      milliseconds each echo activity takes (default 0)
// Like any worker it serves metrics on BATON_METRICS_ADDRESS (from_env:
// 127.0.0.1:9235) and exits 1 if it cannot: workers side by side need
// distinct addresses (or "off").
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "baton/worker.h"
#include "examples/examples.h"

namespace {

baton::Task<std::string> hang_once(baton::OrchestrationContext& ctx, std::string input) {
  co_return co_await ctx.call_activity<std::string>("hang_on_first_attempt", input);
}

baton::Task<std::vector<int>> fan_out_echo(baton::OrchestrationContext& ctx, int n) {
  std::vector<baton::Task<int>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) tasks.push_back(ctx.call_activity<int>("echo", i));
  co_return co_await baton::when_all(std::move(tasks));
}

baton::Task<int> long_chain(baton::OrchestrationContext& ctx, int n) {
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await ctx.call_activity<int>("echo", i);
  co_return sum;
}

baton::Task<std::string> two_events(baton::OrchestrationContext& ctx) {
  std::string a = co_await ctx.wait_for_external_event<std::string>("a");
  ctx.set_custom_status(std::string("got a"));
  std::string b = co_await ctx.wait_for_external_event<std::string>("b");
  co_return a + b;
}

baton::Task<std::string> always_fails(baton::OrchestrationContext&, std::string why) {
  throw std::invalid_argument("child refused: " + why);
  co_return "";
}

baton::Task<std::string> parent_of_failing(baton::OrchestrationContext& ctx, std::string why) {
  try {
    co_return co_await ctx.call_sub_orchestrator<std::string>("always_fails", why);
  } catch (const baton::TaskFailedError& e) {
    co_return "caught " + e.error_type() + ": " + std::string(e.message());
  }
}

baton::Task<void> sleeper(baton::OrchestrationContext& ctx) {
  co_await ctx.create_timer(std::chrono::hours(1));
}

baton::Task<void> parent_of_sleeper(baton::OrchestrationContext& ctx) {
  co_await ctx.call_sub_orchestrator<void>("sleeper");
}

baton::Task<int> count_to(baton::OrchestrationContext& ctx, int n) {
  if (n < 5) {
    ctx.continue_as_new(n + 1);
    co_return 0;
  }
  co_return n;
}

baton::Task<std::string> rounds(baton::OrchestrationContext& ctx, int n) {
  auto shipped = co_await ctx.call_sub_orchestrator<std::string>("ship_order", "R" + std::to_string(n));
  if (n < 3) {
    ctx.continue_as_new(n + 1);
    co_return "";
  }
  co_return shipped;
}

baton::Task<std::string> fails_until_third(baton::OrchestrationContext& ctx, std::string in) {
  const std::string id(ctx.instance_id());
  if (id.size() < 2 || id.substr(id.size() - 2) != "#3") {
    throw std::runtime_error("child " + id + " failed");
  }
  co_return in + " done by " + id;
}

baton::Task<std::string> retrying_parent(baton::OrchestrationContext& ctx, std::string in) {
  baton::SubOrchestrationOptions options;
  options.retry.max_attempts = 5;
  options.retry.first_retry_interval_ms = 100;
  co_return co_await ctx.call_sub_orchestrator<std::string>("fails_until_third", in, options);
}

baton::Task<std::string> unserved_queue(baton::OrchestrationContext& ctx) {
  baton::ActivityOptions options;
  options.task_queue = "nobody-serves-this";
  options.schedule_to_start_timeout = std::chrono::milliseconds(500);
  options.retry.max_attempts = 3;
  try {
    co_await ctx.call_activity<int>("echo", 1, options);
    co_return "started";
  } catch (const baton::TaskFailedError& e) {
    co_return e.error_type();
  }
}

baton::Task<int> resume_from_heartbeat(baton::OrchestrationContext& ctx) {
  baton::ActivityOptions options;
  options.heartbeat_timeout = std::chrono::milliseconds(1000);
  options.retry.max_attempts = 3;
  options.retry.first_retry_interval_ms = 100;
  co_return co_await ctx.call_activity<int>("heartbeat_then_hang", 0, options);
}

baton::Task<int> fast_and_slow(baton::OrchestrationContext& ctx, int slow_ms) {
  std::vector<baton::Task<int>> work;
  work.push_back(ctx.call_activity<int>("sleep_ms", 0));
  work.push_back(ctx.call_activity<int>("sleep_ms", slow_ms));
  std::vector<int> slept = co_await baton::when_all(std::move(work));
  co_return slept[0] + slept[1];
}

baton::Task<int> slow_or_fail(baton::OrchestrationContext& ctx, int slow_ms) {
  std::vector<baton::Task<int>> work;
  work.push_back(ctx.call_activity<int>("sleep_ms", slow_ms));
  work.push_back(ctx.call_activity<int>("fail_now", 0));
  std::vector<int> done = co_await baton::when_all(std::move(work));
  co_return done[0] + done[1];
}

baton::Task<int> staggered(baton::OrchestrationContext& ctx, int slow_ms) {
  baton::Task<int> slow = ctx.call_activity<int>("sleep_ms", slow_ms);
  const int first = co_await ctx.call_activity<int>("sleep_ms", 0);
  std::vector<baton::Task<int>> rest;
  rest.push_back(std::move(slow));
  rest.push_back(ctx.call_activity<int>("sleep_ms", 1));
  std::vector<int> done = co_await baton::when_all(std::move(rest));
  co_return first + done[0] + done[1];
}

baton::Task<std::string> too_slow(baton::OrchestrationContext& ctx) {
  baton::ActivityOptions options;
  options.start_to_close_timeout = std::chrono::milliseconds(500);
  options.retry.max_attempts = 2;
  options.retry.first_retry_interval_ms = 100;
  try {
    co_await ctx.call_activity<void>("sleep_long", 0, options);
    co_return "finished";
  } catch (const baton::TaskFailedError& e) {
    co_return e.error_type();
  }
}

baton::Task<std::string> big_output(baton::OrchestrationContext& ctx, int n) {
  baton::ActivityOptions options;
  options.retry.max_attempts = 3;
  options.retry.first_retry_interval_ms = 100;
  co_return co_await ctx.call_activity<std::string>("big_string", n, options);
}

baton::Task<std::string> big_result(baton::OrchestrationContext&, int n) {
  co_return std::string(static_cast<std::size_t>(n), 'x');
}

}  // namespace

int main() {
  const char* delay = std::getenv("BATON_TEST_ACTIVITY_DELAY_MS");
  baton::Worker worker(baton::WorkerOptions::from_env());
  baton::examples::register_function_chaining(
      worker, std::chrono::milliseconds(delay ? std::atoi(delay) : 0));
  baton::examples::register_fan_out_fan_in(worker);
  baton::examples::register_sub_orchestration(worker);
  baton::examples::register_durable_timer(worker);
  baton::examples::register_human_interaction(worker);
  baton::examples::register_retry(worker);
  baton::examples::register_error_handling(worker);

  worker.add_orchestrator("hang_once", hang_once);
  worker.add_activity("hang_on_first_attempt", [](baton::ActivityContext& ctx, std::string in) {
    if (ctx.attempt() == 1) std::this_thread::sleep_for(std::chrono::seconds(60));
    return in + " after attempt " + std::to_string(ctx.attempt());
  });
  worker.add_orchestrator("fan_out_echo", fan_out_echo);
  worker.add_orchestrator("long_chain", long_chain);
  worker.add_orchestrator("two_events", two_events);
  const char* echo_delay = std::getenv("BATON_TEST_ECHO_DELAY_MS");
  const auto echo_wait = std::chrono::milliseconds(echo_delay ? std::atoi(echo_delay) : 0);
  worker.add_activity("echo", [echo_wait](baton::ActivityContext&, int i) {
    if (echo_wait.count() > 0) std::this_thread::sleep_for(echo_wait);
    return i;
  });
  worker.add_orchestrator("always_fails", always_fails);
  worker.add_orchestrator("parent_of_failing", parent_of_failing);
  worker.add_orchestrator("sleeper", sleeper);
  worker.add_orchestrator("parent_of_sleeper", parent_of_sleeper);
  worker.add_orchestrator("count_to", count_to);
  worker.add_orchestrator("rounds", rounds);
  worker.add_orchestrator("fails_until_third", fails_until_third);
  worker.add_orchestrator("retrying_parent", retrying_parent);
  worker.add_orchestrator("unserved_queue", unserved_queue);
  worker.add_orchestrator("resume_from_heartbeat", resume_from_heartbeat);
  worker.add_activity("heartbeat_then_hang", [](baton::ActivityContext& ctx, int) {
    const int progress = ctx.last_heartbeat_details<int>().value_or(0);
    if (ctx.attempt() == 1) {
      ctx.heartbeat(progress + 5);
      std::this_thread::sleep_for(std::chrono::seconds(60));  // silent: the timeout fires
    }
    return progress * 10 + ctx.attempt();
  });
  worker.add_orchestrator("too_slow", too_slow);
  worker.add_activity("sleep_long", [](baton::ActivityContext&, int) {
    std::this_thread::sleep_for(std::chrono::seconds(5));
  });
  worker.add_orchestrator("fast_and_slow", fast_and_slow);
  worker.add_orchestrator("slow_or_fail", slow_or_fail);
  worker.add_orchestrator("staggered", staggered);
  worker.add_activity("sleep_ms", [](baton::ActivityContext&, int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  });
  worker.add_activity("fail_now", [](baton::ActivityContext&, int) -> int {
    throw std::runtime_error("failed on purpose");
  });
  worker.add_orchestrator("big_output", big_output);
  worker.add_activity("big_string", [](baton::ActivityContext&, int n) {
    return std::string(static_cast<std::size_t>(n), 'x');
  });
  worker.add_orchestrator("big_result", big_result);
  return worker.run();
}
