// Shared by the integration tests: msgpack helpers and a fixture that starts
// the stack (logs under build/test-logs/<Suite>.<Test>) and a client for it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <msgpack.hpp>
#include <pqxx/pqxx>

#include "baton/client.h"
#include "tests/support/stack.h"

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
    return stack_->count("SELECT count(*) FROM baton_history WHERE instance_id = '" +
                         instance_id + "' AND event_type = " +
                         std::to_string(static_cast<int>(type)));
  }

  // The stack's database holds exactly `n` function_chaining histories, each
  // exact: contiguous seq, 3 TaskScheduled, 3 TaskCompleted (each activity
  // result recorded once), one ExecutionStarted and one ExecutionCompleted;
  // no task or inbox row is left; admin verify is clean.
  void expect_exact_chain_histories(Client& client, std::size_t n) {
    pqxx::connection c(stack_->db_url());
    pqxx::nontransaction q(c);
    auto rows = q.exec(
        "SELECT instance_id, count(*), max(seq) + 1, "
        "count(*) FILTER (WHERE event_type = 4), count(*) FILTER (WHERE event_type = 5), "
        "count(*) FILTER (WHERE event_type = 2), count(*) FILTER (WHERE event_type = 1) "
        "FROM baton_history GROUP BY instance_id");
    ASSERT_EQ(rows.size(), n);
    for (const auto& r : rows) {
      const std::string id = r[0].c_str();
      EXPECT_EQ(r[1].as<int>(), r[2].as<int>()) << id << ": seq not contiguous";
      EXPECT_EQ(r[3].as<int>(), 3) << id << ": TaskScheduled";
      EXPECT_EQ(r[4].as<int>(), 3) << id << ": TaskCompleted";
      EXPECT_EQ(r[5].as<int>(), 1) << id << ": ExecutionCompleted";
      EXPECT_EQ(r[6].as<int>(), 1) << id << ": ExecutionStarted";
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
