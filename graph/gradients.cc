#include "graph/gradients.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"

namespace quiver {

// ---- registry ----------------------------------------------------------------------------

GradientRegistry& GradientRegistry::Global() {
  static GradientRegistry* registry = new GradientRegistry();
  return *registry;
}

void GradientRegistry::Register(const std::string& op, GradFn fn) { fns_[op] = std::move(fn); }

void GradientRegistry::RegisterNoGradient(const std::string& op) { no_gradient_[op] = true; }

const GradFn* GradientRegistry::Find(const std::string& op, bool* no_gradient) const {
  *no_gradient = no_gradient_.count(op) > 0;
  auto it = fns_.find(op);
  return it == fns_.end() ? nullptr : &it->second;
}

// Sources and ops whose outputs are not differentiable functions of their inputs.
QUIVER_NO_GRADIENT("Const");
QUIVER_NO_GRADIENT("Placeholder");
QUIVER_NO_GRADIENT("VariableV2");
QUIVER_NO_GRADIENT("Variable");
QUIVER_NO_GRADIENT("IsVariableInitialized");
QUIVER_NO_GRADIENT("NoOp");
QUIVER_NO_GRADIENT("StopGradient");

// ---- helpers -----------------------------------------------------------------------------

namespace grad {

Output Input(GraphBuilder& b, const Node& op, int i) {
  Endpoint e = op.input(i);
  return Output(&b, e.node, e.index);
}

Output OutputOf(GraphBuilder& b, const Node& op, int i) {
  return Output(&b, const_cast<Node*>(&op), i);
}

Output IntConst(GraphBuilder& b, const std::vector<int64_t>& values, const std::string& name) {
  std::vector<int32_t> v(values.begin(), values.end());
  return b.Const(Tensor::FromVector<int32_t>(v, TensorShape{static_cast<int64_t>(v.size())}),
                 name.empty() ? "Const" : name);
}

Output ScalarConst(GraphBuilder& b, double value, DataType dtype) {
  return b.Scalar(value, dtype, "Const");
}

std::optional<Tensor> ConstValue(const Output& out) {
  if (!out.valid() || out.node()->op() != "Const") return std::nullopt;
  auto t = out.node()->GetAttr<Tensor>("value");
  if (!t.ok()) return std::nullopt;
  return *std::move(t);
}

absl::StatusOr<std::vector<int64_t>> ConstInts(const Output& out, const Node& op,
                                               const std::string& what) {
  std::optional<Tensor> t = ConstValue(out);
  if (!t.has_value()) {
    return Error(op,
                 absl::StrCat("the gradient needs ", what, " to be a constant, but it comes from '",
                              out.valid() ? out.node()->name() : "?", "' (",
                              out.valid() ? out.node()->op() : "?", ")"));
  }
  auto v = t->AsInt64Vector();
  if (!v.ok()) return Error(op, absl::StrCat(what, ": ", v.status().message()));
  return v;
}

Output ShapeOf(GraphBuilder& b, const Output& x) {
  if (x.shape().IsFullyDefined()) return IntConst(b, x.shape().dims(), "shape");
  return b.Op("Shape", {x}, {{"out_type", MakeAttr(DT_INT32)}}, "Shape");
}

Output ReshapeLike(GraphBuilder& b, const Output& grad, const Output& x) {
  if (!grad.valid() || !x.valid()) return Output();
  if (x.shape().IsFullyDefined() && grad.shape() == x.shape()) return grad;
  return b.Op("Reshape", {grad, ShapeOf(b, x)}, {}, "Reshape");
}

std::optional<std::vector<int64_t>> StaticReduceAxes(const TensorShape& x, const TensorShape& y) {
  if (x.unknown_rank() || y.unknown_rank()) return std::nullopt;
  const int rx = x.rank(), ry = y.rank();
  const int rank = std::max(rx, ry);
  std::vector<int64_t> axes;
  for (int d = 0; d < rank; ++d) {
    const int ix = d - (rank - rx), iy = d - (rank - ry);
    if (ix < 0) {  // x was broadcast along a leading dim it does not have
      axes.push_back(d);
      continue;
    }
    const int64_t dx = x.dim(ix);
    if (dx == 1) {
      axes.push_back(d);  // harmless even when the output dim is 1 too
    } else if (dx < 0) {
      // x's dim equals the output's unless x is 1 and y is not: decided only if y's dim is 1.
      if (iy >= 0 && y.dim(iy) != 1) return std::nullopt;
    }
  }
  return axes;
}

Output SumOver(GraphBuilder& b, const Output& x, const Output& axes, bool keep_dims) {
  return b.Op("Sum", {x, axes}, {{"keep_dims", MakeAttr(keep_dims)}}, "Sum");
}

Output SumToShapeOf(GraphBuilder& b, const Output& grad, const Output& x, const Output& y) {
  if (!grad.valid() || !x.valid() || !y.valid()) return Output();
  std::optional<std::vector<int64_t>> axes = StaticReduceAxes(x.shape(), y.shape());
  if (axes.has_value()) {
    if (axes->empty()) return grad;
    const bool same_rank = x.shape().rank() >= y.shape().rank();
    // Same rank: the reduced dims are exactly x's size-1 dims, so keep_dims gives x's shape.
    Output sum = SumOver(b, grad, IntConst(b, *axes, "reduction_indices"), same_rank);
    return same_rank ? sum : ReshapeLike(b, sum, x);
  }
  Node* args = b.OpNode("BroadcastGradientArgs",
                        {b.Op("Shape", {x}, {{"out_type", MakeAttr(DT_INT32)}}, "Shape"),
                         b.Op("Shape", {y}, {{"out_type", MakeAttr(DT_INT32)}}, "Shape")},
                        {}, "BroadcastGradientArgs");
  if (args == nullptr) return Output();
  return ReshapeLike(b, SumOver(b, grad, Output(&b, args, 0), false), x);
}

Output SumGradients(GraphBuilder& b, const std::vector<Output>& grads) {
  std::vector<Output> valid;
  for (const Output& g : grads) {
    if (g.valid()) valid.push_back(g);
  }
  if (valid.empty()) return Output();
  if (valid.size() == 1) return valid[0];
  if (valid.size() == 2) return b.Op("AddV2", valid, {}, "AddV2");
  return b.Op("AddN", valid, {}, "AddN");
}

absl::Status Error(const Node& op, const std::string& message) {
  return absl::InvalidArgumentError(
      absl::StrCat("gradient of node '", op.name(), "' (", op.op(), "): ", message));
}

}  // namespace grad

// ---- the algorithm -------------------------------------------------------------------------

namespace {

struct EndpointKey {
  int node;
  int index;
  bool operator==(const EndpointKey& o) const { return node == o.node && index == o.index; }
  template <typename H>
  friend H AbslHashValue(H h, const EndpointKey& k) {
    return H::combine(std::move(h), k.node, k.index);
  }
};

absl::Status CheckOutput(GraphBuilder& b, const Output& o, const char* what, size_t i) {
  if (!o.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AddSymbolicGradients: ", what, "[", i, "] is a null Output"));
  }
  if (b.graph().FindNode(o.node()->name()) != o.node()) {
    return absl::InvalidArgumentError(absl::StrCat("AddSymbolicGradients: ", what, "[", i, "] ('",
                                                   o.name(), "') is not in the builder's graph"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Output>> AddSymbolicGradients(GraphBuilder& b,
                                                         const std::vector<Output>& ys,
                                                         const std::vector<Output>& xs,
                                                         const std::vector<Output>& grad_ys) {
  RETURN_IF_ERROR(b.status());
  if (!grad_ys.empty() && grad_ys.size() != ys.size()) {
    return absl::InvalidArgumentError(absl::StrCat("AddSymbolicGradients: got ", grad_ys.size(),
                                                   " grad_ys for ", ys.size(), " ys"));
  }
  for (size_t i = 0; i < ys.size(); ++i) RETURN_IF_ERROR(CheckOutput(b, ys[i], "ys", i));
  for (size_t i = 0; i < xs.size(); ++i) RETURN_IF_ERROR(CheckOutput(b, xs[i], "xs", i));
  for (size_t i = 0; i < grad_ys.size(); ++i) {
    RETURN_IF_ERROR(CheckOutput(b, grad_ys[i], "grad_ys", i));
    if (grad_ys[i].dtype() != ys[i].dtype()) {
      return absl::InvalidArgumentError(
          absl::StrCat("AddSymbolicGradients: grad_ys[", i, "] ('", grad_ys[i].name(), "') is ",
                       DataTypeName(grad_ys[i].dtype()), " but ys[", i, "] ('", ys[i].name(),
                       "') is ", DataTypeName(ys[i].dtype())));
    }
  }

  // Nodes on a path from some x to some y: forward-reachable from xs and backward-reachable
  // from ys, along data edges (control edges carry no gradient).
  Graph& g = b.graph();
  const int num_ids = g.num_node_ids();
  std::vector<bool> from_x(num_ids, false), to_y(num_ids, false);
  std::vector<Node*> stack;
  for (const Output& x : xs) stack.push_back(x.node());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (from_x[n->id()]) continue;
    from_x[n->id()] = true;
    for (const Edge* e : n->out_edges()) {
      if (!e->IsControl() && !from_x[e->dst->id()]) stack.push_back(e->dst);
    }
  }
  for (const Output& y : ys) stack.push_back(y.node());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (to_y[n->id()]) continue;
    to_y[n->id()] = true;
    for (int i = 0; i < n->num_inputs(); ++i) {
      Node* src = n->input(i).node;
      if (!to_y[src->id()]) stack.push_back(src);
    }
  }
  std::vector<bool> on_path(num_ids, false);
  for (int id = 0; id < num_ids; ++id) on_path[id] = from_x[id] && to_y[id];

  // A node is ready once every on-path consumer has passed its gradient back.
  std::vector<int> pending(num_ids, 0);
  for (int id = 0; id < num_ids; ++id) {
    Node* n = g.node(id);
    if (n == nullptr || !on_path[id]) continue;
    for (int i = 0; i < n->num_inputs(); ++i) {
      const int src = n->input(i).node->id();
      if (on_path[src]) ++pending[src];
    }
  }

  auto scope = b.name_scope("gradients");
  absl::flat_hash_map<EndpointKey, std::vector<Output>> partial;
  for (size_t i = 0; i < ys.size(); ++i) {
    if (!on_path[ys[i].node()->id()]) continue;
    Output seed = grad_ys.empty() ? b.Op("OnesLike", {ys[i]}, {}, "OnesLike") : grad_ys[i];
    RETURN_IF_ERROR(b.status());
    partial[{ys[i].node()->id(), ys[i].index()}].push_back(seed);
  }

  std::deque<Node*> ready;
  for (int id = 0; id < num_ids; ++id) {
    if (on_path[id] && pending[id] == 0) ready.push_back(g.node(id));
  }
  absl::flat_hash_map<EndpointKey, Output> final_grads;
  while (!ready.empty()) {
    Node* n = ready.front();
    ready.pop_front();
    // Gradient nodes go where the forward node was asked to run (else the caller's scope).
    std::optional<GraphBuilder::ScopeGuard> device;
    if (!n->requested_device().empty()) device.emplace(b.device(n->requested_device()));
    auto node_scope = b.name_scope(absl::StrCat(n->name(), "_grad"));

    std::vector<Output> grad_outputs(n->num_outputs());
    bool any_grad = false;
    for (int k = 0; k < n->num_outputs(); ++k) {
      auto it = partial.find(EndpointKey{n->id(), k});
      if (it == partial.end()) continue;
      grad_outputs[k] = grad::SumGradients(b, it->second);
      RETURN_IF_ERROR(b.status());
      final_grads[EndpointKey{n->id(), k}] = grad_outputs[k];
      any_grad = any_grad || grad_outputs[k].valid();
      partial.erase(it);
    }
    bool input_on_path = false;
    for (int i = 0; i < n->num_inputs(); ++i) {
      input_on_path = input_on_path || on_path[n->input(i).node->id()];
    }

    if (any_grad && input_on_path) {
      bool no_gradient = false;
      const GradFn* fn = GradientRegistry::Global().Find(n->op(), &no_gradient);
      if (fn == nullptr && !no_gradient) {
        return absl::NotFoundError(
            absl::StrCat("no gradient defined for op '", n->op(), "' (node '", n->name(), "')"));
      }
      if (fn != nullptr && !no_gradient) {
        std::vector<Output> grad_inputs(n->num_inputs());
        absl::Status s = (*fn)(b, *n, grad_outputs, &grad_inputs);
        if (s.ok()) s = b.status();
        if (!s.ok()) {
          // grad::Error messages already name the node; builder errors name the new node only.
          if (absl::StrContains(s.message(), absl::StrCat("'", n->name(), "'"))) return s;
          return absl::Status(s.code(), absl::StrCat("gradient of node '", n->name(), "' (",
                                                     n->op(), "): ", s.message()));
        }
        if (grad_inputs.size() != static_cast<size_t>(n->num_inputs())) {
          return grad::Error(*n, absl::StrCat("the gradient function returned ", grad_inputs.size(),
                                              " input gradients for ", n->num_inputs(), " inputs"));
        }
        for (int i = 0; i < n->num_inputs(); ++i) {
          const Endpoint src = n->input(i);
          if (grad_inputs[i].valid() && on_path[src.node->id()]) {
            partial[{src.node->id(), src.index}].push_back(grad_inputs[i]);
          }
        }
      }
    }
    for (int i = 0; i < n->num_inputs(); ++i) {
      Node* src = n->input(i).node;
      if (on_path[src->id()] && --pending[src->id()] == 0) ready.push_back(src);
    }
  }

  std::vector<Output> result;
  result.reserve(xs.size());
  for (const Output& x : xs) {
    auto it = final_grads.find(EndpointKey{x.node()->id(), x.index()});
    result.push_back(it == final_grads.end() ? Output() : it->second);
  }
  return result;
}

Output Gradient(GraphBuilder& b, Output y, Output x) {
  auto grads = AddSymbolicGradients(b, {y}, {x});
  if (!grads.ok()) return b.Fail(grads.status());
  return (*grads)[0];
}

}  // namespace quiver
