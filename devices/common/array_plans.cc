#include "devices/common/array_plans.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/op_registry.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver::array_plans {

namespace as = array_shapes;

namespace {

// `axis` in [-rank, rank) (already checked by the shape rule) mapped to [0, rank).
int Normalise(int64_t axis, int rank) { return static_cast<int>(axis < 0 ? axis + rank : axis); }

}  // namespace

int64_t Product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

absl::StatusOr<PackPlan> PlanPack(const std::vector<TensorShape>& inputs, int64_t axis) {
  auto shape = as::PackShape(inputs, axis);
  if (!shape.ok()) return shape.status();
  PackPlan p;
  const int rank = shape->rank();
  p.axis = Normalise(axis, rank);
  p.outer = Product(shape->dims(), 0, p.axis);
  p.inner = Product(shape->dims(), p.axis + 1, rank);
  p.shape = *std::move(shape);
  return p;
}

absl::StatusOr<PackPlan> PlanUnpack(const TensorShape& input, int64_t num, int64_t axis) {
  auto shape = as::UnpackShape(input, num, axis);
  if (!shape.ok()) return shape.status();
  PackPlan p;
  const int rank = input.rank();
  p.axis = Normalise(axis, rank);
  p.outer = Product(input.dims(), 0, p.axis);
  p.inner = Product(input.dims(), p.axis + 1, rank);
  p.shape = *std::move(shape);
  return p;
}

absl::StatusOr<ConcatPlan> PlanConcat(const std::vector<TensorShape>& inputs, int64_t axis) {
  auto shape = as::ConcatShape(inputs, &axis);
  if (!shape.ok()) return shape.status();
  ConcatPlan p;
  const std::vector<int64_t>& out_dims = shape->dims();
  p.axis = Normalise(axis, shape->rank());
  p.outer = Product(out_dims, 0, p.axis);
  p.out_chunk = Product(out_dims, p.axis, out_dims.size());
  int64_t offset = 0;
  for (const TensorShape& in : inputs) {
    const int64_t chunk = Product(in.dims(), p.axis, in.dims().size());
    p.chunks.push_back(chunk);
    p.offsets.push_back(offset);
    offset += chunk;
  }
  p.shape = *std::move(shape);
  return p;
}

absl::StatusOr<PadPlan> PlanPad(const TensorShape& input, const TensorShape& paddings_shape,
                                std::vector<int64_t> paddings, const TensorShape* constant_values) {
  if (paddings_shape.rank() == 2 && paddings_shape.dim(1) != 2) {
    return absl::InvalidArgumentError("paddings must be a [rank, 2] matrix");
  }
  auto shape = as::PadShape(input, &paddings, static_cast<int>(paddings.size() / 2));
  if (!shape.ok()) return shape.status();
  PadPlan p;
  p.identity = *shape == input;  // nothing to pad
  if (!p.identity && constant_values != nullptr && constant_values->num_elements() != 1) {
    return absl::InvalidArgumentError("constant_values must be a scalar");
  }
  p.shape = *std::move(shape);
  p.paddings = std::move(paddings);
  return p;
}

absl::StatusOr<TensorShape> PlanBroadcastTo(const TensorShape& input,
                                            const std::vector<int64_t>& dims) {
  auto target = as::ShapeFromDims(dims, /*allow_unknown=*/false);
  if (!target.ok()) return target.status();
  return as::BroadcastToShape(input, *target);
}

absl::StatusOr<TensorShape> PlanSelectV2(DataType cond_dtype, const TensorShape& cond,
                                         const TensorShape& then_shape,
                                         const TensorShape& else_shape) {
  if (cond_dtype != DT_BOOL) {
    return absl::InvalidArgumentError(
        absl::StrCat("condition must be bool, got ", DataTypeName(cond_dtype)));
  }
  return as::SelectV2Shape(cond, then_shape, else_shape);
}

absl::StatusOr<SelectPlan> PlanSelect(DataType cond_dtype, const TensorShape& cond,
                                      const TensorShape& then_shape,
                                      const TensorShape& else_shape) {
  if (cond_dtype != DT_BOOL) {
    return absl::InvalidArgumentError(
        absl::StrCat("condition must be bool, got ", DataTypeName(cond_dtype)));
  }
  bool rows = false;
  auto shape = as::SelectShape(cond, then_shape, else_shape, &rows);
  if (!shape.ok()) return shape.status();
  SelectPlan p;
  p.shape = *std::move(shape);
  p.cond_shape = cond;
  if (rows) {
    std::vector<int64_t> dims(p.shape.rank(), 1);
    dims[0] = cond.dim(0);
    p.cond_shape = TensorShape(std::move(dims));
  }
  return p;
}

absl::StatusOr<GatherPlan> PlanGather(const TensorShape& params, const TensorShape& indices,
                                      int64_t axis, int64_t batch_dims) {
  auto shape = as::GatherShape(params, indices, &axis, batch_dims);
  if (!shape.ok()) return shape.status();
  const int ax = Normalise(axis, params.rank());
  const int bd = static_cast<int>(batch_dims < 0 ? batch_dims + indices.rank() : batch_dims);
  const std::vector<int64_t>& pd = params.dims();
  GatherPlan p;
  p.batch = Product(pd, 0, bd);
  p.outer = Product(pd, bd, ax);
  p.limit = pd[ax];
  p.inner = Product(pd, ax + 1, pd.size());
  p.n = Product(indices.dims(), bd, indices.rank());
  p.shape = *std::move(shape);
  return p;
}

absl::StatusOr<std::vector<int64_t>> IndicesAsInt64(DataType dtype, const void* data,
                                                    int64_t count) {
  std::vector<int64_t> out(static_cast<size_t>(count));
  switch (dtype) {
    case DT_INT64:
      if (count > 0) std::memcpy(out.data(), data, static_cast<size_t>(count) * sizeof(int64_t));
      break;
    case DT_INT32:
      for (int64_t k = 0; k < count; ++k) out[k] = static_cast<const int32_t*>(data)[k];
      break;
    case DT_INT16:
      for (int64_t k = 0; k < count; ++k) out[k] = static_cast<const int16_t*>(data)[k];
      break;
    case DT_INT8:
      for (int64_t k = 0; k < count; ++k) out[k] = static_cast<const int8_t*>(data)[k];
      break;
    case DT_UINT8:
      for (int64_t k = 0; k < count; ++k) out[k] = static_cast<const uint8_t*>(data)[k];
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("indices must be an integer tensor, got ", DataTypeName(dtype)));
  }
  return out;
}

absl::Status CheckIndicesInRange(const std::vector<int64_t>& indices, int64_t limit) {
  for (size_t k = 0; k < indices.size(); ++k) {
    if (indices[k] < 0 || indices[k] >= limit) {
      return absl::InvalidArgumentError(
          absl::StrCat("indices[", k, "] = ", indices[k], " is not in [0, ", limit, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<OneHotPlan> PlanOneHot(const TensorShape& indices, int64_t depth, int64_t axis,
                                      const TensorShape& on_value, const TensorShape& off_value) {
  if (on_value.num_elements() != 1 || off_value.num_elements() != 1) {
    return absl::InvalidArgumentError("on_value and off_value must be scalars");
  }
  auto shape = as::OneHotShape(indices, &depth, axis);
  if (!shape.ok()) return shape.status();
  const int rank = indices.rank();
  const int ax = static_cast<int>(axis == -1 ? rank : axis);
  OneHotPlan p;
  p.prefix = Product(indices.dims(), 0, ax);
  p.depth = depth;
  p.suffix = Product(indices.dims(), ax, rank);
  p.shape = *std::move(shape);
  return p;
}

absl::StatusOr<StitchPlan> PlanDynamicStitch(const std::vector<const Tensor*>& indices,
                                             const std::vector<TensorShape>& data) {
  const size_t n = indices.size();
  std::vector<TensorShape> index_shapes;
  int64_t first_dim = 0;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& idx = *indices[i];
    if (idx.dtype() != DT_INT32) {
      return absl::InvalidArgumentError(
          absl::StrCat("indices[", i, "] must be int32, got ", DataTypeName(idx.dtype())));
    }
    const int32_t* v = idx.data<int32_t>();
    for (int64_t k = 0; k < idx.num_elements(); ++k) {
      if (v[k] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("indices[", i, "] holds ", v[k], ", but indices must be >= 0"));
      }
      first_dim = std::max<int64_t>(first_dim, static_cast<int64_t>(v[k]) + 1);
    }
    index_shapes.push_back(idx.shape());
  }
  auto shape = as::DynamicStitchShape(index_shapes, data, first_dim);
  if (!shape.ok()) return shape.status();
  for (size_t i = 0; i < n; ++i) {  // runtime shapes are concrete: prefixes must match exactly
    for (int k = 0; k < index_shapes[i].rank(); ++k) {
      if (data[i].dim(k) != index_shapes[i].dim(k)) {
        return absl::InvalidArgumentError(
            absl::StrCat("data[", i, "].shape ", data[i].DebugString(), " must start with indices[",
                         i, "].shape ", index_shapes[i].DebugString()));
      }
    }
  }
  StitchPlan p;
  p.first_dim = first_dim;
  const int64_t total = shape->num_elements();
  p.row = total == 0 ? 0 : total / first_dim;
  p.shape = *std::move(shape);
  return p;
}

absl::StatusOr<XentPlan> PlanXent(const TensorShape& logits, const TensorShape& labels) {
  auto both = shape_fn::BroadcastShapes(logits, labels);
  if (!both.ok() || both->rank() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "logits and labels must be either 2-dimensional, or broadcasted to be 2-dimensional: "
        "logits_size=",
        logits.DebugString(), " labels_size=", labels.DebugString()));
  }
  XentPlan p;
  p.shape = *both;
  p.batch = both->dim(0);
  p.classes = both->dim(1);
  if (p.batch > 0 && p.classes == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Must have at least one class, but got logits shape ", logits.DebugString()));
  }
  auto strides = [](const TensorShape& t, int64_t* row, int64_t* col) {
    const int r = t.rank();
    *col = (r >= 1 && t.dim(r - 1) != 1) ? 1 : 0;
    *row = (r >= 2 && t.dim(r - 2) != 1) ? t.dim(r - 1) : 0;
  };
  strides(logits, &p.logits_row_stride, &p.logits_col_stride);
  strides(labels, &p.labels_row_stride, &p.labels_col_stride);
  return p;
}

absl::StatusOr<SparseXentPlan> PlanSparseXent(const TensorShape& logits,
                                              const TensorShape& labels) {
  if (logits.rank() != 2) {
    return absl::InvalidArgumentError("logits must be 2-D, but got shape " + logits.DebugString());
  }
  if (labels.rank() != 1) {
    return absl::InvalidArgumentError("labels must be 1-D, but got shape " + labels.DebugString());
  }
  if (logits.dim(0) != labels.dim(0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("logits and labels must have the same first dimension, got logits shape ",
                     logits.DebugString(), " and labels shape ", labels.DebugString()));
  }
  SparseXentPlan p;
  p.batch = logits.dim(0);
  p.classes = logits.dim(1);
  if (p.batch > 0 && p.classes == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Must have at least one class, but got logits shape ", logits.DebugString()));
  }
  return p;
}

template <typename L>
absl::Status CheckSparseLabels(const L* labels, int64_t batch, int64_t classes) {
  for (int64_t b = 0; b < batch; ++b) {
    if (labels[b] < 0 || labels[b] >= classes) {
      std::vector<L> shown(labels, labels + std::min<int64_t>(batch, 10));
      return absl::InvalidArgumentError(absl::StrCat(
          "Received a label value of ", labels[b], " which is outside the valid range of [0, ",
          classes, ").  Label values: ", absl::StrJoin(shown, " "), batch > 10 ? " ..." : ""));
    }
  }
  return absl::OkStatus();
}

template absl::Status CheckSparseLabels<int32_t>(const int32_t*, int64_t, int64_t);
template absl::Status CheckSparseLabels<int64_t>(const int64_t*, int64_t, int64_t);

// ---- From a kernel's inputs ------------------------------------------------------------------

absl::StatusOr<BatchNormGradPlan> PlanBatchNormGrad(const std::vector<TensorShape>& inputs,
                                                    const std::string& data_format) {
  const TensorShape& dy = inputs[0];
  const TensorShape& x = inputs[1];
  const int rank = static_cast<int>(data_format.size());
  if (x.rank() != rank) {
    return absl::InvalidArgumentError(absl::StrCat("x must be ", rank, "-D for data_format ",
                                                   data_format, ", got ", x.DebugString()));
  }
  if (dy != x) {
    return absl::InvalidArgumentError(absl::StrCat("y_backprop ", dy.DebugString(),
                                                   " must have the shape of x ", x.DebugString()));
  }
  const bool channels_first = data_format == "NCHW" || data_format == "NCDHW";
  const int channel_dim = channels_first ? 1 : rank - 1;
  BatchNormGradPlan plan;
  plan.channels = x.dim(channel_dim);
  static const char* kNames[] = {"y_backprop", "x", "scale", "reserve_space_1", "reserve_space_2"};
  for (int i = 2; i < 5; ++i) {
    const TensorShape& t = inputs[i];
    if (t.rank() != 1 || t.dim(0) != plan.channels) {
      return absl::InvalidArgumentError(
          absl::StrCat(kNames[i], " ", t.DebugString(), " must be 1-D with the channel count ",
                       plan.channels, " of x ", x.DebugString(), " (", data_format, ")"));
    }
  }
  for (int d = channel_dim + 1; d < rank; ++d) plan.inner *= x.dim(d);
  plan.outer = plan.channels == 0 ? 0 : x.num_elements() / (plan.channels * plan.inner);
  return plan;
}

absl::StatusOr<BatchNormAttrs> ParseBatchNormAttrs(const OpKernelConstruction& c) {
  BatchNormAttrs a;
  ASSIGN_OR_RETURN(a.epsilon, c.GetAttr<float>("epsilon"));
  ASSIGN_OR_RETURN(a.exponential_avg_factor,
                   GetAttrOr<float>(c.node().attrs(), "exponential_avg_factor", 1.0f));
  ASSIGN_OR_RETURN(a.data_format, c.GetAttr<std::string>("data_format"));
  ASSIGN_OR_RETURN(a.is_training, c.GetAttr<bool>("is_training"));
  const std::string& f = a.data_format;
  if (f != "NHWC" && f != "NCHW" && f != "NDHWC" && f != "NCDHW") {
    return c.Error("unsupported data_format '" + f + "'");
  }
  if (!(a.epsilon >= 0.0f)) return c.Error(absl::StrCat("epsilon must be >= 0, got ", a.epsilon));
  return a;
}

absl::StatusOr<as::StridedSliceMasks> ParseStridedSliceMasks(const OpKernelConstruction& c) {
  as::StridedSliceMasks m;
  ASSIGN_OR_RETURN(m.begin_mask, c.GetAttr<int64_t>("begin_mask"));
  ASSIGN_OR_RETURN(m.end_mask, c.GetAttr<int64_t>("end_mask"));
  ASSIGN_OR_RETURN(m.ellipsis_mask, c.GetAttr<int64_t>("ellipsis_mask"));
  ASSIGN_OR_RETURN(m.new_axis_mask, c.GetAttr<int64_t>("new_axis_mask"));
  ASSIGN_OR_RETURN(m.shrink_axis_mask, c.GetAttr<int64_t>("shrink_axis_mask"));
  return m;
}

namespace {

// `plan`, or its error prefixed with the node.
template <typename T>
absl::StatusOr<T> ForNode(const OpKernelContext& ctx, absl::StatusOr<T> plan) {
  if (!plan.ok()) return ctx.Error(std::string(plan.status().message()));
  return plan;
}

std::vector<TensorShape> InputShapes(const OpKernelContext& ctx, int first, int n) {
  std::vector<TensorShape> shapes;
  for (int i = first; i < first + n; ++i) shapes.push_back(ctx.input(i).shape());
  return shapes;
}

}  // namespace

absl::StatusOr<PackPlan> PlanPack(const OpKernelContext& ctx, int64_t axis) {
  return ForNode(ctx, PlanPack(InputShapes(ctx, 0, ctx.num_inputs()), axis));
}

absl::StatusOr<PackPlan> PlanUnpack(const OpKernelContext& ctx, int64_t axis) {
  return ForNode(ctx, PlanUnpack(ctx.input(0).shape(), ctx.num_outputs(), axis));
}

absl::StatusOr<ConcatPlan> PlanConcat(const OpKernelContext& ctx, int first, int n, int64_t axis) {
  return ForNode(ctx, PlanConcat(InputShapes(ctx, first, n), axis));
}

absl::StatusOr<PadPlan> PlanPad(const OpKernelContext& ctx, std::vector<int64_t> paddings) {
  const TensorShape* constant_values = ctx.num_inputs() > 2 ? &ctx.input(2).shape() : nullptr;
  return ForNode(ctx, PlanPad(ctx.input(0).shape(), ctx.input(1).shape(), std::move(paddings),
                              constant_values));
}

absl::StatusOr<TensorShape> PlanBroadcastTo(const OpKernelContext& ctx,
                                            const std::vector<int64_t>& dims) {
  return ForNode(ctx, PlanBroadcastTo(ctx.input(0).shape(), dims));
}

absl::StatusOr<TensorShape> PlanSelectV2(const OpKernelContext& ctx) {
  return ForNode(ctx, PlanSelectV2(ctx.input(0).dtype(), ctx.input(0).shape(), ctx.input(1).shape(),
                                   ctx.input(2).shape()));
}

absl::StatusOr<SelectPlan> PlanSelect(const OpKernelContext& ctx) {
  return ForNode(ctx, PlanSelect(ctx.input(0).dtype(), ctx.input(0).shape(), ctx.input(1).shape(),
                                 ctx.input(2).shape()));
}

absl::StatusOr<GatherPlan> PlanGather(const OpKernelContext& ctx, int64_t axis,
                                      int64_t batch_dims) {
  return ForNode(ctx, PlanGather(ctx.input(0).shape(), ctx.input(1).shape(), axis, batch_dims));
}

absl::StatusOr<OneHotPlan> PlanOneHot(const OpKernelContext& ctx, int64_t depth, int64_t axis) {
  return ForNode(ctx, PlanOneHot(ctx.input(0).shape(), depth, axis, ctx.input(2).shape(),
                                 ctx.input(3).shape()));
}

absl::StatusOr<StitchPlan> PlanDynamicStitch(const OpKernelContext& ctx) {
  const int n = ctx.num_inputs() / 2;
  std::vector<const Tensor*> indices;
  for (int i = 0; i < n; ++i) indices.push_back(&ctx.input(i));
  return ForNode(ctx, PlanDynamicStitch(indices, InputShapes(ctx, n, n)));
}

absl::StatusOr<XentPlan> PlanXent(const OpKernelContext& ctx) {
  return ForNode(ctx, PlanXent(ctx.input(0).shape(), ctx.input(1).shape()));
}

absl::StatusOr<SparseXentPlan> PlanSparseXent(const OpKernelContext& ctx) {
  return ForNode(ctx, PlanSparseXent(ctx.input(0).shape(), ctx.input(1).shape()));
}

absl::StatusOr<BatchNormGradPlan> PlanBatchNormGrad(const OpKernelContext& ctx,
                                                    const std::string& data_format) {
  return ForNode(ctx, PlanBatchNormGrad(InputShapes(ctx, 0, 5), data_format));
}

absl::StatusOr<std::vector<bool>> ReductionMask(const OpKernelContext& ctx, const Tensor& axes_t,
                                                const TensorShape& shape) {
  if (axes_t.rank() > 1) {
    return ctx.Error(absl::StrCat("reduction_indices must be a scalar or a vector, got shape ",
                                  axes_t.shape().DebugString()));
  }
  auto axes = axes_t.AsInt64Vector();
  if (!axes.ok()) return ctx.Error(absl::StrCat("reduction_indices: ", axes.status().message()));
  const int rank = shape.rank();
  std::vector<bool> is_reduced(rank, false);
  for (int64_t axis : *axes) {
    if (axis < -rank || axis >= rank) {
      return ctx.Error(absl::StrCat("invalid reduction axis ", axis, " for input of shape ",
                                    shape.DebugString(), ": must be in [", -rank, ", ", rank, ")"));
    }
    const int canonical = Normalise(axis, rank);
    if (is_reduced[canonical]) {
      return ctx.Error(absl::StrCat("reduction axes [", absl::StrJoin(*axes, ","),
                                    "] contain dimension ", canonical, " more than once"));
    }
    is_reduced[canonical] = true;
  }
  return is_reduced;
}

absl::StatusOr<int> ArgReductionAxis(const OpKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& dim_t = ctx.input(1);
  if (dim_t.num_elements() != 1 || dim_t.rank() > 1) {
    return ctx.Error(
        absl::StrCat("dimension must be a scalar, got shape ", dim_t.shape().DebugString()));
  }
  auto dims = dim_t.AsInt64Vector();
  if (!dims.ok()) return ctx.Error(absl::StrCat("dimension: ", dims.status().message()));
  const int rank = x.rank();
  const int64_t axis = (*dims)[0];
  if (axis < -rank || axis >= rank) {
    return ctx.Error(absl::StrCat("expected dimension in the range [", -rank, ", ", rank,
                                  "), but got ", axis, " (input shape ", x.shape().DebugString(),
                                  ")"));
  }
  const int canonical = Normalise(axis, rank);
  if (x.dim(canonical) == 0) {
    return ctx.Error(
        absl::StrCat("reduction axis ", canonical, " is empty in shape ", x.shape().DebugString()));
  }
  return canonical;
}

absl::Status CheckSoftmaxLogits(const OpKernelContext& ctx, bool log) {
  if (ctx.input(0).rank() < 1) {
    return ctx.Error(
        absl::StrCat(log ? "LogSoftmax" : "Softmax", " needs logits of rank >= 1, got a scalar"));
  }
  return absl::OkStatus();
}

absl::Status CheckClipByValueInputs(const OpKernelContext& ctx) {
  const TensorShape& t = ctx.input(0).shape();
  const TensorShape& lo = ctx.input(1).shape();
  const TensorShape& hi = ctx.input(2).shape();
  if ((lo.rank() != 0 && lo != t) || (hi.rank() != 0 && hi != t)) {
    return ctx.Error(absl::StrCat(
        "clip_value_min and clip_value_max must be either of the same shape as input, or a "
        "scalar. input shape: ",
        t.DebugString(), " clip_value_min shape: ", lo.DebugString(),
        " clip_value_max shape: ", hi.DebugString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> BiasAddChannelDim(const OpKernelContext& ctx, bool nchw) {
  const Tensor& value = ctx.input(0);
  const Tensor& bias = ctx.input(1);
  const int min_rank = nchw ? 3 : 2;
  if (value.rank() < min_rank) {
    return ctx.Error(absl::StrCat("value must have rank >= ", min_rank, " for data_format ",
                                  nchw ? "NCHW" : "NHWC", ", got ", value.shape().DebugString()));
  }
  const int channel_dim = nchw ? 1 : value.rank() - 1;
  const int64_t channels = value.dim(channel_dim);
  if (bias.rank() != 1 || bias.dim(0) != channels) {
    return ctx.Error(absl::StrCat("bias ", bias.shape().DebugString(),
                                  " must be 1-D and match the channel dimension (", channels,
                                  ") of value ", value.shape().DebugString()));
  }
  return channel_dim;
}

absl::StatusOr<int> BiasAddGradChannelDim(const OpKernelContext& ctx, bool nchw) {
  const Tensor& in = ctx.input(0);
  if (in.rank() < (nchw ? 3 : 2)) {
    return ctx.Error(absl::StrCat("out_backprop must have rank >= ", nchw ? 3 : 2, " for ",
                                  nchw ? "NCHW" : "NHWC", ", got shape ",
                                  in.shape().DebugString()));
  }
  return nchw ? 1 : in.rank() - 1;
}

absl::StatusOr<int> CheckFusedBatchNormInputs(const OpKernelContext& ctx,
                                              const std::string& data_format, bool is_training,
                                              float exponential_avg_factor) {
  const Tensor& x = ctx.input(0);
  const int rank = static_cast<int>(data_format.size());
  if (x.rank() != rank) {
    return ctx.Error(absl::StrCat("x must be ", rank, "-D for data_format ", data_format, ", got ",
                                  x.shape().DebugString()));
  }
  const bool channels_first = data_format == "NCHW" || data_format == "NCDHW";
  const int channel_dim = channels_first ? 1 : rank - 1;
  const int64_t c = x.dim(channel_dim);
  static const char* kNames[] = {"x", "scale", "offset", "mean", "variance"};
  // Training with factor 1 never reads mean and variance; TF lets them be empty then.
  const int checked = (is_training && exponential_avg_factor == 1.0f) ? 3 : 5;
  for (int i = 1; i < 5; ++i) {
    const Tensor& t = ctx.input(i);
    if (t.rank() != 1 || (i < checked && t.dim(0) != c)) {
      return ctx.Error(absl::StrCat(kNames[i], " ", t.shape().DebugString(),
                                    " must be 1-D with the channel count ", c, " of x ",
                                    x.shape().DebugString(), " (", data_format, ")"));
    }
  }
  return channel_dim;
}

}  // namespace quiver::array_plans
