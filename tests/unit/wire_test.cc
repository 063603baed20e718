// Codec: round trips and rejection of malformed frames.
#include <gtest/gtest.h>

#include "baton/config.h"
#include "baton/protocol.h"
#include "baton/wire.h"

namespace baton {
namespace {

TEST(Wire, RoundTripsEveryFieldOfAnOrchestrationTask) {
  OrchestrationTask t;
  t.work_id = 42;
  t.ns = "ns";
  t.instance_id = "id";
  t.name = "orch";
  HistoryEvent ev;
  ev.type = EventType::kTaskCompleted;
  ev.task_scheduled_id = 3;
  ev.result = std::string("\x00\xff\x01", 3);
  ev.failure.message = "m";
  t.past_events.push_back(ev);
  t.new_events.push_back(ev);
  auto back = wire::decode<OrchestrationTask>(wire::encode(t));
  ASSERT_TRUE(back) << back.status().to_string();
  EXPECT_EQ(back->work_id, 42u);
  EXPECT_EQ(back->instance_id, "id");
  ASSERT_EQ(back->past_events.size(), 1u);
  EXPECT_EQ(back->past_events[0].type, EventType::kTaskCompleted);
  EXPECT_EQ(back->past_events[0].task_scheduled_id, 3);
  EXPECT_EQ(back->past_events[0].result, std::string("\x00\xff\x01", 3));
  EXPECT_EQ(back->new_events[0].failure.message, "m");
}

TEST(Wire, RoundTripsABrokerGoodbye) {
  auto back = wire::decode<BrokerGoodbye>(wire::encode(BrokerGoodbye{0xfeedULL, "stopping"}));
  ASSERT_TRUE(back) << back.status().to_string();
  EXPECT_EQ(back->incarnation, 0xfeedULL);
  EXPECT_EQ(back->reason, "stopping");
  EXPECT_EQ(static_cast<int>(MsgType::kBrokerGoodbye), 61) << "wire values never change";
  EXPECT_TRUE(wire::is_known_type(static_cast<uint8_t>(MsgType::kBrokerGoodbye)));
  EXPECT_STREQ(wire::msg_type_name(MsgType::kBrokerGoodbye), "BrokerGoodbye");
}

TEST(Wire, RoundTripsAResultBatchOfOpaqueResultBodies) {
  ResultBatch batch;
  batch.activities = {wire::encode(ActivityResult{}), std::string("\x00\xff", 2)};
  batch.orchestrations = {wire::encode(OrchestrationResult{})};
  auto back = wire::decode<ResultBatch>(wire::encode(batch));
  ASSERT_TRUE(back) << back.status().to_string();
  EXPECT_EQ(back->activities, batch.activities);
  EXPECT_EQ(back->orchestrations, batch.orchestrations);
  EXPECT_EQ(static_cast<int>(MsgType::kResultBatch), 48) << "wire values never change";
  EXPECT_TRUE(wire::is_known_type(static_cast<uint8_t>(MsgType::kResultBatch)));
  EXPECT_STREQ(wire::msg_type_name(MsgType::kResultBatch), "ResultBatch");
}

TEST(Wire, RejectsBodiesThatAreNotMsgpackMaps) {
  EXPECT_EQ(wire::decode<StartRequest>("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wire::decode<StartRequest>("\xc1").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wire::decode<StartRequest>("\x93\x01\x02\x03").status().code(),
            StatusCode::kInvalidArgument);  // an array
  StartRequest start;
  start.request_id = 7;
  start.ns = "ns";
  start.name = "name";
  start.instance_id = "id";
  start.task_queue = "q";
  start.input = "input";
  std::string truncated = wire::encode(start);
  truncated.resize(truncated.size() / 2);
  EXPECT_EQ(wire::decode<StartRequest>(truncated).status().code(), StatusCode::kInvalidArgument);
}

TEST(Wire, RejectsFieldsOfTheWrongType) {
  // {"request_id": "not a number"}
  const std::string body = "\x81\xaarequest_id\xa3x!y";
  auto r = wire::decode<StartRequest>(body);
  EXPECT_FALSE(r);
  EXPECT_NE(r.status().message().find("malformed"), std::string::npos);
}

// BATON_DEFINE_MAP decodes as msgpack-cxx's MSGPACK_DEFINE_MAP does: keys
// in any order, unknown ones ignored, missing fields left as they were, the
// first of duplicate keys, and a key that is not a string is malformed.
TEST(Wire, DecodesMapsByKeyAsMsgpackDefineMapDoes) {
  auto body = [](const std::vector<std::pair<msgpack::object, msgpack::object>>& kvs) {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_map(static_cast<uint32_t>(kvs.size()));
    for (const auto& [k, v] : kvs) {
      pk.pack(k);
      pk.pack(v);
    }
    return std::string(buf.data(), buf.size());
  };
  using O = msgpack::object;
  auto S = [](const char* key) { return msgpack::object(key); };
  // attempt before task_id, an unknown key between, work_id twice, no ns.
  auto r = wire::decode<ActivityResult>(body({{S("attempt"), O(3)},
                                          {S("future_field"), S("ignored")},
                                          {S("task_id"), O(42)},
                                          {S("work_id"), O(7)},
                                          {S("work_id"), O(8)},
                                          {S("failed"), O(true)}}));
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(r->attempt, 3);
  EXPECT_EQ(r->task_id, 42);
  EXPECT_EQ(r->work_id, 7u) << "the first of duplicate keys";
  EXPECT_TRUE(r->failed);
  EXPECT_TRUE(r->ns.empty());
  // A key that is a prefix of a field's name is another key.
  auto prefix = wire::decode<ActivityResult>(body({{S("task"), O(1)}, {S("task_idx"), O(2)}}));
  ASSERT_TRUE(prefix);
  EXPECT_EQ(prefix->task_id, ActivityResult{}.task_id);
  EXPECT_FALSE(wire::decode<ActivityResult>(body({{O(1), O(2)}}))) << "a key that is not a string";
  // Nested structs and arrays of them decode the same way.
  OrchestrationTask task;
  task.work_id = 9;
  HistoryEvent ev;
  ev.type = EventType::kTaskCompleted;
  ev.task_scheduled_id = 4;
  ev.result = std::string("\x01\x00\x02", 3);
  task.new_events = {ev, ev};
  auto back = wire::decode<OrchestrationTask>(wire::encode(task));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->new_events.size(), 2u);
  EXPECT_EQ(back->new_events[1].task_scheduled_id, 4);
  EXPECT_EQ(back->new_events[1].result, ev.result);
}

// History events, actions and what they nest are sparse: a field at its
// default is left out (the decoder keeps its default), so an event carries
// only what its type uses; every field still round-trips.
TEST(Wire, SparseStructsLeaveOutTheirDefaultsAndRoundTrip) {
  auto keys_of = [](const std::string& body) {
    const msgpack::object_handle h = msgpack::unpack(body.data(), body.size());
    std::vector<std::string> keys;
    for (uint32_t i = 0; i < h.get().via.map.size; ++i) {
      keys.push_back(h.get().via.map.ptr[i].key.as<std::string>());
    }
    return keys;
  };
  EXPECT_TRUE(keys_of(wire::encode(HistoryEvent{})).empty());
  HistoryEvent ev;
  ev.type = EventType::kTaskCompleted;
  ev.timestamp_ms = 1700000000000;
  ev.task_scheduled_id = 2;
  ev.result = std::string("\x00\xa1", 2);
  ev.failure.non_retryable = true;
  EXPECT_EQ(keys_of(wire::encode(ev)),
            (std::vector<std::string>{"type", "timestamp_ms", "result", "task_scheduled_id",
                                      "failure"}));
  auto back = wire::decode<HistoryEvent>(wire::encode(ev));
  ASSERT_TRUE(back) << back.status().to_string();
  EXPECT_EQ(*back, ev);
  // A zero travels when the default is not zero (event_id: -1).
  ev.event_id = 0;
  ev.attempt = 3;
  back = wire::decode<HistoryEvent>(wire::encode(ev));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, ev);

  Action a;
  a.type = ActionType::kScheduleTask;
  a.id = 1;
  a.name = "act";
  a.retry.max_attempts = 3;
  a.carryover_events = {ev, HistoryEvent{}};
  EXPECT_EQ(keys_of(wire::encode(a)),
            (std::vector<std::string>{"id", "name", "retry", "carryover_events"}))
      << "kScheduleTask is the default type";
  auto action = wire::decode<Action>(wire::encode(a));
  ASSERT_TRUE(action) << action.status().to_string();
  EXPECT_EQ(*action, a);
  EXPECT_EQ(keys_of(wire::encode(a.retry)), std::vector<std::string>{"max_attempts"});

  // A full map (what earlier versions wrote, and still stored in history)
  // decodes as before.
  msgpack::sbuffer full;
  msgpack::packer<msgpack::sbuffer> pk(full);
  pk.pack_map(3);
  pk.pack(std::string("type"));
  pk.pack(ev.type);
  pk.pack(std::string("event_id"));
  pk.pack(-1);
  pk.pack(std::string("name"));
  pk.pack(std::string("x"));
  auto old = wire::decode<HistoryEvent>(std::string(full.data(), full.size()));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->type, EventType::kTaskCompleted);
  EXPECT_EQ(old->event_id, -1);
  EXPECT_EQ(old->name, "x");
}

TEST(Wire, RejectsTrailingBytes) {
  std::string body = wire::encode(Heartbeat{"a", 1}) + "x";
  EXPECT_FALSE(wire::decode<Heartbeat>(body));
}

TEST(Wire, DecodesExactlyTheCountOfMapsBackToBack) {
  const std::string two = wire::encode(Heartbeat{"a", 1}) + wire::encode(Heartbeat{"b", 2});
  std::vector<Heartbeat> out;
  ASSERT_TRUE(wire::decode_sequence(two, 2, out).is_ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].sender_id, "b");
  EXPECT_EQ(out[1].incarnation, 2u);
  std::vector<Heartbeat> fewer, more;
  EXPECT_FALSE(wire::decode_sequence(two, 1, fewer).is_ok());  // bytes left over
  EXPECT_FALSE(wire::decode_sequence(two, 3, more).is_ok());   // one missing
  std::vector<Heartbeat> none;
  EXPECT_TRUE(wire::decode_sequence("", 0, none).is_ok());
  EXPECT_TRUE(none.empty());
}

TEST(Wire, RejectsHugeDeclaredArraysWithoutAllocating) {
  // map {"work_ids": array32 of 2^31 elements} with no elements following.
  std::string body = "\x81\xa8work_ids\xdd\x80\x00\x00\x00";
  EXPECT_FALSE(wire::decode<WorkLost>(body));
}

class WireSockets : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.bind("inproc://wire-test");
    dealer_.connect("inproc://wire-test");
    router_.set(zmq::sockopt::rcvtimeo, 2000);
  }
  zmq::context_t ctx_;
  zmq::socket_t router_{ctx_, zmq::socket_type::router};
  zmq::socket_t dealer_{ctx_, zmq::socket_type::dealer};

  Result<wire::Received> receive(std::string* identity = nullptr) {
    zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(2000));
    return wire::recv(router_, true, identity);
  }
};

TEST_F(WireSockets, DeliversTypeAndBodyWithTheSenderIdentity) {
  ASSERT_TRUE(wire::send(dealer_, Heartbeat{"me", 9}));
  std::string id;
  auto m = receive(&id);
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_EQ(m->type, MsgType::kHeartbeat);
  EXPECT_FALSE(id.empty());
  auto hb = wire::decode<Heartbeat>(m->body_view());
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->incarnation, 9u);
}

TEST_F(WireSockets, RejectsWrongFrameCountVersionAndType) {
  dealer_.send(zmq::str_buffer("lonely"), zmq::send_flags::none);
  std::string id;
  auto m = receive(&id);
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(id.empty()) << "identity is reported so the caller can answer";

  const uint8_t bad_version[2] = {kProtocolVersion + 1, static_cast<uint8_t>(MsgType::kHeartbeat)};
  dealer_.send(zmq::buffer(bad_version, 2), zmq::send_flags::sndmore);
  dealer_.send(zmq::str_buffer("x"), zmq::send_flags::none);
  m = receive();
  ASSERT_FALSE(m);
  EXPECT_NE(m.status().message().find("protocol version"), std::string::npos);

  const uint8_t bad_type[2] = {kProtocolVersion, 250};
  dealer_.send(zmq::buffer(bad_type, 2), zmq::send_flags::sndmore);
  dealer_.send(zmq::str_buffer("x"), zmq::send_flags::none);
  m = receive();
  ASSERT_FALSE(m);
  EXPECT_NE(m.status().message().find("unknown message type"), std::string::npos);

  // The socket still works afterwards.
  ASSERT_TRUE(wire::send(dealer_, Heartbeat{"me", 1}));
  EXPECT_TRUE(receive());
}

TEST_F(WireSockets, CarriesABrokerGoodbyeFromRouterToDealer) {
  ASSERT_TRUE(wire::send(dealer_, Heartbeat{"peer", 1}));  // the router learns the identity
  std::string id;
  ASSERT_TRUE(receive(&id));
  ASSERT_TRUE(wire::send(router_, BrokerGoodbye{42, "broker b-1 is stopping"}, id));
  zmq::pollitem_t item{dealer_.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(2000));
  auto m = wire::recv(dealer_, /*router=*/false);
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_EQ(m->type, MsgType::kBrokerGoodbye);
  auto bye = wire::decode<BrokerGoodbye>(m->body_view());
  ASSERT_TRUE(bye) << bye.status().to_string();
  EXPECT_EQ(bye->incarnation, 42u);
  EXPECT_EQ(bye->reason, "broker b-1 is stopping");
}

TEST(Partition, IsStableAndInRange) {
  EXPECT_EQ(partition_of("default", "abc"), partition_of("default", "abc"));
  for (int i = 0; i < 100; ++i) {
    int p = partition_of("ns", std::to_string(i));
    EXPECT_GE(p, 0);
    EXPECT_LT(p, kPartitionCount);
  }
}

TEST(Uuid, HasTheVersion4Shape) {
  auto u = random_uuid();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_NE(random_uuid(), u);
}

}  // namespace
}  // namespace baton
