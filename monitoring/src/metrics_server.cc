// The HTTP side of the metrics: prometheus-cpp's Exposer serves /metrics; a
// civetweb begin_request callback answers the two probe paths before the
// Exposer sees them. civetweb calls back with no user pointer of ours, so the
// one server of the process is reached through a global.
#include <CivetServer.h>
#include <civetweb.h>
#include <netdb.h>
#include <prometheus/exposer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <regex>
#include <thread>

#include "baton/metrics.h"

namespace baton::metrics {

namespace {

std::atomic<Metrics*> g_metrics{nullptr};

int reply(mg_connection* conn, int code, const std::string& body) {
  if (code == 200) {
    mg_send_http_ok(conn, "text/plain; charset=utf-8", static_cast<long long>(body.size()));
    mg_write(conn, body.data(), body.size());
  } else {
    mg_send_http_error(conn, code, "%s", body.c_str());
  }
  return code;  // non-zero: handled, the Exposer does not see it
}

int begin_request(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  const char* uri = info && info->local_uri ? info->local_uri : "";
  if (std::strcmp(uri, "/healthz") == 0) return reply(conn, 200, "ok\n");
  if (std::strcmp(uri, "/readyz") == 0) {
    Metrics* m = g_metrics.load();
    std::string why;
    if (m && m->ready(&why)) return reply(conn, 200, "ready\n");
    return reply(conn, 503, "not ready: " + (m ? why : std::string("stopping")) + "\n");
  }
  return 0;
}

// Connects to host:port and closes at once.
void poke(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) return;
  const int fd = ::socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd >= 0) {
    (void)::connect(fd, res->ai_addr, res->ai_addrlen);
    ::close(fd);
  }
  freeaddrinfo(res);
}

}  // namespace

struct MetricsServer::Impl {
  CivetCallbacks callbacks;
  std::unique_ptr<prometheus::Exposer> exposer;
  std::string host;  // where to connect to reach the listener
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& address,
                                                            Metrics& metrics) {
  static const std::regex kAddress(R"(^([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):([0-9]{1,5})$)");
  std::smatch m;
  if (!std::regex_match(address, m, kAddress) || std::stoi(m[2]) > 65535) {
    return invalid_argument("metrics address '" + address + "' is not host:port");
  }
  Metrics* expected = nullptr;
  if (!g_metrics.compare_exchange_strong(expected, &metrics)) {
    return Status(StatusCode::kFailedPrecondition, "this process already serves metrics");
  }
  auto impl = std::make_unique<Impl>();
  impl->callbacks.begin_request = &begin_request;
  const std::string host = m[1];
  impl->host = host == "0.0.0.0" ? "127.0.0.1" : host == "[::]" ? "::1" : host;
  if (impl->host.front() == '[') impl->host = impl->host.substr(1, impl->host.size() - 2);
  try {
    impl->exposer = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", address, "num_threads", "2"}, &impl->callbacks);
  } catch (const std::exception& e) {
    g_metrics.store(nullptr);
    return unavailable("cannot serve metrics on " + address + ": " + e.what());
  }
  for (const auto& c : metrics.collectables()) impl->exposer->RegisterCollectable(c);
  const auto ports = impl->exposer->GetListeningPorts();
  const int port = ports.empty() ? 0 : ports.front();
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl), port));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

// civetweb's listener polls with a 2 s quantum and checks its stop flag only
// between polls, so stopping could take 2 s; connecting to it while it stops
// wakes the poll at once.
MetricsServer::~MetricsServer() {
  std::atomic<bool> stopped{false};
  std::thread waker([this, &stopped] {
    while (!stopped.load()) {
      poke(impl_->host, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  impl_->exposer.reset();
  stopped.store(true);
  waker.join();
  g_metrics.store(nullptr);
}

}  // namespace baton::metrics
