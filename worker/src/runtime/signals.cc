#include "runtime/signals.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace baton::detail {
namespace {

std::atomic<int> g_route_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_stop_signal(int /*signo*/) {
  const int saved_errno = errno;
  const int fd = g_route_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const char byte = kSignalByte;
    [[maybe_unused]] ssize_t n = write(fd, &byte, 1);
  }
  errno = saved_errno;
}

}  // namespace

SignalRoute::SignalRoute(int write_fd) {
  int expected = -1;
  if (!g_route_fd.compare_exchange_strong(expected, write_fd)) return;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGTERM, &sa, &old_term_) != 0) {
    g_route_fd.store(-1);
    return;
  }
  if (sigaction(SIGINT, &sa, &old_int_) != 0) {
    sigaction(SIGTERM, &old_term_, nullptr);
    g_route_fd.store(-1);
    return;
  }
  active_ = true;
}

SignalRoute::~SignalRoute() {
  if (!active_) return;
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGINT, &old_int_, nullptr);
  g_route_fd.store(-1);
}

void block_stop_signals_in_this_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace baton::detail
