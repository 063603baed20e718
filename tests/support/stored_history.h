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
    std::vector<HistoryEvent> events;
    const Status st = wire::decode_sequence(b.str(), row[2].as<std::size_t>(), events);
    if (!st.is_ok()) throw std::runtime_error("history row: " + st.to_string());
    for (std::size_t i = 0; i < events.size(); ++i) {
      out.push_back(StoredEvent{row[0].c_str(), row[1].as<int>() + static_cast<int>(i),
                                std::move(events[i])});
    }
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
