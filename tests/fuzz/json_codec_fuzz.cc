// Fuzz target: the JSON <-> msgpack edge of batonctl (client/src/json_codec.h).
// Input: [mode byte] [data]; mode % 3 picks what the data is:
//   0  JSON text a user typed (`--input`, `--data`): json_to_msgpack either
//      rejects it with kInvalidArgument or encodes one msgpack document that
//      decodes back to the same JSON value.
//   1  a payload from the scheduler (any bytes a worker or client stored):
//      msgpack_to_json returns a value or kInvalidArgument; payload_to_json
//      and the dumps never throw; what they print is JSON again.
//   2  a HistoryEvent or InstanceInfo body (as batonctl history / describe
//      get them): every formatter accepts whatever decodes.
// Nothing may throw or crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "baton/wire.h"
#include "json_codec.h"
#include "tests/fuzz/messages.h"

namespace {

using baton::cli::Json;

void user_json(std::string_view text) {
  auto packed = baton::cli::json_to_msgpack(text);
  if (!packed) {
    if (packed.status().code() != baton::StatusCode::kInvalidArgument) {
      baton::fuzz::fail("json",
                        "rejected JSON needs kInvalidArgument: " + packed.status().to_string());
    }
    return;
  }
  auto back = baton::cli::msgpack_to_json(*packed);
  if (!back)
    baton::fuzz::fail("json", "encoded JSON does not decode: " + back.status().to_string());
  if (*back != Json::parse(text)) {
    baton::fuzz::fail("json", "round trip changed the value: " + baton::cli::dump_compact(*back));
  }
  (void)baton::cli::format_output(*back);
}

void payload(std::string_view bytes) {
  auto j = baton::cli::msgpack_to_json(bytes);
  if (!j && j.status().code() != baton::StatusCode::kInvalidArgument) {
    baton::fuzz::fail("payload",
                      "undecodable payload needs kInvalidArgument: " + j.status().to_string());
  }
  const Json shown = baton::cli::payload_to_json(bytes);
  const std::string compact = baton::cli::dump_compact(shown);
  (void)baton::cli::dump_pretty(shown);
  (void)baton::cli::format_output(shown);
  if (!baton::cli::json_to_msgpack(compact)) {
    baton::fuzz::fail("payload", "batonctl printed something that is not JSON: " + compact);
  }
}

void formatted(std::string_view body) {
  if (auto ev = baton::wire::decode<baton::HistoryEvent>(body)) {
    (void)baton::cli::dump_compact(baton::cli::history_event_to_json(*ev, 0));
    (void)baton::cli::history_event_detail(*ev);
    (void)baton::cli::iso8601_utc(ev->timestamp_ms);
    (void)baton::cli::iso8601_utc(ev->fire_at_ms);
  }
  if (auto info = baton::wire::decode<baton::InstanceInfo>(body)) {
    (void)baton::cli::dump_pretty(baton::cli::instance_to_json(*info));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      user_json(rest);
      break;
    case 1:
      payload(rest);
      break;
    default:
      formatted(rest);
      break;
  }
  return 0;
}
