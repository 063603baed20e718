// Payloads: how user values become the msgpack bytes that travel in Baton.
//
// Every input and output (orchestration input/output, activity input/output)
// is one msgpack document. Any type msgpack-cxx can pack/convert works:
// standard types, and user types that declare MSGPACK_DEFINE_MAP(fields...)
// (no `;` after it under -Wpedantic). An EMPTY payload decodes as nil (so
// an optional<T> or msgpack::type::nil_t input accepts "no input"). A void
// result encodes as nil.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <msgpack.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>

#include "baton/protocol.h"

namespace baton {

// A payload could not be decoded as the type the code asked for (not
// msgpack, trailing bytes, or the wrong shape). Derives std::runtime_error.
// Immutable value.
class PayloadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Throws PayloadError("cannot decode payload as <demangled type>: why").
[[noreturn]] void throw_payload_error(const std::type_info& type, const char* why);
}  // namespace detail

// The msgpack document for `value`.
template <class T>
Bytes to_bytes(const T& value) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, value);
  return Bytes(buf.data(), buf.size());
}

// The msgpack nil document (what a void result encodes to).
inline Bytes nil_bytes() { return Bytes(1, '\xc0'); }

// Decodes one msgpack document as T; an empty payload is nil. Throws
// PayloadError when `bytes` is not exactly one document convertible to T.
template <class T>
T from_bytes(std::string_view bytes) {
  try {
    if (bytes.empty()) return msgpack::object().as<T>();
    std::size_t offset = 0;
    msgpack::object_handle oh = msgpack::unpack(bytes.data(), bytes.size(), offset);
    if (offset != bytes.size()) detail::throw_payload_error(typeid(T), "trailing bytes");
    return oh.get().as<T>();
  } catch (const PayloadError&) {
    throw;
  } catch (const std::exception& e) {
    detail::throw_payload_error(typeid(T), e.what());
  }
}

namespace detail {

// Thrown when an activity's or orchestrator's own input cannot be decoded
// (reported as error_type "InvalidInput", non-retryable).
class InvalidInputError : public PayloadError {
 public:
  using PayloadError::PayloadError;
};

template <class I>
I decode_input(const Bytes& bytes) {
  try {
    return from_bytes<I>(bytes);
  } catch (const PayloadError& e) {
    throw InvalidInputError(e.what());
  }
}

}  // namespace detail
}  // namespace baton
