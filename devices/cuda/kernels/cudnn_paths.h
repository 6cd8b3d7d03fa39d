// cuDNN paths for pooling (forward), Softmax/LogSoftmax and FusedBatchNorm inference, tried
// before our own CUDA kernels, which stay as the fallback.
//
// Every Try* function returns true when cuDNN did the work, false when the caller must run our
// kernel, or an error status (only for a CUDA error that is not cuDNN's: one left pending by
// earlier work). False means either that the problem is one cuDNN cannot express with the op's
// exact TF/CPU semantics (the conditions are listed per function), or that cuDNN failed at run
// time (no handle, a call's status not SUCCESS): that failure is remembered per problem (op,
// GPU, shape, window; per GPU for the handle), reported once on stderr, and the problem goes
// straight to our kernel on later steps.
//
// The switch: UseCudnnPaths() is true unless the environment variable QUIVER_GPU_CUDNN_OPS is
// "0", "false" or "off" when first read; SetUseCudnnPathsForTesting overrides it. The callers
// check it; the Try* functions do not.
//
// Not here, on our kernels: MaxPoolGrad / AvgPoolGrad (see gpu_blas_dnn_ops.cc) and
// FusedBatchNorm training (see TryCudnnBatchNormInference).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/common/index_helpers.h"
#include "devices/cuda/gpu_kernel_util.h"

namespace quiver {
namespace cuda {

// The process-wide switch (see above).
bool UseCudnnPaths();
void SetUseCudnnPathsForTesting(bool on);
// How many times a Try* function returned true, process-wide (for tests).
int64_t CudnnPathHitsForTesting();
// How many times _FusedConv2D's GPU kernel computed its result in one
// cudnnConvolutionBiasActivationForward call ([BiasAdd] or [BiasAdd, Relu], switch on),
// process-wide (for tests). Defined in gpu_blas_dnn_ops.cc, which holds that path.
int64_t CudnnFusedConvHitsForTesting();

// MaxPool / AvgPool forward, NHWC float32: y[n, oh, ow, c] from x[n, h, w, c] over `geo` (TF's
// window geometry; pad_b / pad_r are TF's bottom/right padding, which geo does not hold).
// cuDNN only when: every size is positive and fits int (the element counts too); the padding
// is symmetric (pad_t == pad_b, pad_l == pad_r: TF's SAME puts an odd extra row/column at the
// bottom/right, which cuDNN cannot express); pad_t < kh and pad_l < kw (every window holds an
// input element); and cuDNN's output dims equal TF's. Max: CUDNN_POOLING_MAX with
// CUDNN_NOT_PROPAGATE_NAN (as TF's GPU kernel); Avg: COUNT_EXCLUDE_PADDING (TF's divisor).
absl::StatusOr<bool> TryCudnnPoolForward(GpuScope& g, bool is_max, const index::PoolGeometry& geo,
                                         int64_t pad_b, int64_t pad_r, const float* x, float* y);

// Softmax (log: LogSoftmax) of x viewed as [rows, cols], row by row: cudnnSoftmaxForward with
// CUDNN_SOFTMAX_ACCURATE (max-subtracted) or CUDNN_SOFTMAX_LOG, CUDNN_SOFTMAX_MODE_INSTANCE
// over an NCHW [rows, cols, 1, 1] tensor. cuDNN only when rows, cols > 0 and rows * cols fits
// int.
absl::StatusOr<bool> TryCudnnSoftmax(GpuScope& g, bool log, int64_t rows, int64_t cols,
                                     const float* x, float* y);

// FusedBatchNorm inference (is_training = false): y only (the caller sets the other outputs,
// which pass the statistics through). x is 4-D NHWC or NCHW (`channels_first`) with dims
// `x_dims`; scale, offset, mean, variance hold C values. cudnnBatchNormalizationForwardInference
// in CUDNN_BATCHNORM_SPATIAL mode. cuDNN only when: x is 4-D, every dim is positive and fits
// int (the element count too), and epsilon >= CUDNN_BN_MIN_EPSILON.
//
// Training stays on our kernel: cuDNN's saved statistics are the mean and 1/sqrt(var + eps),
// while ours (outputs 3/4, as on the CPU; FusedBatchNormGrad's GPU kernel reads them) are the
// mean and the biased variance, which 1/s^2 - eps recovers only imprecisely (all of it lost
// when var << eps); its running variance's Bessel factor for count == 1 is not documented
// (ours divides by max(count - 1, 1), as TF); and its running statistics are documented as
// always blended with the old ones, even for exponential_avg_factor == 1 (0 * NaN = NaN for
// uninitialised ones). Our kernel also accumulates in double.
absl::StatusOr<bool> TryCudnnBatchNormInference(GpuScope& g, bool channels_first,
                                                const std::vector<int64_t>& x_dims, float epsilon,
                                                const float* x, const float* scale,
                                                const float* offset, const float* mean,
                                                const float* variance, float* y);

}  // namespace cuda
}  // namespace quiver
