// Gradients of the array ops (TF's array_grad.py): reshapes, transposes, concatenation,
// splitting and stacking, slicing and padding, tiling, gathering and segment sums, broadcasting.
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/gradients.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using grad::Input;
using grad::OutputOf;
using GradOutputs = std::vector<Output>;

// Shape(x) as a vector of `dtype` (int32 or int64), to combine with int64 begin/paddings.
Output DynamicShape(GraphBuilder& b, const Output& x, DataType dtype) {
  return b.Op("Shape", {x}, {{"out_type", MakeAttr(dtype)}}, "Shape");
}

// An int32 [rows, 2] constant from (before, after) pairs: Pad's paddings.
Output PaddingsConst(GraphBuilder& b, const std::vector<std::pair<int64_t, int64_t>>& pads) {
  std::vector<int32_t> v;
  for (const auto& [before, after] : pads) {
    v.push_back(static_cast<int32_t>(before));
    v.push_back(static_cast<int32_t>(after));
  }
  return b.Const(Tensor::FromVector<int32_t>(v, TensorShape{static_cast<int64_t>(pads.size()), 2}),
                 "paddings");
}

absl::StatusOr<int> KnownRank(const Node& op, const Output& x, const char* what) {
  if (x.shape().unknown_rank()) {
    return grad::Error(op, absl::StrCat("the gradient needs the rank of ", what, " to be known"));
  }
  return x.shape().rank();
}

// Reshape, ExpandDims, Squeeze: the gradient is reshaped back to the input's shape.
absl::Status ReshapeGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = grad::ReshapeLike(b, g[0], Input(b, op, 0));
  return absl::OkStatus();
}

absl::Status TransposeGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(std::vector<int64_t> perm, grad::ConstInts(Input(b, op, 1), op, "perm"));
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(perm.size())) {
      return grad::Error(op, absl::StrCat("perm entry ", perm[i], " out of range"));
    }
    inverse[perm[i]] = static_cast<int64_t>(i);
  }
  (*gi)[0] = Transpose(g[0], inverse);
  return absl::OkStatus();
}

// ConcatV2 (values..., axis) and Concat (axis, values...): each value gets its slice of the
// gradient along the axis; static offsets when the sizes along the axis are known.
absl::Status ConcatGradImpl(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi,
                            int first_value, int axis_input) {
  const int n = op.num_inputs() - 1;
  ASSIGN_OR_RETURN(std::vector<int64_t> axis_v,
                   grad::ConstInts(Input(b, op, axis_input), op, "the concat axis"));
  if (axis_v.size() != 1) return grad::Error(op, "the concat axis must be a scalar");
  ASSIGN_OR_RETURN(const int rank, KnownRank(op, Input(b, op, first_value), "the inputs"));
  int64_t axis = axis_v[0] < 0 ? axis_v[0] + rank : axis_v[0];
  if (axis < 0 || axis >= rank) return grad::Error(op, "concat axis out of range");

  bool static_sizes = true;
  for (int i = 0; i < n; ++i) {
    const TensorShape& s = Input(b, op, first_value + i).shape();
    if (s.unknown_rank() || s.rank() != rank || s.dim(static_cast<int>(axis)) < 0) {
      static_sizes = false;
    }
  }
  std::vector<int64_t> onehot(rank, 0);
  onehot[axis] = 1;
  Output offset;  // dynamic: running sum of shape(x_j) * onehot
  int64_t static_offset = 0;
  for (int i = 0; i < n; ++i) {
    Output x = Input(b, op, first_value + i);
    if (static_sizes) {
      const int64_t size = x.shape().dim(static_cast<int>(axis));
      std::vector<int64_t> begin(rank, 0), sizes(rank, -1);
      begin[axis] = static_offset;
      sizes[axis] = size;
      (*gi)[first_value + i] =
          b.Op("Slice", {g[0], grad::IntConst(b, begin, "begin"), grad::IntConst(b, sizes, "size")},
               {}, "Slice");
      static_offset += size;
      continue;
    }
    Output begin = offset.valid() ? offset : grad::IntConst(b, std::vector<int64_t>(rank, 0));
    Output shape = DynamicShape(b, x, DT_INT32);
    (*gi)[first_value + i] = b.Op("Slice", {g[0], begin, shape}, {}, "Slice");
    Output step = shape * grad::IntConst(b, onehot, "onehot");
    offset = offset.valid() ? offset + step : step;
  }
  return absl::OkStatus();
}

absl::Status ConcatV2Grad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  return ConcatGradImpl(b, op, g, gi, /*first_value=*/0, /*axis_input=*/op.num_inputs() - 1);
}

absl::Status ConcatGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  return ConcatGradImpl(b, op, g, gi, /*first_value=*/1, /*axis_input=*/0);
}

absl::Status PackGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(int64_t axis, op.GetAttr<int64_t>("axis"));
  const int n = op.num_inputs();
  Node* unpack =
      b.OpNode("Unpack", {g[0]},
               {{"num", MakeAttr(static_cast<int64_t>(n))}, {"axis", MakeAttr(axis)}}, "Unpack");
  if (unpack == nullptr) return b.status();
  for (int i = 0; i < n; ++i) (*gi)[i] = Output(&b, unpack, i);
  return absl::OkStatus();
}

absl::Status UnpackGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(int64_t axis, op.GetAttr<int64_t>("axis"));
  std::vector<Output> parts;
  for (int i = 0; i < op.num_outputs(); ++i) {
    parts.push_back(g[i].valid() ? g[i] : ZerosLike(OutputOf(b, op, i)));
  }
  (*gi)[0] = Stack(parts, axis);
  return absl::OkStatus();
}

// Split (split_dim, value) and SplitV (value, size_splits, split_dim): the output gradients
// (zeros for an output without one) concatenated along split_dim, as TF's _SplitGrad /
// _SplitVGrad. split_dim and size_splits get none.
absl::Status SplitGradImpl(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi,
                           int value_input, int split_dim_input) {
  std::vector<Output> parts;
  for (int i = 0; i < op.num_outputs(); ++i) {
    parts.push_back(g[i].valid() ? g[i] : ZerosLike(OutputOf(b, op, i)));
  }
  if (parts.size() == 1) {  // ConcatV2 needs N >= 2; one part is the whole value
    (*gi)[value_input] = parts[0];
    return absl::OkStatus();
  }
  parts.push_back(Input(b, op, split_dim_input));
  (*gi)[value_input] = b.Op("ConcatV2", parts, {}, "ConcatV2");
  return absl::OkStatus();
}

absl::Status SplitGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  return SplitGradImpl(b, op, g, gi, /*value_input=*/1, /*split_dim_input=*/0);
}

absl::Status SplitVGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  return SplitGradImpl(b, op, g, gi, /*value_input=*/0, /*split_dim_input=*/2);
}

// Slice: the gradient padded back with zeros: before = begin, after = shape(x) - begin - shape(y).
absl::Status SliceGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0), begin = Input(b, op, 1), y = OutputOf(b, op, 0);
  std::optional<Tensor> begin_t = grad::ConstValue(begin);
  if (begin_t.has_value() && x.shape().IsFullyDefined() && y.shape().IsFullyDefined()) {
    auto begin_v = begin_t->AsInt64Vector();
    if (!begin_v.ok()) return grad::Error(op, std::string(begin_v.status().message()));
    std::vector<std::pair<int64_t, int64_t>> pads;
    for (int d = 0; d < x.shape().rank(); ++d) {
      pads.push_back({(*begin_v)[d], x.shape().dim(d) - (*begin_v)[d] - y.shape().dim(d)});
    }
    (*gi)[0] = b.Op("Pad", {g[0], PaddingsConst(b, pads)}, {}, "Pad");
    return absl::OkStatus();
  }
  const DataType index = begin.dtype();
  Output after = DynamicShape(b, x, index) - begin - DynamicShape(b, y, index);
  Output paddings = Stack({begin, after}, 1, "paddings");
  (*gi)[0] = b.Op("Pad", {g[0], paddings}, {}, "Pad");
  return absl::OkStatus();
}

// StridedSlice with unit strides and no ellipsis/new-axis masks: a Slice followed by removing
// the shrunk axes, so the gradient re-inserts them and pads. Other forms need StridedSliceGrad.
absl::Status StridedSliceGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                              GradOutputs* gi) {
  Output x = Input(b, op, 0);
  if (const OpDef* def = OpRegistry::Global().Find("StridedSliceGrad")) {
    AttrMap attrs;
    for (const char* name : {"begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                             "shrink_axis_mask", "Index"}) {
      auto it = op.attrs().find(name);
      if (it != op.attrs().end() && def->FindAttr(name) != nullptr) attrs[name] = it->second;
    }
    const DataType index = Input(b, op, 1).dtype();
    (*gi)[0] =
        b.Op("StridedSliceGrad",
             {DynamicShape(b, x, index), Input(b, op, 1), Input(b, op, 2), Input(b, op, 3), g[0]},
             std::move(attrs), "StridedSliceGrad");
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(int64_t begin_mask, op.GetAttr<int64_t>("begin_mask"));
  ASSIGN_OR_RETURN(int64_t end_mask, op.GetAttr<int64_t>("end_mask"));
  ASSIGN_OR_RETURN(int64_t ellipsis_mask, op.GetAttr<int64_t>("ellipsis_mask"));
  ASSIGN_OR_RETURN(int64_t new_axis_mask, op.GetAttr<int64_t>("new_axis_mask"));
  ASSIGN_OR_RETURN(int64_t shrink_mask, op.GetAttr<int64_t>("shrink_axis_mask"));
  if (ellipsis_mask != 0 || new_axis_mask != 0) {
    return grad::Error(op,
                       "without a StridedSliceGrad op, only slices without ellipsis_mask and "
                       "new_axis_mask have a gradient");
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> begin, grad::ConstInts(Input(b, op, 1), op, "begin"));
  ASSIGN_OR_RETURN(std::vector<int64_t> end, grad::ConstInts(Input(b, op, 2), op, "end"));
  ASSIGN_OR_RETURN(std::vector<int64_t> strides, grad::ConstInts(Input(b, op, 3), op, "strides"));
  ASSIGN_OR_RETURN(const int rank, KnownRank(op, x, "the input"));
  if (begin.size() != end.size() || begin.size() != strides.size() ||
      static_cast<int>(begin.size()) > rank) {
    return grad::Error(op, "begin, end and strides must have the same length, at most the rank");
  }
  std::vector<std::pair<int64_t, int64_t>> pads(rank, {0, 0});
  std::vector<int> shrunk;
  for (int d = 0; d < static_cast<int>(begin.size()); ++d) {
    if (strides[d] != 1) {
      return grad::Error(op, "without a StridedSliceGrad op, only unit strides have a gradient");
    }
    const bool full_begin = (begin_mask >> d) & 1, full_end = (end_mask >> d) & 1;
    const bool shrink = (shrink_mask >> d) & 1;
    const int64_t dim = x.shape().dim(d);
    // The padding after the slice needs the dim unless the slice runs to the end.
    const bool needs_dim = shrink || !full_end || (!full_begin && begin[d] < 0);
    if (needs_dim && dim < 0) {
      return grad::Error(op, absl::StrCat("the gradient needs dimension ", d, " of the input ",
                                          x.shape().DebugString(), " to be known"));
    }
    auto clamp = [&](int64_t v) { return std::max<int64_t>(0, std::min<int64_t>(v, dim)); };
    if (shrink) {
      const int64_t i = begin[d] < 0 ? begin[d] + dim : begin[d];
      pads[d] = {i, dim - i - 1};
      shrunk.push_back(d);
      continue;
    }
    const int64_t lo =
        full_begin ? 0 : (dim >= 0 ? clamp(begin[d] < 0 ? begin[d] + dim : begin[d]) : begin[d]);
    const int64_t hi = full_end ? dim : clamp(end[d] < 0 ? end[d] + dim : end[d]);
    pads[d] = {lo, full_end ? 0 : dim - std::max(lo, hi)};
  }
  Output expanded = g[0];
  for (int d : shrunk) expanded = ExpandDims(expanded, d);
  (*gi)[0] = b.Op("Pad", {expanded, PaddingsConst(b, pads)}, {}, "Pad");
  return absl::OkStatus();
}

// Pad/PadV2: the gradient is the slice at offset paddings[:, 0] with x's shape.
absl::Status PadGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0), paddings = Input(b, op, 1);
  Output begin;
  if (std::optional<Tensor> p = grad::ConstValue(paddings)) {
    auto v = p->AsInt64Vector();
    if (!v.ok()) return grad::Error(op, std::string(v.status().message()));
    std::vector<int64_t> before;
    for (size_t i = 0; i < v->size(); i += 2) before.push_back((*v)[i]);
    begin = grad::IntConst(b, before, "begin");
  } else {
    Output column = b.Op("Slice",
                         {paddings, b.Const(Tensor::FromVector<int32_t>({0, 0}, {2}), "begin"),
                          b.Const(Tensor::FromVector<int32_t>({-1, 1}, {2}), "size")},
                         {}, "Slice");
    begin = Reshape(column, {-1});
    if (begin.dtype() != DT_INT32) begin = Cast(begin, DT_INT32);
  }
  (*gi)[0] = b.Op("Slice", {g[0], begin, grad::ShapeOf(b, x)}, {}, "Slice");
  return absl::OkStatus();
}

// Tile: the gradient viewed as [m0, d0, m1, d1, ...] summed over the multiples' axes.
absl::Status TileGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0), multiples = Input(b, op, 1);
  ASSIGN_OR_RETURN(const int rank, KnownRank(op, x, "the input"));
  std::optional<Tensor> m = grad::ConstValue(multiples);
  Output split_shape;
  if (m.has_value() && x.shape().IsFullyDefined()) {
    auto mv = m->AsInt64Vector();
    if (!mv.ok()) return grad::Error(op, std::string(mv.status().message()));
    std::vector<int64_t> dims;
    for (int d = 0; d < rank; ++d) {
      dims.push_back((*mv)[d]);
      dims.push_back(x.shape().dim(d));
    }
    split_shape = grad::IntConst(b, dims, "split_shape");
  } else {
    split_shape = Reshape(Stack({multiples, DynamicShape(b, x, multiples.dtype())}, 1), {-1});
  }
  std::vector<int64_t> axes;
  for (int d = 0; d < rank; ++d) axes.push_back(2 * d);
  Output split = b.Op("Reshape", {g[0], split_shape}, {}, "Reshape");
  (*gi)[0] = grad::ReshapeLike(b, ReduceSum(split, axes), x);
  return absl::OkStatus();
}

// Fill(dims, value): every element is `value`, so it gets the sum of the gradient.
absl::Status FillGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(const int rank, KnownRank(op, OutputOf(b, op, 0), "the output"));
  std::vector<int64_t> axes;
  for (int d = 0; d < rank; ++d) axes.push_back(d);
  (*gi)[1] = ReduceSum(g[0], axes);
  return absl::OkStatus();
}

// ---- gather and segment sums ---------------------------------------------------------------

// GatherV2 (TF's _GatherV2Grad, densified as tf.convert_to_tensor does with its IndexedSlices):
// with batch_dims 0 and a constant axis, the gradient viewed as
// params.shape[:axis] + [N] + params.shape[axis+1:] (N = the number of indices) is summed into
// the rows its flattened indices name: UnsortedSegmentSum(grad, indices, params.shape[axis]),
// with the gathered axis moved to the front and back for axis > 0. No gradient for the indices
// or the axis.
absl::Status GatherV2Grad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output params = Input(b, op, 0), indices = Input(b, op, 1);
  ASSIGN_OR_RETURN(int64_t batch_dims, op.GetAttr<int64_t>("batch_dims"));
  if (batch_dims != 0) {
    return grad::Error(op, absl::StrCat("the gradient with batch_dims = ", batch_dims,
                                        " is not supported (only batch_dims = 0)"));
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> axis_v,
                   grad::ConstInts(Input(b, op, 2), op, "the gather axis"));
  if (axis_v.size() != 1) return grad::Error(op, "the gather axis must be a scalar");
  int64_t axis = axis_v[0];
  const TensorShape& ps = params.shape();
  int rank = -1;
  if (axis != 0) {
    ASSIGN_OR_RETURN(rank, KnownRank(op, params, "params (for a gather axis other than 0)"));
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) {
      return grad::Error(op, absl::StrCat("gather axis ", axis_v[0], " out of range for params ",
                                          ps.DebugString()));
    }
  }
  // The shape of the gradient with the indices flattened, and the size of the gathered axis.
  Output values_shape, num_segments;
  if (ps.IsFullyDefined() && ps.rank() > axis && indices.shape().IsFullyDefined()) {
    std::vector<int64_t> dims(ps.dims().begin(), ps.dims().begin() + axis);
    dims.push_back(indices.shape().num_elements());
    dims.insert(dims.end(), ps.dims().begin() + axis + 1, ps.dims().end());
    values_shape = grad::IntConst(b, dims, "values_shape");
    num_segments =
        grad::ScalarConst(b, static_cast<double>(ps.dim(static_cast<int>(axis))), DT_INT32);
  } else {
    Output pshape = DynamicShape(b, params, DT_INT32);
    auto slice = [&](int64_t begin, int64_t size) {
      return b.Op("Slice",
                  {pshape, grad::IntConst(b, {begin}, "begin"), grad::IntConst(b, {size}, "size")},
                  {}, "Slice");
    };
    std::vector<Output> parts;
    if (axis > 0) parts.push_back(slice(0, axis));
    parts.push_back(
        Reshape(b.Op("Size", {indices}, {{"out_type", MakeAttr(DT_INT32)}}, "Size"), {1}));
    parts.push_back(slice(axis + 1, -1));
    values_shape = Concat(parts, 0, "values_shape");
    num_segments = Reshape(slice(axis, 1), {}, "num_segments");
  }
  Output values = b.Op("Reshape", {g[0], values_shape}, {}, "Reshape");
  Output flat_indices = Reshape(indices, {-1}, "flat_indices");
  if (axis == 0) {
    (*gi)[0] =
        b.Op("UnsortedSegmentSum", {values, flat_indices, num_segments}, {}, "UnsortedSegmentSum");
    return absl::OkStatus();
  }
  // Move the gathered axis to the front, sum, move it back.
  std::vector<int64_t> perm = {axis}, inverse;
  for (int64_t d = 0; d < rank; ++d) {
    if (d != axis) perm.push_back(d);
  }
  for (int64_t d = 1; d <= axis; ++d) inverse.push_back(d);
  inverse.push_back(0);
  for (int64_t d = axis + 1; d < rank; ++d) inverse.push_back(d);
  Output sum = b.Op("UnsortedSegmentSum", {Transpose(values, perm), flat_indices, num_segments}, {},
                    "UnsortedSegmentSum");
  (*gi)[0] = Transpose(sum, inverse);
  return absl::OkStatus();
}

// UnsortedSegmentSum (TF's _UnsortedSegmentSumGrad): each data row gets the gradient row its
// segment id names; rows with a negative (dropped) or out-of-range id get zeros. The gradient
// is padded with one zero row and those ids are pointed at it, so the Gather needs no mask.
absl::Status UnsortedSegmentSumGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                    GradOutputs* gi) {
  Output ids = Input(b, op, 1), num = Input(b, op, 2);
  ASSIGN_OR_RETURN(const int rank, KnownRank(op, OutputOf(b, op, 0), "the output"));
  std::vector<std::pair<int64_t, int64_t>> pads(rank, {0, 0});
  pads[0] = {0, 1};
  Output padded = b.Op("Pad", {g[0], PaddingsConst(b, pads)}, {}, "Pad");
  if (ids.dtype() != DT_INT32 && ids.dtype() != DT_INT64) ids = Cast(ids, DT_INT32);
  if (num.dtype() != ids.dtype()) num = Cast(num, ids.dtype());
  Output valid =
      b.Op("LogicalAnd",
           {b.Op("GreaterEqual", {ids, grad::ScalarConst(b, 0, ids.dtype())}, {}, "GreaterEqual"),
            Less(ids, num)},
           {}, "LogicalAnd");
  Output safe_ids = b.Op("SelectV2", {valid, ids, num}, {}, "SelectV2");
  (*gi)[0] =
      b.Op("GatherV2", {padded, safe_ids, grad::ScalarConst(b, 0, DT_INT32)}, {}, "GatherV2");
  return absl::OkStatus();
}

// BroadcastTo (TF's _BroadcastToGrad): the gradient summed over the broadcast axes back to the
// input's shape. No gradient for the shape.
absl::Status BroadcastToGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                             GradOutputs* gi) {
  (*gi)[0] = grad::SumToShapeOf(b, g[0], Input(b, op, 0), OutputOf(b, op, 0));
  return absl::OkStatus();
}

// IdentityN: each output's gradient passes to its input.
absl::Status IdentityNGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  for (int i = 0; i < op.num_inputs() && i < static_cast<int>(g.size()); ++i) (*gi)[i] = g[i];
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_GRADIENT("Reshape", ReshapeGrad);
QUIVER_REGISTER_GRADIENT("ExpandDims", ReshapeGrad);
QUIVER_REGISTER_GRADIENT("Squeeze", ReshapeGrad);
QUIVER_REGISTER_GRADIENT("Transpose", TransposeGrad);
QUIVER_REGISTER_GRADIENT("ConcatV2", ConcatV2Grad);
QUIVER_REGISTER_GRADIENT("Concat", ConcatGrad);
QUIVER_REGISTER_GRADIENT("Pack", PackGrad);
QUIVER_REGISTER_GRADIENT("Unpack", UnpackGrad);
QUIVER_REGISTER_GRADIENT("Split", SplitGrad);
QUIVER_REGISTER_GRADIENT("SplitV", SplitVGrad);
QUIVER_REGISTER_GRADIENT("Slice", SliceGrad);
QUIVER_REGISTER_GRADIENT("StridedSlice", StridedSliceGrad);
QUIVER_REGISTER_GRADIENT("Pad", PadGrad);
QUIVER_REGISTER_GRADIENT("PadV2", PadGrad);
QUIVER_REGISTER_GRADIENT("Tile", TileGrad);
QUIVER_REGISTER_GRADIENT("Fill", FillGrad);
QUIVER_REGISTER_GRADIENT("GatherV2", GatherV2Grad);
QUIVER_REGISTER_GRADIENT("UnsortedSegmentSum", UnsortedSegmentSumGrad);
QUIVER_REGISTER_GRADIENT("BroadcastTo", BroadcastToGrad);
QUIVER_REGISTER_GRADIENT("IdentityN", IdentityNGrad);

// Metadata and constant-valued results.
QUIVER_NO_GRADIENT("Shape");
QUIVER_NO_GRADIENT("ShapeN");
QUIVER_NO_GRADIENT("Size");
QUIVER_NO_GRADIENT("Rank");
QUIVER_NO_GRADIENT("ZerosLike");
QUIVER_NO_GRADIENT("OnesLike");
QUIVER_NO_GRADIENT("OneHot");

}  // namespace quiver
