// Real child processes for integration tests: spawn with env and a log file,
// signal, wait with a deadline. The destructor SIGKILLs what is still alive.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace baton::testing {

class Process {
 public:
  Process() = default;
  // Starts argv[0] with the current environment plus `env`, stdout and
  // stderr appended to `log_path`. Throws std::runtime_error on failure.
  static Process spawn(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& env, const std::string& log_path);
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  ~Process();

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for exit; returns the exit code (128+signal if killed), or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  void kill9();

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
};

// A TCP port on 127.0.0.1 that was free a moment ago, outside the ephemeral
// range, not handed out before by this process (see process.cc).
int free_port();

// Polls `cond` every 10 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

// Runs a command, returns its exit code and captures stdout (+stderr if asked).
int run_command(const std::string& cmd, std::string* output);

}  // namespace baton::testing
