#include "runtime/result_pool.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <utility>

#include "runtime/signals.h"

namespace baton::detail {

ResultPool::ResultPool(std::string name, int threads, std::shared_ptr<zmq::context_t> context,
                       std::string endpoint)
    : shared_(std::make_shared<Shared>()) {
  shared_->context = std::move(context);
  shared_->endpoint = std::move(endpoint);
  shared_->name = std::move(name);
  threads_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back(&ResultPool::thread_main, shared_);
}

ResultPool::~ResultPool() { join(); }

void ResultPool::submit(MsgType result_type, Job job) {
  std::lock_guard lock(shared_->mu);
  shared_->jobs.push_back(Queued{result_type, std::move(job)});
  wake_one_locked(*shared_);
}

void ResultPool::wake_one_locked(Shared& shared) {
  if (shared.waking > 0 || shared.sleeping == 0) return;
  ++shared.waking;
  shared.cv.notify_one();
}

void ResultPool::join() {
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;
  }
  shared_->cv.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void ResultPool::abandon() {
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;
    shared_->abandoned = true;
    shared_->jobs.clear();
  }
  shared_->cv.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.detach();
  }
  threads_.clear();
}

void ResultPool::thread_main(std::shared_ptr<Shared> shared) {
  block_stop_signals_in_this_thread();
  std::unique_ptr<zmq::socket_t> push;
  try {
    push = std::make_unique<zmq::socket_t>(*shared->context, zmq::socket_type::push);
    push->set(zmq::sockopt::sndhwm, 0);  // bounded by the slots; never block a result
    push->set(zmq::sockopt::linger, 1000);
    push->connect(shared->endpoint);
  } catch (const zmq::error_t& e) {
    spdlog::error("{} pool thread cannot reach the I/O thread ({}); it stays idle", shared->name,
                  e.what());
    push.reset();
  }
  // Never throws; false when the I/O thread cannot be reached.
  auto send = [&](MsgType type, std::string_view body) {
    if (!push) return false;
    const auto type_byte = static_cast<uint8_t>(type);
    try {
      return push->send(zmq::buffer(&type_byte, 1),
                        zmq::send_flags::sndmore | zmq::send_flags::dontwait)
                 .has_value() &&
             push->send(zmq::buffer(body), zmq::send_flags::dontwait).has_value();
    } catch (const zmq::error_t&) {
      return false;
    }
  };
  const Emit emit = [&](MsgType type, std::string body) { (void)send(type, body); };
  while (true) {
    Queued item;
    {
      std::unique_lock lock(shared->mu);
      while (!shared->stopping && shared->jobs.empty()) {
        ++shared->sleeping;
        shared->cv.wait(lock);
        --shared->sleeping;
        // Whoever was notified (or woke spuriously) is no longer on its way.
        if (shared->waking > 0) --shared->waking;
      }
      if (shared->abandoned || shared->jobs.empty()) break;
      item = std::move(shared->jobs.front());
      shared->jobs.pop_front();
      // Pass the wake-up on: the rest may be more than this thread should
      // run one after the other (a job may block).
      if (!shared->jobs.empty()) wake_one_locked(*shared);
    }
    const std::string body = run(item.job, emit, shared->name);
    if (!push) continue;
    if (!send(item.type, body)) {
      std::lock_guard lock(shared->mu);
      // After abandon() run() has returned: stay silent (the process may be exiting).
      if (!shared->abandoned)
        spdlog::warn("{} result dropped: the worker loop is gone", shared->name);
    }
  }
}

std::string ResultPool::run(const Job& job, const Emit& emit, const std::string& name) {
  try {
    return job(emit);
  } catch (const std::exception& e) {
    spdlog::error("{} job failed without a result: {}", name, e.what());
  } catch (...) {
    spdlog::error("{} job failed without a result", name);
  }
  return {};
}

}  // namespace baton::detail
