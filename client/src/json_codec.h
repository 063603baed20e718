// JSON <-> msgpack at the batonctl edge (DESIGN.md: payloads are msgpack end
// to end; JSON exists only where a human types or reads it).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/protocol.h"
#include "baton/status.h"

namespace baton::cli {

// Objects keep the key order they were written in.
using Json = nlohmann::ordered_json;

// Parses `text` as one JSON value and encodes it as one msgpack document.
// kInvalidArgument naming the problem and where it is ("invalid JSON: parse
// error at line 1, column 2: ...") when `text` is not JSON.
Result<Bytes> json_to_msgpack(std::string_view text);

// Decodes one msgpack document. Empty bytes are JSON null. kInvalidArgument
// when the bytes are not msgpack or have no JSON form (e.g. a map with
// non-string keys).
Result<Json> msgpack_to_json(std::string_view bytes);

// For display: msgpack_to_json(), or {"msgpack_hex": "..."} when the payload
// has no JSON form, so describe always shows something.
Json payload_to_json(std::string_view bytes);

// Compact JSON; invalid UTF-8 in strings is replaced, never thrown on.
std::string dump_compact(const Json& j);
std::string dump_pretty(const Json& j);

// How `wait` prints an output: a JSON string raw (no quotes), anything else as
// compact JSON.
std::string format_output(const Json& j);

// "2024-05-01T12:00:00.123Z" (UTC, milliseconds).
std::string iso8601_utc(int64_t unix_ms);

// The instance as batonctl shows it: id, namespace, name, status (name),
// task_queue, input/output/custom_status as JSON values, failure
// {type,message,details} when the instance failed, created/updated/completed
// as ISO-8601 UTC (null when unset), parent_id when it has a parent.
Json instance_to_json(const InstanceInfo& info);

// One history event as batonctl shows it: seq (its index in the history),
// type (event_type_name), event_id, timestamp, name, input, result (payloads as
// JSON values, null when empty), task_scheduled_id, status (name), failure
// {type,message,details,non_retryable}, task_queue, instance_id, fire_at,
// attempt. Times are ISO-8601 UTC, null when unset. Every field is present,
// whatever the type.
Json history_event_to_json(const HistoryEvent& ev, std::size_t seq);

// The whole history as a JSON array of history_event_to_json().
Json history_to_json(const std::vector<HistoryEvent>& events);

// The most useful fields of an event in a few words, for the history table:
// "SayHello (id 0)" for TaskScheduled, "task 0, attempt 2: type: message" for
// TaskFailed, the status (and failure) for ExecutionCompleted, the reason for
// a terminate / suspend / resume, ... Empty when there is nothing to add.
std::string history_event_detail(const HistoryEvent& ev);

}  // namespace baton::cli
