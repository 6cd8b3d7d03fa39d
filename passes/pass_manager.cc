#include "passes/pass_manager.h"

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "devices/device_name.h"
#include "devices/kernel.h"
#include "graph/control_flow.h"
#include "graph/graphdef.h"
#include "graph/status_macros.h"
#include "passes/arithmetic_simplification_pass.h"
#include "passes/batch_norm_folding_pass.h"
#include "passes/constant_folding_pass.h"
#include "passes/control_only_prune_pass.h"
#include "passes/cse_pass.h"
#include "passes/elementwise_fusion_pass.h"
#include "passes/fusion_pass.h"
#include "passes/memory_planning_pass.h"
#include "passes/prune_pass.h"
#include "passes/variable_update_ordering_pass.h"

namespace quiver {
namespace {

void AddNodeNames(const std::vector<std::string>& tensors, absl::flat_hash_set<std::string>* out) {
  for (const std::string& t : tensors) {
    auto id = ParseTensorName(t);
    out->insert(id.ok() ? id->node : t);
  }
}

}  // namespace

std::string PassContext::DeviceTypeFor(const Node& n) const {
  const std::string& device =
      n.assigned_device().empty() ? n.requested_device() : n.assigned_device();
  if (device.empty()) return kCpu;
  absl::StatusOr<ParsedDeviceName> parsed = ParseDeviceName(device);
  if (!parsed.ok()) return "";
  const std::string type = parsed->has_type ? absl::AsciiStrToUpper(parsed->type) : kCpu;
  if (n.assigned_device().empty() && allow_soft_placement && !device_types.empty() &&
      !device_types.count(type)) {
    return kCpu;
  }
  return type;
}

absl::flat_hash_set<std::string> PassContext::PreservedNodes() const {
  absl::flat_hash_set<std::string> out;
  AddNodeNames(fetches, &out);
  AddNodeNames(feeds, &out);
  AddNodeNames(targets, &out);
  return out;
}

absl::flat_hash_set<std::string> PassContext::PreservedNodes(const Graph& graph) const {
  absl::flat_hash_set<std::string> out = PreservedNodes();
  if (!has_fetches()) {
    for (Node* n : graph.nodes()) {
      if (n->out_edges().empty()) out.insert(n->name());
    }
  }
  return out;
}

absl::flat_hash_set<std::string> PassContext::FedNodes() const {
  absl::flat_hash_set<std::string> out;
  AddNodeNames(feeds, &out);
  return out;
}

std::string PassReport::ToString() const {
  std::string s = absl::StrFormat("nodes: %d -> %d\n", nodes_before, nodes_after);
  for (const Entry& e : passes) {
    if (!e.ran) {
      absl::StrAppendFormat(&s, "  %-26s skipped\n", e.pass);
      continue;
    }
    absl::StrAppendFormat(
        &s, "  %-26s %5d -> %5d nodes  removed %d, added %d, changed %d  (%.3f ms)\n", e.pass,
        e.nodes_before, e.nodes_after, e.stats.nodes_removed, e.stats.nodes_added,
        e.stats.nodes_changed, absl::ToDoubleMilliseconds(e.stats.time));
    for (const std::string& c : e.stats.changes) absl::StrAppend(&s, "      did: ", c, "\n");
    for (const std::string& note : e.stats.notes) absl::StrAppend(&s, "      note: ", note, "\n");
  }
  if (!dump_path.empty()) absl::StrAppend(&s, "dumped: ", dump_path, "\n");
  return s;
}

absl::Status VerifyGraph(Graph* graph) {
  RETURN_IF_ERROR(graph->TopologicalOrder().status());
  for (Node* n : graph->nodes()) {
    for (int i = 0; i < n->num_inputs(); ++i) {
      const Edge* e = n->input_edge(i);
      if (e == nullptr || e->src == nullptr || graph->FindNode(e->src->name()) != e->src) {
        return absl::InternalError(
            absl::StrCat("node '", n->name(), "' input ", i, " is not connected to a live node"));
      }
    }
  }
  return graph->InferShapes();
}

std::vector<std::string> PassManager::DefaultPassNames() {
  return {"prune",
          "control_only_prune",
          "constant_folding",
          "cse",
          "arithmetic_simplification",
          "batch_norm_folding",
          "fusion",
          "elementwise_fusion",
          "variable_update_ordering",
          "memory_planning"};
}

PassManager PassManager::Default(PassManagerOptions options) {
  PassManager pm(std::move(options));
  pm.AddPass(std::make_unique<PrunePass>());
  pm.AddPass(std::make_unique<ControlOnlyPrunePass>());
  pm.AddPass(std::make_unique<ConstantFoldingPass>());
  pm.AddPass(std::make_unique<CsePass>());
  pm.AddPass(std::make_unique<ArithmeticSimplificationPass>());
  pm.AddPass(std::make_unique<BatchNormFoldingPass>());
  pm.AddPass(std::make_unique<FusionPass>());
  pm.AddPass(std::make_unique<ElementwiseFusionPass>());
  pm.AddPass(std::make_unique<VariableUpdateOrderingPass>());
  pm.AddPass(std::make_unique<MemoryPlanningPass>());
  return pm;
}

absl::StatusOr<PassReport> PassManager::Run(Graph* graph, const PassContext& ctx) const {
  std::vector<std::string> names;
  for (const auto& p : passes_) names.push_back(p->name());
  auto known = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  for (const std::string& d : options_.disabled) {
    if (!known(d)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown pass '", d, "' (passes: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  if (!options_.dump_after.empty()) {
    if (!known(options_.dump_after)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown pass '", options_.dump_after, "' (passes: ", absl::StrJoin(names, ", "), ")"));
    }
    if (options_.dump_dir.empty()) return absl::InvalidArgumentError("dump_after needs dump_dir");
  }
  // Preserved names must exist, or a typo would let prune delete the real outputs.
  for (const std::string& name : ctx.PreservedNodes()) {
    if (graph->FindNode(name) == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("fetch/feed/target '", name, "' is not in the graph"));
    }
  }

  PassReport report;
  report.nodes_before = graph->num_nodes();
  for (const auto& pass : passes_) {
    PassReport::Entry entry;
    entry.pass = pass->name();
    entry.nodes_before = graph->num_nodes();
    if (options_.level >= 1 && !options_.disabled.count(pass->name())) {
      const absl::Time start = absl::Now();
      auto stats = pass->Run(graph, ctx);
      if (!stats.ok()) {
        return absl::Status(stats.status().code(),
                            absl::StrCat("pass ", pass->name(), ": ", stats.status().message()));
      }
      entry.stats = *std::move(stats);
      entry.stats.time = absl::Now() - start;
      entry.ran = true;
      if (options_.verify) {
        absl::Status v = VerifyGraph(graph);
        if (!v.ok()) {
          return absl::InternalError(
              absl::StrCat("graph invalid after pass ", pass->name(), ": ", v.message()));
        }
      }
    }
    entry.nodes_after = graph->num_nodes();
    report.passes.push_back(std::move(entry));
    if (pass->name() == options_.dump_after) {
      std::error_code ec;
      std::filesystem::create_directories(options_.dump_dir, ec);
      const std::string path =
          (std::filesystem::path(options_.dump_dir) / (pass->name() + ".pbtxt")).string();
      tensorflow::GraphDef def;
      ExportGraphDef(*graph, &def);
      RETURN_IF_ERROR(WriteGraphDefFile(def, path));
      report.dump_path = path;
    }
  }
  report.nodes_after = graph->num_nodes();
  return report;
}

namespace pass_util {

absl::Status ForwardOutputs(Graph* graph, Node* from, int from_output, Endpoint to,
                            bool move_control_inputs) {
  std::vector<Node*> control_srcs;
  if (move_control_inputs) {
    for (const Edge* e : from->control_in_edges()) control_srcs.push_back(e->src);
  }
  // Copy: rewiring edits from->out_edges().
  const std::vector<Edge*> outs = from->out_edges();
  for (Edge* e : outs) {
    Node* dst = e->dst;
    if (e->IsControl()) {
      graph->RemoveEdge(e);
      if (dst != to.node) graph->AddControlEdge(to.node, dst);
    } else if (e->src_output == from_output) {
      const int slot = e->dst_input;
      RETURN_IF_ERROR(graph->UpdateInput(dst, slot, to));
    } else {
      continue;
    }
    for (Node* c : control_srcs) {
      if (c != dst) graph->AddControlEdge(c, dst);
    }
  }
  return absl::OkStatus();
}

bool IsSwitch(const Node& n) { return IsSwitchOp(n.op()); }

bool IsMerge(const Node& n) { return IsMergeOp(n.op()); }

bool ReadsSwitchOutput(const Node& n) {
  for (int i = 0; i < n.num_inputs(); ++i) {
    if (IsSwitch(*n.input(i).node)) return true;
  }
  return false;
}

bool HasConditionals(const Graph& graph) {
  for (const Node* n : graph.nodes()) {
    if (IsSwitch(*n)) return true;
  }
  return false;
}

int RemoveIfDead(Graph* graph, Node* node, const absl::flat_hash_set<std::string>& preserved) {
  // Placeholders are the graph's interface: a caller may still feed one.
  if (!node->out_edges().empty() || node->is_stateful() || preserved.contains(node->name()) ||
      node->op().rfind("Placeholder", 0) == 0) {
    return 0;
  }
  std::vector<std::string> inputs;
  for (int i = 0; i < node->num_inputs(); ++i) {
    if (node->input_edge(i)) inputs.push_back(node->input_edge(i)->src->name());
  }
  for (const Edge* e : node->control_in_edges()) inputs.push_back(e->src->name());
  graph->RemoveNode(node);
  int removed = 1;
  // By name: an input listed twice may already be gone.
  for (const std::string& name : inputs) {
    if (Node* in = graph->FindNode(name)) removed += RemoveIfDead(graph, in, preserved);
  }
  return removed;
}

}  // namespace pass_util
}  // namespace quiver
