// Array (shape-manipulation) ops: signatures follow TensorFlow's ops/array_ops.cc (same arg and
// attr names and defaults) so that imported GraphDefs resolve unchanged. The shape arithmetic
// lives in array_shapes.cc, shared with the CPU kernels.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

namespace as = array_shapes;
using std::optional;
using std::vector;

constexpr int64_t kUnknown = TensorShape::kUnknownDim;

// Prefixes a helper's error with the node name and op.
template <typename T>
absl::StatusOr<T> Wrap(const InferenceContext& c, absl::StatusOr<T> v) {
  if (!v.ok()) return c.Error(std::string(v.status().message()));
  return v;
}

// The values of constant integer input i, or nullopt when not known at graph-construction time.
absl::StatusOr<optional<vector<int64_t>>> ConstInts(const InferenceContext& c, int i) {
  const Tensor* t = c.input_tensor(i);
  if (t == nullptr || !t->valid()) return optional<vector<int64_t>>();
  auto v = t->AsInt64Vector();
  if (!v.ok()) return c.Error(absl::StrCat("input ", i, ": ", v.status().message()));
  return optional<vector<int64_t>>(*std::move(v));
}

// A scalar (or single-element) constant integer input, or nullopt when unknown.
absl::StatusOr<optional<int64_t>> ConstScalar(const InferenceContext& c, int i, const char* what) {
  ASSIGN_OR_RETURN(auto v, ConstInts(c, i));
  if (!v) return optional<int64_t>();
  if (v->size() != 1) {
    return c.Error(absl::StrCat("'", what, "' must be a scalar, got ", v->size(), " values"));
  }
  return optional<int64_t>((*v)[0]);
}

// Checks that input i has rank `rank` when its rank is known.
absl::Status CheckRank(const InferenceContext& c, int i, int rank, const char* what) {
  const TensorShape& s = c.input_shape(i);
  if (!s.unknown_rank() && s.rank() != rank) {
    return c.Error(absl::StrCat("'", what, "' must be ",
                                rank == 0 ? "a scalar" : absl::StrCat(rank, "-D"), ", got shape ",
                                s.DebugString()));
  }
  return absl::OkStatus();
}

// Length of 1-D input i (-1 when unknown); an error if its rank is known and not 1.
absl::StatusOr<int> VectorLength(const InferenceContext& c, int i, const char* what) {
  RETURN_IF_ERROR(CheckRank(c, i, 1, what));
  const TensorShape& s = c.input_shape(i);
  if (s.unknown_rank() || s.dim(0) < 0) return -1;
  if (s.dim(0) > (1 << 20)) return c.Error(absl::StrCat("'", what, "' is too long"));
  return static_cast<int>(s.dim(0));
}

// Best partial shape from a 1-D shape-valued input (Fill's dims, Reshape's shape).
absl::StatusOr<TensorShape> ShapeFromShapeInput(const InferenceContext& c, int i,
                                                const char* what) {
  ASSIGN_OR_RETURN(int n, VectorLength(c, i, what));
  ASSIGN_OR_RETURN(auto v, ConstInts(c, i));
  if (v) return TensorShape(*v);
  return n >= 0 ? TensorShape(vector<int64_t>(n, kUnknown)) : TensorShape::UnknownRank();
}

// ---- sources, identities ------------------------------------------------------------------

absl::Status PlaceholderShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape shape, c.GetAttr<TensorShape>("shape"));
  c.set_output(0, shape);
  return absl::OkStatus();
}

absl::Status PlaceholderWithDefaultShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape shape, c.GetAttr<TensorShape>("shape"));
  const TensorShape& in = c.input_shape(0);
  bool compatible = in.unknown_rank() || shape.unknown_rank() || in.rank() == shape.rank();
  for (int d = 0; compatible && !in.unknown_rank() && !shape.unknown_rank() && d < in.rank(); ++d) {
    compatible = in.dim(d) < 0 || shape.dim(d) < 0 || in.dim(d) == shape.dim(d);
  }
  if (!compatible) {
    return c.Error(absl::StrCat("default value of shape ", in.DebugString(),
                                " is not compatible with the declared shape ",
                                shape.DebugString()));
  }
  c.set_output(0, shape);
  return absl::OkStatus();
}

absl::Status ConstShape(InferenceContext& c) {
  // Read the shape from the proto: decoding a large constant just for its shape is wasteful.
  auto it = c.attrs().find("value");
  if (it == c.attrs().end() || !it->second.has_tensor()) {
    return c.Error("attr 'value' must be a tensor");
  }
  const auto& proto = it->second.tensor();
  ASSIGN_OR_RETURN(DataType dtype, c.GetAttr<DataType>("dtype"));
  if (static_cast<int>(proto.dtype()) != static_cast<int>(dtype)) {
    return c.Error(absl::StrCat("Type mismatch between value (",
                                DataTypeName(static_cast<int>(proto.dtype())), ") and dtype (",
                                DataTypeName(dtype), ")"));
  }
  TensorShape shape = ShapeFromProto(proto.tensor_shape());
  if (!shape.IsFullyDefined()) {
    return c.Error(absl::StrCat("constant value has a partial shape ", shape.DebugString()));
  }
  c.set_output(0, shape);
  return absl::OkStatus();
}

absl::Status IdentityNShape(InferenceContext& c) {
  for (int i = 0; i < c.num_outputs() && i < c.num_inputs(); ++i) c.set_output(i, c.input_shape(i));
  return absl::OkStatus();
}

// ---- creation -----------------------------------------------------------------------------

absl::Status FillShape(InferenceContext& c) {
  RETURN_IF_ERROR(CheckRank(c, 1, 0, "value"));
  ASSIGN_OR_RETURN(TensorShape dims, ShapeFromShapeInput(c, 0, "dims"));
  if (!dims.unknown_rank()) {
    ASSIGN_OR_RETURN(
        dims,
        Wrap(c, as::ShapeFromDims(dims.dims(), /*allow_unknown=*/c.input_tensor(0) == nullptr)));
  }
  c.set_output(0, dims);
  return absl::OkStatus();
}

absl::Status RangeShape(InferenceContext& c) {
  for (int i = 0; i < 3; ++i) {
    static const char* kNames[] = {"start", "limit", "delta"};
    RETURN_IF_ERROR(CheckRank(c, i, 0, kNames[i]));
  }
  const Tensor* t[3] = {c.input_tensor(0), c.input_tensor(1), c.input_tensor(2)};
  if (!t[0] || !t[1] || !t[2] || t[0]->num_elements() != 1 || t[1]->num_elements() != 1 ||
      t[2]->num_elements() != 1) {
    c.set_output(0, TensorShape{kUnknown});
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> n;
  if (IsFloatingType(t[0]->dtype())) {
    n = as::RangeSize(t[0]->ElementAsDouble(0), t[1]->ElementAsDouble(0), t[2]->ElementAsDouble(0));
  } else {
    int64_t v[3];
    for (int i = 0; i < 3; ++i) {
      // ElementAsDouble is exact for every integer type but int64/uint64; read those directly.
      if (t[i]->dtype() == DT_INT64) {
        v[i] = t[i]->data<int64_t>()[0];
      } else {
        v[i] = static_cast<int64_t>(t[i]->ElementAsDouble(0));
      }
    }
    n = as::RangeSize(v[0], v[1], v[2]);
  }
  ASSIGN_OR_RETURN(int64_t size, Wrap(c, std::move(n)));
  c.set_output(0, TensorShape{size});
  return absl::OkStatus();
}

// ---- reshaping ----------------------------------------------------------------------------

absl::Status ReshapeShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape requested, ShapeFromShapeInput(c, 1, "shape"));
  if (requested.unknown_rank()) {
    c.set_output(0, TensorShape::UnknownRank());
    return absl::OkStatus();
  }
  if (c.input_tensor(1) == nullptr) {  // only the rank is known
    c.set_output(0, requested);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, as::ReshapeShape(c.input_shape(0), requested.dims())));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status SqueezeShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(vector<int64_t> dims, c.GetAttr<vector<int64_t>>("squeeze_dims"));
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, as::SqueezeShape(c.input_shape(0), dims)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status ExpandDimsShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(optional<int64_t> dim, ConstScalar(c, 1, "dim"));
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, as::ExpandDimsShape(c.input_shape(0), dim ? &*dim : nullptr)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status TransposeShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(int n, VectorLength(c, 1, "perm"));
  ASSIGN_OR_RETURN(auto perm, ConstInts(c, 1));
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, as::TransposeShape(c.input_shape(0), perm ? &*perm : nullptr, n)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status ConcatShapeImpl(InferenceContext& c, int axis_input, int first_value) {
  RETURN_IF_ERROR(CheckRank(c, axis_input, 0, "axis"));
  ASSIGN_OR_RETURN(optional<int64_t> axis, ConstScalar(c, axis_input, "axis"));
  vector<TensorShape> values;
  for (int i = first_value; i < first_value + c.num_inputs() - 1; ++i) {
    values.push_back(c.input_shape(i));
  }
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, as::ConcatShape(values, axis ? &*axis : nullptr)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status ConcatV2ShapeFn(InferenceContext& c) {
  return ConcatShapeImpl(c, c.num_inputs() - 1, 0);
}
absl::Status ConcatShapeFn(InferenceContext& c) { return ConcatShapeImpl(c, 0, 1); }

absl::Status PackShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
  vector<TensorShape> values;
  for (int i = 0; i < c.num_inputs(); ++i) values.push_back(c.input_shape(i));
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, as::PackShape(values, axis)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status UnpackShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
  ASSIGN_OR_RETURN(int64_t num, c.GetAttr<int64_t>("num"));
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, as::UnpackShape(c.input_shape(0), num, axis)));
  for (int i = 0; i < c.num_outputs(); ++i) c.set_output(i, out);
  return absl::OkStatus();
}

// Split: (split_dim, value) -> num_split equal parts.
absl::Status SplitShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(int64_t num_split, c.GetAttr<int64_t>("num_split"));
  RETURN_IF_ERROR(CheckRank(c, 0, 0, "split_dim"));
  ASSIGN_OR_RETURN(optional<int64_t> axis, ConstScalar(c, 0, "split_dim"));
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, as::SplitShape(c.input_shape(1), num_split, axis ? &*axis : nullptr)));
  for (int i = 0; i < c.num_outputs(); ++i) c.set_output(i, out);
  return absl::OkStatus();
}

// SplitV: (value, size_splits, split_dim) -> num_split parts of the given sizes.
absl::Status SplitVShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(int64_t num_split, c.GetAttr<int64_t>("num_split"));
  ASSIGN_OR_RETURN(int n, VectorLength(c, 1, "size_splits"));
  if (n >= 0 && n != num_split) {
    return c.Error(absl::StrCat("size_splits has ", n, " entries, but num_split = ", num_split));
  }
  RETURN_IF_ERROR(CheckRank(c, 2, 0, "split_dim"));
  ASSIGN_OR_RETURN(auto sizes, ConstInts(c, 1));
  ASSIGN_OR_RETURN(optional<int64_t> axis, ConstScalar(c, 2, "split_dim"));
  ASSIGN_OR_RETURN(vector<TensorShape> out,
                   Wrap(c, as::SplitVShapes(c.input_shape(0), num_split, sizes ? &*sizes : nullptr,
                                            axis ? &*axis : nullptr)));
  for (int i = 0; i < c.num_outputs() && i < static_cast<int>(out.size()); ++i) {
    c.set_output(i, out[i]);
  }
  return absl::OkStatus();
}

// ---- slicing ------------------------------------------------------------------------------

absl::Status SliceShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(int nb, VectorLength(c, 1, "begin"));
  ASSIGN_OR_RETURN(int ns, VectorLength(c, 2, "size"));
  if (nb >= 0 && ns >= 0 && nb != ns) {
    return c.Error(absl::StrCat("begin and size must have the same length, got ", nb, " and ", ns));
  }
  ASSIGN_OR_RETURN(auto begin, ConstInts(c, 1));
  ASSIGN_OR_RETURN(auto size, ConstInts(c, 2));
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, as::SliceShape(c.input_shape(0), begin ? &*begin : nullptr,
                                          size ? &*size : nullptr, nb >= 0 ? nb : ns)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status StridedSliceShapeFn(InferenceContext& c) {
  int n = -1;
  for (int i = 1; i <= 3; ++i) {
    static const char* kNames[] = {"", "begin", "end", "strides"};
    ASSIGN_OR_RETURN(int len, VectorLength(c, i, kNames[i]));
    if (len >= 0 && n >= 0 && len != n) {
      return c.Error("Expected begin, end, and strides to be 1-D tensors of equal size");
    }
    if (len >= 0) n = len;
  }
  as::StridedSliceMasks masks;
  ASSIGN_OR_RETURN(masks.begin_mask, c.GetAttr<int64_t>("begin_mask"));
  ASSIGN_OR_RETURN(masks.end_mask, c.GetAttr<int64_t>("end_mask"));
  ASSIGN_OR_RETURN(masks.ellipsis_mask, c.GetAttr<int64_t>("ellipsis_mask"));
  ASSIGN_OR_RETURN(masks.new_axis_mask, c.GetAttr<int64_t>("new_axis_mask"));
  ASSIGN_OR_RETURN(masks.shrink_axis_mask, c.GetAttr<int64_t>("shrink_axis_mask"));
  ASSIGN_OR_RETURN(auto begin, ConstInts(c, 1));
  ASSIGN_OR_RETURN(auto end, ConstInts(c, 2));
  ASSIGN_OR_RETURN(auto strides, ConstInts(c, 3));
  bool known = begin && end && strides;
  ASSIGN_OR_RETURN(as::StridedSlicePlan plan,
                   Wrap(c, as::PlanStridedSlice(c.input_shape(0), known ? &*begin : nullptr,
                                                known ? &*end : nullptr,
                                                known ? &*strides : nullptr, n, masks)));
  c.set_output(0, plan.output_shape);
  return absl::OkStatus();
}

// ---- shape queries ------------------------------------------------------------------------

absl::Status ShapeShapeFn(InferenceContext& c) {
  for (int i = 0; i < c.num_outputs(); ++i) {
    const TensorShape& s = c.input_shape(i);
    c.set_output(i, TensorShape{s.unknown_rank() ? kUnknown : s.rank()});
  }
  return absl::OkStatus();
}

// ---- tiling, padding, gathering -----------------------------------------------------------

absl::Status TileShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(int n, VectorLength(c, 1, "multiples"));
  ASSIGN_OR_RETURN(auto multiples, ConstInts(c, 1));
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, as::TileShape(c.input_shape(0), multiples ? &*multiples : nullptr, n)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status PadShapeFn(InferenceContext& c) {
  const TensorShape& ps = c.input_shape(1);
  int rows = -1;
  if (!ps.unknown_rank()) {
    if (ps.rank() != 2 || (ps.dim(1) >= 0 && ps.dim(1) != 2)) {
      return c.Error(
          absl::StrCat("paddings must be a matrix with 2 columns, got shape ", ps.DebugString()));
    }
    if (ps.dim(0) > (1 << 20)) return c.Error("paddings has too many rows");
    rows = static_cast<int>(ps.dim(0));
  }
  if (c.num_inputs() > 2) RETURN_IF_ERROR(CheckRank(c, 2, 0, "constant_values"));
  ASSIGN_OR_RETURN(auto paddings, ConstInts(c, 1));
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, as::PadShape(c.input_shape(0), paddings ? &*paddings : nullptr, rows)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status GatherV2ShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckRank(c, 2, 0, "axis"));
  ASSIGN_OR_RETURN(optional<int64_t> axis, ConstScalar(c, 2, "axis"));
  ASSIGN_OR_RETURN(int64_t batch_dims, c.GetAttr<int64_t>("batch_dims"));
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, as::GatherShape(c.input_shape(0), c.input_shape(1),
                                                            axis ? &*axis : nullptr, batch_dims)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status OneHotShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckRank(c, 1, 0, "depth"));
  RETURN_IF_ERROR(CheckRank(c, 2, 0, "on_value"));
  RETURN_IF_ERROR(CheckRank(c, 3, 0, "off_value"));
  ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
  ASSIGN_OR_RETURN(optional<int64_t> depth, ConstScalar(c, 1, "depth"));
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, as::OneHotShape(c.input_shape(0), depth ? &*depth : nullptr, axis)));
  c.set_output(0, out);
  return absl::OkStatus();
}

// ---- gradient helpers of TF 2.x graphs: SelectV2, BroadcastTo, DynamicStitch --------------

absl::Status SelectV2ShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, as::SelectV2Shape(c.input_shape(0), c.input_shape(1),
                                                              c.input_shape(2))));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status SelectShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, as::SelectShape(c.input_shape(0), c.input_shape(1), c.input_shape(2))));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status BroadcastToShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape target, ShapeFromShapeInput(c, 1, "shape"));
  if (!target.unknown_rank() && c.input_tensor(1) != nullptr) {
    ASSIGN_OR_RETURN(target, Wrap(c, as::ShapeFromDims(target.dims(), /*allow_unknown=*/false)));
  }
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, as::BroadcastToShape(c.input_shape(0), target)));
  c.set_output(0, out);
  return absl::OkStatus();
}

// Inputs: N indices (int32), then N data tensors. The first output dim is known when every
// indices tensor is a constant: max index + 1.
absl::Status DynamicStitchShapeFn(InferenceContext& c) {
  const int n = c.num_inputs() / 2;
  std::vector<TensorShape> indices, data;
  int64_t first_dim = 0;
  for (int i = 0; i < n; ++i) {
    indices.push_back(c.input_shape(i));
    data.push_back(c.input_shape(n + i));
    ASSIGN_OR_RETURN(auto values, ConstInts(c, i));
    if (!values) {
      first_dim = kUnknown;
    } else if (first_dim != kUnknown) {
      for (int64_t v : *values) {
        if (v < 0) return c.Error(absl::StrCat("indices[", i, "] has a negative index ", v));
        first_dim = std::max(first_dim, v + 1);
      }
    }
  }
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, as::DynamicStitchShape(indices, data, first_dim)));
  c.set_output(0, out);
  return absl::OkStatus();
}

}  // namespace

// ---- registrations ------------------------------------------------------------------------

QUIVER_REGISTER_OP("Placeholder")
    .Output("output: dtype")
    .Attr("dtype: type")
    .Attr("shape: shape = unknown")
    .SetShapeFn(PlaceholderShape);

QUIVER_REGISTER_OP("PlaceholderWithDefault")
    .Input("input: dtype")
    .Output("output: dtype")
    .Attr("dtype: type")
    .Attr("shape: shape")
    .SetShapeFn(PlaceholderWithDefaultShape);

QUIVER_REGISTER_OP("Const")
    .Output("output: dtype")
    .Attr("value: tensor")
    .Attr("dtype: type")
    .SetShapeFn(ConstShape);

QUIVER_REGISTER_OP("Identity")
    .Input("input: T")
    .Output("output: T")
    .Attr("T: type")
    .SetShapeFn(shape_fn::UnchangedShape);

QUIVER_REGISTER_OP("IdentityN")
    .Input("input: T")
    .Output("output: T")
    .Attr("T: list(type)")
    .SetShapeFn(IdentityNShape);

QUIVER_REGISTER_OP("StopGradient")
    .Input("input: T")
    .Output("output: T")
    .Attr("T: type")
    .SetShapeFn(shape_fn::UnchangedShape);

QUIVER_REGISTER_OP("Snapshot")
    .Input("input: T")
    .Output("output: T")
    .Attr("T: type")
    .SetShapeFn(shape_fn::UnchangedShape);

QUIVER_REGISTER_OP("NoOp").SetShapeFn(shape_fn::Unknown);

QUIVER_REGISTER_OP("Fill")
    .Input("dims: index_type")
    .Input("value: T")
    .Output("output: T")
    .Attr("T: type")
    .Attr("index_type: {int32, int64} = DT_INT32")
    .SetShapeFn(FillShape);

QUIVER_REGISTER_OP("ZerosLike")
    .Input("x: T")
    .Output("y: T")
    .Attr("T: type")
    .SetShapeFn(shape_fn::UnchangedShape);

QUIVER_REGISTER_OP("OnesLike")
    .Input("x: T")
    .Output("y: T")
    .Attr(
        "T: {bfloat16, half, float, double, int8, uint8, int16, uint16, int32, uint32, int64, "
        "uint64, bool}")
    .SetShapeFn(shape_fn::UnchangedShape);

QUIVER_REGISTER_OP("Reshape")
    .Input("tensor: T")
    .Input("shape: Tshape")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tshape: {int32, int64} = DT_INT32")
    .SetShapeFn(ReshapeShapeFn);

QUIVER_REGISTER_OP("Squeeze")
    .Input("input: T")
    .Output("output: T")
    .Attr("T: type")
    .Attr("squeeze_dims: list(int) = []")
    .SetShapeFn(SqueezeShapeFn);

QUIVER_REGISTER_OP("ExpandDims")
    .Input("input: T")
    .Input("dim: Tdim")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tdim: {int32, int64} = DT_INT32")
    .SetShapeFn(ExpandDimsShapeFn);

QUIVER_REGISTER_OP("Transpose")
    .Input("x: T")
    .Input("perm: Tperm")
    .Output("y: T")
    .Attr("T: type")
    .Attr("Tperm: {int32, int64} = DT_INT32")
    .SetShapeFn(TransposeShapeFn);

QUIVER_REGISTER_OP("ConcatV2")
    .Input("values: N * T")
    .Input("axis: Tidx")
    .Output("output: T")
    .Attr("N: int >= 2")
    .Attr("T: type")
    .Attr("Tidx: {int32, int64} = DT_INT32")
    .SetShapeFn(ConcatV2ShapeFn);

QUIVER_REGISTER_OP("Concat")
    .Input("concat_dim: int32")
    .Input("values: N * T")
    .Output("output: T")
    .Attr("N: int >= 2")
    .Attr("T: type")
    .SetShapeFn(ConcatShapeFn);

// ConcatV2's gradient (TF writes it in loop gradients): for each input shape, its offset in
// the concatenation, zero except along concat_dim.
QUIVER_REGISTER_OP("ConcatOffset")
    .Input("concat_dim: int32")
    .Input("shape: N * shape_type")
    .Output("offset: N * shape_type")
    .Attr("N: int >= 2")
    .Attr("shape_type: {int32, int64} = DT_INT32")
    .SetShapeFn([](InferenceContext& c) {
      for (int i = 0; i < c.num_outputs(); ++i) c.set_output(i, c.input_shape(i + 1));
      return absl::OkStatus();
    });

QUIVER_REGISTER_OP("Pack")
    .Input("values: N * T")
    .Output("output: T")
    .Attr("N: int >= 1")
    .Attr("T: type")
    .Attr("axis: int = 0")
    .SetShapeFn(PackShapeFn);

QUIVER_REGISTER_OP("Unpack")
    .Input("value: T")
    .Output("output: num * T")
    .Attr("num: int >= 0")
    .Attr("T: type")
    .Attr("axis: int = 0")
    .SetShapeFn(UnpackShapeFn);

QUIVER_REGISTER_OP("Split")
    .Input("split_dim: int32")
    .Input("value: T")
    .Output("output: num_split * T")
    .Attr("num_split: int >= 1")
    .Attr("T: type")
    .SetShapeFn(SplitShapeFn);

QUIVER_REGISTER_OP("SplitV")
    .Input("value: T")
    .Input("size_splits: Tlen")
    .Input("split_dim: int32")
    .Output("output: num_split * T")
    .Attr("num_split: int >= 1")
    .Attr("T: type")
    .Attr("Tlen: {int32, int64} = DT_INT32")
    .SetShapeFn(SplitVShapeFn);

QUIVER_REGISTER_OP("Slice")
    .Input("input: T")
    .Input("begin: Index")
    .Input("size: Index")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Index: {int32, int64}")
    .SetShapeFn(SliceShapeFn);

QUIVER_REGISTER_OP("StridedSlice")
    .Input("input: T")
    .Input("begin: Index")
    .Input("end: Index")
    .Input("strides: Index")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Index: {int32, int64}")
    .Attr("begin_mask: int = 0")
    .Attr("end_mask: int = 0")
    .Attr("ellipsis_mask: int = 0")
    .Attr("new_axis_mask: int = 0")
    .Attr("shrink_axis_mask: int = 0")
    .SetShapeFn(StridedSliceShapeFn);

QUIVER_REGISTER_OP("Shape")
    .Input("input: T")
    .Output("output: out_type")
    .Attr("T: type")
    .Attr("out_type: {int32, int64} = DT_INT32")
    .SetShapeFn(ShapeShapeFn);

QUIVER_REGISTER_OP("ShapeN")
    .Input("input: N * T")
    .Output("output: N * out_type")
    .Attr("N: int >= 1")
    .Attr("T: type")
    .Attr("out_type: {int32, int64} = DT_INT32")
    .SetShapeFn(ShapeShapeFn);

QUIVER_REGISTER_OP("Size")
    .Input("input: T")
    .Output("output: out_type")
    .Attr("T: type")
    .Attr("out_type: {int32, int64} = DT_INT32")
    .SetShapeFn(shape_fn::Scalar);

QUIVER_REGISTER_OP("Rank")
    .Input("input: T")
    .Output("output: int32")
    .Attr("T: type")
    .SetShapeFn(shape_fn::Scalar);

// TF registers Range in math_ops.cc; it is a shape-producing op, so it lives with these.
QUIVER_REGISTER_OP("Range")
    .Input("start: Tidx")
    .Input("limit: Tidx")
    .Input("delta: Tidx")
    .Output("output: Tidx")
    .Attr(
        "Tidx: {bfloat16, half, float, double, int8, int16, int32, int64, uint16, uint32} = "
        "DT_INT32")
    .SetShapeFn(RangeShape);

QUIVER_REGISTER_OP("Tile")
    .Input("input: T")
    .Input("multiples: Tmultiples")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tmultiples: {int32, int64} = DT_INT32")
    .SetShapeFn(TileShapeFn);

QUIVER_REGISTER_OP("Pad")
    .Input("input: T")
    .Input("paddings: Tpaddings")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tpaddings: {int32, int64} = DT_INT32")
    .SetShapeFn(PadShapeFn);

QUIVER_REGISTER_OP("PadV2")
    .Input("input: T")
    .Input("paddings: Tpaddings")
    .Input("constant_values: T")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tpaddings: {int32, int64} = DT_INT32")
    .SetShapeFn(PadShapeFn);

QUIVER_REGISTER_OP("GatherV2")
    .Input("params: Tparams")
    .Input("indices: Tindices")
    .Input("axis: Taxis")
    .Output("output: Tparams")
    .Attr("batch_dims: int = 0")
    .Attr("Tparams: type")
    .Attr("Tindices: {int16, int32, int64}")
    .Attr("Taxis: {int32, int64}")
    .SetShapeFn(GatherV2ShapeFn);

QUIVER_REGISTER_OP("OneHot")
    .Input("indices: TI")
    .Input("depth: int32")
    .Input("on_value: T")
    .Input("off_value: T")
    .Output("output: T")
    .Attr("axis: int = -1")
    .Attr("T: type")
    .Attr("TI: {uint8, int8, int32, int64} = DT_INT64")
    .SetShapeFn(OneHotShapeFn);

QUIVER_REGISTER_OP("SelectV2")
    .Input("condition: bool")
    .Input("t: T")
    .Input("e: T")
    .Output("output: T")
    .Attr("T: type")
    .SetShapeFn(SelectV2ShapeFn);

// TF1's tf.where (math_ops.cc in TF): no broadcasting but a row-selecting vector condition.
QUIVER_REGISTER_OP("Select")
    .Input("condition: bool")
    .Input("t: T")
    .Input("e: T")
    .Output("output: T")
    .Attr("T: type")
    .SetShapeFn(SelectShapeFn);

QUIVER_REGISTER_OP("BroadcastTo")
    .Input("input: T")
    .Input("shape: Tidx")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tidx: {int32, int64} = DT_INT32")
    .SetShapeFn(BroadcastToShapeFn);

QUIVER_REGISTER_OP("DynamicStitch")
    .Input("indices: N * int32")
    .Input("data: N * T")
    .Output("merged: T")
    .Attr("N: int >= 1")
    .Attr("T: type")
    .SetShapeFn(DynamicStitchShapeFn);

QUIVER_REGISTER_OP("ParallelDynamicStitch")
    .Input("indices: N * int32")
    .Input("data: N * T")
    .Output("merged: T")
    .Attr("N: int >= 1")
    .Attr("T: type")
    .SetShapeFn(DynamicStitchShapeFn);

}  // namespace quiver
