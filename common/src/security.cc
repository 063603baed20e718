#include "baton/security.h"

#include "toml_file.h"

#include <sodium.h>

#include <chrono>

namespace baton::security {

namespace {
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr const char* kZapDomain = "baton";

}  // namespace

Result<KeyPair> generate_key_pair() {
  char pub[41] = {}, sec[41] = {};
  if (zmq_curve_keypair(pub, sec) != 0) {
    return Status(StatusCode::kFailedPrecondition, "libzmq was built without CURVE support");
  }
  return KeyPair{pub, sec};
}

std::string key_pair_file_text(const KeyPair& pair) {
  return "# A Baton CurveZMQ key pair (batonctl keygen). Keep secret_key secret.\n"
         "public_key = \"" + pair.public_key + "\"\nsecret_key = \"" + pair.secret_key + "\"\n";
}

std::string sha256_hex(const std::string& text) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string generate_api_key() {
  unsigned char bytes[20];
  randombytes_buf(bytes, sizeof bytes);
  static const char* kHex = "0123456789abcdef";
  std::string out = "bk_";
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

Result<std::vector<Principal>> read_clients_file(const std::string& path) {
  auto table = detail::parse_toml_file(path, "clients file");
  if (!table) return table.status();
  std::vector<Principal> out;
  std::set<std::string> names;
  for (auto&& [k, v] : *table) {
    if (k.str() != "client") return invalid_argument(path + ": unknown key '" + std::string(k.str()) + "'");
  }
  const toml::array* clients = (*table)["client"].as_array();
  if (!clients) return out;
  for (std::size_t i = 0; i < clients->size(); ++i) {
    const toml::table* entry = (*clients)[i].as_table();
    const std::string where = path + ": client #" + std::to_string(i + 1);
    if (!entry) return invalid_argument(where + " is not a table");
    Principal p;
    for (auto&& [k, v] : *entry) {
      const std::string key(k.str());
      if (key == "name" || key == "curve_public_key" || key == "api_key_sha256") {
        if (!v.is_string()) return invalid_argument(where + ": " + key + " must be a string");
        const std::string s = *v.value<std::string>();
        if (key == "name") p.name = s;
        if (key == "curve_public_key") p.curve_public_key = s;
        if (key == "api_key_sha256") p.api_key_sha256 = s;
      } else if (key == "namespaces") {
        const toml::array* ns = v.as_array();
        if (!ns) return invalid_argument(where + ": namespaces must be an array of strings");
        for (auto&& n : *ns) {
          if (!n.is_string()) return invalid_argument(where + ": namespaces must be strings");
          p.namespaces.insert(*n.value<std::string>());
        }
      } else {
        return invalid_argument(where + ": unknown key '" + key + "'");
      }
    }
    if (p.name.empty()) return invalid_argument(where + ": name is missing");
    if (!names.insert(p.name).second) return invalid_argument(where + ": duplicate name '" + p.name + "'");
    if (p.curve_public_key.empty() && p.api_key_sha256.empty()) {
      return invalid_argument(where + " ('" + p.name +
                              "'): needs curve_public_key or api_key_sha256");
    }
    if (!p.curve_public_key.empty()) {
      if (auto st = validate_z85_key(p.curve_public_key, where + ": curve_public_key"); !st) return st;
    }
    if (!p.api_key_sha256.empty() &&
        (p.api_key_sha256.size() != 64 ||
         p.api_key_sha256.find_first_not_of("0123456789abcdef") != std::string::npos)) {
      return invalid_argument(where + ": api_key_sha256 must be 64 lowercase hex characters "
                                      "(batonctl keygen --api-key prints it)");
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::string user_id_of(const zmq::message_t& msg) {
  const char* v = zmq_msg_gets(msg.handle(), "User-Id");
  return v ? std::string(v) : std::string();
}

bool ServerAuth::api_keys() const {
  if (curve) return false;
  for (const auto& p : principals) {
    if (!p.api_key_sha256.empty()) return true;
  }
  return false;
}

void apply_server(zmq::socket_t& socket, const ServerAuth& auth) {
  if (auth.curve) {
    socket.set(zmq::sockopt::curve_server, 1);
    socket.set(zmq::sockopt::curve_secretkey, auth.curve->secret_key);
    socket.set(zmq::sockopt::zap_domain, kZapDomain);
  } else if (auth.api_keys()) {
    socket.set(zmq::sockopt::plain_server, 1);
    socket.set(zmq::sockopt::zap_domain, kZapDomain);
  }
}

void apply_client(zmq::socket_t& socket, const CurveSettings& curve, const std::string& api_key) {
  if (curve.enabled()) {
    socket.set(zmq::sockopt::curve_serverkey, curve.server_key);
    socket.set(zmq::sockopt::curve_publickey, curve.public_key);
    socket.set(zmq::sockopt::curve_secretkey, curve.secret_key);
  } else if (!api_key.empty()) {
    socket.set(zmq::sockopt::plain_username, "apikey");
    socket.set(zmq::sockopt::plain_password, api_key);
  }
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::start(zmq::context_t& ctx, ServerAuth auth) {
  if (sodium_init() < 0) return internal_error("libsodium failed to initialise");
  std::unique_ptr<ZapHandler> h(new ZapHandler(ctx, std::move(auth)));
  return h;
}

ZapHandler::ZapHandler(zmq::context_t& ctx, ServerAuth auth) : ctx_(ctx), auth_(std::move(auth)) {
  for (const auto& p : auth_.principals) by_name_[p.name] = &p;
  // Bind before returning so no handshake can come before the handler.
  auto sock = std::make_shared<zmq::socket_t>(ctx_, zmq::socket_type::rep);
  sock->set(zmq::sockopt::linger, 0);
  sock->bind(kZapEndpoint);
  thread_ = std::thread([this, sock] {
    zmq::socket_t& s = *sock;
    while (!stop_.load()) {
      zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&item, 1, std::chrono::milliseconds(100));
        if (!(item.revents & ZMQ_POLLIN)) continue;
        std::vector<zmq::message_t> frames;
        do {
          zmq::message_t m;
          if (!s.recv(m, zmq::recv_flags::none)) break;
          frames.push_back(std::move(m));
        } while (frames.back().more());
        // version, request id, domain, address, routing id, mechanism, credentials...
        std::string status = "400", text = "refused", user;
        if (frames.size() >= 6 && frames[0].to_string() == "1.0") {
          const std::string mechanism = frames[5].to_string();
          if (mechanism == "CURVE" && frames.size() == 7 && frames[6].size() == 32) {
            char z85[41] = {};
            zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32);
            for (const auto& p : auth_.principals) {
              if (!p.curve_public_key.empty() && p.curve_public_key == z85) user = p.name;
            }
            text = user.empty() ? "client key not allowed" : "ok";
          } else if (mechanism == "PLAIN" && frames.size() == 8) {
            const std::string hash = sha256_hex(frames[7].to_string());
            for (const auto& p : auth_.principals) {
              if (!p.api_key_sha256.empty() && sodium_memcmp(p.api_key_sha256.data(), hash.data(), 64) == 0) {
                user = p.name;
              }
            }
            text = user.empty() ? "unknown API key" : "ok";
          } else {
            text = "mechanism " + mechanism + " not accepted";
          }
        }
        if (!user.empty()) {
          status = "200";
        } else {
          refused_.fetch_add(1);
        }
        const std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
        s.send(zmq::buffer(std::string("1.0")), zmq::send_flags::sndmore);
        s.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
        s.send(zmq::buffer(status), zmq::send_flags::sndmore);
        s.send(zmq::buffer(text), zmq::send_flags::sndmore);
        s.send(zmq::buffer(user), zmq::send_flags::sndmore);
        s.send(zmq::buffer(std::string()), zmq::send_flags::none);
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) break;
      }
    }
  });
}

ZapHandler::~ZapHandler() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

const Principal* ZapHandler::principal(const std::string& user_id) const {
  auto it = by_name_.find(user_id);
  return it == by_name_.end() ? nullptr : it->second;
}

}  // namespace baton::security
