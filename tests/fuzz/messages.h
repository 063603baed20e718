// Every wire message type, for the fuzz targets and the seed generator.
//
// check_decode<T>(body) is the property every decoder must hold on any
// bytes: wire::decode<T> returns a value or an error with a message, never
// throws or crashes; and a decoded value re-encodes to a body that decodes
// again to the same encoding (what we accept we can also send on).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "baton/protocol.h"
#include "baton/wire.h"

namespace baton::fuzz {

// Calls f.template operator()<T>() for each message struct T (each has kType).
template <class F>
void for_each_message(F&& f) {
  f.template operator()<StartRequest>();
  f.template operator()<StartReply>();
  f.template operator()<DescribeRequest>();
  f.template operator()<WaitRequest>();
  f.template operator()<InstanceReply>();
  f.template operator()<ErrorReply>();
  f.template operator()<OkReply>();
  f.template operator()<RaiseEventRequest>();
  f.template operator()<TerminateRequest>();
  f.template operator()<SuspendRequest>();
  f.template operator()<ResumeRequest>();
  f.template operator()<HistoryRequest>();
  f.template operator()<HistoryReply>();
  f.template operator()<VerifyRequest>();
  f.template operator()<VerifyReply>();
  f.template operator()<ListRequest>();
  f.template operator()<ListReply>();
  f.template operator()<PurgeRequest>();
  f.template operator()<PurgeReply>();
  f.template operator()<SchedulerHello>();
  f.template operator()<DispatchBatch>();
  f.template operator()<WorkLost>();
  f.template operator()<WorkerReady>();
  f.template operator()<Credit>();
  f.template operator()<ActivityTask>();
  f.template operator()<OrchestrationTask>();
  f.template operator()<ActivityResult>();
  f.template operator()<OrchestrationResult>();
  f.template operator()<WorkerDisconnect>();
  f.template operator()<ActivityHeartbeat>();
  f.template operator()<ResultBatch>();
  f.template operator()<Heartbeat>();
  f.template operator()<BrokerGoodbye>();
}

// The MsgType values wire::is_known_type accepts that for_each_message
// lacks, as "12 40" (empty: every message is listed).
inline std::string unlisted_message_types() {
  std::string missing;
  for (int t = 0; t < 256; ++t) {
    if (!wire::is_known_type(static_cast<uint8_t>(t))) continue;
    bool listed = false;
    for_each_message([&]<class T>() { listed |= static_cast<int>(T::kType) == t; });
    if (!listed) missing += (missing.empty() ? "" : " ") + std::to_string(t);
  }
  return missing;
}

// wire_frames_fuzz inputs: [flags byte] then the frames of one ZeroMQ
// message separated by these two bytes (0xC1 is never used by msgpack, so a
// separator rarely appears inside a body). Flags bit 0: receive as a ROUTER
// (the first frame is the peer identity).
inline constexpr std::string_view kFrameSeparator{"\xC1\xC1", 2};

[[noreturn]] inline void fail(const char* type, const std::string& what) {
  std::fprintf(stderr, "fuzz: %s: %s\n", type, what.c_str());
  std::abort();
}

template <class T>
void check_decode(std::string_view body) {
  const char* name = wire::msg_type_name(T::kType);
  Result<T> decoded = wire::decode<T>(body);
  if (!decoded) {
    if (decoded.status().code() != StatusCode::kInvalidArgument ||
        decoded.status().message().empty()) {
      fail(name, "a rejected body needs kInvalidArgument and a reason, got " +
                     decoded.status().to_string());
    }
    return;
  }
  const std::string once = wire::encode(*decoded);
  Result<T> again = wire::decode<T>(once);
  if (!again) fail(name, "re-encoded body does not decode: " + again.status().to_string());
  if (wire::encode(*again) != once) fail(name, "re-encoding is not stable");
}

// Decodes `body` as the message of type byte `type`; a byte that is no
// message type picks one by its value modulo the number of types, so every
// input exercises some decoder.
inline void check_decode_as(uint8_t type, std::string_view body) {
  int count = 0;
  for_each_message([&]<class T>() { ++count; });
  const bool known = wire::is_known_type(type);
  int index = 0;
  for_each_message([&]<class T>() {
    const bool pick = known ? static_cast<uint8_t>(T::kType) == type : index == type % count;
    ++index;
    if (pick) check_decode<T>(body);
  });
}

}  // namespace baton::fuzz
