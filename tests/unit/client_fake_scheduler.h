// A scheduler stand-in for client tests: a ROUTER on an ephemeral
// tcp://127.0.0.1 port. The test thread drives it (next(), reply()) while the
// call under test runs on another thread. Thread-safety: one thread only.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "baton/wire.h"

namespace baton::client_test {

class FakeScheduler {
 public:
  struct Request {
    std::string peer;
    MsgType type = MsgType::kHeartbeat;
    std::string body;
    template <class T>
    T as() const {
      Result<T> r = wire::decode<T>(body);
      if (!r) throw std::runtime_error("bad request body: " + r.status().to_string());
      return std::move(r).value();
    }
  };

  // Binds "tcp://127.0.0.1:*" (an ephemeral port), or exactly `endpoint`.
  explicit FakeScheduler(const std::string& endpoint = "tcp://127.0.0.1:*")
      : socket_(ctx_, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind(endpoint);
    address_ = socket_.get(zmq::sockopt::last_endpoint);
  }

  const std::string& address() const { return address_; }

  // The next well-formed request, or nullopt after `timeout`.
  std::optional<Request> next(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
      if (!(item.revents & ZMQ_POLLIN)) continue;
      Result<wire::Received> r = wire::recv(socket_, true);
      if (!r) continue;
      return Request{r->identity, r->type, std::string(r->body_view())};
    }
  }

  template <class T>
  void reply(const Request& to, const T& msg) {
    if (!wire::send(socket_, msg, to.peer, /*dont_wait=*/false)) {
      throw std::runtime_error("fake scheduler could not send");
    }
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
  std::string address_;
};

// An address where nothing listens (a port that was free a moment ago).
inline std::string closed_address() {
  std::string address;
  {
    FakeScheduler probe;
    address = probe.address();
  }
  return address;
}

}  // namespace baton::client_test
