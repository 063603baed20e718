#include "baton/config.h"

#include <cstdio>
#include <cstdlib>
#include <random>

namespace baton {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}

ConnectionSettings connection_settings_from_env() {
  ConnectionSettings s;
  s.scheduler_address = env_or("BATON_ADDRESS", s.scheduler_address);
  s.broker_address = env_or("BATON_BROKER_ADDRESS", s.broker_address);
  s.ns = env_or("BATON_NAMESPACE", s.ns);
  return s;
}

namespace {
std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }()};
  return gen;
}
}  // namespace

uint64_t random_u64() { return rng()(); }

std::string random_uuid() {
  uint64_t hi = random_u64(), lo = random_u64();
  hi = (hi & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // variant 1
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
  return buf;
}

}  // namespace baton
