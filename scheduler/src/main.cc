// baton-scheduler: `migrate` applies the schema; `serve` runs the scheduler.
#include <csignal>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "baton/config.h"
#include "baton/metrics.h"
#include "baton/security.h"
#include "service.h"
#include "store/migrate.h"

namespace {
baton::scheduler::Service* g_service = nullptr;
void on_signal(int) {
  if (g_service) g_service->stop();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"baton-scheduler: the Baton scheduler (source of truth, client API, dispatch)"};
  app.require_subcommand(1);
  std::string db_url = baton::env_or("BATON_DB_URL", "");

  auto* migrate = app.add_subcommand("migrate", "apply the schema migrations (idempotent)");
  migrate->add_option("--db", db_url, "PostgreSQL URL (env BATON_DB_URL)");

  baton::scheduler::ServiceOptions opts;
  opts.listen_address = baton::env_or("BATON_LISTEN_ADDRESS", opts.listen_address);
  opts.broker_address = baton::env_or("BATON_BROKER_ADDRESS", opts.broker_address);
  opts.scheduler_id = baton::env_or("BATON_SCHEDULER_ID", "");
  opts.metrics_address =
      baton::env_or("BATON_METRICS_ADDRESS", baton::metrics::kSchedulerMetricsAddress);
  int64_t activity_lease_s = opts.activity_lease.count() / 1000;
  double backlog_interval_s = 5;
  std::string curve_key_file = baton::env_or("BATON_CURVE_SECRET_KEY_FILE", "");
  std::string clients_file = baton::env_or("BATON_CLIENTS_FILE", "");
  std::string broker_server_key = baton::env_or("BATON_BROKER_CURVE_SERVER_KEY", "");
  std::string broker_key_file = baton::env_or("BATON_BROKER_CURVE_KEY_FILE", "");
  auto* serve = app.add_subcommand("serve", "run the scheduler");
  serve->add_option("--db", db_url, "PostgreSQL URL (env BATON_DB_URL)");
  serve->add_option("--listen", opts.listen_address,
                    "client API address to bind (env BATON_LISTEN_ADDRESS)");
  serve->add_option("--broker", opts.broker_address, "broker address (env BATON_BROKER_ADDRESS)");
  serve->add_option("--id", opts.scheduler_id,
                    "partition lease owner name (env BATON_SCHEDULER_ID; default hostname)");
  serve->add_option("--activity-lease", activity_lease_s,
                    "seconds after which a dispatched activity is dispatched again")
      ->check(CLI::Range(1, 86400));
  double partition_lease_s = static_cast<double>(opts.partition_lease.count()) / 1000;
  serve->add_option("--partition-lease", partition_lease_s,
                    "seconds a partition lease lasts unless renewed (a standby takes over after "
                    "it expires)")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  serve->add_option("--max-payload-bytes", opts.max_payload_bytes, "orchestration input limit");
  serve->add_option("--max-history-events", opts.max_history_events,
                    "fail an execution whose history would pass this many events (0: no limit)")
      ->capture_default_str();
  serve->add_option("--history-warn-events", opts.history_warn_events,
                    "log a warning when an execution's history reaches this many events")
      ->capture_default_str();
  serve->add_option("--max-held-activities", opts.max_held_activities,
                    "activity tasks held in memory at most; the rest wait in PostgreSQL")
      ->check(CLI::Range(static_cast<std::size_t>(1), static_cast<std::size_t>(10000000)))
      ->capture_default_str();
  serve->add_option("--instance-cache", opts.instance_cache,
                    "instances whose history stays in memory between steps, so an activity "
                    "result is committed with the next step (0: none)")
      ->capture_default_str();
  serve->add_option("--instance-cache-events", opts.instance_cache_events,
                    "history events held in that cache at most, in total (bounds its memory)")
      ->capture_default_str();
  int64_t first_step_wait_ms = opts.first_step_wait.count();
  serve->add_option("--first-step-wait-ms", first_step_wait_ms,
                    "a new instance's first orchestrator step runs before its start is "
                    "committed; the start waits this long for it, to commit both in one "
                    "transaction (0: starts are committed alone)")
      ->check(CLI::Range(static_cast<int64_t>(0), static_cast<int64_t>(60000)))
      ->capture_default_str();
  serve->add_option("--sticky-orchestrations", opts.sticky_orchestrations,
                    "send an instance's next step to the worker that keeps its orchestrator "
                    "suspended, with only the history it has not seen; false: every step "
                    "carries the whole history")
      ->capture_default_str();
  serve->add_option("--eager-steps", opts.eager_steps,
                    "give an activity of a sticky instance the orchestrator step its "
                    "completion starts, for the worker that keeps the orchestrator to run it "
                    "at once and return it with the result; false: every step is dispatched")
      ->capture_default_str();
  int64_t quiet_result_hold_ms = opts.quiet_result_hold.count();
  serve->add_option("--quiet-result-hold-ms", quiet_result_hold_ms,
                    "hold an activity result its orchestrator cannot wake on yet (a when_all "
                    "still waiting for others) in memory up to this long, so the results that "
                    "complete the wait start one step instead of one each (0: never hold)")
      ->check(CLI::Range(static_cast<int64_t>(0), static_cast<int64_t>(60000)))
      ->capture_default_str();
  serve->add_option("--pipeline-batches", opts.pipeline_batches,
                    "send a common batch (starts, results, steps, loads) to PostgreSQL as one "
                    "pipelined round trip; false: always statement by statement")
      ->capture_default_str();
  serve->add_option("--curve-key-file", curve_key_file,
                    "our CurveZMQ key pair (batonctl keygen): clients must use CurveZMQ with a "
                    "key from --clients-file (env BATON_CURVE_SECRET_KEY_FILE)");
  serve->add_option("--clients-file", clients_file,
                    "who may connect: CurveZMQ public keys and/or API key hashes, with their "
                    "namespaces (env BATON_CLIENTS_FILE; see docs/configuration.md)");
  serve->add_option("--broker-curve-server-key", broker_server_key,
                    "the broker's CurveZMQ public key: the broker link uses CurveZMQ "
                    "(env BATON_BROKER_CURVE_SERVER_KEY)");
  serve->add_option("--broker-curve-key-file", broker_key_file,
                    "our key pair on the broker link (default: --curve-key-file; env "
                    "BATON_BROKER_CURVE_KEY_FILE)");
  serve->add_option("--metrics-address", opts.metrics_address,
                    "host:port serving /metrics, /healthz and /readyz (env BATON_METRICS_ADDRESS; "
                    "'off' disables)")
      ->capture_default_str();
  serve->add_option("--backlog-interval", backlog_interval_s,
                    "seconds between samples of the PostgreSQL backlog gauges")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (db_url.empty()) {
    spdlog::error("no database: pass --db URL or set BATON_DB_URL");
    return 2;
  }

  if (*migrate) {
    auto applied = baton::scheduler::migrate(db_url);
    if (!applied) {
      spdlog::error("{}", applied.status().message());
      return 1;
    }
    spdlog::info("schema at version {} ({} migrations applied)",
                 baton::scheduler::latest_schema_version(), *applied);
    return 0;
  }

  opts.db_url = db_url;
  if (!curve_key_file.empty()) {
    auto pair = baton::read_curve_key_file(curve_key_file);
    if (!pair) {
      spdlog::error("{}", pair.status().message());
      return 2;
    }
    opts.client_auth.curve = *pair;
  }
  if (!clients_file.empty()) {
    auto clients = baton::security::read_clients_file(clients_file);
    if (!clients) {
      spdlog::error("{}", clients.status().message());
      return 2;
    }
    opts.client_auth.principals = std::move(clients).value();
  }
  if (opts.client_auth.curve && opts.client_auth.principals.empty()) {
    spdlog::error("--curve-key-file needs --clients-file: with no allowed client keys every "
                  "client would be refused");
    return 2;
  }
  if (!opts.client_auth.curve && !opts.client_auth.principals.empty() &&
      !opts.client_auth.api_keys()) {
    spdlog::error("{} lists only CurveZMQ keys: pass --curve-key-file too", clients_file);
    return 2;
  }
  if (!broker_server_key.empty()) {
    if (auto st = baton::validate_z85_key(broker_server_key, "--broker-curve-server-key");
        !st) {
      spdlog::error("{}", st.message());
      return 2;
    }
    std::optional<baton::security::KeyPair> pair = opts.client_auth.curve;
    if (!broker_key_file.empty()) {
      auto read = baton::read_curve_key_file(broker_key_file);
      if (!read) {
        spdlog::error("{}", read.status().message());
        return 2;
      }
      pair = *read;
    }
    if (!pair) {
      spdlog::error("--broker-curve-server-key needs a key pair: --broker-curve-key-file or "
                    "--curve-key-file");
      return 2;
    }
    opts.broker_curve = {broker_server_key, pair->public_key, pair->secret_key};
  }
  opts.activity_lease = std::chrono::seconds(activity_lease_s);
  opts.first_step_wait = std::chrono::milliseconds(first_step_wait_ms);
  opts.quiet_result_hold = std::chrono::milliseconds(quiet_result_hold_ms);
  opts.partition_lease =
      std::chrono::milliseconds(static_cast<int64_t>(partition_lease_s * 1000));
  opts.backlog_interval =
      std::chrono::milliseconds(static_cast<int64_t>(backlog_interval_s * 1000));
  if (opts.metrics_address == "off") opts.metrics_address.clear();
  baton::scheduler::Service service(opts);
  g_service = &service;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  auto st = service.run();
  g_service = nullptr;
  if (!st) {
    spdlog::error("{}", st.message());
    return 1;
  }
  return 0;
}
