// CurveZMQ and API-key authentication shared by the parts (see
// docs/configuration.md, "Security").
//
// A server socket (the scheduler's client ROUTER, the broker's ROUTER) uses
// one mechanism: CURVE when it has a key pair (clients must present an
// allow-listed public key), else PLAIN carrying an API key (username
// "apikey", password the key; the scheduler stores only SHA-256 hashes), else
// NULL (plain TCP, no authentication). A ZAP handler on the socket's context
// checks the credentials and names the principal; every message from that
// connection then carries it as the "User-Id" property.
// Thread-safety: ZapHandler runs its own thread between start() and its
// destructor; the free functions are pure.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "baton/config.h"
#include "baton/status.h"

namespace baton::security {

// Key files and key checks are baton/config.h's (read_curve_key_file,
// validate_z85_key): one format for servers and clients.
using KeyPair = CurveKeyPair;

// A fresh CURVE key pair. kFailedPrecondition if libzmq lacks CURVE.
Result<KeyPair> generate_key_pair();
// "public_key = ...\nsecret_key = ...\n" (TOML), what `batonctl keygen`
// writes and read_curve_key_file reads.
std::string key_pair_file_text(const KeyPair& pair);

// Lowercase hex SHA-256 of `text` (libsodium).
std::string sha256_hex(const std::string& text);
// A new random API key ("bk_" + 40 hex characters).
std::string generate_api_key();

// Someone allowed in: by CURVE public key or by API key hash, with the
// namespaces it may use (empty: every namespace).
struct Principal {
  std::string name;
  std::string curve_public_key;  // Z85; empty: none
  std::string api_key_sha256;    // hex; empty: none
  std::set<std::string> namespaces;
  bool allows(const std::string& ns) const { return namespaces.empty() || namespaces.count(ns); }
};

// The clients file (TOML), e.g.
//   [[client]]
//   name = "ci"
//   curve_public_key = "..."     # and/or
//   api_key_sha256 = "..."
//   namespaces = ["default"]     # omitted: every namespace
// Errors name the file and the entry: unreadable, malformed, unknown keys,
// bad key lengths, duplicate names, an entry with no credential.
Result<std::vector<Principal>> read_clients_file(const std::string& path);

// How a server socket authenticates.
struct ServerAuth {
  std::optional<KeyPair> curve;          // set: CURVE
  std::vector<Principal> principals;     // allowed clients (CURVE keys or API keys)
  bool api_keys() const;                 // PLAIN with API keys (no CURVE, some key hashes)
  bool enabled() const { return curve.has_value() || api_keys(); }
};

// Sets the server options of `socket` (before bind) for `auth`; nothing for
// NULL. The ZAP domain is "baton".
void apply_server(zmq::socket_t& socket, const ServerAuth& auth);
// Sets the client options of `socket` (before connect): CURVE when
// `curve.enabled()`, else PLAIN when `api_key` is set.
void apply_client(zmq::socket_t& socket, const CurveSettings& curve, const std::string& api_key);

// The "User-Id" property of a received message: the principal its
// connection authenticated as; empty without authentication.
std::string user_id_of(const zmq::message_t& msg);

// The ZAP handler (RFC 27) of one context: accepts CURVE clients whose key
// is a principal's and PLAIN clients whose API key hashes to one; refuses
// everything else (counted). User-Id is the principal's name.
class ZapHandler {
 public:
  static Result<std::unique_ptr<ZapHandler>> start(zmq::context_t& ctx, ServerAuth auth);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  uint64_t refused() const { return refused_.load(); }
  // The principal named `user_id` (a message's "User-Id"); nullptr if none.
  const Principal* principal(const std::string& user_id) const;

 private:
  ZapHandler(zmq::context_t& ctx, ServerAuth auth);
  void run();

  zmq::context_t& ctx_;
  ServerAuth auth_;
  std::map<std::string, const Principal*> by_name_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace baton::security
