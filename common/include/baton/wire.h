// The codec: frames <-> protocol structs. Internal to Baton (not installed).
//
// decode<T>() is the only way peer bytes become a struct: it checks the size
// and shape and never throws. send<T>() writes [identity] [type] [body].
// Thread-safety: free functions; a zmq socket is used by one thread only.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "baton/protocol.h"
#include "baton/status.h"

namespace baton::wire {

// Limits applied to every msgpack body we parse (hostile input must not make
// us allocate unbounded memory or recurse deeply).
msgpack::unpack_limit body_limits();

template <class T>
std::string encode(const T& msg) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, msg);
  return std::string(buf.data(), buf.size());
}

// Decodes the msgpack map that starts at `offset` in `bytes` into T and moves
// `offset` past it; several maps back to back are read one call each.
// kInvalidArgument (with the reason) when it is not msgpack or not the shape
// of T. decode() is this for a body of exactly one map.
template <class T>
Result<T> decode_at(std::string_view bytes, std::size_t& offset) {
  try {
    msgpack::object_handle oh =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, body_limits());
    if (oh.get().type != msgpack::type::MAP) return invalid_argument("body is not a msgpack map");
    T out;
    oh.get().convert(out);
    return out;
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed body: ") + e.what());
  }
}

// Appends to `out` the `count` msgpack maps of T that `bytes` holds back to
// back, and nothing after them (a history row, migration 0008).
// kInvalidArgument when there are fewer or more, or one is not the shape of T.
template <class T>
Status decode_sequence(std::string_view bytes, std::size_t count, std::vector<T>& out) {
  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    Result<T> one = decode_at<T>(bytes, offset);
    if (!one) return one.status();
    out.push_back(std::move(one).value());
  }
  if (offset != bytes.size()) {
    return invalid_argument("bytes after the " + std::to_string(count) + " expected maps");
  }
  return Status::ok();
}

// Decodes a msgpack body into T. kInvalidArgument (with the reason) when the
// body is too large, not msgpack, or not the shape of T.
template <class T>
Result<T> decode(std::string_view body) {
  if (body.size() > kMaxBodyBytes) {
    return invalid_argument("body of " + std::to_string(body.size()) + " bytes exceeds the " +
                            std::to_string(kMaxBodyBytes) + "-byte limit");
  }
  std::size_t offset = 0;
  Result<T> out = decode_at<T>(body, offset);
  if (out && offset != body.size()) return invalid_argument("trailing bytes after msgpack body");
  return out;
}

// One received multipart message, split. `identity` is set on ROUTER sockets.
struct Received {
  std::string identity;
  MsgType type = MsgType::kHeartbeat;
  zmq::message_t body;
  std::string_view body_view() const {
    return {static_cast<const char*>(body.data()), body.size()};
  }
};

// Receives one whole multipart message (all parts are drained even when it is
// malformed). `router`: the first frame is the peer identity. Returns
// kInvalidArgument for a wrong frame count, protocol version, unknown type or
// oversized body; `identity_out` (if given) is filled whenever the identity
// frame was present, so the caller can still answer with an ErrorReply.
// kUnavailable when nothing was there (non-blocking sockets / timeouts).
Result<Received> recv(zmq::socket_t& socket, bool router, std::string* identity_out = nullptr);

// Sends [identity] [type] [body]. Returns false if the socket refused
// (HWM, unroutable peer with ROUTER_MANDATORY, EAGAIN); never throws.
bool send_raw(zmq::socket_t& socket, std::string_view identity, MsgType type,
              std::string_view body, bool dont_wait = true);

template <class T>
bool send(zmq::socket_t& socket, const T& msg, std::string_view identity = {},
          bool dont_wait = true) {
  return send_raw(socket, identity, T::kType, encode(msg), dont_wait);
}

bool is_known_type(uint8_t t);
const char* msg_type_name(MsgType t);

}  // namespace baton::wire
