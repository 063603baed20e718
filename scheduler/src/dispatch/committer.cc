#include "dispatch/committer.h"

#include <chrono>

#include <spdlog/spdlog.h>

namespace baton::scheduler {
namespace {
constexpr std::chrono::milliseconds kReconnectBackoffMinMs{100};
constexpr std::chrono::milliseconds kReconnectBackoffMaxMs{2000};

template <class T>
bool send_ptr(zmq::socket_t& s, std::unique_ptr<T> p) {
  T* raw = p.get();
  try {
    if (!s.send(zmq::buffer(&raw, sizeof raw), zmq::send_flags::none)) return false;
  } catch (const zmq::error_t&) {
    return false;
  }
  p.release();  // now owned by the message's receiver
  return true;
}

template <class T>
std::unique_ptr<T> recv_ptr(zmq::socket_t& s, zmq::recv_flags flags) {
  zmq::message_t m;
  if (!s.recv(m, flags) || m.size() != sizeof(T*)) return nullptr;
  T* raw = nullptr;
  std::memcpy(&raw, m.data(), sizeof raw);
  return std::unique_ptr<T>(raw);
}
}  // namespace

Committer::Committer(zmq::context_t& ctx, std::string endpoint, StoreOptions options)
    : ctx_(ctx), endpoint_(std::move(endpoint)), options_(std::move(options)) {}

Committer::~Committer() { stop(); }

void Committer::start() { thread_ = std::thread([this] { run(); }); }

void Committer::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool Committer::send_request(zmq::socket_t& s, std::unique_ptr<CommitRequest> r) {
  return send_ptr(s, std::move(r));
}

std::unique_ptr<CommitResponse> Committer::recv_response(zmq::socket_t& s) {
  return recv_ptr<CommitResponse>(s, zmq::recv_flags::dontwait);
}

void Committer::run() {
  zmq::socket_t sock(ctx_, zmq::socket_type::pair);
  sock.set(zmq::sockopt::linger, 0);
  sock.set(zmq::sockopt::rcvtimeo, 100);
  sock.connect(endpoint_);
  while (!stop_) {
    auto req = recv_ptr<CommitRequest>(sock, zmq::recv_flags::none);
    if (!req) continue;  // timeout: check stop_
    auto resp = handle(*req);
    if (!send_ptr(sock, std::move(resp))) spdlog::error("committer: cannot hand back a response");
  }
}

std::unique_ptr<CommitResponse> Committer::handle(CommitRequest& req) {
  auto resp = std::make_unique<CommitResponse>();
  resp->kind = req.kind;
  auto backoff = kReconnectBackoffMinMs;
  while (!store_ && !stop_) {
    auto opened = PgStore::open(options_);
    if (opened) {
      store_ = std::move(opened).value();
      break;
    }
    if (opened.status().code() == StatusCode::kFailedPrecondition) {
      // A schema mismatch does not heal by retrying fast; say it loudly.
      spdlog::critical("{}", opened.status().message());
    } else {
      spdlog::warn("database unavailable ({}); retrying in {} ms", opened.status().message(),
                   backoff.count());
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, kReconnectBackoffMaxMs);
  }
  if (!store_) {
    resp->recovery = unavailable("stopping");
    resp->outcome.status = unavailable("stopping");
    return resp;
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (req.kind == CommitRequest::Kind::kRecover) {
    resp->recovery = store_->recover(req.owner, req.now_ms, req.max_tasks);
    if (!resp->recovery) store_.reset();
  } else if (req.kind == CommitRequest::Kind::kRelease) {
    resp->outcome.status = store_->release(req.lease);
  } else {
    resp->outcome = store_->commit(req.lease, req.batch);
    if (resp->outcome.status.code() == StatusCode::kUnavailable) store_.reset();
  }
  resp->commit_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
  return resp;
}

}  // namespace baton::scheduler
