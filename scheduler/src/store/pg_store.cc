#include "store/pg_store.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <unordered_map>
#include <utility>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "baton/wire.h"
#include "store/migrate.h"
#include "store/pg_connection.h"
#include "store/instance_key.h"
#include "store/pg_codec.h"

namespace baton::scheduler {
namespace {

using detail::PgArray;
using detail::PqField;
using detail::PqResult;

// Thrown inside a transaction to roll it back as kLeaseLost.
struct LeaseLostError {
  std::string message;
};

// The readers below take a row of pqxx's (statement by statement) or of
// libpq's (a pipelined batch), whose fields read alike but for bytea.
std::string bytes_of(const pqxx::field& f) {
  pqxx::binarystring b(f);
  return b.str();
}
std::string bytes_of(const PqField& f) { return f.bytes(); }

template <class Field>
int64_t ms_of(const Field& f) {
  return f.is_null() ? 0 : f.template as<int64_t>();
}

HistoryEvent decode_event(const std::string& bytes) {
  auto r = wire::decode<HistoryEvent>(bytes);
  if (!r) throw std::runtime_error("corrupt history event in database: " + r.status().message());
  return std::move(r).value();
}

// The events of a history row (migration 0008): `count` encodings back to
// back, appended to `out`.
template <class Field>
void decode_events(const Field& field, int count, std::vector<HistoryEvent>& out) {
  const Status st = wire::decode_sequence(bytes_of(field), static_cast<std::size_t>(count), out);
  if (!st.is_ok()) throw std::runtime_error("corrupt history row in database: " + st.message());
}

// Appends a row's `events` to `to`: moved when `last` (no other load or
// request of the batch asks for the same instance after it), else copied.
void append_events(std::vector<HistoryEvent>& to, std::vector<HistoryEvent>& events, bool last) {
  if (last) {
    to.insert(to.end(), std::make_move_iterator(events.begin()),
              std::make_move_iterator(events.end()));
  } else {
    to.insert(to.end(), events.begin(), events.end());
  }
}

FailureDetails decode_failure(const std::string& bytes) {
  if (bytes.empty()) return {};
  auto r = wire::decode<FailureDetails>(bytes);
  return r ? std::move(r).value() : FailureDetails{"Corrupt", "undecodable failure details", "", true};
}

// SQL of every prepared statement, by name.
#define BATON_TASK_COLUMNS                                                                   \
  "t.id, t.namespace, t.instance_id, t.task_queue, t.name, t.task_scheduled_id, t.input, " \
  "t.attempt, t.options, (extract(epoch FROM t.visible_at) * 1000)::bigint, "              \
  "(extract(epoch FROM t.first_scheduled_at) * 1000)::bigint, t.heartbeat_details"
// The columns instance_info_of reads, in its order: with the payloads
// (input, output, custom status), or with empty ones (listings).
#define BATON_INSTANCE_COLUMNS_WITH(payloads)                                         \
  "i.namespace, i.instance_id, i.name, i.status, i.task_queue, " payloads             \
  ", i.failure, (extract(epoch FROM i.created_at) * 1000)::bigint, "                  \
  "(extract(epoch FROM i.updated_at) * 1000)::bigint, "                               \
  "(extract(epoch FROM i.completed_at) * 1000)::bigint, i.parent_instance_id"
#define BATON_INSTANCE_COLUMNS BATON_INSTANCE_COLUMNS_WITH("i.input, i.output, i.custom_status")
const std::pair<const char*, const char*> kStatements[] = {
    {"fence",
     "SELECT partition FROM baton_partitions WHERE partition = ANY($1::int[]) AND owner = $2 "
     "AND epoch = $3 FOR SHARE"},
    {"renew",
     "UPDATE baton_partitions SET lease_expires_at = now() + $3::bigint * interval '1 millisecond' "
     "WHERE owner = $1 AND epoch = $2 RETURNING partition"},
    {"next_epoch", "SELECT nextval('baton_epoch_seq')"},
    {"release",
     "UPDATE baton_partitions SET owner = '', lease_expires_at = 'epoch' "
     "WHERE owner = $1 AND epoch = $2"},
    {"acquire",
     "UPDATE baton_partitions SET owner = $1, epoch = $2, "
     "lease_expires_at = now() + $3::bigint * interval '1 millisecond' "
     "WHERE owner = $1 OR owner = '' OR lease_expires_at < now() RETURNING partition"},
    // Recovery parks every task (with a new attempt: results of the old ones
    // are stale), then fetches what memory may hold.
    {"park_all",
     "UPDATE baton_tasks t SET attempt = attempt + 1, parked = true, lease_owner = $2, "
     "lease_expires_at = now() + $3::bigint * interval '1 millisecond' "
     "WHERE partition = ANY($1::int[])"},
    {"park_tasks", "UPDATE baton_tasks SET parked = true WHERE id = ANY($1::bigint[])"},
    {"fetch_parked",
     "UPDATE baton_tasks t SET parked = false, lease_owner = $3, "
     "lease_expires_at = now() + $4::bigint * interval '1 millisecond' "
     "WHERE t.id IN (SELECT id FROM baton_tasks WHERE parked AND partition = ANY($1::int[]) "
     "AND visible_at <= now() ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) "
     "RETURNING " BATON_TASK_COLUMNS},
    {"count_parked",
     "SELECT count(*) FROM baton_tasks WHERE parked AND partition = ANY($1::int[])"},
    {"recover_inbox",
     "SELECT DISTINCT namespace, instance_id FROM baton_inbox WHERE partition = ANY($1::int[]) "
     "AND visible_at <= to_timestamp($2::bigint / 1000.0)"},
    {"recover_timers",
     "SELECT namespace, instance_id, (extract(epoch FROM min(visible_at)) * 1000)::bigint "
     "FROM baton_inbox WHERE partition = ANY($1::int[]) "
     "AND visible_at > to_timestamp($2::bigint / 1000.0) GROUP BY namespace, instance_id"},
    {"insert_instances",
     "INSERT INTO baton_instances (namespace, instance_id, partition, name, task_queue, status, "
     "input, parent_instance_id, parent_event_id, created_at, updated_at, idempotency_key) "
     "SELECT u.ns, u.id, u.part, u.name, u.tq, u.status, decode(u.input, 'hex'), u.parent, "
     "u.pev, to_timestamp(u.ms / 1000.0), to_timestamp(u.ms / 1000.0), u.ikey "
     "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], "
     "$7::text[], $8::bigint[], $9::int[], $10::text[], $11::smallint[]) "
     "AS u(ns, id, part, name, tq, input, parent, ms, pev, ikey, status) "
     "ON CONFLICT DO NOTHING RETURNING namespace, instance_id"},
    // A sub-orchestration may take the id of a finished instance (Temporal's
    // default id reuse): the row starts a new execution, its history goes on.
    {"insert_children",
     "INSERT INTO baton_instances (namespace, instance_id, partition, name, task_queue, status, "
     "input, parent_instance_id, parent_event_id, created_at, updated_at, idempotency_key) "
     "SELECT u.ns, u.id, u.part, u.name, u.tq, u.status, decode(u.input, 'hex'), u.parent, "
     "u.pev, to_timestamp(u.ms / 1000.0), to_timestamp(u.ms / 1000.0), u.ikey "
     "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], "
     "$7::text[], $8::bigint[], $9::int[], $10::text[], $11::smallint[]) "
     "AS u(ns, id, part, name, tq, input, parent, ms, pev, ikey, status) "
     "ON CONFLICT (namespace, instance_id) DO UPDATE SET name = EXCLUDED.name, "
     "idempotency_key = EXCLUDED.idempotency_key, "
     "task_queue = EXCLUDED.task_queue, status = EXCLUDED.status, input = EXCLUDED.input, "
     "output = '', "
     "custom_status = '', failure = '', parent_instance_id = EXCLUDED.parent_instance_id, "
     "parent_event_id = EXCLUDED.parent_event_id, "
     "execution_start_seq = baton_instances.history_len, created_at = EXCLUDED.created_at, "
     "updated_at = EXCLUDED.updated_at, completed_at = NULL "
     "WHERE baton_instances.status IN (2, 3, 4) RETURNING namespace, instance_id"},
    {"existing_instances",
     "SELECT i.namespace, i.instance_id, i.idempotency_key, i.status "
     "FROM baton_instances i JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON i.namespace = u.ns AND i.instance_id = u.id"},
    // Terminates running instances so a start can take their id: records
    // ExecutionTerminated (event $3, type 3) and finishes the execution.
    {"terminate_for_reuse",
     "WITH t AS (UPDATE baton_instances i SET status = 4, history_len = i.history_len + 1, "
     "updated_at = now(), completed_at = now() "
     "FROM unnest($1::text[], $2::text[]) AS u(ns, id) "
     "WHERE i.namespace = u.ns AND i.instance_id = u.id AND i.status NOT IN (2, 3, 4) "
     "RETURNING i.namespace, i.instance_id, i.history_len - 1 AS seq) "
     "INSERT INTO baton_history (namespace, instance_id, seq, event_type, event) "
     "SELECT t.namespace, t.instance_id, t.seq, 3, decode($3, 'hex') FROM t "
     "RETURNING namespace, instance_id"},
    {"inbox_targets",
     "SELECT u.ord, i.status FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(ns, id, ord) "
     "LEFT JOIN baton_instances i ON i.namespace = u.ns AND i.instance_id = u.id ORDER BY u.ord"},
    {"insert_inbox",
     "INSERT INTO baton_inbox (namespace, instance_id, partition, event, event_type, visible_at) "
     "SELECT u.ns, u.id, u.part, decode(u.ev, 'hex'), u.type, to_timestamp(u.ms / 1000.0) "
     "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::smallint[], $6::bigint[]) "
     "AS u(ns, id, part, ev, type, ms)"},
    {"delete_tasks",
     "DELETE FROM baton_tasks t USING unnest($1::bigint[], $2::int[]) AS u(id, attempt) "
     "WHERE t.id = u.id AND t.attempt = u.attempt RETURNING t.id"},
    {"apply_steps",
     "UPDATE baton_instances i SET history_len = u.new_len, status = u.status, "
     "output = decode(u.output, 'hex'), failure = decode(u.failure, 'hex'), "
     "custom_status = CASE WHEN u.has_cs THEN decode(u.cs, 'hex') ELSE i.custom_status END, "
     "updated_at = to_timestamp(u.ms / 1000.0), "
     "completed_at = CASE WHEN u.terminal THEN to_timestamp(u.ms / 1000.0) ELSE NULL END "
     "FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::smallint[], $6::text[], "
     "$7::text[], $8::bigint[], $9::bool[], $10::bool[], $11::text[]) "
     "AS u(ns, id, expected, new_len, status, output, failure, ms, terminal, has_cs, cs) "
     "WHERE i.namespace = u.ns AND i.instance_id = u.id AND i.history_len = u.expected "
     "RETURNING i.namespace, i.instance_id, i.parent_instance_id, i.parent_event_id, u.terminal"},
    {"continue_instances",
     "UPDATE baton_instances i SET execution_start_seq = i.history_len, "
     "input = decode(u.input, 'hex') "
     "FROM unnest($1::text[], $2::text[], $3::text[]) AS u(ns, id, input) "
     "WHERE i.namespace = u.ns AND i.instance_id = u.id"},
    {"continue_instances_inbox",
     "DELETE FROM baton_inbox b USING unnest($1::text[], $2::text[]) AS u(ns, id) "
     "WHERE b.namespace = u.ns AND b.instance_id = u.id AND b.event_type <> 9"},
    // A row per step (or per 256 KiB of its events): `events` events from
    // `seq`, encoded back to back (migration 0008).
    {"insert_history",
     "INSERT INTO baton_history (namespace, instance_id, seq, event_type, event, events) "
     "SELECT u.ns, u.id, u.seq, u.type, decode(u.ev, 'hex'), u.n "
     "FROM unnest($1::text[], $2::text[], $3::int[], $4::smallint[], $5::text[], $6::int[]) "
     "AS u(ns, id, seq, type, ev, n)"},
    {"delete_inbox", "DELETE FROM baton_inbox WHERE id = ANY($1::bigint[])"},
    {"insert_tasks",
     "INSERT INTO baton_tasks (namespace, instance_id, partition, task_queue, name, "
     "task_scheduled_id, input, options, attempt, lease_owner, lease_expires_at, visible_at, "
     "first_scheduled_at) "
     "SELECT u.ns, u.id, u.part, u.tq, u.name, u.tsid, decode(u.input, 'hex'), "
     "decode(u.opts, 'hex'), 1, $9, now() + $10::bigint * interval '1 millisecond', "
     "to_timestamp($11::bigint / 1000.0), to_timestamp($11::bigint / 1000.0) "
     "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], "
     "$6::int[], $7::text[], $8::text[]) AS u(ns, id, part, tq, name, tsid, input, opts) "
     "RETURNING id, namespace, instance_id, task_scheduled_id"},
    {"finish_instances_tasks",
     "DELETE FROM baton_tasks t USING unnest($1::text[], $2::text[]) AS u(ns, id) "
     "WHERE t.namespace = u.ns AND t.instance_id = u.id"},
    {"finish_instances_inbox",
     "DELETE FROM baton_inbox b USING unnest($1::text[], $2::text[]) AS u(ns, id) "
     "WHERE b.namespace = u.ns AND b.instance_id = u.id"},
    {"terminate_children",
     "INSERT INTO baton_inbox (namespace, instance_id, partition, event, event_type) "
     "SELECT c.namespace, c.instance_id, c.partition, decode($3, 'hex'), 3 "
     "FROM baton_instances c JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON c.namespace = u.ns AND c.parent_instance_id = u.id "
     "WHERE c.status NOT IN (2, 3, 4) RETURNING namespace, instance_id"},
    {"redispatch",
     "UPDATE baton_tasks t SET attempt = t.attempt + 1, lease_owner = $3, "
     "lease_expires_at = now() + $4::bigint * interval '1 millisecond' "
     "FROM unnest($1::bigint[], $2::int[]) AS u(id, attempt) "
     "WHERE t.id = u.id AND t.attempt = u.attempt RETURNING " BATON_TASK_COLUMNS},
    {"retry",
     "UPDATE baton_tasks t SET attempt = t.attempt + 1, lease_owner = $5, "
     "visible_at = to_timestamp(u.ms / 1000.0), heartbeat_details = decode(u.hb, 'hex'), "
     "lease_expires_at = to_timestamp(u.ms / 1000.0) + $6::bigint * interval '1 millisecond' "
     "FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[]) AS u(id, attempt, ms, hb) "
     "WHERE t.id = u.id AND t.attempt = u.attempt RETURNING " BATON_TASK_COLUMNS},
    {"load_instances",
     "SELECT i.namespace, i.instance_id, i.name, i.task_queue, i.status, i.history_len "
     "FROM baton_instances i JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON i.namespace = u.ns AND i.instance_id = u.id"},
    {"load_history",
     "SELECT h.namespace, h.instance_id, h.event, h.events FROM baton_history h "
     "JOIN baton_instances i ON i.namespace = h.namespace AND i.instance_id = h.instance_id "
     "JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON h.namespace = u.ns AND h.instance_id = u.id "
     "WHERE h.seq >= i.execution_start_seq ORDER BY h.namespace, h.instance_id, h.seq"},
    {"load_inbox",
     "SELECT b.id, b.namespace, b.instance_id, b.event FROM baton_inbox b "
     "JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON b.namespace = u.ns AND b.instance_id = u.id "
     "WHERE b.visible_at <= to_timestamp($3::bigint / 1000.0) ORDER BY b.id"},
    {"history_all",
     "SELECT h.namespace, h.instance_id, h.event, h.events FROM baton_history h "
     "JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON h.namespace = u.ns AND h.instance_id = u.id ORDER BY h.namespace, h.instance_id, h.seq"},
    {"verify",
     "SELECT 'task ' || t.id || ' belongs to ' || "
     "CASE WHEN i.instance_id IS NULL THEN 'no instance' ELSE 'finished instance' END || ' ' || "
     "t.namespace || '/' || t.instance_id FROM baton_tasks t LEFT JOIN baton_instances i "
     "ON i.namespace = t.namespace AND i.instance_id = t.instance_id "
     "WHERE i.instance_id IS NULL OR i.status IN (2, 3, 4) "
     "UNION ALL SELECT 'history of ' || h.namespace || '/' || h.instance_id || "
     "' is not contiguous from seq 0 or does not match history_len' FROM "
     "(SELECT namespace, instance_id, sum(events) AS n, count(*) FILTER (WHERE seq <> prev_end) "
     "AS gaps FROM (SELECT namespace, instance_id, seq, events, coalesce(lag(seq + events) "
     "OVER (PARTITION BY namespace, instance_id ORDER BY seq), 0) AS prev_end "
     "FROM baton_history) x GROUP BY namespace, instance_id) h JOIN baton_instances i "
     "ON i.namespace = h.namespace AND i.instance_id = h.instance_id "
     "WHERE h.gaps > 0 OR i.history_len <> h.n "
     "UNION ALL SELECT 'finished instance ' || b.namespace || '/' || b.instance_id || "
     "' has pending inbox event ' || b.id FROM baton_inbox b JOIN baton_instances i "
     "ON i.namespace = b.namespace AND i.instance_id = b.instance_id WHERE i.status IN (2, 3, 4) "
     "UNION ALL SELECT 'task ' || t.id || ' is leased by unknown owner ' || t.lease_owner || "
     "' past its expiry' FROM baton_tasks t WHERE t.lease_expires_at < now() "
     "AND NOT EXISTS (SELECT 1 FROM baton_partitions p WHERE p.owner = t.lease_owner) "
     "LIMIT 1000"},
    // A page of a namespace's instances, in (created_at, instance_id) order,
    // after the continuation point ($8, $9) if any; payloads left out.
    // `created_at IS NOT NULL` (always true) lets the listing indexes serve
    // (partial on it, migration 0007), here and in purge_filter.
    {"list",
     "SELECT " BATON_INSTANCE_COLUMNS_WITH("''::bytea, ''::bytea, ''::bytea")
     ", i.created_at::text "
     "FROM baton_instances i WHERE i.namespace = $1 AND i.created_at IS NOT NULL "
     "AND (cardinality($2::smallint[]) = 0 OR i.status = ANY($2::smallint[])) "
     "AND ($3 = '' OR i.name = $3) "
     "AND ($4 = '' OR left(i.instance_id, length($4)) = $4) "
     "AND ($5 = '' OR i.task_queue = $5) "
     "AND ($6::bigint = 0 OR i.created_at >= to_timestamp($6::bigint / 1000.0)) "
     "AND ($7::bigint = 0 OR i.created_at < to_timestamp($7::bigint / 1000.0)) "
     "AND ($8 = '' OR (i.created_at, i.instance_id) > ($8::timestamptz, $9)) "
     "ORDER BY i.created_at, i.instance_id LIMIT $10"},
    // Purge: the instances to delete (finished ones matching a filter, or
    // one id and, recursively, its descendants), then their rows.
    {"purge_filter",
     "SELECT i.namespace, i.instance_id FROM baton_instances i WHERE i.namespace = $1 "
     "AND i.created_at IS NOT NULL AND i.status = ANY($2::smallint[]) "
     "AND ($3::bigint = 0 OR i.created_at >= to_timestamp($3::bigint / 1000.0)) "
     "AND ($4::bigint = 0 OR i.created_at < to_timestamp($4::bigint / 1000.0)) FOR UPDATE"},
    {"purge_tree",
     "WITH RECURSIVE tree(ns, id, depth) AS (SELECT $1::text, $2::text, 0 UNION ALL "
     "SELECT c.namespace, c.instance_id, t.depth + 1 FROM baton_instances c JOIN tree t "
     "ON c.namespace = t.ns AND c.parent_instance_id = t.id WHERE $3 AND t.depth < 100) "
     "SELECT i.namespace, i.instance_id, i.status FROM tree t JOIN baton_instances i "
     "ON i.namespace = t.ns AND i.instance_id = t.id FOR UPDATE OF i"},
    {"purge_instances",
     "WITH u AS (SELECT * FROM unnest($1::text[], $2::text[]) AS u(ns, id)), "
     "h AS (DELETE FROM baton_history x USING u WHERE x.namespace = u.ns AND x.instance_id = u.id), "
     "b AS (DELETE FROM baton_inbox x USING u WHERE x.namespace = u.ns AND x.instance_id = u.id), "
     "t AS (DELETE FROM baton_tasks x USING u WHERE x.namespace = u.ns AND x.instance_id = u.id) "
     "DELETE FROM baton_instances x USING u WHERE x.namespace = u.ns AND x.instance_id = u.id "
     "AND x.status IN (2, 3, 4) RETURNING x.instance_id"},
    {"describe",
     "SELECT " BATON_INSTANCE_COLUMNS " "
     "FROM baton_instances i JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON i.namespace = u.ns AND i.instance_id = u.id"},
};
#undef BATON_TASK_COLUMNS

// The statements whose outcome a pipelined batch depends on, each as
// "<name>_expect": the statement in a CTE `r`, then baton_expect of a
// condition over its rows (migration 0006). The condition's $n follow the
// statement's own parameters.
struct Expectation {
  const char* name;
  const char* condition;
  const char* what;
};
const Expectation kExpectations[] = {
    {"fence", "count(*) = $4", "partitions are ours"},
    {"renew", "count(*) = $4", "lease renewed"},
    {"insert_instances", "count(*) = $12", "every start creates its instance"},
    {"delete_tasks", "count(*) = $3", "every result is pending"},
    {"apply_steps",
     "count(*) = $12 AND bool_and(NOT r.terminal OR coalesce(r.parent_instance_id, '') = '')",
     "every step applies and none ends a sub-orchestration"},
};

std::string expect_sql(const Expectation& e) {
  for (const auto& [name, sql] : kStatements) {
    if (std::string_view(name) == e.name) {
      return std::string("WITH r AS (") + sql + ") SELECT baton_expect(" + e.condition + ", '" +
             e.what + "') FROM r";
    }
  }
  throw std::logic_error(std::string("no statement for expectation ") + e.name);
}

// kPipelinedPlanSettings as a prepared statement: parsed once per
// connection, not in every batch (sent as SQL, it took 80-90 us of a chain
// batch's ~1.5 ms of statements in PostgreSQL, most of it parsing).
constexpr const char* kPlanSettingsStatement = "pipelined_plan_settings";

// The statements a pipelined batch runs, all on their generic plans
// (kPipelinedPlanSettings): planned once per connection, not per batch.
const char* const kPipelinedStatements[] = {
    "fence_expect",           "renew_expect",           "insert_instances_expect",
    "delete_tasks_expect",    "insert_inbox",           "insert_history",
    "delete_inbox",           "insert_tasks",           "apply_steps_expect",
    "finish_instances_tasks", "finish_instances_inbox", "load_instances",
    "load_history",           "load_inbox",             "describe",
};

// A row of BATON_INSTANCE_COLUMNS.
template <class Row>
InstanceInfo instance_info_of(const Row& row) {
  InstanceInfo info;
  info.ns = row[0].c_str();
  info.instance_id = row[1].c_str();
  info.name = row[2].c_str();
  info.status = static_cast<OrchestrationStatus>(row[3].template as<int>());
  info.task_queue = row[4].c_str();
  info.input = bytes_of(row[5]);
  info.output = bytes_of(row[6]);
  info.custom_status = bytes_of(row[7]);
  info.failure = decode_failure(bytes_of(row[8]));
  info.created_ms = ms_of(row[9]);
  info.updated_ms = ms_of(row[10]);
  info.completed_ms = ms_of(row[11]);
  info.parent_instance_id = row[12].c_str();
  return info;
}

TaskRow task_row_of(const pqxx::row& r) {
  TaskRow t;
  t.id = r[0].as<int64_t>();
  t.ns = r[1].c_str();
  t.instance_id = r[2].c_str();
  t.task_queue = r[3].c_str();
  t.name = r[4].c_str();
  t.task_scheduled_id = r[5].as<int32_t>();
  t.input = bytes_of(r[6]);
  t.attempt = r[7].as<int32_t>();
  const std::string options = bytes_of(r[8]);
  if (!options.empty()) {
    auto o = wire::decode<TaskOptions>(options);
    if (o) t.options = std::move(o).value();
  }
  t.visible_at_ms = ms_of(r[9]);
  t.first_scheduled_ms = ms_of(r[10]);
  t.heartbeat_details = bytes_of(r[11]);
  return t;
}

}  // namespace

PgStore::PgStore(StoreOptions options, std::unique_ptr<detail::PgConnection> conn)
    : options_(std::move(options)), conn_(std::move(conn)) {}

PgStore::~PgStore() = default;

Result<std::unique_ptr<PgStore>> PgStore::open(StoreOptions options) {
  try {
    auto conn = std::make_unique<detail::PgConnection>(options.url);
    auto version = schema_version(*conn);
    if (!version) return version.status();
    if (*version != latest_schema_version()) {
      return Status(StatusCode::kFailedPrecondition,
                    "database schema is at version " + std::to_string(*version) +
                        " but this binary needs " + std::to_string(latest_schema_version()) +
                        (*version < latest_schema_version()
                             ? "; run `baton-scheduler migrate --db URL`"
                             : "; upgrade baton-scheduler"));
    }
    std::unique_ptr<PgStore> store(new PgStore(std::move(options), std::move(conn)));
    store->prepare();
    return store;
  } catch (const std::exception& e) {
    return unavailable(std::string("cannot open database: ") + e.what());
  }
}

void PgStore::prepare() {
  // A generic plan is fixed after a few executions, typically while the
  // tables are still small: hash joins over sequential scans that get slower
  // as history grows. Custom plans see the real array sizes of `unnest($n)`
  // and keep using the primary keys. (A pipelined batch asks for generic
  // plans under kPipelinedPlanSettings, which rule those joins out.)
  pqxx::nontransaction setup(*conn_);
  setup.exec0("SET plan_cache_mode = force_custom_plan");
  // A scheduler that hangs (SIGSTOP, a VM pause) in the middle of a
  // transaction keeps its row locks, which would block the standby taking
  // over the expired partitions. PostgreSQL ends such a transaction once it
  // has been idle for a partition lease: by then the lease is lost anyway.
  setup.exec_params("SELECT set_config('idle_in_transaction_session_timeout', $1, false)",
                    std::to_string(options_.partition_lease.count()) + "ms");
  for (const auto& [name, sql] : kStatements) conn_->prepare(name, sql);
  conn_->prepare(kPlanSettingsStatement, kPipelinedPlanSettings);
  for (const auto& e : kExpectations) conn_->prepare(std::string(e.name) + "_expect", expect_sql(e));
}

const char* const kPipelinedPlanSettings =
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), "
    "set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), "
    "set_config('enable_mergejoin', 'off', true), set_config('jit', 'off', true)";

std::vector<std::pair<std::string, std::string>> pipelined_statements() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const char* name : kPipelinedStatements) {
    for (const auto& [n, sql] : kStatements) {
      if (std::string_view(n) == name) out.emplace_back(name, sql);
    }
    for (const auto& e : kExpectations) {
      if (std::string(e.name) + "_expect" == name) out.emplace_back(name, expect_sql(e));
    }
  }
  return out;
}

Status PgStore::release(const Lease& lease) {
  try {
    pqxx::work txn(*conn_);
    const auto r = txn.exec_prepared("release", lease.owner, lease.epoch);
    txn.commit();
    if (r.affected_rows() != lease.partitions.size()) {
      return lease_lost("released " + std::to_string(r.affected_rows()) + " of " +
                        std::to_string(lease.partitions.size()) + " partitions");
    }
    return Status::ok();
  } catch (const std::exception& e) {
    return unavailable(std::string("lease release failed: ") + e.what());
  }
}

Result<Recovery> PgStore::recover(const std::string& owner, int64_t now_ms,
                                   std::size_t max_tasks) {
  try {
    pqxx::work txn(*conn_);
    Recovery rec;
    rec.lease.owner = owner;
    rec.lease.epoch = txn.exec_prepared1("next_epoch")[0].as<int64_t>();
    for (const auto& row : txn.exec_prepared("acquire", owner, rec.lease.epoch,
                                             static_cast<int64_t>(options_.partition_lease.count()))) {
      rec.lease.partitions.push_back(row[0].as<int>());
    }
    PgArray parts;
    for (int p : rec.lease.partitions) parts.integer(p);
    const auto lease_ms = static_cast<int64_t>(options_.activity_lease.count());
    txn.exec_prepared0("park_all", parts.str(), owner, lease_ms);
    for (const auto& row : txn.exec_prepared("fetch_parked", parts.str(),
                                             static_cast<int64_t>(max_tasks), owner, lease_ms)) {
      rec.tasks.push_back(task_row_of(row));
    }
    rec.parked = txn.exec_prepared1("count_parked", parts.str())[0].as<int64_t>();
    for (const auto& row : txn.exec_prepared("recover_inbox", parts.str(), now_ms)) {
      rec.instances_with_inbox.push_back(LoadOp{row[0].c_str(), row[1].c_str()});
    }
    for (const auto& row : txn.exec_prepared("recover_timers", parts.str(), now_ms)) {
      rec.timers.emplace_back(LoadOp{row[0].c_str(), row[1].c_str()}, row[2].as<int64_t>());
    }
    txn.commit();
    return rec;
  } catch (const std::exception& e) {
    return unavailable(std::string("recovery failed: ") + e.what());
  }
}

namespace {

// Rows for the inbox, inserted with one statement per flush.
class InboxRows {
 public:
  void add(const std::string& ns, const std::string& id, const HistoryEvent& ev,
           int64_t visible_ms) {
    ns_.text(ns);
    id_.text(id);
    part_.integer(partition_of(ns, id));
    ev_.hex(wire::encode(ev));
    type_.integer(static_cast<int64_t>(ev.type));
    ms_.integer(visible_ms);
  }
  bool empty() const { return ns_.size() == 0; }
  // insert_inbox's arguments; the rows are then cleared.
  std::vector<std::string> take() {
    std::vector<std::string> args{ns_.str(), id_.str(), part_.str(), ev_.str(), type_.str(),
                                  ms_.str()};
    *this = InboxRows();
    return args;
  }
  void flush(pqxx::work& txn) {
    if (empty()) return;
    txn.exec_prepared("insert_inbox", pqxx::prepare::make_dynamic_params(take()));
  }

 private:
  PgArray ns_, id_, part_, ev_, type_, ms_;
};

// The partitions a batch writes. Writes that reach other instances
// (children, parents, event targets) or tasks by id take them all.
std::set<int> partitions_written(const Lease& lease, const Batch& batch) {
  std::set<int> touched;
  bool everything = !batch.redispatches.empty() || !batch.retries.empty() ||
                    !batch.park_tasks.empty() || batch.fetch_tasks > 0 || !batch.purges.empty();
  for (const auto& s : batch.starts) touched.insert(partition_of(s.ns, s.instance_id));
  for (const auto& i : batch.inbox) touched.insert(partition_of(i.ns, i.instance_id));
  for (const auto& r : batch.task_results) touched.insert(partition_of(r.ns, r.instance_id));
  for (const auto& s : batch.steps) {
    touched.insert(partition_of(s.ns, s.instance_id));
    everything |= is_terminal(s.status) || !s.children.empty() || !s.sends.empty();
  }
  if (everything) touched.insert(lease.partitions.begin(), lease.partitions.end());
  return touched;
}

std::string int_array(const std::set<int>& values) {
  PgArray a;
  for (int v : values) a.integer(v);
  return a.str();
}

// insert_instances' (or insert_children's) arguments for `rows`, but for
// those marked in `skip`. A start whose first step is in the same batch is
// created RUNNING, the status that step keeps or changes: then a step that
// keeps it leaves every indexed column as it is, and PostgreSQL updates the
// row in place (HOT) instead of adding an entry to each of its indexes.
std::vector<std::string> instance_args(const std::vector<const StartOp*>& rows,
                                       const std::vector<bool>& skip) {
  PgArray ns, id, part, name, tq, input, parent, ms, pev, ikey, status;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (skip[i]) continue;
    const StartOp& s = *rows[i];
    ns.text(s.ns);
    id.text(s.instance_id);
    part.integer(partition_of(s.ns, s.instance_id));
    name.text(s.name);
    tq.text(s.task_queue);
    input.hex(s.input);
    parent.text(s.parent_instance_id);
    ms.integer(s.now_ms);
    pev.integer(s.parent_event_id);
    ikey.text(s.idempotency_key);
    status.integer(static_cast<int>(s.with_first_step ? OrchestrationStatus::kRunning
                                                      : OrchestrationStatus::kPending));
  }
  return {ns.str(),    id.str(),     part.str(), name.str(), tq.str(),   input.str(),
          parent.str(), ms.str(),    pev.str(),  ikey.str(), status.str()};
}

// A created instance's ExecutionStarted, into its inbox (at its start time
// when delayed, with a timer for it); none when its first step, in the same
// batch, records it.
void add_started(InboxRows& inbox, const StartOp& s, BatchOutcome& out) {
  if (s.with_first_step) return;
  const HistoryEvent ev = execution_started_of(s);
  if (s.start_at_ms > s.now_ms) {
    inbox.add(s.ns, s.instance_id, ev, s.start_at_ms);
    out.timers.emplace_back(LoadOp{s.ns, s.instance_id}, s.start_at_ms);
  } else {
    inbox.add(s.ns, s.instance_id, ev, s.now_ms);
  }
}

// An applied step's durable timers: TimerFired into its inbox, visible when
// due, and the (instance, due) pairs the scheduler waits for.
void add_timers(InboxRows& inbox, const StepOp& s, BatchOutcome& out) {
  for (const auto& t : s.timers) {
    inbox.add(s.ns, s.instance_id, t.fired, t.fire_at_ms);
    out.timers.emplace_back(LoadOp{s.ns, s.instance_id}, t.fire_at_ms);
  }
}

// delete_tasks' arguments: the task rows of results bound for the inbox and
// of results folded into steps; `count` is set to how many.
std::vector<std::string> result_task_args(const Batch& batch, std::size_t& count) {
  PgArray ids, attempts;
  auto add = [&](const TaskResultOp& r) {
    ids.integer(r.task_id);
    attempts.integer(r.attempt);
  };
  for (const auto& r : batch.task_results) add(r);
  for (const auto& s : batch.steps) {
    for (const auto& r : s.results) add(r);
  }
  count = ids.size();
  return {ids.str(), attempts.str()};
}

// apply_steps' arguments for the steps marked in `include`.
std::vector<std::string> step_args(const std::vector<StepOp>& steps,
                                   const std::vector<bool>& include) {
  PgArray ns, id, expected, new_len, status, output, failure, ms, term, has_cs, cs;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!include[i]) continue;
    const auto& s = steps[i];
    ns.text(s.ns);
    id.text(s.instance_id);
    expected.integer(s.expected_history_len);
    new_len.integer(s.expected_history_len + static_cast<int64_t>(s.events.size()));
    status.integer(static_cast<int64_t>(s.status));
    output.hex(s.output);
    failure.hex(s.failure.error_type.empty() && s.failure.message.empty() ? std::string()
                                                                          : wire::encode(s.failure));
    ms.integer(s.now_ms);
    term.boolean(is_terminal(s.status));
    has_cs.boolean(s.has_custom_status);
    cs.hex(s.custom_status);
  }
  return {ns.str(),     id.str(), expected.str(), new_len.str(), status.str(), output.str(),
          failure.str(), ms.str(), term.str(),     has_cs.str(),  cs.str()};
}

// What an applied step writes besides its instance row: history, consumed
// inbox rows, and for a finished instance the end of its tasks and inbox.
struct StepRows {
  // A history row holds at most this many bytes of events, unless one
  // event alone is larger.
  static constexpr std::size_t kMaxRowBytes = 256 * 1024;

  PgArray h_ns, h_id, h_seq, h_type, h_ev, h_n, consumed, fin_ns, fin_id;

  void add(const StepOp& s) {
    int32_t seq = s.expected_history_len;
    std::string row;
    int32_t first = seq, n = 0;
    EventType type{};
    auto flush = [&] {
      if (n == 0) return;
      h_ns.text(s.ns);
      h_id.text(s.instance_id);
      h_seq.integer(first);
      h_type.integer(static_cast<int64_t>(type));
      h_ev.hex(row);
      h_n.integer(n);
      row.clear();
      first = seq;
      n = 0;
    };
    for (const auto& ev : s.events) {
      std::string bytes = wire::encode(ev);
      if (n > 0 && row.size() + bytes.size() > kMaxRowBytes) flush();
      if (n == 0) type = ev.type;
      row += bytes;
      ++n;
      ++seq;
    }
    flush();
    for (int64_t c : s.consumed_inbox_ids) {
      if (c > 0) consumed.integer(c);  // 0: an event that never was in the inbox
    }
    if (is_terminal(s.status)) {
      fin_ns.text(s.ns);
      fin_id.text(s.instance_id);
    }
  }
  std::vector<std::string> history_args() const {
    return {h_ns.str(), h_id.str(), h_seq.str(), h_type.str(), h_ev.str(), h_n.str()};
  }
};

// The tasks applied steps create, for insert_tasks.
class NewTaskRows {
 public:
  TaskRow add(const StepOp& s, const NewTask& t, int64_t now_ms) {
    TaskRow row;
    row.ns = s.ns;
    row.instance_id = s.instance_id;
    row.task_queue = t.task_queue;
    row.name = t.name;
    row.task_scheduled_id = t.task_scheduled_id;
    row.input = t.input;
    row.options = t.options;
    row.visible_at_ms = now_ms;
    row.first_scheduled_ms = now_ms;
    ns_.text(row.ns);
    inst_.text(row.instance_id);
    part_.integer(partition_of(row.ns, row.instance_id));
    tq_.text(row.task_queue);
    name_.text(row.name);
    tsid_.integer(row.task_scheduled_id);
    input_.hex(row.input);
    opts_.hex(wire::encode(row.options));
    return row;
  }
  std::size_t size() const { return ns_.size(); }
  std::vector<std::string> args(const Lease& lease, const StoreOptions& options,
                                int64_t now_ms) const {
    return {ns_.str(),    inst_.str(),  part_.str(),
            tq_.str(),    name_.str(),  tsid_.str(),
            input_.str(), opts_.str(),  lease.owner,
            std::to_string(options.activity_lease.count()), std::to_string(now_ms)};
  }

 private:
  PgArray ns_, inst_, part_, tq_, name_, tsid_, input_, opts_;
};

// Gives each created task its id from insert_tasks' rows, matched by
// (instance, task_scheduled_id): one step per instance per batch, and its
// action ids are unique.
template <class Result>
void assign_task_ids(const Result& rows, std::vector<std::vector<TaskRow>>& step_tasks) {
  std::unordered_map<std::string, int64_t> ids;
  for (const auto& row : rows) {
    ids[key_of(row[1].c_str(), row[2].c_str()) + '\n' + row[3].c_str()] =
        row[0].template as<int64_t>();
  }
  for (auto& tasks : step_tasks) {
    for (auto& task : tasks) {
      auto it = ids.find(key_of(task.ns, task.instance_id) + '\n' +
                         std::to_string(task.task_scheduled_id));
      if (it == ids.end()) throw std::runtime_error("insert_tasks did not return a created task");
      task.id = it->second;
    }
  }
}

// The (ns, id) arrays of a batch's loads or describes, and each key's
// positions among them.
template <class Op>
std::vector<std::string> ref_args(const std::vector<Op>& ops,
                                  std::unordered_map<std::string, std::vector<std::size_t>>& index) {
  PgArray ns, id;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    ns.text(ops[i].ns);
    id.text(ops[i].instance_id);
    index[key_of(ops[i].ns, ops[i].instance_id)].push_back(i);
  }
  return {ns.str(), id.str()};
}

using RefIndex = std::unordered_map<std::string, std::vector<std::size_t>>;

// The rows of load_instances, load_history and load_inbox into `loads`.
template <class Result>
void read_loads(const Result& instances, const Result& history, const Result& inbox,
                const RefIndex& index, std::vector<LoadedInstance>& loads) {
  for (const auto& row : instances) {
    for (std::size_t i : index.at(key_of(row[0].c_str(), row[1].c_str()))) {
      auto& l = loads[i];
      l.found = true;
      l.name = row[2].c_str();
      l.task_queue = row[3].c_str();
      l.status = static_cast<OrchestrationStatus>(row[4].template as<int>());
      l.history_len = row[5].template as<int32_t>();
    }
  }
  std::vector<HistoryEvent> events;
  for (const auto& row : history) {
    events.clear();
    decode_events(row[2], row[3].template as<int>(), events);
    const auto& at = index.at(key_of(row[0].c_str(), row[1].c_str()));
    for (std::size_t k = 0; k < at.size(); ++k) {
      append_events(loads[at[k]].history, events, k + 1 == at.size());
    }
  }
  for (const auto& row : inbox) {
    for (std::size_t i : index.at(key_of(row[1].c_str(), row[2].c_str()))) {
      loads[i].inbox.push_back(
          InboxEvent{row[0].template as<int64_t>(), decode_event(bytes_of(row[3]))});
    }
  }
}

// The rows of describe into `describes`.
template <class Result>
void read_describes(const Result& rows, const RefIndex& index,
                    std::vector<std::optional<InstanceInfo>>& describes) {
  for (const auto& row : rows) {
    const InstanceInfo info = instance_info_of(row);
    for (std::size_t i : index.at(key_of(info.ns, info.instance_id))) describes[i] = info;
  }
}

// One batch transaction, phase by phase (see docs/architecture.md).
class BatchTxn {
 public:
  BatchTxn(pqxx::work& txn, const Lease& lease, const Batch& batch, const StoreOptions& options,
           BatchOutcome& out)
      : txn_(txn), lease_(lease), batch_(batch), options_(options), out_(out) {}

  void run() {
    fence();
    starts();
    inbox_ops();
    task_results();
    inbox_.flush(txn_);
    steps();
    redispatches();
    retries();
    parks();
    fetch();
    purges();
    loads();
    describes();
    histories();
    lists();
    verify();
  }

 private:
  void fence();
  void starts();
  void inbox_ops();
  void task_results();
  void steps();
  void redispatches();
  void retries();
  void parks();
  void fetch();
  void loads();
  void describes();
  void histories();
  void lists();
  void purges();
  void verify() {
    if (batch_.verifies == 0) return;
    for (const auto& row : txn_.exec_prepared("verify")) out_.violations.push_back(row[0].c_str());
  }

  // Inserts `rows` (instances to create); `reuse_finished` lets a row take
  // over a finished instance's id. Returns which were created.
  std::vector<bool> insert_instances(const std::vector<const StartOp*>& rows,
                                     bool reuse_finished = false);
  // For each (ns, id): kOk if the instance exists and is not finished.
  std::vector<Status> check_targets(const std::vector<const InboxOp*>& ops);
  // Sends events to other instances that exist and are not finished.
  void deliver(const std::vector<InboxOp>& ops);

  pqxx::work& txn_;
  const Lease& lease_;
  const Batch& batch_;
  const StoreOptions& options_;
  BatchOutcome& out_;
  InboxRows inbox_;
  std::set<int64_t> folded_deleted_;  // task rows of steps' folded results deleted
  std::set<std::string> created_now_;  // instances this batch created
};

void BatchTxn::fence() {
  // Every partition this batch writes must still be ours.
  const std::set<int> touched = partitions_written(lease_, batch_);
  if (!touched.empty()) {
    auto rows = txn_.exec_prepared("fence", int_array(touched), lease_.owner, lease_.epoch);
    if (rows.size() != touched.size()) {
      throw LeaseLostError{"partition lease lost: " + std::to_string(touched.size() - rows.size()) +
                           " of " + std::to_string(touched.size()) +
                           " partitions are no longer owned by '" + lease_.owner + "' at epoch " +
                           std::to_string(lease_.epoch)};
    }
  }
  if (batch_.renew_lease) {
    auto r = txn_.exec_prepared("renew", lease_.owner, lease_.epoch,
                                static_cast<int64_t>(options_.partition_lease.count()));
    if (r.affected_rows() != lease_.partitions.size()) {
      throw LeaseLostError{"partition lease lost at renewal"};
    }
  }
}

std::vector<bool> BatchTxn::insert_instances(const std::vector<const StartOp*>& rows,
                                             bool reuse_finished) {
  std::vector<bool> created(rows.size(), false);
  if (rows.empty()) return created;
  std::set<std::string> seen;
  std::vector<bool> dup(rows.size(), false);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    dup[i] = !seen.insert(key_of(rows[i]->ns, rows[i]->instance_id)).second;
  }
  std::set<std::string> inserted;
  for (const auto& row : txn_.exec_prepared(reuse_finished ? "insert_children" : "insert_instances",
                                            pqxx::prepare::make_dynamic_params(
                                                instance_args(rows, dup)))) {
    inserted.insert(key_of(row[0].c_str(), row[1].c_str()));
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const StartOp& s = *rows[i];
    if (dup[i] || !inserted.count(key_of(s.ns, s.instance_id))) continue;
    created[i] = true;
    created_now_.insert(key_of(s.ns, s.instance_id));
    add_started(inbox_, s, out_);
  }
  return created;
}

void BatchTxn::starts() {
  if (batch_.starts.empty()) return;
  auto exists = [&](const StartOp& s) {
    return already_exists("an orchestration instance with id '" + s.instance_id +
                          "' already exists in namespace '" + s.ns + "'");
  };
  // What exists already under some of the requested ids: idempotency key
  // and status by instance key.
  auto existing_of = [&](const std::vector<const StartOp*>& rows) {
    std::unordered_map<std::string, std::pair<std::string, OrchestrationStatus>> found;
    if (rows.empty()) return found;
    PgArray ns, id;
    for (const StartOp* s : rows) {
      ns.text(s->ns);
      id.text(s->instance_id);
    }
    for (const auto& row : txn_.exec_prepared("existing_instances", ns.str(), id.str())) {
      found[key_of(row[0].c_str(), row[1].c_str())] = {
          row[2].c_str(), static_cast<OrchestrationStatus>(row[3].as<int>())};
    }
    return found;
  };
  auto same_start = [](const StartOp& s, const std::string& key) {
    return !s.idempotency_key.empty() && key == s.idempotency_key;
  };

  // The common case first: reject duplicates. Insert, and only for the ids
  // that were taken look at what holds them (a retry of the same start
  // succeeds): no extra read on the hot path.
  std::vector<const StartOp*> plain, reuse;
  std::vector<std::size_t> plain_at, reuse_at;
  for (std::size_t i = 0; i < batch_.starts.size(); ++i) {
    const StartOp& s = batch_.starts[i];
    (s.id_reuse_policy == IdReusePolicy::kReject ? plain : reuse).push_back(&s);
    (s.id_reuse_policy == IdReusePolicy::kReject ? plain_at : reuse_at).push_back(i);
  }
  const std::vector<bool> created = insert_instances(plain);
  std::vector<const StartOp*> taken;
  for (std::size_t j = 0; j < plain.size(); ++j) {
    if (!created[j]) taken.push_back(plain[j]);
  }
  const auto holders = existing_of(taken);
  for (std::size_t j = 0; j < plain.size(); ++j) {
    const StartOp& s = *plain[j];
    if (created[j]) {
      out_.starts[plain_at[j]] = Status::ok();
      continue;
    }
    auto it = holders.find(key_of(s.ns, s.instance_id));
    out_.starts[plain_at[j]] =
        it != holders.end() && same_start(s, it->second.first) ? Status::ok() : exists(s);
  }
  if (reuse.empty()) return;

  // Reuse policies: a retry of the creating start succeeds as is; a running
  // instance is terminated first under kTerminateIfRunning; then finished
  // instances start a new execution.
  const auto current = existing_of(reuse);
  std::vector<const StartOp*> insert;
  std::vector<std::size_t> insert_at;
  PgArray kill_ns, kill_id;
  for (std::size_t j = 0; j < reuse.size(); ++j) {
    const StartOp& s = *reuse[j];
    auto it = current.find(key_of(s.ns, s.instance_id));
    if (it != current.end() && same_start(s, it->second.first)) {
      out_.starts[reuse_at[j]] = Status::ok();
      continue;
    }
    if (it != current.end() && !is_terminal(it->second.second) &&
        s.id_reuse_policy == IdReusePolicy::kTerminateIfRunning) {
      kill_ns.text(s.ns);
      kill_id.text(s.instance_id);
    }
    insert.push_back(&s);
    insert_at.push_back(reuse_at[j]);
  }
  if (kill_ns.size() > 0) {
    HistoryEvent ev;
    ev.type = EventType::kExecutionTerminated;
    ev.timestamp_ms = batch_.now_ms;
    ev.input = wire::encode(std::string("terminated by a new start of the same instance id"));
    PgArray fin_ns, fin_id;
    for (const auto& row : txn_.exec_prepared("terminate_for_reuse", kill_ns.str(), kill_id.str(),
                                              detail::to_hex(wire::encode(ev)))) {
      fin_ns.text(row[0].c_str());
      fin_id.text(row[1].c_str());
    }
    if (fin_ns.size() > 0) {
      txn_.exec_prepared("finish_instances_tasks", fin_ns.str(), fin_id.str());
      txn_.exec_prepared("finish_instances_inbox", fin_ns.str(), fin_id.str());
    }
  }
  const std::vector<bool> reused = insert_instances(insert, /*reuse_finished=*/true);
  for (std::size_t j = 0; j < insert.size(); ++j) {
    out_.starts[insert_at[j]] = reused[j] ? Status::ok() : exists(*insert[j]);
  }
}

std::vector<Status> BatchTxn::check_targets(const std::vector<const InboxOp*>& ops) {
  std::vector<Status> result(ops.size());
  if (ops.empty()) return result;
  PgArray ns, id;
  for (const auto* op : ops) {
    ns.text(op->ns);
    id.text(op->instance_id);
  }
  for (const auto& row : txn_.exec_prepared("inbox_targets", ns.str(), id.str())) {
    const auto i = static_cast<std::size_t>(row[0].as<int64_t>() - 1);
    const InboxOp& op = *ops[i];
    if (row[1].is_null()) {
      result[i] = not_found("no orchestration instance '" + op.instance_id + "' in namespace '" +
                            op.ns + "'");
    } else if (is_terminal(static_cast<OrchestrationStatus>(row[1].as<int>()))) {
      result[i] = Status(StatusCode::kFailedPrecondition,
                         "orchestration instance '" + op.instance_id + "' has already finished");
    }
  }
  return result;
}

void BatchTxn::inbox_ops() {
  std::vector<const InboxOp*> ops;
  for (const auto& op : batch_.inbox) ops.push_back(&op);
  out_.inbox = check_targets(ops);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (out_.inbox[i].is_ok()) inbox_.add(ops[i]->ns, ops[i]->instance_id, ops[i]->event, batch_.now_ms);
  }
}

void BatchTxn::deliver(const std::vector<InboxOp>& ops) {
  std::vector<const InboxOp*> ptrs;
  for (const auto& op : ops) ptrs.push_back(&op);
  const auto ok = check_targets(ptrs);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (!ok[i].is_ok()) continue;  // a gone target drops the event (as Durable Task does)
    inbox_.add(ops[i].ns, ops[i].instance_id, ops[i].event, batch_.now_ms);
    out_.notified.push_back(LoadOp{ops[i].ns, ops[i].instance_id});
  }
}

void BatchTxn::task_results() {
  // One statement deletes the task rows of results bound for the inbox and
  // of results folded into steps (steps() checks the latter).
  std::size_t count = 0;
  const auto args = result_task_args(batch_, count);
  if (count == 0) return;
  std::set<int64_t> deleted;
  for (const auto& row :
       txn_.exec_prepared("delete_tasks", pqxx::prepare::make_dynamic_params(args))) {
    deleted.insert(row[0].as<int64_t>());
  }
  for (std::size_t i = 0; i < batch_.task_results.size(); ++i) {
    const auto& r = batch_.task_results[i];
    if (deleted.erase(r.task_id) == 0) continue;  // stale attempt or duplicate
    out_.task_results[i] = true;
    inbox_.add(r.ns, r.instance_id, r.event, batch_.now_ms);
  }
  folded_deleted_ = std::move(deleted);
}

void BatchTxn::steps() {
  if (batch_.steps.empty()) return;
  // A step whose folded results are not all still pending is not applied.
  // Nor is a first step whose start did not create the instance.
  std::vector<bool> complete(batch_.steps.size(), true);
  for (std::size_t i = 0; i < batch_.steps.size(); ++i) {
    const auto& s = batch_.steps[i];
    for (const auto& r : s.results) {
      if (!folded_deleted_.count(r.task_id)) complete[i] = false;
    }
    if (s.first_step && !created_now_.count(key_of(s.ns, s.instance_id))) complete[i] = false;
  }
  struct Parent {
    std::string id;
    int32_t event_id;
  };
  std::unordered_map<std::string, Parent> applied;
  if (std::count(complete.begin(), complete.end(), true) > 0) {
    for (const auto& row : txn_.exec_prepared(
             "apply_steps",
             pqxx::prepare::make_dynamic_params(step_args(batch_.steps, complete)))) {
      applied[key_of(row[0].c_str(), row[1].c_str())] =
          Parent{row[2].c_str(), row[3].as<int32_t>()};
    }
  }

  StepRows rows;
  PgArray cont_ns, cont_id, cont_input, kill_ns, kill_id;
  std::vector<const StartOp*> children;
  std::vector<InboxOp> sends;
  std::size_t task_count = 0;
  for (std::size_t i = 0; i < batch_.steps.size(); ++i) {
    const auto& s = batch_.steps[i];
    auto it = complete[i] ? applied.find(key_of(s.ns, s.instance_id)) : applied.end();
    if (it == applied.end()) {
      out_.steps[i] = Status(
          StatusCode::kConflict,
          complete[i]      ? "instance '" + s.instance_id + "' moved on since the step was dispatched"
          : s.first_step && !created_now_.count(key_of(s.ns, s.instance_id))
              ? "the first step of instance '" + s.instance_id +
                    "' ran for a start that did not create it"
              : "a result step of instance '" + s.instance_id +
                    "' consumed was stale or already recorded");
      // Its folded results that were still pending wait in the inbox instead.
      for (const auto& r : s.results) {
        if (!folded_deleted_.count(r.task_id)) continue;
        inbox_.add(r.ns, r.instance_id, r.event, batch_.now_ms);
        out_.notified.push_back(LoadOp{r.ns, r.instance_id});
      }
      continue;
    }
    rows.add(s);
    for (const auto& c : s.children) children.push_back(&c);
    sends.insert(sends.end(), s.sends.begin(), s.sends.end());
    if (is_terminal(s.status)) {
      if (s.terminate_children) {
        kill_ns.text(s.ns);
        kill_id.text(s.instance_id);
      }
      const Parent& parent = it->second;
      if (!parent.id.empty()) {
        HistoryEvent note;
        note.task_scheduled_id = parent.event_id;
        note.timestamp_ms = s.now_ms;
        note.instance_id = s.instance_id;
        if (s.status == OrchestrationStatus::kCompleted) {
          note.type = EventType::kSubOrchestrationCompleted;
          note.result = s.output;
        } else {
          note.type = EventType::kSubOrchestrationFailed;
          note.failure = s.status == OrchestrationStatus::kFailed
                             ? s.failure
                             : FailureDetails{"Terminated",
                                              "sub-orchestration '" + s.instance_id +
                                                  "' was terminated",
                                              "", true};
        }
        sends.push_back(InboxOp{s.ns, parent.id, std::move(note)});
      }
    } else if (s.status == OrchestrationStatus::kContinuedAsNew) {
      cont_ns.text(s.ns);
      cont_id.text(s.instance_id);
      cont_input.hex(s.new_input);
    } else {
      task_count += s.tasks.size();
    }
  }
  if (rows.h_ns.size() > 0) {
    txn_.exec_prepared("insert_history", pqxx::prepare::make_dynamic_params(rows.history_args()));
  }
  if (rows.consumed.size() > 0) txn_.exec_prepared("delete_inbox", rows.consumed.str());
  if (rows.fin_ns.size() > 0) {
    txn_.exec_prepared("finish_instances_tasks", rows.fin_ns.str(), rows.fin_id.str());
    txn_.exec_prepared("finish_instances_inbox", rows.fin_ns.str(), rows.fin_id.str());
  }
  if (cont_ns.size() > 0) {
    // The old execution's tasks, timers and results go; raised events stay.
    txn_.exec_prepared("finish_instances_tasks", cont_ns.str(), cont_id.str());
    txn_.exec_prepared("continue_instances_inbox", cont_ns.str(), cont_id.str());
    txn_.exec_prepared("continue_instances", cont_ns.str(), cont_id.str(), cont_input.str());
    for (std::size_t i = 0; i < batch_.steps.size(); ++i) {
      const auto& s = batch_.steps[i];
      if (!out_.steps[i].is_ok() || s.status != OrchestrationStatus::kContinuedAsNew) continue;
      HistoryEvent started;
      started.type = EventType::kExecutionStarted;
      started.timestamp_ms = s.now_ms;
      started.input = s.new_input;
      inbox_.add(s.ns, s.instance_id, started, s.now_ms);
      for (const auto& ev : s.carryover_events) inbox_.add(s.ns, s.instance_id, ev, s.now_ms);
      out_.notified.push_back(LoadOp{s.ns, s.instance_id});
    }
  }
  if (kill_ns.size() > 0) {
    HistoryEvent kill;
    kill.type = EventType::kExecutionTerminated;
    kill.name = "recursive";
    kill.input = wire::encode(std::string("parent orchestration was terminated"));
    for (const auto& row : txn_.exec_prepared("terminate_children", kill_ns.str(), kill_id.str(),
                                              detail::to_hex(wire::encode(kill)))) {
      out_.notified.push_back(LoadOp{row[0].c_str(), row[1].c_str()});
    }
  }

  // Sub-orchestrations: a child that cannot be created fails in its parent.
  const auto created = insert_instances(children, /*reuse_finished=*/true);
  for (std::size_t i = 0; i < children.size(); ++i) {
    const StartOp& c = *children[i];
    if (created[i]) {
      out_.notified.push_back(LoadOp{c.ns, c.instance_id});
      continue;
    }
    HistoryEvent failed;
    failed.type = EventType::kSubOrchestrationFailed;
    failed.task_scheduled_id = c.parent_event_id;
    failed.timestamp_ms = c.now_ms;
    failed.instance_id = c.instance_id;
    failed.failure = FailureDetails{"InstanceAlreadyExists",
                                    "cannot start sub-orchestration: instance '" + c.instance_id +
                                        "' already exists and is still running",
                                    "", true};
    sends.push_back(InboxOp{c.ns, c.parent_instance_id, std::move(failed)});
  }
  inbox_.flush(txn_);  // children's ExecutionStarted before events sent to them
  deliver(sends);

  for (std::size_t i = 0; i < batch_.steps.size(); ++i) {
    const auto& s = batch_.steps[i];
    if (out_.steps[i].is_ok()) add_timers(inbox_, s, out_);
  }
  inbox_.flush(txn_);

  if (task_count > 0) {
    NewTaskRows tasks;
    for (std::size_t i = 0; i < batch_.steps.size(); ++i) {
      const auto& s = batch_.steps[i];
      if (!out_.steps[i].is_ok() || is_terminal(s.status) ||
          s.status == OrchestrationStatus::kContinuedAsNew) {
        continue;
      }
      for (const auto& t : s.tasks) out_.step_tasks[i].push_back(tasks.add(s, t, batch_.now_ms));
    }
    assign_task_ids(txn_.exec_prepared("insert_tasks", pqxx::prepare::make_dynamic_params(
                                                           tasks.args(lease_, options_,
                                                                      batch_.now_ms))),
                    out_.step_tasks);
  }
}

void BatchTxn::redispatches() {
  if (batch_.redispatches.empty()) return;
  PgArray ids, attempts;
  std::unordered_map<int64_t, std::size_t> index;
  for (std::size_t i = 0; i < batch_.redispatches.size(); ++i) {
    ids.integer(batch_.redispatches[i].task_id);
    attempts.integer(batch_.redispatches[i].attempt);
    index[batch_.redispatches[i].task_id] = i;
  }
  for (const auto& row : txn_.exec_prepared("redispatch", ids.str(), attempts.str(), lease_.owner,
                                            static_cast<int64_t>(options_.activity_lease.count()))) {
    TaskRow t = task_row_of(row);
    out_.redispatches[index[t.id]] = std::move(t);
  }
}

void BatchTxn::retries() {
  if (batch_.retries.empty()) return;
  PgArray ids, attempts, ms, hb;
  std::unordered_map<int64_t, std::size_t> index;
  for (std::size_t i = 0; i < batch_.retries.size(); ++i) {
    const auto& r = batch_.retries[i];
    ids.integer(r.task_id);
    attempts.integer(r.attempt);
    ms.integer(r.visible_at_ms);
    hb.hex(r.heartbeat_details);
    index[r.task_id] = i;
  }
  for (const auto& row : txn_.exec_prepared("retry", ids.str(), attempts.str(), ms.str(), hb.str(),
                                            lease_.owner,
                                            static_cast<int64_t>(options_.activity_lease.count()))) {
    TaskRow t = task_row_of(row);
    out_.retries[index[t.id]] = std::move(t);
  }
}

void BatchTxn::parks() {
  if (batch_.park_tasks.empty()) return;
  PgArray ids;
  for (int64_t id : batch_.park_tasks) ids.integer(id);
  txn_.exec_prepared0("park_tasks", ids.str());
}

void BatchTxn::fetch() {
  if (batch_.fetch_tasks == 0) return;
  PgArray parts;
  for (int p : lease_.partitions) parts.integer(p);
  for (const auto& row :
       txn_.exec_prepared("fetch_parked", parts.str(), static_cast<int64_t>(batch_.fetch_tasks),
                          lease_.owner, static_cast<int64_t>(options_.activity_lease.count()))) {
    out_.fetched.push_back(task_row_of(row));
  }
  out_.parked_left = txn_.exec_prepared1("count_parked", parts.str())[0].as<int64_t>();
}

void BatchTxn::loads() {
  if (batch_.loads.empty()) return;
  RefIndex index;
  const auto args = ref_args(batch_.loads, index);
  const auto instances =
      txn_.exec_prepared("load_instances", pqxx::prepare::make_dynamic_params(args));
  const auto history = txn_.exec_prepared("load_history", pqxx::prepare::make_dynamic_params(args));
  const auto inbox =
      txn_.exec_prepared("load_inbox", args[0], args[1], batch_.now_ms);
  read_loads(instances, history, inbox, index, out_.loads);
}

void BatchTxn::describes() {
  if (batch_.describes.empty()) return;
  RefIndex index;
  const auto args = ref_args(batch_.describes, index);
  read_describes(txn_.exec_prepared("describe", pqxx::prepare::make_dynamic_params(args)), index,
                 out_.describes);
}

void BatchTxn::lists() {
  for (std::size_t i = 0; i < batch_.lists.size(); ++i) {
    const ListRequest& q = batch_.lists[i];
    PgArray statuses;
    for (auto st : q.statuses) statuses.integer(static_cast<int64_t>(st));
    // The token is "<created_at as PostgreSQL prints it>\x1f<instance id>".
    std::string after_ts, after_id;
    if (const auto sep = q.continuation_token.find('\x1f'); sep != std::string::npos) {
      after_ts = q.continuation_token.substr(0, sep);
      after_id = q.continuation_token.substr(sep + 1);
    }
    const int64_t limit = std::clamp<int64_t>(q.page_size, 1, 1000);
    ListReply& reply = out_.lists[i];
    std::string last_ts;
    for (const auto& row : txn_.exec_prepared("list", q.ns, statuses.str(), q.name,
                                              q.instance_id_prefix, q.task_queue,
                                              q.created_from_ms, q.created_to_ms, after_ts,
                                              after_id, limit + 1)) {
      if (static_cast<int64_t>(reply.instances.size()) == limit) {
        reply.continuation_token = last_ts + '\x1f' + reply.instances.back().instance_id;
        break;
      }
      InstanceInfo info = instance_info_of(row);  // payloads left out by the query
      last_ts = row[13].c_str();
      reply.instances.push_back(std::move(info));
    }
  }
}

void BatchTxn::purges() {
  for (std::size_t i = 0; i < batch_.purges.size(); ++i) {
    const PurgeRequest& p = batch_.purges[i];
    PgArray ns, id;
    if (!p.instance_id.empty()) {
      bool found = false;
      for (const auto& row : txn_.exec_prepared("purge_tree", p.ns, p.instance_id, p.recursive)) {
        const auto status = static_cast<OrchestrationStatus>(row[2].as<int>());
        if (row[1].c_str() == p.instance_id) found = true;
        if (!is_terminal(status) || status == OrchestrationStatus::kContinuedAsNew) {
          out_.purges[i] = Status(StatusCode::kFailedPrecondition,
                                  "orchestration instance '" + std::string(row[1].c_str()) +
                                      "' is " + orchestration_status_name(status) +
                                      ": only finished instances can be purged");
          break;
        }
        ns.text(row[0].c_str());
        id.text(row[1].c_str());
      }
      if (!out_.purges[i].is_ok()) continue;
      if (!found) {
        out_.purges[i] = not_found("no orchestration instance '" + p.instance_id +
                                   "' in namespace '" + p.ns + "'");
        continue;
      }
    } else {
      PgArray statuses;
      for (auto st : p.statuses) statuses.integer(static_cast<int64_t>(st));
      if (p.statuses.empty()) {
        for (auto st : {OrchestrationStatus::kCompleted, OrchestrationStatus::kFailed,
                        OrchestrationStatus::kTerminated}) {
          statuses.integer(static_cast<int64_t>(st));
        }
      }
      for (const auto& row : txn_.exec_prepared("purge_filter", p.ns, statuses.str(),
                                                p.created_from_ms, p.created_to_ms)) {
        ns.text(row[0].c_str());
        id.text(row[1].c_str());
      }
    }
    if (ns.size() == 0) continue;
    out_.purged[i] = txn_.exec_prepared("purge_instances", ns.str(), id.str()).size();
  }
}

void BatchTxn::histories() {
  if (batch_.histories.empty()) return;
  std::vector<InboxOp> refs;  // existence check reuses the inbox target query
  std::vector<const InboxOp*> ptrs;
  PgArray ns, id;
  std::unordered_map<std::string, std::vector<std::size_t>> index;
  for (std::size_t i = 0; i < batch_.histories.size(); ++i) {
    const auto& h = batch_.histories[i];
    refs.push_back(InboxOp{h.ns, h.instance_id, {}});
    ns.text(h.ns);
    id.text(h.instance_id);
    index[key_of(h.ns, h.instance_id)].push_back(i);
  }
  for (const auto& r : refs) ptrs.push_back(&r);
  const auto exists = check_targets(ptrs);
  for (std::size_t i = 0; i < exists.size(); ++i) {
    if (exists[i].code() != StatusCode::kNotFound) out_.histories[i].emplace();
  }
  std::vector<HistoryEvent> events;
  for (const auto& row : txn_.exec_prepared("history_all", ns.str(), id.str())) {
    events.clear();
    decode_events(row[2], row[3].as<int>(), events);
    const auto& at = index.at(key_of(row[0].c_str(), row[1].c_str()));
    for (std::size_t k = 0; k < at.size(); ++k) {
      if (auto& h = out_.histories[at[k]]) append_events(*h, events, k + 1 == at.size());
    }
  }
}

// Batches above these sizes go statement by statement: their round trips
// are few against their rows, and the pipeline (every statement's arguments,
// then libpq's buffer of all its messages) would hold copies of their
// payloads in the scheduler's memory at once (a 10,000-activity fan-out
// step).
constexpr std::size_t kMaxPipelinedRows = 1000;
constexpr std::size_t kMaxPipelinedBytes = 1 << 20;

// Whether a batch can go as one pipelined transaction: only work whose
// outcome its statements can state in advance (batch_expectations.sql),
// and not too much of it.
bool pipelinable(const Batch& b) {
  std::size_t rows = b.starts.size() + b.task_results.size() + b.loads.size() +
                     b.describes.size();
  std::size_t bytes = 0;
  for (const auto& s : b.starts) bytes += s.input.size();
  for (const auto& r : b.task_results) bytes += r.event.result.size();
  for (const auto& s : b.steps) {
    rows += 1 + s.events.size() + s.tasks.size() + s.results.size();
    bytes += s.output.size() + s.custom_status.size();
    for (const auto& ev : s.events) bytes += ev.input.size() + ev.result.size();
    for (const auto& t : s.tasks) bytes += t.input.size();
  }
  if (rows > kMaxPipelinedRows || bytes > kMaxPipelinedBytes) return false;
  if (!b.inbox.empty() || !b.redispatches.empty() || !b.retries.empty() ||
      !b.histories.empty() || !b.lists.empty() || !b.purges.empty() || b.verifies > 0 ||
      !b.park_tasks.empty() || b.fetch_tasks > 0) {
    return false;
  }
  std::set<std::string> started;
  for (const auto& s : b.starts) {
    if (s.id_reuse_policy != IdReusePolicy::kReject ||
        !started.insert(key_of(s.ns, s.instance_id)).second) {
      return false;
    }
  }
  for (const auto& s : b.steps) {
    if (!s.children.empty() || !s.sends.empty() || s.terminate_children ||
        s.status == OrchestrationStatus::kContinuedAsNew ||
        (s.first_step && !started.count(key_of(s.ns, s.instance_id)))) {
      return false;
    }
  }
  return true;
}

// A batch as one round trip: BEGIN, its statements and COMMIT go to
// PostgreSQL together, in libpq's pipeline mode: each statement is its
// prepared statement with bound parameters (nothing to quote, nothing for
// PostgreSQL to parse), sent without waiting for the one before. The
// statements are those of BatchTxn for the outcome it sees most: the
// partitions are ours, every start creates its instance, every activity
// result is still pending and every step applies. Each such statement checks
// its expectation with baton_expect; a false one rolls everything back and
// run() returns false.
class PipelinedBatch {
 public:
  PipelinedBatch(detail::PgConnection& conn, const Lease& lease, const Batch& batch,
                 const StoreOptions& options, BatchOutcome& out)
      : conn_(conn), lease_(lease), batch_(batch), options_(options), out_(out) {}

  // True: committed, `out` filled in. False: nothing written (why: logged),
  // the connection idle again. Throws when the connection broke after the
  // batch was sent (its outcome is unknown).
  bool run() {
    add_sql("BEGIN");
    queue_statements();
    add_sql("COMMIT");
    try {
      // libpqxx prepares a statement on first use, and again after a
      // reconnect; they go by name below, so each must exist now.
      for (const auto& q : queries_) {
        if (q.prepared) conn_.prepare_now(q.text);
      }
    } catch (const pqxx::broken_connection&) {
      return false;  // the transaction statement by statement reconnects, or says why not
    }
    PGconn* pg = conn_.raw();
    if (pg == nullptr || PQstatus(pg) != CONNECTION_OK || PQenterPipelineMode(pg) != 1) {
      return false;
    }
    for (const auto& q : queries_) {
      std::vector<const char*> values;
      for (const auto& a : q.args) values.push_back(a.c_str());
      const int sent =
          q.prepared
              ? PQsendQueryPrepared(pg, q.text.c_str(), static_cast<int>(values.size()),
                                    values.data(), nullptr, nullptr, 0)
              : PQsendQueryParams(pg, q.text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
      if (sent != 1) abandon(pg, "sending a statement");
    }
    if (PQpipelineSync(pg) != 1) abandon(pg, "sending the batch");
    if (!receive(pg)) abandon(pg, "reading the batch's results");
    if (PQexitPipelineMode(pg) != 1) abandon(pg, "leaving pipeline mode");
    if (failed_state_.empty()) {
      if (insert_tasks_) assign_task_ids(*insert_tasks_, out_.step_tasks);
      if (load_instances_) {
        read_loads(*load_instances_, *load_history_, *load_inbox_, load_index_, out_.loads);
      }
      if (describe_) read_describes(*describe_, describe_index_, out_.describes);
      return true;
    }
    // The error left the transaction aborted (its COMMIT was skipped).
    PqResult rollback(PQexec(pg, "ROLLBACK"));
    if (PQresultStatus(rollback.get()) != PGRES_COMMAND_OK) {
      conn_.disconnect();  // reopened by the next transaction
    }
    // A false expectation, or a stale step's history colliding with the
    // events already there (insert_history runs before apply_steps checks
    // the step), is the uncommon outcome this path leaves to the other.
    if (failed_state_ != kExpectationFailed && failed_state_ != kUniqueViolation) {
      spdlog::warn("pipelined batch failed, applying it statement by statement: {}",
                   failed_what_);
    }
    return false;
  }

 private:
  static constexpr const char* kExpectationFailed = "BX001";
  static constexpr const char* kUniqueViolation = "23505";

  struct Query {
    bool prepared = false;
    std::string text;  // the prepared statement's name, or SQL without parameters
    std::vector<std::string> args;
    std::optional<PqResult>* keep = nullptr;  // where its rows go
  };

  void add_sql(std::string sql) { queries_.push_back(Query{false, std::move(sql), {}, nullptr}); }

  // Prepared statement `name` with `args` (text format, as PgArray makes them).
  void add(std::string name, std::vector<std::string> args,
           std::optional<PqResult>* keep = nullptr) {
    if (std::none_of(std::begin(kPipelinedStatements), std::end(kPipelinedStatements),
                     [&](const char* n) { return name == n; })) {
      // Its plan would be made under kPipelinedPlanSettings unchecked.
      throw std::logic_error("statement not listed in kPipelinedStatements: " + name);
    }
    queries_.push_back(Query{true, std::move(name), std::move(args), keep});
  }

  // Statement `name` that fails the transaction unless its rows number
  // `n` (and meet the rest of its kExpectations condition).
  void expect(std::string_view name, std::vector<std::string> args, std::size_t n) {
    args.push_back(std::to_string(n));
    add(std::string(name) + "_expect", std::move(args));
  }

  // Every query's results (each ends with a null), then the sync point. The
  // first error is kept; the queries after it come back aborted. False: the
  // connection broke, or answered out of turn.
  bool receive(PGconn* pg) {
    std::size_t i = 0;
    while (true) {
      PGresult* raw = PQgetResult(pg);
      if (raw == nullptr) {
        if (PQstatus(pg) != CONNECTION_OK || ++i > queries_.size()) return false;
        continue;
      }
      PqResult r(raw);
      const ExecStatusType status = PQresultStatus(raw);
      if (status == PGRES_PIPELINE_SYNC) return i == queries_.size();
      if (i >= queries_.size()) return false;
      if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        if (queries_[i].keep) *queries_[i].keep = std::move(r);
      } else if (status != PGRES_PIPELINE_ABORTED && failed_state_.empty()) {
        const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
        failed_state_ = state && *state ? state : "?????";
        failed_what_ = PQresultErrorMessage(raw);
      }
    }
  }

  // The connection is in no state to go on: closed, and the batch's outcome
  // unknown (it may have committed): thrown as pqxx::in_doubt_error.
  [[noreturn]] void abandon(PGconn* pg, const char* what) {
    const std::string why = PQerrorMessage(pg);
    conn_.disconnect();
    throw pqxx::in_doubt_error(std::string("pipelined batch: connection lost ") + what + ": " +
                               why);
  }

  // Every statement runs on its prepared statement's generic plan, made
  // once per connection instead of once per batch (kPipelinedStatements),
  // with the planner held to index scans and nested loops: a plan made
  // while a table is small must not scan it whole once it is large. The
  // lookups of instances by (namespace, instance_id) can only use the
  // primary key (migration 0007). Nothing is read back before COMMIT, so
  // the order within the transaction is free. Only queued here; run() sends.
  void queue_statements() {
    queries_.push_back(Query{true, kPlanSettingsStatement, {}, nullptr});
    const std::set<int> touched = partitions_written(lease_, batch_);
    if (!touched.empty()) {
      expect("fence", {int_array(touched), lease_.owner, std::to_string(lease_.epoch)},
             touched.size());
    }
    if (batch_.renew_lease) {
      expect("renew",
             {lease_.owner, std::to_string(lease_.epoch),
              std::to_string(options_.partition_lease.count())},
             lease_.partitions.size());
    }
    InboxRows inbox;
    if (!batch_.starts.empty()) {
      std::vector<const StartOp*> rows;
      for (const auto& st : batch_.starts) rows.push_back(&st);
      expect("insert_instances", instance_args(rows, std::vector<bool>(rows.size(), false)),
             rows.size());
      for (std::size_t i = 0; i < rows.size(); ++i) {
        add_started(inbox, *rows[i], out_);
        out_.starts[i] = Status::ok();
      }
    }
    std::size_t results = 0;
    const auto result_args = result_task_args(batch_, results);
    if (results > 0) {
      expect("delete_tasks", result_args, results);
      for (std::size_t i = 0; i < batch_.task_results.size(); ++i) {
        const auto& r = batch_.task_results[i];
        out_.task_results[i] = true;
        inbox.add(r.ns, r.instance_id, r.event, batch_.now_ms);
      }
    }
    StepRows rows;
    NewTaskRows tasks;
    for (std::size_t i = 0; i < batch_.steps.size(); ++i) {
      const auto& s = batch_.steps[i];
      out_.steps[i] = Status::ok();
      rows.add(s);
      add_timers(inbox, s, out_);
      if (is_terminal(s.status)) continue;
      for (const auto& t : s.tasks) out_.step_tasks[i].push_back(tasks.add(s, t, batch_.now_ms));
    }
    if (!inbox.empty()) add("insert_inbox", inbox.take());
    if (rows.h_ns.size() > 0) add("insert_history", rows.history_args());
    if (rows.consumed.size() > 0) add("delete_inbox", {rows.consumed.str()});
    if (tasks.size() > 0) {
      add("insert_tasks", tasks.args(lease_, options_, batch_.now_ms), &insert_tasks_);
    }

    if (!batch_.steps.empty()) {
      expect("apply_steps", step_args(batch_.steps, std::vector<bool>(batch_.steps.size(), true)),
             batch_.steps.size());
    }
    if (rows.fin_ns.size() > 0) {
      add("finish_instances_tasks", {rows.fin_ns.str(), rows.fin_id.str()});
      add("finish_instances_inbox", {rows.fin_ns.str(), rows.fin_id.str()});
    }
    if (!batch_.loads.empty()) {
      const auto args = ref_args(batch_.loads, load_index_);
      add("load_instances", args, &load_instances_);
      add("load_history", args, &load_history_);
      add("load_inbox", {args[0], args[1], std::to_string(batch_.now_ms)}, &load_inbox_);
    }
    if (!batch_.describes.empty()) {
      add("describe", ref_args(batch_.describes, describe_index_), &describe_);
    }
  }

  detail::PgConnection& conn_;
  const Lease& lease_;
  const Batch& batch_;
  const StoreOptions& options_;
  BatchOutcome& out_;
  std::vector<Query> queries_;
  std::string failed_state_, failed_what_;
  std::optional<PqResult> insert_tasks_, load_instances_, load_history_, load_inbox_, describe_;
  RefIndex load_index_, describe_index_;
};

}  // namespace

BatchOutcome PgStore::commit(const Lease& lease, const Batch& batch) {
  BatchOutcome out;
  out.starts.resize(batch.starts.size());
  out.inbox.resize(batch.inbox.size());
  out.task_results.resize(batch.task_results.size(), false);
  out.steps.resize(batch.steps.size());
  out.step_tasks.resize(batch.steps.size());
  out.redispatches.resize(batch.redispatches.size());
  out.retries.resize(batch.retries.size());
  out.loads.resize(batch.loads.size());
  out.describes.resize(batch.describes.size());
  out.histories.resize(batch.histories.size());
  out.lists.resize(batch.lists.size());
  out.purges.resize(batch.purges.size());
  out.purged.resize(batch.purges.size(), 0);
  try {
    out.path = BatchPath::kStepwise;
    // A connection libpqxx knows is broken is reopened by the transaction
    // below (the pipeline would only fail on it).
    if (options_.pipeline_batches && conn_->is_open() && pipelinable(batch)) {
      BatchOutcome fast = out;
      if (PipelinedBatch(*conn_, lease, batch, options_, fast).run()) {
        fast.path = BatchPath::kPipelined;
        fast.status = Status::ok();
        return fast;
      }
      out.path = BatchPath::kRetried;
    }
    pqxx::work txn(*conn_);
    BatchTxn(txn, lease, batch, options_, out).run();
    txn.commit();
    out.status = Status::ok();
  } catch (const LeaseLostError& e) {
    out.status = lease_lost(e.message);
  } catch (const pqxx::in_doubt_error& e) {
    out.status = unavailable(std::string("commit outcome unknown: ") + e.what());
  } catch (const std::exception& e) {
    out.status = unavailable(std::string("batch transaction failed: ") + e.what());
  }
  if (!out.status.is_ok()) {
    // Nothing of a failed batch may be reported as done.
    std::fill(out.task_results.begin(), out.task_results.end(), false);
    for (auto& t : out.step_tasks) t.clear();
    out.fetched.clear();
    out.notified.clear();
    out.timers.clear();
  }
  return out;
}

}  // namespace baton::scheduler
