// quiver place GRAPH [--virtual-devices N] [--soft] [--log] [--format text|json|dot]: places a
// GraphDef on this machine's devices (plus N virtual CPUs) and prints why each node landed
// where it did and which tensors cross devices.
#include <cstdio>

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
  if (format != "text" && format != "json" && format != "dot") {
    return Fail(cmd, kExitUsage, "--format must be text, json or dot");
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
  } else {
    out = RenderPlacementText(*report);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (std::fflush(stdout) != 0) return Fail(cmd, kExitIoError, "cannot write to stdout");
  return kExitOk;
}

}  // namespace quiver::cli
