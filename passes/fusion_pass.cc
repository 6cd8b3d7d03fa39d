#include "passes/fusion_pass.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

bool IsActivation(const std::string& op) {
  return op == "Relu" || op == "Relu6" || op == "Elu" || op == "Tanh" || op == "Sigmoid";
}

bool IsOutput0Of(Endpoint e, const Node* node) { return e.node == node && e.index == 0; }

std::string FusedOpFor(const Node& root) {
  return root.op() == "MatMul" ? "_FusedMatMul" : "_FusedConv2D";
}

// Whether `device_type` registers any kernel for `op` (float32 is all the fused kernels take).
bool HasKernelFor(const std::string& op, const std::string& device_type) {
  for (const KernelRegistry::Entry& e : KernelRegistry::Global().List()) {
    if (e.op == op && e.device_type == device_type) return true;
  }
  return false;
}

// Whether `c` adds a bias to `root:0`: a BiasAdd of it, or an Add/AddV2 of it and a 1-D
// tensor [N] where N is the last dim of `root:0` (so the Add is a BiasAdd by broadcasting).
bool MatchBias(const Node* c, const Node* root, Endpoint* bias) {
  if (c->op() == "BiasAdd") {
    if (!IsOutput0Of(c->input(0), root) || IsOutput0Of(c->input(1), root)) return false;
    *bias = c->input(1);
    return true;
  }
  if (c->op() != "Add" && c->op() != "AddV2") return false;
  const bool first = IsOutput0Of(c->input(0), root), second = IsOutput0Of(c->input(1), root);
  if (first == second) return false;
  const Endpoint other = c->input(first ? 1 : 0);
  const TensorShape& out = root->output_shape(0);
  const TensorShape& b = other.node->output_shape(other.index);
  if (out.unknown_rank() || out.rank() < 1 || b.rank() != 1) return false;
  const int64_t n = out.dim(out.rank() - 1);
  if (n < 0 || b.dim(0) != n) return false;
  *bias = other;
  return true;
}

std::string ChainName(const std::vector<Node*>& chain) {
  std::vector<std::string> names;
  for (const Node* n : chain) names.push_back(n->name());
  return absl::StrJoin(names, "+");
}

// Why `n` cannot be an intermediate (a node that disappears into the fused op), or "".
std::string IntermediateProblem(const Node* n, const absl::flat_hash_set<std::string>& preserved,
                                const absl::flat_hash_set<std::string>& fed) {
  if (fed.contains(n->name())) return absl::StrCat(n->name(), " is fed");
  if (preserved.contains(n->name())) return absl::StrCat(n->name(), " is fetched or targeted");
  if (!n->control_in_edges().empty()) return absl::StrCat(n->name(), " has control inputs");
  int data = 0;
  for (const Edge* e : n->out_edges()) {
    if (e->IsControl()) return absl::StrCat(n->name(), " has control outputs");
    ++data;
  }
  if (data != 1) return absl::StrCat(n->name(), " has ", data, " consumers");
  return "";
}

std::string GetString(const Node* n, const char* attr) {
  auto v = n->GetAttr<std::string>(attr);
  return v.ok() ? *v : "";
}

// Why the chain [root, bias_add, (act)] cannot be fused, or "".
std::string ChainProblem(const std::vector<Node*>& chain, const PassContext& ctx,
                         const absl::flat_hash_set<std::string>& preserved,
                         const absl::flat_hash_set<std::string>& fed) {
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    std::string p = IntermediateProblem(chain[i], preserved, fed);
    if (!p.empty()) return p;
  }
  const Node* last = chain.back();
  if (fed.contains(last->name())) return absl::StrCat(last->name(), " is fed");
  for (const Node* n : chain) {
    if (n->requested_device() != chain[0]->requested_device() ||
        n->assigned_device() != chain[0]->assigned_device()) {
      return absl::StrCat(n->name(), " is on another device than ", chain[0]->name());
    }
    if (GetString(n, "data_format") == "NCHW") {
      return absl::StrCat(n->name(), " uses NCHW (fused kernels are NHWC only)");
    }
  }
  // The device the chain will run on must have the fused kernel (the GPU registers its
  // _FusedMatMul / _FusedConv2D only where a GPU answers); otherwise the chain is left alone: a
  // GPU request must not be silently turned into CPU.
  const std::string type = ctx.DeviceTypeFor(*chain[0]);
  const std::string fused_op = FusedOpFor(*chain[0]);
  if (type != kCpu && !HasKernelFor(fused_op, type)) {
    const std::string& dev = chain[0]->assigned_device().empty() ? chain[0]->requested_device()
                                                                 : chain[0]->assigned_device();
    return absl::StrCat("device ", dev, " has no ", fused_op, " kernel");
  }
  return "";
}

// The fused node's spec (name and edges filled by the caller).
NodeSpec FusedSpec(const std::vector<Node*>& chain, Endpoint bias) {
  const Node* root = chain[0];
  NodeSpec spec;
  spec.op = FusedOpFor(*root);
  spec.attrs = root->attrs();  // MatMul's and Conv2D's attrs are all attrs of the fused ops
  spec.attrs["num_args"] = MakeAttr(int64_t{1});
  std::vector<std::string> ops = {"BiasAdd"};
  if (chain.size() == 3) ops.push_back(chain[2]->op());
  spec.attrs["fused_ops"] = MakeAttr(ops);
  spec.device = root->requested_device();
  spec.inputs = {root->input(0), root->input(1), bias};
  return spec;
}

}  // namespace

absl::StatusOr<PassStats> FusionPass::Run(Graph* graph, const PassContext& ctx) {
  PassStats stats;
  const absl::flat_hash_set<std::string> preserved = ctx.PreservedNodes(*graph);
  const absl::flat_hash_set<std::string> fed = ctx.FedNodes();
  // Add-as-BiasAdd needs the bias shape; without shapes only BiasAdd matches.
  if (absl::Status s = graph->InferShapes(); !s.ok()) {
    stats.notes.push_back(
        absl::StrCat("shape inference failed (", s.message(), "); Add/AddV2 biases not matched"));
  }
  ASSIGN_OR_RETURN(std::vector<Node*> order, graph->TopologicalOrder());
  // Ids, not pointers: fusing frees nodes that come later in the order.
  std::vector<int> ids;
  for (Node* n : order) ids.push_back(n->id());
  for (int id : ids) {
    Node* root = graph->node(id);
    if (root == nullptr || (root->op() != "MatMul" && root->op() != "Conv2D")) continue;
    Node* bias_add = nullptr;
    Endpoint bias;
    for (const Edge* e : root->out_edges()) {
      if (!e->IsControl() && MatchBias(e->dst, root, &bias)) {
        bias_add = e->dst;
        break;
      }
    }
    if (bias_add == nullptr) continue;
    std::vector<Node*> chain = {root, bias_add};
    // The activation joins only when the bias add can vanish; otherwise fuse without it.
    for (const Edge* e : bias_add->out_edges()) {
      if (e->IsControl() || !IsActivation(e->dst->op())) continue;
      const std::string p = IntermediateProblem(bias_add, preserved, fed);
      if (p.empty()) {
        chain.push_back(e->dst);
      } else {
        stats.notes.push_back(absl::StrCat(ChainName({root, bias_add, e->dst}), ": ", p,
                                           "; trying ", ChainName(chain), " alone"));
      }
      break;
    }
    if (std::string p = ChainProblem(chain, ctx, preserved, fed); !p.empty()) {
      stats.notes.push_back(absl::StrCat(ChainName(chain), ": ", p));
      continue;
    }
    Node* last = chain.back();
    NodeSpec spec = FusedSpec(chain, bias);
    // Try the fused node under a scratch name first: the op must accept the attrs and a CPU
    // kernel must exist for the dtype (none for float64), else nothing changes.
    {
      NodeSpec probe = spec;
      probe.name = graph->UniqueName(absl::StrCat(last->name(), "/fusion_probe"));
      absl::StatusOr<Node*> tmp = graph->AddNode(std::move(probe));
      if (!tmp.ok()) {
        stats.notes.push_back(absl::StrCat(ChainName(chain), ": ", tmp.status().message()));
        continue;
      }
      const bool has_kernel = KernelRegistry::Global().Find(**tmp, kCpu) != nullptr;
      graph->RemoveNode(*tmp);
      if (!has_kernel) {
        auto t = root->GetAttr<DataType>("T");
        stats.notes.push_back(absl::StrCat(ChainName(chain), ": no CPU kernel for ", spec.op,
                                           " with T=", DataTypeName(t.ok() ? *t : DT_INVALID)));
        continue;
      }
    }
    // The fused node replaces `last` under its name, so its consumers, control edges and
    // fetches carry over.
    struct Use {
      Node* dst;
      int input;
    };
    std::vector<Use> uses;
    std::vector<Node*> control_outs;
    for (const Edge* e : last->out_edges()) {
      if (e->IsControl()) {
        control_outs.push_back(e->dst);
      } else {
        uses.push_back({e->dst, e->dst_input});
      }
    }
    for (const Edge* e : last->control_in_edges()) spec.control_inputs.push_back(e->src);
    spec.name = last->name();
    const std::string chain_name = ChainName(chain);
    const std::string assigned = root->assigned_device();
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) graph->RemoveNode(*it);
    ASSIGN_OR_RETURN(Node * fused, graph->AddNode(std::move(spec)));
    fused->set_assigned_device(assigned);
    for (const Use& u : uses) RETURN_IF_ERROR(graph->UpdateInput(u.dst, u.input, {fused, 0}));
    for (Node* dst : control_outs) graph->AddControlEdge(fused, dst);
    RETURN_IF_ERROR(graph->InferNodeShape(fused));
    stats.nodes_removed += static_cast<int>(chain.size());
    stats.nodes_added += 1;
    stats.changes.push_back(absl::StrCat(fused->name(), ": ", chain_name, " -> ", fused->op()));
  }
  return stats;
}

}  // namespace quiver
