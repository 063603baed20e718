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

namespace {

void append_hex(std::string& out, std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const std::size_t at = out.size();
  out.resize(at + bytes.size() * 2);
  char* p = out.data() + at;
  for (unsigned char c : bytes) {
    *p++ = kDigits[c >> 4];
    *p++ = kDigits[c & 15];
  }
}

}  // namespace

std::string to_hex(std::string_view bytes) {
  std::string out;
  append_hex(out, bytes);
  return out;
}

void PgArray::hex(std::string_view bytes) {
  sep();
  out_.push_back('"');
  append_hex(out_, bytes);  // no temporary per element
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
