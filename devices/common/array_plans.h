// Device-independent plans for the array and training kernels that exist on more than one
// device: the validation, output shape and loop geometry a kernel computes from its input
// shapes, attrs and host-side values before it moves any data. The CPU kernels
// (devices/cpu/kernels/...) and the GPU kernels (devices/cuda/kernels/...) call the same plan,
// so both check identically and report the same messages.
//
// Host code only (absl, TensorShape): never included by a .cu file. The shape rules themselves
// are the ones of graph/ops/array_shapes.h, shared with the shape functions. Errors are
// InvalidArgument without a node prefix, like array_shapes; the overloads that take an
// OpKernelContext (at the end) read the kernel's inputs and add the node prefix
// (OpKernelContext::Error), so a kernel calls them as
//   ASSIGN_OR_RETURN(array_plans::PackPlan plan, array_plans::PlanPack(ctx, axis_));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devices/kernel.h"
#include "graph/ops/array_shapes.h"
#include "graph/tensor.h"
#include "graph/tensor_shape.h"
#include "graph/types.h"

namespace quiver::array_plans {

// The product of dims[begin, end) (1 when empty).
int64_t Product(const std::vector<int64_t>& dims, size_t begin, size_t end);

// Pack (tf.stack) and Unpack (tf.unstack): the packed tensor viewed as [outer, n, inner] around
// the (normalised) axis. `shape` is the output of Pack, or the shape of each output of Unpack.
struct PackPlan {
  int axis = 0;
  int64_t outer = 1;
  int64_t inner = 1;
  TensorShape shape;
};
absl::StatusOr<PackPlan> PlanPack(const std::vector<TensorShape>& inputs, int64_t axis);
absl::StatusOr<PackPlan> PlanUnpack(const TensorShape& input, int64_t num, int64_t axis);

// Concat / ConcatV2: the output viewed as [outer, out_chunk]; input i fills the columns
// [offsets[i], offsets[i] + chunks[i]).
struct ConcatPlan {
  int axis = 0;
  int64_t outer = 1;
  int64_t out_chunk = 1;
  std::vector<int64_t> chunks;
  std::vector<int64_t> offsets;
  TensorShape shape;
};
absl::StatusOr<ConcatPlan> PlanConcat(const std::vector<TensorShape>& inputs, int64_t axis);

// Pad / PadV2. `paddings` are the values of the paddings input (of shape `paddings_shape`, read
// as a 2-D host input); `constant_values` is PadV2's third input, nullptr for Pad. When the
// padding is all zero (`identity`), the input is the output and constant_values is not checked.
struct PadPlan {
  TensorShape shape;
  std::vector<int64_t> paddings;  // row-major [rank, 2]: (before, after) per dimension
  bool identity = false;
};
absl::StatusOr<PadPlan> PlanPad(const TensorShape& input, const TensorShape& paddings_shape,
                                std::vector<int64_t> paddings, const TensorShape* constant_values);

// BroadcastTo: `dims` (the values of the shape input) must be a concrete shape that `input`
// broadcasts to; that shape is the output.
absl::StatusOr<TensorShape> PlanBroadcastTo(const TensorShape& input,
                                            const std::vector<int64_t>& dims);

// SelectV2: condition must be bool; the output is the broadcast of the three shapes.
absl::StatusOr<TensorShape> PlanSelectV2(DataType cond_dtype, const TensorShape& cond,
                                         const TensorShape& then_shape,
                                         const TensorShape& else_shape);

// Select: condition must be bool; then and else one shape (the output's). The kernels view the
// condition as `cond_shape`: its own shape, or [n, 1, ..., 1] for a row-selecting vector, and
// then broadcast it like SelectV2's.
struct SelectPlan {
  TensorShape shape;
  TensorShape cond_shape;
};
absl::StatusOr<SelectPlan> PlanSelect(DataType cond_dtype, const TensorShape& cond,
                                      const TensorShape& then_shape, const TensorShape& else_shape);

// GatherV2 (after the axis has been read): the output, and params viewed as
// [batch, outer, limit, inner] with n indices per batch.
struct GatherPlan {
  TensorShape shape;
  int64_t batch = 1;
  int64_t outer = 1;
  int64_t limit = 0;
  int64_t inner = 1;
  int64_t n = 0;
};
absl::StatusOr<GatherPlan> PlanGather(const TensorShape& params, const TensorShape& indices,
                                      int64_t axis, int64_t batch_dims);

// `count` host indices of an integer dtype (int64, int32, int16, int8, uint8) as int64.
absl::StatusOr<std::vector<int64_t>> IndicesAsInt64(DataType dtype, const void* data,
                                                    int64_t count);
// Every index in [0, limit).
absl::Status CheckIndicesInRange(const std::vector<int64_t>& indices, int64_t limit);

// OneHot (after depth has been read): the output viewed as [prefix, depth, suffix].
struct OneHotPlan {
  TensorShape shape;
  int64_t prefix = 1;
  int64_t depth = 0;
  int64_t suffix = 1;
};
absl::StatusOr<OneHotPlan> PlanOneHot(const TensorShape& indices, int64_t depth, int64_t axis,
                                      const TensorShape& on_value, const TensorShape& off_value);

// DynamicStitch / ParallelDynamicStitch: `indices` are the host int32 index tensors, `data` the
// shapes of the data inputs. The output is [first_dim] + S, each row `row` elements.
struct StitchPlan {
  TensorShape shape;
  int64_t first_dim = 0;
  int64_t row = 0;  // elements per output row (0 when the output is empty)
};
absl::StatusOr<StitchPlan> PlanDynamicStitch(const std::vector<const Tensor*>& indices,
                                             const std::vector<TensorShape>& data);

// SoftmaxCrossEntropyWithLogits: logits and labels broadcast to [batch, classes] (TF allows
// e.g. one label row for every example); each input's element strides over that shape, 0
// along a broadcast dim.
struct XentPlan {
  TensorShape shape;  // [batch, classes]: the backprop output
  int64_t batch = 0;
  int64_t classes = 0;
  int64_t logits_row_stride = 0, logits_col_stride = 0;
  int64_t labels_row_stride = 0, labels_col_stride = 0;
};
absl::StatusOr<XentPlan> PlanXent(const TensorShape& logits, const TensorShape& labels);

// SparseSoftmaxCrossEntropyWithLogits: logits [batch, classes], labels [batch].
struct SparseXentPlan {
  int64_t batch = 0;
  int64_t classes = 0;
};
absl::StatusOr<SparseXentPlan> PlanSparseXent(const TensorShape& logits, const TensorShape& labels);
// Every label in [0, classes) (L: int32_t or int64_t), checked before any output is written.
template <typename L>
absl::Status CheckSparseLabels(const L* labels, int64_t batch, int64_t classes);

// FusedBatchNormGrad*: y_backprop and x of one shape, scale and the two saved statistics
// [C], in `data_format` (NHWC, NCHW, NDHWC, NCDHW); x viewed as [outer, C, inner].
struct BatchNormGradPlan {
  int64_t channels = 0;
  int64_t outer = 0;
  int64_t inner = 1;
};
absl::StatusOr<BatchNormGradPlan> PlanBatchNormGrad(const std::vector<TensorShape>& inputs,
                                                    const std::string& data_format);

// ---- From a kernel's attrs (errors prefixed with the node) ------------------------------------

// The attrs of FusedBatchNorm* and FusedBatchNormGrad* (one parser, so every kernel accepts and
// rejects the same): data_format is NHWC, NCHW, NDHWC or NCDHW, epsilon >= 0.
// exponential_avg_factor is 1 when the op has no such attr (the Grad ops, FusedBatchNorm v1).
struct BatchNormAttrs {
  float epsilon = 0.0f;
  float exponential_avg_factor = 1.0f;
  std::string data_format;
  bool is_training = true;
};
absl::StatusOr<BatchNormAttrs> ParseBatchNormAttrs(const OpKernelConstruction& c);

// StridedSlice's five mask attrs.
absl::StatusOr<array_shapes::StridedSliceMasks> ParseStridedSliceMasks(
    const OpKernelConstruction& c);

// ---- From a kernel's inputs (errors prefixed with the node) ----------------------------------

// Pack: every input. Unpack: input 0, into ctx.num_outputs() outputs.
absl::StatusOr<PackPlan> PlanPack(const OpKernelContext& ctx, int64_t axis);
absl::StatusOr<PackPlan> PlanUnpack(const OpKernelContext& ctx, int64_t axis);
// Concat of inputs [first, first + n).
absl::StatusOr<ConcatPlan> PlanConcat(const OpKernelContext& ctx, int first, int n, int64_t axis);
// Pad / PadV2: input 0, paddings (input 1, already read), constant_values (input 2) if present.
absl::StatusOr<PadPlan> PlanPad(const OpKernelContext& ctx, std::vector<int64_t> paddings);
// BroadcastTo: input 0 to `dims` (input 1, already read).
absl::StatusOr<TensorShape> PlanBroadcastTo(const OpKernelContext& ctx,
                                            const std::vector<int64_t>& dims);
// SelectV2: inputs (condition, t, e).
absl::StatusOr<TensorShape> PlanSelectV2(const OpKernelContext& ctx);
// Select: inputs (condition, t, e).
absl::StatusOr<SelectPlan> PlanSelect(const OpKernelContext& ctx);
// GatherV2: inputs (params, indices), with the axis already read.
absl::StatusOr<GatherPlan> PlanGather(const OpKernelContext& ctx, int64_t axis, int64_t batch_dims);
// OneHot: inputs (indices, depth, on_value, off_value), with depth already read.
absl::StatusOr<OneHotPlan> PlanOneHot(const OpKernelContext& ctx, int64_t depth, int64_t axis);
// DynamicStitch: N host index inputs, then N data inputs.
absl::StatusOr<StitchPlan> PlanDynamicStitch(const OpKernelContext& ctx);
// SparseSoftmaxCrossEntropyWithLogits: inputs (logits, labels).
absl::StatusOr<XentPlan> PlanXent(const OpKernelContext& ctx);
absl::StatusOr<SparseXentPlan> PlanSparseXent(const OpKernelContext& ctx);
// FusedBatchNormGrad*: inputs (y_backprop, x, scale, reserve_space_1, reserve_space_2).
absl::StatusOr<BatchNormGradPlan> PlanBatchNormGrad(const OpKernelContext& ctx,
                                                    const std::string& data_format);

// ---- Input checks of kernels on more than one device (errors prefixed with the node) ---------

// Sum / Mean / Max / Min / Prod: `axes` (scalar or vector of an integer dtype, read on the host)
// normalised against `shape` into a per-dim mask; no axis may repeat.
absl::StatusOr<std::vector<bool>> ReductionMask(const OpKernelContext& ctx, const Tensor& axes,
                                                const TensorShape& shape);
// ArgMax / ArgMin: input 1 (dimension, a host scalar) normalised against input 0, whose
// dimension there must not be empty.
absl::StatusOr<int> ArgReductionAxis(const OpKernelContext& ctx);
// Softmax / LogSoftmax (`log`): input 0 (logits) has rank >= 1.
absl::Status CheckSoftmaxLogits(const OpKernelContext& ctx, bool log);
// ClipByValue: clip_value_min and clip_value_max (inputs 1, 2) are scalars or have t's shape.
absl::Status CheckClipByValueInputs(const OpKernelContext& ctx);
// BiasAdd: value (input 0) of rank >= 2 (3 for NCHW) and bias (input 1) [channels]; returns
// the channel dim of value.
absl::StatusOr<int> BiasAddChannelDim(const OpKernelContext& ctx, bool nchw);
// BiasAddGrad: out_backprop (input 0) of rank >= 2 (3 for NCHW); returns its channel dim.
absl::StatusOr<int> BiasAddGradChannelDim(const OpKernelContext& ctx, bool nchw);
// FusedBatchNorm*: x (input 0) has the rank of `data_format`, and scale, offset, mean and
// variance are 1-D with x's channel count (mean and variance may be empty when training with
// factor 1, which never reads them); returns the channel dim of x.
absl::StatusOr<int> CheckFusedBatchNormInputs(const OpKernelContext& ctx,
                                              const std::string& data_format, bool is_training,
                                              float exponential_avg_factor);

}  // namespace quiver::array_plans
