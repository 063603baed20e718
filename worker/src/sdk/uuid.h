// Name-based UUIDs (RFC 4122 version 5: SHA-1 of a namespace UUID and a
// name), for OrchestrationContext::new_uuid: the same name always gives the
// same UUID, so replays agree.
// Thread-safety: free functions, no shared state.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace baton::detail {

// The 20-byte SHA-1 digest of `data`.
std::array<uint8_t, 20> sha1(std::string_view data);

// The version-5 UUID of `name` in the namespace given as 16 raw bytes,
// formatted lowercase "xxxxxxxx-xxxx-5xxx-yxxx-xxxxxxxxxxxx".
std::string uuid_v5(const std::array<uint8_t, 16>& namespace_id, std::string_view name);

// RFC 4122's NAMESPACE_URL (6ba7b811-9dad-11d1-80b4-00c04fd430c8).
inline constexpr std::array<uint8_t, 16> kUuidNamespaceUrl = {
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};

}  // namespace baton::detail
