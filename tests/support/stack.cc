#include "tests/support/stack.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace baton::testing {

std::string scheduler_binary() { return BATON_SCHEDULER_BIN; }
std::string broker_binary() { return BATON_BROKER_BIN; }
std::string batonctl_binary() { return BATON_BATONCTL_BIN; }
std::string test_worker_binary() { return BATON_TEST_WORKER_BIN; }

namespace {
std::string metrics_address(int port) { return "127.0.0.1:" + std::to_string(port); }

// True when something accepts TCP connections on 127.0.0.1:port.
bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string log_tail(const std::string& path, std::size_t max_chars = 2000) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  const std::string all = s.str();
  return all.size() > max_chars ? all.substr(all.size() - max_chars) : all;
}
}  // namespace

std::string test_log_dir(const std::string& name) {
  const auto dir = std::filesystem::path(BATON_TEST_LOG_ROOT) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

Stack::Stack(const std::string& log_dir, StackOptions options)
    : log_dir_(log_dir),
      options_(std::move(options)),
      db_(options_.pg_admin_url.empty() ? test_pg_url() : options_.pg_admin_url) {
  if (options_.worker_binary.empty()) options_.worker_binary = test_worker_binary();
  scheduler_address_ = "tcp://127.0.0.1:" + std::to_string(free_port());
  broker_address_ = "tcp://127.0.0.1:" + std::to_string(free_port());
  scheduler_metrics_port_ = free_port();
  broker_metrics_port_ = free_port();
  std::string out;
  const int rc = run_command(scheduler_binary() + " migrate --db '" + db_.url() + "' >> " +
                                 log_dir_ + "/migrate.log 2>&1",
                             &out);
  if (rc != 0) throw std::runtime_error("migrate failed; see " + log_dir_ + "/migrate.log");
  start_broker();
  start_scheduler();
  workers_.resize(static_cast<std::size_t>(options_.workers));
  for (std::size_t i = 0; i < workers_.size(); ++i) worker_metrics_ports_.push_back(free_port());
  for (std::size_t i = 0; i < workers_.size(); ++i) start_worker(i);
}

Stack::~Stack() {
  for (auto& w : workers_) w.kill9();
  scheduler_.kill9();
  broker_.kill9();
}

void Stack::start_scheduler() {
  std::vector<std::string> argv = {scheduler_binary(), "serve",    "--db",
                                   db_.url(),          "--listen", scheduler_address_,
                                   "--broker",         broker_address_};
  argv.insert(argv.end(), options_.scheduler_args.begin(), options_.scheduler_args.end());
  scheduler_ = Process::spawn(argv, {{"BATON_METRICS_ADDRESS", metrics_address(scheduler_metrics_port_)}},
                              log_dir_ + "/scheduler.log");
  await_start(scheduler_, scheduler_metrics_port_, "scheduler");
}

void Stack::start_broker() {
  std::vector<std::string> argv = {broker_binary(), "--bind", broker_address_};
  argv.insert(argv.end(), options_.broker_args.begin(), options_.broker_args.end());
  broker_ = Process::spawn(argv,
                           {{"BATON_METRICS_ADDRESS", metrics_address(broker_metrics_port_)}},
                           log_dir_ + "/broker.log");
  await_start(broker_, broker_metrics_port_, "broker");
}

void Stack::await_start(Process& p, int metrics_port, const std::string& name) {
  wait_until([&] { return !p.running() || port_open(metrics_port); }, std::chrono::seconds(20));
  if (!p.running()) {
    const std::string log = log_dir_ + "/" + name + ".log";
    throw std::runtime_error(name + " exited at startup; end of " + log + ":\n" + log_tail(log));
  }
}

void Stack::start_worker(std::size_t i) {
  if (i >= workers_.size()) workers_.resize(i + 1);
  auto env = options_.worker_env;
  env["BATON_BROKER_ADDRESS"] = broker_address_;
  while (worker_metrics_ports_.size() <= i) worker_metrics_ports_.push_back(free_port());
  env["BATON_METRICS_ADDRESS"] = metrics_address(worker_metrics_ports_.at(i));
  workers_.at(i) = Process::spawn({options_.worker_binary}, env,
                                  log_dir_ + "/worker-" + std::to_string(i) + ".log");
}

int64_t Stack::count(const std::string& sql) const {
  pqxx::connection c(db_.url());
  pqxx::nontransaction tx(c);
  return tx.exec1(sql)[0].as<int64_t>();
}

}  // namespace baton::testing
