#include "passes/elementwise_fusion_pass.h"

#include <algorithm>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/common/elementwise_program.h"
#include "devices/device_name.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using elementwise::OpCode;

// The instruction `n` computes, if it is a fusable element-wise op.
std::optional<OpCode> OpCodeOf(const Node& n) {
  OpCode op;
  if (!elementwise::OpCodeForTfOp(n.op(), &op)) return std::nullopt;
  if (n.num_outputs() != 1 || n.num_inputs() != (elementwise::IsBinary(op) ? 2 : 1)) {
    return std::nullopt;
  }
  if (n.op() == "BiasAdd") {
    // NHWC BiasAdd is Add with NumPy broadcasting of the [C] bias; NCHW is not.
    auto f = n.GetAttr<std::string>("data_format");
    if (f.ok() && *f != "NHWC") return std::nullopt;
  }
  return op;
}

const std::string& DeviceOf(const Node& n) {
  return n.assigned_device().empty() ? n.requested_device() : n.assigned_device();
}

// Whether a _FusedElementwise kernel exists for `dtype` on `device_type` (probed once per pair
// with a scratch node, as the kernel registry matches nodes). GPU kernels are in the registry
// only where a GPU answers.
class KernelProbe {
 public:
  bool Has(DataType dtype, const std::string& device_type) {
    const auto key = std::make_pair(dtype, device_type);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    bool found = false;
    Graph g;
    NodeSpec in;
    in.name = "x";
    in.op = "Placeholder";
    in.attrs["dtype"] = MakeAttr(dtype);
    absl::StatusOr<Node*> x = g.AddNode(std::move(in));
    if (x.ok()) {
      NodeSpec spec;
      spec.name = "probe";
      spec.op = "_FusedElementwise";
      spec.attrs["T"] = MakeAttr(dtype);
      spec.attrs["N"] = MakeAttr(int64_t{1});
      spec.attrs["program"] = MakeAttr(std::vector<std::string>{"Neg i0"});
      spec.inputs = {{*x, 0}};
      absl::StatusOr<Node*> probe = g.AddNode(std::move(spec));
      found = probe.ok() && KernelRegistry::Global().Find(**probe, device_type) != nullptr;
    }
    cache_[key] = found;
    return found;
  }

 private:
  std::map<std::pair<DataType, std::string>, bool> cache_;
};

class Fuser {
 public:
  Fuser(Graph* graph, const PassContext& ctx, PassStats* stats)
      : graph_(graph),
        ctx_(ctx),
        preserved_(ctx.PreservedNodes(*graph)),
        fed_(ctx.FedNodes()),
        stats_(stats) {}

  absl::Status Run() {
    ASSIGN_OR_RETURN(std::vector<Node*> order, graph_->TopologicalOrder());
    topo_pos_.assign(graph_->num_node_ids(), -1);
    std::vector<int> ids;
    for (size_t i = 0; i < order.size(); ++i) {
      topo_pos_[order[i]->id()] = static_cast<int>(i);
      ids.push_back(order[i]->id());
    }
    done_.assign(graph_->num_node_ids(), false);
    // Consumers first: a producer is decided after every consumer that could absorb it.
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
      Node* root = graph_->node(*it);
      if (root == nullptr || done_[*it] || !OpCodeOf(*root) || fed_.contains(root->name())) {
        continue;
      }
      done_[*it] = true;
      RETURN_IF_ERROR(GrowAndFuse(root));
    }
    return absl::OkStatus();
  }

 private:
  // Why `root` cannot root a fused group, or "".
  std::string RootProblem(const Node& root) {
    const std::string type = ctx_.DeviceTypeFor(root);  // "" when the name does not parse
    const DataType t = root.output_type(0);
    if (type.empty() || !probe_.Has(t, type)) {
      return absl::StrCat("no _FusedElementwise kernel for T=", DataTypeName(t), " on ",
                          DeviceOf(root).empty() ? std::string(kCpu) : DeviceOf(root));
    }
    if (root.output_shape(0).unknown_rank()) return "output rank unknown";
    return "";
  }

  // Why producer `p` cannot join the group rooted at `root`, or "".
  std::string JoinProblem(const Node& p, const Node& root,
                          const absl::flat_hash_map<int, bool>& in_group, int num_instructions) {
    if (fed_.contains(p.name())) return "it is fed";
    if (preserved_.contains(p.name())) return "it is fetched or targeted";
    if (!p.control_in_edges().empty()) return "it has control inputs";
    for (const Edge* e : p.out_edges()) {
      if (e->IsControl()) return absl::StrCat("it has a control edge to ", e->dst->name());
      if (!in_group.contains(e->dst->id())) {
        return absl::StrCat("it has another consumer outside the group (", e->dst->name(), ")");
      }
    }
    if (p.requested_device() != root.requested_device() ||
        p.assigned_device() != root.assigned_device()) {
      return absl::StrCat("it is on another device (", DeviceOf(p), " vs ", DeviceOf(root), ")");
    }
    if (p.output_type(0) != root.output_type(0)) return "its dtype differs";
    if (p.output_shape(0).unknown_rank() || p.output_shape(0) != root.output_shape(0)) {
      return absl::StrCat("its output ", p.output_shape(0).DebugString(),
                          " is not the fused output ", root.output_shape(0).DebugString(),
                          " (a broadcast intermediate would be recomputed per element)");
    }
    if (num_instructions >= elementwise::kMaxInstructions) {
      return absl::StrCat("the group has ", elementwise::kMaxInstructions, " instructions");
    }
    return "";
  }

  void Note(const Node& p, const Node& root, const std::string& why) {
    stats_->notes.push_back(
        absl::StrCat(p.name(), " (", p.op(), ") not fused into ", root.name(), ": ", why));
  }

  absl::Status GrowAndFuse(Node* root) {
    bool has_candidate_producer = false;
    for (int i = 0; i < root->num_inputs(); ++i) {
      has_candidate_producer |= OpCodeOf(*root->input(i).node).has_value();
    }
    if (!has_candidate_producer) return absl::OkStatus();
    if (std::string p = RootProblem(*root); !p.empty()) {
      stats_->notes.push_back(absl::StrCat(root->name(), " (", root->op(), "): not fused: ", p));
      return absl::OkStatus();
    }
    absl::flat_hash_map<int, bool> in_group = {{root->id(), true}};
    std::vector<Node*> members = {root};
    // Producers by topological position, latest first.
    std::priority_queue<std::pair<int, int>> pending;
    absl::flat_hash_map<int, bool> queued;
    auto enqueue_inputs = [&](const Node* m) {
      for (int i = 0; i < m->num_inputs(); ++i) {
        const Endpoint e = m->input(i);
        if (e.node->id() >= static_cast<int>(topo_pos_.size())) continue;  // made by this pass
        if (queued.contains(e.node->id()) || in_group.contains(e.node->id())) continue;
        queued[e.node->id()] = true;
        pending.push({topo_pos_[e.node->id()], e.node->id()});
      }
    };
    enqueue_inputs(root);
    while (!pending.empty()) {
      Node* p = graph_->node(pending.top().second);
      pending.pop();
      if (p == nullptr || done_[p->id()] || !OpCodeOf(*p)) continue;
      const std::string why = JoinProblem(*p, *root, in_group, static_cast<int>(members.size()));
      if (!why.empty()) {
        Note(*p, *root, why);
        continue;
      }
      if (CountExternalInputs(members, p) > elementwise::kMaxInputs) {
        Note(*p, *root,
             absl::StrCat("the group would need more than ", elementwise::kMaxInputs, " inputs"));
        continue;
      }
      in_group[p->id()] = true;
      members.push_back(p);
      enqueue_inputs(p);
    }
    if (members.size() < 2) return absl::OkStatus();
    for (const Node* m : members) done_[m->id()] = true;
    return Fuse(root, std::move(members));
  }

  // The distinct endpoints feeding `members` (plus `extra`) from outside.
  std::vector<Endpoint> ExternalInputs(const std::vector<Node*>& members) const {
    std::vector<Endpoint> out;
    for (const Node* m : members) {
      for (int i = 0; i < m->num_inputs(); ++i) {
        const Endpoint e = m->input(i);
        const bool internal =
            std::find(members.begin(), members.end(), e.node) != members.end() && e.index == 0;
        if (!internal && std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
      }
    }
    return out;
  }
  int CountExternalInputs(std::vector<Node*> members, Node* extra) const {
    members.push_back(extra);
    return static_cast<int>(ExternalInputs(members).size());
  }

  absl::Status Fuse(Node* root, std::vector<Node*> members) {
    std::sort(members.begin(), members.end(), [&](const Node* a, const Node* b) {
      return topo_pos_[a->id()] < topo_pos_[b->id()];
    });
    const std::vector<Endpoint> inputs = ExternalInputs(members);
    const int n = static_cast<int>(inputs.size());
    absl::flat_hash_map<const Node*, int> reg;
    std::vector<std::string> program;
    for (const Node* m : members) {
      const OpCode op = *OpCodeOf(*m);
      std::string ins = elementwise::OpCodeName(op);
      for (int i = 0; i < m->num_inputs(); ++i) {
        const Endpoint e = m->input(i);
        auto it = reg.find(e.node);
        if (it != reg.end() && e.index == 0) {
          absl::StrAppend(&ins, " r", it->second);
        } else {
          const int k =
              static_cast<int>(std::find(inputs.begin(), inputs.end(), e) - inputs.begin());
          absl::StrAppend(&ins, " i", k);
        }
      }
      reg[m] = static_cast<int>(program.size());
      program.push_back(std::move(ins));
    }

    NodeSpec spec;
    spec.op = "_FusedElementwise";
    spec.attrs["T"] = MakeAttr(root->output_type(0));
    spec.attrs["N"] = MakeAttr(int64_t{n});
    spec.attrs["program"] = MakeAttr(program);
    spec.device = root->requested_device();
    spec.inputs = inputs;
    for (const Edge* e : root->control_in_edges()) spec.control_inputs.push_back(e->src);
    spec.name = root->name();
    struct Use {
      Node* dst;
      int input;
    };
    std::vector<Use> uses;
    std::vector<Node*> control_outs;
    for (const Edge* e : root->out_edges()) {
      if (e->IsControl()) {
        control_outs.push_back(e->dst);
      } else {
        uses.push_back({e->dst, e->dst_input});
      }
    }
    std::vector<std::string> names;
    for (const Node* m : members) names.push_back(absl::StrCat(m->name(), "(", m->op(), ")"));
    const std::string assigned = root->assigned_device();
    const int removed = static_cast<int>(members.size());
    for (auto it = members.rbegin(); it != members.rend(); ++it) graph_->RemoveNode(*it);
    ASSIGN_OR_RETURN(Node * fused, graph_->AddNode(std::move(spec)));
    fused->set_assigned_device(assigned);
    for (const Use& u : uses) RETURN_IF_ERROR(graph_->UpdateInput(u.dst, u.input, {fused, 0}));
    for (Node* dst : control_outs) graph_->AddControlEdge(fused, dst);
    RETURN_IF_ERROR(graph_->InferNodeShape(fused));
    stats_->nodes_removed += removed;
    stats_->nodes_added += 1;
    stats_->changes.push_back(
        absl::StrCat(fused->name(), ": ", removed, " ops, ", n, " inputs -> _FusedElementwise [",
                     absl::StrJoin(program, "; "), "] from ", absl::StrJoin(names, " ")));
    return absl::OkStatus();
  }

  Graph* graph_;
  const PassContext& ctx_;
  absl::flat_hash_set<std::string> preserved_;
  absl::flat_hash_set<std::string> fed_;
  PassStats* stats_;
  KernelProbe probe_;
  std::vector<int> topo_pos_;
  std::vector<bool> done_;
};

}  // namespace

absl::StatusOr<PassStats> ElementwiseFusionPass::Run(Graph* graph, const PassContext& ctx) {
  PassStats stats;
  if (absl::Status s = graph->InferShapes(); !s.ok()) {
    stats.notes.push_back(
        absl::StrCat("shape inference failed (", s.message(), "); nothing fused"));
    return stats;
  }
  Fuser fuser(graph, ctx, &stats);
  RETURN_IF_ERROR(fuser.Run());
  return stats;
}

}  // namespace quiver
