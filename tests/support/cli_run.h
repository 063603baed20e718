// Running a command line in tests with stdout, stderr and the exit code kept
// apart (process.h's run_command merges them).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace baton::testing {

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `command` through the shell (stderr to a temporary file).
inline CliRun run_cli(const std::string& command) {
  char err_path[] = "/tmp/baton-cli-run-XXXXXX";
  const int fd = ::mkstemp(err_path);
  if (fd >= 0) ::close(fd);
  CliRun run;
  if (FILE* p = ::popen((command + " 2>" + err_path).c_str(), "r")) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) run.out.append(buf, n);
    const int status = ::pclose(p);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::ifstream err(err_path);
  std::stringstream ss;
  ss << err.rdbuf();
  run.err = ss.str();
  ::unlink(err_path);
  return run;
}

}  // namespace baton::testing
