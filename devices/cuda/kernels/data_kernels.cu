// Data movement (gather/scatter through index::StridedIndexer: transpose, slice, strided
// slice, concat) and reductions (one block per output element, through index::ReduceIndexer).
#include <cfloat>

#include "devices/common/cwise_functors.h"
#include "devices/common/nn_functors.h"
#include "devices/cuda/kernels/launch_util.cuh"
#include "devices/cuda/kernels/launchers.h"

namespace quiver {
namespace cuda {
namespace {

template <typename E>
__global__ void GatherKernel(const E* src, E* dst, index::StridedIndexer ix, int64_t n) {
  QUIVER_GRID_LOOP(i, n) { dst[i] = src[ix.Offset(i)]; }
}

template <typename E>
__global__ void ScatterKernel(const E* src, E* dst, index::StridedIndexer ix, int64_t n) {
  QUIVER_GRID_LOOP(i, n) { dst[ix.Offset(i)] = src[i]; }
}

template <bool kScatter>
cudaError_t Move(const void* src, void* dst, size_t esize, const index::StridedIndexer& ix,
                 cudaStream_t s) {
  const int64_t n = ix.NumElements();
  if (n == 0) return cudaSuccess;
  const int b = Blocks(n);
#define QUIVER_MOVE_CASE(bytes, E)                                                          \
  case bytes:                                                                               \
    if (kScatter) {                                                                         \
      ScatterKernel<E>                                                                      \
          <<<b, kThreads, 0, s>>>(static_cast<const E*>(src), static_cast<E*>(dst), ix, n); \
    } else {                                                                                \
      GatherKernel<E>                                                                       \
          <<<b, kThreads, 0, s>>>(static_cast<const E*>(src), static_cast<E*>(dst), ix, n); \
    }                                                                                       \
    break;
  switch (esize) {
    QUIVER_MOVE_CASE(1, uint8_t)
    QUIVER_MOVE_CASE(2, uint16_t)
    QUIVER_MOVE_CASE(4, uint32_t)
    QUIVER_MOVE_CASE(8, uint64_t)
    default:
      return cudaErrorInvalidValue;
  }
#undef QUIVER_MOVE_CASE
  return cudaGetLastError();
}

// Sums and products accumulate in double, as the CPU kernels do (long or cancelling sums
// would otherwise drift from the CPU reference); max/min are exact in float.
struct SumR {
  using Acc = double;
  __device__ Acc Init() const { return 0.0; }
  __device__ Acc operator()(Acc a, Acc b) const { return a + b; }
};
struct ProdR {
  using Acc = double;
  __device__ Acc Init() const { return 1.0; }
  __device__ Acc operator()(Acc a, Acc b) const { return a * b; }
};
struct MaxR {
  using Acc = float;
  __device__ Acc Init() const { return -FLT_MAX * 2.f; }  // -inf
  __device__ Acc operator()(Acc a, Acc b) const { return functor::Maximum<float>()(a, b); }
};
struct MinR {
  using Acc = float;
  __device__ Acc Init() const { return FLT_MAX * 2.f; }  // +inf
  __device__ Acc operator()(Acc a, Acc b) const { return functor::Minimum<float>()(a, b); }
};

// One block per output (grid-stride over outputs); threads stride over the reduced elements,
// then a shared-memory tree combines them. `count` divides the result (Mean), else 1.
template <typename R>
__global__ void ReduceKernel(R r, const float* x, float* y, index::ReduceIndexer ix, double count) {
  using Acc = typename R::Acc;
  __shared__ Acc partial[kThreads];
  for (int64_t o = blockIdx.x; o < ix.num_outputs; o += gridDim.x) {
    const int64_t base = ix.kept.Offset(o);
    Acc acc = r.Init();
    for (int64_t k = threadIdx.x; k < ix.num_reduced; k += blockDim.x) {
      acc = r(acc, static_cast<Acc>(x[base + ix.reduce.Offset(k)]));
    }
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) partial[threadIdx.x] = r(partial[threadIdx.x], partial[threadIdx.x + w]);
      __syncthreads();
    }
    if (threadIdx.x == 0) y[o] = static_cast<float>(partial[0] / static_cast<Acc>(count));
    __syncthreads();
  }
}

// (value, index) pairs; NaN beats everything, then the larger (smaller) value, then the lower
// index, matching a sequential scan that keeps the first extreme.
__device__ bool ArgBetter(bool is_min, float a, int64_t ai, float b, int64_t bi) {
  const bool an = a != a, bn = b != b;
  if (an || bn) return an && (!bn || ai < bi);
  if (a == b) return ai < bi;
  return is_min ? a < b : a > b;
}

template <typename OutT>
__global__ void ArgKernel(bool is_min, const float* x, OutT* y, index::ReduceIndexer ix) {
  __shared__ float pv[kThreads];
  __shared__ int64_t pi[kThreads];
  for (int64_t o = blockIdx.x; o < ix.num_outputs; o += gridDim.x) {
    const int64_t base = ix.kept.Offset(o);
    float best = 0.f;
    int64_t best_i = -1;
    for (int64_t k = threadIdx.x; k < ix.num_reduced; k += blockDim.x) {
      const float v = x[base + ix.reduce.Offset(k)];
      if (best_i < 0 || ArgBetter(is_min, v, k, best, best_i)) {
        best = v;
        best_i = k;
      }
    }
    pv[threadIdx.x] = best;
    pi[threadIdx.x] = best_i;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) {
        const int64_t j = pi[threadIdx.x + w];
        if (j >= 0 && (pi[threadIdx.x] < 0 || ArgBetter(is_min, pv[threadIdx.x + w], j,
                                                        pv[threadIdx.x], pi[threadIdx.x]))) {
          pv[threadIdx.x] = pv[threadIdx.x + w];
          pi[threadIdx.x] = j;
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) y[o] = static_cast<OutT>(pi[0] < 0 ? 0 : pi[0]);
    __syncthreads();
  }
}

// ---- pooling (index::PoolGeometry windows) ----

__global__ void MaxPoolKernel(const float* x, float* y, index::PoolGeometry g) {
  QUIVER_GRID_LOOP(o, g.NumOutputs()) {
    int64_t b, ch, h0, h1, w0, w1;
    g.Window(o, &b, &ch, &h0, &h1, &w0, &w1);
    // As the CPU kernel (std::max from the lowest float): NaN never replaces the running
    // maximum, and a window wholly in padding gives -FLT_MAX.
    float m = -FLT_MAX;
    for (int64_t yy = h0; yy < h1; ++yy) {
      for (int64_t xx = w0; xx < w1; ++xx) {
        const float v = x[g.InputOffset(b, yy, xx, ch)];
        m = m < v ? v : m;
      }
    }
    y[o] = m;
  }
}

__global__ void AvgPoolKernel(const float* x, float* y, index::PoolGeometry g) {
  QUIVER_GRID_LOOP(o, g.NumOutputs()) {
    int64_t b, ch, h0, h1, w0, w1;
    g.Window(o, &b, &ch, &h0, &h1, &w0, &w1);
    float s = 0.f;
    for (int64_t yy = h0; yy < h1; ++yy) {
      for (int64_t xx = w0; xx < w1; ++xx) s += x[g.InputOffset(b, yy, xx, ch)];
    }
    const int64_t count = (h1 - h0) * (w1 - w0);
    y[o] = count > 0 ? s / static_cast<float>(count) : 0.f;
  }
}

// Gradient to the first maximum of each window (row-major scan, the CPU kernel's choice),
// accumulated atomically: windows overlap when stride < ksize.
__global__ void MaxPoolGradKernel(const float* x, const float* dy, float* dx,
                                  index::PoolGeometry g) {
  QUIVER_GRID_LOOP(o, g.NumOutputs()) {
    int64_t b, ch, h0, h1, w0, w1;
    g.Window(o, &b, &ch, &h0, &h1, &w0, &w1);
    int64_t best = -1;
    float m = 0.f;
    for (int64_t yy = h0; yy < h1; ++yy) {
      for (int64_t xx = w0; xx < w1; ++xx) {
        const int64_t at = g.InputOffset(b, yy, xx, ch);
        const float v = x[at];
        if (best < 0 || m < v) {  // the CPU's rule: strict, so ties and NaN keep the first
          m = v;
          best = at;
        }
      }
    }
    if (best >= 0) atomicAdd(dx + best, dy[o]);
  }
}

__global__ void AvgPoolGradKernel(const float* dy, float* dx, index::PoolGeometry g) {
  QUIVER_GRID_LOOP(o, g.NumOutputs()) {
    int64_t b, ch, h0, h1, w0, w1;
    g.Window(o, &b, &ch, &h0, &h1, &w0, &w1);
    const int64_t count = (h1 - h0) * (w1 - w0);
    if (count == 0) continue;
    const float share = dy[o] / static_cast<float>(count);
    for (int64_t yy = h0; yy < h1; ++yy) {
      for (int64_t xx = w0; xx < w1; ++xx) atomicAdd(dx + g.InputOffset(b, yy, xx, ch), share);
    }
  }
}

// ---- comparisons and casts ----

template <typename F, typename T>
__global__ void CompareKernel(F f, const T* x, const T* y, bool* z, int64_t n,
                              functor::BroadcastIndexer b) {
  QUIVER_GRID_LOOP(i, n) {
    int64_t xo, yo;
    b.Offsets(i, &xo, &yo);
    z[i] = f(x[xo], y[yo]);
  }
}

template <typename T>
cudaError_t CompareTyped(CompareOp op, const void* xv, const void* yv, bool* z, int64_t n,
                         const functor::BroadcastIndexer& b, cudaStream_t s) {
  const T* x = static_cast<const T*>(xv);
  const T* y = static_cast<const T*>(yv);
  const int g = Blocks(n);
  switch (op) {
    case CompareOp::kEqual:
      CompareKernel<<<g, kThreads, 0, s>>>(functor::Equal<T>(), x, y, z, n, b);
      break;
    case CompareOp::kNotEqual:
      CompareKernel<<<g, kThreads, 0, s>>>(functor::NotEqual<T>(), x, y, z, n, b);
      break;
    case CompareOp::kLess:
      CompareKernel<<<g, kThreads, 0, s>>>(functor::Less<T>(), x, y, z, n, b);
      break;
    case CompareOp::kLessEqual:
      CompareKernel<<<g, kThreads, 0, s>>>(functor::LessEqual<T>(), x, y, z, n, b);
      break;
    case CompareOp::kGreater:
      CompareKernel<<<g, kThreads, 0, s>>>(functor::Greater<T>(), x, y, z, n, b);
      break;
    case CompareOp::kGreaterEqual:
      CompareKernel<<<g, kThreads, 0, s>>>(functor::GreaterEqual<T>(), x, y, z, n, b);
      break;
  }
  return cudaGetLastError();
}

template <typename To, typename From>
__global__ void CastKernel(const From* x, To* y, int64_t n) {
  QUIVER_GRID_LOOP(i, n) { y[i] = functor::CastValue<To>(x[i]); }
}

template <typename From>
cudaError_t CastFrom(ElemType to, const void* xv, void* y, int64_t n, cudaStream_t s) {
  const From* x = static_cast<const From*>(xv);
  const int g = Blocks(n);
  switch (to) {
    case ElemType::kFloat:
      CastKernel<<<g, kThreads, 0, s>>>(x, static_cast<float*>(y), n);
      break;
    case ElemType::kDouble:
      CastKernel<<<g, kThreads, 0, s>>>(x, static_cast<double*>(y), n);
      break;
    case ElemType::kInt32:
      CastKernel<<<g, kThreads, 0, s>>>(x, static_cast<int32_t*>(y), n);
      break;
    case ElemType::kInt64:
      CastKernel<<<g, kThreads, 0, s>>>(x, static_cast<int64_t*>(y), n);
      break;
    case ElemType::kBool:
      CastKernel<<<g, kThreads, 0, s>>>(x, static_cast<bool*>(y), n);
      break;
  }
  return cudaGetLastError();
}

int OutputBlocks(int64_t outputs) {
  return static_cast<int>(outputs < 65536 ? (outputs < 1 ? 1 : outputs) : 65536);
}

}  // namespace

cudaError_t LaunchGather(const void* src, void* dst, size_t esize, const index::StridedIndexer& ix,
                         cudaStream_t s) {
  return Move<false>(src, dst, esize, ix, s);
}

cudaError_t LaunchScatter(const void* src, void* dst, size_t esize, const index::StridedIndexer& ix,
                          cudaStream_t s) {
  return Move<true>(src, dst, esize, ix, s);
}

cudaError_t LaunchReduce(ReduceOp op, const float* x, float* y, const index::ReduceIndexer& ix,
                         cudaStream_t s) {
  if (ix.num_outputs == 0) return cudaSuccess;
  const int b = OutputBlocks(ix.num_outputs);
  switch (op) {
    case ReduceOp::kSum:
      ReduceKernel<<<b, kThreads, 0, s>>>(SumR(), x, y, ix, 1.0);
      break;
    case ReduceOp::kMean:  // 0/0 = NaN for an empty reduction, as in TF
      ReduceKernel<<<b, kThreads, 0, s>>>(SumR(), x, y, ix, static_cast<double>(ix.num_reduced));
      break;
    case ReduceOp::kProd:
      ReduceKernel<<<b, kThreads, 0, s>>>(ProdR(), x, y, ix, 1.0);
      break;
    case ReduceOp::kMax:
      ReduceKernel<<<b, kThreads, 0, s>>>(MaxR(), x, y, ix, 1.0);
      break;
    case ReduceOp::kMin:
      ReduceKernel<<<b, kThreads, 0, s>>>(MinR(), x, y, ix, 1.0);
      break;
  }
  return cudaGetLastError();
}

cudaError_t LaunchArgMax(bool is_min, const float* x, void* y, bool int64_output,
                         const index::ReduceIndexer& ix, cudaStream_t s) {
  if (ix.num_outputs == 0) return cudaSuccess;
  if (int64_output) {
    ArgKernel<<<OutputBlocks(ix.num_outputs), kThreads, 0, s>>>(is_min, x, static_cast<int64_t*>(y),
                                                                ix);
  } else {
    ArgKernel<<<OutputBlocks(ix.num_outputs), kThreads, 0, s>>>(is_min, x, static_cast<int32_t*>(y),
                                                                ix);
  }
  return cudaGetLastError();
}

cudaError_t LaunchCompare(CompareOp op, ElemType type, const void* x, const void* y, bool* z,
                          int64_t n, const functor::BroadcastIndexer& b, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  switch (type) {
    case ElemType::kFloat:
      return CompareTyped<float>(op, x, y, z, n, b, s);
    case ElemType::kDouble:
      return CompareTyped<double>(op, x, y, z, n, b, s);
    case ElemType::kInt32:
      return CompareTyped<int32_t>(op, x, y, z, n, b, s);
    case ElemType::kInt64:
      return CompareTyped<int64_t>(op, x, y, z, n, b, s);
    case ElemType::kBool:
      return CompareTyped<bool>(op, x, y, z, n, b, s);
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchCast(ElemType from, ElemType to, const void* x, void* y, int64_t n,
                       cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  switch (from) {
    case ElemType::kFloat:
      return CastFrom<float>(to, x, y, n, s);
    case ElemType::kDouble:
      return CastFrom<double>(to, x, y, n, s);
    case ElemType::kInt32:
      return CastFrom<int32_t>(to, x, y, n, s);
    case ElemType::kInt64:
      return CastFrom<int64_t>(to, x, y, n, s);
    case ElemType::kBool:
      return CastFrom<bool>(to, x, y, n, s);
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchPool(bool is_max, const float* x, float* y, const index::PoolGeometry& g,
                       cudaStream_t s) {
  const int64_t n = g.NumOutputs();
  if (n == 0) return cudaSuccess;
  if (is_max) {
    MaxPoolKernel<<<Blocks(n), kThreads, 0, s>>>(x, y, g);
  } else {
    AvgPoolKernel<<<Blocks(n), kThreads, 0, s>>>(x, y, g);
  }
  return cudaGetLastError();
}

cudaError_t LaunchPoolGrad(bool is_max, const float* x, const float* dy, float* dx,
                           const index::PoolGeometry& g, cudaStream_t s) {
  const int64_t in_n = g.n * g.h * g.w * g.c;
  if (in_n == 0) return cudaSuccess;
  cudaError_t err = cudaMemsetAsync(dx, 0, static_cast<size_t>(in_n) * sizeof(float), s);
  if (err != cudaSuccess) return err;
  const int64_t n = g.NumOutputs();
  if (n == 0) return cudaSuccess;
  if (is_max) {
    MaxPoolGradKernel<<<Blocks(n), kThreads, 0, s>>>(x, dy, dx, g);
  } else {
    AvgPoolGradKernel<<<Blocks(n), kThreads, 0, s>>>(dy, dx, g);
  }
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace quiver
