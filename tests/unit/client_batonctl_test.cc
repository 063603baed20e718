// The batonctl binary (BATONCTL_PATH) against a fake scheduler: arguments,
// output and exit codes (0 ok, 1 operation failed, 2 usage).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "baton/client.h"
#include "tests/support/cli_run.h"
#include "tests/unit/client_fake_scheduler.h"

namespace baton {
namespace {

using client_test::FakeScheduler;

using testing::CliRun;

// Runs `[env] batonctl args` through the shell; never inherits BATON_* from
// the caller's environment.
CliRun batonctl(const std::string& args, const std::string& env = "") {
  // Hermetic: no settings of the developer's environment or profile file.
  return testing::run_cli(
      "env -u BATON_ADDRESS -u BATON_NAMESPACE -u BATON_PROFILE -u BATON_CONFIG_FILE "
      "-u BATON_API_KEY -u BATON_CURVE_SERVER_KEY -u BATON_CURVE_CLIENT_KEY_FILE "
      "-u BATON_CURVE_CLIENT_KEY HOME=/nonexistent-baton-home " + env + " " + BATONCTL_PATH +
      " " + args);
}

std::future<CliRun> batonctl_async(std::string args, std::string env = "") {
  return std::async(std::launch::async,
                    [args = std::move(args), env = std::move(env)] { return batonctl(args, env); });
}

Bytes msgpack_of(const std::string& s) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, s);
  return Bytes(buf.data(), buf.size());
}

InstanceReply finished(uint64_t request_id, const std::string& id, OrchestrationStatus status) {
  InstanceReply r;
  r.request_id = request_id;
  r.info.ns = "default";
  r.info.instance_id = id;
  r.info.name = "greet";
  r.info.status = status;
  r.info.task_queue = "default";
  r.info.created_ms = 1714564800123;
  return r;
}

TEST(client_batonctl, InvalidInputJsonExitsTwoNamingTheProblem) {
  const CliRun r = batonctl("start X --input '{bad'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--input: invalid JSON"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 1, column 2"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(client_batonctl, UsageErrorsExitTwo) {
  EXPECT_EQ(batonctl("").exit_code, 2);
  EXPECT_EQ(batonctl("frobnicate").exit_code, 2);
  EXPECT_EQ(batonctl("describe").exit_code, 2);
  EXPECT_EQ(batonctl("wait x --timeout -3").exit_code, 2);
  EXPECT_EQ(batonctl("describe x -o yaml").exit_code, 2);
}

TEST(client_batonctl, HelpExitsZero) {
  const CliRun r = batonctl("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("describe"), std::string::npos);
}

TEST(client_batonctl, UnreachableSchedulerExitsOneNamingTheAddress) {
  const std::string address = client_test::closed_address();
  const CliRun r = batonctl("--address " + address + " --request-timeout 0.3 describe x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(address), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("kUnavailable"), std::string::npos) << r.err;
}

TEST(client_batonctl, StartEncodesTheInputAndPrintsTheInstanceId) {
  FakeScheduler fake;
  auto run = batonctl_async(
      "start greet --input '{\"n\": 1}' --id id-1 --task-queue q "
      "--namespace ns1 --address " +
      fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  const auto start = req->as<StartRequest>();
  EXPECT_EQ(start.name, "greet");
  EXPECT_EQ(start.instance_id, "id-1");
  EXPECT_EQ(start.task_queue, "q");
  EXPECT_EQ(start.ns, "ns1");
  const auto input = nlohmann::json::from_msgpack(start.input);
  EXPECT_EQ(input, nlohmann::json::parse(R"({"n":1})"));
  fake.reply(*req, StartReply{start.request_id, "id-1"});

  const CliRun r = run.get();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "id-1\n");
}

TEST(client_batonctl, StartWaitPrintsAStringOutputRaw) {
  FakeScheduler fake;
  auto run = batonctl_async("start greet --input '\"World\"' --wait --timeout 5",
                            "BATON_ADDRESS=" + fake.address());
  auto start_req = fake.next();
  ASSERT_TRUE(start_req);
  const auto start = start_req->as<StartRequest>();
  EXPECT_EQ(start.input, msgpack_of("World"));
  fake.reply(*start_req, StartReply{start.request_id, "id-2"});

  auto wait_req = fake.next();
  ASSERT_TRUE(wait_req);
  ASSERT_EQ(wait_req->type, MsgType::kWaitRequest);
  const auto wait = wait_req->as<WaitRequest>();
  EXPECT_EQ(wait.instance_id, "id-2");
  EXPECT_EQ(wait.timeout_ms, 5000);
  InstanceReply done = finished(wait.request_id, "id-2", OrchestrationStatus::kCompleted);
  done.info.output = msgpack_of("Hello World!");
  fake.reply(*wait_req, done);

  const CliRun r = run.get();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello World!\n");
}

TEST(client_batonctl, WaitOnAFailedOrchestrationExitsOneWithTheFailure) {
  FakeScheduler fake;
  auto run = batonctl_async("wait id-3 --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  const auto wait = req->as<WaitRequest>();
  EXPECT_EQ(wait.timeout_ms, 60000);  // the default
  InstanceReply failed = finished(wait.request_id, "id-3", OrchestrationStatus::kFailed);
  failed.info.failure = FailureDetails{"std::runtime_error", "boom", "", false};
  fake.reply(*req, failed);

  const CliRun r = run.get();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("FAILED"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("std::runtime_error: boom"), std::string::npos) << r.err;
}

TEST(client_batonctl, WaitThatTimesOutExitsOne) {
  FakeScheduler fake;
  auto run = batonctl_async("wait id-4 --timeout 1 --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req,
             ErrorReply{req->as<WaitRequest>().request_id,
                        static_cast<uint8_t>(StatusCode::kDeadlineExceeded), "still running"});

  const CliRun r = run.get();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("did not finish within 1 s"), std::string::npos) << r.err;
}

TEST(client_batonctl, DescribePrintsTheInstanceAsJson) {
  FakeScheduler fake;
  auto run = batonctl_async("describe id-5 --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  InstanceReply reply =
      finished(req->as<DescribeRequest>().request_id, "id-5", OrchestrationStatus::kRunning);
  reply.info.input = msgpack_of("World");
  fake.reply(*req, reply);

  const CliRun r = run.get();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("id"), "id-5");
  EXPECT_EQ(j.at("status"), "RUNNING");
  EXPECT_EQ(j.at("input"), "World");
  EXPECT_EQ(j.at("created"), "2024-05-01T12:00:00.123Z");
}

TEST(client_batonctl, NotFoundExitsOne) {
  FakeScheduler fake;
  auto run = batonctl_async("describe nope --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, ErrorReply{req->as<DescribeRequest>().request_id,
                              static_cast<uint8_t>(StatusCode::kNotFound), "no instance 'nope'"});

  const CliRun r = run.get();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no instance 'nope'"), std::string::npos) << r.err;
}

TEST(client_batonctl, JsonOutputOfWaitIsTheWholeInstance) {
  FakeScheduler fake;
  auto run = batonctl_async("-o json wait id-6 --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  InstanceReply done =
      finished(req->as<WaitRequest>().request_id, "id-6", OrchestrationStatus::kCompleted);
  done.info.output = msgpack_of("ok");
  fake.reply(*req, done);

  const CliRun r = run.get();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("status"), "COMPLETED");
  EXPECT_EQ(j.at("output"), "ok");
}

TEST(client_batonctl, RaiseSendsTheEventWithItsDataEncodedAndPrintsNothing) {
  FakeScheduler fake;
  auto run = batonctl_async(
      "raise id-7 Approval --data '{\"ok\": true}' --namespace ns1 "
      "--address " +
      fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kRaiseEventRequest);
  const auto raise = req->as<RaiseEventRequest>();
  EXPECT_EQ(raise.ns, "ns1");
  EXPECT_EQ(raise.instance_id, "id-7");
  EXPECT_EQ(raise.name, "Approval");
  EXPECT_EQ(nlohmann::json::from_msgpack(raise.data), nlohmann::json::parse(R"({"ok":true})"));
  fake.reply(*req, OkReply{raise.request_id});

  const CliRun r = run.get();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(client_batonctl, RaiseWithoutDataSendsNoData) {
  FakeScheduler fake;
  auto run = batonctl_async("raise id-8 Go", "BATON_ADDRESS=" + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  const auto raise = req->as<RaiseEventRequest>();
  EXPECT_EQ(raise.name, "Go");
  EXPECT_TRUE(raise.data.empty());
  fake.reply(*req, OkReply{raise.request_id});
  EXPECT_EQ(run.get().exit_code, 0);
}

TEST(client_batonctl, RaiseWithInvalidDataJsonExitsTwoWithoutSending) {
  const CliRun r =
      batonctl("raise id-9 Approval --data '{bad' --address " + client_test::closed_address());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--data: invalid JSON"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 1, column 2"), std::string::npos) << r.err;
}

TEST(client_batonctl, RaiseOnAnUnknownInstanceExitsOne) {
  FakeScheduler fake;
  auto run = batonctl_async("raise nope Approval --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, ErrorReply{req->as<RaiseEventRequest>().request_id,
                              static_cast<uint8_t>(StatusCode::kNotFound), "no instance 'nope'"});

  const CliRun r = run.get();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no instance 'nope'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("kNotFound"), std::string::npos) << r.err;
}

TEST(client_batonctl, TerminateIsRecursiveUnlessToldOtherwise) {
  FakeScheduler fake;
  auto run =
      batonctl_async("terminate id-10 --reason 'stuck for days' --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kTerminateRequest);
  const auto first = req->as<TerminateRequest>();
  EXPECT_EQ(first.instance_id, "id-10");
  EXPECT_EQ(first.reason, "stuck for days");
  EXPECT_TRUE(first.recursive);
  fake.reply(*req, OkReply{first.request_id});
  const CliRun r1 = run.get();
  EXPECT_EQ(r1.exit_code, 0) << r1.err;
  EXPECT_EQ(r1.out, "");

  run = batonctl_async("terminate id-11 --no-recursive --address " + fake.address());
  req = fake.next();
  ASSERT_TRUE(req);
  const auto second = req->as<TerminateRequest>();
  EXPECT_EQ(second.instance_id, "id-11");
  EXPECT_EQ(second.reason, "");
  EXPECT_FALSE(second.recursive);
  fake.reply(*req, OkReply{second.request_id});
  EXPECT_EQ(run.get().exit_code, 0);
}

TEST(client_batonctl, TerminateOfAFinishedInstanceExitsOne) {
  FakeScheduler fake;
  auto run = batonctl_async("terminate id-12 --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, ErrorReply{req->as<TerminateRequest>().request_id,
                              static_cast<uint8_t>(StatusCode::kFailedPrecondition),
                              "instance 'id-12' already finished"});

  const CliRun r = run.get();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already finished"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("kFailedPrecondition"), std::string::npos) << r.err;
}

TEST(client_batonctl, SuspendAndResumeSendTheirReasons) {
  FakeScheduler fake;
  auto run = batonctl_async("suspend id-13 --reason maintenance --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kSuspendRequest);
  const auto suspend = req->as<SuspendRequest>();
  EXPECT_EQ(suspend.instance_id, "id-13");
  EXPECT_EQ(suspend.reason, "maintenance");
  fake.reply(*req, OkReply{suspend.request_id});
  const CliRun r1 = run.get();
  EXPECT_EQ(r1.exit_code, 0) << r1.err;
  EXPECT_EQ(r1.out, "");

  run = batonctl_async("resume id-13 --address " + fake.address());
  req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kResumeRequest);
  const auto resume = req->as<ResumeRequest>();
  EXPECT_EQ(resume.instance_id, "id-13");
  EXPECT_EQ(resume.reason, "");
  fake.reply(*req, OkReply{resume.request_id});
  const CliRun r2 = run.get();
  EXPECT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(r2.out, "");
}

TEST(client_batonctl, ResumeOfAnUnknownInstanceExitsOne) {
  FakeScheduler fake;
  auto run = batonctl_async("resume nope --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, ErrorReply{req->as<ResumeRequest>().request_id,
                              static_cast<uint8_t>(StatusCode::kNotFound), "no instance 'nope'"});
  EXPECT_EQ(run.get().exit_code, 1);
}

// ExecutionStarted, TaskScheduled, TaskCompleted, ExecutionCompleted.
HistoryReply chaining_history(uint64_t request_id) {
  HistoryReply r;
  r.request_id = request_id;
  HistoryEvent started;
  started.type = EventType::kExecutionStarted;
  started.timestamp_ms = 1714564800123;
  started.name = "greet";
  started.input = msgpack_of("World");
  started.task_queue = "default";
  HistoryEvent scheduled;
  scheduled.type = EventType::kTaskScheduled;
  scheduled.event_id = 0;
  scheduled.timestamp_ms = 1714564800150;
  scheduled.name = "SayHello";
  scheduled.input = msgpack_of("World");
  HistoryEvent completed;
  completed.type = EventType::kTaskCompleted;
  completed.timestamp_ms = 1714564800180;
  completed.task_scheduled_id = 0;
  completed.attempt = 2;
  completed.result = msgpack_of("Hello World!");
  HistoryEvent done;
  done.type = EventType::kExecutionCompleted;
  done.timestamp_ms = 1714564800200;
  done.status = OrchestrationStatus::kCompleted;
  done.result = msgpack_of("Hello World!");
  r.events = {started, scheduled, completed, done};
  return r;
}

TEST(client_batonctl, HistoryPrintsOneTableLinePerEvent) {
  FakeScheduler fake;
  auto run = batonctl_async("history id-14 --namespace ns1 --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->type, MsgType::kHistoryRequest);
  const auto history = req->as<HistoryRequest>();
  EXPECT_EQ(history.ns, "ns1");
  EXPECT_EQ(history.instance_id, "id-14");
  fake.reply(*req, chaining_history(history.request_id));

  const CliRun r = run.get();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "SEQ  TIMESTAMP                 TYPE                DETAIL\n"
            "  0  2024-05-01T12:00:00.123Z  ExecutionStarted    greet\n"
            "  1  2024-05-01T12:00:00.150Z  TaskScheduled       SayHello (id 0)\n"
            "  2  2024-05-01T12:00:00.180Z  TaskCompleted       task 0, attempt 2\n"
            "  3  2024-05-01T12:00:00.200Z  ExecutionCompleted  COMPLETED\n");
}

TEST(client_batonctl, HistoryTableShowsFailuresAndReasons) {
  FakeScheduler fake;
  auto run = batonctl_async("history id-15 --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  HistoryReply reply;
  reply.request_id = req->as<HistoryRequest>().request_id;
  HistoryEvent failed;
  failed.type = EventType::kTaskFailed;
  failed.timestamp_ms = 1714564800123;
  failed.task_scheduled_id = 4;
  failed.attempt = 3;
  failed.failure = FailureDetails{"std::runtime_error", "boom", "", false};
  HistoryEvent terminated;
  terminated.type = EventType::kExecutionTerminated;
  terminated.timestamp_ms = 1714564800124;
  terminated.input = msgpack_of("cancelled");
  reply.events = {failed, terminated};
  fake.reply(*req, reply);

  const CliRun r = run.get();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("TaskFailed           task 4, attempt 3: std::runtime_error: boom\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ExecutionTerminated  reason: cancelled\n"), std::string::npos) << r.out;
}

TEST(client_batonctl, HistoryJsonIsAnArrayOfEveryEventField) {
  FakeScheduler fake;
  auto run = batonctl_async("history id-16 -o json --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, chaining_history(req->as<HistoryRequest>().request_id));

  const CliRun r = run.get();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[0], nlohmann::json::parse(R"({
    "seq": 0, "type": "ExecutionStarted", "event_id": -1,
    "timestamp": "2024-05-01T12:00:00.123Z", "name": "greet", "input": "World",
    "result": null, "task_scheduled_id": -1, "status": "RUNNING",
    "failure": {"type": "", "message": "", "details": "", "non_retryable": false},
    "task_queue": "default", "instance_id": "", "fire_at": null, "attempt": 0})"));
  EXPECT_EQ(j[1].at("type"), "TaskScheduled");
  EXPECT_EQ(j[1].at("event_id"), 0);
  EXPECT_EQ(j[2].at("seq"), 2);
  EXPECT_EQ(j[2].at("task_scheduled_id"), 0);
  EXPECT_EQ(j[2].at("attempt"), 2);
  EXPECT_EQ(j[2].at("result"), "Hello World!");
  EXPECT_EQ(j[3].at("type"), "ExecutionCompleted");
  EXPECT_EQ(j[3].at("status"), "COMPLETED");
}

TEST(client_batonctl, HistoryOfAnUnknownInstanceExitsOne) {
  FakeScheduler fake;
  auto run = batonctl_async("history nope --address " + fake.address());
  auto req = fake.next();
  ASSERT_TRUE(req);
  fake.reply(*req, ErrorReply{req->as<HistoryRequest>().request_id,
                              static_cast<uint8_t>(StatusCode::kNotFound), "no instance 'nope'"});

  const CliRun r = run.get();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("no instance 'nope'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("kNotFound"), std::string::npos) << r.err;
}

TEST(client_batonctl, ControlCommandUsageErrorsExitTwo) {
  EXPECT_EQ(batonctl("raise").exit_code, 2);
  EXPECT_EQ(batonctl("raise id-only").exit_code, 2);
  EXPECT_EQ(batonctl("raise id E --data").exit_code, 2);
  EXPECT_EQ(batonctl("terminate").exit_code, 2);
  EXPECT_EQ(batonctl("terminate x --recursive").exit_code, 2);
  EXPECT_EQ(batonctl("suspend").exit_code, 2);
  EXPECT_EQ(batonctl("resume").exit_code, 2);
  EXPECT_EQ(batonctl("resume x --reason").exit_code, 2);
  EXPECT_EQ(batonctl("history").exit_code, 2);
}

}  // namespace
}  // namespace baton
