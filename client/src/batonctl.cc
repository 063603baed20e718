// batonctl: start, inspect and control orchestrations from a shell. JSON is
// converted to and from msgpack here and nowhere else. Exit codes: 0 ok, 1 the
// operation failed (not found, finished, failed orchestration, timeout,
// unavailable), 2 usage (including invalid JSON) and configuration errors
// (profile file, BATON_* settings: docs/configuration.md).
#include <chrono>
#include <algorithm>
#include <cstdint>
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <tuple>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "baton/client.h"
#include "baton/config.h"
#include "baton/security.h"
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
  std::string profile;
  std::string output = "text";
  double request_timeout_s = kDefaultRequestTimeoutSeconds;
  // The environment and profile file (load_connection_settings), read once
  // the arguments parse; the flags above beat it.
  ConnectionSettings settings;
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

// Code (the flags) beats the environment, which beats the profile file,
// which beats the defaults.
ClientOptions client_options(const Globals& g) {
  ClientOptions o = ClientOptions::from_settings(g.settings);
  if (!g.address.empty()) o.address = g.address;
  if (!g.ns.empty()) o.ns = g.ns;
  o.request_timeout = to_ms(g.request_timeout_s);
  return o;
}

int report(const Status& s) {
  std::cerr << "batonctl: " << s.message() << " [" << status_code_name(s.code()) << "]\n";
  return kExitFailed;
}

struct SettingRow {
  std::string name;
  std::string value;  // empty: unset
  std::string source;
};

// The effective connection settings with the flags applied; secrets masked.
std::vector<SettingRow> effective_settings(const Globals& g) {
  const ConnectionSettings& s = g.settings;
  const auto source = [&](const std::string& key) {
    const auto it = s.sources.find(key);
    return it == s.sources.end() ? std::string("default") : it->second;
  };
  std::vector<SettingRow> rows;
  rows.push_back({"address", g.address.empty() ? s.scheduler_address : g.address,
                  g.address.empty() ? source("address") : "flag --address"});
  rows.push_back({"broker_address", s.broker_address, source("broker_address")});
  rows.push_back({"namespace", g.ns.empty() ? s.ns : g.ns,
                  g.ns.empty() ? source("namespace") : "flag --namespace"});
  rows.push_back({"api_key", mask_secret(s.api_key), source("api_key")});
  rows.push_back({"curve.server_key", s.curve.server_key, source("curve.server_key")});
  rows.push_back({"curve.public_key", s.curve.public_key, source("curve.public_key")});
  rows.push_back({"curve.secret_key", mask_secret(s.curve.secret_key), source("curve.secret_key")});
  for (const auto& [key, value] : s.metadata) {
    rows.push_back({"metadata." + key, value, source("metadata." + key)});
  }
  if (s.config_file.empty()) {
    const std::string path = default_config_file_path();
    rows.push_back({"profile", "", "none: no config file"});
    rows.push_back({"config_file", "",
                    path.empty() ? "none: HOME is unset" : "none: " + path + " does not exist"});
  } else {
    rows.push_back({"profile", s.profile, source("profile")});
    rows.push_back({"config_file", s.config_file, source("config_file")});
  }
  return rows;
}

// `config show`: a table (SETTING, VALUE, SOURCE) or, with -o json,
// {"address": {"value": ..., "source": ...}, ...} (null: unset).
int run_config_show(const Globals& g) {
  const std::vector<SettingRow> rows = effective_settings(g);
  if (g.json()) {
    Json out = Json::object();
    for (const SettingRow& r : rows) {
      out[r.name] = {{"value", r.value.empty() ? Json(nullptr) : Json(r.value)},
                     {"source", r.source}};
    }
    std::cout << dump_pretty(out) << "\n";
    return kExitOk;
  }
  std::size_t name_w = std::strlen("SETTING"), value_w = std::strlen("VALUE");
  for (const SettingRow& r : rows) {
    name_w = std::max(name_w, r.name.size());
    value_w = std::max(value_w, r.value.empty() ? 1 : r.value.size());
  }
  const auto line = [&](const std::string& a, const std::string& b, const std::string& c) {
    std::cout << std::left << std::setw(static_cast<int>(name_w)) << a << "  "
              << std::setw(static_cast<int>(value_w)) << b << "  " << c << "\n";
  };
  line("SETTING", "VALUE", "SOURCE");
  for (const SettingRow& r : rows) line(r.name, r.value.empty() ? "-" : r.value, r.source);
  return kExitOk;
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

// A point in time on the command line: ISO-8601 UTC ("2026-11-21T10:00:00Z",
// fractions of a second allowed) or relative to now ("+30s", "-2h"; units
// ms, s, m, h, d).
std::optional<std::chrono::system_clock::time_point> parse_time(const std::string& text) {
  using namespace std::chrono;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    std::size_t used = 0;
    double n = 0;
    try {
      n = std::stod(text.substr(1), &used);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    const std::string unit = text.substr(1 + used);
    double ms = 0;
    if (unit == "ms") ms = n;
    else if (unit == "s") ms = n * 1e3;
    else if (unit == "m") ms = n * 60e3;
    else if (unit == "h") ms = n * 3600e3;
    else if (unit == "d") ms = n * 86400e3;
    else return std::nullopt;
    const auto delta = milliseconds(static_cast<int64_t>(text[0] == '-' ? -ms : ms));
    return time_point_cast<system_clock::duration>(system_clock::now() + delta);
  }
  std::tm tm{};
  int ms = 0;
  char frac[16] = {};
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%15[^Z]", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, frac) < 6 ||
      text.back() != 'Z') {
    return std::nullopt;
  }
  if (frac[0] != '\0') {
    if (frac[0] != '.' || std::strlen(frac) > 4) return std::nullopt;
    std::string digits = std::string(frac + 1) + "00";
    ms = std::stoi(digits.substr(0, 3));
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const time_t secs = timegm(&tm);
  if (secs < 0) return std::nullopt;
  return system_clock::from_time_t(secs) + milliseconds(ms);
}

std::optional<OrchestrationStatus> parse_status(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), ::toupper);
  std::replace(text.begin(), text.end(), '-', '_');
  for (int s = 0; s <= static_cast<int>(OrchestrationStatus::kContinuedAsNew); ++s) {
    const auto status = static_cast<OrchestrationStatus>(s);
    if (text == orchestration_status_name(status)) return status;
  }
  return std::nullopt;
}

// Parses --status values and time options; false (after a message) on bad input.
bool parse_filters(const std::vector<std::string>& status_text,
                   std::vector<OrchestrationStatus>* statuses, const std::string& after,
                   const std::string& before,
                   std::optional<std::chrono::system_clock::time_point>* from,
                   std::optional<std::chrono::system_clock::time_point>* to) {
  for (const auto& t : status_text) {
    auto s = parse_status(t);
    if (!s) {
      std::cerr << "batonctl: unknown status '" << t
                << "' (PENDING, RUNNING, COMPLETED, FAILED, TERMINATED, SUSPENDED, "
                   "CONTINUED_AS_NEW)\n";
      return false;
    }
    statuses->push_back(*s);
  }
  for (auto [text, out, flag] : {std::tuple{&after, from, "--created-after"},
                                 std::tuple{&before, to, "--created-before"}}) {
    if (text->empty()) continue;
    *out = parse_time(*text);
    if (!*out) {
      std::cerr << "batonctl: " << flag << ": '" << *text
                << "' is not a time (2026-11-21T10:00:00Z, or relative: -2h, +30s)\n";
      return false;
    }
  }
  return true;
}

struct StartArgs {
  std::string name;
  std::optional<std::string> input;
  std::string id;
  std::string task_queue;
  std::string start_at;
  std::string id_reuse_policy = "reject";
  std::string idempotency_key;
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
  StartOptions so;
  so.instance_id = a.id;
  so.task_queue = a.task_queue;
  so.idempotency_key = a.idempotency_key;
  so.id_reuse_policy = a.id_reuse_policy == "allow-if-finished"      ? IdReusePolicy::kAllowIfFinished
                       : a.id_reuse_policy == "terminate-if-running" ? IdReusePolicy::kTerminateIfRunning
                                                                     : IdReusePolicy::kReject;
  if (!a.start_at.empty()) {
    so.start_at = parse_time(a.start_at);
    if (!so.start_at) {
      std::cerr << "batonctl: --start-at: '" << a.start_at
                << "' is not a time (2026-11-21T10:00:00Z, or relative: +30s)\n";
      return kExitUsage;
    }
  }
  Client client(client_options(g));
  Result<std::string> id = client.schedule_new_orchestration(a.name, input, so);
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

int run_wait(const std::string& id, double timeout_s, bool until_started, const Globals& g) {
  Client client(client_options(g));
  if (!until_started) return wait_and_print(client, id, timeout_s, g);
  Result<OrchestrationMetadata> m = client.wait_for_orchestration_start(id, to_ms(timeout_s));
  if (!m) return report(m.status());
  if (g.json()) {
    std::cout << dump_pretty(instance_to_json(m.value())) << "\n";
  } else {
    std::cout << m->status_name() << "\n";
  }
  return kExitOk;
}

struct ListArgs {
  std::vector<std::string> statuses;
  std::string name;
  std::string id_prefix;
  std::string task_queue;
  std::string created_after;
  std::string created_before;
  uint32_t page_size = 100;
  std::string continuation_token;
  bool all = false;
};

// A table (ID, NAME, STATUS, CREATED, TASK QUEUE) or, with -o json,
// {"instances": [...], "continuation_token": "..."}. Without --all, one
// page; the token of the next page goes to stderr (text) or the JSON.
int run_list(const ListArgs& a, const Globals& g) {
  OrchestrationQuery q;
  if (!parse_filters(a.statuses, &q.statuses, a.created_after, a.created_before, &q.created_from,
                     &q.created_to)) {
    return kExitUsage;
  }
  q.name = a.name;
  q.instance_id_prefix = a.id_prefix;
  q.task_queue = a.task_queue;
  q.page_size = a.page_size;
  q.continuation_token = a.continuation_token;
  Client client(client_options(g));
  std::vector<OrchestrationMetadata> rows;
  std::string next;
  do {
    Result<OrchestrationPage> page = client.list_orchestrations(q);
    if (!page) return report(page.status());
    for (auto& m : page->instances) rows.push_back(std::move(m));
    next = page->continuation_token;
    q.continuation_token = next;
  } while (a.all && !next.empty());
  if (g.json()) {
    Json out = Json::object();
    out["instances"] = Json::array();
    for (const auto& m : rows) out["instances"].push_back(instance_to_json(m));
    out["continuation_token"] = next;
    std::cout << dump_pretty(out) << "\n";
    return kExitOk;
  }
  std::size_t id_w = 2, name_w = 4, status_w = 6;
  for (const auto& m : rows) {
    id_w = std::max(id_w, m.instance_id.size());
    name_w = std::max(name_w, m.name.size());
    status_w = std::max(status_w, std::string(m.status_name()).size());
  }
  auto line = [&](const std::string& id, const std::string& name, const std::string& status,
                  const std::string& created, const std::string& tq) {
    std::ostringstream os;
    os << std::left << std::setw(static_cast<int>(id_w)) << id << "  "
       << std::setw(static_cast<int>(name_w)) << name << "  "
       << std::setw(static_cast<int>(status_w)) << status << "  "
       << std::setw(static_cast<int>(iso8601_utc(0).size())) << created << "  " << tq;
    std::string text = os.str();
    text.erase(text.find_last_not_of(' ') + 1);
    std::cout << text << "\n";
  };
  line("ID", "NAME", "STATUS", "CREATED", "TASK QUEUE");
  for (const auto& m : rows) {
    line(m.instance_id, m.name, m.status_name(), iso8601_utc(m.created_ms), m.task_queue);
  }
  if (!next.empty()) std::cerr << "more: --continuation-token " << next << "\n";
  return kExitOk;
}

struct PurgeArgs {
  std::string id;
  bool recursive = false;
  std::vector<std::string> statuses;
  std::string created_after;
  std::string created_before;
};

int run_purge(const PurgeArgs& a, const Globals& g) {
  Client client(client_options(g));
  Result<uint64_t> deleted = uint64_t{0};
  if (!a.id.empty()) {
    if (!a.statuses.empty() || !a.created_after.empty() || !a.created_before.empty()) {
      std::cerr << "batonctl: purge takes an ID or filters, not both\n";
      return kExitUsage;
    }
    deleted = client.purge_orchestration(a.id, a.recursive);
  } else {
    if (a.recursive) {
      std::cerr << "batonctl: --recursive needs an ID\n";
      return kExitUsage;
    }
    if (a.statuses.empty() && a.created_after.empty() && a.created_before.empty()) {
      std::cerr << "batonctl: purge needs an ID or at least one filter "
                   "(--status, --created-after, --created-before)\n";
      return kExitUsage;
    }
    PurgeFilter f;
    if (!parse_filters(a.statuses, &f.statuses, a.created_after, a.created_before,
                       &f.created_from, &f.created_to)) {
      return kExitUsage;
    }
    deleted = client.purge_orchestrations(f);
  }
  if (!deleted) return report(deleted.status());
  if (g.json()) {
    Json out = Json::object();
    out["deleted"] = *deleted;
    std::cout << dump_pretty(out) << "\n";
  } else {
    std::cout << "purged " << *deleted << " instance(s)\n";
  }
  return kExitOk;
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

// Writes a key pair file and prints the clients-file entry for its public
// key, or prints a new API key with the entry for its hash. The secret goes
// to the file (or, for an API key, to stdout once) and nowhere else.
int run_keygen(const std::string& out, bool api_key, const std::string& name) {
  if (api_key) {
    if (!out.empty()) {
      std::cerr << "batonctl: --out is for key pairs; an API key is printed once\n";
      return kExitUsage;
    }
    const std::string key = security::generate_api_key();
    std::cout << "api key (give it to the client as BATON_API_KEY; it is not stored): " << key
              << "\n\n# for the scheduler's --clients-file:\n[[client]]\nname = \"" << name
              << "\"\napi_key_sha256 = \"" << security::sha256_hex(key)
              << "\"\nnamespaces = [\"default\"]\n";
    return kExitOk;
  }
  if (out.empty()) {
    std::cerr << "batonctl: keygen needs --out FILE (or --api-key)\n";
    return kExitUsage;
  }
  Result<security::KeyPair> pair = security::generate_key_pair();
  if (!pair) return report(pair.status());
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    std::cerr << "batonctl: cannot create " << out << ": " << std::strerror(errno) << "\n";
    return kExitFailed;
  }
  const std::string text = security::key_pair_file_text(*pair);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written) {
    std::cerr << "batonctl: cannot write " << out << "\n";
    return kExitFailed;
  }
  std::cout << "wrote " << out << "\npublic key: " << pair->public_key
            << "\n\n# for a server's --clients-file (to let this key in):\n[[client]]\nname = \""
            << name << "\"\ncurve_public_key = \"" << pair->public_key << "\"\n";
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
  app.add_option("--profile", g.profile,
                 "profile of the config file (else $BATON_PROFILE, else default)");
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
  // `execute` is `start --wait`; both take the start options.
  StartArgs execute;
  CLI::App* execute_cmd =
      app.add_subcommand("execute", "start an orchestration and wait for its result");
  execute_cmd->add_option("NAME", execute.name, "orchestration name")->required();
  execute_cmd->add_option("--input", execute.input, "input as JSON");
  execute_cmd->add_option("--id", execute.id, "instance id (default: a UUID)");
  execute_cmd->add_option("--task-queue", execute.task_queue, "task queue (default: default)");
  execute_cmd->add_option("--timeout", execute.timeout_s, "seconds to wait")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  for (auto [cmd, args] : {std::pair{start_cmd, &start}, std::pair{execute_cmd, &execute}}) {
    cmd->add_option("--start-at", args->start_at,
                    "run the first step not before: 2026-11-21T10:00:00Z, or +30s");
    cmd->add_option("--id-reuse-policy", args->id_reuse_policy,
                    "if the id exists: reject, allow-if-finished, terminate-if-running")
        ->check(CLI::IsMember({"reject", "allow-if-finished", "terminate-if-running"}))
        ->capture_default_str();
    cmd->add_option("--idempotency-key", args->idempotency_key,
                    "a start retried with the key that created the instance succeeds");
  }

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
  bool wait_until_started = false;
  wait_cmd->add_flag("--until-started", wait_until_started,
                     "return once the instance has started; print its status");

  ListArgs list;
  CLI::App* list_cmd = app.add_subcommand("list", "list instances, oldest first");
  PurgeArgs purge;
  CLI::App* purge_cmd = app.add_subcommand(
      "purge", "delete finished instances and their history: one ID, or all matching filters");
  for (auto [cmd, statuses, after, before] :
       {std::tuple{list_cmd, &list.statuses, &list.created_after, &list.created_before},
        std::tuple{purge_cmd, &purge.statuses, &purge.created_after, &purge.created_before}}) {
    cmd->add_option("--status", *statuses, "status to include (repeatable): RUNNING, COMPLETED, ...");
    cmd->add_option("--created-after", *after, "created at or after: ISO-8601 UTC or -2h");
    cmd->add_option("--created-before", *before, "created before: ISO-8601 UTC or -10m");
  }
  list_cmd->add_option("--name", list.name, "orchestrator name");
  list_cmd->add_option("--id-prefix", list.id_prefix, "instance ids starting with this");
  list_cmd->add_option("--task-queue", list.task_queue, "task queue");
  list_cmd->add_option("--page-size", list.page_size, "instances per page (1 to 1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  list_cmd->add_option("--continuation-token", list.continuation_token, "the next page's token");
  list_cmd->add_flag("--all", list.all, "follow continuation tokens to the end");
  purge_cmd->add_option("ID", purge.id, "instance id");
  purge_cmd->add_flag("--recursive", purge.recursive, "with ID: its sub-orchestrations too");

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

  CLI::App* config_cmd = app.add_subcommand("config", "connection settings");
  config_cmd->require_subcommand(1);
  CLI::App* config_show_cmd = config_cmd->add_subcommand(
      "show", "print the effective settings and where each came from (secrets masked)");

  std::string keygen_out;
  bool keygen_api_key = false;
  std::string keygen_name = "client";
  CLI::App* keygen_cmd = app.add_subcommand(
      "keygen", "create a CurveZMQ key pair file (or, with --api-key, an API key) for a client "
                "or server");
  keygen_cmd->add_option("--out", keygen_out, "key pair file to write (mode 0600; must not exist)");
  keygen_cmd->add_flag("--api-key", keygen_api_key,
                       "print a new API key and the clients-file entry holding its hash");
  keygen_cmd->add_option("--name", keygen_name, "client name in the printed clients-file entry")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  // keygen needs no connection settings.
  if (keygen_cmd->parsed()) return run_keygen(keygen_out, keygen_api_key, keygen_name);

  Result<ConnectionSettings> settings = load_connection_settings(g.profile, "flag --profile");
  if (!settings) {
    std::cerr << "batonctl: " << settings.status().message() << "\n";
    return kExitUsage;
  }
  g.settings = std::move(settings).value();
  if (config_show_cmd->parsed()) return run_config_show(g);

  if (start_cmd->parsed()) return run_start(start, g);
  if (execute_cmd->parsed()) {
    execute.wait = true;
    return run_start(execute, g);
  }
  if (list_cmd->parsed()) return run_list(list, g);
  if (purge_cmd->parsed()) return run_purge(purge, g);
  if (describe_cmd->parsed()) return run_describe(describe_id, g);
  if (wait_cmd->parsed()) return run_wait(wait_id, wait_timeout_s, wait_until_started, g);
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
