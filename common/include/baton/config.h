// Connection settings shared by clients, workers and batonctl.
//
// Precedence (DESIGN.md): code, then environment, then the TOML profile file,
// then defaults. load_connection_settings() reads the environment and the
// profile file; code (ClientOptions/WorkerOptions fields, batonctl flags)
// overrides what it returns. docs/configuration.md describes the variables
// and the file format.
//
// Thread-safety: the functions read the process environment and files; call
// them while no other thread modifies the environment (setenv/unsetenv).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "baton/status.h"

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
  // load_connection_settings() fills "address", "broker_address",
  // "namespace", "api_key", "curve.server_key", "curve.public_key",
  // "curve.secret_key" always ("default" when unset), "metadata.KEY" per
  // entry, and "config_file", "profile" when a file was read. A client key
  // pair read from a key file says "key file K (env
  // BATON_CURVE_CLIENT_KEY_FILE)" or "key file K (file F [profile P]
  // client_key_file)".
  std::map<std::string, std::string> sources;
};

// The effective settings: defaults, overridden by the profile file's
// selected profile, overridden by the BATON_* environment variables that are
// set and non-empty.
//
// The file is $BATON_CONFIG_FILE, else $HOME/.config/baton/baton.toml (none
// when HOME is unset). The profile is `profile` when non-empty (chosen in
// code; `chosen_by` names that choice in sources["profile"] and in messages,
// e.g. "flag --profile"), else $BATON_PROFILE, else "default". Environment variables: BATON_ADDRESS, BATON_BROKER_ADDRESS,
// BATON_NAMESPACE, BATON_API_KEY, BATON_CURVE_SERVER_KEY, and the client key
// pair as BATON_CURVE_CLIENT_KEY_FILE (a key file, see read_curve_key_file)
// or BATON_CURVE_CLIENT_KEY ("PUBLIC:SECRET", Z85).
//
// kInvalidArgument, the message naming the file (with line and column) or the
// variable, when: BATON_CONFIG_FILE names a missing or unreadable file; the
// default file exists but cannot be read; the file is not valid TOML; it has
// a key outside [profile.NAME] or a profile has a key it does not know; a
// value has the wrong type or is empty; a file exists and lacks the selected
// profile, or a profile was chosen explicitly (code, BATON_PROFILE) and there
// is no file; a CurveZMQ key is not 40 Z85 characters, or the public key does
// not belong to the secret key; both BATON_CURVE_CLIENT_KEY_FILE and
// BATON_CURVE_CLIENT_KEY are set, or a profile has both client_key_file and
// public_key/secret_key; a server key is set without a client key pair or a
// client key pair without a server key. Error messages never contain a
// secret (API key, secret key).
Result<ConnectionSettings> load_connection_settings(const std::string& profile = {},
                                                    const std::string& chosen_by = "code");

// load_connection_settings(), or, when that fails, the defaults overridden by
// the BATON_* variables that are set and non-empty (addresses, namespace,
// API key, server key; no profile file, no client key pair, nothing
// validated). For callers with no way to report an error; those that have
// one call load_connection_settings().
ConnectionSettings connection_settings_from_env();

// $HOME/.config/baton/baton.toml; empty when HOME is unset or empty.
std::string default_config_file_path();

// A CurveZMQ key pair in Z85 text.
struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};

// Reads a key file: TOML with exactly `public_key = "..."` and
// `secret_key = "..."` (the format `batonctl keygen` writes). kInvalidArgument
// naming `path` (and the field, line and column) when the file cannot be
// read, is not TOML, misses a key, has another key, a key is not 40 Z85
// characters, or the public key does not belong to the secret key.
Result<CurveKeyPair> read_curve_key_file(const std::string& path);

// Ok when `key` is 40 characters of the Z85 alphabet (a 32-byte CurveZMQ
// key); otherwise kInvalidArgument "<where>: ..." (length or the offending
// position; never the key itself). `where` names the source, e.g.
// "BATON_CURVE_SERVER_KEY" or "/etc/baton/baton.toml [profile prod]
// curve.server_key".
Status validate_z85_key(const std::string& key, const std::string& where);

// Ok when `secret_key` is the secret half of `public_key` (both valid Z85
// keys), or when this libzmq cannot tell (built without CURVE); otherwise
// kInvalidArgument "<where>: public_key does not belong to secret_key".
Status check_curve_key_pair(const std::string& public_key, const std::string& secret_key,
                            const std::string& where);

// A secret as it may be shown or logged: its first 4 characters and "****"
// when it has at least 12, else "****"; "" for "".
std::string mask_secret(std::string_view secret);

// The value of environment variable `name`, or `fallback` when unset/empty.
std::string env_or(const char* name, const std::string& fallback);

// A random RFC 4122 version-4 UUID string (instance ids, worker ids).
std::string random_uuid();

// A random 64-bit number that differs on every process start (incarnations).
uint64_t random_u64();

}  // namespace baton
