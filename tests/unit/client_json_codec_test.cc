// batonctl's JSON <-> msgpack edge.
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "client/src/json_codec.h"

namespace baton::cli {
namespace {

template <class T>
Bytes pack(const T& v) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, v);
  return Bytes(buf.data(), buf.size());
}

TEST(client_json_codec, RoundTripsObjectsArraysAndScalarsKeepingKeyOrder) {
  const std::string text = R"({"z":1,"a":[true,null,-2,1.5,"s"],"m":{"k":"v"}})";
  Result<Bytes> packed = json_to_msgpack(text);
  ASSERT_TRUE(packed) << packed.status().to_string();
  Result<Json> back = msgpack_to_json(*packed);
  ASSERT_TRUE(back) << back.status().to_string();
  EXPECT_EQ(dump_compact(*back), text);
}

TEST(client_json_codec, JsonStringIsTheSameBytesMsgpackCxxWritesForAStdString) {
  Result<Bytes> packed = json_to_msgpack(R"("World")");
  ASSERT_TRUE(packed);
  EXPECT_EQ(*packed, pack(std::string("World")));
}

TEST(client_json_codec, InvalidJsonIsInvalidArgumentNamingWhereItBroke) {
  Result<Bytes> packed = json_to_msgpack("{bad");
  ASSERT_FALSE(packed);
  EXPECT_EQ(packed.status().code(), StatusCode::kInvalidArgument);
  const std::string m = packed.status().message();
  EXPECT_EQ(m.rfind("invalid JSON: ", 0), 0u) << m;
  EXPECT_NE(m.find("line 1, column 2"), std::string::npos) << m;
  EXPECT_EQ(m.find("[json.exception"), std::string::npos) << m;
}

TEST(client_json_codec, EmptyAndTrailingGarbageAreInvalid) {
  EXPECT_FALSE(json_to_msgpack(""));
  EXPECT_FALSE(json_to_msgpack("1 2"));
}

TEST(client_json_codec, EmptyPayloadIsNull) {
  Result<Json> j = msgpack_to_json("");
  ASSERT_TRUE(j);
  EXPECT_TRUE(j->is_null());
}

TEST(client_json_codec, PayloadWithoutAJsonFormFallsBackToHex) {
  const Bytes packed = pack(std::map<int, int>{{1, 2}});
  EXPECT_FALSE(msgpack_to_json(packed));
  const Json j = payload_to_json(packed);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.at("msgpack_hex"), "810102");
  EXPECT_EQ(payload_to_json("\xc1").at("msgpack_hex"), "c1");  // 0xc1 is never used
}

TEST(client_json_codec, OutputStringsPrintRawEverythingElseAsCompactJson) {
  EXPECT_EQ(format_output(payload_to_json(pack(std::string("Hello \"you\"")))), "Hello \"you\"");
  EXPECT_EQ(format_output(Json::parse(R"({"a": [1, 2]})")), R"({"a":[1,2]})");
  EXPECT_EQ(format_output(Json(nullptr)), "null");
  EXPECT_EQ(format_output(Json(42)), "42");
}

TEST(client_json_codec, InvalidUtf8IsReplacedNotThrown) {
  const Json j = payload_to_json(pack(std::string("ok\xff")));
  EXPECT_NO_THROW((void)dump_compact(j));
  EXPECT_NO_THROW((void)format_output(j));
}

TEST(client_json_codec, TimesAreIso8601UtcWithMilliseconds) {
  EXPECT_EQ(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601_utc(1714564800123), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(iso8601_utc(-1), "1969-12-31T23:59:59.999Z");
}

TEST(client_json_codec, InstanceJsonShowsPayloadsAsJsonAndFailureOnlyWhenFailed) {
  InstanceInfo info;
  info.ns = "default";
  info.instance_id = "id-1";
  info.name = "greet";
  info.status = OrchestrationStatus::kCompleted;
  info.task_queue = "default";
  info.input = pack(std::string("World"));
  info.output = *json_to_msgpack(R"({"n":1})");
  info.created_ms = 1714564800123;
  info.updated_ms = 1714564800200;
  info.completed_ms = 1714564800200;

  const Json done = instance_to_json(info);
  EXPECT_EQ(done.at("id"), "id-1");
  EXPECT_EQ(done.at("namespace"), "default");
  EXPECT_EQ(done.at("name"), "greet");
  EXPECT_EQ(done.at("status"), "COMPLETED");
  EXPECT_EQ(done.at("task_queue"), "default");
  EXPECT_EQ(done.at("input"), "World");
  EXPECT_EQ(done.at("output").at("n"), 1);
  EXPECT_TRUE(done.at("custom_status").is_null());
  EXPECT_EQ(done.at("created"), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(done.at("completed"), "2024-05-01T12:00:00.200Z");
  EXPECT_FALSE(done.contains("failure"));
  EXPECT_FALSE(done.contains("parent_id"));

  info.status = OrchestrationStatus::kFailed;
  info.failure = FailureDetails{"std::runtime_error", "boom", "at step 2", false};
  info.completed_ms = 0;
  info.parent_instance_id = "parent";
  const Json failed = instance_to_json(info);
  EXPECT_EQ(failed.at("status"), "FAILED");
  EXPECT_EQ(failed.at("failure").at("type"), "std::runtime_error");
  EXPECT_EQ(failed.at("failure").at("message"), "boom");
  EXPECT_EQ(failed.at("failure").at("details"), "at step 2");
  EXPECT_TRUE(failed.at("completed").is_null());
  EXPECT_EQ(failed.at("parent_id"), "parent");
}

TEST(client_json_codec, HistoryEventDetailNamesTheMostUsefulFields) {
  HistoryEvent ev;
  ev.type = EventType::kExecutionStarted;
  ev.name = "greet";
  EXPECT_EQ(history_event_detail(ev), "greet");
  ev.instance_id = "parent-1";
  EXPECT_EQ(history_event_detail(ev), "greet (parent parent-1)");

  ev = HistoryEvent{};
  ev.type = EventType::kExecutionCompleted;
  ev.status = OrchestrationStatus::kFailed;
  ev.failure = FailureDetails{"std::runtime_error", "boom", "stack", false};
  EXPECT_EQ(history_event_detail(ev), "FAILED: std::runtime_error: boom");

  ev = HistoryEvent{};
  ev.type = EventType::kTimerCreated;
  ev.event_id = 2;
  ev.fire_at_ms = 1714564800123;
  EXPECT_EQ(history_event_detail(ev), "id 2, fires 2024-05-01T12:00:00.123Z");

  ev = HistoryEvent{};
  ev.type = EventType::kTimerFired;
  ev.task_scheduled_id = 2;
  EXPECT_EQ(history_event_detail(ev), "timer 2");

  ev = HistoryEvent{};
  ev.type = EventType::kEventSent;
  ev.name = "Ping";
  ev.instance_id = "other";
  EXPECT_EQ(history_event_detail(ev), "Ping -> other");

  ev = HistoryEvent{};
  ev.type = EventType::kSubOrchestrationFailed;
  ev.task_scheduled_id = 5;
  ev.failure.message = "child failed";
  EXPECT_EQ(history_event_detail(ev), "sub-orchestration 5: child failed");

  ev = HistoryEvent{};
  ev.type = EventType::kExecutionSuspended;
  ev.input = pack(std::string(""));
  EXPECT_EQ(history_event_detail(ev), "");
  ev.input = pack(std::string("maintenance"));
  EXPECT_EQ(history_event_detail(ev), "reason: maintenance");

  ev = HistoryEvent{};
  ev.type = EventType::kOrchestratorStarted;
  EXPECT_EQ(history_event_detail(ev), "");
}

TEST(client_json_codec, HistoryJsonHasEveryFieldWithPayloadsAsJson) {
  HistoryEvent ev;
  ev.type = EventType::kTimerFired;
  ev.task_scheduled_id = 1;
  ev.fire_at_ms = 1714564800123;
  ev.timestamp_ms = 1714564800124;
  ev.result = pack(std::map<int, int>{{1, 2}});  // no JSON form
  const Json j = history_to_json({HistoryEvent{}, ev});
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0].at("timestamp"), nullptr);
  EXPECT_EQ(j[1].at("seq"), 1);
  EXPECT_EQ(j[1].at("type"), "TimerFired");
  EXPECT_EQ(j[1].at("timestamp"), "2024-05-01T12:00:00.124Z");
  EXPECT_EQ(j[1].at("fire_at"), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(j[1].at("input"), nullptr);
  EXPECT_TRUE(j[1].at("result").contains("msgpack_hex"));
  std::vector<std::string> keys;
  for (const auto& [key, value] : j[1].items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"seq", "type", "event_id", "timestamp", "name", "input",
                                            "result", "task_scheduled_id", "status", "failure",
                                            "task_queue", "instance_id", "fire_at", "attempt"}));
  EXPECT_EQ(history_to_json({}), Json::array());
}

}  // namespace
}  // namespace baton::cli
