// Stateless random ops (TF's ops/stateless_random_ops.cc and stateless_random_ops_v2.cc): the
// same (shape, seed) or (shape, key, counter, alg) always gives the same numbers, bit for bit
// TensorFlow's on the CPU (devices/cpu/kernels/stateless_random_ops.cc).
//
//   V1: StatelessRandomUniform/Normal, StatelessTruncatedNormal, StatelessRandomUniformInt
//       (shape, seed[2]).
//   V2: StatelessRandomUniformV2/NormalV2, StatelessTruncatedNormalV2, StatelessRandomUniformIntV2
//       (shape, key[1] uint64, counter[>=2] uint64, alg int32 scalar), fed by
//       StatelessRandomGetKeyCounter(seed) / StatelessRandomGetAlg / ...GetKeyCounterAlg, the
//       nodes tf.random.stateless_* and Keras 3's seeded layers emit.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// Input i must have rank `rank` (and dim 0 == `dim0` when dim0 >= 0) where known.
absl::Status CheckInputShape(InferenceContext& c, int i, const char* what, int rank,
                             int64_t dim0 = -1) {
  const TensorShape& s = c.input_shape(i);
  if (s.unknown_rank()) return absl::OkStatus();
  if (s.rank() != rank || (dim0 >= 0 && s.dim(0) >= 0 && s.dim(0) != dim0)) {
    if (dim0 >= 0) {
      return c.Error(absl::StrCat(what, " must have shape [", dim0, "], not ", s.DebugString()));
    }
    return c.Error(absl::StrCat(what, " must have rank ", rank, ", got shape ", s.DebugString()));
  }
  return absl::OkStatus();
}

// The output shape from the `shape` input (0): its value when known, else as many unknown dims
// as it has elements, else unknown rank.
absl::Status OutputFromShapeInput(InferenceContext& c) {
  const TensorShape& s = c.input_shape(0);
  if (!s.unknown_rank() && s.rank() != 1) {
    return c.Error("shape must be a 1-D tensor of dims, got shape " + s.DebugString());
  }
  if (const Tensor* t = c.input_tensor(0)) {
    auto dims = t->AsInt64Vector();
    if (!dims.ok()) return c.Error(std::string(dims.status().message()));
    auto out = array_shapes::ShapeFromDims(*dims, /*allow_unknown=*/false);
    if (!out.ok()) return c.Error("shape: " + std::string(out.status().message()));
    c.set_output(0, *out);
    return absl::OkStatus();
  }
  if (!s.unknown_rank() && s.dim(0) >= 0) {
    c.set_output(0, TensorShape(std::vector<int64_t>(s.dim(0), TensorShape::kUnknownDim)));
  } else {
    c.set_output(0, TensorShape::UnknownRank());
  }
  return absl::OkStatus();
}

// V1: seed is [2].
absl::Status StatelessShape(InferenceContext& c) {
  RETURN_IF_ERROR(CheckInputShape(c, 1, "seed", 1, 2));
  return OutputFromShapeInput(c);
}

absl::Status StatelessIntShape(InferenceContext& c) {
  RETURN_IF_ERROR(CheckInputShape(c, 2, "minval", 0));
  RETURN_IF_ERROR(CheckInputShape(c, 3, "maxval", 0));
  return StatelessShape(c);
}

// V2: key [1], counter a vector, alg a scalar.
absl::Status StatelessShapeV2(InferenceContext& c) {
  RETURN_IF_ERROR(CheckInputShape(c, 1, "key", 1, 1));
  RETURN_IF_ERROR(CheckInputShape(c, 2, "counter", 1));
  RETURN_IF_ERROR(CheckInputShape(c, 3, "alg", 0));
  return OutputFromShapeInput(c);
}

absl::Status StatelessIntShapeV2(InferenceContext& c) {
  RETURN_IF_ERROR(CheckInputShape(c, 4, "minval", 0));
  RETURN_IF_ERROR(CheckInputShape(c, 5, "maxval", 0));
  return StatelessShapeV2(c);
}

// GetKeyCounter[Alg]: key [1], counter [2] (TF's RNG_MAX_COUNTER_SIZE), alg [].
absl::Status KeyCounterShape(InferenceContext& c) {
  RETURN_IF_ERROR(CheckInputShape(c, 0, "seed", 1, 2));
  c.set_output(0, TensorShape{1});
  c.set_output(1, TensorShape{2});
  if (c.num_outputs() > 2) c.set_output(2, TensorShape{});
  return absl::OkStatus();
}

constexpr char kFloatTypes[] = "dtype: {half, bfloat16, float, double} = DT_FLOAT";

}  // namespace

#define QUIVER_STATELESS_V1(name)               \
  QUIVER_REGISTER_OP(name)                      \
      .Input("shape: T")                        \
      .Input("seed: Tseed")                     \
      .Output("output: dtype")                  \
      .Attr(kFloatTypes)                        \
      .Attr("T: {int32, int64} = DT_INT32")     \
      .Attr("Tseed: {int32, int64} = DT_INT64") \
      .SetShapeFn(StatelessShape)
QUIVER_STATELESS_V1("StatelessRandomUniform");
QUIVER_STATELESS_V1("StatelessRandomNormal");
QUIVER_STATELESS_V1("StatelessTruncatedNormal");
#undef QUIVER_STATELESS_V1

QUIVER_REGISTER_OP("StatelessRandomUniformInt")
    .Input("shape: T")
    .Input("seed: Tseed")
    .Input("minval: dtype")
    .Input("maxval: dtype")
    .Output("output: dtype")
    .Attr("dtype: {int32, int64}")
    .Attr("T: {int32, int64}")
    .Attr("Tseed: {int32, int64} = DT_INT64")
    .SetShapeFn(StatelessIntShape);

#define QUIVER_STATELESS_V2(name)                \
  QUIVER_REGISTER_OP(name)                       \
      .Input("shape: Tshape")                    \
      .Input("key: uint64")                      \
      .Input("counter: uint64")                  \
      .Input("alg: int32")                       \
      .Output("output: dtype")                   \
      .Attr(kFloatTypes)                         \
      .Attr("Tshape: {int32, int64} = DT_INT32") \
      .SetShapeFn(StatelessShapeV2)
QUIVER_STATELESS_V2("StatelessRandomUniformV2");
QUIVER_STATELESS_V2("StatelessRandomNormalV2");
QUIVER_STATELESS_V2("StatelessTruncatedNormalV2");
#undef QUIVER_STATELESS_V2

QUIVER_REGISTER_OP("StatelessRandomUniformIntV2")
    .Input("shape: Tshape")
    .Input("key: uint64")
    .Input("counter: uint64")
    .Input("alg: int32")
    .Input("minval: dtype")
    .Input("maxval: dtype")
    .Output("output: dtype")
    .Attr("dtype: {int32, int64, uint32, uint64}")
    .Attr("Tshape: {int32, int64} = DT_INT32")
    .SetShapeFn(StatelessIntShapeV2);

QUIVER_REGISTER_OP("StatelessRandomGetKeyCounter")
    .Input("seed: Tseed")
    .Output("key: uint64")
    .Output("counter: uint64")
    .Attr("Tseed: {int32, int64} = DT_INT64")
    .SetShapeFn(KeyCounterShape);

QUIVER_REGISTER_OP("StatelessRandomGetKeyCounterAlg")
    .Input("seed: Tseed")
    .Output("key: uint64")
    .Output("counter: uint64")
    .Output("alg: int32")
    .Attr("Tseed: {int32, int64} = DT_INT64")
    .SetShapeFn(KeyCounterShape);

// Stateful in TF (the answer depends on the device it runs on), so it is never folded away.
QUIVER_REGISTER_OP("StatelessRandomGetAlg")
    .Output("alg: int32")
    .SetIsStateful()
    .SetShapeFn(shape_fn::Scalar);

}  // namespace quiver
