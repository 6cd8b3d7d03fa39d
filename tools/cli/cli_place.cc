// quiver place GRAPH [--virtual-devices N] [--soft] [--log] [--format text|json|dot|svg]: places a
// GraphDef on this machine's devices (plus N virtual CPUs) and prints why each node landed
// where it did and which tensors cross devices.
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "devices/device_set.h"
#include "graph/graphdef.h"
#include "passes/placement_report.h"
#include "passes/placer.h"
#include "tools/cli/cli_util.h"
#include "tools/cli/commands.h"

namespace quiver::cli {

int PlaceMain(const std::vector<std::string>& argv) {
  const std::string cmd = "place";
  Args args;
  absl::Status parsed = ParseArgs(argv, {"format", "virtual-devices"}, {"soft", "log"}, &args);
  if (!parsed.ok()) return Fail(cmd, kExitUsage, parsed);
  if (args.positional.size() != 1) return Fail(cmd, kExitUsage, "expected exactly one GRAPH file");
  std::string format = args.Get("format", "text");
  if (format != "text" && format != "json" && format != "dot" && format != "svg") {
    return Fail(cmd, kExitUsage, "--format must be text, json, dot or svg");
  }
  int virtual_devices = 0;
  if (args.Has("virtual-devices") &&
      (!absl::SimpleAtoi(args.Get("virtual-devices"), &virtual_devices) || virtual_devices < 0 ||
       virtual_devices > 64)) {
    return Fail(cmd, kExitUsage,
                absl::StrCat("--virtual-devices must be an integer in [0, 64], got '",
                             args.Get("virtual-devices"), "'"));
  }

  auto graph = LoadGraph(args.positional[0]);
  if (!graph.ok()) return Fail(cmd, kExitBadGraph, graph.status());
  DeviceSetOptions device_options;
  device_options.num_virtual_cpus = virtual_devices;
  auto devices = DeviceSet::Create(device_options);
  if (!devices.ok()) return Fail(cmd, kExitUsage, devices.status());

  PlacerOptions options;
  options.allow_soft_placement = args.Has("soft");
  options.log_device_placement = args.Has("log");
  // An unsatisfiable placement is a property of the graph file, like an unknown op.
  auto placement = PlaceGraph(graph->get(), *devices, options);
  if (!placement.ok()) return Fail(cmd, kExitBadGraph, placement.status());
  auto report = BuildPlacementReport(**graph, *devices, &*placement);
  if (!report.ok()) return Fail(cmd, kExitBadGraph, report.status());

  std::string out;
  if (format == "json") {
    out = RenderPlacementJson(*report);
  } else if (format == "dot") {
    out = RenderPlacementDot(**graph, *report);
  } else if (format == "svg") {
    // Graphviz renders the DOT; it is optional, so say how to get it when it is missing.
    if (std::system("command -v dot >/dev/null 2>&1") != 0) {
      return Fail(
          cmd, kExitUsage,
          "--format svg needs Graphviz's 'dot' (apt-get install graphviz); use --format dot");
    }
    std::string dot_text = RenderPlacementDot(**graph, *report);
    FILE* pipe = popen("dot -Tsvg", "w");
    if (pipe == nullptr) return Fail(cmd, kExitIoError, "cannot run 'dot -Tsvg'");
    std::fwrite(dot_text.data(), 1, dot_text.size(), pipe);
    if (pclose(pipe) != 0) return Fail(cmd, kExitIoError, "'dot -Tsvg' failed");
    return kExitOk;
  } else {
    out = RenderPlacementText(*report);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (std::fflush(stdout) != 0) return Fail(cmd, kExitIoError, "cannot write to stdout");
  return kExitOk;
}

}  // namespace quiver::cli
