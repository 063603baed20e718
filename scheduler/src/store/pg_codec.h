// Helpers for passing many rows as PostgreSQL array literals to `unnest`.
// Thread-safety: value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace baton::scheduler::detail {

// Builds a one-dimensional array literal: {"a","b\"c"} / {1,2} / {"\\x00ff"}.
class PgArray {
 public:
  void text(std::string_view s);
  // Bytes as lowercase hex (use decode(x, 'hex') in SQL).
  void hex(std::string_view bytes);
  void integer(int64_t v);
  void boolean(bool v);
  std::string str() const { return out_ + "}"; }
  std::size_t size() const { return n_; }

 private:
  void sep();
  std::string out_ = "{";
  std::size_t n_ = 0;
};

// Lowercase hex of `bytes` (for decode(x, 'hex') in SQL).
std::string to_hex(std::string_view bytes);


}  // namespace baton::scheduler::detail
