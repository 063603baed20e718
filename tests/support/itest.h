// Shared by the integration tests: msgpack helpers and a fixture that starts
// the stack (logs under build/test-logs/<Suite>.<Test>) and a client for it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <msgpack.hpp>

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

  std::unique_ptr<Stack> stack_;
  std::unique_ptr<Client> client_;
};

}  // namespace baton::testing
