#include "store/pg_store.h"

#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include <pqxx/pqxx>

#include "baton/wire.h"
#include "store/migrate.h"
#include "store/pg_codec.h"

namespace baton::scheduler {
namespace {

using detail::PgArray;

// Thrown inside a transaction to roll it back as kLeaseLost.
struct LeaseLostError {
  std::string message;
};

std::string bytes_of(const pqxx::field& f) {
  pqxx::binarystring b(f);
  return b.str();
}

int64_t ms_of(const pqxx::field& f) { return f.is_null() ? 0 : f.as<int64_t>(); }

std::string key_of(const std::string& ns, const std::string& id) {
  std::string k;
  k.reserve(ns.size() + id.size() + 1);
  k += ns;
  k.push_back('\0');
  k += id;
  return k;
}

HistoryEvent decode_event(const std::string& bytes) {
  auto r = wire::decode<HistoryEvent>(bytes);
  if (!r) throw std::runtime_error("corrupt history event in database: " + r.status().message());
  return std::move(r).value();
}

FailureDetails decode_failure(const std::string& bytes) {
  if (bytes.empty()) return {};
  auto r = wire::decode<FailureDetails>(bytes);
  return r ? std::move(r).value() : FailureDetails{"Corrupt", "undecodable failure details", "", true};
}

// SQL of every prepared statement, by name.
const std::pair<const char*, const char*> kStatements[] = {
    {"fence",
     "SELECT partition FROM baton_partitions WHERE partition = ANY($1::int[]) AND owner = $2 "
     "AND epoch = $3 FOR SHARE"},
    {"renew",
     "UPDATE baton_partitions SET lease_expires_at = now() + $3::bigint * interval '1 millisecond' "
     "WHERE owner = $1 AND epoch = $2"},
    {"next_epoch", "SELECT nextval('baton_epoch_seq')"},
    {"acquire",
     "UPDATE baton_partitions SET owner = $1, epoch = $2, "
     "lease_expires_at = now() + $3::bigint * interval '1 millisecond' "
     "WHERE owner = $1 OR owner = '' OR lease_expires_at < now() RETURNING partition"},
    {"recover_tasks",
     "UPDATE baton_tasks SET attempt = attempt + 1, lease_owner = $2, "
     "lease_expires_at = now() + $3::bigint * interval '1 millisecond' "
     "WHERE partition = ANY($1::int[]) "
     "RETURNING id, namespace, instance_id, task_queue, name, task_scheduled_id, input, attempt"},
    {"recover_inbox",
     "SELECT DISTINCT namespace, instance_id FROM baton_inbox WHERE partition = ANY($1::int[])"},
    {"insert_instances",
     "INSERT INTO baton_instances (namespace, instance_id, partition, name, task_queue, status, "
     "input, parent_instance_id, created_at, updated_at) "
     "SELECT u.ns, u.id, u.part, u.name, u.tq, 0, decode(u.input, 'hex'), u.parent, "
     "to_timestamp(u.ms / 1000.0), to_timestamp(u.ms / 1000.0) "
     "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], "
     "$7::text[], $8::bigint[]) AS u(ns, id, part, name, tq, input, parent, ms) "
     "ON CONFLICT DO NOTHING RETURNING namespace, instance_id"},
    {"insert_inbox",
     "INSERT INTO baton_inbox (namespace, instance_id, partition, event) "
     "SELECT u.ns, u.id, u.part, decode(u.ev, 'hex') "
     "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) AS u(ns, id, part, ev)"},
    {"delete_tasks",
     "DELETE FROM baton_tasks t USING unnest($1::bigint[], $2::int[]) AS u(id, attempt) "
     "WHERE t.id = u.id AND t.attempt = u.attempt RETURNING t.id"},
    {"apply_steps",
     "UPDATE baton_instances i SET history_len = u.new_len, status = u.status, "
     "output = decode(u.output, 'hex'), failure = decode(u.failure, 'hex'), "
     "updated_at = to_timestamp(u.ms / 1000.0), "
     "completed_at = CASE WHEN u.terminal THEN to_timestamp(u.ms / 1000.0) ELSE NULL END "
     "FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::smallint[], $6::text[], "
     "$7::text[], $8::bigint[], $9::bool[]) "
     "AS u(ns, id, expected, new_len, status, output, failure, ms, terminal) "
     "WHERE i.namespace = u.ns AND i.instance_id = u.id AND i.history_len = u.expected "
     "RETURNING i.namespace, i.instance_id"},
    {"insert_history",
     "INSERT INTO baton_history (namespace, instance_id, seq, event_type, event) "
     "SELECT u.ns, u.id, u.seq, u.type, decode(u.ev, 'hex') "
     "FROM unnest($1::text[], $2::text[], $3::int[], $4::smallint[], $5::text[]) "
     "AS u(ns, id, seq, type, ev)"},
    {"delete_inbox", "DELETE FROM baton_inbox WHERE id = ANY($1::bigint[])"},
    {"task_ids", "SELECT nextval('baton_tasks_id_seq') FROM generate_series(1, $1::int)"},
    {"insert_tasks",
     "INSERT INTO baton_tasks (id, namespace, instance_id, partition, task_queue, name, "
     "task_scheduled_id, input, attempt, lease_owner, lease_expires_at) "
     "SELECT u.tid, u.ns, u.id, u.part, u.tq, u.name, u.tsid, decode(u.input, 'hex'), 1, $10, "
     "now() + $11::bigint * interval '1 millisecond' "
     "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], "
     "$7::int[], $8::text[], $9::int[]) AS u(tid, ns, id, part, tq, name, tsid, input, dummy)"},
    {"finish_instances_tasks",
     "DELETE FROM baton_tasks t USING unnest($1::text[], $2::text[]) AS u(ns, id) "
     "WHERE t.namespace = u.ns AND t.instance_id = u.id"},
    {"finish_instances_inbox",
     "DELETE FROM baton_inbox b USING unnest($1::text[], $2::text[]) AS u(ns, id) "
     "WHERE b.namespace = u.ns AND b.instance_id = u.id"},
    {"redispatch",
     "UPDATE baton_tasks t SET attempt = t.attempt + 1, lease_owner = $3, "
     "lease_expires_at = now() + $4::bigint * interval '1 millisecond' "
     "FROM unnest($1::bigint[], $2::int[]) AS u(id, attempt) "
     "WHERE t.id = u.id AND t.attempt = u.attempt "
     "RETURNING t.id, t.namespace, t.instance_id, t.task_queue, t.name, t.task_scheduled_id, "
     "t.input, t.attempt"},
    {"load_instances",
     "SELECT i.namespace, i.instance_id, i.name, i.task_queue, i.status, i.history_len "
     "FROM baton_instances i JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON i.namespace = u.ns AND i.instance_id = u.id"},
    {"load_history",
     "SELECT h.namespace, h.instance_id, h.event FROM baton_history h "
     "JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON h.namespace = u.ns AND h.instance_id = u.id ORDER BY h.namespace, h.instance_id, h.seq"},
    {"load_inbox",
     "SELECT b.id, b.namespace, b.instance_id, b.event FROM baton_inbox b "
     "JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON b.namespace = u.ns AND b.instance_id = u.id WHERE b.visible_at <= now() ORDER BY b.id"},
    {"describe",
     "SELECT i.namespace, i.instance_id, i.name, i.status, i.task_queue, i.input, i.output, "
     "i.custom_status, i.failure, "
     "(extract(epoch FROM i.created_at) * 1000)::bigint, "
     "(extract(epoch FROM i.updated_at) * 1000)::bigint, "
     "(extract(epoch FROM i.completed_at) * 1000)::bigint, i.parent_instance_id "
     "FROM baton_instances i JOIN unnest($1::text[], $2::text[]) AS u(ns, id) "
     "ON i.namespace = u.ns AND i.instance_id = u.id"},
};

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
  return t;
}

bool terminal(OrchestrationStatus s) { return is_terminal(s); }

}  // namespace

PgStore::PgStore(StoreOptions options, std::unique_ptr<pqxx::connection> conn)
    : options_(std::move(options)), conn_(std::move(conn)) {}

PgStore::~PgStore() = default;

Result<std::unique_ptr<PgStore>> PgStore::open(StoreOptions options) {
  try {
    auto conn = std::make_unique<pqxx::connection>(options.url);
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
  // and keep using the primary keys.
  pqxx::nontransaction(*conn_).exec0("SET plan_cache_mode = force_custom_plan");
  for (const auto& [name, sql] : kStatements) conn_->prepare(name, sql);
}

Result<Recovery> PgStore::recover(const std::string& owner) {
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
    for (const auto& row : txn.exec_prepared("recover_tasks", parts.str(), owner,
                                             static_cast<int64_t>(options_.activity_lease.count()))) {
      rec.tasks.push_back(task_row_of(row));
    }
    for (const auto& row : txn.exec_prepared("recover_inbox", parts.str())) {
      rec.instances_with_inbox.push_back(LoadOp{row[0].c_str(), row[1].c_str()});
    }
    txn.commit();
    return rec;
  } catch (const std::exception& e) {
    return unavailable(std::string("recovery failed: ") + e.what());
  }
}

BatchOutcome PgStore::commit(const Lease& lease, const Batch& batch) {
  BatchOutcome out;
  out.starts.resize(batch.starts.size());
  out.task_results.resize(batch.task_results.size(), false);
  out.steps.resize(batch.steps.size());
  out.step_tasks.resize(batch.steps.size());
  out.redispatches.resize(batch.redispatches.size());
  out.loads.resize(batch.loads.size());
  out.describes.resize(batch.describes.size());
  const int64_t activity_lease_ms = options_.activity_lease.count();

  try {
    pqxx::work txn(*conn_);

    // Fence: every partition this batch writes must still be ours.
    std::set<int> touched;
    for (const auto& s : batch.starts) touched.insert(partition_of(s.ns, s.instance_id));
    for (const auto& r : batch.task_results) touched.insert(partition_of(r.ns, r.instance_id));
    for (const auto& s : batch.steps) touched.insert(partition_of(s.ns, s.instance_id));
    if (!batch.redispatches.empty()) touched.insert(lease.partitions.begin(), lease.partitions.end());
    if (!touched.empty()) {
      PgArray parts;
      for (int p : touched) parts.integer(p);
      auto rows = txn.exec_prepared("fence", parts.str(), lease.owner, lease.epoch);
      if (rows.size() != touched.size()) {
        throw LeaseLostError{"partition lease lost: " + std::to_string(touched.size() - rows.size()) +
                             " of " + std::to_string(touched.size()) +
                             " partitions are no longer owned by '" + lease.owner + "' at epoch " +
                             std::to_string(lease.epoch)};
      }
    }
    if (batch.renew_lease) {
      auto r = txn.exec_prepared("renew", lease.owner, lease.epoch,
                                 static_cast<int64_t>(options_.partition_lease.count()));
      if (r.affected_rows() != lease.partitions.size()) {
        throw LeaseLostError{"partition lease lost at renewal"};
      }
    }

    // Inbox rows to insert (starts and recorded results), in op order.
    PgArray in_ns, in_id, in_part, in_ev;
    auto add_inbox = [&](const std::string& ns, const std::string& id, const HistoryEvent& ev) {
      in_ns.text(ns);
      in_id.text(id);
      in_part.integer(partition_of(ns, id));
      in_ev.hex(wire::encode(ev));
    };

    // 1. Starts.
    if (!batch.starts.empty()) {
      PgArray ns, id, part, name, tq, input, parent, ms;
      std::set<std::string> seen;
      std::vector<bool> dup(batch.starts.size(), false);
      for (std::size_t i = 0; i < batch.starts.size(); ++i) {
        const auto& s = batch.starts[i];
        if (!seen.insert(key_of(s.ns, s.instance_id)).second) {
          dup[i] = true;
          continue;
        }
        ns.text(s.ns);
        id.text(s.instance_id);
        part.integer(partition_of(s.ns, s.instance_id));
        name.text(s.name);
        tq.text(s.task_queue);
        input.hex(s.input);
        parent.text(s.parent_instance_id);
        ms.integer(s.now_ms);
      }
      std::set<std::string> inserted;
      for (const auto& row : txn.exec_prepared("insert_instances", ns.str(), id.str(), part.str(),
                                               name.str(), tq.str(), input.str(), parent.str(),
                                               ms.str())) {
        inserted.insert(key_of(row[0].c_str(), row[1].c_str()));
      }
      for (std::size_t i = 0; i < batch.starts.size(); ++i) {
        const auto& s = batch.starts[i];
        if (dup[i] || !inserted.count(key_of(s.ns, s.instance_id))) {
          out.starts[i] = already_exists("an orchestration instance with id '" + s.instance_id +
                                         "' already exists in namespace '" + s.ns + "'");
          continue;
        }
        HistoryEvent ev;
        ev.type = EventType::kExecutionStarted;
        ev.timestamp_ms = s.now_ms;
        ev.name = s.name;
        ev.input = s.input;
        ev.task_queue = s.task_queue;
        add_inbox(s.ns, s.instance_id, ev);
      }
    }

    // 2. Activity results: only a result whose (task, attempt) still exists counts.
    if (!batch.task_results.empty()) {
      PgArray ids, attempts;
      for (const auto& r : batch.task_results) {
        ids.integer(r.task_id);
        attempts.integer(r.attempt);
      }
      std::set<int64_t> deleted;
      for (const auto& row : txn.exec_prepared("delete_tasks", ids.str(), attempts.str())) {
        deleted.insert(row[0].as<int64_t>());
      }
      for (std::size_t i = 0; i < batch.task_results.size(); ++i) {
        const auto& r = batch.task_results[i];
        if (deleted.erase(r.task_id) == 0) continue;  // stale attempt or duplicate
        out.task_results[i] = true;
        add_inbox(r.ns, r.instance_id, r.event);
      }
    }
    if (in_ns.size() > 0) {
      txn.exec_prepared("insert_inbox", in_ns.str(), in_id.str(), in_part.str(), in_ev.str());
    }

    // 3. Orchestrator steps, fenced per instance by history_len.
    if (!batch.steps.empty()) {
      PgArray ns, id, expected, new_len, status, output, failure, ms, term;
      for (const auto& s : batch.steps) {
        ns.text(s.ns);
        id.text(s.instance_id);
        expected.integer(s.expected_history_len);
        new_len.integer(s.expected_history_len + static_cast<int64_t>(s.events.size()));
        status.integer(static_cast<int64_t>(s.status));
        output.hex(s.output);
        failure.hex(s.failure.error_type.empty() && s.failure.message.empty()
                        ? std::string()
                        : wire::encode(s.failure));
        ms.integer(s.now_ms);
        term.boolean(terminal(s.status));
      }
      std::set<std::string> applied;
      for (const auto& row : txn.exec_prepared("apply_steps", ns.str(), id.str(), expected.str(),
                                               new_len.str(), status.str(), output.str(),
                                               failure.str(), ms.str(), term.str())) {
        applied.insert(key_of(row[0].c_str(), row[1].c_str()));
      }
      PgArray h_ns, h_id, h_seq, h_type, h_ev, consumed, fin_ns, fin_id;
      std::size_t task_count = 0;
      for (std::size_t i = 0; i < batch.steps.size(); ++i) {
        const auto& s = batch.steps[i];
        if (!applied.count(key_of(s.ns, s.instance_id))) {
          out.steps[i] = Status(StatusCode::kConflict,
                                "instance '" + s.instance_id + "' moved on since the step was dispatched");
          continue;
        }
        int32_t seq = s.expected_history_len;
        for (const auto& ev : s.events) {
          h_ns.text(s.ns);
          h_id.text(s.instance_id);
          h_seq.integer(seq++);
          h_type.integer(static_cast<int64_t>(ev.type));
          h_ev.hex(wire::encode(ev));
        }
        for (int64_t c : s.consumed_inbox_ids) consumed.integer(c);
        if (terminal(s.status)) {
          fin_ns.text(s.ns);
          fin_id.text(s.instance_id);
        } else {
          task_count += s.tasks.size();
        }
      }
      if (h_ns.size() > 0) {
        txn.exec_prepared("insert_history", h_ns.str(), h_id.str(), h_seq.str(), h_type.str(),
                          h_ev.str());
      }
      if (consumed.size() > 0) txn.exec_prepared("delete_inbox", consumed.str());
      if (fin_ns.size() > 0) {
        txn.exec_prepared("finish_instances_tasks", fin_ns.str(), fin_id.str());
        txn.exec_prepared("finish_instances_inbox", fin_ns.str(), fin_id.str());
      }
      if (task_count > 0) {
        std::vector<int64_t> task_ids;
        task_ids.reserve(task_count);
        for (const auto& row : txn.exec_prepared("task_ids", static_cast<int64_t>(task_count))) {
          task_ids.push_back(row[0].as<int64_t>());
        }
        PgArray t_id, t_ns, t_inst, t_part, t_tq, t_name, t_tsid, t_input, t_dummy;
        std::size_t next = 0;
        for (std::size_t i = 0; i < batch.steps.size(); ++i) {
          const auto& s = batch.steps[i];
          if (!out.steps[i].is_ok() || terminal(s.status)) continue;
          for (const auto& t : s.tasks) {
            TaskRow row{task_ids[next++], s.ns, s.instance_id, t.task_queue, t.name,
                        t.task_scheduled_id, t.input, 1};
            t_id.integer(row.id);
            t_ns.text(row.ns);
            t_inst.text(row.instance_id);
            t_part.integer(partition_of(row.ns, row.instance_id));
            t_tq.text(row.task_queue);
            t_name.text(row.name);
            t_tsid.integer(row.task_scheduled_id);
            t_input.hex(row.input);
            t_dummy.integer(0);
            out.step_tasks[i].push_back(std::move(row));
          }
        }
        txn.exec_prepared("insert_tasks", t_id.str(), t_ns.str(), t_inst.str(), t_part.str(),
                          t_tq.str(), t_name.str(), t_tsid.str(), t_input.str(), t_dummy.str(),
                          lease.owner, activity_lease_ms);
      }
    }

    // 4. Re-dispatches: a new attempt for each task still at the abandoned attempt.
    if (!batch.redispatches.empty()) {
      PgArray ids, attempts;
      std::unordered_map<int64_t, std::size_t> index;
      for (std::size_t i = 0; i < batch.redispatches.size(); ++i) {
        ids.integer(batch.redispatches[i].task_id);
        attempts.integer(batch.redispatches[i].attempt);
        index[batch.redispatches[i].task_id] = i;
      }
      for (const auto& row : txn.exec_prepared("redispatch", ids.str(), attempts.str(), lease.owner,
                                               activity_lease_ms)) {
        TaskRow t = task_row_of(row);
        out.redispatches[index[t.id]] = std::move(t);
      }
    }

    // 5. Reads, after every write of this batch.
    if (!batch.loads.empty()) {
      PgArray ns, id;
      std::unordered_map<std::string, std::size_t> index;
      for (std::size_t i = 0; i < batch.loads.size(); ++i) {
        ns.text(batch.loads[i].ns);
        id.text(batch.loads[i].instance_id);
        index[key_of(batch.loads[i].ns, batch.loads[i].instance_id)] = i;
      }
      for (const auto& row : txn.exec_prepared("load_instances", ns.str(), id.str())) {
        auto& l = out.loads[index.at(key_of(row[0].c_str(), row[1].c_str()))];
        l.found = true;
        l.name = row[2].c_str();
        l.task_queue = row[3].c_str();
        l.status = static_cast<OrchestrationStatus>(row[4].as<int>());
        l.history_len = row[5].as<int32_t>();
      }
      for (const auto& row : txn.exec_prepared("load_history", ns.str(), id.str())) {
        out.loads[index.at(key_of(row[0].c_str(), row[1].c_str()))].history.push_back(
            decode_event(bytes_of(row[2])));
      }
      for (const auto& row : txn.exec_prepared("load_inbox", ns.str(), id.str())) {
        out.loads[index.at(key_of(row[1].c_str(), row[2].c_str()))].inbox.push_back(
            InboxEvent{row[0].as<int64_t>(), decode_event(bytes_of(row[3]))});
      }
    }
    if (!batch.describes.empty()) {
      PgArray ns, id;
      std::unordered_map<std::string, std::vector<std::size_t>> index;
      for (std::size_t i = 0; i < batch.describes.size(); ++i) {
        ns.text(batch.describes[i].ns);
        id.text(batch.describes[i].instance_id);
        index[key_of(batch.describes[i].ns, batch.describes[i].instance_id)].push_back(i);
      }
      for (const auto& row : txn.exec_prepared("describe", ns.str(), id.str())) {
        InstanceInfo info;
        info.ns = row[0].c_str();
        info.instance_id = row[1].c_str();
        info.name = row[2].c_str();
        info.status = static_cast<OrchestrationStatus>(row[3].as<int>());
        info.task_queue = row[4].c_str();
        info.input = bytes_of(row[5]);
        info.output = bytes_of(row[6]);
        info.custom_status = bytes_of(row[7]);
        info.failure = decode_failure(bytes_of(row[8]));
        info.created_ms = ms_of(row[9]);
        info.updated_ms = ms_of(row[10]);
        info.completed_ms = ms_of(row[11]);
        info.parent_instance_id = row[12].c_str();
        for (std::size_t i : index.at(key_of(info.ns, info.instance_id))) out.describes[i] = info;
      }
    }

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
  }
  return out;
}

}  // namespace baton::scheduler
