#include "graph/builder.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quiver {

std::string Output::name() const { return node_ ? absl::StrCat(node_->name(), ":", index_) : ""; }

GraphBuilder::ScopeGuard GraphBuilder::device(const std::string& device) {
  device_stack_.push_back(device);
  return ScopeGuard([this] { device_stack_.pop_back(); });
}

GraphBuilder::ScopeGuard GraphBuilder::name_scope(const std::string& name) {
  if (name.empty()) {  // back to the root scope
    name_scopes_.push_back("");
    return ScopeGuard([this] { name_scopes_.pop_back(); });
  }
  // Like TF: reusing a scope name gives "name_1".
  std::string full = ScopedName(name);
  std::string unique = full;
  for (int i = 1; graph_->FindNode(unique) != nullptr ||
                  std::find(name_scopes_.begin(), name_scopes_.end(), unique) != name_scopes_.end();
       ++i) {
    unique = absl::StrCat(full, "_", i);
  }
  name_scopes_.push_back(unique);
  return ScopeGuard([this] { name_scopes_.pop_back(); });
}

GraphBuilder::ScopeGuard GraphBuilder::control_dependencies(const std::vector<Node*>& deps) {
  control_deps_.push_back(deps);
  return ScopeGuard([this] { control_deps_.pop_back(); });
}

std::string GraphBuilder::ScopedName(const std::string& name) const {
  if (name_scopes_.empty() || name_scopes_.back().empty()) return name;
  return absl::StrCat(name_scopes_.back(), "/", name);
}

Output GraphBuilder::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
  return Output();
}

Node* GraphBuilder::OpNode(const std::string& op, const std::vector<Output>& inputs, AttrMap attrs,
                           const std::string& name) {
  if (!status_.ok()) return nullptr;
  for (const Output& in : inputs) {
    if (!in.valid()) {
      Fail(
          absl::InvalidArgumentError(absl::StrCat("building ", op, ": an input is a null Output")));
      return nullptr;
    }
  }
  const OpDef* def = OpRegistry::Global().Find(op);
  if (def == nullptr) {
    Fail(absl::NotFoundError(absl::StrCat("unknown op '", op, "'")));
    return nullptr;
  }
  // Infer type and length attrs from the inputs, walking the signature's args.
  size_t next = 0;
  for (size_t a = 0; a < def->inputs.size(); ++a) {
    const ArgDef& arg = def->inputs[a];
    size_t count = 1;
    if (!arg.number_attr.empty() || !arg.type_list_attr.empty()) {
      // The inputs left after the later single-tensor args, split evenly between this arg and
      // the later lists of the same length attr (DynamicStitch: indices[N], data[N]); a
      // length given in `attrs` wins.
      size_t later_singles = 0, lists = 1;
      for (size_t b = a + 1; b < def->inputs.size(); ++b) {
        const ArgDef& later = def->inputs[b];
        if (later.number_attr.empty() && later.type_list_attr.empty()) {
          ++later_singles;
        } else if (!arg.number_attr.empty() && later.number_attr == arg.number_attr) {
          ++lists;
        }
      }
      const size_t rest =
          inputs.size() >= next + later_singles ? inputs.size() - next - later_singles : 0;
      count = rest / lists;
      if (!arg.number_attr.empty() && attrs.count(arg.number_attr)) {
        auto given = GetAttr<int64_t>(attrs, arg.number_attr);
        if (given.ok() && *given >= 0) count = static_cast<size_t>(*given);
      }
      if (!arg.number_attr.empty() && !attrs.count(arg.number_attr)) {
        attrs[arg.number_attr] = MakeAttr(static_cast<int64_t>(count));
      }
      if (!arg.type_list_attr.empty() && !attrs.count(arg.type_list_attr)) {
        std::vector<DataType> types;
        for (size_t i = next; i < next + count && i < inputs.size(); ++i)
          types.push_back(inputs[i].dtype());
        attrs[arg.type_list_attr] = MakeAttr(types);
      }
    }
    if (!arg.type_attr.empty() && !attrs.count(arg.type_attr) && next < inputs.size() &&
        count > 0) {
      attrs[arg.type_attr] = MakeAttr(inputs[next].dtype());
    }
    next += count;
  }
  NodeSpec spec;
  spec.name = graph_->UniqueName(ScopedName(name.empty() ? op : name));
  spec.op = op;
  spec.attrs = std::move(attrs);
  spec.device = device_stack_.empty() ? "" : device_stack_.back();
  for (const Output& in : inputs) spec.inputs.push_back({in.node(), in.index()});
  for (const auto& deps : control_deps_) {
    for (Node* d : deps) spec.control_inputs.push_back(d);
  }
  auto node = graph_->AddNode(std::move(spec));
  if (!node.ok()) {
    Fail(node.status());
    return nullptr;
  }
  absl::Status shape_status = graph_->InferNodeShape(*node);
  if (!shape_status.ok()) {
    Fail(shape_status);
    return nullptr;
  }
  return *node;
}

Output GraphBuilder::Op(const std::string& op, const std::vector<Output>& inputs, AttrMap attrs,
                        const std::string& name) {
  Node* n = OpNode(op, inputs, std::move(attrs), name);
  if (n == nullptr) return Output();
  if (n->num_outputs() == 0)
    return Fail(absl::InvalidArgumentError(absl::StrCat("op ", op, " has no outputs; use OpNode")));
  return Output(this, n, 0);
}

Output GraphBuilder::Placeholder(DataType dtype, const TensorShape& shape,
                                 const std::string& name) {
  return Op("Placeholder", {}, {{"dtype", MakeAttr(dtype)}, {"shape", MakeAttr(shape)}},
            name.empty() ? "Placeholder" : name);
}

Output GraphBuilder::Const(const Tensor& value, const std::string& name) {
  if (!value.valid()) return Fail(absl::InvalidArgumentError("Const: empty tensor"));
  return Op("Const", {}, {{"dtype", MakeAttr(value.dtype())}, {"value", MakeAttr(value)}},
            name.empty() ? "Const" : name);
}

namespace {
absl::StatusOr<Tensor> FilledTensor(const TensorShape& shape, DataType dtype, double value) {
  auto t = Tensor::Create(dtype, shape);
  if (!t.ok()) return t.status();
  int64_t n = t->num_elements();
  switch (dtype) {
    case DT_FLOAT:
      std::fill_n(t->data<float>(), n, static_cast<float>(value));
      break;
    case DT_DOUBLE:
      std::fill_n(t->data<double>(), n, value);
      break;
    case DT_INT32:
      std::fill_n(t->data<int32_t>(), n, static_cast<int32_t>(value));
      break;
    case DT_INT64:
      std::fill_n(t->data<int64_t>(), n, static_cast<int64_t>(value));
      break;
    case DT_BOOL:
      std::fill_n(t->data<bool>(), n, value != 0);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("cannot build a constant of dtype ", DataTypeName(dtype)));
  }
  return t;
}
}  // namespace

Output GraphBuilder::Scalar(double value, DataType dtype, const std::string& name) {
  auto t = FilledTensor(TensorShape{}, dtype, value);
  if (!t.ok()) return Fail(t.status());
  return Const(*t, name);
}

Output GraphBuilder::Zeros(const TensorShape& shape, DataType dtype) {
  auto t = FilledTensor(shape, dtype, 0);
  if (!t.ok()) return Fail(t.status());
  return Const(*t, "zeros");
}

Output GraphBuilder::Ones(const TensorShape& shape, DataType dtype) {
  auto t = FilledTensor(shape, dtype, 1);
  if (!t.ok()) return Fail(t.status());
  return Const(*t, "ones");
}

std::vector<VariableHandle> GraphBuilder::trainable_variables() const {
  std::vector<VariableHandle> out;
  for (const VariableHandle& v : variables_) {
    if (v.trainable) out.push_back(v);
  }
  return out;
}

VariableHandle GraphBuilder::Variable(Output initial, const std::string& name, bool trainable) {
  VariableHandle handle;
  handle.trainable = trainable;
  if (!initial.valid()) {
    Fail(absl::InvalidArgumentError("Variable: null initial value"));
    return handle;
  }
  TensorShape shape = initial.shape();
  if (!shape.IsFullyDefined()) {
    Fail(
        absl::InvalidArgumentError(absl::StrCat("Variable '", name, "': the initial value's shape ",
                                                shape.DebugString(), " is not fully known")));
    return handle;
  }
  std::string var_name = graph_->UniqueName(ScopedName(name.empty() ? "Variable" : name));
  // Build the TF1 layout: W (VariableV2), W/Assign (initializer), W/read (Identity).
  Node* var;
  {
    std::vector<std::string> saved_scopes;
    saved_scopes.swap(name_scopes_);  // var_name already carries the scope
    var = OpNode("VariableV2", {},
                 {{"shape", MakeAttr(shape)}, {"dtype", MakeAttr(initial.dtype())}}, var_name);
    name_scopes_.swap(saved_scopes);
  }
  if (var == nullptr) return handle;
  handle.ref = Output(this, var, 0);
  {
    std::vector<std::string> saved_scopes;
    saved_scopes.swap(name_scopes_);
    name_scopes_.push_back(var_name);
    Node* assign = OpNode("Assign", {handle.ref, initial}, {}, "Assign");
    handle.value = Op("Identity", {handle.ref}, {}, "read");
    name_scopes_.swap(saved_scopes);
    handle.initializer = assign;
  }
  if (handle.initializer != nullptr && handle.value.valid()) variables_.push_back(handle);
  return handle;
}

Node* GraphBuilder::GlobalVariablesInitializer(const std::string& name) {
  std::vector<Node*> inits;
  for (const VariableHandle& v : variables_) inits.push_back(v.initializer);
  return Group(*this, inits, name);
}

// ---- ops ----------------------------------------------------------------------------------

namespace {

GraphBuilder* BuilderOf(const Output& o) { return o.builder(); }

Output Unary(const char* op, Output x, const std::string& name) {
  if (!x.valid()) return Output();
  return BuilderOf(x)->Op(op, {x}, {}, name);
}

Output Binary(const char* op, Output a, Output b, const std::string& name = "") {
  if (!a.valid() || !b.valid()) return Output();
  return BuilderOf(a)->Op(op, {a, b}, {}, name);
}

// A scalar constant with x's dtype, for `x * 2.0`-style expressions.
Output ScalarLike(Output x, double value) {
  if (!x.valid()) return Output();
  return BuilderOf(x)->Scalar(value, x.dtype(), "Const");
}

Output IntVector(GraphBuilder* b, const std::vector<int64_t>& values, const char* name) {
  std::vector<int32_t> v(values.begin(), values.end());
  return b->Const(Tensor::FromVector<int32_t>(v, TensorShape{static_cast<int64_t>(v.size())}),
                  name);
}

Output Reduce(const char* op, Output x, const std::vector<int64_t>& axes, bool keep_dims,
              const std::string& name) {
  if (!x.valid()) return Output();
  GraphBuilder* b = BuilderOf(x);
  Output axis = IntVector(b, axes, "reduction_indices");
  return b->Op(op, {x, axis}, {{"keep_dims", MakeAttr(keep_dims)}}, name);
}

std::vector<int64_t> AllAxes(const Output& x) {
  std::vector<int64_t> axes;
  for (int i = 0; i < std::max(0, x.shape().rank()); ++i) axes.push_back(i);
  return axes;
}

}  // namespace

Output operator+(Output a, Output b) { return Binary("AddV2", a, b); }
Output operator-(Output a, Output b) { return Binary("Sub", a, b); }
Output operator*(Output a, Output b) { return Binary("Mul", a, b); }
Output operator/(Output a, Output b) { return Binary("RealDiv", a, b); }
Output operator-(Output a) { return Unary("Neg", a, ""); }
Output operator+(Output a, double b) { return a + ScalarLike(a, b); }
Output operator-(Output a, double b) { return a - ScalarLike(a, b); }
Output operator*(Output a, double b) { return a * ScalarLike(a, b); }
Output operator/(Output a, double b) { return a / ScalarLike(a, b); }
Output operator+(double a, Output b) { return ScalarLike(b, a) + b; }
Output operator-(double a, Output b) { return ScalarLike(b, a) - b; }
Output operator*(double a, Output b) { return ScalarLike(b, a) * b; }
Output operator/(double a, Output b) { return ScalarLike(b, a) / b; }

Output MatMul(Output a, Output b, MatMulOptions options, const std::string& name) {
  if (!a.valid() || !b.valid()) return Output();
  return BuilderOf(a)->Op("MatMul", {a, b},
                          {{"transpose_a", MakeAttr(options.transpose_a)},
                           {"transpose_b", MakeAttr(options.transpose_b)}},
                          name);
}
Output BatchMatMul(Output a, Output b, bool adj_x, bool adj_y, const std::string& name) {
  if (!a.valid() || !b.valid()) return Output();
  return BuilderOf(a)->Op("BatchMatMulV2", {a, b},
                          {{"adj_x", MakeAttr(adj_x)}, {"adj_y", MakeAttr(adj_y)}}, name);
}
Output BiasAdd(Output value, Output bias, const std::string& name) {
  return Binary("BiasAdd", value, bias, name);
}
Output Conv2D(Output input, Output filter, std::vector<int64_t> strides, const std::string& padding,
              const std::string& name) {
  if (!input.valid() || !filter.valid()) return Output();
  return BuilderOf(input)->Op("Conv2D", {input, filter},
                              {{"strides", MakeAttr(strides)}, {"padding", MakeAttr(padding)}},
                              name);
}
Output MaxPool(Output input, std::vector<int64_t> ksize, std::vector<int64_t> strides,
               const std::string& padding, const std::string& name) {
  if (!input.valid()) return Output();
  return BuilderOf(input)->Op(
      "MaxPool", {input},
      {{"ksize", MakeAttr(ksize)}, {"strides", MakeAttr(strides)}, {"padding", MakeAttr(padding)}},
      name);
}
Output AvgPool(Output input, std::vector<int64_t> ksize, std::vector<int64_t> strides,
               const std::string& padding, const std::string& name) {
  if (!input.valid()) return Output();
  return BuilderOf(input)->Op(
      "AvgPool", {input},
      {{"ksize", MakeAttr(ksize)}, {"strides", MakeAttr(strides)}, {"padding", MakeAttr(padding)}},
      name);
}

Output Softmax(Output x, const std::string& name) { return Unary("Softmax", x, name); }
Output SoftmaxCrossEntropyWithLogits(Output labels, Output logits, const std::string& name) {
  if (!labels.valid() || !logits.valid()) return Output();
  GraphBuilder* b = BuilderOf(logits);
  Node* n = b->OpNode("SoftmaxCrossEntropyWithLogits", {logits, labels}, {},
                      name.empty() ? "SoftmaxCrossEntropyWithLogits" : name);
  return n ? Output(b, n, 0) : Output();
}

Output Dropout(Output x, Output keep_prob, int64_t seed, const std::string& name) {
  if (!x.valid() || !keep_prob.valid()) return Output();
  GraphBuilder* b = BuilderOf(x);
  auto scope = b->name_scope(name.empty() ? "dropout" : name);
  Output uniform = b->Op("RandomUniform", {Shape(x)},
                         {{"dtype", MakeAttr(x.dtype())},
                          {"seed", MakeAttr(seed)},
                          {"seed2", MakeAttr(seed == 0 ? int64_t{0} : seed + 1)}},
                         "random_uniform");
  // floor(keep_prob + U[0,1)) is 1 with probability keep_prob.
  Output mask = b->Op("Floor", {keep_prob + uniform});
  return (x / keep_prob) * mask;
}

Output TruncatedNormal(GraphBuilder& b, const TensorShape& shape, double stddev, int64_t seed,
                       DataType dtype) {
  Output sample = b.Op("TruncatedNormal", {IntVector(&b, shape.dims(), "shape")},
                       {{"dtype", MakeAttr(dtype)},
                        {"seed", MakeAttr(seed)},
                        {"seed2", MakeAttr(seed == 0 ? int64_t{0} : seed + 1)}},
                       "truncated_normal");
  return sample * stddev;
}

Output LogSoftmax(Output x, const std::string& name) { return Unary("LogSoftmax", x, name); }
Output Relu(Output x, const std::string& name) { return Unary("Relu", x, name); }
Output Relu6(Output x, const std::string& name) { return Unary("Relu6", x, name); }
Output Sigmoid(Output x, const std::string& name) { return Unary("Sigmoid", x, name); }
Output Tanh(Output x, const std::string& name) { return Unary("Tanh", x, name); }
Output Exp(Output x, const std::string& name) { return Unary("Exp", x, name); }
Output Log(Output x, const std::string& name) { return Unary("Log", x, name); }
Output Sqrt(Output x, const std::string& name) { return Unary("Sqrt", x, name); }
Output Rsqrt(Output x, const std::string& name) { return Unary("Rsqrt", x, name); }
Output Square(Output x, const std::string& name) { return Unary("Square", x, name); }
Output Neg(Output x, const std::string& name) { return Unary("Neg", x, name); }
Output Identity(Output x, const std::string& name) { return Unary("Identity", x, name); }
Output StopGradient(Output x, const std::string& name) { return Unary("StopGradient", x, name); }
Output Maximum(Output a, Output b, const std::string& name) {
  return Binary("Maximum", a, b, name);
}
Output Minimum(Output a, Output b, const std::string& name) {
  return Binary("Minimum", a, b, name);
}
Output Pow(Output a, Output b, const std::string& name) { return Binary("Pow", a, b, name); }
Output Equal(Output a, Output b, const std::string& name) { return Binary("Equal", a, b, name); }
Output Less(Output a, Output b, const std::string& name) { return Binary("Less", a, b, name); }
Output Greater(Output a, Output b, const std::string& name) {
  return Binary("Greater", a, b, name);
}
Output Cast(Output x, DataType to, const std::string& name) {
  if (!x.valid()) return Output();
  return BuilderOf(x)->Op("Cast", {x}, {{"SrcT", MakeAttr(x.dtype())}, {"DstT", MakeAttr(to)}},
                          name);
}

Output ReduceSum(Output x, std::vector<int64_t> axes, bool keep_dims, const std::string& name) {
  return Reduce("Sum", x, axes, keep_dims, name);
}
Output ReduceMean(Output x, std::vector<int64_t> axes, bool keep_dims, const std::string& name) {
  return Reduce("Mean", x, axes, keep_dims, name);
}
Output ReduceMax(Output x, std::vector<int64_t> axes, bool keep_dims, const std::string& name) {
  return Reduce("Max", x, axes, keep_dims, name);
}
Output ReduceProd(Output x, std::vector<int64_t> axes, bool keep_dims, const std::string& name) {
  return Reduce("Prod", x, axes, keep_dims, name);
}
Output ReduceMeanAll(Output x, const std::string& name) {
  return Reduce("Mean", x, AllAxes(x), false, name);
}
Output ReduceSumAll(Output x, const std::string& name) {
  return Reduce("Sum", x, AllAxes(x), false, name);
}
Output ArgMax(Output x, int64_t axis, const std::string& name) {
  if (!x.valid()) return Output();
  GraphBuilder* b = BuilderOf(x);
  Output dim = b->Scalar(static_cast<double>(axis), DT_INT32, "dimension");
  return b->Op("ArgMax", {x, dim}, {}, name);
}

Output Reshape(Output x, std::vector<int64_t> shape, const std::string& name) {
  if (!x.valid()) return Output();
  GraphBuilder* b = BuilderOf(x);
  return b->Op("Reshape", {x, IntVector(b, shape, "shape")}, {}, name);
}
Output Transpose(Output x, std::vector<int64_t> perm, const std::string& name) {
  if (!x.valid()) return Output();
  GraphBuilder* b = BuilderOf(x);
  return b->Op("Transpose", {x, IntVector(b, perm, "perm")}, {}, name);
}
Output Concat(const std::vector<Output>& values, int64_t axis, const std::string& name) {
  if (values.empty() || !values[0].valid()) return Output();
  GraphBuilder* b = BuilderOf(values[0]);
  std::vector<Output> inputs = values;
  inputs.push_back(b->Scalar(static_cast<double>(axis), DT_INT32, "axis"));
  return b->Op("ConcatV2", inputs, {}, name);
}
Output Stack(const std::vector<Output>& values, int64_t axis, const std::string& name) {
  if (values.empty() || !values[0].valid()) return Output();
  return BuilderOf(values[0])->Op("Pack", values, {{"axis", MakeAttr(axis)}}, name);
}
Output Squeeze(Output x, std::vector<int64_t> axes, const std::string& name) {
  if (!x.valid()) return Output();
  return BuilderOf(x)->Op("Squeeze", {x}, {{"squeeze_dims", MakeAttr(axes)}}, name);
}
Output ExpandDims(Output x, int64_t axis, const std::string& name) {
  if (!x.valid()) return Output();
  GraphBuilder* b = BuilderOf(x);
  return b->Op("ExpandDims", {x, b->Scalar(static_cast<double>(axis), DT_INT32, "dim")}, {}, name);
}
Output Shape(Output x, const std::string& name) { return Unary("Shape", x, name); }
Output ZerosLike(Output x, const std::string& name) { return Unary("ZerosLike", x, name); }
Output OnesLike(Output x, const std::string& name) { return Unary("OnesLike", x, name); }

Output Assign(Output ref, Output value, const std::string& name) {
  return Binary("Assign", ref, value, name);
}
Output AssignAdd(Output ref, Output value, const std::string& name) {
  return Binary("AssignAdd", ref, value, name);
}
Output AssignSub(Output ref, Output value, const std::string& name) {
  return Binary("AssignSub", ref, value, name);
}

Node* Group(GraphBuilder& b, const std::vector<Node*>& deps, const std::string& name) {
  auto scope = b.control_dependencies(deps);
  return b.OpNode("NoOp", {}, {}, name);
}

}  // namespace quiver
