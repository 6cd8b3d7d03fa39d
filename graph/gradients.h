// Symbolic gradients: tf.gradients / TF C++ AddSymbolicGradients for Quiver graphs.
//
//   Graph g;
//   GraphBuilder b(&g);
//   auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
//   auto W = b.Variable(b.Zeros({784, 10}), "W");
//   auto loss = ReduceMeanAll(Square(MatMul(x, W)));
//   auto grads = AddSymbolicGradients(b, {loss}, {W.value});   // or {W.ref}
//   if (!grads.ok()) ...                                        // names the op and node
//
// The gradient nodes go under the name scope "gradients" ("gradients/MatMul_grad/MatMul",
// like TF) on the forward node's requested device. Each op's gradient is a GradFn registered
// with QUIVER_REGISTER_GRADIENT; ops whose outputs carry no gradient (Shape, ArgMax,
// comparisons, StopGradient, ...) are declared with QUIVER_NO_GRADIENT.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/builder.h"
#include "graph/graph.h"

namespace quiver {

// Adds nodes computing d(sum_i sum(ys[i] * grad_ys[i])) / d(xs[j]) for every j. grad_ys default
// to ones (OnesLike(y)); when given there must be one per y with y's dtype. Returns one Output
// per x, or a null Output for an x that no y depends on (like tf.gradients' None). An x may be
// any node output, including a VariableV2 reference (VariableHandle::ref): its gradient is the
// sum over the reference's consumers (its "read" Identity, or ops that read the ref directly).
// Errors: an op on the path without a registered gradient ("no gradient defined for op 'Foo'
// (node 'bar')"), and any builder error met while adding gradient nodes.
absl::StatusOr<std::vector<Output>> AddSymbolicGradients(GraphBuilder& b,
                                                         const std::vector<Output>& ys,
                                                         const std::vector<Output>& xs,
                                                         const std::vector<Output>& grad_ys = {});

// Convenience for one y and one x: the gradient, or a null Output after recording the error in
// the builder (b.status()), in the builder's error style.
Output Gradient(GraphBuilder& b, Output y, Output x);

// ---- gradient registry -------------------------------------------------------------------

// Builds the gradients of one forward node. `grad_outputs` has one entry per output of `op`
// (a null Output where no gradient flows into that output; at least one is non-null).
// `grad_inputs` arrives sized to op.num_inputs(), all null; set an entry for each input that
// has a gradient. Build with `b` (errors recorded there are picked up by the caller).
using GradFn = std::function<absl::Status(GraphBuilder& b, const Node& op,
                                          const std::vector<Output>& grad_outputs,
                                          std::vector<Output>* grad_inputs)>;

class GradientRegistry {
 public:
  static GradientRegistry& Global();
  void Register(const std::string& op, GradFn fn);
  // Declares that no gradient flows through `op` (its inputs get none, silently).
  void RegisterNoGradient(const std::string& op);
  // The op's gradient function, or nullptr. Sets *no_gradient for declared non-differentiable
  // ops.
  const GradFn* Find(const std::string& op, bool* no_gradient) const;

 private:
  std::map<std::string, GradFn> fns_;
  std::map<std::string, bool> no_gradient_;
};

struct GradientRegistrar {
  GradientRegistrar(const std::string& op, GradFn fn) {
    GradientRegistry::Global().Register(op, std::move(fn));
  }
  explicit GradientRegistrar(const std::string& op) {
    GradientRegistry::Global().RegisterNoGradient(op);
  }
};

#define QUIVER_REGISTER_GRADIENT(op, fn) QUIVER_REGISTER_GRADIENT_UNIQ(__COUNTER__, op, fn)
#define QUIVER_REGISTER_GRADIENT_UNIQ(ctr, op, fn) QUIVER_REGISTER_GRADIENT_UNIQ2(ctr, op, fn)
#define QUIVER_REGISTER_GRADIENT_UNIQ2(ctr, op, fn) \
  static ::quiver::GradientRegistrar quiver_gradient_registrar_##ctr(op, fn)

#define QUIVER_NO_GRADIENT(op) QUIVER_NO_GRADIENT_UNIQ(__COUNTER__, op)
#define QUIVER_NO_GRADIENT_UNIQ(ctr, op) QUIVER_NO_GRADIENT_UNIQ2(ctr, op)
#define QUIVER_NO_GRADIENT_UNIQ2(ctr, op) \
  static ::quiver::GradientRegistrar quiver_no_gradient_registrar_##ctr(op)

// ---- helpers for gradient functions --------------------------------------------------------

namespace grad {

// Input i of `op` as an Output of `b` (a ref input reads the variable).
Output Input(GraphBuilder& b, const Node& op, int i);
// Output i of `op`.
Output OutputOf(GraphBuilder& b, const Node& op, int i);

// An int32 vector constant.
Output IntConst(GraphBuilder& b, const std::vector<int64_t>& values, const std::string& name = "");
// A scalar constant of `dtype`.
Output ScalarConst(GraphBuilder& b, double value, DataType dtype);

// The constant value of `out` when its node is a Const (nullopt otherwise).
std::optional<Tensor> ConstValue(const Output& out);
// The int values of a Const integer output, or an error naming `what` and the op.
absl::StatusOr<std::vector<int64_t>> ConstInts(const Output& out, const Node& op,
                                               const std::string& what);

// The shape of `x` as an int32 vector: a Const when fully known, else a Shape node.
Output ShapeOf(GraphBuilder& b, const Output& x);
// `grad` reshaped to x's shape (a no-op when the shapes already match statically).
Output ReshapeLike(GraphBuilder& b, const Output& grad, const Output& x);

// Sums `grad` (the gradient of a broadcasting binary op's output) back to the shape of `x`,
// the op's input that was broadcast against `y`. Uses static reduction axes when the shapes
// decide them, else the BroadcastGradientArgs op.
Output SumToShapeOf(GraphBuilder& b, const Output& grad, const Output& x, const Output& y);

// The axes of broadcast(x, y) over which a gradient must be summed to get back x's shape, when
// the (partial) shapes decide them; nullopt when they do not (unknown rank, or an unknown dim
// of x facing a dim of y that may differ from 1).
std::optional<std::vector<int64_t>> StaticReduceAxes(const TensorShape& x, const TensorShape& y);

// Sum(x, axes) with int32 axes.
Output SumOver(GraphBuilder& b, const Output& x, const Output& axes, bool keep_dims);

// Sum of several gradients (AddV2 for two, AddN for more; the input itself for one).
Output SumGradients(GraphBuilder& b, const std::vector<Output>& grads);

// An InvalidArgument error naming the op and node.
absl::Status Error(const Node& op, const std::string& message);

}  // namespace grad

}  // namespace quiver
