// Reading TOML files inside baton_common (profiles, key files, clients
// files): one place that reads, parses and words the errors. Private to
// common/src, so toml++ stays out of public headers.
#pragma once

#include <toml++/toml.h>

#include <string>

#include "baton/status.h"

namespace baton::detail {

// The file's text. kInvalidArgument "<what>: cannot read <path>: <reason>".
Result<std::string> read_text_file(const std::string& path, const std::string& what);
// "<path>:<line>:<column>" of a parsed node.
std::string position(const std::string& path, const toml::source_region& src);
// The parsed file. kInvalidArgument naming the file (unreadable) or the
// position (malformed TOML).
Result<toml::table> parse_toml_file(const std::string& path, const std::string& what);

}  // namespace baton::detail
