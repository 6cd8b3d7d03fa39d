#include "tools/cli/commands.h"

#include <cstdio>

namespace quiver::cli {

int RunCommand(const std::string& command, const std::vector<std::string>& args) {
  if (command == "run") return RunMain(args);
  if (command == "inspect") return InspectMain(args);
  if (command == "place") return PlaceMain(args);
  if (command == "optimize") return OptimizeMain(args);
  if (command == "bench") return BenchMain(args);
  if (command == "ops") return OpsMain(args);
  std::fprintf(stderr, "quiver: unknown command '%s' (try 'quiver --help')\n", command.c_str());
  return kExitUsage;
}

}  // namespace quiver::cli
