// batonctl: start, inspect and control orchestrations from a shell. JSON is
// converted to and from msgpack here and nowhere else. Exit codes: 0 ok, 1 the
// operation failed (not found, finished, failed orchestration, timeout,
// unavailable), 2 usage (including invalid JSON).
#include <chrono>
#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "baton/client.h"
#include "baton/config.h"
#include "json_codec.h"

namespace baton::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr double kDefaultWaitSeconds = 60;
constexpr double kDefaultRequestTimeoutSeconds = 30;

struct Globals {
  std::string address;
  std::string ns;
  std::string output = "text";
  double request_timeout_s = kDefaultRequestTimeoutSeconds;
  bool json() const { return output == "json"; }
};

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

std::string seconds_text(double seconds) {
  std::ostringstream os;
  os << seconds;
  return os.str();
}

ClientOptions client_options(const Globals& g) {
  ClientOptions o = ClientOptions::from_env();  // BATON_ADDRESS, BATON_NAMESPACE, defaults
  if (!g.address.empty()) o.address = g.address;
  if (!g.ns.empty()) o.ns = g.ns;
  o.request_timeout = to_ms(g.request_timeout_s);
  return o;
}

int report(const Status& s) {
  std::cerr << "batonctl: " << s.message() << " [" << status_code_name(s.code()) << "]\n";
  return kExitFailed;
}

// Prints a finished instance; the exit code says whether it completed.
int print_finished(const OrchestrationMetadata& m, const Globals& g) {
  if (g.json()) std::cout << dump_pretty(instance_to_json(m)) << "\n";
  if (m.is_completed()) {
    if (!g.json()) std::cout << format_output(payload_to_json(m.output)) << "\n";
    return kExitOk;
  }
  std::cerr << "batonctl: orchestration " << m.instance_id << " finished as " << m.status_name();
  if (!m.failure.error_type.empty() || !m.failure.message.empty()) {
    std::cerr << ": " << m.failure.error_type << (m.failure.error_type.empty() ? "" : ": ")
              << m.failure.message;
  }
  std::cerr << "\n";
  if (!m.failure.details.empty()) std::cerr << m.failure.details << "\n";
  return kExitFailed;
}

int wait_and_print(Client& client, const std::string& id, double timeout_s, const Globals& g) {
  Result<OrchestrationMetadata> m = client.wait_for_orchestration_completion(id, to_ms(timeout_s));
  if (!m) {
    if (m.status().code() == StatusCode::kDeadlineExceeded) {
      std::cerr << "batonctl: orchestration " << id << " did not finish within "
                << seconds_text(timeout_s) << " s\n";
    }
    return report(m.status());
  }
  return print_finished(m.value(), g);
}

struct StartArgs {
  std::string name;
  std::optional<std::string> input;
  std::string id;
  std::string task_queue;
  bool wait = false;
  double timeout_s = kDefaultWaitSeconds;
};

int run_start(const StartArgs& a, const Globals& g) {
  Bytes input;
  if (a.input) {
    Result<Bytes> encoded = json_to_msgpack(*a.input);
    if (!encoded) {
      std::cerr << "batonctl: --input: " << encoded.status().message() << "\n";
      return kExitUsage;
    }
    input = std::move(encoded).value();
  }
  Client client(client_options(g));
  Result<std::string> id =
      client.schedule_new_orchestration(a.name, input, StartOptions{a.id, a.task_queue});
  if (!id) return report(id.status());
  if (a.wait) {
    if (!g.json()) std::cerr << "started " << id.value() << "\n";
    return wait_and_print(client, id.value(), a.timeout_s, g);
  }
  if (!g.json()) {
    std::cout << id.value() << "\n";
    return kExitOk;
  }
  Result<OrchestrationMetadata> m = client.get_orchestration_metadata(id.value());
  if (!m) return report(m.status());
  std::cout << dump_pretty(instance_to_json(m.value())) << "\n";
  return kExitOk;
}

int run_describe(const std::string& id, const Globals& g) {
  Client client(client_options(g));
  Result<OrchestrationMetadata> m = client.get_orchestration_metadata(id);
  if (!m) return report(m.status());
  std::cout << dump_pretty(instance_to_json(m.value())) << "\n";
  return kExitOk;
}

int run_wait(const std::string& id, double timeout_s, const Globals& g) {
  Client client(client_options(g));
  return wait_and_print(client, id, timeout_s, g);
}

// One line per event: SEQ, TIMESTAMP (ISO-8601 UTC), TYPE, DETAIL, under a
// header line; columns padded to their widest entry.
void print_history_table(const std::vector<HistoryEvent>& events) {
  std::size_t seq_width = 3;   // "SEQ"
  std::size_t type_width = 4;  // "TYPE"
  for (std::size_t i = 0; i < events.size(); ++i) {
    seq_width = std::max(seq_width, std::to_string(i).size());
    type_width = std::max(type_width, std::string(event_type_name(events[i].type)).size());
  }
  const std::size_t time_width = iso8601_utc(0).size();
  auto line = [&](const std::string& seq, const std::string& time, const std::string& type,
                  const std::string& detail) {
    std::ostringstream os;
    os << std::right << std::setw(static_cast<int>(seq_width)) << seq << "  " << std::left
       << std::setw(static_cast<int>(time_width)) << time << "  "
       << std::setw(static_cast<int>(type_width)) << type << "  " << detail;
    std::string text = os.str();
    text.erase(text.find_last_not_of(' ') + 1);  // no padding after the last column
    std::cout << text << "\n";
  };
  line("SEQ", "TIMESTAMP", "TYPE", "DETAIL");
  for (std::size_t i = 0; i < events.size(); ++i) {
    const HistoryEvent& ev = events[i];
    line(std::to_string(i), ev.timestamp_ms == 0 ? "-" : iso8601_utc(ev.timestamp_ms),
         event_type_name(ev.type), history_event_detail(ev));
  }
}

int run_history(const std::string& id, const Globals& g) {
  Client client(client_options(g));
  Result<std::vector<HistoryEvent>> events = client.get_orchestration_history(id);
  if (!events) return report(events.status());
  if (g.json()) {
    std::cout << dump_pretty(history_to_json(events.value())) << "\n";
  } else {
    print_history_table(events.value());
  }
  return kExitOk;
}

// Exit 0 when every invariant holds, 1 (listing each violation) otherwise.
int run_verify(const Globals& g) {
  Client client(client_options(g));
  Result<std::vector<std::string>> violations = client.verify_database();
  if (!violations) return report(violations.status());
  if (violations->empty()) {
    std::cout << "ok: every invariant holds\n";
    return kExitOk;
  }
  for (const auto& v : *violations) std::cout << "violation: " << v << "\n";
  std::cerr << "batonctl: " << violations->size() << " invariant violation(s)\n";
  return kExitFailed;
}

struct RaiseArgs {
  std::string id;
  std::string event;
  std::optional<std::string> data;
};

int run_raise(const RaiseArgs& a, const Globals& g) {
  Bytes data;
  if (a.data) {
    Result<Bytes> encoded = json_to_msgpack(*a.data);
    if (!encoded) {
      std::cerr << "batonctl: --data: " << encoded.status().message() << "\n";
      return kExitUsage;
    }
    data = std::move(encoded).value();
  }
  Client client(client_options(g));
  if (Status s = client.raise_orchestration_event(a.id, a.event, data); !s.is_ok()) {
    return report(s);
  }
  return kExitOk;
}

// The arguments of terminate, suspend and resume.
struct ControlArgs {
  std::string id;
  std::string reason;
  bool no_recursive = false;  // terminate only
};

int run_terminate(const ControlArgs& a, const Globals& g) {
  Client client(client_options(g));
  if (Status s = client.terminate_orchestration(a.id, a.reason, !a.no_recursive); !s.is_ok()) {
    return report(s);
  }
  return kExitOk;
}

int run_suspend(const ControlArgs& a, const Globals& g) {
  Client client(client_options(g));
  if (Status s = client.suspend_orchestration(a.id, a.reason); !s.is_ok()) return report(s);
  return kExitOk;
}

int run_resume(const ControlArgs& a, const Globals& g) {
  Client client(client_options(g));
  if (Status s = client.resume_orchestration(a.id, a.reason); !s.is_ok()) return report(s);
  return kExitOk;
}

int run(int argc, char** argv) {
  CLI::App app{"batonctl: start, inspect and control Baton orchestrations"};
  app.set_version_flag("--version", BATON_VERSION);
  app.fallthrough();  // global options are accepted after the subcommand too
  app.require_subcommand(1);

  Globals g;
  app.add_option("--address", g.address,
                 std::string("scheduler address (else $BATON_ADDRESS, else ") +
                     kDefaultSchedulerAddress + ")");
  app.add_option("--namespace", g.ns,
                 std::string("namespace (else $BATON_NAMESPACE, else ") + kDefaultNamespace + ")");
  app.add_option("-o,--output", g.output, "text (default) or json: the full instance (history: every event) as JSON")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--request-timeout", g.request_timeout_s,
                 "seconds to wait for the scheduler to answer a request")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  StartArgs start;
  CLI::App* start_cmd = app.add_subcommand("start", "start an orchestration, print its id");
  start_cmd->add_option("NAME", start.name, "orchestration name")->required();
  start_cmd->add_option("--input", start.input, "input as JSON, e.g. '\"World\"' or '{\"n\":3}'");
  start_cmd->add_option("--id", start.id, "instance id (default: a UUID chosen by the scheduler)");
  start_cmd->add_option("--task-queue", start.task_queue, "task queue (default: default)");
  start_cmd->add_flag("--wait", start.wait, "wait for completion, then print like `wait`");
  start_cmd->add_option("--timeout", start.timeout_s, "seconds to wait with --wait")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  std::string describe_id;
  CLI::App* describe_cmd = app.add_subcommand("describe", "print an instance as JSON");
  describe_cmd->add_option("ID", describe_id, "instance id")->required();

  std::string wait_id;
  double wait_timeout_s = kDefaultWaitSeconds;
  CLI::App* wait_cmd =
      app.add_subcommand("wait", "wait until an instance finishes, print its output");
  wait_cmd->add_option("ID", wait_id, "instance id")->required();
  wait_cmd->add_option("--timeout", wait_timeout_s, "seconds to wait")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  std::string history_id;
  CLI::App* history_cmd = app.add_subcommand(
      "history", "print an instance's history: a table, or with -o json every event");
  history_cmd->add_option("ID", history_id, "instance id")->required();

  CLI::App* admin_cmd = app.add_subcommand("admin", "operator commands");
  admin_cmd->require_subcommand(1);
  CLI::App* verify_cmd = admin_cmd->add_subcommand(
      "verify", "check the database invariants; exit 1 listing each violation");

  RaiseArgs raise;
  CLI::App* raise_cmd = app.add_subcommand("raise", "raise an external event on an instance");
  raise_cmd->add_option("ID", raise.id, "instance id")->required();
  raise_cmd->add_option("EVENT", raise.event, "event name")->required();
  raise_cmd->add_option("--data", raise.data, "event data as JSON (default: no data)");

  ControlArgs terminate;
  CLI::App* terminate_cmd =
      app.add_subcommand("terminate", "terminate an instance (and its sub-orchestrations)");
  terminate_cmd->add_option("ID", terminate.id, "instance id")->required();
  terminate_cmd->add_option("--reason", terminate.reason, "why (free text)");
  terminate_cmd->add_flag("--no-recursive", terminate.no_recursive,
                          "leave its running sub-orchestrations alone");

  ControlArgs suspend;
  CLI::App* suspend_cmd =
      app.add_subcommand("suspend", "suspend an instance: it runs nothing until resumed");
  suspend_cmd->add_option("ID", suspend.id, "instance id")->required();
  suspend_cmd->add_option("--reason", suspend.reason, "why (free text)");

  ControlArgs resume;
  CLI::App* resume_cmd = app.add_subcommand("resume", "resume a suspended instance");
  resume_cmd->add_option("ID", resume.id, "instance id")->required();
  resume_cmd->add_option("--reason", resume.reason, "why (free text)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  if (start_cmd->parsed()) return run_start(start, g);
  if (describe_cmd->parsed()) return run_describe(describe_id, g);
  if (wait_cmd->parsed()) return run_wait(wait_id, wait_timeout_s, g);
  if (history_cmd->parsed()) return run_history(history_id, g);
  if (verify_cmd->parsed()) return run_verify(g);
  if (raise_cmd->parsed()) return run_raise(raise, g);
  if (terminate_cmd->parsed()) return run_terminate(terminate, g);
  if (suspend_cmd->parsed()) return run_suspend(suspend, g);
  if (resume_cmd->parsed()) return run_resume(resume, g);
  return kExitUsage;
}

}  // namespace
}  // namespace baton::cli

int main(int argc, char** argv) { return baton::cli::run(argc, argv); }
