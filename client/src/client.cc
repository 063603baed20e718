// Client internals. One I/O thread owns the DEALER to the scheduler; callers
// talk to it over inproc (STYLE.md rule 12), each call on an inproc DEALER of
// its own, so calls from many threads run concurrently and a long wait never
// holds up a describe. A DEALER whose call got its reply goes back to a pool
// for the next call (the I/O thread forwards one reply per request, so none
// can follow); one whose call gave up is closed, as a late reply may follow.
//
//   caller DEALER --[request_id][expiry_ms][type][body]--> I/O ROUTER (inproc)
//   I/O DEALER    --[type][body]--> scheduler ROUTER (tcp)
//   scheduler     --[type][body]--> I/O DEALER --> route by request_id --> caller
//
// A reply whose request_id has no route (its caller gave up) is dropped.
#include "baton/client.h"

#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "baton/config.h"
#include "baton/security.h"
#include "baton/wire.h"

namespace baton {
namespace {

constexpr const char* kCallEndpoint = "inproc://baton-client-calls";
constexpr const char* kMonitorEndpoint = "inproc://baton-client-monitor";
// The I/O thread keeps a request's route this long past the caller's deadline,
// so a reply that races the deadline still finds a route (and is then dropped
// by the caller's closed socket) instead of being counted as unknown.
constexpr int64_t kRouteGraceMs = 1000;
// How often a waiting call checks whether the scheduler refused our credentials.
constexpr int64_t kRefusalCheckMs = 50;
// ZMTP-level heartbeats on the scheduler link: a peer that vanished without
// closing TCP is noticed within kLinkTimeoutMs and reported as disconnected.
constexpr int kLinkHeartbeatIntervalMs = 1000;
constexpr int kLinkTimeoutMs = 3000;
// Idle call sockets kept for reuse; more concurrent calls make more.
constexpr std::size_t kMaxPooledCallSockets = 64;

int64_t epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string u64_bytes(uint64_t v) {
  std::string out(sizeof v, '\0');
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

bool read_u64(const zmq::message_t& m, uint64_t& out) {
  if (m.size() != sizeof out) return false;
  std::memcpy(&out, m.data(), sizeof out);
  return true;
}

// Just enough of any client-API reply to route it.
struct ReplyHeader {
  uint64_t request_id = 0;
  MSGPACK_DEFINE_MAP(request_id)
};

Status status_from_error_reply(const ErrorReply& e) {
  if (e.code == 0 || e.code > static_cast<uint8_t>(StatusCode::kInternal)) {
    return internal_error("scheduler answered with unknown error code " + std::to_string(e.code) +
                          ": " + e.message);
  }
  return Status(static_cast<StatusCode>(e.code), e.message);
}

// `what` names the parameter, `typed_call` the call that encodes a string.
Status check_one_msgpack_document(const Bytes& bytes, std::string_view what,
                                  std::string_view typed_call) {
  if (bytes.empty()) return Status::ok();
  try {
    std::size_t offset = 0;
    msgpack::object_handle oh =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, wire::body_limits());
    if (offset != bytes.size()) {
      return invalid_argument(std::string(what) + " is not one msgpack document (" +
                              std::to_string(bytes.size() - offset) +
                              " trailing bytes); to send a std::string value call " +
                              std::string(typed_call));
    }
  } catch (const std::exception& e) {
    return invalid_argument(std::string(what) + " is not msgpack: " + e.what());
  }
  return Status::ok();
}

}  // namespace

ClientOptions ClientOptions::from_settings(const ConnectionSettings& settings) {
  ClientOptions o;
  o.address = settings.scheduler_address;
  o.ns = settings.ns;
  o.api_key = settings.api_key;
  o.curve = settings.curve;
  o.metadata = settings.metadata;
  return o;
}

Result<ClientOptions> ClientOptions::load(const std::string& profile) {
  Result<ConnectionSettings> settings = load_connection_settings(profile);
  if (!settings) return settings.status();
  return from_settings(*settings);
}

ClientOptions ClientOptions::from_env() { return from_settings(connection_settings_from_env()); }

// Thread-safety: everything a caller touches is immutable after construction
// or atomic; the sockets in io_loop belong to the I/O thread alone.
struct Client::Impl {
  explicit Impl(ClientOptions o) : options(std::move(o)) {
    try {
      zmq::socket_t calls(ctx, zmq::socket_type::router);
      calls.set(zmq::sockopt::linger, 0);
      calls.bind(kCallEndpoint);

      zmq::socket_t link(ctx, zmq::socket_type::dealer);
      link.set(zmq::sockopt::linger, 0);
      link.set(zmq::sockopt::heartbeat_ivl, kLinkHeartbeatIntervalMs);
      link.set(zmq::sockopt::heartbeat_timeout, kLinkTimeoutMs);
      if (options.curve.enabled()) {
        if (Status st = check_curve_key_pair(options.curve.public_key, options.curve.secret_key,
                                             "client CurveZMQ key pair");
            !st) {
          config_error = st;
          return;
        }
        if (Status st = validate_z85_key(options.curve.server_key, "CurveZMQ server key"); !st) {
          config_error = st;
          return;
        }
      }
      security::apply_client(link, options.curve, options.api_key);
      // Monitor before connecting so the first CONNECTED event is seen; a
      // failed handshake is how the scheduler refuses our credentials.
      if (zmq_socket_monitor(link.handle(), kMonitorEndpoint,
                             ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
                                 ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
        throw zmq::error_t();
      }
      zmq::socket_t monitor(ctx, zmq::socket_type::pair);
      monitor.set(zmq::sockopt::linger, 0);
      monitor.connect(kMonitorEndpoint);
      try {
        link.connect(options.address);
      } catch (const zmq::error_t& e) {
        config_error =
            invalid_argument("invalid scheduler address '" + options.address + "': " + e.what());
        return;
      }
      io = std::thread([this, c = std::move(calls), l = std::move(link),
                        m = std::move(monitor)]() mutable { io_loop(c, l, m); });
    } catch (const zmq::error_t& e) {
      config_error = unavailable(std::string("cannot set up the client: ") + e.what());
    }
  }

  ~Impl() {
    ctx.shutdown();  // wakes the I/O thread (and any caller) with ETERM
    if (io.joinable()) io.join();
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Sends one request and returns its reply, decoded as Rep (an ErrorReply
  // becomes its Status).
  template <class Rep, class Req>
  Result<Rep> call(Req req, std::chrono::milliseconds timeout) {
    Result<wire::Received> got = call_raw(std::move(req), timeout);
    if (!got) return got.status();
    return decode_reply<Rep>(got.value(), Req::kType);
  }

  // Sends one request and returns its reply undecoded, unless it is an
  // ErrorReply: then its Status. For requests with more than one answer.
  // Without a connection, gives up (kUnavailable) after `connect_within`.
  template <class Req>
  Result<wire::Received> call_raw(Req req, std::chrono::milliseconds timeout,
                                  std::optional<std::chrono::milliseconds> connect_within = {}) {
    if (!config_error.is_ok()) return config_error;
    req.request_id = next_request_id.fetch_add(1, std::memory_order_relaxed);
    req.metadata = options.metadata;  // every request carries the profile's headers
    Result<wire::Received> got = round_trip(req.request_id, Req::kType, wire::encode(req), timeout,
                                            connect_within.value_or(timeout));
    if (!got) return got.status();
    if (got->type == MsgType::kErrorReply) {
      Result<ErrorReply> e = wire::decode<ErrorReply>(got->body_view());
      if (!e) return malformed(e.status());
      return status_from_error_reply(e.value());
    }
    return got;
  }

  // The reply `r` to a request of type `asked`, decoded as Rep.
  template <class Rep>
  Result<Rep> decode_reply(const wire::Received& r, MsgType asked) const {
    if (r.type != Rep::kType) {
      return internal_error(std::string("the scheduler at ") + options.address + " answered a " +
                            wire::msg_type_name(asked) + " with a " +
                            wire::msg_type_name(r.type));
    }
    Result<Rep> rep = wire::decode<Rep>(r.body_view());
    if (!rep) return malformed(rep.status());
    return rep;
  }

  // For requests answered with OkReply.
  template <class Req>
  Status call_ok(Req req) {
    Result<OkReply> rep = call<OkReply>(std::move(req), options.request_timeout);
    return rep.status();
  }

  std::string refusal_message() const {
    return "the scheduler at " + options.address +
           " refused our credentials (CurveZMQ keys or API key; see batonctl config show)";
  }

  Status malformed(const Status& s) const {
    return internal_error("malformed reply from the scheduler at " + options.address + ": " +
                          s.message());
  }

  Result<wire::Received> round_trip(uint64_t request_id, MsgType type, const std::string& body,
                                    std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds connect_within) {
    const int64_t deadline = steady_now_ms() + timeout.count();
    try {
      zmq::socket_t s = take_call_socket();
      const std::string id = u64_bytes(request_id);
      const std::string expiry = u64_bytes(static_cast<uint64_t>(deadline + kRouteGraceMs));
      const uint8_t header[2] = {kProtocolVersion, static_cast<uint8_t>(type)};
      s.send(zmq::buffer(id), zmq::send_flags::sndmore);
      s.send(zmq::buffer(expiry), zmq::send_flags::sndmore);
      s.send(zmq::buffer(header, sizeof header), zmq::send_flags::sndmore);
      s.send(zmq::buffer(body), zmq::send_flags::none);
      // The whole timeout, measured precisely (the millisecond deadline above
      // only bounds the route's life in the I/O thread); but no longer than
      // `connect_within` while there is no connection.
      const auto t0 = std::chrono::steady_clock::now();
      const auto give_up = t0 + timeout;
      const auto connect_by = t0 + std::min(timeout, connect_within);
      for (auto left = timeout; left.count() > 0;
           left = std::chrono::ceil<std::chrono::milliseconds>(give_up -
                                                                std::chrono::steady_clock::now())) {
        zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::min(left, std::chrono::milliseconds(kRefusalCheckMs)));
        if (item.revents & ZMQ_POLLIN) {
          Result<wire::Received> reply = wire::recv(s, false);
          give_back(std::move(s));
          return reply;
        }
        if (refused.load()) return Status(StatusCode::kUnauthenticated, refusal_message());
        if (!connected.load() && std::chrono::steady_clock::now() >= connect_by) break;
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return unavailable("the client is shutting down");
      return unavailable(std::string("client socket error: ") + e.what());
    }
    if (!connected.load()) {
      const std::string waited = std::to_string(std::min(timeout, connect_within).count()) + " ms";
      return unavailable("cannot reach the scheduler at " + options.address + ": no connection (" +
                         "is it running and listening there?); gave up after " + waited);
    }
    return deadline_exceeded("no reply from the scheduler at " + options.address + " within " +
                             std::to_string(timeout.count()) + " ms");
  }

  // One long-poll WaitRequest: until the instance finished, or (until_started)
  // left PENDING.
  Result<OrchestrationMetadata> wait(std::string_view instance_id,
                                     std::chrono::milliseconds timeout, bool until_started) {
    if (instance_id.empty()) return invalid_argument("instance id is empty");
    if (timeout.count() < 0) return invalid_argument("wait timeout is negative");
    WaitRequest req;
    req.ns = options.ns;
    req.instance_id = std::string(instance_id);
    req.timeout_ms = timeout.count();
    req.until_started = until_started;
    Result<InstanceReply> rep = call<InstanceReply>(std::move(req), timeout + options.request_timeout);
    if (!rep) return rep.status();
    return OrchestrationMetadata{std::move(rep.value().info)};
  }

  void io_loop(zmq::socket_t& calls, zmq::socket_t& link, zmq::socket_t& monitor);

  // A DEALER connected to the I/O thread, from the pool or new.
  zmq::socket_t take_call_socket() {
    {
      std::lock_guard<std::mutex> lock(pool_mu);
      if (!call_sockets.empty()) {
        zmq::socket_t s = std::move(call_sockets.back());
        call_sockets.pop_back();
        return s;
      }
    }
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.connect(kCallEndpoint);
    return s;
  }

  // A DEALER whose call got its reply, for the next call.
  void give_back(zmq::socket_t s) {
    std::lock_guard<std::mutex> lock(pool_mu);
    if (call_sockets.size() < kMaxPooledCallSockets) call_sockets.push_back(std::move(s));
  }

  const ClientOptions options;
  Status config_error;  // set once in the constructor; non-ok: every call returns it
  zmq::context_t ctx{1};
  std::atomic<uint64_t> next_request_id{1};
  std::atomic<bool> connected{false};  // written by the I/O thread only
  std::atomic<bool> refused{false};    // the last handshake failed; idem
  std::thread io;
  // Declared after ctx: closed before it is terminated.
  std::mutex pool_mu;
  std::vector<zmq::socket_t> call_sockets;  // guarded by pool_mu
};

void Client::Impl::io_loop(zmq::socket_t& calls, zmq::socket_t& link, zmq::socket_t& monitor) {
  struct Route {
    std::string caller;
    int64_t expiry_ms = 0;
  };
  std::unordered_map<uint64_t, Route> routes;
  std::multimap<int64_t, uint64_t> expiries;  // may hold ids already answered

  // A request from a caller: remember who asked, pass it on.
  auto on_call = [&] {
    std::vector<zmq::message_t> parts;
    do {
      zmq::message_t part;
      if (!calls.recv(part, zmq::recv_flags::dontwait)) break;
      parts.push_back(std::move(part));
    } while (parts.back().more());
    uint64_t request_id = 0;
    uint64_t expiry = 0;
    if (parts.size() != 5 || !read_u64(parts[1], request_id) || !read_u64(parts[2], expiry) ||
        parts[3].size() != 2) {
      return;  // cannot happen: only round_trip() writes here
    }
    const std::string caller = parts[0].to_string();
    const auto type = static_cast<MsgType>(static_cast<const uint8_t*>(parts[3].data())[1]);
    if (!wire::send_raw(link, {}, type,
                        {static_cast<const char*>(parts[4].data()), parts[4].size()})) {
      // A refused handshake leaves the link without a peer to queue for.
      ErrorReply e = refused.load()
                         ? ErrorReply{request_id, static_cast<uint8_t>(StatusCode::kUnauthenticated),
                                      refusal_message()}
                         : ErrorReply{request_id, static_cast<uint8_t>(StatusCode::kUnavailable),
                                      "cannot queue the request for the scheduler at " +
                                          options.address +
                                          ": send queue full (is the scheduler reachable?)"};
      wire::send(calls, e, caller);
      return;
    }
    routes[request_id] = Route{caller, static_cast<int64_t>(expiry)};
    expiries.emplace(static_cast<int64_t>(expiry), request_id);
  };

  // A reply from the scheduler: hand it to whoever asked, or drop it.
  auto on_reply = [&] {
    Result<wire::Received> r = wire::recv(link, false);
    if (!r) return;
    switch (r->type) {
      case MsgType::kStartReply:
      case MsgType::kInstanceReply:
      case MsgType::kOkReply:
      case MsgType::kHistoryReply:
      case MsgType::kVerifyReply:
      case MsgType::kListReply:
      case MsgType::kPurgeReply:
      case MsgType::kErrorReply:
        break;
      default:
        return;
    }
    Result<ReplyHeader> h = wire::decode<ReplyHeader>(r->body_view());
    if (!h) return;
    auto it = routes.find(h->request_id);
    if (it == routes.end()) return;  // a late answer to a caller that gave up
    wire::send_raw(calls, it->second.caller, r->type, r->body_view());
    routes.erase(it);
  };

  auto on_monitor_event = [&] {
    zmq::message_t event;
    if (!monitor.recv(event, zmq::recv_flags::dontwait)) return;
    if (event.more()) {
      zmq::message_t endpoint;
      (void)monitor.recv(endpoint, zmq::recv_flags::none);
    }
    if (event.size() < sizeof(uint16_t)) return;
    uint16_t id = 0;
    std::memcpy(&id, event.data(), sizeof id);
    if (id == ZMQ_EVENT_CONNECTED) connected.store(true);
    if (id == ZMQ_EVENT_DISCONNECTED) connected.store(false);
    if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) refused.store(false);
    if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
        id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
      refused.store(true);
    }
  };

  auto expire_routes = [&] {
    const int64_t now = steady_now_ms();
    while (!expiries.empty() && expiries.begin()->first <= now) {
      auto it = routes.find(expiries.begin()->second);
      if (it != routes.end() && it->second.expiry_ms <= now) routes.erase(it);
      expiries.erase(expiries.begin());
    }
  };

  while (true) {
    zmq::pollitem_t items[] = {{calls.handle(), 0, ZMQ_POLLIN, 0},
                               {link.handle(), 0, ZMQ_POLLIN, 0},
                               {monitor.handle(), 0, ZMQ_POLLIN, 0}};
    long timeout_ms = -1;
    if (!expiries.empty()) {
      timeout_ms =
          static_cast<long>(std::max<int64_t>(0, expiries.begin()->first - steady_now_ms()));
    }
    try {
      zmq::poll(items, 3, std::chrono::milliseconds(timeout_ms));
      if (items[0].revents & ZMQ_POLLIN) on_call();
      if (items[1].revents & ZMQ_POLLIN) on_reply();
      if (items[2].revents & ZMQ_POLLIN) on_monitor_event();
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;  // the Client is being destroyed
    }
    expire_routes();
  }
  zmq_socket_monitor(link.handle(), nullptr, 0);
}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() = default;

const ClientOptions& Client::options() const { return impl_->options; }

namespace {

// The StartRequest for a start of `name`, checked.
Result<StartRequest> start_request(const std::string& ns, std::string_view name,
                                   const Bytes& input_msgpack, const StartOptions& options) {
  if (name.empty()) return invalid_argument("orchestration name is empty");
  if (Status s = check_one_msgpack_document(input_msgpack, "input_msgpack",
                                            "schedule_new_orchestration<std::string>(name, value)");
      !s.is_ok()) {
    return s;
  }
  StartRequest req;
  req.ns = ns;
  req.name = std::string(name);
  req.instance_id = options.instance_id;
  req.task_queue = options.task_queue;
  req.input = input_msgpack;
  if (options.start_at) req.start_at_ms = epoch_ms(*options.start_at);
  req.id_reuse_policy = options.id_reuse_policy;
  req.idempotency_key = options.idempotency_key.empty() ? random_uuid() : options.idempotency_key;
  return req;
}

}  // namespace

Result<std::string> Client::schedule_new_orchestration(std::string_view name,
                                                       const Bytes& input_msgpack,
                                                       const StartOptions& options) {
  Result<StartRequest> req = start_request(impl_->options.ns, name, input_msgpack, options);
  if (!req) return req.status();
  Result<StartReply> rep =
      impl_->call<StartReply>(std::move(req).value(), impl_->options.request_timeout);
  if (!rep) return rep.status();
  return std::move(rep.value().instance_id);
}

// One request: the scheduler answers once the instance finished
// (InstanceReply), or with the StartReply if it has not within `timeout`
// (or predates StartRequest.wait_timeout_ms); then a WaitRequest for the
// time left.
Result<OrchestrationMetadata> Client::execute_orchestration(std::string_view name,
                                                            const Bytes& input_msgpack,
                                                            std::chrono::milliseconds timeout,
                                                            const StartOptions& options) {
  if (timeout.count() < 0) return invalid_argument("wait timeout is negative");
  Result<StartRequest> req = start_request(impl_->options.ns, name, input_msgpack, options);
  if (!req) return req.status();
  req->wait_timeout_ms = timeout.count();
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  // Unreachable: kUnavailable after the request timeout, as for a start.
  Result<wire::Received> got = impl_->call_raw(std::move(req).value(),
                                               timeout + impl_->options.request_timeout,
                                               impl_->options.request_timeout);
  if (!got) return got.status();
  if (got->type == MsgType::kInstanceReply) {
    Result<InstanceReply> done = impl_->decode_reply<InstanceReply>(*got, MsgType::kStartRequest);
    if (!done) return done.status();
    return OrchestrationMetadata{std::move(done.value().info)};
  }
  Result<StartReply> started = impl_->decode_reply<StartReply>(*got, MsgType::kStartRequest);
  if (!started) return started.status();
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(give_up -
                                                                 std::chrono::steady_clock::now());
  return wait_for_orchestration_completion(started->instance_id,
                                           std::max(left, std::chrono::milliseconds(0)));
}

Result<OrchestrationMetadata> Client::wait_for_orchestration_start(
    std::string_view instance_id, std::chrono::milliseconds timeout) {
  return impl_->wait(instance_id, timeout, /*until_started=*/true);
}

Result<OrchestrationPage> Client::list_orchestrations(const OrchestrationQuery& query) {
  ListRequest req;
  req.ns = impl_->options.ns;
  req.statuses = query.statuses;
  req.name = query.name;
  req.instance_id_prefix = query.instance_id_prefix;
  req.task_queue = query.task_queue;
  if (query.created_from) req.created_from_ms = epoch_ms(*query.created_from);
  if (query.created_to) req.created_to_ms = epoch_ms(*query.created_to);
  req.page_size = query.page_size;
  req.continuation_token = query.continuation_token;
  Result<ListReply> rep = impl_->call<ListReply>(std::move(req), impl_->options.request_timeout);
  if (!rep) return rep.status();
  OrchestrationPage page;
  for (auto& info : rep.value().instances) {
    page.instances.push_back(OrchestrationMetadata{std::move(info)});
  }
  page.continuation_token = std::move(rep.value().continuation_token);
  return page;
}

Result<uint64_t> Client::purge_orchestration(std::string_view instance_id, bool recursive) {
  if (instance_id.empty()) return invalid_argument("instance id is empty");
  PurgeRequest req;
  req.ns = impl_->options.ns;
  req.instance_id = std::string(instance_id);
  req.recursive = recursive;
  Result<PurgeReply> rep = impl_->call<PurgeReply>(std::move(req), impl_->options.request_timeout);
  if (!rep) return rep.status();
  return rep.value().deleted;
}

Result<uint64_t> Client::purge_orchestrations(const PurgeFilter& filter) {
  PurgeRequest req;
  req.ns = impl_->options.ns;
  req.statuses = filter.statuses;
  if (filter.created_from) req.created_from_ms = epoch_ms(*filter.created_from);
  if (filter.created_to) req.created_to_ms = epoch_ms(*filter.created_to);
  Result<PurgeReply> rep = impl_->call<PurgeReply>(std::move(req), impl_->options.request_timeout);
  if (!rep) return rep.status();
  return rep.value().deleted;
}

Result<OrchestrationMetadata> Client::get_orchestration_metadata(std::string_view instance_id) {
  if (instance_id.empty()) return invalid_argument("instance id is empty");
  DescribeRequest req;
  req.ns = impl_->options.ns;
  req.instance_id = std::string(instance_id);
  Result<InstanceReply> rep =
      impl_->call<InstanceReply>(std::move(req), impl_->options.request_timeout);
  if (!rep) return rep.status();
  return OrchestrationMetadata{std::move(rep.value().info)};
}

Result<std::vector<HistoryEvent>> Client::get_orchestration_history(
    std::string_view instance_id) {
  if (instance_id.empty()) return invalid_argument("instance id is empty");
  HistoryRequest req;
  req.ns = impl_->options.ns;
  req.instance_id = std::string(instance_id);
  Result<HistoryReply> rep =
      impl_->call<HistoryReply>(std::move(req), impl_->options.request_timeout);
  if (!rep) return rep.status();
  return std::move(rep.value().events);
}

Result<std::vector<std::string>> Client::verify_database() {
  Result<VerifyReply> rep = impl_->call<VerifyReply>(VerifyRequest{}, impl_->options.request_timeout);
  if (!rep) return rep.status();
  return std::move(rep.value().violations);
}

Result<OrchestrationMetadata> Client::wait_for_orchestration_completion(
    std::string_view instance_id, std::chrono::milliseconds timeout) {
  return impl_->wait(instance_id, timeout, /*until_started=*/false);
}

Status Client::raise_orchestration_event(std::string_view instance_id, std::string_view event_name,
                                         const Bytes& data_msgpack) {
  if (instance_id.empty()) return invalid_argument("instance id is empty");
  if (event_name.empty()) return invalid_argument("event name is empty");
  if (Status s = check_one_msgpack_document(
          data_msgpack, "data_msgpack",
          "raise_orchestration_event<std::string>(instance_id, event_name, value)");
      !s.is_ok()) {
    return s;
  }
  RaiseEventRequest req;
  req.ns = impl_->options.ns;
  req.instance_id = std::string(instance_id);
  req.name = std::string(event_name);
  req.data = data_msgpack;
  return impl_->call_ok(std::move(req));
}

Status Client::terminate_orchestration(std::string_view instance_id, std::string_view reason,
                                       bool recursive) {
  if (instance_id.empty()) return invalid_argument("instance id is empty");
  TerminateRequest req;
  req.ns = impl_->options.ns;
  req.instance_id = std::string(instance_id);
  req.reason = std::string(reason);
  req.recursive = recursive;
  return impl_->call_ok(std::move(req));
}

Status Client::suspend_orchestration(std::string_view instance_id, std::string_view reason) {
  if (instance_id.empty()) return invalid_argument("instance id is empty");
  SuspendRequest req;
  req.ns = impl_->options.ns;
  req.instance_id = std::string(instance_id);
  req.reason = std::string(reason);
  return impl_->call_ok(std::move(req));
}

Status Client::resume_orchestration(std::string_view instance_id, std::string_view reason) {
  if (instance_id.empty()) return invalid_argument("instance id is empty");
  ResumeRequest req;
  req.ns = impl_->options.ns;
  req.instance_id = std::string(instance_id);
  req.reason = std::string(reason);
  return impl_->call_ok(std::move(req));
}

}  // namespace baton
