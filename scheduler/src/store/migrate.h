// Versioned, forward-only schema migrations (schema/migrations/NNNN_*.sql,
// compiled into the binary). Thread-safety: free functions, one connection.
#pragma once

#include <string>
#include <vector>

#include <pqxx/connection>

#include "baton/status.h"


namespace baton::scheduler {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Every migration this binary knows, ascending by version.
const std::vector<Migration>& known_migrations();
int latest_schema_version();

// The highest applied version; 0 for an empty database.
Result<int> schema_version(pqxx::connection_base& conn);

// Applies every missing migration, each in its own transaction, under an
// advisory lock so concurrent migrators wait for each other. Idempotent.
// kFailedPrecondition if the database is newer than this binary. Returns
// the number of migrations applied.
Result<int> migrate(const std::string& url);

}  // namespace baton::scheduler
