// Element-wise math, comparison, cast and reduction ops (TensorFlow's ops/math_ops.cc, plus
// Relu/Relu6/Elu/Selu/LeakyRelu/Softplus/Softsign from nn_ops.cc), with the same arg and attr names
// and defaults as TF. The allowed type lists are TF's minus the types Quiver cannot hold (complex,
// string, quantized); which of them have kernels is a per-device fact recorded in the kernel
// registry.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// ---- shape functions ---------------------------------------------------------------------

// Equal/NotEqual: with incompatible_shape_error=false a shape mismatch is not an error; the
// kernel then returns a scalar, so all that is known statically is "unknown shape".
absl::Status EqualityShape(InferenceContext& c) {
  auto out = shape_fn::BroadcastShapes(c.input_shape(0), c.input_shape(1));
  if (out.ok()) {
    c.set_output(0, *out);
    return absl::OkStatus();
  }
  auto strict = c.GetAttr<bool>("incompatible_shape_error");
  if (strict.ok() && !*strict) {
    c.set_output(0, TensorShape::UnknownRank());
    return absl::OkStatus();
  }
  return c.Error(std::string(out.status().message()));
}

// AddN: every input has the same shape; known dims from any input fill unknown ones.
absl::Status AddNShape(InferenceContext& c) {
  TensorShape merged = TensorShape::UnknownRank();
  int merged_from = -1;
  for (int i = 0; i < c.num_inputs(); ++i) {
    const TensorShape& s = c.input_shape(i);
    if (s.unknown_rank()) continue;
    if (merged.unknown_rank()) {
      merged = s;
      merged_from = i;
      continue;
    }
    bool ok = s.rank() == merged.rank();
    for (int d = 0; ok && d < s.rank(); ++d) {
      const int64_t a = merged.dim(d), b = s.dim(d);
      if (a < 0) {
        merged.set_dim(d, b);
      } else if (b >= 0 && a != b) {
        ok = false;
      }
    }
    if (!ok) {
      return c.Error(absl::StrCat("all inputs must have the same shape, but input ", merged_from,
                                  " has shape ", c.input_shape(merged_from).DebugString(),
                                  " and input ", i, " has shape ", s.DebugString()));
    }
  }
  c.set_output(0, merged);
  return absl::OkStatus();
}

// Sum/Mean/Prod/Max/Min: input 0 reduced over the axes in input 1 (TF's ReductionShape).
absl::Status ReductionShape(InferenceContext& c) {
  const TensorShape& input = c.input_shape(0);
  const TensorShape& axes_shape = c.input_shape(1);
  if (axes_shape.rank() > 1) {
    return c.Error(absl::StrCat("reduction_indices must be a scalar or a vector, got shape ",
                                axes_shape.DebugString()));
  }
  ASSIGN_OR_RETURN(bool keep_dims, c.GetAttr<bool>("keep_dims"));
  const Tensor* axes_t = c.input_tensor(1);
  if (axes_t == nullptr || input.unknown_rank()) {
    if (axes_shape.rank() == 1 && axes_shape.dim(0) == 0) {  // no axes: nothing is reduced
      c.set_output(0, input);
    } else if (keep_dims && !input.unknown_rank()) {
      c.set_output(0, TensorShape(std::vector<int64_t>(input.rank(), TensorShape::kUnknownDim)));
    } else {
      c.set_output(0, TensorShape::UnknownRank());
    }
    return absl::OkStatus();
  }
  auto axes = axes_t->AsInt64Vector();
  if (!axes.ok()) return c.Error(absl::StrCat("reduction_indices: ", axes.status().message()));
  const int rank = input.rank();
  std::vector<bool> reduced(rank, false);
  for (int64_t axis : *axes) {
    if (axis < -rank || axis >= rank) {
      return c.Error(absl::StrCat("invalid reduction axis ", axis, " for input of shape ",
                                  input.DebugString(), ": must be in [", -rank, ", ", rank, ")"));
    }
    const int canonical = static_cast<int>(axis < 0 ? axis + rank : axis);
    if (reduced[canonical]) {
      return c.Error(absl::StrCat("reduction axes [", absl::StrJoin(*axes, ","),
                                  "] contain dimension ", canonical, " more than once"));
    }
    reduced[canonical] = true;
  }
  std::vector<int64_t> out;
  for (int d = 0; d < rank; ++d) {
    if (!reduced[d]) {
      out.push_back(input.dim(d));
    } else if (keep_dims) {
      out.push_back(1);
    }
  }
  c.set_output(0, TensorShape(std::move(out)));
  return absl::OkStatus();
}

// ArgMax/ArgMin: input 0 with the `dimension` axis removed (TF's ArgOpShape).
absl::Status ArgOpShape(InferenceContext& c) {
  const TensorShape& input = c.input_shape(0);
  const TensorShape& dim_shape = c.input_shape(1);
  if (dim_shape.rank() > 1 || (dim_shape.rank() == 1 && dim_shape.dim(0) > 1)) {
    return c.Error(absl::StrCat("dimension must be a scalar, got shape ", dim_shape.DebugString()));
  }
  if (input.unknown_rank()) {
    c.set_output(0, TensorShape::UnknownRank());
    return absl::OkStatus();
  }
  const int rank = input.rank();
  const Tensor* dim_t = c.input_tensor(1);
  if (dim_t == nullptr) {
    // Which axis goes is unknown, so are all remaining dims (a rank <= 1 input gives a scalar).
    c.set_output(
        0, TensorShape(std::vector<int64_t>(std::max(rank - 1, 0), TensorShape::kUnknownDim)));
    return absl::OkStatus();
  }
  auto dims = dim_t->AsInt64Vector();
  if (!dims.ok()) return c.Error(absl::StrCat("dimension: ", dims.status().message()));
  if (dims->size() != 1) {
    return c.Error(absl::StrCat("dimension must be a scalar, got ", dims->size(), " values"));
  }
  const int64_t axis = (*dims)[0];
  if (axis < -rank || axis >= rank) {
    return c.Error(absl::StrCat("expected dimension in the range [", -rank, ", ", rank,
                                "), but got ", axis, " (input shape ", input.DebugString(), ")"));
  }
  const int canonical = static_cast<int>(axis < 0 ? axis + rank : axis);
  std::vector<int64_t> out;
  for (int d = 0; d < rank; ++d) {
    if (d != canonical) out.push_back(input.dim(d));
  }
  c.set_output(0, TensorShape(std::move(out)));
  return absl::OkStatus();
}

// ---- type lists --------------------------------------------------------------------------

constexpr char kUnaryTypes[] = "T: {bfloat16, half, float, double, int8, int16, int32, int64}";
constexpr char kUnaryFloatTypes[] = "T: {bfloat16, half, float, double}";
constexpr char kRealNumberTypes[] =
    "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
    "uint64}";
constexpr char kBinaryMoreTypes[] =
    "T: {bfloat16, half, float, double, uint8, int8, uint16, int16, int32, uint32, uint64, "
    "int64}";

#define QUIVER_UNARY_OP(name, types)                                            \
  QUIVER_REGISTER_OP(name).Input("x: T").Output("y: T").Attr(types).SetShapeFn( \
      shape_fn::UnchangedShape)

#define QUIVER_BINARY_OP(name, types)                                                         \
  QUIVER_REGISTER_OP(name).Input("x: T").Input("y: T").Output("z: T").Attr(types).SetShapeFn( \
      shape_fn::BroadcastBinary)

}  // namespace

// ---- unary -------------------------------------------------------------------------------

QUIVER_UNARY_OP("Neg", kUnaryTypes);
QUIVER_UNARY_OP("Abs", kUnaryTypes);
QUIVER_UNARY_OP("Square", kUnaryTypes);
QUIVER_UNARY_OP("Sign", kUnaryTypes);
QUIVER_UNARY_OP("Reciprocal", kUnaryTypes);
QUIVER_UNARY_OP("Exp", kUnaryFloatTypes);
QUIVER_UNARY_OP("Log", kUnaryFloatTypes);
QUIVER_UNARY_OP("Sqrt", kUnaryFloatTypes);
QUIVER_UNARY_OP("Rsqrt", kUnaryFloatTypes);
QUIVER_UNARY_OP("Tanh", kUnaryFloatTypes);
QUIVER_UNARY_OP("Sigmoid", kUnaryFloatTypes);
QUIVER_UNARY_OP("Floor", kUnaryFloatTypes);
QUIVER_UNARY_OP("Ceil", kUnaryFloatTypes);
QUIVER_UNARY_OP("Round", kUnaryTypes);  // half to even, like TF (identity on integers)
QUIVER_UNARY_OP("Erf", kUnaryFloatTypes);
QUIVER_UNARY_OP("Erfc", kUnaryFloatTypes);  // Keras exact gelu: 0.5 x erfc(-x / sqrt(2))
QUIVER_UNARY_OP("Cos", kUnaryFloatTypes);
QUIVER_UNARY_OP("Sin", kUnaryFloatTypes);

// IsNan/IsInf/IsFinite: float in, bool out.
#define QUIVER_FLOAT_PREDICATE_OP(name) \
  QUIVER_REGISTER_OP(name)              \
      .Input("x: T")                    \
      .Output("y: bool")                \
      .Attr(kUnaryFloatTypes)           \
      .SetShapeFn(shape_fn::UnchangedShape)
QUIVER_FLOAT_PREDICATE_OP("IsNan");
QUIVER_FLOAT_PREDICATE_OP("IsInf");
QUIVER_FLOAT_PREDICATE_OP("IsFinite");

// nn_ops in TensorFlow: the arg names differ from the math ops.
QUIVER_REGISTER_OP("Relu")
    .Input("features: T")
    .Output("activations: T")
    .Attr(kRealNumberTypes)
    .SetShapeFn(shape_fn::UnchangedShape);
QUIVER_REGISTER_OP("Relu6")
    .Input("features: T")
    .Output("activations: T")
    .Attr(kRealNumberTypes)
    .SetShapeFn(shape_fn::UnchangedShape);
QUIVER_REGISTER_OP("Elu")
    .Input("features: T")
    .Output("activations: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(shape_fn::UnchangedShape);

QUIVER_REGISTER_OP("Selu")
    .Input("features: T")
    .Output("activations: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(shape_fn::UnchangedShape);
QUIVER_REGISTER_OP("LeakyRelu")
    .Input("features: T")
    .Output("activations: T")
    .Attr("alpha: float = 0.2")
    .Attr("T: {half, bfloat16, float, double} = DT_FLOAT")
    .SetShapeFn(shape_fn::UnchangedShape);
QUIVER_REGISTER_OP("Softplus")
    .Input("features: T")
    .Output("activations: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(shape_fn::UnchangedShape);
QUIVER_REGISTER_OP("Softsign")
    .Input("features: T")
    .Output("activations: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(shape_fn::UnchangedShape);

QUIVER_REGISTER_OP("LogicalNot")
    .Input("x: bool")
    .Output("y: bool")
    .SetShapeFn(shape_fn::UnchangedShape);

QUIVER_REGISTER_OP("Cast")
    .Input("x: SrcT")
    .Output("y: DstT")
    .Attr("SrcT: type")
    .Attr("DstT: type")
    .Attr("Truncate: bool = false")
    .SetShapeFn(shape_fn::UnchangedShape);

// ---- binary ------------------------------------------------------------------------------

QUIVER_BINARY_OP("Add", "T: {bfloat16, half, float, double, uint8, int8, int16, int32, int64}");
QUIVER_BINARY_OP("AddV2",
                 "T: {bfloat16, half, float, double, uint8, uint16, uint32, uint64, int8, int16, "
                 "int32, int64}");
QUIVER_BINARY_OP("Sub", kBinaryMoreTypes);
QUIVER_BINARY_OP("Mul", kBinaryMoreTypes);
QUIVER_BINARY_OP("Div", kBinaryMoreTypes);
QUIVER_BINARY_OP("RealDiv", kBinaryMoreTypes);
QUIVER_BINARY_OP("FloorDiv", kBinaryMoreTypes);
QUIVER_BINARY_OP("FloorMod",
                 "T: {int8, int16, int32, int64, uint8, uint16, uint32, uint64, bfloat16, half, "
                 "float, double}");
QUIVER_BINARY_OP("SquaredDifference", "T: {bfloat16, half, float, double, int32, int64}");
QUIVER_BINARY_OP("Maximum",
                 "T: {bfloat16, half, float, double, int8, uint8, int16, uint16, int32, uint32, "
                 "int64, uint64}");
QUIVER_BINARY_OP("Minimum",
                 "T: {bfloat16, half, float, double, int8, uint8, int16, uint16, int32, uint32, "
                 "int64, uint64}");
QUIVER_BINARY_OP("Pow", "T: {bfloat16, float, half, double, int8, int16, int32, int64}");
// atan2(y, x): TF names the inputs y and x.
QUIVER_REGISTER_OP("Atan2")
    .Input("y: T")
    .Input("x: T")
    .Output("z: T")
    .Attr("T: {bfloat16, half, float, double}")
    .SetShapeFn(shape_fn::BroadcastBinary);

// ClipByValue: min and max are scalars or have t's shape (checked by the kernels).
QUIVER_REGISTER_OP("ClipByValue")
    .Input("t: T")
    .Input("clip_value_min: T")
    .Input("clip_value_max: T")
    .Output("output: T")
    .Attr(kRealNumberTypes)
    .SetShapeFn(shape_fn::UnchangedShape);

// ---- comparisons and logic -----------------------------------------------------------------

#define QUIVER_COMPARISON_OP(name) \
  QUIVER_REGISTER_OP(name)         \
      .Input("x: T")               \
      .Input("y: T")               \
      .Output("z: bool")           \
      .Attr(kRealNumberTypes)      \
      .SetShapeFn(shape_fn::BroadcastBinary)

QUIVER_COMPARISON_OP("Less");
QUIVER_COMPARISON_OP("LessEqual");
QUIVER_COMPARISON_OP("Greater");
QUIVER_COMPARISON_OP("GreaterEqual");

QUIVER_REGISTER_OP("Equal")
    .Input("x: T")
    .Input("y: T")
    .Output("z: bool")
    .Attr("T: type")
    .Attr("incompatible_shape_error: bool = true")
    .SetShapeFn(EqualityShape);
QUIVER_REGISTER_OP("NotEqual")
    .Input("x: T")
    .Input("y: T")
    .Output("z: bool")
    .Attr("T: type")
    .Attr("incompatible_shape_error: bool = true")
    .SetShapeFn(EqualityShape);

QUIVER_REGISTER_OP("LogicalAnd")
    .Input("x: bool")
    .Input("y: bool")
    .Output("z: bool")
    .SetShapeFn(shape_fn::BroadcastBinary);
QUIVER_REGISTER_OP("LogicalOr")
    .Input("x: bool")
    .Input("y: bool")
    .Output("z: bool")
    .SetShapeFn(shape_fn::BroadcastBinary);

// ---- reductions --------------------------------------------------------------------------

#define QUIVER_REDUCTION_OP(name, types)       \
  QUIVER_REGISTER_OP(name)                     \
      .Input("input: T")                       \
      .Input("reduction_indices: Tidx")        \
      .Output("output: T")                     \
      .Attr("keep_dims: bool = false")         \
      .Attr(types)                             \
      .Attr("Tidx: {int32, int64} = DT_INT32") \
      .SetShapeFn(ReductionShape)

// numbertype minus complex and quantized types.
QUIVER_REDUCTION_OP("Sum", kRealNumberTypes);
QUIVER_REDUCTION_OP("Mean", kRealNumberTypes);
QUIVER_REDUCTION_OP("Prod", kRealNumberTypes);
QUIVER_REDUCTION_OP("Max", kRealNumberTypes);
QUIVER_REDUCTION_OP("Min", kRealNumberTypes);

// Boolean reductions (tf.reduce_any / tf.reduce_all): bool in and out, no T attr.
#define QUIVER_BOOL_REDUCTION_OP(name)         \
  QUIVER_REGISTER_OP(name)                     \
      .Input("input: bool")                    \
      .Input("reduction_indices: Tidx")        \
      .Output("output: bool")                  \
      .Attr("keep_dims: bool = false")         \
      .Attr("Tidx: {int32, int64} = DT_INT32") \
      .SetShapeFn(ReductionShape)

QUIVER_BOOL_REDUCTION_OP("Any");
QUIVER_BOOL_REDUCTION_OP("All");

#define QUIVER_ARG_OP(name)                           \
  QUIVER_REGISTER_OP(name)                            \
      .Input("input: T")                              \
      .Input("dimension: Tidx")                       \
      .Output("output: output_type")                  \
      .Attr(kRealNumberTypes)                         \
      .Attr("Tidx: {int32, int64} = DT_INT32")        \
      .Attr("output_type: {int32, int64} = DT_INT64") \
      .SetShapeFn(ArgOpShape)

QUIVER_ARG_OP("ArgMax");
QUIVER_ARG_OP("ArgMin");

QUIVER_REGISTER_OP("AddN")
    .Input("inputs: N * T")
    .Output("sum: T")
    .Attr("N: int >= 1")
    .Attr(kRealNumberTypes)
    .SetShapeFn(AddNShape);

}  // namespace quiver
