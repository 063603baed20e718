// The history events a database holds, one per event, for tests that check
// what was committed. A baton_history row holds the events one step appended,
// encoded back to back (migration 0008), so SQL alone cannot count them.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "baton/protocol.h"
#include "baton/wire.h"

namespace baton::testing {

struct StoredEvent {
  std::string instance_id;
  int seq = 0;  // its place in the instance's history
  HistoryEvent event;
};

// Every event of the rows of baton_history that `where` selects (SQL over
// its columns; empty: all), in (namespace, instance_id, seq) order. Throws on
// a row whose bytes are not its `events` events.
inline std::vector<StoredEvent> stored_history(const std::string& url,
                                               const std::string& where = "") {
  pqxx::connection c(url);
  pqxx::nontransaction q(c);
  std::vector<StoredEvent> out;
  for (const auto& row :
       q.exec("SELECT instance_id, seq, events, event FROM baton_history" +
              (where.empty() ? std::string() : " WHERE " + where) +
              " ORDER BY namespace, instance_id, seq")) {
    const pqxx::binarystring b(row[3]);
    const std::string bytes = b.str();
    std::size_t offset = 0;
    const int n = row[2].as<int>();
    for (int i = 0; i < n; ++i) {
      auto ev = wire::decode_at<HistoryEvent>(bytes, offset);
      if (!ev) throw std::runtime_error("history row: " + ev.status().to_string());
      out.push_back(StoredEvent{row[0].c_str(), row[1].as<int>() + i, std::move(ev).value()});
    }
    if (offset != bytes.size()) throw std::runtime_error("history row: bytes after its events");
  }
  return out;
}

// `s` as an SQL string literal.
inline std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// How many of `events` are of `type`.
inline int64_t count_of(const std::vector<StoredEvent>& events, EventType type) {
  int64_t n = 0;
  for (const auto& e : events) n += e.event.type == type ? 1 : 0;
  return n;
}

}  // namespace baton::testing
