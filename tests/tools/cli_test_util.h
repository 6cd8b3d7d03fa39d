// Running the real `quiver` binary from the CLI tests: exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace quiver::cli_test {

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

// A folder of this test process: CTest runs test cases in parallel processes.
inline std::filesystem::path ProcessTempDir() {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("quiver_cli_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

inline std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs `quiver ARGS` through the shell (ARGS may hold several words).
inline CliResult RunCli(const std::string& args) {
  const std::filesystem::path out = ProcessTempDir() / "stdout.txt",
                              err = ProcessTempDir() / "stderr.txt";
  const std::string cmd =
      std::string(QUIVER_CLI_PATH) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

}  // namespace quiver::cli_test
