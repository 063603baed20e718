// Validation of client requests at the API edge. Pure functions.
#pragma once

#include <cstddef>
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
Status validate_start(const StartRequest& req, std::size_t max_payload_bytes);

}  // namespace baton::scheduler
