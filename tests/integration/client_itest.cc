// The client API beyond start/wait, through baton::Client and batonctl
// against real processes: delayed starts, id reuse policies, idempotent
// starts, execute, wait-for-start, listing with filters and paging, purge by
// id (recursive) and by filter.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "baton/client.h"
#include "baton/wire.h"
#include "tests/support/http.h"
#include "tests/support/itest.h"
#include "tests/support/metrics_text.h"

namespace baton {
namespace {

using namespace std::chrono_literals;

struct Approval {
  std::string request;
  int64_t timeout_ms = 0;
  MSGPACK_DEFINE_MAP(request, timeout_ms)
};

StartOptions with_id(std::string id) {
  StartOptions so;
  so.instance_id = std::move(id);
  return so;
}

class ClientApi : public testing::StackTest {
 protected:
  void SetUp() override { start_stack(); }

  std::string chain(const std::string& id, StartOptions so = {}) {
    so.instance_id = id;
    auto r = client_->schedule_new_orchestration("function_chaining", testing::pack(std::string("W")), so);
    EXPECT_TRUE(r) << r.status().to_string();
    return r ? *r : std::string();
  }

  // An orchestration that waits a minute for an approval event.
  Result<std::string> waiting(const std::string& id, StartOptions so = {}) {
    so.instance_id = id;
    return client_->schedule_new_orchestration("human_interaction", testing::pack(Approval{"x", 60000}), so);
  }

  void finish(const std::string& id) {
    auto md = client_->wait_for_orchestration_completion(id, 60s);
    ASSERT_TRUE(md) << md.status().to_string();
  }

  int batonctl(const std::string& args, std::string* out) {
    out->clear();
    return testing::run_command("BATON_ADDRESS=" + stack_->scheduler_address() + " " +
                                    testing::batonctl_binary() + " " + args + " 2>&1",
                                out);
  }
};

TEST_F(ClientApi, StartAtDelaysTheFirstStepAndWaitForStartSeesIt) {
  StartOptions so;
  so.start_at = std::chrono::system_clock::now() + 1500ms;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string id = chain("later", so);
  auto md = client_->get_orchestration_metadata(id);
  ASSERT_TRUE(md);
  EXPECT_EQ(md->status, OrchestrationStatus::kPending);
  // Not started within 500 ms...
  auto early = client_->wait_for_orchestration_start(id, 500ms);
  EXPECT_EQ(early.status().code(), StatusCode::kDeadlineExceeded);
  // ...but after the start time.
  auto started = client_->wait_for_orchestration_start(id, 10s);
  ASSERT_TRUE(started) << started.status().to_string();
  EXPECT_NE(started->status, OrchestrationStatus::kPending);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1400ms);
  finish(id);
  EXPECT_EQ(client_->get_orchestration_metadata(id)->status, OrchestrationStatus::kCompleted);
}

TEST_F(ClientApi, IdReusePolicies) {
  finish(chain("r"));
  // Default: an existing id is refused, even a finished one.
  auto again = client_->schedule_new_orchestration("function_chaining", testing::pack(std::string("W")),
                                                   with_id("r"));
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  // Allow if finished: a new execution of the same instance.
  StartOptions allow;
  allow.id_reuse_policy = IdReusePolicy::kAllowIfFinished;
  chain("r", allow);
  finish("r");
  EXPECT_EQ(events("r", EventType::kExecutionStarted), 2);

  // A running instance is refused under allow-if-finished...
  ASSERT_TRUE(waiting("w"));
  ASSERT_TRUE(client_->wait_for_orchestration_start("w", 30s));
  auto refused = waiting("w", allow);
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists);
  // ...and terminated first under terminate-if-running.
  StartOptions kill;
  kill.id_reuse_policy = IdReusePolicy::kTerminateIfRunning;
  ASSERT_TRUE(chain("w", kill) == "w");
  auto md = client_->wait_for_orchestration_completion("w", 60s);
  ASSERT_TRUE(md);
  EXPECT_EQ(md->status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(md->name, "function_chaining");
  EXPECT_EQ(events("w", EventType::kExecutionTerminated), 1);
  EXPECT_EQ(events("w", EventType::kExecutionStarted), 2);
  auto violations = client_->verify_database();
  ASSERT_TRUE(violations);
  EXPECT_TRUE(violations->empty());
}

TEST_F(ClientApi, RetryingAStartWithItsIdempotencyKeyIsSafe) {
  StartOptions so;
  so.idempotency_key = "order-42";
  const std::string id = chain("idem", so);
  // The same start again (say its reply was lost): same instance, no error.
  EXPECT_EQ(chain("idem", so), id);
  finish(id);
  EXPECT_EQ(chain("idem", so), id) << "also once finished";
  EXPECT_EQ(events("idem", EventType::kExecutionStarted), 1);
  // Another key is another start: refused as a duplicate.
  so.idempotency_key = "order-43";
  so.instance_id = "idem";
  auto other = client_->schedule_new_orchestration("function_chaining", testing::pack(std::string("W")), so);
  EXPECT_EQ(other.status().code(), StatusCode::kAlreadyExists);
}

TEST_F(ClientApi, ExecuteReturnsTheResult) {
  auto md = client_->execute_orchestration("function_chaining", testing::pack(std::string("World")), 60s);
  ASSERT_TRUE(md) << md.status().to_string();
  ASSERT_EQ(md->status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(testing::unpack<std::string>(md->output),
            "Hello World! How are you today? I hope you're doing well!");
}

// StartRequest.wait_timeout_ms, as a raw client sees it: one request, one
// reply. The finished instance (InstanceReply) when it finishes in time;
// else the StartReply at the deadline, the instance still running.
TEST_F(ClientApi, AStartThatWaitsIsAnsweredOnceTheInstanceFinished) {
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::rcvtimeo, 60000);
  s.connect(stack_->scheduler_address());
  auto next_reply = [&] {
    auto r = wire::recv(s, false);
    for (int i = 0; i < 600 && !r && r.status().code() == StatusCode::kUnavailable; ++i) {
      zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 100ms);
      r = wire::recv(s, false);
    }
    return r;
  };

  StartRequest start;
  start.request_id = 1;
  start.name = "function_chaining";
  start.instance_id = "one-trip";
  start.input = testing::pack(std::string("World"));
  start.wait_timeout_ms = 60000;
  start.idempotency_key = "one-trip-key";
  wire::send(s, start);
  auto r = next_reply();
  ASSERT_TRUE(r) << r.status().to_string();
  ASSERT_EQ(r->type, MsgType::kInstanceReply) << wire::msg_type_name(r->type);
  auto done = wire::decode<InstanceReply>(r->body_view());
  ASSERT_TRUE(done);
  EXPECT_EQ(done->request_id, 1u);
  EXPECT_EQ(done->info.instance_id, "one-trip");
  EXPECT_EQ(done->info.status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(testing::unpack<std::string>(done->info.output),
            "Hello World! How are you today? I hope you're doing well!");
  // The same start again (its reply lost, say): the instance, already finished.
  start.request_id = 4;
  wire::send(s, start);
  r = next_reply();
  ASSERT_TRUE(r) << r.status().to_string();
  ASSERT_EQ(r->type, MsgType::kInstanceReply) << wire::msg_type_name(r->type);
  done = wire::decode<InstanceReply>(r->body_view());
  ASSERT_TRUE(done);
  EXPECT_EQ(done->request_id, 4u);
  EXPECT_EQ(done->info.status, OrchestrationStatus::kCompleted);

  // Waiting a minute for an approval: not done within 300 ms.
  StartRequest slow;
  slow.request_id = 2;
  slow.name = "human_interaction";
  slow.instance_id = "slow-trip";
  slow.input = testing::pack(Approval{"x", 60000});
  slow.wait_timeout_ms = 300;
  const auto t0 = std::chrono::steady_clock::now();
  wire::send(s, slow);
  r = next_reply();
  ASSERT_TRUE(r) << r.status().to_string();
  ASSERT_EQ(r->type, MsgType::kStartReply) << wire::msg_type_name(r->type);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  auto started = wire::decode<StartReply>(r->body_view());
  ASSERT_TRUE(started);
  EXPECT_EQ(started->request_id, 2u);
  EXPECT_EQ(started->instance_id, "slow-trip");
  auto md = client_->get_orchestration_metadata("slow-trip");
  ASSERT_TRUE(md) << md.status().to_string();
  EXPECT_FALSE(md->is_terminal());

  // A negative wait is refused, and starts nothing.
  StartRequest bad = start;
  bad.request_id = 3;
  bad.instance_id = "never";
  bad.wait_timeout_ms = -1;
  wire::send(s, bad);
  r = next_reply();
  ASSERT_TRUE(r) << r.status().to_string();
  ASSERT_EQ(r->type, MsgType::kErrorReply);
  auto e = wire::decode<ErrorReply>(r->body_view());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, static_cast<uint8_t>(StatusCode::kInvalidArgument));
  EXPECT_NE(e->message.find("wait_timeout_ms"), std::string::npos) << e->message;
  EXPECT_EQ(client_->get_orchestration_metadata("never").status().code(), StatusCode::kNotFound);

  // Timed as its own operation: the waiting starts, not as plain starts.
  auto m = test::http_get("127.0.0.1", stack_->scheduler_metrics_port(), "/metrics");
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_EQ(testing::metric(m->body, "baton_client_request_duration_seconds_count",
                            {{"operation", "execute"}, {"outcome", "ok"}}),
            3);
}

TEST_F(ClientApi, ListFiltersAndPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(chain("L-" + std::to_string(100 + i)));
  for (const auto& id : ids) finish(id);
  ASSERT_TRUE(waiting("L-waiting"));
  ASSERT_TRUE(client_->wait_for_orchestration_start("L-waiting", 30s));
  chain("other-1");

  // Paging: 13 instances with the prefix, 5 per page, in creation order.
  OrchestrationQuery q;
  q.instance_id_prefix = "L-";
  q.page_size = 5;
  std::vector<std::string> seen;
  int pages = 0;
  do {
    auto page = client_->list_orchestrations(q);
    ASSERT_TRUE(page) << page.status().to_string();
    for (const auto& m : page->instances) {
      seen.push_back(m.instance_id);
      EXPECT_TRUE(m.input.empty()) << "listings leave payloads out";
    }
    q.continuation_token = page->continuation_token;
    ++pages;
  } while (!q.continuation_token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 13u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 13u) << "no repeats";
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(seen[i], ids[i]) << "creation order";

  // Filters.
  OrchestrationQuery running;
  running.statuses = {OrchestrationStatus::kRunning};
  running.instance_id_prefix = "L-";
  auto r = client_->list_orchestrations(running);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->instances.size(), 1u);
  EXPECT_EQ(r->instances[0].instance_id, "L-waiting");
  OrchestrationQuery by_name;
  by_name.name = "human_interaction";
  EXPECT_EQ(client_->list_orchestrations(by_name)->instances.size(), 1u);
  OrchestrationQuery by_queue;
  by_queue.task_queue = "nowhere";
  EXPECT_TRUE(client_->list_orchestrations(by_queue)->instances.empty());
  OrchestrationQuery before;
  before.created_to = std::chrono::system_clock::now() - 1h;
  EXPECT_TRUE(client_->list_orchestrations(before)->instances.empty());
  OrchestrationQuery completed;
  completed.statuses = {OrchestrationStatus::kCompleted};
  completed.created_from = std::chrono::system_clock::now() - 1h;
  completed.page_size = 1000;
  EXPECT_GE(client_->list_orchestrations(completed)->instances.size(), 12u);

  // Bad input is refused, not a failed batch.
  OrchestrationQuery bad;
  bad.continuation_token = "not-a-token";
  EXPECT_EQ(client_->list_orchestrations(bad).status().code(), StatusCode::kInvalidArgument);
  bad.continuation_token = "";
  bad.page_size = 0;
  EXPECT_EQ(client_->list_orchestrations(bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(client_->list_orchestrations(q)) << "the scheduler still serves";
}

TEST_F(ClientApi, PurgeByIdRecursiveAndByFilter) {
  // By id: a finished instance and its history go.
  finish(chain("p1"));
  auto n = client_->purge_orchestration("p1");
  ASSERT_TRUE(n) << n.status().to_string();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(client_->get_orchestration_metadata("p1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_history WHERE instance_id = 'p1'"), 0);
  EXPECT_EQ(client_->purge_orchestration("p1").status().code(), StatusCode::kNotFound);

  // A running one is refused.
  ASSERT_TRUE(waiting("p-running"));
  ASSERT_TRUE(client_->wait_for_orchestration_start("p-running", 30s));
  EXPECT_EQ(client_->purge_orchestration("p-running").status().code(),
            StatusCode::kFailedPrecondition);

  // Recursive: the parent and its sub-orchestration.
  auto parent = client_->schedule_new_orchestration("process_order", testing::pack(std::string("A-1")),
                                                    with_id("p-parent"));
  ASSERT_TRUE(parent);
  finish("p-parent");
  const int64_t children =
      stack_->count("SELECT count(*) FROM baton_instances WHERE parent_instance_id = 'p-parent'");
  ASSERT_GE(children, 1);
  auto tree = client_->purge_orchestration("p-parent", /*recursive=*/true);
  ASSERT_TRUE(tree) << tree.status().to_string();
  EXPECT_EQ(*tree, static_cast<uint64_t>(1 + children));
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_instances WHERE instance_id LIKE 'p-parent%' "
                          "OR parent_instance_id = 'p-parent'"),
            0);

  // By filter: exactly the failed ones, with their history; others stay.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client_->schedule_new_orchestration("always_fails", testing::pack(std::string("x")),
                                                    with_id("f" + std::to_string(i))));
  }
  for (int i = 0; i < 3; ++i) finish("f" + std::to_string(i));
  finish(chain("keep"));
  PurgeFilter failed;
  failed.statuses = {OrchestrationStatus::kFailed};
  auto purged = client_->purge_orchestrations(failed);
  ASSERT_TRUE(purged) << purged.status().to_string();
  EXPECT_EQ(*purged, 3u);
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_instances WHERE instance_id LIKE 'f_'"), 0);
  EXPECT_EQ(stack_->count("SELECT count(*) FROM baton_history WHERE instance_id LIKE 'f_'"), 0);
  EXPECT_TRUE(client_->get_orchestration_metadata("keep"));
  EXPECT_TRUE(client_->get_orchestration_metadata("p-running"));
  PurgeFilter running;
  running.statuses = {OrchestrationStatus::kRunning};
  EXPECT_EQ(client_->purge_orchestrations(running).status().code(), StatusCode::kInvalidArgument);
  auto violations = client_->verify_database();
  ASSERT_TRUE(violations);
  EXPECT_TRUE(violations->empty());
}

// The profile's metadata headers travel with every request: the scheduler
// checks them and names them when it refuses a request.
TEST_F(ClientApi, MetadataHeadersTravelWithEveryRequest) {
  ClientOptions o;
  o.address = stack_->scheduler_address();
  o.metadata = {{"x-trace-id", "trace-4711"}, {"team", "payments"}};
  Client traced(o);
  EXPECT_EQ(traced.get_orchestration_metadata("no-such-instance").status().code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(testing::wait_until(
      [&] {
        std::string out;
        return testing::run_command("grep -c 'x-trace-id=trace-4711' " + stack_->log_dir() +
                                        "/scheduler.log",
                                    &out) == 0;
      },
      5s))
      << "the refused request's log line names its headers";
  auto md = traced.execute_orchestration("function_chaining", testing::pack(std::string("W")), 60s);
  ASSERT_TRUE(md) << md.status().to_string();

  o.metadata = {{"bad key!", "x"}};
  Client bad_key(o);
  auto refused = bad_key.get_orchestration_metadata(md->instance_id);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("bad key!"), std::string::npos);
  o.metadata = {{"big", std::string(2000, 'x')}};
  Client big(o);
  EXPECT_EQ(big.get_orchestration_metadata(md->instance_id).status().code(),
            StatusCode::kInvalidArgument);
}

// The control commands through batonctl against real processes.
TEST_F(ClientApi, BatonctlRaiseSuspendResumeTerminateDescribeHistory) {
  std::string out;
  const std::string input = "'{\"request\":\"deploy\",\"timeout_ms\":60000}'";
  ASSERT_EQ(batonctl("start human_interaction --id ctl-1 --input " + input, &out), 0) << out;
  ASSERT_EQ(batonctl("wait ctl-1 --until-started --timeout 20", &out), 0) << out;
  EXPECT_EQ(batonctl("suspend ctl-1 --reason 'hold on'", &out), 0) << out;
  ASSERT_TRUE(testing::wait_until(
      [&] { return batonctl("describe ctl-1", &out) == 0 && out.find("SUSPENDED") != std::string::npos; },
      10s))
      << out;
  EXPECT_EQ(batonctl("raise ctl-1 approval --data '\"alice\"'", &out), 0) << out;
  EXPECT_EQ(batonctl("resume ctl-1", &out), 0) << out;
  EXPECT_EQ(batonctl("wait ctl-1 --timeout 30", &out), 0) << out;
  EXPECT_NE(out.find("approved by alice"), std::string::npos) << out;
  EXPECT_EQ(batonctl("history ctl-1 -o json", &out), 0) << out;
  auto events = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(events.is_array()) << out;
  std::set<std::string> types;
  for (const auto& e : events) types.insert(e.value("type", ""));
  for (const char* t : {"ExecutionStarted", "ExecutionSuspended", "ExecutionResumed", "EventRaised",
                        "ExecutionCompleted"}) {
    EXPECT_EQ(types.count(t), 1u) << t << " missing in " << out;
  }

  ASSERT_EQ(batonctl("start human_interaction --id ctl-2 --input " + input, &out), 0) << out;
  ASSERT_EQ(batonctl("wait ctl-2 --until-started --timeout 20", &out), 0) << out;
  EXPECT_EQ(batonctl("terminate ctl-2 --reason 'no longer needed'", &out), 0) << out;
  EXPECT_EQ(batonctl("wait ctl-2 --timeout 30", &out), 1) << "terminated exits 1: " << out;
  EXPECT_NE(out.find("TERMINATED"), std::string::npos) << out;
  EXPECT_EQ(batonctl("raise ctl-2 approval", &out), 1) << "finished: " << out;
  EXPECT_EQ(batonctl("describe nope", &out), 1) << out;
}

TEST_F(ClientApi, BatonctlExecuteListPurgeAndWaitForStart) {
  std::string out;
  EXPECT_EQ(batonctl("execute function_chaining --input '\"World\"' --id cli-x", &out), 0) << out;
  EXPECT_NE(out.find("Hello World!"), std::string::npos) << out;

  EXPECT_EQ(batonctl("start function_chaining --input '\"W\"' --id cli-later --start-at +1s", &out), 0) << out;
  EXPECT_EQ(batonctl("wait cli-later --until-started --timeout 20", &out), 0) << out;
  EXPECT_EQ(batonctl("wait cli-later --timeout 60", &out), 0) << out;

  EXPECT_EQ(batonctl("list --id-prefix cli- -o json 2>/dev/null", &out), 0) << out;
  auto doc = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << out;
  ASSERT_EQ(doc["instances"].size(), 2u) << out;
  EXPECT_EQ(doc["continuation_token"], "");
  EXPECT_EQ(batonctl("list --status completed", &out), 0) << out;
  EXPECT_NE(out.find("cli-x"), std::string::npos) << out;
  EXPECT_NE(out.find("STATUS"), std::string::npos) << out;

  EXPECT_EQ(batonctl("purge cli-x", &out), 0) << out;
  EXPECT_NE(out.find("purged 1"), std::string::npos) << out;
  EXPECT_EQ(batonctl("purge cli-x", &out), 1) << "not found: " << out;
  EXPECT_EQ(batonctl("purge --status COMPLETED --created-after -1h -o json", &out), 0) << out;
  EXPECT_NE(out.find("\"deleted\": 1"), std::string::npos) << out;
  // Usage errors exit 2.
  EXPECT_EQ(batonctl("purge", &out), 2) << out;
  EXPECT_EQ(batonctl("list --status sleeping", &out), 2) << out;
  EXPECT_EQ(batonctl("list --created-after yesterday", &out), 2) << out;
  EXPECT_EQ(batonctl("start x --id-reuse-policy maybe", &out), 2) << out;
}

}  // namespace
}  // namespace baton
