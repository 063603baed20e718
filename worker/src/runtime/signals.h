// SignalRoute: turns SIGTERM/SIGINT into a byte ('S') written to a file
// descriptor (the self-pipe of Worker::run's poll loop). The handler only
// does an atomic load and write(2): async-signal-safe.
//
// Thread-safety: at most one route is active per process; construct and
// destroy it on one thread. A second concurrent route stays inactive.
#pragma once

#include <signal.h>

namespace baton::detail {

inline constexpr char kSignalByte = 'S';
inline constexpr char kStopByte = 's';

class SignalRoute {
 public:
  explicit SignalRoute(int write_fd);  // installs the handlers
  ~SignalRoute();                      // restores the previous handlers
  SignalRoute(const SignalRoute&) = delete;
  SignalRoute& operator=(const SignalRoute&) = delete;

  // False when another route was active or sigaction failed.
  bool active() const { return active_; }

 private:
  bool active_ = false;
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
};

// Blocks SIGTERM/SIGINT in the calling thread (pool threads), so signals
// land on threads that expect them and user code never sees EINTR from them.
void block_stop_signals_in_this_thread();

}  // namespace baton::detail
