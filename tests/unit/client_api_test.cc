// The client against a fake scheduler over real ZeroMQ (tcp://127.0.0.1).
// Suites are named client_* so `ctest -R client` selects them.
#include <chrono>
#include <future>
#include <string>

#include <gtest/gtest.h>

#include "baton/client.h"
#include "tests/unit/client_fake_scheduler.h"

namespace baton {
namespace {

using client_test::FakeScheduler;
using namespace std::chrono_literals;

constexpr auto kTestWait = 10s;  // upper bound for things that should be quick

ClientOptions options_for(const std::string& address,
                          std::chrono::milliseconds request_timeout = 10s) {
  ClientOptions o;
  o.address = address;
  o.ns = "test-ns";
  o.request_timeout = request_timeout;
  return o;
}

Bytes msgpack_of(const std::string& s) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, s);
  return Bytes(buf.data(), buf.size());
}

InstanceReply instance_reply(uint64_t request_id, const std::string& id,
                             OrchestrationStatus status = OrchestrationStatus::kRunning) {
  InstanceReply r;
  r.request_id = request_id;
  r.info.ns = "test-ns";
  r.info.instance_id = id;
  r.info.name = "greet";
  r.info.status = status;
  return r;
}

struct Greeting {
  std::string name;
  int times = 0;
  MSGPACK_DEFINE_MAP(name, times)
};

TEST(client_api, StartSendsTheRequestAndReturnsTheIdFromStartReply) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  StartOptions so;
  so.instance_id = "id-1";
  so.task_queue = "queue-a";
  auto call = std::async(std::launch::async, [&] {
    return client.schedule_new_orchestration("greet", std::string_view("World"), so);
  });

  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kStartRequest);
  const auto start = req->as<StartRequest>();
  EXPECT_EQ(start.ns, "test-ns");
  EXPECT_EQ(start.name, "greet");
  EXPECT_EQ(start.instance_id, "id-1");
  EXPECT_EQ(start.task_queue, "queue-a");
  EXPECT_EQ(start.input, msgpack_of("World"));
  fake.reply(*req, StartReply{start.request_id, "id-1"});

  Result<std::string> id = call.get();
  ASSERT_TRUE(id) << id.status().to_string();
  EXPECT_EQ(*id, "id-1");
}

TEST(client_api, TypedInputIsMsgpackEncoded) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call = std::async(std::launch::async, [&] {
    return client.schedule_new_orchestration("greet", Greeting{"Ada", 3});
  });

  auto req = fake.next();
  ASSERT_TRUE(req);
  const auto start = req->as<StartRequest>();
  EXPECT_TRUE(start.instance_id.empty());
  msgpack::object_handle oh = msgpack::unpack(start.input.data(), start.input.size());
  const auto got = oh.get().as<Greeting>();
  EXPECT_EQ(got.name, "Ada");
  EXPECT_EQ(got.times, 3);
  fake.reply(*req, StartReply{start.request_id, "assigned-uuid"});

  Result<std::string> id = call.get();
  ASSERT_TRUE(id) << id.status().to_string();
  EXPECT_EQ(*id, "assigned-uuid");
}

TEST(client_api, ExplicitStringTypeEncodesAStdString) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  const std::string name = "World";
  auto call = std::async(std::launch::async, [&] {
    return client.schedule_new_orchestration<std::string>("greet", name);
  });

  auto req = fake.next();
  ASSERT_TRUE(req);
  const auto start = req->as<StartRequest>();
  EXPECT_EQ(start.input, msgpack_of("World"));
  fake.reply(*req, StartReply{start.request_id, "x"});
  EXPECT_TRUE(call.get());
}

TEST(client_api, RawInputThatIsNotOneMsgpackDocumentIsRejectedWithAHint) {
  Client client(options_for(client_test::closed_address()));
  Result<std::string> id = client.schedule_new_orchestration("greet", std::string("World"));
  ASSERT_FALSE(id);
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("schedule_new_orchestration<std::string>"),
            std::string::npos)
      << id.status().message();
}

TEST(client_api, ErrorReplyBecomesAStatusWithItsCodeAndMessage) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call =
      std::async(std::launch::async, [&] { return client.get_orchestration_metadata("missing"); });

  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kDescribeRequest);
  const auto describe = req->as<DescribeRequest>();
  EXPECT_EQ(describe.instance_id, "missing");
  EXPECT_EQ(describe.ns, "test-ns");
  fake.reply(*req, ErrorReply{describe.request_id, static_cast<uint8_t>(StatusCode::kNotFound),
                              "instance 'missing' does not exist"});

  auto got = call.get();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(got.status().message(), "instance 'missing' does not exist");
}

TEST(client_api, UnknownErrorCodeBecomesInternal) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call =
      std::async(std::launch::async, [&] { return client.get_orchestration_metadata("x"); });

  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, ErrorReply{req->as<DescribeRequest>().request_id, 200, "from the future"});

  auto got = call.get();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kInternal);
  EXPECT_NE(got.status().message().find("from the future"), std::string::npos);
}

TEST(client_api, ReplyOfTheWrongTypeIsInternal) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call =
      std::async(std::launch::async, [&] { return client.get_orchestration_metadata("x"); });

  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, StartReply{req->as<DescribeRequest>().request_id, "x"});

  auto got = call.get();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kInternal);
}

TEST(client_api, LateReplyToATimedOutRequestIsIgnoredAndTheNextRequestGetsItsOwnAnswer) {
  FakeScheduler fake;
  Client client(options_for(fake.address(), 300ms));

  auto first =
      std::async(std::launch::async, [&] { return client.get_orchestration_metadata("first"); });
  auto first_req = fake.next();
  ASSERT_TRUE(first_req);
  auto first_result = first.get();  // nobody answers: it times out
  ASSERT_FALSE(first_result);
  EXPECT_EQ(first_result.status().code(), StatusCode::kDeadlineExceeded);

  auto second =
      std::async(std::launch::async, [&] { return client.get_orchestration_metadata("second"); });
  auto second_req = fake.next();
  ASSERT_TRUE(second_req);
  // The answer to the first request arrives late, just before the right one.
  fake.reply(*first_req, instance_reply(first_req->as<DescribeRequest>().request_id, "first"));
  fake.reply(*second_req, instance_reply(second_req->as<DescribeRequest>().request_id, "second"));

  auto got = second.get();
  ASSERT_TRUE(got) << got.status().to_string();
  EXPECT_EQ(got->instance_id, "second");
}

TEST(client_api, WaitSendsItsTimeoutAndReturnsTheFinishedInstance) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call = std::async(std::launch::async,
                         [&] { return client.wait_for_orchestration_completion("id-7", 1234ms); });

  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kWaitRequest);
  const auto wait = req->as<WaitRequest>();
  EXPECT_EQ(wait.instance_id, "id-7");
  EXPECT_EQ(wait.ns, "test-ns");
  EXPECT_EQ(wait.timeout_ms, 1234);
  InstanceReply reply = instance_reply(wait.request_id, "id-7", OrchestrationStatus::kCompleted);
  reply.info.output = msgpack_of("done");
  fake.reply(*req, reply);

  auto got = call.get();
  ASSERT_TRUE(got) << got.status().to_string();
  EXPECT_TRUE(got->is_completed());
  EXPECT_STREQ(got->status_name(), "COMPLETED");
  Result<std::string> output = got->read_output<std::string>();
  ASSERT_TRUE(output) << output.status().to_string();
  EXPECT_EQ(*output, "done");
}

TEST(client_api, WaitGivesTheSchedulerItsTimeoutPlusTheRequestTimeout) {
  FakeScheduler fake;
  Client client(options_for(fake.address(), 200ms));
  const auto started = std::chrono::steady_clock::now();
  auto call = std::async(std::launch::async,
                         [&] { return client.wait_for_orchestration_completion("slow", 300ms); });
  ASSERT_TRUE(fake.next());  // received, never answered

  auto got = call.get();
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_GE(elapsed, 500ms);
}

// execute_orchestration("greet", "World", timeout, so) on another thread.
std::future<Result<OrchestrationMetadata>> execute_async(Client& client,
                                                         std::chrono::milliseconds timeout,
                                                         StartOptions so = {}) {
  return std::async(std::launch::async, [&client, timeout, so] {
    return client.execute_orchestration("greet", msgpack_of("World"), timeout, so);
  });
}

TEST(client_api, ExecuteIsOneStartRequestWhenTheSchedulerAnswersWithTheFinishedInstance) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  StartOptions so;
  so.instance_id = "id-8";
  auto call = execute_async(client, 1234ms, so);

  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kStartRequest);
  const auto start = req->as<StartRequest>();
  EXPECT_EQ(start.name, "greet");
  EXPECT_EQ(start.instance_id, "id-8");
  EXPECT_EQ(start.input, msgpack_of("World"));
  EXPECT_EQ(start.wait_timeout_ms, 1234);
  InstanceReply reply = instance_reply(start.request_id, "id-8", OrchestrationStatus::kCompleted);
  reply.info.output = msgpack_of("Hello World");
  fake.reply(*req, reply);

  auto got = call.get();
  ASSERT_TRUE(got) << got.status().to_string();
  EXPECT_TRUE(got->is_completed());
  EXPECT_EQ(got->instance_id, "id-8");
  EXPECT_EQ(got->read_output<std::string>().value(), "Hello World");
  EXPECT_FALSE(fake.next(200ms)) << "no second request";
}

// A StartReply: the instance has not finished within the wait, or the
// scheduler predates StartRequest.wait_timeout_ms. The client waits for the
// time left.
TEST(client_api, ExecuteAnsweredWithStartReplyWaitsForTheStartedInstance) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call = execute_async(client, 60s);

  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kStartRequest);
  fake.reply(*req, StartReply{req->as<StartRequest>().request_id, "assigned-id"});

  auto wait_req = fake.next();
  ASSERT_TRUE(wait_req);
  ASSERT_EQ(wait_req->type, MsgType::kWaitRequest);
  const auto wait = wait_req->as<WaitRequest>();
  EXPECT_EQ(wait.instance_id, "assigned-id");
  EXPECT_FALSE(wait.until_started);
  EXPECT_GT(wait.timeout_ms, 50'000);
  EXPECT_LE(wait.timeout_ms, 60'000);
  fake.reply(*wait_req,
             instance_reply(wait.request_id, "assigned-id", OrchestrationStatus::kFailed));

  auto got = call.get();
  ASSERT_TRUE(got) << got.status().to_string();
  EXPECT_TRUE(got->is_failed());
  EXPECT_EQ(got->instance_id, "assigned-id");
}

TEST(client_api, ExecuteWithANegativeTimeoutIsInvalidAndStartsNothing) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto got = client.execute_orchestration("greet", msgpack_of("World"), -1ms);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fake.next(200ms));
}

// Unreachable, execute fails as a start would: after the request timeout,
// not after the wait's.
TEST(client_api, ExecuteWithoutASchedulerIsUnavailableAfterTheRequestTimeout) {
  const std::string address = client_test::closed_address();
  Client client(options_for(address, 300ms));
  const auto t0 = std::chrono::steady_clock::now();
  auto got = client.execute_orchestration("greet", msgpack_of("World"), 60s);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find("gave up after 300 ms"), std::string::npos)
      << got.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, kTestWait);
}

TEST(client_api, ExecuteAnsweredWithAnotherReplyTypeIsInternal) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call = execute_async(client, 5s);
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, OkReply{req->as<StartRequest>().request_id});
  auto got = call.get();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kInternal);
  EXPECT_NE(got.status().message().find("answered a StartRequest with a OkReply"),
            std::string::npos)
      << got.status().message();
}

TEST(client_api, ConnectedButUnansweredRequestIsDeadlineExceededNamingTheAddress) {
  FakeScheduler fake;
  Client client(options_for(fake.address(), 300ms));
  auto call =
      std::async(std::launch::async, [&] { return client.get_orchestration_metadata("x"); });
  ASSERT_TRUE(fake.next());

  auto got = call.get();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(got.status().message().find(fake.address()), std::string::npos)
      << got.status().message();
}

TEST(client_api, NoSchedulerIsUnavailableNamingTheAddress) {
  const std::string address = client_test::closed_address();
  Client client(options_for(address, 300ms));

  auto got = client.get_orchestration_metadata("x");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find(address), std::string::npos) << got.status().message();
}

TEST(client_api, SchedulerStartedAfterTheClientStillAnswers) {
  const std::string address = client_test::closed_address();
  Client client(options_for(address, kTestWait));
  auto call =
      std::async(std::launch::async, [&] { return client.get_orchestration_metadata("x"); });

  FakeScheduler fake(address);  // the client connects (and sends) once this is up
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, instance_reply(req->as<DescribeRequest>().request_id, "x"));

  auto got = call.get();
  ASSERT_TRUE(got) << got.status().to_string();
  EXPECT_EQ(got->instance_id, "x");
}

TEST(client_api, ConcurrentCallsDoNotWaitForEachOther) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto wait = std::async(std::launch::async,
                         [&] { return client.wait_for_orchestration_completion("long", 60s); });
  auto describe =
      std::async(std::launch::async, [&] { return client.get_orchestration_metadata("quick"); });

  std::optional<FakeScheduler::Request> wait_req;
  std::optional<FakeScheduler::Request> describe_req;
  for (int i = 0; i < 2; ++i) {
    auto req = fake.next();
    ASSERT_TRUE(req);
    (req->type == MsgType::kWaitRequest ? wait_req : describe_req) = req;
  }
  ASSERT_TRUE(wait_req && describe_req);

  fake.reply(*describe_req,
             instance_reply(describe_req->as<DescribeRequest>().request_id, "quick"));
  auto described = describe.get();  // while the wait is still outstanding
  ASSERT_TRUE(described) << described.status().to_string();
  EXPECT_EQ(described->instance_id, "quick");
  EXPECT_EQ(wait.wait_for(0s), std::future_status::timeout);

  fake.reply(*wait_req, instance_reply(wait_req->as<WaitRequest>().request_id, "long",
                                       OrchestrationStatus::kFailed));
  auto waited = wait.get();
  ASSERT_TRUE(waited) << waited.status().to_string();
  EXPECT_TRUE(waited->is_failed());
}

TEST(client_api, InvalidAddressIsReportedByEveryCall) {
  Client client(options_for("not-an-endpoint"));
  auto got = client.get_orchestration_metadata("x");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("not-an-endpoint"), std::string::npos);
}

TEST(client_api, EmptyArgumentsAreInvalid) {
  Client client(options_for(client_test::closed_address()));
  EXPECT_EQ(client.schedule_new_orchestration("", Bytes{}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client.get_orchestration_metadata("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client.get_orchestration_history("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client.wait_for_orchestration_completion("x", -1ms).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client.raise_orchestration_event("", "E").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client.raise_orchestration_event("x", "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client.terminate_orchestration("", "why").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client.suspend_orchestration("").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client.resume_orchestration("").code(), StatusCode::kInvalidArgument);
}

TEST(client_api, RaiseSendsTheEventWithRawDataAndReturnsOkOnOkReply) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  const Bytes data = msgpack_of("approved");
  auto call = std::async(std::launch::async, [&] {
    return client.raise_orchestration_event("id-1", "Approval", data);
  });

  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kRaiseEventRequest);
  const auto raise = req->as<RaiseEventRequest>();
  EXPECT_NE(raise.request_id, 0u);
  EXPECT_EQ(raise.ns, "test-ns");
  EXPECT_EQ(raise.instance_id, "id-1");
  EXPECT_EQ(raise.name, "Approval");
  EXPECT_EQ(raise.data, data);
  fake.reply(*req, OkReply{raise.request_id});

  const Status s = call.get();
  EXPECT_TRUE(s.is_ok()) << s.to_string();
}

TEST(client_api, RaiseWithoutDataSendsEmptyData) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call =
      std::async(std::launch::async, [&] { return client.raise_orchestration_event("id", "Go"); });

  auto req = fake.next();
  ASSERT_TRUE(req);
  const auto raise = req->as<RaiseEventRequest>();
  EXPECT_TRUE(raise.data.empty());
  fake.reply(*req, OkReply{raise.request_id});
  EXPECT_TRUE(call.get().is_ok());
}

TEST(client_api, RaiseEncodesTypedDataAndAnExplicitStdString) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  const std::string text = "yes";
  auto typed = std::async(std::launch::async, [&] {
    return client.raise_orchestration_event("id", "Greeting", Greeting{"Ada", 2});
  });
  auto req = fake.next();
  ASSERT_TRUE(req);
  const auto first = req->as<RaiseEventRequest>();
  msgpack::object_handle oh = msgpack::unpack(first.data.data(), first.data.size());
  const auto got = oh.get().as<Greeting>();
  EXPECT_EQ(got.name, "Ada");
  EXPECT_EQ(got.times, 2);
  fake.reply(*req, OkReply{first.request_id});
  EXPECT_TRUE(typed.get().is_ok());

  auto string = std::async(std::launch::async, [&] {
    return client.raise_orchestration_event<std::string>("id", "Answer", text);
  });
  req = fake.next();
  ASSERT_TRUE(req);
  const auto second = req->as<RaiseEventRequest>();
  EXPECT_EQ(second.data, msgpack_of("yes"));
  EXPECT_NE(second.request_id, first.request_id);
  fake.reply(*req, OkReply{second.request_id});
  EXPECT_TRUE(string.get().is_ok());
}

TEST(client_api, RaiseRejectsRawDataThatIsNotOneMsgpackDocumentWithAHint) {
  Client client(options_for(client_test::closed_address()));
  const Status s = client.raise_orchestration_event("id", "Approval", std::string("approved"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("raise_orchestration_event<std::string>"), std::string::npos)
      << s.message();
}

TEST(client_api, RaiseOnAnUnknownInstanceIsNotFound) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call =
      std::async(std::launch::async, [&] { return client.raise_orchestration_event("nope", "E"); });
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, ErrorReply{req->as<RaiseEventRequest>().request_id,
                              static_cast<uint8_t>(StatusCode::kNotFound), "no instance 'nope'"});

  const Status s = call.get();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "no instance 'nope'");
}

TEST(client_api, TerminateSendsReasonAndRecursiveAndPassesFailedPreconditionThrough) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto recursive = std::async(std::launch::async,
                              [&] { return client.terminate_orchestration("id-1", "stuck"); });
  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kTerminateRequest);
  const auto first = req->as<TerminateRequest>();
  EXPECT_EQ(first.ns, "test-ns");
  EXPECT_EQ(first.instance_id, "id-1");
  EXPECT_EQ(first.reason, "stuck");
  EXPECT_TRUE(first.recursive);
  fake.reply(*req, OkReply{first.request_id});
  EXPECT_TRUE(recursive.get().is_ok());

  auto flat = std::async(std::launch::async, [&] {
    return client.terminate_orchestration("id-2", "", /*recursive=*/false);
  });
  req = fake.next();
  ASSERT_TRUE(req);
  const auto second = req->as<TerminateRequest>();
  EXPECT_EQ(second.instance_id, "id-2");
  EXPECT_FALSE(second.recursive);
  fake.reply(*req,
             ErrorReply{second.request_id, static_cast<uint8_t>(StatusCode::kFailedPrecondition),
                        "instance 'id-2' already finished"});
  const Status s = flat.get();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "instance 'id-2' already finished");
}

TEST(client_api, SuspendAndResumeSendTheirRequests) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto suspend = std::async(std::launch::async,
                            [&] { return client.suspend_orchestration("id-3", "maintenance"); });
  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kSuspendRequest);
  const auto s = req->as<SuspendRequest>();
  EXPECT_EQ(s.ns, "test-ns");
  EXPECT_EQ(s.instance_id, "id-3");
  EXPECT_EQ(s.reason, "maintenance");
  fake.reply(*req, OkReply{s.request_id});
  EXPECT_TRUE(suspend.get().is_ok());

  auto resume = std::async(std::launch::async, [&] { return client.resume_orchestration("id-3"); });
  req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kResumeRequest);
  const auto r = req->as<ResumeRequest>();
  EXPECT_EQ(r.instance_id, "id-3");
  EXPECT_EQ(r.reason, "");
  fake.reply(*req, OkReply{r.request_id});
  EXPECT_TRUE(resume.get().is_ok());
}

TEST(client_api, ControlCallsPassErrorRepliesThrough) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto suspend =
      std::async(std::launch::async, [&] { return client.suspend_orchestration("gone"); });
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, ErrorReply{req->as<SuspendRequest>().request_id,
                              static_cast<uint8_t>(StatusCode::kNotFound), "no instance 'gone'"});
  EXPECT_EQ(suspend.get().code(), StatusCode::kNotFound);

  auto resume = std::async(std::launch::async, [&] { return client.resume_orchestration("done"); });
  req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, ErrorReply{req->as<ResumeRequest>().request_id,
                              static_cast<uint8_t>(StatusCode::kFailedPrecondition), "finished"});
  EXPECT_EQ(resume.get().code(), StatusCode::kFailedPrecondition);
}

TEST(client_api, HistorySendsTheRequestAndReturnsTheEventsInOrder) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call =
      std::async(std::launch::async, [&] { return client.get_orchestration_history("id-h"); });

  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kHistoryRequest);
  const auto history = req->as<HistoryRequest>();
  EXPECT_NE(history.request_id, 0u);
  EXPECT_EQ(history.ns, "test-ns");
  EXPECT_EQ(history.instance_id, "id-h");

  HistoryReply reply;
  reply.request_id = history.request_id;
  HistoryEvent started;
  started.type = EventType::kExecutionStarted;
  started.timestamp_ms = 1714564800123;
  started.name = "greet";
  started.input = msgpack_of("World");
  HistoryEvent scheduled;
  scheduled.type = EventType::kTaskScheduled;
  scheduled.event_id = 0;
  scheduled.name = "SayHello";
  HistoryEvent failed;
  failed.type = EventType::kTaskFailed;
  failed.task_scheduled_id = 0;
  failed.attempt = 3;
  failed.failure = FailureDetails{"std::runtime_error", "boom", "", false};
  reply.events = {started, scheduled, failed};
  fake.reply(*req, reply);

  auto got = call.get();
  ASSERT_TRUE(got) << got.status().to_string();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].type, EventType::kExecutionStarted);
  EXPECT_EQ((*got)[0].timestamp_ms, 1714564800123);
  EXPECT_EQ((*got)[0].name, "greet");
  EXPECT_EQ((*got)[0].input, msgpack_of("World"));
  EXPECT_EQ((*got)[1].type, EventType::kTaskScheduled);
  EXPECT_EQ((*got)[1].event_id, 0);
  EXPECT_EQ((*got)[1].name, "SayHello");
  EXPECT_EQ((*got)[2].type, EventType::kTaskFailed);
  EXPECT_EQ((*got)[2].task_scheduled_id, 0);
  EXPECT_EQ((*got)[2].attempt, 3);
  EXPECT_EQ((*got)[2].failure.message, "boom");
}

TEST(client_api, HistoryOfAnUnknownInstanceIsNotFound) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call =
      std::async(std::launch::async, [&] { return client.get_orchestration_history("nope"); });
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, ErrorReply{req->as<HistoryRequest>().request_id,
                              static_cast<uint8_t>(StatusCode::kNotFound), "no instance 'nope'"});

  auto got = call.get();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(got.status().message(), "no instance 'nope'");
}

TEST(client_api, HistoryAnsweredWithTheWrongReplyTypeIsInternal) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call = std::async(std::launch::async, [&] { return client.get_orchestration_history("x"); });
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, instance_reply(req->as<HistoryRequest>().request_id, "x"));
  auto got = call.get();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kInternal);
}

TEST(client_api, ControlCallAnsweredWithTheWrongReplyTypeIsInternal) {
  FakeScheduler fake;
  Client client(options_for(fake.address()));
  auto call = std::async(std::launch::async, [&] { return client.resume_orchestration("x"); });
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, instance_reply(req->as<ResumeRequest>().request_id, "x"));
  EXPECT_EQ(call.get().code(), StatusCode::kInternal);
}

TEST(client_api, ControlCallWithoutASchedulerIsUnavailable) {
  Client client(options_for(client_test::closed_address(), 300ms));
  EXPECT_EQ(client.terminate_orchestration("x", "why").code(), StatusCode::kUnavailable);
}

TEST(client_api, OptionsComeFromTheEnvironmentElseDefaults) {
  ::unsetenv("BATON_ADDRESS");
  ::unsetenv("BATON_NAMESPACE");
  const ClientOptions d = ClientOptions::from_env();
  EXPECT_EQ(d.address, kDefaultSchedulerAddress);
  EXPECT_EQ(d.ns, kDefaultNamespace);

  ::setenv("BATON_ADDRESS", "tcp://10.1.2.3:9999", 1);
  ::setenv("BATON_NAMESPACE", "prod", 1);
  const ClientOptions o = ClientOptions::from_env();
  ::unsetenv("BATON_ADDRESS");
  ::unsetenv("BATON_NAMESPACE");
  EXPECT_EQ(o.address, "tcp://10.1.2.3:9999");
  EXPECT_EQ(o.ns, "prod");
}

}  // namespace
}  // namespace baton
