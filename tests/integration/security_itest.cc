// Security with real processes: API keys bound to namespaces on the client
// link, CurveZMQ on every link with allow-lists, refused clients not
// affecting others, namespace isolation.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "baton/client.h"
#include "baton/security.h"
#include "tests/support/itest.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using testing::StackOptions;

constexpr const char* kExpected = "Hello World! How are you today? I hope you're doing well!";

class Security : public testing::StackTest {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = testing::test_log_dir(std::string("keys.") + info->name());
  }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  security::KeyPair pair(const std::string& name, std::string* path = nullptr) {
    auto p = security::generate_key_pair();
    EXPECT_TRUE(p) << p.status().to_string();
    const std::string file = write(name + ".toml", security::key_pair_file_text(*p));
    if (path) *path = file;
    return *p;
  }

  std::unique_ptr<Client> client(const std::string& ns, const std::string& api_key,
                                 CurveSettings curve = {}) {
    ClientOptions o;
    o.address = stack_->scheduler_address();
    o.ns = ns;
    o.api_key = api_key;
    o.curve = std::move(curve);
    o.request_timeout = 5s;
    return std::make_unique<Client>(o);
  }

  static Result<OrchestrationMetadata> run_chain(Client& c) {
    return c.execute_orchestration("function_chaining", testing::pack(std::string("World")), 60s);
  }

  std::string dir_;
};

TEST_F(Security, ApiKeysAuthenticateAndBindNamespaces) {
  const std::string key_a = security::generate_api_key();
  const std::string key_b = security::generate_api_key();
  const std::string key_admin = security::generate_api_key();
  const std::string clients = write(
      "clients.toml", "[[client]]\nname = \"team-a\"\napi_key_sha256 = \"" +
                          security::sha256_hex(key_a) +
                          "\"\nnamespaces = [\"ns-a\"]\n\n[[client]]\nname = \"team-b\"\n"
                          "api_key_sha256 = \"" + security::sha256_hex(key_b) +
                          "\"\nnamespaces = [\"ns-b\"]\n\n[[client]]\nname = \"ops\"\n"
                          "api_key_sha256 = \"" + security::sha256_hex(key_admin) + "\"\n");
  StackOptions o;
  o.scheduler_args = {"--clients-file", clients};
  o.worker_env = {{"BATON_NAMESPACE", "ns-a"}};
  start_stack(o);

  auto a = client("ns-a", key_a);
  auto md = run_chain(*a);
  ASSERT_TRUE(md) << md.status().to_string();
  EXPECT_EQ(testing::unpack<std::string>(md->output), kExpected);
  const std::string id_a = md->instance_id;

  // Team A may not use namespace B; team B cannot see A's instance from its
  // namespace nor reach into A's.
  auto a_in_b = client("ns-b", key_a);
  EXPECT_EQ(a_in_b->get_orchestration_metadata(id_a).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(run_chain(*a_in_b).status().code(), StatusCode::kPermissionDenied);
  auto b = client("ns-b", key_b);
  EXPECT_EQ(b->get_orchestration_metadata(id_a).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(b->list_orchestrations()->instances.empty());
  auto b_in_a = client("ns-a", key_b);
  EXPECT_EQ(b_in_a->terminate_orchestration(id_a, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(b_in_a->purge_orchestration(id_a).status().code(), StatusCode::kPermissionDenied);

  // A wrong key and no key are refused quickly; A keeps working meanwhile.
  auto wrong = client("ns-a", "bk_wrong");
  const auto t0 = std::chrono::steady_clock::now();
  const Status wrong_status = wrong->get_orchestration_metadata(id_a).status();
  EXPECT_EQ(wrong_status.code(), StatusCode::kUnauthenticated) << wrong_status.to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  auto none = client("ns-a", "");
  const Status none_status = none->get_orchestration_metadata(id_a).status();
  EXPECT_EQ(none_status.code(), StatusCode::kUnauthenticated) << none_status.to_string();
  auto again = run_chain(*a);
  ASSERT_TRUE(again) << again.status().to_string();
  EXPECT_EQ(again->status, OrchestrationStatus::kCompleted);

  // admin verify needs a client allowed everywhere.
  EXPECT_EQ(a->verify_database().status().code(), StatusCode::kPermissionDenied);
  auto ops = client("ns-a", key_admin);
  auto violations = ops->verify_database();
  ASSERT_TRUE(violations) << violations.status().to_string();
  EXPECT_TRUE(violations->empty());
  EXPECT_NE(testing::run_command("grep -c 'client link: API keys' " + stack_->log_dir() +
                                     "/scheduler.log > /dev/null",
                                 nullptr),
            1);
}

TEST_F(Security, CurveZmqOnEveryLinkWithAllowLists) {
  std::string sched_file, broker_file, worker_file;
  const auto sched = pair("scheduler", &sched_file);
  const auto broker = pair("broker", &broker_file);
  const auto worker = pair("worker", &worker_file);
  const auto app = pair("app");
  const auto stranger = pair("stranger");
  const std::string sched_clients = write(
      "scheduler-clients.toml",
      "[[client]]\nname = \"app\"\ncurve_public_key = \"" + app.public_key + "\"\n");
  const std::string broker_clients = write(
      "broker-clients.toml", "[[client]]\nname = \"scheduler\"\ncurve_public_key = \"" +
                                 sched.public_key + "\"\n\n[[client]]\nname = \"workers\"\n"
                                 "curve_public_key = \"" + worker.public_key + "\"\n");
  StackOptions o;
  o.scheduler_args = {"--curve-key-file", sched_file, "--clients-file", sched_clients,
                      "--broker-curve-server-key", broker.public_key};
  o.broker_args = {"--curve-key-file", broker_file, "--clients-file", broker_clients};
  o.worker_env = {{"BATON_CURVE_SERVER_KEY", broker.public_key},
                  {"BATON_CURVE_CLIENT_KEY_FILE", worker_file}};
  start_stack(o);

  auto ok = client("default", "", CurveSettings{sched.public_key, app.public_key, app.secret_key});
  auto md = run_chain(*ok);
  ASSERT_TRUE(md) << md.status().to_string() << " (logs in " << stack_->log_dir() << ")";
  EXPECT_EQ(testing::unpack<std::string>(md->output), kExpected);

  // A key that is not allow-listed, and a plain client, are refused.
  auto bad = client("default", "", CurveSettings{sched.public_key, stranger.public_key,
                                                 stranger.secret_key});
  EXPECT_EQ(bad->get_orchestration_metadata(md->instance_id).status().code(),
            StatusCode::kUnauthenticated);
  auto plain = client("default", "");
  EXPECT_NE(plain->get_orchestration_metadata(md->instance_id).status().code(), StatusCode::kOk);

  // A worker without the broker's allow-listed key never gets work: the
  // stack's own workers do.
  auto more = run_chain(*ok);
  ASSERT_TRUE(more) << more.status().to_string();
  EXPECT_EQ(more->status, OrchestrationStatus::kCompleted);
}

TEST_F(Security, BadSecurityConfigIsAClearError) {
  const std::string bad_clients = write("bad.toml", "[[client]]\nname = \"x\"\ncurve_public_key = \"short\"\n");
  std::string out;
  const int rc = testing::run_command(testing::scheduler_binary() +
                                          " serve --db postgresql://unused/x --clients-file " +
                                          bad_clients + " 2>&1",
                                      &out);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("bad.toml"), std::string::npos) << out;
  EXPECT_NE(out.find("40 Z85 characters"), std::string::npos) << out;
  const std::string unknown = write("unknown.toml", "[[client]]\nname = \"x\"\napi_key = \"plain\"\n");
  out.clear();
  EXPECT_EQ(testing::run_command(testing::broker_binary() + " --clients-file " + unknown + " 2>&1", &out), 2)
      << out;
  EXPECT_NE(out.find("unknown key 'api_key'"), std::string::npos) << out;
}

}  // namespace
}  // namespace baton
