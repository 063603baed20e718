// The scheduler's PostgreSQL connection: a libpqxx connection that also
// hands out its libpq handle, for what libpqxx 6 cannot do (libpq's pipeline
// mode: prepared statements with bound parameters, sent without waiting),
// and a read-only view of a libpq result shaped like pqxx's, so the same
// readers take either.
//
// libpqxx 6 keeps the handle private; a connection policy (its documented
// extension point for how a connection is made) sees every handle it
// creates and drops, and remembers the current one.
// Thread-safety: none, as pqxx::connection.
#pragma once

#include <libpq-fe.h>

#include <charconv>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include <pqxx/connection>

namespace baton::scheduler::detail {

class PgConnection : public pqxx::connection_base {
 public:
  explicit PgConnection(const std::string& options)
      : pqxx::connection_base(policy_), options_(options), policy_(options_) {
    init();
  }
  ~PgConnection() noexcept { close(); }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // The libpq connection libpqxx uses now (null while there is none). Only
  // between libpqxx transactions, and left idle.
  PGconn* raw() const { return policy_.current; }

 private:
  class Policy : public pqxx::connect_direct {
   public:
    explicit Policy(const std::string& options) : pqxx::connect_direct(options) {}
    handle do_startconnect(handle orig) override {
      return current = pqxx::connect_direct::do_startconnect(orig);
    }
    handle do_completeconnect(handle orig) override {
      return current = pqxx::connect_direct::do_completeconnect(orig);
    }
    handle do_dropconnect(handle orig) noexcept override {
      return current = pqxx::connect_direct::do_dropconnect(orig);
    }
    handle do_disconnect(handle orig) noexcept override {
      return current = pqxx::connect_direct::do_disconnect(orig);
    }
    PGconn* current = nullptr;
  };

  std::string options_;  // before policy_, which keeps a reference
  Policy policy_;
};

// A field of a libpq result in text format, read as pqxx::field is.
class PqField {
 public:
  PqField(const PGresult* r, int row, int col) : r_(r), row_(row), col_(col) {}
  const char* c_str() const { return PQgetvalue(r_, row_, col_); }
  bool is_null() const { return PQgetisnull(r_, row_, col_) != 0; }
  template <class T>
  T as() const {
    T v{};
    const char* s = c_str();
    const char* end = s + PQgetlength(r_, row_, col_);
    auto [p, ec] = std::from_chars(s, end, v);
    if (ec != std::errc() || p != end) {
      throw std::runtime_error(std::string("not a number in a result: '") + s + "'");
    }
    return v;
  }
  // A bytea field's bytes.
  std::string bytes() const {
    std::size_t n = 0;
    unsigned char* b = PQunescapeBytea(reinterpret_cast<const unsigned char*>(c_str()), &n);
    if (b == nullptr) throw std::bad_alloc();
    std::string out(reinterpret_cast<const char*>(b), n);
    PQfreemem(b);
    return out;
  }

 private:
  const PGresult* r_;
  int row_, col_;
};

class PqRow {
 public:
  PqRow(const PGresult* r, int row) : r_(r), row_(row) {}
  PqField operator[](int col) const { return PqField(r_, row_, col); }

 private:
  const PGresult* r_;
  int row_;
};

// Owns a PGresult; iterates its rows.
class PqResult {
 public:
  PqResult() = default;
  explicit PqResult(PGresult* r) : r_(r, &PQclear) {}
  const PGresult* get() const { return r_.get(); }
  int size() const { return r_ ? PQntuples(r_.get()) : 0; }

  class iterator {
   public:
    iterator(const PGresult* r, int row) : r_(r), row_(row) {}
    PqRow operator*() const { return PqRow(r_, row_); }
    iterator& operator++() {
      ++row_;
      return *this;
    }
    bool operator!=(const iterator& o) const { return row_ != o.row_; }

   private:
    const PGresult* r_;
    int row_;
  };
  iterator begin() const { return iterator(r_.get(), 0); }
  iterator end() const { return iterator(r_.get(), size()); }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_{nullptr, &PQclear};
};

}  // namespace baton::scheduler::detail
