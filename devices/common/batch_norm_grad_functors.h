// FusedBatchNormGrad's per-channel coefficients as a __host__ __device__ function, shared by
// the CPU kernel (devices/cpu/kernels/batch_norm_grad_op.cc) and the CUDA kernel
// (devices/cuda/kernels/batch_norm_grad_kernels.cu). TF's formulas (its CPU
// FusedBatchNormGrad), with inv = rsqrt(variance + epsilon) and sums over the channel's
// `count` samples:
//   scale_backprop  = sum(dy * (x - mean)) * inv
//   offset_backprop = sum(dy)
//   training:  x_backprop = scale * inv * (dy - sum(dy) / count
//                                          - (x - mean) * sum(dy * (x - mean)) / count
//                                            * inv^2)
//   inference: x_backprop = scale * inv * dy
// Either way x_backprop = dy_coef * dy + x_coef * x + bias, the form returned here.
#pragma once

#include <cmath>
#include <cstdint>

#include "devices/common/host_device.h"

namespace quiver {
namespace functor {

struct BatchNormGradCoefs {
  double dy_coef, x_coef, bias;
};

QUIVER_HOST_DEVICE BatchNormGradCoefs BatchNormGradChannel(double sum_dy, double sum_dy_xc,
                                                           int64_t count, float scale, float mean,
                                                           float variance, float epsilon,
                                                           bool training, float* scale_backprop,
                                                           float* offset_backprop) {
  const double inv = 1.0 / std::sqrt(static_cast<double>(variance) + epsilon);
  *scale_backprop = static_cast<float>(sum_dy_xc * inv);
  *offset_backprop = static_cast<float>(sum_dy);
  BatchNormGradCoefs k;
  k.dy_coef = scale * inv;
  if (!training || count == 0) {
    k.x_coef = 0;
    k.bias = 0;
    return k;
  }
  const double n = static_cast<double>(count);
  k.x_coef = -k.dy_coef * (sum_dy_xc / n) * inv * inv;
  k.bias = -k.dy_coef * (sum_dy / n) - k.x_coef * mean;
  return k;
}

}  // namespace functor
}  // namespace quiver
