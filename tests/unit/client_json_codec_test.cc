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

}  // namespace
}  // namespace baton::cli
