#include "passes/constant_folding_pass.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

bool IsPlaceholderOp(const std::string& op) {
  return op == "Placeholder" || op == "PlaceholderWithDefault" || op == "PlaceholderV2";
}

// Why `n` cannot fold, or "" when it may (inputs are checked separately).
std::string CannotFold(const Node& n) {
  if (n.op() == "Const") return "already constant";
  if (n.is_stateful()) return "stateful";
  if (IsPlaceholderOp(n.op()) || n.op().rfind("_", 0) == 0) return "not foldable op";
  if (n.num_inputs() == 0) return "no inputs";
  if (n.num_outputs() == 0) return "no outputs";
  if (pass_util::IsSwitch(n) || pass_util::IsMerge(n)) return "control flow";
  for (int i = 0; i < n.num_outputs(); ++i) {
    if (n.output_is_ref(i)) return "ref output";
  }
  return "";
}

// Runs `n`'s CPU kernel on constant inputs: its outputs.
absl::StatusOr<std::vector<Tensor>> Evaluate(const Node& n, const std::vector<Tensor>& inputs) {
  ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel,
                   KernelRegistry::Global().CreateKernel(n, kCpu));
  std::vector<TensorValue> in(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) in[i].tensor = inputs[i];
  std::vector<TensorValue> out(n.num_outputs());
  StepResources resources;
  OpKernelContext ctx(n, &in, &out, &resources);
  RETURN_IF_ERROR(kernel->Compute(ctx));
  std::vector<Tensor> values;
  for (int i = 0; i < n.num_outputs(); ++i) {
    if (!out[i].tensor.valid() || out[i].tensor.dtype() != n.output_type(i)) {
      return absl::InternalError(
          absl::StrCat("kernel did not produce output ", i, " of the declared dtype"));
    }
    values.push_back(out[i].tensor);
  }
  return values;
}

// TF Grappler's MaterializeShapes: Shape, Size and Rank of a tensor whose static shape is
// known are constants, whatever its values. nullopt when `n` is not such a node. The shapes
// are trusted only when every fed tensor is a Placeholder's (a fed intermediate tensor may
// have another shape than the graph's inference says).
std::optional<Tensor> MaterializedShape(const Node& n) {
  const std::string& op = n.op();
  if ((op != "Shape" && op != "Size" && op != "Rank") || n.num_inputs() != 1) return std::nullopt;
  const TensorShape& in = n.input(0).node->output_shape(n.input(0).index);
  const DataType out = n.output_type(0);
  if (out != DT_INT32 && out != DT_INT64) return std::nullopt;
  if (op == "Rank") {
    if (in.unknown_rank()) return std::nullopt;
    return std::optional<Tensor>(out == DT_INT32 ? Tensor::Scalar<int32_t>(in.rank())
                                                 : Tensor::Scalar<int64_t>(in.rank()));
  }
  if (!in.IsFullyDefined()) return std::nullopt;
  const int64_t limit =
      out == DT_INT32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
  if (op == "Size") {
    if (in.num_elements() > limit) return std::nullopt;  // the kernel reports the overflow
    return std::optional<Tensor>(
        out == DT_INT32 ? Tensor::Scalar<int32_t>(static_cast<int32_t>(in.num_elements()))
                        : Tensor::Scalar<int64_t>(in.num_elements()));
  }
  for (int64_t d : in.dims()) {
    if (d > limit) return std::nullopt;
  }
  const int64_t rank = in.rank();
  if (out == DT_INT64) return std::optional<Tensor>(Tensor::FromVector<int64_t>(in.dims(), {rank}));
  std::vector<int32_t> dims(in.dims().begin(), in.dims().end());
  return std::optional<Tensor>(Tensor::FromVector<int32_t>(dims, {rank}));
}

// What the Consts replacing `n` must wait for, in a graph with conditionals: on an untaken
// branch n would not run, so neither may they. n's inputs are Consts tied to their branch by
// control inputs (TF1 cond's pivots), or, for a materialised shape, the tensor measured.
std::vector<Node*> InheritedControls(const Node& n, bool materialized) {
  std::vector<Node*> out;
  for (int i = 0; i < n.num_inputs(); ++i) {
    Node* src = n.input(i).node;
    if (materialized) {
      out.push_back(src);
      continue;
    }
    for (const Edge* e : src->control_in_edges()) out.push_back(e->src);
  }
  return out;
}

// Replaces `n` by Consts of `values` (one per output), keeping its consumers and control
// edges (plus `extra_controls`): a single output keeps n's name; several get
// "<name>/folded_<k>". Inputs left without consumers are removed.
absl::Status ReplaceWithConsts(Graph* graph, Node* n, const std::vector<Tensor>& values,
                               const std::vector<Node*>& extra_controls,
                               const absl::flat_hash_set<std::string>& preserved,
                               PassStats* stats) {
  struct Use {
    std::string dst;
    int output, slot;
  };
  std::vector<Use> uses;
  std::vector<std::string> control_outs;
  for (const Edge* e : n->out_edges()) {
    if (e->IsControl()) {
      control_outs.push_back(e->dst->name());
    } else {
      uses.push_back({e->dst->name(), e->src_output, e->dst_input});
    }
  }
  const bool single = values.size() == 1;
  std::vector<NodeSpec> specs(values.size());
  for (size_t k = 0; k < values.size(); ++k) {
    NodeSpec& spec = specs[k];
    spec.name = single ? n->name() : graph->UniqueName(absl::StrCat(n->name(), "/folded_", k));
    spec.op = "Const";
    spec.device = n->requested_device();
    spec.attrs["dtype"] = MakeAttr(values[k].dtype());
    spec.attrs["value"] = MakeAttr(values[k]);
    for (const Edge* e : n->control_in_edges()) spec.control_inputs.push_back(e->src);
    for (Node* c : extra_controls) {
      if (std::find(spec.control_inputs.begin(), spec.control_inputs.end(), c) ==
          spec.control_inputs.end()) {
        spec.control_inputs.push_back(c);
      }
    }
  }
  std::vector<std::string> input_names;
  for (int i = 0; i < n->num_inputs(); ++i) input_names.push_back(n->input(i).node->name());
  graph->RemoveNode(n);
  std::vector<Node*> folded;
  for (NodeSpec& spec : specs) {
    ASSIGN_OR_RETURN(Node * f, graph->AddNode(std::move(spec)));
    RETURN_IF_ERROR(graph->InferNodeShape(f));
    folded.push_back(f);
  }
  for (const Use& u : uses) {
    RETURN_IF_ERROR(graph->UpdateInput(graph->FindNode(u.dst), u.slot, {folded[u.output], 0}));
  }
  for (const std::string& c : control_outs) {
    for (Node* f : folded) graph->AddControlEdge(f, graph->FindNode(c));
  }
  ++stats->nodes_changed;
  if (!single) {
    stats->nodes_added += static_cast<int>(folded.size()) - 1;
    for (Node* f : folded) {  // outputs nobody read
      stats->nodes_removed += pass_util::RemoveIfDead(graph, f, preserved);
    }
  }
  for (const std::string& in : input_names) {
    if (Node* src = graph->FindNode(in)) {
      stats->nodes_removed += pass_util::RemoveIfDead(graph, src, preserved);
    }
  }
  return absl::OkStatus();
}

bool OnlyPlaceholdersFed(const Graph& graph, const absl::flat_hash_set<std::string>& fed) {
  for (const std::string& name : fed) {
    const Node* n = graph.FindNode(name);
    if (n != nullptr && !IsPlaceholderOp(n->op())) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<PassStats> ConstantFoldingPass::Run(Graph* graph, const PassContext& ctx) {
  PassStats stats;
  const absl::flat_hash_set<std::string> preserved = ctx.PreservedNodes(*graph);
  const absl::flat_hash_set<std::string> fed = ctx.FedNodes();
  absl::flat_hash_set<std::string> given_up;  // noted once, not retried
  const bool shapes_trusted = OnlyPlaceholdersFed(*graph, fed);
  const bool conditionals = pass_util::HasConditionals(*graph);
  bool changed = true;
  bool reinfer = false;  // a materialised shape can make shapes downstream known
  while (changed) {
    changed = false;
    if (reinfer) {
      RETURN_IF_ERROR(graph->InferShapes());
      reinfer = false;
    }
    ASSIGN_OR_RETURN(std::vector<Node*> order, graph->TopologicalOrder());
    for (Node* n : order) {
      if (!CannotFold(*n).empty() || fed.contains(n->name()) || given_up.contains(n->name())) {
        continue;
      }
      std::optional<Tensor> materialized;
      // The shape of a Switch output is known, but whether it exists is not.
      if (shapes_trusted && !(conditionals && pass_util::ReadsSwitchOutput(*n))) {
        materialized = MaterializedShape(*n);
      }
      std::vector<Tensor> inputs;
      bool all_const = true;
      for (int i = 0; i < n->num_inputs() && all_const && !materialized; ++i) {
        const Node* src = n->input(i).node;
        all_const = src->op() == "Const" && !fed.contains(src->name());
        if (all_const) {
          auto v = src->GetAttr<Tensor>("value");
          if (!v.ok()) return v.status();
          inputs.push_back(*std::move(v));
        }
      }
      if (!all_const) continue;
      // A multi-output node becomes one Const per output, with new names: only when nothing
      // refers to it by name.
      if (n->num_outputs() > 1 && preserved.contains(n->name())) continue;
      std::string too_big;
      for (int k = 0; k < n->num_outputs() && too_big.empty(); ++k) {
        const TensorShape& shape = n->output_shape(k);
        const int64_t elem = DataTypeSize(n->output_type(k));
        if (shape.IsFullyDefined() && elem > 0 &&
            shape.num_elements() > ctx.max_constant_bytes / elem) {
          too_big = shape.DebugString();
        }
      }
      if (!too_big.empty()) {
        stats.notes.push_back(
            absl::StrCat(n->name(), ": output ", too_big, " exceeds the size limit"));
        given_up.insert(n->name());
        continue;
      }
      absl::StatusOr<std::vector<Tensor>> values =
          materialized ? std::vector<Tensor>{*materialized} : Evaluate(*n, inputs);
      if (!values.ok()) {
        stats.notes.push_back(
            absl::StrCat(n->name(), ": kernel failed: ", values.status().message()));
        given_up.insert(n->name());
        continue;
      }
      for (const Tensor& v : *values) {
        if (static_cast<int64_t>(v.num_bytes()) > ctx.max_constant_bytes && too_big.empty()) {
          too_big = v.shape().DebugString();
        }
      }
      if (!too_big.empty()) {
        stats.notes.push_back(
            absl::StrCat(n->name(), ": output ", too_big, " exceeds the size limit"));
        given_up.insert(n->name());
        continue;
      }
      const std::vector<Node*> extra_controls =
          conditionals ? InheritedControls(*n, materialized.has_value()) : std::vector<Node*>{};
      RETURN_IF_ERROR(ReplaceWithConsts(graph, n, *values, extra_controls, preserved, &stats));
      changed = true;
      reinfer = materialized.has_value();
      // `order` now holds dangling pointers for removed inputs (all earlier in the order), but
      // later entries are intact; restart anyway to keep the loop obviously safe.
      break;
    }
  }
  return stats;
}

}  // namespace quiver
