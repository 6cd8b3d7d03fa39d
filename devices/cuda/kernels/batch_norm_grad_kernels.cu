// FusedBatchNormGrad on the GPU: one block per channel, sums in double, the per-channel
// coefficients from the __host__ __device__ functor the CPU kernel uses too.
#include "devices/common/batch_norm_grad_functors.h"
#include "devices/cuda/kernels/batch_norm_grad_launchers.h"
#include "devices/cuda/kernels/launch_util.cuh"

namespace quiver {
namespace cuda {
namespace {

__global__ void BatchNormGradKernel(const float* dy, const float* x, const float* scale,
                                    const float* mean, const float* variance, float epsilon,
                                    bool training, int64_t count, int64_t channels, int64_t inner,
                                    float* dx, float* scale_backprop, float* offset_backprop) {
  __shared__ double sum_dy[kThreads];
  __shared__ double sum_dy_xc[kThreads];
  __shared__ double coefs[3];
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    const double m = mean[c];
    double s = 0, sx = 0;
    // Sample j of channel c: (outer o = j / inner, inner i = j % inner).
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      const int64_t k = ((j / inner) * channels + c) * inner + j % inner;
      const double g = dy[k];
      s += g;
      sx += g * (x[k] - m);
    }
    sum_dy[threadIdx.x] = s;
    sum_dy_xc[threadIdx.x] = sx;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) {
        sum_dy[threadIdx.x] += sum_dy[threadIdx.x + w];
        sum_dy_xc[threadIdx.x] += sum_dy_xc[threadIdx.x + w];
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      const functor::BatchNormGradCoefs k = functor::BatchNormGradChannel(
          sum_dy[0], sum_dy_xc[0], count, scale[c], mean[c], variance[c], epsilon, training,
          scale_backprop + c, offset_backprop + c);
      coefs[0] = k.dy_coef;
      coefs[1] = k.x_coef;
      coefs[2] = k.bias;
    }
    __syncthreads();
    const double a = coefs[0], b = coefs[1], bias = coefs[2];
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      const int64_t k = ((j / inner) * channels + c) * inner + j % inner;
      dx[k] = static_cast<float>(a * dy[k] + b * x[k] + bias);
    }
    __syncthreads();  // coefs and the partial sums are reused for the next channel
  }
}

}  // namespace

cudaError_t LaunchBatchNormGrad(const float* dy, const float* x, const float* scale,
                                const float* mean, const float* variance, float epsilon,
                                bool training, int64_t count, int64_t channels, int64_t inner,
                                float* dx, float* scale_backprop, float* offset_backprop,
                                cudaStream_t s) {
  if (channels == 0) return cudaSuccess;
  const int blocks = static_cast<int>(channels < 65536 ? channels : 65536);
  BatchNormGradKernel<<<blocks, kThreads, 0, s>>>(dy, x, scale, mean, variance, epsilon, training,
                                                  count, channels, inner, dx, scale_backprop,
                                                  offset_backprop);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace quiver
