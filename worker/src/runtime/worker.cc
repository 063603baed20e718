#include "baton/worker.h"

#include "runtime/worker_impl.h"

namespace baton {

Worker::Worker(WorkerOptions options)
    : impl_(std::make_unique<detail::WorkerImpl>(std::move(options))) {}

Worker::~Worker() = default;

int Worker::run() { return impl_->run(); }

void Worker::stop() { impl_->stop(); }

const WorkerOptions& Worker::options() const { return impl_->options(); }

int Worker::metrics_port() const { return impl_->metrics_port(); }

void Worker::register_orchestrator(std::string name, detail::OrchestratorFn fn) {
  impl_->registry().add_orchestrator(std::move(name), std::move(fn));
}

void Worker::register_activity(std::string name, detail::ActivityFn fn) {
  impl_->registry().add_activity(std::move(name), std::move(fn));
}

}  // namespace baton
