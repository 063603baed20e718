// Time source. Lease, timer and backoff logic take a Clock so tests can move
// time without sleeping. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

namespace baton {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch (recorded in history).
  virtual int64_t now_ms() const = 0;
  // Monotonic milliseconds (deadlines, leases in memory).
  virtual int64_t steady_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t steady_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace baton
