// quiver place GRAPH [--virtual-devices N] [--gpus N] [--soft] [--log]
//                    [--fetch NAME ... --target NODE ... --feed NAME[=DIMS] ...]
//                    [--optimize-level 0|1] [--format text|json|dot|svg]
// places a GraphDef on this machine's devices (plus N virtual CPUs, plus N GPUs to plan for a
// GPU machine) and prints why each node landed where it did and which tensors cross devices.
// With fetches or targets it reports on one step as a Session compiles it (pruned, optimized,
// specialised for the fed shapes given): the transfers that step will execute. Without them
// it reports on the whole graph, unoptimized but with NCHW ops lowered as every step does.
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "devices/device_set.h"
#include "graph/graphdef.h"
#include "passes/channels_first_lowering.h"
#include "passes/placement_report.h"
#include "passes/placer.h"
#include "runtime/step_graph.h"
#include "tools/cli/cli_model.h"
#include "tools/cli/cli_util.h"
#include "tools/cli/commands.h"
#ifdef QUIVER_WITH_CUDA
#include "devices/cuda/cuda_device.h"
#endif

namespace quiver::cli {

int PlaceMain(const std::vector<std::string>& argv) {
  const std::string cmd = "place";
  Args args;
  absl::Status parsed = ParseArgs(
      argv,
      {"format", "virtual-devices", "gpus", "fetch", "target", "feed", "optimize-level", "tags"},
      {"soft", "log"}, &args);
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

  int gpus = 0;
  if (args.Has("gpus") && (!absl::SimpleAtoi(args.Get("gpus"), &gpus) || gpus < 0 || gpus > 16)) {
    return Fail(cmd, kExitUsage,
                absl::StrCat("--gpus must be an integer in [0, 16], got '", args.Get("gpus"), "'"));
  }
  int level = 1;
  if (args.Has("optimize-level") &&
      (!absl::SimpleAtoi(args.Get("optimize-level"), &level) || level < 0 || level > 1)) {
    return Fail(cmd, kExitUsage, "--optimize-level must be 0 or 1");
  }
  const bool step_mode = args.Has("fetch") || args.Has("target");
  if (!step_mode && (args.Has("feed") || args.Has("optimize-level"))) {
    return Fail(cmd, kExitUsage,
                "--feed and --optimize-level describe a step: add --fetch/--target");
  }

  auto graph = LoadGraphOrSavedModel(args);
  if (!graph.ok()) return Fail(cmd, OpenModelExitCode(graph.status()), graph.status());
  DeviceSetOptions device_options;
  device_options.num_virtual_cpus = virtual_devices;
  auto devices = DeviceSet::Create(device_options);
  if (!devices.ok()) return Fail(cmd, kExitUsage, devices.status());
  if (gpus > 0) {
#ifdef QUIVER_WITH_CUDA
    cuda::RegisterPendingGpuKernels();  // the GPU kernel table, whether or not a GPU is here
    for (int i = 0; i < gpus; ++i) {
      if (devices->Find(absl::StrCat("GPU:", i)) != nullptr) continue;
      absl::Status s = devices->AddDevice(kGpu, i);
      if (!s.ok()) return Fail(cmd, kExitUsage, s);
    }
#else
    return Fail(cmd, kExitUsage, "--gpus needs a build with the CUDA device (QUIVER_CUDA=ON)");
#endif
  }

  if (step_mode) {  // the step as Session::Run compiles it
    ExecutorSpec spec;
    StepGraphOptions step;
    step.optimizer.level = level;
    step.allow_soft_placement = args.Has("soft");
    step.only_step_nodes = true;
    for (const DeviceInfo& d : devices->devices()) step.device_types.insert(d.type);
    for (const std::string& f : args.All("feed")) {
      std::string name;
      std::optional<TensorShape> shape;
      absl::Status s = ParseFeedSpec(f, &name, &shape);
      if (!s.ok()) return Fail(cmd, kExitUsage, s);
      auto id = ParseTensorName(name);
      if (!id.ok()) return Fail(cmd, kExitUsage, id.status());
      const Node* fed = (*graph)->FindNode(id->node);
      if (fed == nullptr || id->index >= fed->num_outputs()) {
        return Fail(cmd, kExitBadInput, absl::StrCat("--feed: no node '", id->node, "'"));
      }
      const TensorShape& declared = fed->output_shape(id->index);
      if (shape && !declared.IsCompatibleWith(*shape)) {  // as Session::Run refuses the feed
        return Fail(cmd, kExitBadInput,
                    absl::StrCat("--feed: cannot feed shape ", shape->DebugString(), " for '",
                                 id->ToString(), "', which has shape ", declared.DebugString()));
      }
      spec.feeds.push_back(*id);
      step.fed_shapes.push_back(shape);
    }
    for (const std::string& f : args.All("fetch")) {
      auto id = ParseTensorName(f);
      if (!id.ok()) return Fail(cmd, kExitUsage, id.status());
      const Node* n = (*graph)->FindNode(id->node);
      if (n == nullptr || id->index >= n->num_outputs()) {
        return Fail(cmd, kExitBadInput, absl::StrCat("--fetch: no tensor '", f, "'"));
      }
      spec.fetches.push_back(*id);
    }
    for (const std::string& t : args.All("target")) {
      if ((*graph)->FindNode(t) == nullptr) {
        return Fail(cmd, kExitBadInput, absl::StrCat("--target: no node '", t, "'"));
      }
      spec.targets.push_back(t);
    }
    auto built = BuildStepGraph(**graph, spec, step);
    if (!built.ok()) return Fail(cmd, kExitBadInput, built.status());
    if (!built->optimizer_error.empty()) {
      std::fprintf(stderr, "quiver place: optimizer failed, reporting the unoptimized step: %s\n",
                   built->optimizer_error.c_str());
    }
    *graph = std::move(built->graph);
  } else {
    // The whole graph as a Session would run it: NCHW convolutions and pools are lowered in
    // every step (runtime/step_graph.cc), so the report shows the NHWC ops and their
    // Transposes. Every node counts as a target, so none the user wrote disappears.
    PassContext ctx;
    for (const Node* n : (*graph)->nodes()) ctx.targets.push_back(n->name());
    auto lowered = LowerChannelsFirst(graph->get(), ctx);
    if (!lowered.ok()) return Fail(cmd, kExitBadGraph, lowered.status());
  }

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
