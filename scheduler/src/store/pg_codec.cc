#include "store/pg_codec.h"

namespace baton::scheduler::detail {

void PgArray::sep() {
  if (n_++ > 0) out_.push_back(',');
}

void PgArray::text(std::string_view s) {
  sep();
  out_.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out_.push_back('\\');
    out_.push_back(c);
  }
  out_.push_back('"');
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

void PgArray::hex(std::string_view bytes) {
  sep();
  out_.push_back('"');
  out_ += to_hex(bytes);
  out_.push_back('"');
}

void PgArray::integer(int64_t v) {
  sep();
  out_ += std::to_string(v);
}

void PgArray::boolean(bool v) {
  sep();
  out_ += v ? "t" : "f";
}

}  // namespace baton::scheduler::detail
