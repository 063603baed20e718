// Validation of client requests at the API edge. Pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "baton/protocol.h"
#include "baton/status.h"

namespace baton::scheduler {

inline constexpr std::size_t kMaxNameBytes = 256;

// Names and ids: 1..256 bytes, no control characters. Empty namespace means
// the default one.
Status validate_instance_ref(const std::string& ns, const std::string& instance_id);
// A start: valid name, optional id, task queue and namespace, input within
// `max_payload_bytes`.
// Also: a known id reuse policy, start_at_ms and wait_timeout_ms not negative, an
// idempotency key of at most 256 bytes.
Status validate_start(const StartRequest& req, std::size_t max_payload_bytes);
// A list continuation token is opaque to clients: hex of the raw position
// "<created_at as PostgreSQL prints it>\x1f<instance id>". decode returns
// nullopt for anything else, so no malformed token reaches SQL.
std::string encode_list_token(const std::string& raw);
std::optional<std::string> decode_list_token(const std::string& token);

// Headers: at most 32, keys of 1 to 64 characters [A-Za-z0-9._-], values of
// at most 1,024 bytes.
Status validate_metadata(const Metadata& metadata);

// Filters: names as above, a page size of 1 to 1000, a time range that is
// not reversed, known statuses, a well-formed continuation token.
Status validate_list(const ListRequest& req);
// By id (a valid instance reference) or by filter (terminal statuses only).
Status validate_purge(const PurgeRequest& req);

}  // namespace baton::scheduler
