// quiver optimize GRAPH -o OUT.pb [--fetch NAME ...] [--feed NAME[=DIMS] ...] [--target NODE ...]
//                 [--disable PASS ...] [--level 0|1] [--dump-after PASS --dump-dir DIR]
//                 [--report]
// Runs the graph optimization pipeline (PassManager::Default: prune, control-only prune, constant
// folding, CSE, arithmetic simplification, batch-norm folding, MatMul/Conv fusion, element-wise
// fusion, variable update ordering, memory planning) and writes the result as a GraphDef: requested
// devices only, no placement and no transfer nodes. Fused nodes (_FusedMatMul, _FusedConv2D,
// _FusedElementwise) need a Quiver runtime (TensorFlow knows the first two); `--disable
// elementwise_fusion` keeps the graph loadable by TensorFlow. --report prints each pass's changes
// ("did:"), the candidates it skipped with the reason ("note:") and the memory plan (peak bytes
// before/after).
// --feed x=1x784 specialises the graph to that shape, as a Session does per fed shape: the
// Placeholder is declared [1,784] and the shape arithmetic on it folds into constants.
#include <algorithm>
#include <cstdio>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/graphdef.h"
#include "passes/channels_first_lowering.h"
#include "passes/memory_planning_pass.h"
#include "passes/pass_manager.h"
#include "tools/cli/cli_model.h"
#include "tools/cli/cli_util.h"
#include "tools/cli/commands.h"

namespace quiver::cli {

int OptimizeMain(const std::vector<std::string>& args);

int OptimizeMain(const std::vector<std::string>& argv_in) {
  const std::string cmd = "optimize";
  // ParseArgs only knows "--flags"; accept the conventional "-o" too.
  std::vector<std::string> argv;
  for (const std::string& a : argv_in) argv.push_back(a == "-o" ? "--out" : a);
  Args args;
  absl::Status parsed = ParseArgs(
      argv,
      {"out", "fetch", "feed", "target", "disable", "level", "dump-after", "dump-dir", "tags"},
      {"report"}, &args);
  if (!parsed.ok()) return Fail(cmd, kExitUsage, parsed);
  if (args.positional.size() != 1) return Fail(cmd, kExitUsage, "expected exactly one GRAPH file");
  if (!args.Has("out")) return Fail(cmd, kExitUsage, "-o OUT.pb is required");

  PassManagerOptions options;
  const std::string level = args.Get("level", "1");
  if (level != "0" && level != "1") return Fail(cmd, kExitUsage, "--level must be 0 or 1");
  options.level = level == "1" ? 1 : 0;
  const std::vector<std::string> known = PassManager::DefaultPassNames();
  auto is_known = [&](const std::string& p) {
    return std::find(known.begin(), known.end(), p) != known.end();
  };
  std::vector<std::string> disabled;
  if (absl::Status s = ParseDisabledPasses(args, &disabled); !s.ok()) {
    return Fail(cmd, kExitUsage, s);
  }
  options.disabled.insert(disabled.begin(), disabled.end());
  options.dump_after = args.Get("dump-after");
  options.dump_dir = args.Get("dump-dir");
  if (!options.dump_after.empty() && !is_known(options.dump_after)) {
    return Fail(cmd, kExitUsage,
                absl::StrCat("unknown pass '", options.dump_after,
                             "' (passes: ", absl::StrJoin(known, ", "), ")"));
  }
  if (options.dump_after.empty() != options.dump_dir.empty()) {
    return Fail(cmd, kExitUsage, "--dump-after and --dump-dir go together");
  }

  auto graph = LoadGraphOrSavedModel(args);
  if (!graph.ok()) return Fail(cmd, OpenModelExitCode(graph.status()), graph.status());

  PassContext ctx;
  ctx.fetches = args.All("fetch");
  ctx.targets = args.All("target");
  bool specialised = false;
  for (const std::string& spec : args.All("feed")) {
    std::string name;
    std::optional<TensorShape> shape;
    absl::Status s = ParseFeedSpec(spec, &name, &shape);
    if (!s.ok()) return Fail(cmd, kExitUsage, s);
    ctx.feeds.push_back(name);
    if (!shape) continue;
    auto id = ParseTensorName(name);
    Node* n = id.ok() ? (*graph)->FindNode(id->node) : nullptr;
    if (n == nullptr || n->op() != "Placeholder" || id->index != 0) {
      return Fail(cmd, kExitBadInput,
                  absl::StrCat("--feed ", spec, ": only a Placeholder's shape can be given"));
    }
    if (!n->output_shape(0).IsCompatibleWith(*shape)) {
      return Fail(cmd, kExitBadInput,
                  absl::StrCat("--feed: cannot feed shape ", shape->DebugString(), " for '", name,
                               "', which has shape ", n->output_shape(0).DebugString()));
    }
    n->mutable_attrs()["shape"] = MakeAttr(*shape);
    specialised = true;
  }
  if (specialised) {
    absl::Status s = (*graph)->InferShapes();
    if (!s.ok()) return Fail(cmd, kExitBadInput, s);
  }
  for (const auto* names : {&ctx.fetches, &ctx.feeds, &ctx.targets}) {
    for (const std::string& name : *names) {
      auto id = ParseTensorName(name);
      if (!id.ok()) return Fail(cmd, kExitBadInput, id.status());
      Node* n = (*graph)->FindNode(id->node);
      if (n == nullptr)
        return Fail(cmd, kExitBadInput, absl::StrCat("no node named '", id->node, "'"));
      if (id->index >= n->num_outputs() && names != &ctx.targets) {
        return Fail(cmd, kExitBadInput,
                    absl::StrCat("node '", id->node, "' has no output ", id->index));
      }
    }
  }

  // The memory plan of the graph as loaded, to set against the memory_planning pass's plan
  // of the optimized graph.
  std::vector<std::string> memory_before;
  if (args.Has("report")) {
    absl::StatusOr<MemoryPlan> plan = PlanMemory(graph->get(), ctx);
    memory_before =
        plan.ok() ? plan->ToLines()
                  : std::vector<std::string>{absl::StrCat("no plan: ", plan.status().message())};
  }

  // Not a pass of the pipeline: NCHW convolutions and pools are lowered at every level, as a
  // Session does (runtime/step_graph.cc).
  auto lowered = LowerChannelsFirst(graph->get(), ctx);
  if (!lowered.ok()) return Fail(cmd, kExitBadGraph, lowered.status());
  auto report = PassManager::Default(options).Run(graph->get(), ctx);
  if (!report.ok()) return Fail(cmd, kExitBadGraph, report.status());

  tensorflow::GraphDef out;
  ExportGraphDef(**graph, &out);
  absl::Status written = WriteGraphDefFile(out, args.Get("out"));
  if (!written.ok()) return Fail(cmd, kExitIoError, written);
  if (args.Has("report")) {
    std::printf("memory before optimization:\n");
    for (const std::string& line : memory_before) std::printf("      %s\n", line.c_str());
    for (const std::string& c : lowered->changes) {
      std::printf("channels_first_lowering (always on) did: %s\n", c.c_str());
    }
    std::printf("%s", report->ToString().c_str());
  }
  return kExitOk;
}

}  // namespace quiver::cli
