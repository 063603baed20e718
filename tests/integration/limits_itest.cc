// The worker's payload limit end to end (issue 5, "Nothing lost"): real
// processes whose single worker runs with BATON_MAX_PAYLOAD_BYTES=1000. An
// oversized activity output fails its attempt for good (no retry despite
// the policy); an oversized orchestration output fails the orchestration.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "baton/client.h"
#include "tests/support/itest.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using testing::StackOptions;

constexpr int kLimitBytes = 1000;

class Limits : public testing::StackTest {
 protected:
  void SetUp() override {
    StackOptions o;
    o.workers = 1;
    o.worker_env = {{"BATON_MAX_PAYLOAD_BYTES", std::to_string(kLimitBytes)}};
    start_stack(std::move(o));
  }

  // Starts `name` with input n as instance `id` and waits until it finishes.
  OrchestrationMetadata run(const std::string& name, int n, const std::string& id) {
    StartOptions so;
    so.instance_id = id;
    auto started = client_->schedule_new_orchestration(name, testing::pack(n), so);
    EXPECT_TRUE(started) << started.status().to_string();
    auto md = client_->wait_for_orchestration_completion(id, 60s);
    EXPECT_TRUE(md) << id << ": " << md.status().to_string();
    return md ? *md : OrchestrationMetadata{};
  }
};

TEST_F(Limits, ActivityOutputOverTheWorkerLimitFailsTheInstanceAfterOneAttempt) {
  // Within the limit: completes.
  const OrchestrationMetadata small = run("big_output", 100, "small-output");
  ASSERT_EQ(small.status, OrchestrationStatus::kCompleted) << small.failure.message;
  EXPECT_EQ(testing::unpack<std::string>(small.output), std::string(100, 'x'));

  const OrchestrationMetadata md = run("big_output", 5000, "big-output");
  ASSERT_EQ(md.status, OrchestrationStatus::kFailed);
  EXPECT_EQ(md.failure.error_type, "PayloadTooLarge");
  EXPECT_NE(md.failure.message.find("big_string"), std::string::npos) << md.failure.message;
  EXPECT_NE(md.failure.message.find("5003 bytes"), std::string::npos) << md.failure.message;
  EXPECT_NE(md.failure.message.find("1000-byte"), std::string::npos) << md.failure.message;

  // One attempt although the policy allows three: the failure is non-retryable.
  auto history = client_->get_orchestration_history("big-output");
  ASSERT_TRUE(history) << history.status().to_string();
  int scheduled = 0;
  std::vector<int32_t> failed_attempts;
  for (const HistoryEvent& ev : *history) {
    if (ev.type == EventType::kTaskScheduled) ++scheduled;
    if (ev.type == EventType::kTaskFailed) {
      failed_attempts.push_back(ev.attempt);
      EXPECT_EQ(ev.failure.error_type, "PayloadTooLarge");
      EXPECT_TRUE(ev.failure.non_retryable);
    }
    EXPECT_NE(ev.type, EventType::kTaskCompleted);
  }
  EXPECT_EQ(scheduled, 1);
  EXPECT_EQ(failed_attempts, std::vector<int32_t>{1});
}

TEST_F(Limits, OrchestrationOutputOverTheWorkerLimitFailsTheOrchestration) {
  const OrchestrationMetadata small = run("big_result", 100, "small-result");
  ASSERT_EQ(small.status, OrchestrationStatus::kCompleted) << small.failure.message;

  const OrchestrationMetadata md = run("big_result", 5000, "big-result");
  ASSERT_EQ(md.status, OrchestrationStatus::kFailed);
  EXPECT_TRUE(md.output.empty());
  EXPECT_EQ(md.failure.error_type, "PayloadTooLarge");
  EXPECT_NE(md.failure.message.find("orchestrator 'big_result' in instance 'default/big-result'"),
            std::string::npos)
      << md.failure.message;
  EXPECT_NE(md.failure.message.find("the output is 5003 bytes"), std::string::npos)
      << md.failure.message;
  EXPECT_EQ(events("big-result", EventType::kExecutionCompleted), 1);
}

}  // namespace
}  // namespace baton
