// WorkerImpl: what baton::Worker owns (options, registry, the self-pipe that
// wakes the I/O loop). The loop itself is a Session (runtime/session.h);
// run() also creates the run's metrics and, with a metrics address, their
// HTTP server (for as long as it runs).
//
// Thread-safety: registry() and run() from the owning thread; stop() and
// metrics_port() from any thread (atomics + write(2) to the self-pipe).
#pragma once

#include <atomic>
#include <memory>

#include "baton/worker.h"
#include "sdk/registry.h"

namespace baton::detail {

class WorkerImpl {
 public:
  explicit WorkerImpl(WorkerOptions options);
  ~WorkerImpl();
  WorkerImpl(const WorkerImpl&) = delete;
  WorkerImpl& operator=(const WorkerImpl&) = delete;

  const WorkerOptions& options() const { return options_; }
  // Mutable until run() starts.
  Registry& registry() { return *registry_; }
  const Registry& registry() const { return *registry_; }

  int run();
  void stop();
  int metrics_port() const { return metrics_port_.load(); }

 private:
  WorkerOptions options_;
  // shared with pool threads, which may outlive run() after an abandoned drain
  std::shared_ptr<Registry> registry_;
  int wake_read_fd_ = -1;
  int wake_write_fd_ = -1;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> started_{false};
  std::atomic<int> metrics_port_{0};  // while run() serves metrics
};

// What in-process tests need of a Worker without running it: the registry
// its add_orchestrator/add_activity calls filled.
struct WorkerAccess {
  static const Registry& registry(const Worker& worker) { return worker.impl_->registry(); }
};

}  // namespace baton::detail
