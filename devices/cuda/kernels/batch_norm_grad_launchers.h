// Launcher of the FusedBatchNormGrad kernel, implemented in batch_norm_grad_kernels.cu. Like
// launchers.h: a plain function over device pointers and a stream that sees only
// devices/common; the OpKernel lives in batch_norm_grad_gpu_op.cc.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace quiver {
namespace cuda {

// FusedBatchNormGrad over dy and x viewed as [outer, channels, inner] (inner = 1 for
// channels-last), count = outer * inner samples per channel, with TF's formulas
// (devices/common/batch_norm_grad_functors.h). One block per channel reduces sum(dy) and
// sum(dy * (x - mean)) in double, then writes that channel's dx, scale_backprop and
// offset_backprop (each [channels]). `mean` and `variance` are reserve_space_1/2.
cudaError_t LaunchBatchNormGrad(const float* dy, const float* x, const float* scale,
                                const float* mean, const float* variance, float epsilon,
                                bool training, int64_t count, int64_t channels, int64_t inner,
                                float* dx, float* scale_backprop, float* offset_backprop,
                                cudaStream_t stream);

}  // namespace cuda
}  // namespace quiver
