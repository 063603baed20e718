// A fresh PostgreSQL database per test, inside the throwaway cluster that
// `make test` starts (BATON_TEST_PG_URL). Dropped when the object dies.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include <pqxx/pqxx>

#include "baton/config.h"

namespace baton::testing {

inline std::string test_pg_url() {
  const char* url = std::getenv("BATON_TEST_PG_URL");
  if (!url || !*url) {
    throw std::runtime_error(
        "BATON_TEST_PG_URL is not set: run the suite with `make test`, which starts a throwaway "
        "PostgreSQL");
  }
  return url;
}

// `url` with its database name replaced by `db`.
inline std::string with_database(const std::string& url, const std::string& db) {
  const auto q = url.find('?');
  const std::string base = url.substr(0, q);
  const std::string query = q == std::string::npos ? "" : url.substr(q);
  const auto slash = base.rfind('/');
  return base.substr(0, slash + 1) + db + query;
}

class TempDatabase {
 public:
  TempDatabase() : TempDatabase(test_pg_url()) {}
  // In the cluster `admin_url` points at (e.g. a test's private cluster).
  explicit TempDatabase(std::string admin_url) : admin_url_(std::move(admin_url)) {
    name_ = "baton_test_" + random_uuid().substr(0, 8);
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec0("CREATE DATABASE " + name_);
    url_ = with_database(admin_url_, name_);
  }
  ~TempDatabase() {
    try {
      pqxx::connection c(admin_url_);
      pqxx::nontransaction tx(c);
      tx.exec0("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
      // Best effort: the whole cluster is thrown away after the suite.
    }
  }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;

  const std::string& url() const { return url_; }

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

}  // namespace baton::testing
