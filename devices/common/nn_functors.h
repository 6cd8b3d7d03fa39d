// Row-wise softmax / cross-entropy, activation gradients and the TF1 optimizer updates as
// __host__ __device__ functions: the CUDA kernels (devices/cuda/kernels) run them per row or
// per element, and tests/devices/index_helpers_test.cc checks them on the host against
// independently written references. Formulas follow TensorFlow (see the CPU kernels'
// comments in devices/cpu/kernels/{xent_ops,optimizer_ops,activation_grad_ops}.cc).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "devices/common/cwise_functors.h"
#include "devices/common/host_device.h"

namespace quiver {
namespace functor {

// ---- softmax and cross-entropy (one row of `cols` values; sums accumulate in double) -----

template <typename T>
QUIVER_HOST_DEVICE void SoftmaxRow(const T* logits, int64_t cols, bool log, T* out) {
  if (cols <= 0) return;
  T mx = logits[0];
  for (int64_t j = 1; j < cols; ++j) mx = logits[j] > mx ? logits[j] : mx;
  double sum = 0;
  for (int64_t j = 0; j < cols; ++j) sum += std::exp(static_cast<double>(logits[j] - mx));
  if (log) {
    const double ls = std::log(sum);
    for (int64_t j = 0; j < cols; ++j) out[j] = static_cast<T>((logits[j] - mx) - ls);
  } else {
    for (int64_t j = 0; j < cols; ++j) {
      out[j] = static_cast<T>(std::exp(static_cast<double>(logits[j] - mx)) / sum);
    }
  }
}

// SoftmaxCrossEntropyWithLogits for one row: returns the loss and writes
// backprop_j = softmax_j - labels_j.
template <typename T>
QUIVER_HOST_DEVICE T XentRow(const T* logits, const T* labels, int64_t cols, T* backprop) {
  if (cols <= 0) return T(0);
  T mx = logits[0];
  for (int64_t j = 1; j < cols; ++j) mx = logits[j] > mx ? logits[j] : mx;
  double sum = 0;
  for (int64_t j = 0; j < cols; ++j) sum += std::exp(static_cast<double>(logits[j] - mx));
  const double log_sum = std::log(sum);
  double loss = 0;
  for (int64_t j = 0; j < cols; ++j) {
    const double shifted = static_cast<double>(logits[j] - mx);
    // As the CPU kernel: 0 * inf would turn a -inf logit with label 0 into a NaN loss.
    if (labels[j] != T(0)) loss += static_cast<double>(labels[j]) * (log_sum - shifted);
    backprop[j] = static_cast<T>(std::exp(shifted - log_sum) - static_cast<double>(labels[j]));
  }
  return static_cast<T>(loss);
}

// ---- activation gradients, TF argument order ----------------------------------------------

template <typename T>
struct ReluGrad {  // (gradients, features)
  QUIVER_HOST_DEVICE T operator()(T g, T f) const { return f > T(0) ? g : T(0); }
};
template <typename T>
struct Relu6Grad {  // (gradients, features)
  QUIVER_HOST_DEVICE T operator()(T g, T f) const { return (f > T(0) && f < T(6)) ? g : T(0); }
};
template <typename T>
struct SigmoidGrad {  // (y, dy)
  QUIVER_HOST_DEVICE T operator()(T y, T dy) const { return dy * y * (T(1) - y); }
};
template <typename T>
struct TanhGrad {  // (y, dy)
  QUIVER_HOST_DEVICE T operator()(T y, T dy) const { return dy * (T(1) - y * y); }
};
template <typename T>
struct SeluGrad {  // (gradients, outputs): d/dx scale_alpha * expm1(x) = y + scale_alpha
  QUIVER_HOST_DEVICE T operator()(T g, T y) const {
    return y < T(0) ? g * (y + T(kSeluScaleAlpha)) : g * T(kSeluScale);
  }
};
template <typename T>
struct LeakyReluGrad {  // (gradients, features), TF's attr alpha
  T alpha = T(0.2);
  QUIVER_HOST_DEVICE T operator()(T g, T f) const { return f > T(0) ? g : g * alpha; }
};
template <typename T>
struct SoftplusGrad {  // (gradients, features): g * sigmoid(features), TF's formula
  QUIVER_HOST_DEVICE T operator()(T g, T f) const { return g / (std::exp(-f) + T(1)); }
};
template <typename T>
struct SoftsignGrad {  // (gradients, features): g / (1 + |features|)^2
  QUIVER_HOST_DEVICE T operator()(T g, T f) const {
    const T d = T(1) + (f < T(0) ? -f : f);
    return g / (d * d);
  }
};

// ---- optimizer updates, one element --------------------------------------------------------

template <typename T>
QUIVER_HOST_DEVICE void ApplyGradientDescent(T* var, T alpha, T delta) {
  *var -= alpha * delta;
}

template <typename T>
QUIVER_HOST_DEVICE void ApplyMomentum(T* var, T* accum, T lr, T grad, T momentum, bool nesterov) {
  *accum = *accum * momentum + grad;
  if (nesterov) {
    *var -= grad * lr + *accum * momentum * lr;
  } else {
    *var -= lr * *accum;
  }
}

// lr_t = lr * sqrt(1 - beta2_power) / (1 - beta1_power), computed once by the caller.
template <typename T>
QUIVER_HOST_DEVICE T AdamLearningRate(T lr, T beta1_power, T beta2_power) {
  return lr * std::sqrt(T(1) - beta2_power) / (T(1) - beta1_power);
}
template <typename T>
QUIVER_HOST_DEVICE void ApplyAdam(T* var, T* m, T* v, T lr_t, T beta1, T beta2, T epsilon, T grad,
                                  bool nesterov) {
  *m += (grad - *m) * (T(1) - beta1);
  *v += (grad * grad - *v) * (T(1) - beta2);
  if (nesterov) {
    *var -= lr_t * (*m * beta1 + (T(1) - beta1) * grad) / (std::sqrt(*v) + epsilon);
  } else {
    *var -= lr_t * *m / (std::sqrt(*v) + epsilon);
  }
}

// ---- batch normalization, one channel -------------------------------------------------------

// FusedBatchNorm's per-channel affine map y = x * mul + add. Inference uses the given
// statistics; training the batch's (mean, biased variance over `count` samples) and also
// produces TF's outputs: batch_mean / batch_variance (Bessel-corrected, blended with the old
// running values when exponential_avg_factor != 1) and the saved mean / biased variance.
QUIVER_HOST_DEVICE void BatchNormInferenceChannel(float scale, float offset, float mean,
                                                  float variance, float epsilon, float* mul,
                                                  float* add) {
  const double m = static_cast<double>(scale) / std::sqrt(static_cast<double>(variance) + epsilon);
  *mul = static_cast<float>(m);
  *add = static_cast<float>(offset - mean * m);
}

QUIVER_HOST_DEVICE void BatchNormTrainingChannel(double mean, double biased_var, int64_t count,
                                                 float scale, float offset, float old_mean,
                                                 float old_var, float epsilon, float factor,
                                                 float* mul, float* add, float* batch_mean,
                                                 float* batch_var, float* saved_mean,
                                                 float* saved_var) {
  const double m = 1.0 / std::sqrt(biased_var + epsilon) * scale;
  *mul = static_cast<float>(m);
  *add = static_cast<float>(offset - mean * m);
  *saved_mean = static_cast<float>(mean);
  *saved_var = static_cast<float>(biased_var);
  const double bessel =
      static_cast<double>(count) / static_cast<double>(count - 1 > 1 ? count - 1 : 1);
  if (factor == 1.0f) {
    *batch_mean = static_cast<float>(mean);
    *batch_var = static_cast<float>(biased_var * bessel);
  } else {
    const double keep = 1.0 - factor;
    *batch_mean = static_cast<float>(keep * old_mean + factor * mean);
    *batch_var = static_cast<float>(keep * old_var + factor * biased_var * bessel);
  }
}

// ---- Cast -----------------------------------------------------------------------------------

// One element of TF's Cast as the CPU kernel defines it: anything -> bool is "!= 0"; float ->
// integer truncates toward zero, saturates out of range and maps NaN to 0; integer -> integer
// wraps; integer -> float rounds.
template <typename Dst, typename Src>
QUIVER_HOST_DEVICE Dst CastValue(Src v) {
  if constexpr (std::is_same_v<Dst, bool>) {
    return v != Src(0);
  } else if constexpr (std::is_floating_point_v<Src> && std::is_integral_v<Dst>) {
    if (v != v) return Dst(0);
    const Src upper = std::ldexp(Src(1), std::numeric_limits<Dst>::digits);
    if (v >= upper) return std::numeric_limits<Dst>::max();
    if (v <= Src(std::numeric_limits<Dst>::min()) - Src(1)) return std::numeric_limits<Dst>::min();
    return static_cast<Dst>(v);
  } else {
    return static_cast<Dst>(v);
  }
}

}  // namespace functor
}  // namespace quiver
