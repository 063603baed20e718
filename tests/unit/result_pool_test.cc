// ResultPool (worker/src/runtime/result_pool.h): every job runs and hands its
// result to the PULL end; jobs that block each get a thread although the
// pool wakes one thread at a time.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "baton/protocol.h"
#include "runtime/result_pool.h"

namespace baton::detail {
namespace {

using namespace std::chrono_literals;

constexpr const char* kEndpoint = "inproc://result-pool-test";

class ResultPoolTest : public ::testing::Test {
 protected:
  ResultPoolTest()
      : context_(std::make_shared<zmq::context_t>(1)), pull_(*context_, zmq::socket_type::pull) {
    pull_.set(zmq::sockopt::rcvtimeo, 10'000);
    pull_.bind(kEndpoint);
  }

  // The next hand-off: {type byte, body}; an empty type when none came in 10 s.
  std::pair<std::string, std::string> next() {
    zmq::message_t type;
    zmq::message_t body;
    if (!pull_.recv(type) || !type.more() || !pull_.recv(body)) return {};
    return {type.to_string(), body.to_string()};
  }

  std::shared_ptr<zmq::context_t> context_;
  zmq::socket_t pull_;
};

TEST_F(ResultPoolTest, EveryJobOfABurstHandsOverItsResult) {
  ResultPool pool("test", 4, context_, kEndpoint);
  constexpr int kJobs = 500;
  for (int i = 0; i < kJobs; ++i) {
    pool.submit(MsgType::kActivityResult,
                [i](const ResultPool::Emit&) { return "result-" + std::to_string(i); });
  }
  std::set<std::string> seen;
  for (int i = 0; i < kJobs; ++i) {
    auto [type, body] = next();
    ASSERT_EQ(type, std::string(1, static_cast<char>(MsgType::kActivityResult))) << "after " << i;
    seen.insert(body);
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kJobs));
  EXPECT_TRUE(seen.count("result-0") && seen.count("result-499"));
}

// Jobs that wait for each other can only finish if every one of them is on
// its own thread at the same time: submitted in one burst (the I/O thread
// wakes at most one thread), each woken thread must wake the next.
TEST_F(ResultPoolTest, BlockingJobsOfOneBurstEachGetAThread) {
  constexpr int kThreads = 8;
  ResultPool pool("test", kThreads, context_, kEndpoint);
  std::this_thread::sleep_for(50ms);  // every thread asleep on the queue
  struct Barrier {
    std::mutex mu;
    std::condition_variable cv;
    int arrived = 0;
  };
  auto barrier = std::make_shared<Barrier>();
  for (int i = 0; i < kThreads; ++i) {
    pool.submit(MsgType::kActivityResult, [barrier](const ResultPool::Emit&) -> std::string {
      std::unique_lock lock(barrier->mu);
      ++barrier->arrived;
      barrier->cv.notify_all();
      const bool all = barrier->cv.wait_for(lock, 5s, [&] { return barrier->arrived == kThreads; });
      return all ? "together" : "alone";
    });
  }
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(next().second, "together") << "job " << i;
}

// A job queued while every thread is busy runs once one is free; so does a
// job queued long after the last burst (the threads went back to sleep).
TEST_F(ResultPoolTest, JobsQueuedBehindBusyThreadsAndAfterAQuietSpellRun) {
  ResultPool pool("test", 2, context_, kEndpoint);
  std::atomic<bool> release{false};
  for (int i = 0; i < 2; ++i) {
    pool.submit(MsgType::kActivityResult, [&release](const ResultPool::Emit&) -> std::string {
      while (!release) std::this_thread::sleep_for(1ms);
      return "busy";
    });
  }
  pool.submit(MsgType::kOrchestrationResult, [](const ResultPool::Emit&) { return "queued"; });
  std::this_thread::sleep_for(20ms);
  release = true;
  std::multiset<std::string> got;
  for (int i = 0; i < 3; ++i) got.insert(next().second);
  EXPECT_EQ(got, (std::multiset<std::string>{"busy", "busy", "queued"}));

  std::this_thread::sleep_for(100ms);
  pool.submit(MsgType::kActivityResult, [](const ResultPool::Emit&) { return "later"; });
  EXPECT_EQ(next().second, "later");
}

}  // namespace
}  // namespace baton::detail
