// The CUDA launchers: plain functions over device pointers and a stream, implemented in the
// .cu files next to this header (the only code nvcc compiles). They see nothing but
// devices/common (functors, index helpers, Philox) and raw pointers, so the .cu translation
// units stay small; the OpKernels that parse attrs, check shapes and stage memory live in the
// .cc files (compiled by the host compiler).
//
// Every launcher returns the launch's cudaError_t (cudaSuccess when n == 0 launches nothing).
// Scalars that are tensors in the graph (learning rates, betas) are device pointers, so the
// launchers work unchanged once tensors are device-resident.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "devices/common/cwise_functors.h"
#include "devices/common/index_helpers.h"
#include "devices/common/philox.h"

namespace quiver {
namespace cuda {

enum class UnaryOp {
  kNeg,
  kAbs,
  kSquare,
  kExp,
  kLog,
  kSqrt,
  kRsqrt,
  kTanh,
  kSigmoid,
  kRelu,
  kRelu6,
  kElu,
  kReciprocal,
  kSign,
  kFloor,
  kCeil,
  kRound,
  kErf,
  kErfc,
  kCos,
  kSin,
  kSoftplus,
  kSoftsign,
  kSelu,
  kLeakyRelu,  // takes `alpha`
};
enum class BinaryOp {
  kAdd,
  kSub,
  kMul,
  kRealDiv,
  kMaximum,
  kMinimum,
  kPow,
  kSquaredDifference,
  kReluGrad,
  kRelu6Grad,
  kSigmoidGrad,
  kTanhGrad,
  kEluGrad,
  kFloorDiv,
  kFloorMod,
  kAtan2,
  kSeluGrad,
  kLeakyReluGrad,  // takes `alpha`
  kSoftplusGrad,
  kSoftsignGrad,
};
// IsNan / IsInf / IsFinite.
enum class FloatPredicate { kIsNan, kIsInf, kIsFinite };
enum class ReduceOp { kSum, kMean, kMax, kMin, kProd };
enum class CompareOp { kEqual, kNotEqual, kLess, kLessEqual, kGreater, kGreaterEqual };
// Element types of the comparison and cast kernels.
enum class ElemType { kFloat, kDouble, kInt32, kInt64, kBool };
enum class RandomDist { kUniform, kNormal, kTruncatedNormal };

// y[i] = op(x[i]); `alpha` is LeakyRelu's attr (ignored by the other ops).
cudaError_t LaunchUnary(UnaryOp op, const float* x, float* y, int64_t n, cudaStream_t stream,
                        float alpha = 0.2f);
// z[i] = op(x[xo], y[yo]) with offsets from `bcast`, or xo = yo = i when bcast is null;
// `alpha` is LeakyReluGrad's attr.
cudaError_t LaunchBinary(BinaryOp op, const float* x, const float* y, float* z, int64_t n,
                         const functor::BroadcastIndexer* bcast, cudaStream_t stream,
                         float alpha = 0.2f);
// y[i] = op(x[i]) (bool).
cudaError_t LaunchFloatPredicate(FloatPredicate op, const float* x, bool* y, int64_t n,
                                 cudaStream_t stream);
// ClipByValue: y[i] = functor::ClipValue(x[i], lo[i or 0], hi[i or 0]) (a scalar bound:
// `*_scalar`).
cudaError_t LaunchClip(const float* x, const float* lo, const float* hi, float* y, int64_t n,
                       bool lo_scalar, bool hi_scalar, cudaStream_t stream);
// L2Loss: *out = sum(x^2) / 2, accumulated in double by one block.
cudaError_t LaunchL2Loss(const float* x, float* out, int64_t n, cudaStream_t stream);
// Gather: dst[i] = src[ix.Offset(i)] for i < ix.NumElements() (transpose, slice).
cudaError_t LaunchGather(const void* src, void* dst, size_t element_size,
                         const index::StridedIndexer& ix, cudaStream_t stream);
// Scatter: dst[ix.Offset(i)] = src[i] (one ConcatV2 input).
cudaError_t LaunchScatter(const void* src, void* dst, size_t element_size,
                          const index::StridedIndexer& ix, cudaStream_t stream);
// y[o] = reduce over r of x[kept.Offset(o) + reduce.Offset(r)]; Mean divides by num_reduced.
cudaError_t LaunchReduce(ReduceOp op, const float* x, float* y, const index::ReduceIndexer& ix,
                         cudaStream_t stream);
// y[o] = index r of the max (min) element; the first on ties, NaN wins like TF's CPU kernel.
// y is int64 or int32 (`int64_output`).
cudaError_t LaunchArgMax(bool is_min, const float* x, void* y, bool int64_output,
                         const index::ReduceIndexer& ix, cudaStream_t stream);
// y[i] = x[i] + bias[(i / inner) % channels]: inner = 1 for NHWC / [..., C], H*W for NCHW.
cudaError_t LaunchBiasAdd(const float* x, const float* bias, float* y, int64_t n, int64_t channels,
                          int64_t inner, cudaStream_t stream);
// Row-wise softmax (log-softmax when `log`) of a [rows, cols] matrix.
cudaError_t LaunchSoftmax(const float* logits, float* out, int64_t rows, int64_t cols, bool log,
                          cudaStream_t stream);
// SoftmaxCrossEntropyWithLogits of [rows, cols] logits and labels.
cudaError_t LaunchSoftmaxXent(const float* logits, const float* labels, float* loss,
                              float* backprop, int64_t rows, int64_t cols, cudaStream_t stream);
// SparseSoftmaxCrossEntropyWithLogits of [rows, cols] logits and [rows] labels (int64 when
// `int64_labels`, else int32), which the caller checks are in [0, cols) (before, or on the
// device with the error reported at the step's end). A label outside that range never indexes
// out of bounds: its row's loss and backprop become NaN.
cudaError_t LaunchSparseSoftmaxXent(const float* logits, const void* labels, bool int64_labels,
                                    float* loss, float* backprop, int64_t rows, int64_t cols,
                                    cudaStream_t stream);
// AssignAdd / AssignSub: var[i] += value[i] (`add`) or var[i] -= value[i].
cudaError_t LaunchAssignUpdate(float* var, const float* value, int64_t n, bool add,
                               cudaStream_t stream);
cudaError_t LaunchApplyGradientDescent(float* var, const float* alpha, const float* delta,
                                       int64_t n, cudaStream_t stream);
cudaError_t LaunchApplyMomentum(float* var, float* accum, const float* lr, const float* grad,
                                const float* momentum, int64_t n, bool nesterov,
                                cudaStream_t stream);
cudaError_t LaunchApplyAdam(float* var, float* m, float* v, const float* beta1_power,
                            const float* beta2_power, const float* lr, const float* beta1,
                            const float* beta2, const float* epsilon, const float* grad, int64_t n,
                            bool nesterov, cudaStream_t stream);
// TF's Philox layout, as the CPU kernels: group g (4 floats) is drawn from base skipped by
// g * skip_per_group (1, or TruncatedNormalDist::kSkipPerGroup).
cudaError_t LaunchRandom(RandomDist dist, const random::Philox4x32& base, float* out, int64_t n,
                         cudaStream_t stream);
// MaxPool / AvgPool (NHWC, TF padding semantics) and their gradients. `x` is the forward input
// (MaxPoolGrad only; null for AvgPoolGrad); dx is zeroed first.
cudaError_t LaunchPool(bool is_max, const float* x, float* y, const index::PoolGeometry& g,
                       cudaStream_t stream);
cudaError_t LaunchPoolGrad(bool is_max, const float* x, const float* dy, float* dx,
                           const index::PoolGeometry& g, cudaStream_t stream);
// FusedBatchNorm over x viewed as [outer, channels, inner] (inner = 1 for channels-last),
// count = outer * inner samples per channel. Training (mean/var may be null when factor is 1):
// computes the batch statistics (one block per channel, double accumulation), writes
// batch_mean/batch_var/saved_mean/saved_var (each [channels]) and y. Inference: uses `mean` and
// `var` and writes y only. `mul_add` is device scratch of 2 * channels floats.
cudaError_t LaunchBatchNorm(const float* x, const float* scale, const float* offset,
                            const float* mean, const float* var, float epsilon, float factor,
                            bool training, int64_t count, int64_t channels, int64_t inner, float* y,
                            float* batch_mean, float* batch_var, float* saved_mean,
                            float* saved_var, float* mul_add, cudaStream_t stream);
// z[i] = op(x[xo], y[yo]) (bool), offsets from `bcast` (for equal shapes: rank 1, strides 1).
cudaError_t LaunchCompare(CompareOp op, ElemType type, const void* x, const void* y, bool* z,
                          int64_t n, const functor::BroadcastIndexer& bcast, cudaStream_t stream);
// y[i] = functor::CastValue<To>(x[i]).
cudaError_t LaunchCast(ElemType from, ElemType to, const void* x, void* y, int64_t n,
                       cudaStream_t stream);
// out[i] = value.
cudaError_t LaunchFill(float* out, int64_t n, float value, cudaStream_t stream);
// out[i] = *value (a device scalar).
cudaError_t LaunchFillFrom(float* out, int64_t n, const float* value, cudaStream_t stream);

}  // namespace cuda
}  // namespace quiver
