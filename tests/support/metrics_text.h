// Reading the Prometheus text exposition in tests.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace baton::testing {

// The value of one series in a text exposition, or nullopt when it is absent.
// Labels print sorted by name, as prometheus-cpp writes them.
inline std::optional<double> metric(const std::string& text, const std::string& name,
                                    const std::map<std::string, std::string>& labels = {}) {
  std::string series = name;
  if (!labels.empty()) {
    series += '{';
    for (const auto& [k, v] : labels) {
      if (series.back() != '{') series += ',';
      series += k + "=\"" + v + "\"";
    }
    series += '}';
  }
  series += ' ';
  for (std::size_t at = text.find(series); at != std::string::npos;
       at = text.find(series, at + 1)) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size()));
  }
  return std::nullopt;
}

}  // namespace baton::testing
