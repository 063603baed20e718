// PgStore against a real PostgreSQL: migrations, fencing, the step cycle.
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "baton/wire.h"
#include "engine/step.h"
#include "store/migrate.h"
#include "store/pg_store.h"
#include "tests/support/pg_database.h"
#include "tests/support/stored_history.h"

namespace baton::scheduler {
namespace {

using baton::testing::count_of;
using baton::testing::stored_history;
using baton::testing::TempDatabase;

int64_t count(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx.exec1(sql)[0].as<int64_t>();
}

TEST(Migrate, AppliesOnceAndIsIdempotent) {
  TempDatabase db;
  auto first = migrate(db.url());
  ASSERT_TRUE(first) << first.status().to_string();
  EXPECT_EQ(*first, latest_schema_version());
  auto second = migrate(db.url());
  ASSERT_TRUE(second) << second.status().to_string();
  EXPECT_EQ(*second, 0);
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM baton_schema_migrations"), latest_schema_version());
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM baton_partitions"), kPartitionCount);
}

TEST(Migrate, RefusesADatabaseNewerThanTheBinary) {
  TempDatabase db;
  ASSERT_TRUE(migrate(db.url()));
  {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    tx.exec0("INSERT INTO baton_schema_migrations (version, name) VALUES (999, 'future')");
    tx.commit();
  }
  auto again = migrate(db.url());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("newer"), std::string::npos);
  auto store = PgStore::open(StoreOptions{db.url()});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
}

// A pipelined batch's statements run on generic plans, made once per
// connection, typically before the tables' first ANALYZE: then every index
// on `namespace` looks as good as the primary key for a lookup by
// (namespace, instance_id), and a listing index there would walk a whole
// namespace per lookup. Each plan must reach instances by key only, and the
// growing tables through an index.
TEST(Store, PipelinedStatementsPlanKeyLookupsOnTheKeysOfAFreshSchema) {
  TempDatabase db;
  ASSERT_TRUE(migrate(db.url()));
  pqxx::connection c(db.url());
  pqxx::work tx(c);
  tx.exec(kPipelinedPlanSettings);
  const auto statements = pipelined_statements();
  ASSERT_GE(statements.size(), 10u);
  for (const auto& [name, sql] : statements) {
    SCOPED_TRACE(name);
    tx.exec0("PREPARE " + name + " AS " + sql);
    const int params = tx.exec1("SELECT cardinality(parameter_types) FROM pg_prepared_statements "
                                "WHERE name = " + tx.quote(name))[0]
                           .as<int>();
    std::string call = "EXPLAIN EXECUTE " + name;
    for (int i = 0; i < params; ++i) call += i == 0 ? "(NULL" : ", NULL";
    if (params > 0) call += ")";
    std::string plan;
    for (const auto& row : tx.exec(call)) plan += std::string(row[0].c_str()) + "\n";
    SCOPED_TRACE(plan);
    for (const char* table : {"baton_instances", "baton_history", "baton_inbox", "baton_tasks"}) {
      EXPECT_EQ(plan.find(std::string("Seq Scan on ") + table), std::string::npos);
    }
    EXPECT_EQ(plan.find("baton_instances_created_at"), std::string::npos);
    EXPECT_EQ(plan.find("baton_instances_status"), std::string::npos);
    EXPECT_EQ(plan.find("baton_instances_parent"), std::string::npos);
    // enable_seqscan off prices a scan of the small baton_partitions table
    // (renew) at 10^10, past every JIT threshold: compiling it took ~150 ms
    // of the committer per lease renewal.
    EXPECT_EQ(plan.find("JIT:"), std::string::npos);
  }
}

TEST(Store, OpenRefusesAnUnmigratedDatabase) {
  TempDatabase db;
  auto store = PgStore::open(StoreOptions{db.url()});
  ASSERT_FALSE(store);
  EXPECT_NE(store.status().message().find("baton-scheduler migrate"), std::string::npos);
}

// Every store test runs with pipelined batches (the scheduler's default:
// PgStore::commit tries a common batch as one round trip, then statement by
// statement if an expectation fails) and without (statement by statement).
class StoreTest : public ::testing::TestWithParam<bool> {
 protected:
  bool pipelined() const { return GetParam(); }

  // A store on the test's database, pipelining as the test's parameter says.
  Result<std::unique_ptr<PgStore>> open_store() const {
    StoreOptions options{db_.url()};
    options.pipeline_batches = pipelined();
    return PgStore::open(options);
  }

  void SetUp() override {
    ASSERT_TRUE(migrate(db_.url()));
    auto s = open_store();
    ASSERT_TRUE(s) << s.status().to_string();
    store_ = std::move(s).value();
    auto rec = store_->recover("sched-a", 0);
    ASSERT_TRUE(rec) << rec.status().to_string();
    lease_ = rec->lease;
    ASSERT_EQ(static_cast<int>(lease_.partitions.size()), kPartitionCount);
  }

  static StartOp start(const std::string& id) {
    StartOp s;
    s.ns = "default";
    s.instance_id = id;
    s.name = "orch";
    s.task_queue = "default";
    s.input = "\xa5World";
    s.now_ms = 1000;
    return s;
  }

  // A new instance, started and loaded for its first step in one batch.
  LoadedInstance started(const std::string& id) {
    Batch b;
    b.starts.push_back(start(id));
    b.loads.push_back(LoadOp{"default", id});
    b.now_ms = 1LL << 42;
    auto out = store_->commit(lease_, b);
    EXPECT_TRUE(out.status.is_ok()) << out.status.to_string();
    return out.loads.at(0);
  }

  // Loads `id` in a batch of its own.
  LoadedInstance load(const std::string& id) {
    Batch b;
    b.loads.push_back(LoadOp{"default", id});
    b.now_ms = 1LL << 42;
    auto out = store_->commit(lease_, b);
    EXPECT_TRUE(out.status.is_ok()) << out.status.to_string();
    return out.loads.at(0);
  }

  TempDatabase db_;
  std::unique_ptr<PgStore> store_;
  Lease lease_;
};

TEST_P(StoreTest, BatchWithAStaleEpochIsRefusedAndChangesNothing) {
  Lease stale = lease_;
  stale.epoch -= 1;
  Batch b;
  b.starts.push_back(start("i1"));
  auto out = store_->commit(stale, b);
  EXPECT_EQ(out.status.code(), StatusCode::kLeaseLost) << out.status.to_string();
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_instances"), 0);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_inbox"), 0);
}

TEST_P(StoreTest, BatchOfAReplicaWhoseLeaseWasTakenOverIsRefused) {
  auto other = PgStore::open(StoreOptions{db_.url()});
  ASSERT_TRUE(other);
  {
    pqxx::connection c(db_.url());
    pqxx::work tx(c);
    tx.exec0("UPDATE baton_partitions SET lease_expires_at = now() - interval '1 second'");
    tx.commit();
  }
  auto taken = (*other)->recover("sched-b", 0);
  ASSERT_TRUE(taken);
  EXPECT_EQ(static_cast<int>(taken->lease.partitions.size()), kPartitionCount);

  Batch b;
  b.starts.push_back(start("i1"));
  auto out = store_->commit(lease_, b);
  EXPECT_EQ(out.status.code(), StatusCode::kLeaseLost);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_instances"), 0);

  auto ok = (*other)->commit(taken->lease, b);
  EXPECT_TRUE(ok.status.is_ok()) << ok.status.to_string();
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_instances"), 1);
}

TEST_P(StoreTest, StartRejectsADuplicateInstanceId) {
  Batch b;
  b.starts.push_back(start("dup"));
  b.starts.push_back(start("dup"));
  auto out = store_->commit(lease_, b);
  ASSERT_TRUE(out.status.is_ok());
  EXPECT_TRUE(out.starts[0].is_ok());
  EXPECT_EQ(out.starts[1].code(), StatusCode::kAlreadyExists);
  auto again = store_->commit(lease_, b);
  EXPECT_EQ(again.starts[0].code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_inbox"), 1);
}

TEST_P(StoreTest, StepCycleRecordsEachActivityResultExactlyOnce) {
  Batch b;
  b.starts.push_back(start("i1"));
  b.loads.push_back(LoadOp{"default", "i1"});
  b.now_ms = 1LL << 42;
  auto out = store_->commit(lease_, b);
  ASSERT_TRUE(out.status.is_ok()) << out.status.to_string();
  EXPECT_EQ(out.path, pipelined() ? BatchPath::kPipelined : BatchPath::kStepwise);
  const LoadedInstance& l = out.loads.at(0);
  ASSERT_TRUE(l.found);
  ASSERT_EQ(l.inbox.size(), 1u);
  EXPECT_EQ(l.inbox[0].event.type, EventType::kExecutionStarted);

  // The worker answers with one ScheduleTask.
  StepPlan plan = plan_step("default", "i1", l, 2000, 1);
  ASSERT_EQ(plan.kind, StepPlan::Kind::kWorker);
  const DispatchedStep& step = plan.step;
  Action a;
  a.type = ActionType::kScheduleTask;
  a.id = 0;
  a.name = "say_hello";
  a.input = "\xa5World";
  Batch s;
  OrchestrationResult r1;
  r1.actions = {a};
  s.steps.push_back(apply_actions(step, r1, 2000));
  auto so = store_->commit(lease_, s);
  ASSERT_TRUE(so.status.is_ok()) << so.status.to_string();
  ASSERT_TRUE(so.steps[0].is_ok());
  EXPECT_EQ(so.path, pipelined() ? BatchPath::kPipelined : BatchPath::kStepwise);
  ASSERT_EQ(so.step_tasks[0].size(), 1u);
  const TaskRow task = so.step_tasks[0][0];
  EXPECT_EQ(task.attempt, 1);
  // OrchestratorStarted, ExecutionStarted, TaskScheduled: the step's row.
  EXPECT_EQ(stored_history(db_.url()).size(), 3u);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_history"), 1);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_inbox"), 0);

  // The same step applied again (a duplicate delivery) is a conflict.
  auto dup = store_->commit(lease_, s);
  EXPECT_EQ(dup.steps[0].code(), StatusCode::kConflict);
  EXPECT_EQ(dup.path, pipelined() ? BatchPath::kRetried : BatchPath::kStepwise);
  EXPECT_EQ(stored_history(db_.url()).size(), 3u);

  // Re-dispatch bumps the attempt; the old attempt's result is then stale.
  Batch r;
  r.redispatches.push_back(RedispatchOp{task.id, 1});
  auto ro = store_->commit(lease_, r);
  ASSERT_TRUE(ro.redispatches[0].has_value());
  EXPECT_EQ(ro.redispatches[0]->attempt, 2);
  auto stale_redispatch = store_->commit(lease_, r);
  EXPECT_FALSE(stale_redispatch.redispatches[0].has_value());

  TaskResultOp res;
  res.task_id = task.id;
  res.attempt = 1;
  res.ns = "default";
  res.instance_id = "i1";
  res.event.type = EventType::kTaskCompleted;
  res.event.task_scheduled_id = 0;
  res.event.result = "\xa3hey";
  Batch t;
  t.task_results.push_back(res);
  const auto stale = store_->commit(lease_, t);
  EXPECT_FALSE(stale.task_results[0]) << "attempt 1 is stale";
  EXPECT_EQ(stale.path, pipelined() ? BatchPath::kRetried : BatchPath::kStepwise);
  t.task_results[0].attempt = 2;
  EXPECT_TRUE(store_->commit(lease_, t).task_results[0]);
  EXPECT_FALSE(store_->commit(lease_, t).task_results[0]) << "recorded once only";
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_inbox"), 1);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_tasks"), 0);

  // Completing the orchestration records the output and finishes the instance.
  LoadedInstance l2 = load("i1");
  ASSERT_EQ(l2.history.size(), 3u);
  ASSERT_EQ(l2.inbox.size(), 1u);
  StepPlan plan2 = plan_step("default", "i1", l2, 3000, 2);
  ASSERT_EQ(plan2.kind, StepPlan::Kind::kWorker);
  const DispatchedStep& step2 = plan2.step;
  Action done;
  done.type = ActionType::kCompleteOrchestration;
  done.id = 1;
  done.status = OrchestrationStatus::kCompleted;
  done.result = "\xa3hey";
  Batch c;
  OrchestrationResult r2;
  r2.actions = {done};
  c.steps.push_back(apply_actions(step2, r2, 3000));
  c.describes.push_back(DescribeOp{"default", "i1"});
  auto co = store_->commit(lease_, c);
  ASSERT_TRUE(co.steps[0].is_ok());
  EXPECT_EQ(co.path, pipelined() ? BatchPath::kPipelined : BatchPath::kStepwise);
  ASSERT_TRUE(co.describes[0].has_value());
  EXPECT_EQ(co.describes[0]->status, OrchestrationStatus::kCompleted);
  EXPECT_EQ(co.describes[0]->output, "\xa3hey");
  EXPECT_GT(co.describes[0]->completed_ms, 0);
  // seq is contiguous and the events are exactly the step's, in order.
  std::vector<int> types;
  int expected_seq = 0;
  for (const auto& e : stored_history(db_.url(), "instance_id = 'i1'")) {
    EXPECT_EQ(e.seq, expected_seq++);
    types.push_back(static_cast<int>(e.event.type));
  }
  auto ty = [](EventType e) { return static_cast<int>(e); };
  Batch h;
  h.histories.push_back(HistoryOp{"default", "i1"});
  h.histories.push_back(HistoryOp{"default", "nobody"});
  auto ho = store_->commit(lease_, h);
  ASSERT_TRUE(ho.status.is_ok());
  ASSERT_TRUE(ho.histories[0].has_value());
  ASSERT_EQ(ho.histories[0]->size(), 6u);
  EXPECT_EQ(ho.histories[0]->back().type, EventType::kExecutionCompleted);
  EXPECT_FALSE(ho.histories[1].has_value());
  EXPECT_EQ(types, (std::vector<int>{ty(EventType::kOrchestratorStarted),
                                     ty(EventType::kExecutionStarted), ty(EventType::kTaskScheduled),
                                     ty(EventType::kOrchestratorStarted),
                                     ty(EventType::kTaskCompleted),
                                     ty(EventType::kExecutionCompleted)}));
}

// PostgreSQL drops the store's connection between two batches (a restart,
// a killed backend). The next batch is not reported done unless it was
// committed; pipelined, it cannot know and says so (kUnavailable, nothing
// written). A store opened again, as the committer does after kUnavailable,
// commits the batches after it, pipelined again.
TEST_P(StoreTest, ABatchOnADroppedConnectionIsNeverReportedDoneAndTheNextReconnects) {
  Batch a;
  a.starts.push_back(start("a"));
  ASSERT_TRUE(store_->commit(lease_, a).starts.at(0).is_ok());
  {
    pqxx::connection c(db_.url());
    pqxx::nontransaction q(c);
    const auto killed = q.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    ASSERT_EQ(killed.size(), 1u);
  }
  Batch b;
  b.starts.push_back(start("b"));
  auto out = store_->commit(lease_, b);
  const int64_t b_rows =
      count(db_.url(), "SELECT count(*) FROM baton_instances WHERE instance_id = 'b'");
  if (pipelined()) {
    EXPECT_EQ(out.status.code(), StatusCode::kUnavailable) << out.status.to_string();
  }
  if (out.status.is_ok()) {
    EXPECT_TRUE(out.starts[0].is_ok());
    EXPECT_EQ(b_rows, 1);
  } else {
    EXPECT_EQ(b_rows, 0);
    auto reopened = open_store();
    ASSERT_TRUE(reopened) << reopened.status().to_string();
    store_ = std::move(reopened).value();
  }

  Batch c;
  c.starts.push_back(start("c"));
  c.loads.push_back(LoadOp{"default", "a"});
  c.now_ms = 1LL << 42;
  auto again = store_->commit(lease_, c);
  ASSERT_TRUE(again.status.is_ok()) << again.status.to_string();
  EXPECT_TRUE(again.starts[0].is_ok());
  EXPECT_TRUE(again.loads[0].found);
  // And the one after that goes pipelined again.
  Batch d;
  d.starts.push_back(start("d"));
  auto last = store_->commit(lease_, d);
  ASSERT_TRUE(last.status.is_ok()) << last.status.to_string();
  EXPECT_EQ(last.path, pipelined() ? BatchPath::kPipelined : BatchPath::kStepwise);
}

// A step's events are one history row (migration 0008), split when they
// pass 256 KiB; they load back one by one, in order, and admin verify checks
// that the rows tile the history.
TEST_P(StoreTest, AStepsEventsAreOneHistoryRowSplitPast256KiB) {
  Batch b;
  b.starts.push_back(start("big"));
  ASSERT_TRUE(store_->commit(lease_, b).starts.at(0).is_ok());
  LoadedInstance l = load("big");
  StepPlan plan = plan_step("default", "big", l, 2000, 1);
  ASSERT_EQ(plan.kind, StepPlan::Kind::kWorker);
  OrchestrationResult r;
  for (int i = 0; i < 5; ++i) {
    Action a;
    a.type = ActionType::kScheduleTask;
    a.id = i;
    a.name = "say_hello";
    a.input = std::string(100 * 1000, static_cast<char>('a' + i));
    r.actions.push_back(a);
  }
  Batch s;
  s.steps.push_back(apply_actions(plan.step, r, 2000));
  ASSERT_EQ(s.steps[0].events.size(), 7u);  // OrchestratorStarted, ExecutionStarted, 5 TaskScheduled
  auto so = store_->commit(lease_, s);
  ASSERT_TRUE(so.status.is_ok()) << so.status.to_string();
  ASSERT_TRUE(so.steps[0].is_ok()) << so.steps[0].to_string();

  // Rows of at most 256 KiB: 2 small events + 2 inputs, 2 inputs, 1 input.
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_history"), 3);
  EXPECT_EQ(count(db_.url(), "SELECT sum(events) FROM baton_history"), 7);
  const auto stored = stored_history(db_.url());
  ASSERT_EQ(stored.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(stored[i].seq, i);

  LoadedInstance again = load("big");
  ASSERT_EQ(again.history.size(), 7u);
  EXPECT_EQ(again.history_len, 7);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(again.history[2 + i].type, EventType::kTaskScheduled);
    EXPECT_EQ(again.history[2 + i].input, std::string(100 * 1000, static_cast<char>('a' + i)));
  }

  Batch v;
  v.verifies = 1;
  auto clean = store_->commit(lease_, v);
  ASSERT_TRUE(clean.status.is_ok());
  EXPECT_TRUE(clean.violations.empty()) << clean.violations.front();
  // A gap between two rows (the total still matches history_len) is found.
  {
    pqxx::connection c(db_.url());
    pqxx::work tx(c);
    tx.exec0("UPDATE baton_history SET seq = seq + 1 WHERE instance_id = 'big' AND seq > 0");
    tx.commit();
  }
  auto broken = store_->commit(lease_, v);
  ASSERT_TRUE(broken.status.is_ok());
  ASSERT_EQ(broken.violations.size(), 1u);
  EXPECT_NE(broken.violations[0].find("history of default/big is not contiguous"),
            std::string::npos);
}

// A pipelined batch whose expectation fails (one of its starts takes an id
// in use) leaves nothing of its own behind: the batch applied again
// statement by statement creates the new instance once, refuses the other
// and reads what it wrote.
TEST_P(StoreTest, ABatchWhoseExpectationFailsIsAppliedOnceStatementByStatement) {
  Batch first;
  first.starts.push_back(start("taken"));
  ASSERT_TRUE(store_->commit(lease_, first).starts.at(0).is_ok());

  Batch b;
  b.starts.push_back(start("new"));
  b.starts.push_back(start("taken"));
  b.loads.push_back(LoadOp{"default", "new"});
  b.describes.push_back(DescribeOp{"default", "taken"});
  b.now_ms = 1LL << 42;
  auto out = store_->commit(lease_, b);
  ASSERT_TRUE(out.status.is_ok()) << out.status.to_string();
  EXPECT_EQ(out.path, pipelined() ? BatchPath::kRetried : BatchPath::kStepwise);
  EXPECT_TRUE(out.starts[0].is_ok());
  EXPECT_EQ(out.starts[1].code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(out.loads[0].found);
  ASSERT_EQ(out.loads[0].inbox.size(), 1u);
  EXPECT_EQ(out.loads[0].inbox[0].event.type, EventType::kExecutionStarted);
  ASSERT_TRUE(out.describes[0].has_value());
  EXPECT_EQ(out.describes[0]->instance_id, "taken");
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_instances"), 2);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_inbox WHERE instance_id = 'new'"), 1);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_inbox WHERE instance_id = 'taken'"), 1);
}

// A batch too large to gain from one round trip (over 1,000 rows or 1 MiB
// of payloads) goes statement by statement: the pipelined SQL text would
// hold copies of every payload in the scheduler's memory.
TEST_P(StoreTest, ALargeBatchGoesStatementByStatement) {
  Batch small, large;
  for (int i = 0; i < 1001; ++i) large.starts.push_back(start("many-" + std::to_string(i)));
  small.starts.push_back(start("one"));
  small.starts.back().input.assign(2 << 20, 'x');
  for (Batch* b : {&large, &small}) {
    auto out = store_->commit(lease_, *b);
    ASSERT_TRUE(out.status.is_ok()) << out.status.to_string();
    EXPECT_EQ(out.path, BatchPath::kStepwise);
    for (const auto& st : out.starts) EXPECT_TRUE(st.is_ok()) << st.to_string();
  }
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_instances"), 1002);
}

// A start committed with its instance's first step (run before the start
// was committed): one transaction creates the instance and applies the step,
// with ExecutionStarted in history and never in the inbox. If the start does
// not create the instance (the id is taken), the step is refused with it.
TEST_P(StoreTest, AStartIsCommittedWithItsFirstStep) {
  auto first_step = [&](const std::string& id) {
    LoadedInstance fresh;
    fresh.found = true;
    fresh.name = "orch";
    fresh.task_queue = "default";
    HistoryEvent started;
    started.type = EventType::kExecutionStarted;
    started.timestamp_ms = 1000;
    started.name = "orch";
    started.input = "\xa5World";
    fresh.inbox.push_back(InboxEvent{0, started});
    StepPlan plan = plan_step("default", id, fresh, 1000, 1);
    EXPECT_EQ(plan.kind, StepPlan::Kind::kWorker);
    Action a;
    a.type = ActionType::kScheduleTask;
    a.id = 0;
    a.name = "say_hello";
    a.input = "\xa5World";
    OrchestrationResult r;
    r.actions = {a};
    StepOp op = apply_actions(plan.step, r, 1000);
    op.first_step = true;
    return op;
  };
  Batch b;
  b.starts.push_back(start("eager"));
  b.starts.back().with_first_step = true;
  b.steps.push_back(first_step("eager"));
  b.now_ms = 1000;
  auto out = store_->commit(lease_, b);
  ASSERT_TRUE(out.status.is_ok()) << out.status.to_string();
  EXPECT_EQ(out.path, pipelined() ? BatchPath::kPipelined : BatchPath::kStepwise);
  EXPECT_TRUE(out.starts[0].is_ok());
  ASSERT_TRUE(out.steps[0].is_ok()) << out.steps[0].to_string();
  EXPECT_EQ(out.step_tasks[0].size(), 1u);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_inbox"), 0);
  EXPECT_EQ(count_of(stored_history(db_.url()), EventType::kExecutionStarted), 1);
  EXPECT_EQ(count(db_.url(), "SELECT history_len FROM baton_instances"), 3);
  // Created RUNNING, the status its first step keeps: the step updated the
  // row in place (HOT), so each index holds only the insert's entry.
  EXPECT_EQ(count(db_.url(), "SELECT status FROM baton_instances"),
            static_cast<int>(OrchestrationStatus::kRunning));
  {
    pqxx::connection c(db_.url());
    pqxx::nontransaction(c).exec0("CREATE EXTENSION IF NOT EXISTS pageinspect");
  }
  for (const char* index : {"baton_instances_pkey", "baton_instances_status"}) {
    EXPECT_EQ(count(db_.url(), std::string("SELECT count(*) FROM bt_page_items('") + index +
                                   "', 1)"),
              1)
        << index;
  }

  // The id is taken now: the start is refused, and so is its step.
  Batch again;
  again.starts.push_back(start("eager"));
  again.starts.back().with_first_step = true;
  again.starts.back().idempotency_key = "another start";
  again.steps.push_back(first_step("eager"));
  again.now_ms = 2000;
  auto refused = store_->commit(lease_, again);
  ASSERT_TRUE(refused.status.is_ok()) << refused.status.to_string();
  EXPECT_EQ(refused.path, pipelined() ? BatchPath::kRetried : BatchPath::kStepwise);
  EXPECT_EQ(refused.starts[0].code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(refused.steps[0].code(), StatusCode::kConflict);
  EXPECT_TRUE(refused.step_tasks[0].empty());
  EXPECT_EQ(count(db_.url(), "SELECT history_len FROM baton_instances"), 3);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_tasks"), 1);
}

// An activity result folded into the next step (StepOp::results) is
// committed with it: the task row goes, the event lands in history, the inbox
// is never touched. A step whose folded result is stale is refused, and its
// still-pending results go to the inbox so none is lost.
TEST_P(StoreTest, ResultsFoldedIntoAStepAreRecordedWithItOrReturnToTheInbox) {
  // Two instances, each with one scheduled task.
  std::vector<TaskRow> tasks;
  std::vector<LoadedInstance> after_schedule;
  for (const std::string id : {"f1", "f2"}) {
    StepPlan plan = plan_step("default", id, started(id), 2000, 1);
    ASSERT_EQ(plan.kind, StepPlan::Kind::kWorker);
    Action a;
    a.type = ActionType::kScheduleTask;
    a.id = 0;
    a.name = "say_hello";
    OrchestrationResult r;
    r.actions = {a};
    Batch s;
    s.steps.push_back(apply_actions(plan.step, r, 2000));
    auto so = store_->commit(lease_, s);
    ASSERT_TRUE(so.steps.at(0).is_ok()) << so.steps[0].to_string();
    ASSERT_EQ(so.step_tasks[0].size(), 1u);
    tasks.push_back(so.step_tasks[0][0]);
    after_schedule.push_back(load(id));
  }
  auto folded_step = [&](std::size_t i, int32_t attempt) {
    TaskResultOp res;
    res.task_id = tasks[i].id;
    res.attempt = attempt;
    res.ns = "default";
    res.instance_id = tasks[i].instance_id;
    res.event.type = EventType::kTaskCompleted;
    res.event.task_scheduled_id = 0;
    res.event.result = "\xa3hey";
    LoadedInstance l = after_schedule[i];
    l.inbox = {InboxEvent{0, res.event}};  // from memory, never in the inbox
    StepPlan plan = plan_step("default", res.instance_id, l, 3000, 2);
    EXPECT_EQ(plan.kind, StepPlan::Kind::kWorker);
    Action done;
    done.type = ActionType::kCompleteOrchestration;
    done.id = 1;
    done.status = OrchestrationStatus::kCompleted;
    done.result = "\xa3hey";
    OrchestrationResult r;
    r.actions = {done};
    StepOp op = apply_actions(plan.step, r, 3000);
    op.results.push_back(res);
    return op;
  };
  Batch c;
  c.steps.push_back(folded_step(0, 1));  // current attempt
  c.steps.push_back(folded_step(1, 7));  // an attempt that does not exist
  auto co = store_->commit(lease_, c);
  ASSERT_TRUE(co.status.is_ok()) << co.status.to_string();
  EXPECT_TRUE(co.steps[0].is_ok()) << co.steps[0].to_string();
  EXPECT_EQ(co.steps[1].code(), StatusCode::kConflict);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_tasks WHERE instance_id = 'f1'"), 0);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_inbox"), 0);
  EXPECT_EQ(count(db_.url(), "SELECT status FROM baton_instances WHERE instance_id = 'f1'"),
            static_cast<int64_t>(OrchestrationStatus::kCompleted));
  EXPECT_EQ(count_of(stored_history(db_.url(), "instance_id = 'f1'"), EventType::kTaskCompleted),
            1);
  // f2: nothing changed, its task still waits for attempt 1.
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_tasks WHERE instance_id = 'f2'"), 1);
  EXPECT_EQ(count(db_.url(), "SELECT history_len FROM baton_instances WHERE instance_id = 'f2'"),
            after_schedule[1].history_len);

  // f2's step folds a valid result but is refused for its history: the
  // result, already taken from the task row, must wait in the inbox.
  StepOp stale = folded_step(1, 1);
  stale.expected_history_len -= 1;
  Batch d;
  d.steps.push_back(stale);
  auto dout = store_->commit(lease_, d);
  ASSERT_TRUE(dout.status.is_ok()) << dout.status.to_string();
  EXPECT_EQ(dout.steps[0].code(), StatusCode::kConflict);
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_tasks WHERE instance_id = 'f2'"), 0);
  const LoadedInstance l2 = load("f2");
  ASSERT_EQ(l2.inbox.size(), 1u);
  EXPECT_EQ(l2.inbox[0].event.type, EventType::kTaskCompleted);
  ASSERT_EQ(dout.notified.size(), 1u);
  EXPECT_EQ(dout.notified[0].instance_id, "f2");
}

// A task's retry policy and timeouts are stored with it (the fields at their
// defaults left out) and come back whole, as set or as defaults.
TEST_P(StoreTest, ATasksOptionsComeBackFromPostgreSQLAsScheduled) {
  StepPlan plan = plan_step("default", "opts", started("opts"), 2000, 1);
  ASSERT_EQ(plan.kind, StepPlan::Kind::kWorker);
  Action plain;
  plain.type = ActionType::kScheduleTask;
  plain.id = 0;
  plain.name = "plain";
  Action tuned = plain;
  tuned.id = 1;
  tuned.name = "tuned";
  tuned.retry.max_attempts = 4;
  tuned.retry.backoff_coefficient = 1.5;
  tuned.retry.non_retryable_error_types = {"Bad"};
  tuned.start_to_close_timeout_ms = 1234;
  tuned.heartbeat_timeout_ms = 567;
  tuned.schedule_to_start_timeout_ms = 89;
  OrchestrationResult r;
  r.actions = {plain, tuned};
  Batch s;
  s.steps.push_back(apply_actions(plan.step, r, 2000));
  auto so = store_->commit(lease_, s);
  ASSERT_TRUE(so.steps.at(0).is_ok()) << so.steps[0].to_string();
  EXPECT_EQ(count(db_.url(), "SELECT count(*) FROM baton_tasks WHERE name = 'plain' AND "
                             "options = '\\x80'::bytea"),
            1)
      << "an empty map: every option at its default";
  auto rec = store_->recover("sched-a", 0);
  ASSERT_TRUE(rec) << rec.status().to_string();
  ASSERT_EQ(rec->tasks.size(), 2u);
  for (const TaskRow& t : rec->tasks) {
    SCOPED_TRACE(t.name);
    const Action& a = t.name == "plain" ? plain : tuned;
    EXPECT_EQ(t.options.retry, a.retry);
    EXPECT_EQ(t.options.start_to_close_timeout_ms, a.start_to_close_timeout_ms);
    EXPECT_EQ(t.options.heartbeat_timeout_ms, a.heartbeat_timeout_ms);
    EXPECT_EQ(t.options.schedule_to_start_timeout_ms, a.schedule_to_start_timeout_ms);
  }
}

TEST_P(StoreTest, RecoveryBumpsAttemptsAndListsInstancesWithNewEvents) {
  Batch b;
  b.starts.push_back(start("i1"));  // visible at 1000 ms
  ASSERT_TRUE(store_->commit(lease_, b).status.is_ok());
  auto early = store_->recover("sched-a", 500);
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->instances_with_inbox.empty());
  ASSERT_EQ(early->timers.size(), 1u) << "a future inbox event is a timer to arm";
  EXPECT_EQ(early->timers[0].second, 1000);
  auto rec = store_->recover("sched-a", 2000);
  ASSERT_TRUE(rec);
  EXPECT_GT(rec->lease.epoch, early->lease.epoch);
  ASSERT_EQ(rec->instances_with_inbox.size(), 1u);
  EXPECT_EQ(rec->instances_with_inbox[0].instance_id, "i1");
  EXPECT_TRUE(rec->timers.empty());
  // The previous epoch is fenced out.
  Batch late;
  late.starts.push_back(start("i2"));
  EXPECT_EQ(store_->commit(lease_, late).status.code(), StatusCode::kLeaseLost);
}

INSTANTIATE_TEST_SUITE_P(Batches, StoreTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Pipelined" : "Stepwise";
                         });

}  // namespace
}  // namespace baton::scheduler
