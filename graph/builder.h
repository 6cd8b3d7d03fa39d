// The C++ graph-building API: as close to TF1 Python as C++ allows.
//
//   quiver::Graph graph;
//   quiver::GraphBuilder b(&graph);
//   auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
//   quiver::Output y;
//   {
//     auto on_gpu = b.device("/gpu:0");          // RAII, like `with tf.device(...)`
//     auto W = b.Variable(b.Zeros({784, 10}), "W");
//     auto bias = b.Variable(b.Zeros({10}), "b");
//     y = Softmax(MatMul(x, W) + bias);
//   }
//   auto init = b.GlobalVariablesInitializer();
//   if (!b.status().ok()) ...                     // the first error, naming the node
//
// Errors do not throw: the builder records the first one (like TF's C++ Scope) and later
// ops return null Outputs; check status() before running.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "graph/graph.h"
#include "graph/tensor.h"

namespace quiver {

class GraphBuilder;

// One output of a node in a graph under construction.
class Output {
 public:
  Output() = default;
  Output(GraphBuilder* builder, Node* node, int index = 0)
      : builder_(builder), node_(node), index_(index) {}

  bool valid() const { return node_ != nullptr; }
  GraphBuilder* builder() const { return builder_; }
  Node* node() const { return node_; }
  int index() const { return index_; }
  DataType dtype() const { return node_ ? node_->output_type(index_) : DT_INVALID; }
  TensorShape shape() const { return node_ ? node_->output_shape(index_) : TensorShape::UnknownRank(); }
  // "node:i", the name Session::Run takes.
  std::string name() const;
  operator std::string() const { return name(); }

 private:
  GraphBuilder* builder_ = nullptr;
  Node* node_ = nullptr;
  int index_ = 0;
};

// A TF1 variable: VariableV2 (the reference), its initializer (Assign) and its read value.
struct VariableHandle {
  Output ref;          // the VariableV2 output (for Assign/optimizers)
  Output value;        // "<name>/read": Identity of the variable
  Node* initializer = nullptr;
  bool trainable = true;  // optimizers minimise over trainable variables by default
  operator Output() const { return value; }
  std::string name() const { return ref.node() ? ref.node()->name() : ""; }
};

class GraphBuilder {
 public:
  explicit GraphBuilder(Graph* graph) : graph_(graph) {}
  GraphBuilder(const GraphBuilder&) = delete;
  GraphBuilder& operator=(const GraphBuilder&) = delete;

  Graph& graph() { return *graph_; }
  // The first error met while building (OK if none).
  const absl::Status& status() const { return status_; }

  // RAII scopes. Keep the returned guard alive for the scope's extent.
  class [[nodiscard]] ScopeGuard {
   public:
    explicit ScopeGuard(std::function<void()> on_exit) : on_exit_(std::move(on_exit)) {}
    ScopeGuard(ScopeGuard&& o) noexcept : on_exit_(std::move(o.on_exit_)) { o.on_exit_ = nullptr; }
    ScopeGuard(const ScopeGuard&) = delete;
    ~ScopeGuard() {
      if (on_exit_) on_exit_();
    }

   private:
    std::function<void()> on_exit_;
  };
  // Nodes created inside get this requested device ("/gpu:0", "/cpu:0", "" to clear).
  ScopeGuard device(const std::string& device);
  // Node names inside get the prefix "name/" (nested scopes nest; reused names get "_1");
  // an empty name returns to the root scope.
  ScopeGuard name_scope(const std::string& name);
  // Nodes created inside get control inputs from `deps`.
  ScopeGuard control_dependencies(const std::vector<Node*>& deps);

  // Adds a node. Type attrs of inputs ("T", "N", ...) not given in `attrs` are inferred from
  // the inputs. `name` defaults to the op name; it is prefixed by the name scope and made
  // unique. Returns output 0 (use Output(b, node, i) for others).
  Output Op(const std::string& op, const std::vector<Output>& inputs, AttrMap attrs = {},
            const std::string& name = "");
  Node* OpNode(const std::string& op, const std::vector<Output>& inputs, AttrMap attrs = {},
               const std::string& name = "");

  // Sources.
  Output Placeholder(DataType dtype, const TensorShape& shape, const std::string& name = "");
  Output Const(const Tensor& value, const std::string& name = "");
  Output Scalar(double value, DataType dtype = DT_FLOAT, const std::string& name = "");
  Output Zeros(const TensorShape& shape, DataType dtype = DT_FLOAT);
  Output Ones(const TensorShape& shape, DataType dtype = DT_FLOAT);
  VariableHandle Variable(Output initial_value, const std::string& name = "",
                          bool trainable = true);
  // A NoOp depending on every variable initializer created so far ("init").
  Node* GlobalVariablesInitializer(const std::string& name = "init");
  const std::vector<VariableHandle>& variables() const { return variables_; }
  std::vector<VariableHandle> trainable_variables() const;

  // Records an error (the first one wins) and returns a null Output.
  Output Fail(absl::Status status);

 private:
  std::string ScopedName(const std::string& name) const;

  Graph* graph_;
  absl::Status status_;
  std::vector<std::string> device_stack_;
  std::vector<std::string> name_scopes_;
  std::vector<std::vector<Node*>> control_deps_;
  std::vector<VariableHandle> variables_;
};

// ---- ops -------------------------------------------------------------------------------
// Each takes its graph from its first Output. Names are optional and scoped.

Output operator+(Output a, Output b);
Output operator-(Output a, Output b);
Output operator*(Output a, Output b);
Output operator/(Output a, Output b);
Output operator-(Output a);
Output operator+(Output a, double b);
Output operator-(Output a, double b);
Output operator*(Output a, double b);
Output operator/(Output a, double b);
Output operator+(double a, Output b);
Output operator-(double a, Output b);
Output operator*(double a, Output b);
Output operator/(double a, Output b);

struct MatMulOptions {
  bool transpose_a = false;
  bool transpose_b = false;
};
Output MatMul(Output a, Output b, MatMulOptions options = {}, const std::string& name = "");
Output BatchMatMul(Output a, Output b, bool adj_x = false, bool adj_y = false,
                   const std::string& name = "");
Output BiasAdd(Output value, Output bias, const std::string& name = "");
Output Conv2D(Output input, Output filter, std::vector<int64_t> strides, const std::string& padding,
              const std::string& name = "");
Output MaxPool(Output input, std::vector<int64_t> ksize, std::vector<int64_t> strides,
               const std::string& padding, const std::string& name = "");
Output AvgPool(Output input, std::vector<int64_t> ksize, std::vector<int64_t> strides,
               const std::string& padding, const std::string& name = "");

Output Softmax(Output logits, const std::string& name = "");
// tf.nn.softmax_cross_entropy_with_logits: the per-example loss [batch].
Output SoftmaxCrossEntropyWithLogits(Output labels, Output logits, const std::string& name = "");
// tf.nn.dropout(x, keep_prob): keeps each element with probability keep_prob, scaled by
// 1/keep_prob. keep_prob is a scalar tensor (feed 1.0 at test time). seed 0 = nondeterministic.
Output Dropout(Output x, Output keep_prob, int64_t seed = 0, const std::string& name = "");
// tf.random.truncated_normal(shape, stddev=stddev, seed=seed)
Output TruncatedNormal(GraphBuilder& b, const TensorShape& shape, double stddev, int64_t seed = 0,
                       DataType dtype = DT_FLOAT);
Output LogSoftmax(Output logits, const std::string& name = "");
Output Relu(Output x, const std::string& name = "");
Output Relu6(Output x, const std::string& name = "");
Output Sigmoid(Output x, const std::string& name = "");
Output Tanh(Output x, const std::string& name = "");
Output Exp(Output x, const std::string& name = "");
Output Log(Output x, const std::string& name = "");
Output Sqrt(Output x, const std::string& name = "");
Output Rsqrt(Output x, const std::string& name = "");
Output Square(Output x, const std::string& name = "");
Output Neg(Output x, const std::string& name = "");
Output Identity(Output x, const std::string& name = "");
Output StopGradient(Output x, const std::string& name = "");
Output Maximum(Output a, Output b, const std::string& name = "");
Output Minimum(Output a, Output b, const std::string& name = "");
Output Pow(Output a, Output b, const std::string& name = "");
Output Equal(Output a, Output b, const std::string& name = "");
Output Less(Output a, Output b, const std::string& name = "");
Output Greater(Output a, Output b, const std::string& name = "");
Output Cast(Output x, DataType to, const std::string& name = "");

// Reductions over `axes` (negative axes count from the end), like tf.reduce_*.
Output ReduceSum(Output x, std::vector<int64_t> axes, bool keep_dims = false,
                 const std::string& name = "");
Output ReduceMean(Output x, std::vector<int64_t> axes, bool keep_dims = false,
                  const std::string& name = "");
Output ReduceMax(Output x, std::vector<int64_t> axes, bool keep_dims = false,
                 const std::string& name = "");
Output ReduceProd(Output x, std::vector<int64_t> axes, bool keep_dims = false,
                  const std::string& name = "");
// Reduces over every axis (tf.reduce_mean(x) with no axis).
Output ReduceMeanAll(Output x, const std::string& name = "");
Output ReduceSumAll(Output x, const std::string& name = "");
Output ArgMax(Output x, int64_t axis, const std::string& name = "");

Output Reshape(Output x, std::vector<int64_t> shape, const std::string& name = "");
Output Transpose(Output x, std::vector<int64_t> perm, const std::string& name = "");
Output Concat(const std::vector<Output>& values, int64_t axis, const std::string& name = "");
Output Stack(const std::vector<Output>& values, int64_t axis = 0, const std::string& name = "");
Output Squeeze(Output x, std::vector<int64_t> axes = {}, const std::string& name = "");
Output ExpandDims(Output x, int64_t axis, const std::string& name = "");
Output Shape(Output x, const std::string& name = "");
Output ZerosLike(Output x, const std::string& name = "");
Output OnesLike(Output x, const std::string& name = "");

// Variables.
Output Assign(Output ref, Output value, const std::string& name = "");
Output AssignAdd(Output ref, Output value, const std::string& name = "");
Output AssignSub(Output ref, Output value, const std::string& name = "");
// A NoOp that runs after all of `deps` (tf.group).
Node* Group(GraphBuilder& b, const std::vector<Node*>& deps, const std::string& name = "group");

}  // namespace quiver
