#include "store/migrate.h"

#include <pqxx/pqxx>

namespace baton::scheduler {
namespace {
// Arbitrary constant: the advisory lock key serializing migrators.
constexpr int64_t kMigrationLockKey = 0x6261746f6e;  // "baton"

constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS baton_schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
}  // namespace

int latest_schema_version() { return known_migrations().back().version; }

Result<int> schema_version(pqxx::connection_base& conn) {
  try {
    pqxx::nontransaction q(conn);
    auto exists = q.exec("SELECT to_regclass('baton_schema_migrations') IS NOT NULL");
    if (!exists[0][0].as<bool>()) return 0;
    auto r = q.exec("SELECT coalesce(max(version), 0) FROM baton_schema_migrations");
    return r[0][0].as<int>();
  } catch (const std::exception& e) {
    return unavailable(std::string("cannot read schema version: ") + e.what());
  }
}

Result<int> migrate(const std::string& url) {
  try {
    pqxx::connection conn(url);
    {
      pqxx::work txn(conn);
      txn.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
      txn.exec0(kCreateTable);
      txn.commit();
    }
    int applied = 0;
    for (const auto& m : known_migrations()) {
      pqxx::work txn(conn);
      txn.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
      const int current =
          txn.exec1("SELECT coalesce(max(version), 0) FROM baton_schema_migrations")[0].as<int>();
      if (current > latest_schema_version()) {
        return Status(StatusCode::kFailedPrecondition,
                      "database schema version " + std::to_string(current) +
                          " is newer than this binary knows (" +
                          std::to_string(latest_schema_version()) + "); upgrade baton-scheduler");
      }
      if (m.version <= current) continue;
      txn.exec0(m.sql);
      txn.exec_params0("INSERT INTO baton_schema_migrations (version, name) VALUES ($1, $2)",
                       m.version, m.name);
      txn.commit();
      ++applied;
    }
    return applied;
  } catch (const std::exception& e) {
    return unavailable(std::string("migration failed: ") + e.what());
  }
}

}  // namespace baton::scheduler
