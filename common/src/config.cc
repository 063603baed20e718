#include "baton/config.h"

#include "toml_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <vector>

namespace baton {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}

namespace detail {

Result<std::string> read_text_file(const std::string& path, const std::string& what) {
  const auto fail = [&](int err) {
    return invalid_argument(what + ": cannot read " + path + ": " + std::strerror(err));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno);
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return fail(err);
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

std::string position(const std::string& path, const toml::source_region& src) {
  return path + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

Result<toml::table> parse_toml_file(const std::string& path, const std::string& what) {
  Result<std::string> text = read_text_file(path, what);
  if (!text) return text.status();
  try {
    return toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    return invalid_argument(position(path, e.source()) +
                            ": malformed TOML: " + std::string(e.description()));
  }
}

}  // namespace detail

namespace {

using detail::parse_toml_file;
using detail::position;
using detail::read_text_file;

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
constexpr std::size_t kZ85KeyChars = 40;
constexpr const char* kDefaultProfile = "default";
constexpr const char* kDefaultSource = "default";

bool path_missing(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
}

// The whole file, or kInvalidArgument "<what>: cannot read <path>: <errno>".
const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// kInvalidArgument naming every key of `table` not in `known`, or ok.
Status check_known_keys(const toml::table& table, const std::set<std::string_view>& known,
                        const std::string& path, const std::string& where) {
  std::string unknown;
  const toml::source_region* first = nullptr;
  for (const auto& [key, node] : table) {
    if (known.count(key.str()) != 0) continue;
    if (!first) first = &key.source();
    unknown += (unknown.empty() ? "'" : ", '") + std::string(key.str()) + "' (line " +
               std::to_string(key.source().begin.line) + ")";
  }
  if (unknown.empty()) return Status::ok();
  std::string expected;
  for (std::string_view k : known) expected += (expected.empty() ? "" : ", ") + std::string(k);
  return invalid_argument(position(path, *first) + ": unknown key(s) in " + where + ": " + unknown +
                          "; expected " + expected);
}

// The string at `table[key]`, nullopt when absent; kInvalidArgument when it
// is not a non-empty string.
Result<std::optional<std::string>> get_string(const toml::table& table, std::string_view key,
                                              const std::string& path, const std::string& where) {
  const toml::node* n = table.get(key);
  if (!n) return std::optional<std::string>();
  const auto* str = n->as_string();
  if (!str) {
    return invalid_argument(position(path, n->source()) + ": " + where + " " + std::string(key) +
                            " must be a string, not " + type_name(*n));
  }
  if (str->get().empty()) {
    return invalid_argument(position(path, n->source()) + ": " + where + " " + std::string(key) +
                            " is empty (remove the line to leave it unset)");
  }
  return std::optional<std::string>(str->get());
}

// A curve key field read so far, and where it came from.
struct KeyOrigin {
  // Names the variable or file and field in error messages; empty for a key
  // file (read_curve_key_file checked it, naming the file).
  std::string where;
  std::string source;  // ConnectionSettings::sources text
  // For a key pair: how to name each half in error messages.
  std::string public_where;
  std::string secret_where;
};

// What a profile or the environment chose for the CurveZMQ fields.
struct CurveChoice {
  std::optional<KeyOrigin> server_key;
  std::optional<KeyOrigin> key_pair;  // public_key and secret_key
  std::string key_file;               // a key file still to read (profile), else empty
  std::string key_file_where;         // the profile field that names it
};

std::string dirname_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Applies [profile.NAME] of `doc` (read from `path`) to `s`.
// `profile_source` says who chose the profile ("default", "env BATON_PROFILE", ...).
Status apply_profile(const toml::table& doc, const std::string& path, const std::string& profile,
                     const std::string& profile_source, ConnectionSettings& s, CurveChoice& curve) {
  if (Status st = check_known_keys(doc, {"profile"}, path,
                                   "the top level (settings go in "
                                   "[profile.NAME] tables)");
      !st) {
    return st;
  }
  const toml::table* profiles = nullptr;
  if (const toml::node* n = doc.get("profile")) {
    profiles = n->as_table();
    if (!profiles) {
      return invalid_argument(position(path, n->source()) + ": profile must be a table of " +
                              "[profile.NAME] tables, not " + type_name(*n));
    }
  }
  const toml::node* chosen = profiles ? profiles->get(profile) : nullptr;
  if (!chosen) {
    std::string names;
    if (profiles) {
      for (const auto& [key, node] : *profiles) {
        names += (names.empty() ? "" : ", ") + std::string(key.str());
      }
    }
    return invalid_argument(
        path + ": no profile '" + profile + "' (from " + profile_source + "; " +
        (names.empty() ? std::string("the file defines no profile") : "profiles: " + names) + ")");
  }
  const std::string where = "[profile." + profile + "]";
  const toml::table* t = chosen->as_table();
  if (!t) {
    return invalid_argument(position(path, chosen->source()) + ": " + where +
                            " must be a table, not " + type_name(*chosen));
  }
  if (Status st = check_known_keys(
          *t, {"address", "broker_address", "namespace", "api_key", "curve", "metadata"}, path,
          where);
      !st) {
    return st;
  }
  const std::string source = "file " + path + " [profile " + profile + "]";
  const std::pair<const char*, std::string*> plain[] = {{"address", &s.scheduler_address},
                                                        {"broker_address", &s.broker_address},
                                                        {"namespace", &s.ns},
                                                        {"api_key", &s.api_key}};
  for (const auto& [key, field] : plain) {
    auto value = get_string(*t, key, path, where);
    if (!value) return value.status();
    if (*value) {
      *field = **value;
      s.sources[key] = source;
    }
  }

  if (const toml::node* n = t->get("metadata")) {
    const toml::table* md = n->as_table();
    if (!md) {
      return invalid_argument(position(path, n->source()) + ": " + where +
                              " metadata must be a table, not " + type_name(*n));
    }
    for (const auto& [key, value] : *md) {
      const auto* str = value.as_string();
      if (!str) {
        return invalid_argument(position(path, value.source()) + ": " + where + " metadata." +
                                std::string(key.str()) + " must be a string, not " +
                                type_name(value));
      }
      s.metadata[std::string(key.str())] = str->get();
      s.sources["metadata." + std::string(key.str())] = source;
    }
  }

  if (const toml::node* n = t->get("curve")) {
    const toml::table* c = n->as_table();
    const std::string cwhere = "[profile." + profile + ".curve]";
    if (!c) {
      return invalid_argument(position(path, n->source()) + ": " + where +
                              " curve must be a table, not " + type_name(*n));
    }
    if (Status st = check_known_keys(
            *c, {"server_key", "client_key_file", "public_key", "secret_key"}, path, cwhere);
        !st) {
      return st;
    }
    auto server = get_string(*c, "server_key", path, cwhere);
    auto key_file = get_string(*c, "client_key_file", path, cwhere);
    auto pub = get_string(*c, "public_key", path, cwhere);
    auto sec = get_string(*c, "secret_key", path, cwhere);
    for (const auto* r : {&server, &key_file, &pub, &sec}) {
      if (!*r) return r->status();
    }
    const std::string fwhere = path + " " + where + " curve.";
    if (*server) {
      s.curve.server_key = **server;
      s.sources["curve.server_key"] = source;
      curve.server_key = KeyOrigin{fwhere + "server_key", source, "", ""};
    }
    if (*key_file && (*pub || *sec)) {
      return invalid_argument(position(path, c->source()) + ": " + cwhere +
                              " has both client_key_file and public_key/secret_key; keep one");
    }
    if (bool(*pub) != bool(*sec)) {
      return invalid_argument(
          position(path, c->source()) + ": " + cwhere + " has " +
          (*pub ? "public_key without secret_key" : "secret_key without public_key"));
    }
    if (*pub) {
      s.curve.public_key = **pub;
      s.curve.secret_key = **sec;
      curve.key_pair = KeyOrigin{fwhere + "public_key/secret_key", source, fwhere + "public_key",
                                 fwhere + "secret_key"};
    }
    if (*key_file) {
      std::string file = **key_file;
      if (file.front() != '/') file = dirname_of(path) + "/" + file;
      curve.key_file = file;
      curve.key_file_where = fwhere + "client_key_file";
      curve.key_pair =
          KeyOrigin{"", "key file " + file + " (" + source + " client_key_file)", "", ""};
    }
  }
  return Status::ok();
}

// Sets `field` and its source from environment variable `name` if set.
bool overlay_env(const char* name, std::string& field, ConnectionSettings& s, const char* key) {
  std::string value = env_or(name, "");
  if (value.empty()) return false;
  field = std::move(value);
  s.sources[key] = std::string("env ") + name;
  return true;
}

Status apply_key_file(const std::string& file, const std::string& what, ConnectionSettings& s) {
  Result<CurveKeyPair> pair = read_curve_key_file(file);
  if (!pair) return invalid_argument(what + ": " + pair.status().message());
  s.curve.public_key = pair->public_key;
  s.curve.secret_key = pair->secret_key;
  return Status::ok();
}

// The environment layer of the curve settings, then the key file a profile
// named, then the checks on the effective keys.
Status apply_curve(ConnectionSettings& s, CurveChoice& curve) {
  if (overlay_env("BATON_CURVE_SERVER_KEY", s.curve.server_key, s, "curve.server_key")) {
    curve.server_key = KeyOrigin{"BATON_CURVE_SERVER_KEY", "env BATON_CURVE_SERVER_KEY", "", ""};
  }
  const std::string env_file = env_or("BATON_CURVE_CLIENT_KEY_FILE", "");
  const std::string env_key = env_or("BATON_CURVE_CLIENT_KEY", "");
  if (!env_file.empty() && !env_key.empty()) {
    return invalid_argument(
        "both BATON_CURVE_CLIENT_KEY_FILE and "
        "BATON_CURVE_CLIENT_KEY are set; set one");
  }
  if (!env_key.empty()) {
    // Z85 contains ':', so split by position: 40 characters, ':', 40
    // characters.
    if (env_key.size() != 2 * kZ85KeyChars + 1 || env_key[kZ85KeyChars] != ':') {
      return invalid_argument(
          "BATON_CURVE_CLIENT_KEY: must be PUBLIC:SECRET, two 40-character "
          "Z85 keys joined by ':' (81 characters), got " +
          std::to_string(env_key.size()) + " characters");
    }
    s.curve.public_key = env_key.substr(0, kZ85KeyChars);
    s.curve.secret_key = env_key.substr(kZ85KeyChars + 1);
    curve.key_file.clear();
    curve.key_pair = KeyOrigin{"BATON_CURVE_CLIENT_KEY", "env BATON_CURVE_CLIENT_KEY",
                               "BATON_CURVE_CLIENT_KEY (public key, before ':')",
                               "BATON_CURVE_CLIENT_KEY (secret key, after ':')"};
  } else if (!env_file.empty()) {
    if (Status st = apply_key_file(env_file, "BATON_CURVE_CLIENT_KEY_FILE", s); !st) return st;
    curve.key_file.clear();
    curve.key_pair =
        KeyOrigin{"", "key file " + env_file + " (env BATON_CURVE_CLIENT_KEY_FILE)", "", ""};
  } else if (!curve.key_file.empty()) {
    if (Status st = apply_key_file(curve.key_file, curve.key_file_where, s); !st) return st;
  }

  if (curve.server_key) {
    if (Status st = validate_z85_key(s.curve.server_key, curve.server_key->where); !st) return st;
  }
  if (curve.key_pair) {
    s.sources["curve.public_key"] = curve.key_pair->source;
    s.sources["curve.secret_key"] = curve.key_pair->source;
    // A key file's keys were checked (naming the file) by read_curve_key_file.
    if (!curve.key_pair->where.empty()) {
      const std::string& w = curve.key_pair->where;
      const KeyOrigin& k = *curve.key_pair;
      if (Status st = validate_z85_key(s.curve.public_key, k.public_where); !st) return st;
      if (Status st = validate_z85_key(s.curve.secret_key, k.secret_where); !st) return st;
      if (Status st = check_curve_key_pair(s.curve.public_key, s.curve.secret_key, w); !st) {
        return st;
      }
    }
  }
  if (curve.server_key && !curve.key_pair) {
    return invalid_argument("a CurveZMQ server key is set (" + curve.server_key->source +
                            ") but no client key pair: set BATON_CURVE_CLIENT_KEY_FILE (see "
                            "`batonctl keygen`), BATON_CURVE_CLIENT_KEY or the profile's "
                            "curve.client_key_file");
  }
  if (curve.key_pair && !curve.server_key) {
    return invalid_argument("a CurveZMQ client key pair is set (" + curve.key_pair->source +
                            ") but no server key: set BATON_CURVE_SERVER_KEY or the profile's "
                            "curve.server_key");
  }
  return Status::ok();
}

}  // namespace

std::string default_config_file_path() {
  const std::string home = env_or("HOME", "");
  return home.empty() ? std::string() : home + "/.config/baton/baton.toml";
}

Result<ConnectionSettings> load_connection_settings(const std::string& profile_override,
                                                    const std::string& chosen_by) {
  ConnectionSettings s;
  for (const char* key : {"address", "broker_address", "namespace", "api_key", "curve.server_key",
                          "curve.public_key", "curve.secret_key"}) {
    s.sources[key] = kDefaultSource;
  }

  std::string file = env_or("BATON_CONFIG_FILE", "");
  const bool explicit_file = !file.empty();
  if (!explicit_file) file = default_config_file_path();

  std::string profile = kDefaultProfile;
  std::string profile_source = kDefaultSource;
  if (!profile_override.empty()) {
    profile = profile_override;
    profile_source = chosen_by;
  } else if (std::string env = env_or("BATON_PROFILE", ""); !env.empty()) {
    profile = env;
    profile_source = "env BATON_PROFILE";
  }

  CurveChoice curve;
  if (explicit_file && path_missing(file)) {
    return invalid_argument("BATON_CONFIG_FILE: " + file + " does not exist");
  }
  if (!file.empty() && !path_missing(file)) {
    const std::string what = explicit_file ? "BATON_CONFIG_FILE" : "config file";
    Result<toml::table> doc = parse_toml_file(file, what);
    if (!doc) return doc.status();
    if (Status st = apply_profile(*doc, file, profile, profile_source, s, curve); !st) return st;
    s.config_file = file;
    s.profile = profile;
    s.sources["config_file"] = explicit_file ? "env BATON_CONFIG_FILE" : kDefaultSource;
    s.sources["profile"] = profile_source;
  } else if (profile_source != kDefaultSource) {
    return invalid_argument(
        "no profile '" + profile + "' (from " + profile_source + "): there is no config file (" +
        (file.empty() ? std::string("HOME is unset") : file + " does not exist") +
        "; BATON_CONFIG_FILE names another)");
  }

  overlay_env("BATON_ADDRESS", s.scheduler_address, s, "address");
  overlay_env("BATON_BROKER_ADDRESS", s.broker_address, s, "broker_address");
  overlay_env("BATON_NAMESPACE", s.ns, s, "namespace");
  overlay_env("BATON_API_KEY", s.api_key, s, "api_key");
  if (Status st = apply_curve(s, curve); !st) return st;
  return s;
}

ConnectionSettings connection_settings_from_env() {
  Result<ConnectionSettings> loaded = load_connection_settings();
  if (loaded) return std::move(loaded).value();
  ConnectionSettings s;
  s.scheduler_address = env_or("BATON_ADDRESS", s.scheduler_address);
  s.broker_address = env_or("BATON_BROKER_ADDRESS", s.broker_address);
  s.ns = env_or("BATON_NAMESPACE", s.ns);
  s.api_key = env_or("BATON_API_KEY", s.api_key);
  s.curve.server_key = env_or("BATON_CURVE_SERVER_KEY", s.curve.server_key);
  return s;
}

Result<CurveKeyPair> read_curve_key_file(const std::string& path) {
  Result<toml::table> doc = parse_toml_file(path, "key file");
  if (!doc) return doc.status();
  const std::string where = "key file";
  if (Status st = check_known_keys(*doc, {"public_key", "secret_key"}, path, where); !st) {
    return st;
  }
  CurveKeyPair pair;
  for (auto [key, field] :
       {std::pair{"public_key", &pair.public_key}, std::pair{"secret_key", &pair.secret_key}}) {
    auto value = get_string(*doc, key, path, where);
    if (!value) return value.status();
    if (!*value) return invalid_argument(path + ": key file has no " + key);
    *field = **value;
    if (Status st = validate_z85_key(*field, path + " " + key); !st) return st;
  }
  if (Status st = check_curve_key_pair(pair.public_key, pair.secret_key, path); !st) return st;
  return pair;
}

Status validate_z85_key(const std::string& key, const std::string& where) {
  if (key.size() != kZ85KeyChars) {
    return invalid_argument(where + ": a CurveZMQ key must be 40 Z85 characters, got " +
                            std::to_string(key.size()));
  }
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (kZ85Alphabet.find(key[i]) == std::string_view::npos) {
      return invalid_argument(where + ": character " + std::to_string(i + 1) +
                              " of the key is not in the Z85 alphabet");
    }
  }
  return Status::ok();
}

Status check_curve_key_pair(const std::string& public_key, const std::string& secret_key,
                            const std::string& where) {
  if (Status st = validate_z85_key(public_key, where + " (public key)"); !st) return st;
  if (Status st = validate_z85_key(secret_key, where + " (secret key)"); !st) return st;
  char derived[kZ85KeyChars + 1] = {};
  if (zmq_curve_public(derived, secret_key.c_str()) != 0) {
    // ENOTSUP: this libzmq has no CURVE; the socket setup will say so.
    return Status::ok();
  }
  if (public_key != derived) {
    return invalid_argument(where + ": public_key does not belong to secret_key");
  }
  return Status::ok();
}

std::string mask_secret(std::string_view secret) {
  if (secret.empty()) return {};
  if (secret.size() < 12) return "****";
  return std::string(secret.substr(0, 4)) + "****";
}

namespace {
std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }()};
  return gen;
}
}  // namespace

uint64_t random_u64() { return rng()(); }

std::string random_uuid() {
  uint64_t hi = random_u64(), lo = random_u64();
  hi = (hi & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // variant 1
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
  return buf;
}

}  // namespace baton
