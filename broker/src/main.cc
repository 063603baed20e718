// baton-broker: runs one Broker until SIGTERM/SIGINT (exit 0). Exits 1 when
// it cannot bind its ROUTER socket or its metrics address.
//
// Signals are blocked in every thread and taken by a dedicated thread with
// sigwait(), which calls Broker::stop(); the poll loop runs on the main thread.
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "baton/config.h"
#include "baton/metrics.h"
#include "broker/src/broker.h"

int main(int argc, char** argv) {
  baton::broker::BrokerOptions options;
  options.bind_address = baton::env_or("BATON_BROKER_BIND", baton::kDefaultBrokerAddress);
  options.metrics_address =
      baton::env_or("BATON_METRICS_ADDRESS", baton::metrics::kBrokerMetricsAddress);
  std::string log_level = "info";
  std::string curve_key_file = baton::env_or("BATON_CURVE_SECRET_KEY_FILE", "");
  std::string clients_file = baton::env_or("BATON_CLIENTS_FILE", "");

  CLI::App app{"baton-broker: routes work items between the Baton scheduler and workers"};
  app.add_option("--bind", options.bind_address,
                 "ZeroMQ endpoint of the ROUTER socket (env BATON_BROKER_BIND)")
      ->capture_default_str();
  app.add_option("--max-queue", options.max_queue,
                 "most items waiting per (namespace, task queue, kind); more are reported lost")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-batch", options.max_batch,
                 "most work items in one message to a worker and results in one message to the "
                 "scheduler; 1 sends each alone (env BATON_BROKER_MAX_BATCH)")
      ->envname("BATON_BROKER_MAX_BATCH")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--metrics-address", options.metrics_address,
                 "HOST:PORT serving /metrics, /healthz and /readyz over HTTP; 'off' serves "
                 "nothing (env BATON_METRICS_ADDRESS)")
      ->capture_default_str();
  app.add_option("--curve-key-file", curve_key_file,
                 "our CurveZMQ key pair (batonctl keygen): the scheduler and workers must use "
                 "CurveZMQ with a key from --clients-file (env BATON_CURVE_SECRET_KEY_FILE)");
  app.add_option("--clients-file", clients_file,
                 "the CurveZMQ public keys allowed to connect (env BATON_CLIENTS_FILE; see "
                 "docs/configuration.md)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  CLI11_PARSE(app, argc, argv);
  if (options.metrics_address == "off") options.metrics_address.clear();
  if (!curve_key_file.empty()) {
    auto pair = baton::read_curve_key_file(curve_key_file);
    if (!pair) {
      std::fprintf(stderr, "baton-broker: %s\n", pair.status().message().c_str());
      return 2;
    }
    options.auth.curve = *pair;
  }
  if (!clients_file.empty()) {
    auto clients = baton::security::read_clients_file(clients_file);
    if (!clients) {
      std::fprintf(stderr, "baton-broker: %s\n", clients.status().message().c_str());
      return 2;
    }
    options.auth.principals = std::move(clients).value();
  }
  if (options.auth.curve.has_value() != !options.auth.principals.empty()) {
    std::fprintf(stderr, "baton-broker: --curve-key-file and --clients-file go together\n");
    return 2;
  }
  if (options.auth.api_keys()) {
    std::fprintf(stderr, "baton-broker: API keys are for clients of the scheduler; the broker "
                         "accepts CurveZMQ keys only\n");
    return 2;
  }

  auto logger = spdlog::stderr_color_mt("baton-broker");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  // Block before any thread (ZeroMQ's included) exists, so only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto created = baton::broker::Broker::create(options);
  if (!created) {
    spdlog::critical("{}", created.status().to_string());
    return EXIT_FAILURE;
  }
  baton::broker::Broker& broker = **created;

  std::thread waiter([&broker, signals] {
    int sig = 0;
    if (sigwait(&signals, &sig) == 0) {
      spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    broker.stop();
  });

  const baton::Status status = broker.run();
  // Wake the waiter if the loop ended on its own (error or context shutdown).
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  if (!status) {
    spdlog::critical("{}", status.to_string());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
