#include "passes/constant_folding_pass.h"

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
  if (n.num_outputs() != 1) return "not exactly one output";
  if (n.output_is_ref(0)) return "ref output";
  return "";
}

// Runs `n`'s CPU kernel on constant inputs.
absl::StatusOr<Tensor> Evaluate(const Node& n, const std::vector<Tensor>& inputs) {
  ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel,
                   KernelRegistry::Global().CreateKernel(n, kCpu));
  std::vector<TensorValue> in(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) in[i].tensor = inputs[i];
  std::vector<TensorValue> out(n.num_outputs());
  StepResources resources;
  OpKernelContext ctx(n, &in, &out, &resources);
  RETURN_IF_ERROR(kernel->Compute(ctx));
  if (!out[0].tensor.valid() || out[0].tensor.dtype() != n.output_type(0)) {
    return absl::InternalError("kernel did not produce output 0 of the declared dtype");
  }
  return out[0].tensor;
}

}  // namespace

absl::StatusOr<PassStats> ConstantFoldingPass::Run(Graph* graph, const PassContext& ctx) {
  PassStats stats;
  const absl::flat_hash_set<std::string> preserved = ctx.PreservedNodes(*graph);
  const absl::flat_hash_set<std::string> fed = ctx.FedNodes();
  absl::flat_hash_set<std::string> given_up;  // noted once, not retried
  bool changed = true;
  while (changed) {
    changed = false;
    ASSIGN_OR_RETURN(std::vector<Node*> order, graph->TopologicalOrder());
    for (Node* n : order) {
      if (!CannotFold(*n).empty() || fed.contains(n->name()) || given_up.contains(n->name())) {
        continue;
      }
      std::vector<Tensor> inputs;
      bool all_const = true;
      for (int i = 0; i < n->num_inputs() && all_const; ++i) {
        const Node* src = n->input(i).node;
        all_const = src->op() == "Const" && !fed.contains(src->name());
        if (all_const) {
          auto v = src->GetAttr<Tensor>("value");
          if (!v.ok()) return v.status();
          inputs.push_back(*std::move(v));
        }
      }
      if (!all_const) continue;
      const TensorShape& shape = n->output_shape(0);
      const int64_t elem = DataTypeSize(n->output_type(0));
      if (shape.IsFullyDefined() && elem > 0 &&
          shape.num_elements() > ctx.max_constant_bytes / elem) {
        stats.notes.push_back(
            absl::StrCat(n->name(), ": output ", shape.DebugString(), " exceeds the size limit"));
        given_up.insert(n->name());
        continue;
      }
      auto value = Evaluate(*n, inputs);
      if (!value.ok()) {
        stats.notes.push_back(
            absl::StrCat(n->name(), ": kernel failed: ", value.status().message()));
        given_up.insert(n->name());
        continue;
      }
      if (static_cast<int64_t>(value->num_bytes()) > ctx.max_constant_bytes) {
        stats.notes.push_back(absl::StrCat(n->name(), ": output ", value->shape().DebugString(),
                                           " exceeds the size limit"));
        given_up.insert(n->name());
        continue;
      }

      // Replace n by a Const of the same name, keeping its consumers and control edges.
      struct Use {
        std::string dst;
        int slot;
      };
      std::vector<Use> uses;
      std::vector<std::string> control_outs;
      for (const Edge* e : n->out_edges()) {
        if (e->IsControl()) {
          control_outs.push_back(e->dst->name());
        } else {
          uses.push_back({e->dst->name(), e->dst_input});
        }
      }
      NodeSpec spec;
      spec.name = n->name();
      spec.op = "Const";
      spec.device = n->requested_device();
      spec.attrs["dtype"] = MakeAttr(value->dtype());
      spec.attrs["value"] = MakeAttr(*value);
      for (const Edge* e : n->control_in_edges()) spec.control_inputs.push_back(e->src);
      std::vector<std::string> input_names;
      for (int i = 0; i < n->num_inputs(); ++i) input_names.push_back(n->input(i).node->name());
      graph->RemoveNode(n);
      ASSIGN_OR_RETURN(Node * folded, graph->AddNode(std::move(spec)));
      RETURN_IF_ERROR(graph->InferNodeShape(folded));
      for (const Use& u : uses) {
        RETURN_IF_ERROR(graph->UpdateInput(graph->FindNode(u.dst), u.slot, {folded, 0}));
      }
      for (const std::string& c : control_outs) graph->AddControlEdge(folded, graph->FindNode(c));
      ++stats.nodes_changed;
      for (const std::string& in : input_names) {
        if (Node* src = graph->FindNode(in)) {
          stats.nodes_removed += pass_util::RemoveIfDead(graph, src, preserved);
        }
      }
      changed = true;
      // `order` now holds dangling pointers for removed inputs (all earlier in the order), but
      // later entries are intact; restart anyway to keep the loop obviously safe.
      break;
    }
  }
  return stats;
}

}  // namespace quiver
