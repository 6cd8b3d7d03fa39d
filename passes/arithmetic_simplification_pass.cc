#include "passes/arithmetic_simplification_pass.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// True when `n` is an unfed Const whose every element equals `v`.
bool IsConstFilledWith(const Node& n, double v, const absl::flat_hash_set<std::string>& fed) {
  if (n.op() != "Const" || fed.contains(n.name())) return false;
  auto t = n.GetAttr<Tensor>("value");
  if (!t.ok() || t->num_elements() == 0) return false;
  for (int64_t i = 0; i < t->num_elements(); ++i) {
    double e;
    switch (t->dtype()) {
      case DT_FLOAT:
        e = t->data<float>()[i];
        break;
      case DT_DOUBLE:
        e = t->data<double>()[i];
        break;
      case DT_INT32:
        e = t->data<int32_t>()[i];
        break;
      case DT_INT64:
        e = static_cast<double>(t->data<int64_t>()[i]);
        break;
      default:
        return false;
    }
    if (e != v) return false;
  }
  return true;
}

std::optional<std::vector<int64_t>> ConstInts(const Node& n,
                                              const absl::flat_hash_set<std::string>& fed) {
  if (n.op() != "Const" || fed.contains(n.name())) return std::nullopt;
  auto t = n.GetAttr<Tensor>("value");
  if (!t.ok()) return std::nullopt;
  if (t->dtype() == DT_INT32) {
    const int32_t* p = t->data<int32_t>();
    return std::vector<int64_t>(p, p + t->num_elements());
  }
  if (t->dtype() == DT_INT64) return t->ToVector<int64_t>();
  return std::nullopt;
}

bool HasControlOutput(const Node& n) {
  return std::any_of(n.out_edges().begin(), n.out_edges().end(),
                     [](const Edge* e) { return e->IsControl(); });
}

bool SameKnownShape(const TensorShape& a, const TensorShape& b) {
  return a.IsFullyDefined() && b.IsFullyDefined() && a == b;
}

class Simplifier {
 public:
  Simplifier(Graph* graph, const PassContext& ctx, PassStats* stats)
      : graph_(graph),
        preserved_(ctx.PreservedNodes(*graph)),
        fed_(ctx.FedNodes()),
        stats_(stats) {}

  // Tries every rewrite on `n`; true when the graph changed (n may be gone).
  absl::StatusOr<bool> Visit(Node* n) {
    if (fed_.contains(n->name())) return false;
    if (n->op() == "Mul" && n->num_inputs() == 2 && n->input(0) == n->input(1)) {
      return ToSquare(n);
    }
    if (preserved_.contains(n->name())) return false;
    std::optional<Endpoint> x = Bypass(*n);
    if (!x) return false;
    // Its control consumers would move to the Switch, which runs on both branches.
    if (pass_util::IsSwitch(*x->node) && HasControlOutput(*n)) return false;
    std::vector<std::string> inputs;
    for (int i = 0; i < n->num_inputs(); ++i) inputs.push_back(n->input(i).node->name());
    RETURN_IF_ERROR(pass_util::ForwardOutputs(graph_, n, 0, *x));
    graph_->RemoveNode(n);
    ++stats_->nodes_removed;
    for (const std::string& in : inputs) {
      if (Node* src = graph_->FindNode(in)) {
        stats_->nodes_removed += pass_util::RemoveIfDead(graph_, src, preserved_);
      }
    }
    return true;
  }

 private:
  // The endpoint that `n` merely passes through, if it is a no-op.
  std::optional<Endpoint> Bypass(const Node& n) {
    const std::string& op = n.op();
    if (n.num_outputs() != 1 || n.num_inputs() == 0) return std::nullopt;
    const TensorShape& out = n.output_shape(0);
    auto shape_of = [](Endpoint e) { return e.node->output_shape(e.index); };
    if (op == "Mul" || op == "Add" || op == "AddV2" || op == "Sub") {
      const double unit = op == "Mul" ? 1.0 : 0.0;
      for (int c : {1, 0}) {
        if (op == "Sub" && c == 0) continue;  // 0 - x is not x
        Endpoint x = n.input(1 - c);
        if (IsConstFilledWith(*n.input(c).node, unit, fed_) && SameKnownShape(out, shape_of(x))) {
          return x;
        }
      }
      return std::nullopt;
    }
    if (op == "Identity") {
      Endpoint x = n.input(0);
      if (x.node->output_is_ref(x.index)) return std::nullopt;
      if (!n.requested_device().empty() && n.requested_device() != x.node->requested_device()) {
        return std::nullopt;
      }
      return x;
    }
    if (op == "Cast") {
      auto src = n.GetAttr<DataType>("SrcT");
      auto dst = n.GetAttr<DataType>("DstT");
      if (src.ok() && dst.ok() && *src == *dst) return n.input(0);
      return std::nullopt;
    }
    if (op == "Reshape") {
      Endpoint x = n.input(0);
      if (SameKnownShape(out, shape_of(x))) return x;
      return std::nullopt;
    }
    if (op == "Transpose") {
      const Node& inner = *n.input(0).node;
      if (inner.op() != "Transpose" || fed_.contains(inner.name())) return std::nullopt;
      auto q = ConstInts(*n.input(1).node, fed_);
      auto p = ConstInts(*inner.input(1).node, fed_);
      if (!p || !q || p->size() != q->size()) return std::nullopt;
      // Transpose(y, q)[i] takes y's dim q[i]; y's dim j is x's dim p[j].
      for (size_t i = 0; i < q->size(); ++i) {
        const int64_t j = (*q)[i];
        if (j < 0 || j >= static_cast<int64_t>(p->size()) || (*p)[j] != static_cast<int64_t>(i)) {
          return std::nullopt;
        }
      }
      return inner.input(0);
    }
    return std::nullopt;
  }

  // Mul(x, x) -> Square(x) under the same name, so fetches still find it.
  absl::StatusOr<bool> ToSquare(Node* n) {
    const OpDef* square = OpRegistry::Global().Find("Square");
    const DataType dtype = n->output_type(0);
    if (square == nullptr) return false;
    if (const AttrDef* t = square->FindAttr("T");
        t && !t->allowed_types.empty() &&
        std::find(t->allowed_types.begin(), t->allowed_types.end(), dtype) ==
            t->allowed_types.end()) {
      return false;
    }
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
    spec.op = "Square";
    spec.device = n->requested_device();
    spec.attrs["T"] = MakeAttr(dtype);
    spec.inputs.push_back(n->input(0));
    for (const Edge* e : n->control_in_edges()) spec.control_inputs.push_back(e->src);
    graph_->RemoveNode(n);
    ASSIGN_OR_RETURN(Node * sq, graph_->AddNode(std::move(spec)));
    RETURN_IF_ERROR(graph_->InferNodeShape(sq));
    for (const Use& u : uses) {
      RETURN_IF_ERROR(graph_->UpdateInput(graph_->FindNode(u.dst), u.slot, {sq, 0}));
    }
    for (const std::string& c : control_outs) graph_->AddControlEdge(sq, graph_->FindNode(c));
    ++stats_->nodes_changed;
    return true;
  }

  Graph* graph_;
  absl::flat_hash_set<std::string> preserved_;
  absl::flat_hash_set<std::string> fed_;
  PassStats* stats_;
};

}  // namespace

absl::StatusOr<PassStats> ArithmeticSimplificationPass::Run(Graph* graph, const PassContext& ctx) {
  PassStats stats;
  // The shape checks need current shapes; earlier passes may have changed inputs.
  RETURN_IF_ERROR(graph->InferShapes());
  Simplifier simplifier(graph, ctx, &stats);
  bool changed = true;
  while (changed) {
    changed = false;
    ASSIGN_OR_RETURN(std::vector<Node*> order, graph->TopologicalOrder());
    // A rewrite removes only the visited node and its inputs (earlier in `order`), and adds
    // nodes not in `order`, so the rest of `order` stays valid.
    for (Node* n : order) {
      ASSIGN_OR_RETURN(bool c, simplifier.Visit(n));
      changed |= c;
    }
  }
  return stats;
}

}  // namespace quiver
