// Element-wise, bias, softmax/cross-entropy, optimizer and random kernels: thin grid-stride
// loops over the __host__ __device__ functors in devices/common.
#include "devices/common/nn_functors.h"
#include "devices/common/xent_functors.h"
#include "devices/cuda/kernels/launch_util.cuh"
#include "devices/cuda/kernels/launchers.h"

namespace quiver {
namespace cuda {
namespace {

template <typename F>
__global__ void UnaryKernel(F f, const float* x, float* y, int64_t n) {
  QUIVER_GRID_LOOP(i, n) { y[i] = f(x[i]); }
}

template <typename F>
__global__ void BinaryKernel(F f, const float* x, const float* y, float* z, int64_t n) {
  QUIVER_GRID_LOOP(i, n) { z[i] = f(x[i], y[i]); }
}

template <typename F>
__global__ void BroadcastKernel(F f, const float* x, const float* y, float* z, int64_t n,
                                functor::BroadcastIndexer b) {
  QUIVER_GRID_LOOP(i, n) {
    int64_t xo, yo;
    b.Offsets(i, &xo, &yo);
    z[i] = f(x[xo], y[yo]);
  }
}

template <typename F>
cudaError_t Unary(F f, const float* x, float* y, int64_t n, cudaStream_t s) {
  UnaryKernel<<<Blocks(n), kThreads, 0, s>>>(f, x, y, n);
  return cudaGetLastError();
}

template <typename F>
cudaError_t Binary(F f, const float* x, const float* y, float* z, int64_t n,
                   const functor::BroadcastIndexer* b, cudaStream_t s) {
  if (b == nullptr) {
    BinaryKernel<<<Blocks(n), kThreads, 0, s>>>(f, x, y, z, n);
  } else {
    BroadcastKernel<<<Blocks(n), kThreads, 0, s>>>(f, x, y, z, n, *b);
  }
  return cudaGetLastError();
}

template <typename F>
__global__ void PredicateKernel(F f, const float* x, bool* y, int64_t n) {
  QUIVER_GRID_LOOP(i, n) { y[i] = f(x[i]); }
}

__global__ void ClipKernel(const float* x, const float* lo, const float* hi, float* y, int64_t n,
                           int64_t lo_step, int64_t hi_step) {
  QUIVER_GRID_LOOP(i, n) { y[i] = functor::ClipValue(x[i], lo[i * lo_step], hi[i * hi_step]); }
}

// One block: strided partial sums of squares in double, then a tree reduction.
__global__ void L2LossKernel(const float* x, float* out, int64_t n) {
  __shared__ double partial[kThreads];
  double sum = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double v = x[i];
    sum += v * v;
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) partial[threadIdx.x] += partial[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = static_cast<float>(partial[0] / 2);
}

__global__ void BiasAddKernel(const float* x, const float* bias, float* y, int64_t n, int64_t c,
                              int64_t inner) {
  QUIVER_GRID_LOOP(i, n) { y[i] = x[i] + bias[(i / inner) % c]; }
}

__global__ void SoftmaxKernel(const float* logits, float* out, int64_t rows, int64_t cols,
                              bool log) {
  QUIVER_GRID_LOOP(r, rows) { functor::SoftmaxRow(logits + r * cols, cols, log, out + r * cols); }
}

__global__ void XentKernel(const float* logits, const float* labels, float* loss, float* backprop,
                           int64_t rows, int64_t cols) {
  QUIVER_GRID_LOOP(r, rows) {
    loss[r] = functor::XentRow(logits + r * cols, labels + r * cols, cols, backprop + r * cols);
  }
}

template <typename L>
__global__ void SparseXentKernel(const float* logits, const L* labels, float* loss, float* backprop,
                                 int64_t rows, int64_t cols) {
  QUIVER_GRID_LOOP(r, rows) {
    loss[r] = functor::SparseXentRow(logits + r * cols, cols, static_cast<int64_t>(labels[r]),
                                     backprop + r * cols);
  }
}

__global__ void AssignUpdateKernel(float* var, const float* value, int64_t n, bool add) {
  QUIVER_GRID_LOOP(i, n) {
    if (add) {
      var[i] += value[i];
    } else {
      var[i] -= value[i];
    }
  }
}

__global__ void GradientDescentKernel(float* var, const float* alpha, const float* delta,
                                      int64_t n) {
  const float a = *alpha;
  QUIVER_GRID_LOOP(i, n) { functor::ApplyGradientDescent(var + i, a, delta[i]); }
}

__global__ void MomentumKernel(float* var, float* accum, const float* lr, const float* grad,
                               const float* momentum, int64_t n, bool nesterov) {
  const float l = *lr, m = *momentum;
  QUIVER_GRID_LOOP(i, n) { functor::ApplyMomentum(var + i, accum + i, l, grad[i], m, nesterov); }
}

__global__ void AdamKernel(float* var, float* m, float* v, const float* beta1_power,
                           const float* beta2_power, const float* lr, const float* beta1,
                           const float* beta2, const float* epsilon, const float* grad, int64_t n,
                           bool nesterov) {
  const float lr_t = functor::AdamLearningRate(*lr, *beta1_power, *beta2_power);
  const float b1 = *beta1, b2 = *beta2, eps = *epsilon;
  QUIVER_GRID_LOOP(i, n) {
    functor::ApplyAdam(var + i, m + i, v + i, lr_t, b1, b2, eps, grad[i], nesterov);
  }
}

template <typename Dist>
__global__ void RandomKernel(random::Philox4x32 base, uint64_t skip_per_group, float* out,
                             int64_t n) {
  constexpr int K = Dist::kGroup;
  const int64_t groups = (n + K - 1) / K;
  QUIVER_GRID_LOOP(g, groups) {
    random::Philox4x32 gen = base;
    gen.Skip(static_cast<uint64_t>(g) * skip_per_group);
    float tmp[K];
    Dist::Fill(&gen, tmp);
    for (int k = 0; k < K && g * K + k < n; ++k) out[g * K + k] = tmp[k];
  }
}

// One block per channel: two passes (mean, then squared deviations) in double.
__global__ void BatchNormStatsKernel(const float* x, const float* scale, const float* offset,
                                     const float* old_mean, const float* old_var, float epsilon,
                                     float factor, int64_t count, int64_t channels, int64_t inner,
                                     float* batch_mean, float* batch_var, float* saved_mean,
                                     float* saved_var, float* mul, float* add) {
  __shared__ double partial[kThreads];
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    double s = 0;
    // Sample j of channel c: (outer o = j / inner, inner i = j % inner).
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      s += x[((j / inner) * channels + c) * inner + j % inner];
    }
    partial[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) partial[threadIdx.x] += partial[threadIdx.x + w];
      __syncthreads();
    }
    const double mean = partial[0] / static_cast<double>(count);
    __syncthreads();
    double q = 0;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      const double d = x[((j / inner) * channels + c) * inner + j % inner] - mean;
      q += d * d;
    }
    partial[threadIdx.x] = q;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) partial[threadIdx.x] += partial[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      const float om = old_mean != nullptr ? old_mean[c] : 0.f;
      const float ov = old_var != nullptr ? old_var[c] : 0.f;
      functor::BatchNormTrainingChannel(mean, partial[0] / static_cast<double>(count), count,
                                        scale[c], offset[c], om, ov, epsilon, factor, mul + c,
                                        add + c, batch_mean + c, batch_var + c, saved_mean + c,
                                        saved_var + c);
    }
    __syncthreads();
  }
}

__global__ void BatchNormCoefficientsKernel(const float* scale, const float* offset,
                                            const float* mean, const float* var, float epsilon,
                                            int64_t channels, float* mul, float* add) {
  QUIVER_GRID_LOOP(c, channels) {
    functor::BatchNormInferenceChannel(scale[c], offset[c], mean[c], var[c], epsilon, mul + c,
                                       add + c);
  }
}

__global__ void AffineKernel(const float* x, const float* mul, const float* add, float* y,
                             int64_t n, int64_t channels, int64_t inner) {
  QUIVER_GRID_LOOP(i, n) {
    const int64_t c = (i / inner) % channels;
    y[i] = x[i] * mul[c] + add[c];
  }
}

__global__ void FillKernel(float* out, int64_t n, float value) {
  QUIVER_GRID_LOOP(i, n) { out[i] = value; }
}

__global__ void FillFromKernel(float* out, int64_t n, const float* value) {
  const float v = *value;
  QUIVER_GRID_LOOP(i, n) { out[i] = v; }
}

}  // namespace

cudaError_t LaunchUnary(UnaryOp op, const float* x, float* y, int64_t n, cudaStream_t s,
                        float alpha) {
  if (n == 0) return cudaSuccess;
  using namespace functor;
  switch (op) {
    case UnaryOp::kNeg:
      return Unary(Neg<float>(), x, y, n, s);
    case UnaryOp::kAbs:
      return Unary(Abs<float>(), x, y, n, s);
    case UnaryOp::kSquare:
      return Unary(Square<float>(), x, y, n, s);
    case UnaryOp::kExp:
      return Unary(Exp<float>(), x, y, n, s);
    case UnaryOp::kLog:
      return Unary(Log<float>(), x, y, n, s);
    case UnaryOp::kSqrt:
      return Unary(Sqrt<float>(), x, y, n, s);
    case UnaryOp::kRsqrt:
      return Unary(Rsqrt<float>(), x, y, n, s);
    case UnaryOp::kTanh:
      return Unary(Tanh<float>(), x, y, n, s);
    case UnaryOp::kSigmoid:
      return Unary(Sigmoid<float>(), x, y, n, s);
    case UnaryOp::kRelu:
      return Unary(Relu<float>(), x, y, n, s);
    case UnaryOp::kRelu6:
      return Unary(Relu6<float>(), x, y, n, s);
    case UnaryOp::kElu:
      return Unary(Elu<float>(), x, y, n, s);
    case UnaryOp::kReciprocal:
      return Unary(Reciprocal<float>(), x, y, n, s);
    case UnaryOp::kSign:
      return Unary(Sign<float>(), x, y, n, s);
    case UnaryOp::kFloor:
      return Unary(Floor<float>(), x, y, n, s);
    case UnaryOp::kCeil:
      return Unary(Ceil<float>(), x, y, n, s);
    case UnaryOp::kRound:
      return Unary(Round<float>(), x, y, n, s);
    case UnaryOp::kErf:
      return Unary(Erf<float>(), x, y, n, s);
    case UnaryOp::kErfc:
      return Unary(Erfc<float>(), x, y, n, s);
    case UnaryOp::kCos:
      return Unary(Cos<float>(), x, y, n, s);
    case UnaryOp::kSin:
      return Unary(Sin<float>(), x, y, n, s);
    case UnaryOp::kSoftplus:
      return Unary(Softplus<float>(), x, y, n, s);
    case UnaryOp::kSoftsign:
      return Unary(Softsign<float>(), x, y, n, s);
    case UnaryOp::kSelu:
      return Unary(Selu<float>(), x, y, n, s);
    case UnaryOp::kLeakyRelu: {
      LeakyRelu<float> f;
      f.alpha = alpha;
      return Unary(f, x, y, n, s);
    }
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchBinary(BinaryOp op, const float* x, const float* y, float* z, int64_t n,
                         const functor::BroadcastIndexer* b, cudaStream_t s, float alpha) {
  if (n == 0) return cudaSuccess;
  using namespace functor;
  switch (op) {
    case BinaryOp::kAdd:
      return Binary(Add<float>(), x, y, z, n, b, s);
    case BinaryOp::kSub:
      return Binary(Sub<float>(), x, y, z, n, b, s);
    case BinaryOp::kMul:
      return Binary(Mul<float>(), x, y, z, n, b, s);
    case BinaryOp::kRealDiv:
      return Binary(RealDiv<float>(), x, y, z, n, b, s);
    case BinaryOp::kMaximum:
      return Binary(Maximum<float>(), x, y, z, n, b, s);
    case BinaryOp::kMinimum:
      return Binary(Minimum<float>(), x, y, z, n, b, s);
    case BinaryOp::kPow:
      return Binary(Pow<float>(), x, y, z, n, b, s);
    case BinaryOp::kSquaredDifference:
      return Binary(SquaredDifference<float>(), x, y, z, n, b, s);
    case BinaryOp::kReluGrad:
      return Binary(ReluGrad<float>(), x, y, z, n, b, s);
    case BinaryOp::kRelu6Grad:
      return Binary(Relu6Grad<float>(), x, y, z, n, b, s);
    case BinaryOp::kSigmoidGrad:
      return Binary(SigmoidGrad<float>(), x, y, z, n, b, s);
    case BinaryOp::kTanhGrad:
      return Binary(TanhGrad<float>(), x, y, z, n, b, s);
    case BinaryOp::kEluGrad:
      return Binary(EluGrad<float>(), x, y, z, n, b, s);
    case BinaryOp::kFloorDiv:
      return Binary(FloorDiv<float>(), x, y, z, n, b, s);
    case BinaryOp::kFloorMod:
      return Binary(FloorMod<float>(), x, y, z, n, b, s);
    case BinaryOp::kAtan2:
      return Binary(Atan2<float>(), x, y, z, n, b, s);
    case BinaryOp::kSeluGrad:
      return Binary(SeluGrad<float>(), x, y, z, n, b, s);
    case BinaryOp::kLeakyReluGrad: {
      LeakyReluGrad<float> f;
      f.alpha = alpha;
      return Binary(f, x, y, z, n, b, s);
    }
    case BinaryOp::kSoftplusGrad:
      return Binary(SoftplusGrad<float>(), x, y, z, n, b, s);
    case BinaryOp::kSoftsignGrad:
      return Binary(SoftsignGrad<float>(), x, y, z, n, b, s);
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchFloatPredicate(FloatPredicate op, const float* x, bool* y, int64_t n,
                                 cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  switch (op) {
    case FloatPredicate::kIsNan:
      PredicateKernel<<<Blocks(n), kThreads, 0, s>>>(functor::IsNanOp<float>(), x, y, n);
      break;
    case FloatPredicate::kIsInf:
      PredicateKernel<<<Blocks(n), kThreads, 0, s>>>(functor::IsInfOp<float>(), x, y, n);
      break;
    case FloatPredicate::kIsFinite:
      PredicateKernel<<<Blocks(n), kThreads, 0, s>>>(functor::IsFiniteOp<float>(), x, y, n);
      break;
  }
  return cudaGetLastError();
}

cudaError_t LaunchClip(const float* x, const float* lo, const float* hi, float* y, int64_t n,
                       bool lo_scalar, bool hi_scalar, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  ClipKernel<<<Blocks(n), kThreads, 0, s>>>(x, lo, hi, y, n, lo_scalar ? 0 : 1, hi_scalar ? 0 : 1);
  return cudaGetLastError();
}

cudaError_t LaunchL2Loss(const float* x, float* out, int64_t n, cudaStream_t s) {
  L2LossKernel<<<1, kThreads, 0, s>>>(x, out, n);
  return cudaGetLastError();
}

cudaError_t LaunchBiasAdd(const float* x, const float* bias, float* y, int64_t n, int64_t c,
                          int64_t inner, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  BiasAddKernel<<<Blocks(n), kThreads, 0, s>>>(x, bias, y, n, c, inner);
  return cudaGetLastError();
}

cudaError_t LaunchSoftmax(const float* logits, float* out, int64_t rows, int64_t cols, bool log,
                          cudaStream_t s) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  SoftmaxKernel<<<Blocks(rows), kThreads, 0, s>>>(logits, out, rows, cols, log);
  return cudaGetLastError();
}

cudaError_t LaunchSoftmaxXent(const float* logits, const float* labels, float* loss,
                              float* backprop, int64_t rows, int64_t cols, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  XentKernel<<<Blocks(rows), kThreads, 0, s>>>(logits, labels, loss, backprop, rows, cols);
  return cudaGetLastError();
}

cudaError_t LaunchSparseSoftmaxXent(const float* logits, const void* labels, bool int64_labels,
                                    float* loss, float* backprop, int64_t rows, int64_t cols,
                                    cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  if (int64_labels) {
    SparseXentKernel<<<Blocks(rows), kThreads, 0, s>>>(logits, static_cast<const int64_t*>(labels),
                                                       loss, backprop, rows, cols);
  } else {
    SparseXentKernel<<<Blocks(rows), kThreads, 0, s>>>(logits, static_cast<const int32_t*>(labels),
                                                       loss, backprop, rows, cols);
  }
  return cudaGetLastError();
}

cudaError_t LaunchAssignUpdate(float* var, const float* value, int64_t n, bool add,
                               cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  AssignUpdateKernel<<<Blocks(n), kThreads, 0, s>>>(var, value, n, add);
  return cudaGetLastError();
}

cudaError_t LaunchApplyGradientDescent(float* var, const float* alpha, const float* delta,
                                       int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  GradientDescentKernel<<<Blocks(n), kThreads, 0, s>>>(var, alpha, delta, n);
  return cudaGetLastError();
}

cudaError_t LaunchApplyMomentum(float* var, float* accum, const float* lr, const float* grad,
                                const float* momentum, int64_t n, bool nesterov, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  MomentumKernel<<<Blocks(n), kThreads, 0, s>>>(var, accum, lr, grad, momentum, n, nesterov);
  return cudaGetLastError();
}

cudaError_t LaunchApplyAdam(float* var, float* m, float* v, const float* beta1_power,
                            const float* beta2_power, const float* lr, const float* beta1,
                            const float* beta2, const float* epsilon, const float* grad, int64_t n,
                            bool nesterov, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  AdamKernel<<<Blocks(n), kThreads, 0, s>>>(var, m, v, beta1_power, beta2_power, lr, beta1, beta2,
                                            epsilon, grad, n, nesterov);
  return cudaGetLastError();
}

cudaError_t LaunchRandom(RandomDist dist, const random::Philox4x32& base, float* out, int64_t n,
                         cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  const int blocks = Blocks((n + 3) / 4);
  switch (dist) {
    case RandomDist::kUniform:
      RandomKernel<random::UniformDist<float>><<<blocks, kThreads, 0, s>>>(base, 1, out, n);
      break;
    case RandomDist::kNormal:
      RandomKernel<random::NormalDist<float>><<<blocks, kThreads, 0, s>>>(base, 1, out, n);
      break;
    case RandomDist::kTruncatedNormal:
      RandomKernel<random::TruncatedNormalDist<float>><<<blocks, kThreads, 0, s>>>(
          base, random::TruncatedNormalDist<float>::kSkipPerGroup, out, n);
      break;
  }
  return cudaGetLastError();
}

cudaError_t LaunchFill(float* out, int64_t n, float value, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  FillKernel<<<Blocks(n), kThreads, 0, s>>>(out, n, value);
  return cudaGetLastError();
}

cudaError_t LaunchBatchNorm(const float* x, const float* scale, const float* offset,
                            const float* mean, const float* var, float epsilon, float factor,
                            bool training, int64_t count, int64_t channels, int64_t inner, float* y,
                            float* batch_mean, float* batch_var, float* saved_mean,
                            float* saved_var, float* mul_add, cudaStream_t s) {
  if (channels == 0) return cudaSuccess;
  float* mul = mul_add;
  float* add = mul_add + channels;
  if (training) {
    const int blocks = static_cast<int>(channels < 65536 ? channels : 65536);
    BatchNormStatsKernel<<<blocks, kThreads, 0, s>>>(x, scale, offset, mean, var, epsilon, factor,
                                                     count, channels, inner, batch_mean, batch_var,
                                                     saved_mean, saved_var, mul, add);
  } else {
    BatchNormCoefficientsKernel<<<Blocks(channels), kThreads, 0, s>>>(scale, offset, mean, var,
                                                                      epsilon, channels, mul, add);
  }
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess || count == 0) return err;
  AffineKernel<<<Blocks(count * channels), kThreads, 0, s>>>(x, mul, add, y, count * channels,
                                                             channels, inner);
  return cudaGetLastError();
}

cudaError_t LaunchFillFrom(float* out, int64_t n, const float* value, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  FillFromKernel<<<Blocks(n), kThreads, 0, s>>>(out, n, value);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace quiver
