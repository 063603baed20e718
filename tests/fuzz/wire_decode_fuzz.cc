// Fuzz target: every msgpack body decoder (wire::decode<T> for each message
// in baton/protocol.h). Input: [message type byte] [body bytes]. See
// tests/fuzz/messages.h for the property checked.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  baton::fuzz::check_decode_as(data[0],
                               std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
