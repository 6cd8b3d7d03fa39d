// quiver: command-line entry point. Subcommands live in their own files (cli_*.cc).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(quiver::cli::kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? quiver::cli::kExitUsage : 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  return quiver::cli::RunCommand(command, args);
}
