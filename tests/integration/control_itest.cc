// Suspend, resume, terminate and raise-event errors, end to end through real
// processes with the function-chaining worker.
#include <gtest/gtest.h>

#include <chrono>

#include <msgpack.hpp>

#include "baton/client.h"
#include "tests/support/itest.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using testing::Stack;
using testing::StackOptions;

std::string pack_string(const std::string& s) { return testing::pack(s); }

class Control : public testing::StackTest {
 protected:
  void start(StackOptions options = {}) { start_stack(std::move(options)); }

  void start_chain(const std::string& id) {
    StartOptions so;
    so.instance_id = id;
    ASSERT_TRUE(client_->schedule_new_orchestration("function_chaining", pack_string("World"), so));
  }

  OrchestrationStatus status(const std::string& id) {
    auto md = client_->get_orchestration_metadata(id);
    EXPECT_TRUE(md) << md.status().to_string();
    return md ? md->status : OrchestrationStatus::kPending;
  }

};

TEST_F(Control, TerminateStopsARunningOrchestration) {
  StackOptions o;
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "1500"}};
  start(o);
  start_chain("t1");
  ASSERT_TRUE(testing::wait_until([&] { return events("t1", EventType::kTaskScheduled) >= 1; }, 30s));
  ASSERT_TRUE(client_->terminate_orchestration("t1", "operator said stop"));
  auto md = client_->wait_for_orchestration_completion("t1", 30s);
  ASSERT_TRUE(md) << md.status().to_string();
  EXPECT_EQ(md->status, OrchestrationStatus::kTerminated);
  auto reason = msgpack::unpack(md->output.data(), md->output.size());
  EXPECT_EQ(reason.get().as<std::string>(), "operator said stop");
  EXPECT_EQ(events("t1", EventType::kExecutionTerminated), 1);
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_tasks"), 0) << "pending tasks are dropped";
  // The activity that was running finishes later; its result is discarded.
  ASSERT_TRUE(testing::wait_until(
      [&] { return stack_->count("SELECT count(*) FROM baton_inbox") == 0; }, 5s));
  EXPECT_EQ(events("t1", EventType::kTaskCompleted), 0);
  EXPECT_EQ(status("t1"), OrchestrationStatus::kTerminated);
}

TEST_F(Control, SuspendBuffersProgressUntilResume) {
  StackOptions o;
  o.worker_env = {{"BATON_TEST_ACTIVITY_DELAY_MS", "800"}};
  start(o);
  start_chain("s1");
  ASSERT_TRUE(testing::wait_until([&] { return events("s1", EventType::kTaskScheduled) >= 1; }, 30s));
  ASSERT_TRUE(client_->suspend_orchestration("s1", "maintenance"));
  ASSERT_TRUE(testing::wait_until([&] { return status("s1") == OrchestrationStatus::kSuspended; },
                                  30s));
  // The running activity completes while suspended: its result waits in the inbox.
  ASSERT_TRUE(testing::wait_until(
      [&] { return stack_->count("SELECT count(*) FROM baton_inbox WHERE instance_id = 's1'") >= 1; },
      30s));
  const int64_t scheduled = events("s1", EventType::kTaskScheduled);
  EXPECT_EQ(events("s1", EventType::kTaskCompleted), 0) << "nothing runs while suspended";
  EXPECT_EQ(status("s1"), OrchestrationStatus::kSuspended);

  ASSERT_TRUE(client_->resume_orchestration("s1", "done"));
  auto md = client_->wait_for_orchestration_completion("s1", 60s);
  ASSERT_TRUE(md) << md.status().to_string();
  EXPECT_EQ(md->status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(scheduled, 1);
  EXPECT_EQ(events("s1", EventType::kExecutionSuspended), 1);
  EXPECT_EQ(events("s1", EventType::kExecutionResumed), 1);
  EXPECT_EQ(events("s1", EventType::kTaskCompleted), 3);
}

TEST_F(Control, RaiseEventToAnUnknownOrFinishedInstanceIsAnError) {
  start();
  auto missing = client_->raise_orchestration_event("nobody", "e", pack_string("x"));
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.to_string();
  start_chain("done");
  ASSERT_TRUE(client_->wait_for_orchestration_completion("done", 60s));
  auto finished = client_->raise_orchestration_event("done", "e", pack_string("x"));
  EXPECT_EQ(finished.code(), StatusCode::kFailedPrecondition) << finished.to_string();
  EXPECT_EQ(client_->terminate_orchestration("done", "late").code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace baton
