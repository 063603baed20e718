// A minimal blocking HTTP/1.0 GET for tests (probes, /metrics, the Prometheus
// HTTP API): no HTTP client library is a dependency of ours.
#pragma once

#include <string>

#include "baton/status.h"

namespace baton::test {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET http://host:port/path_and_query. `path_and_query` must already be
// URL-encoded (see url_encode). Errors: kUnavailable when the connection or
// the read fails or times out (timeout_ms), kInternal for a reply that is
// not HTTP.
Result<HttpResponse> http_get(const std::string& host, int port, const std::string& path_and_query,
                              int timeout_ms = 5000);

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string url_encode(const std::string& s);

}  // namespace baton::test
