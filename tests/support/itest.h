// Shared by the integration tests: msgpack helpers and a fixture that starts
// the stack (logs under build/test-logs/<Suite>.<Test>) and a client for it.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include <msgpack.hpp>
#include <pqxx/pqxx>

#include "baton/client.h"
#include "tests/support/stack.h"
#include "tests/support/stored_history.h"

namespace baton::testing {

template <class T>
std::string pack(const T& value) {
  msgpack::sbuffer b;
  msgpack::pack(b, value);
  return std::string(b.data(), b.size());
}

template <class T>
T unpack(const std::string& bytes) {
  auto oh = msgpack::unpack(bytes.data(), bytes.size());
  return oh.get().as<T>();
}

class StackTest : public ::testing::Test {
 protected:
  void start_stack(StackOptions options = {}) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    stack_ = std::make_unique<Stack>(
        test_log_dir(std::string(info->test_suite_name()) + "." + info->name()),
        std::move(options));
    ClientOptions co;
    co.address = stack_->scheduler_address();
    co.ns = "default";
    client_ = std::make_unique<Client>(co);
  }

  int64_t events(const std::string& instance_id, EventType type) {
    return count_of(stored_history(stack_->db_url(), "instance_id = " + quoted(instance_id)),
                    type);
  }

  // The stack's database holds exactly `n` function_chaining histories, each
  // exact: contiguous seq, 3 TaskScheduled, 3 TaskCompleted (each activity
  // result recorded once), one ExecutionStarted and one ExecutionCompleted;
  // no task or inbox row is left; admin verify is clean.
  void expect_exact_chain_histories(Client& client, std::size_t n) {
    std::map<std::string, std::vector<StoredEvent>> histories;
    for (auto& e : stored_history(stack_->db_url())) {
      auto& h = histories[e.instance_id];
      EXPECT_EQ(e.seq, static_cast<int>(h.size())) << e.instance_id << ": seq not contiguous";
      h.push_back(std::move(e));
    }
    ASSERT_EQ(histories.size(), n);
    for (const auto& [id, h] : histories) {
      EXPECT_EQ(count_of(h, EventType::kTaskScheduled), 3) << id << ": TaskScheduled";
      EXPECT_EQ(count_of(h, EventType::kTaskCompleted), 3) << id << ": TaskCompleted";
      EXPECT_EQ(count_of(h, EventType::kExecutionCompleted), 1) << id << ": ExecutionCompleted";
      EXPECT_EQ(count_of(h, EventType::kExecutionStarted), 1) << id << ": ExecutionStarted";
    }
    EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_tasks"), 0);
    EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_inbox"), 0);
    auto violations = client.verify_database();
    ASSERT_TRUE(violations) << violations.status().to_string();
    EXPECT_TRUE(violations->empty()) << violations->front();
  }

  std::unique_ptr<Stack> stack_;
  std::unique_ptr<Client> client_;
};

}  // namespace baton::testing
