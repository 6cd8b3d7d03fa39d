// The op registry: every op Quiver knows declares its inputs, outputs and attrs (with
// defaults), in TensorFlow's OpDef spec syntax, plus a shape function.
//
//   QUIVER_REGISTER_OP("MatMul")
//       .Input("a: T")
//       .Input("b: T")
//       .Output("product: T")
//       .Attr("transpose_a: bool = false")
//       .Attr("transpose_b: bool = false")
//       .Attr("T: {float, double, int32, int64}")
//       .SetShapeFn(MatMulShape);
//
// Arg specs: "name: T" (type attr), "name: float" (fixed), "name: N * T" (list of N),
// "name: Tlist" where Tlist is a list(type) attr, "name: Ref(T)" (TF1 reference).
// Attr specs: "name: type", "name: {float, int32}" (type with allowed values),
// "name: int >= 1", "name: bool = false", "name: string = 'NHWC'",
// "name: {'SAME', 'VALID'}", "name: list(int) = [1, 1, 1, 1]", "name: shape = unknown"
// (unknown rank; or "= []" for a scalar), "name: tensor", "name: type = DT_INT32".
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/attr_value.h"
#include "graph/tensor.h"
#include "graph/tensor_shape.h"
#include "graph/types.h"

namespace quiver {

class Node;
class InferenceContext;

using ShapeFn = std::function<absl::Status(InferenceContext&)>;

struct ArgDef {
  std::string name;
  DataType fixed_type = DT_INVALID;  // set when the spec names a concrete dtype
  std::string type_attr;             // "T"
  std::string number_attr;           // "N" for "N * T"
  std::string type_list_attr;        // for list(type) attrs
  bool is_ref = false;
};

struct AttrDef {
  std::string name;
  std::string type;  // "int", "float", "bool", "string", "type", "shape", "tensor", "list(int)", ...
  std::optional<AttrValue> default_value;
  std::vector<DataType> allowed_types;       // empty: any
  std::vector<std::string> allowed_strings;  // empty: any
  std::optional<int64_t> minimum;
};

struct OpDef {
  std::string name;
  std::vector<ArgDef> inputs;
  std::vector<ArgDef> outputs;
  std::vector<AttrDef> attrs;
  ShapeFn shape_fn;  // null: outputs get unknown shapes
  bool is_stateful = false;

  const AttrDef* FindAttr(const std::string& attr_name) const;
};

class OpRegistry {
 public:
  static OpRegistry& Global();
  void Register(OpDef def);
  // nullptr when the op is unknown.
  const OpDef* Find(const std::string& op) const;
  std::vector<std::string> ListOps() const;

 private:
  std::map<std::string, OpDef> ops_;
};

// Fluent registration helper; parse errors in specs are programming errors and abort at
// start-up with the offending spec (a test registers every op, so CI catches them).
class OpDefBuilder {
 public:
  explicit OpDefBuilder(std::string name);
  OpDefBuilder& Input(const std::string& spec);
  OpDefBuilder& Output(const std::string& spec);
  OpDefBuilder& Attr(const std::string& spec);
  OpDefBuilder& SetShapeFn(ShapeFn fn);
  OpDefBuilder& SetIsStateful();
  OpDef Build() const { return def_; }

 private:
  OpDef def_;
};

struct OpRegistrar {
  OpRegistrar(const OpDefBuilder& builder) { OpRegistry::Global().Register(builder.Build()); }
};

#define QUIVER_REGISTER_OP(name) QUIVER_REGISTER_OP_UNIQ(__COUNTER__, name)
#define QUIVER_REGISTER_OP_UNIQ(ctr, name) QUIVER_REGISTER_OP_UNIQ2(ctr, name)
#define QUIVER_REGISTER_OP_UNIQ2(ctr, name) \
  static ::quiver::OpRegistrar quiver_op_registrar_##ctr = ::quiver::OpDefBuilder(name)

// Fills in attrs that the node lacks but the op declares with defaults (TF does the same on
// import), then checks every attr against the OpDef: unknown-to-op attrs starting with '_' are
// kept, required ones must be present, types and allowed values must match.
absl::Status AddDefaultsAndValidateAttrs(const OpDef& op, const std::string& node_name,
                                         AttrMap* attrs);

// Resolves the input and output dtypes of a node from its OpDef and attrs.
absl::Status ResolveSignature(const OpDef& op, const std::string& node_name, const AttrMap& attrs,
                              std::vector<DataType>* input_types,
                              std::vector<DataType>* output_types,
                              std::vector<bool>* input_is_ref = nullptr,
                              std::vector<bool>* output_is_ref = nullptr);

// What a shape function sees. Input shapes may be partial; input_tensor(i) is set when the
// input's value is known at graph-construction time (a Const), which Reshape/Fill/... use.
class InferenceContext {
 public:
  InferenceContext(const Node& node, std::vector<TensorShape> input_shapes,
                   std::vector<const Tensor*> input_tensors);

  const Node& node() const { return node_; }
  const std::string& node_name() const;
  const AttrMap& attrs() const;
  int num_inputs() const { return static_cast<int>(input_shapes_.size()); }
  int num_outputs() const { return static_cast<int>(output_shapes_.size()); }
  const TensorShape& input_shape(int i) const { return input_shapes_[i]; }
  DataType input_type(int i) const;
  const Tensor* input_tensor(int i) const { return input_tensors_[i]; }
  void set_output(int i, TensorShape shape) { output_shapes_[i] = std::move(shape); }
  const TensorShape& output(int i) const { return output_shapes_[i]; }
  std::vector<TensorShape> TakeOutputs() { return std::move(output_shapes_); }

  template <typename T>
  absl::StatusOr<T> GetAttr(const std::string& name) const {
    return ::quiver::GetAttr<T>(attrs(), name);
  }
  // An InvalidArgument error prefixed with the node name and op.
  absl::Status Error(const std::string& message) const;

 private:
  const Node& node_;
  std::vector<TensorShape> input_shapes_;
  std::vector<const Tensor*> input_tensors_;
  std::vector<TensorShape> output_shapes_;
};

// Common shape functions.
namespace shape_fn {
absl::Status Unknown(InferenceContext& c);          // every output unknown rank
absl::Status UnchangedShape(InferenceContext& c);   // output 0 = input 0
absl::Status Scalar(InferenceContext& c);           // output 0 = []
absl::Status BroadcastBinary(InferenceContext& c);  // NumPy broadcasting of inputs 0 and 1
// Broadcasts two partial shapes; error when two known dims differ and neither is 1.
absl::StatusOr<TensorShape> BroadcastShapes(const TensorShape& a, const TensorShape& b);
}  // namespace shape_fn

}  // namespace quiver
