// Connection settings shared by clients, workers and batonctl.
//
// Precedence (DESIGN.md): code, then environment, then the TOML profile file,
// then defaults. This header covers environment and defaults; profile files
// arrive with the client/configuration issue.
#pragma once

#include <map>
#include <string>

namespace baton {

inline constexpr const char* kDefaultSchedulerAddress = "tcp://127.0.0.1:7233";
inline constexpr const char* kDefaultBrokerAddress = "tcp://127.0.0.1:7234";
inline constexpr const char* kDefaultNamespace = "default";
inline constexpr const char* kDefaultTaskQueue = "default";

// CurveZMQ keys of the connecting side of a link, Z85 text (40 characters
// each). Enabled when server_key is set; then public_key and secret_key
// must be set too.
struct CurveSettings {
  std::string server_key;  // the server's public key   BATON_CURVE_SERVER_KEY
  std::string public_key;  // ours                      BATON_CURVE_CLIENT_KEY_FILE (or _KEY)
  std::string secret_key;  // ours
  bool enabled() const { return !server_key.empty(); }
};

struct ConnectionSettings {
  std::string scheduler_address = kDefaultSchedulerAddress;  // BATON_ADDRESS
  std::string broker_address = kDefaultBrokerAddress;        // BATON_BROKER_ADDRESS
  std::string ns = kDefaultNamespace;                        // BATON_NAMESPACE
  std::string api_key;                                       // BATON_API_KEY
  CurveSettings curve;
  std::map<std::string, std::string> metadata;  // sent with every request (profile only)
  std::string config_file;  // the profile file read; empty: none
  std::string profile;      // the profile used; empty: none
  // Where each setting came from, by name ("address", "namespace",
  // "api_key", "curve.server_key", ...): "env BATON_X", "file F [profile P]",
  // "default".
  std::map<std::string, std::string> sources;
};

// Defaults overridden by the BATON_* environment variables that are set and
// non-empty.
ConnectionSettings connection_settings_from_env();

// The value of environment variable `name`, or `fallback` when unset/empty.
std::string env_or(const char* name, const std::string& fallback);

// A random RFC 4122 version-4 UUID string (instance ids, worker ids).
std::string random_uuid();

// A random 64-bit number that differs on every process start (incarnations).
uint64_t random_u64();

}  // namespace baton
