// Data-movement kernels over the index maps of devices/common/movement_helpers.h: one thread
// per output element (grid-stride), element types by size.
#include "devices/cuda/kernels/launch_util.cuh"
#include "devices/cuda/kernels/movement_launchers.h"

namespace quiver {
namespace cuda {
namespace {

// Calls body.template operator()<E>() with E the unsigned type of `esize` bytes.
template <typename F>
cudaError_t BySize(size_t esize, F body) {
  switch (esize) {
    case 1:
      return body(uint8_t{});
    case 2:
      return body(uint16_t{});
    case 4:
      return body(uint32_t{});
    case 8:
      return body(uint64_t{});
    default:
      return cudaErrorInvalidValue;
  }
}

template <typename E>
__global__ void PadKernel(const E* in, E* out, movement::PadIndexer ix, const E* value, int64_t n) {
  const E pad = value != nullptr ? *value : E{};
  QUIVER_GRID_LOOP(i, n) {
    const int64_t src = ix.SourceOffset(i);
    out[i] = src >= 0 ? in[src] : pad;
  }
}

template <typename E>
__global__ void SelectKernel(const bool* cond, const E* t, const E* e, E* out,
                             movement::MultiBroadcastIndexer ix, int64_t n) {
  QUIVER_GRID_LOOP(i, n) {
    int64_t off[movement::kMaxInputs];
    ix.Offsets(i, off);
    out[i] = cond[off[0]] ? t[off[1]] : e[off[2]];
  }
}

__global__ void LogicalKernel(bool is_and, const bool* x, const bool* y, bool* z,
                              movement::MultiBroadcastIndexer ix, int64_t n) {
  QUIVER_GRID_LOOP(i, n) {
    int64_t off[movement::kMaxInputs];
    ix.Offsets(i, off);
    const bool a = x[off[0]], b = y[off[1]];
    z[i] = is_and ? (a && b) : (a || b);
  }
}

__global__ void LogicalNotKernel(const bool* x, bool* y, int64_t n) {
  QUIVER_GRID_LOOP(i, n) { y[i] = !x[i]; }
}

template <typename E>
__global__ void GatherV2Kernel(const E* params, const int64_t* indices, E* out,
                               movement::GatherIndexer ix, int64_t n) {
  QUIVER_GRID_LOOP(i, n) {
    // An index outside [0, limit) (reported by a deferred check) gathers zero, never reads.
    const int64_t idx = indices[ix.IndexPosition(i)];
    out[i] = idx >= 0 && idx < ix.limit ? params[ix.SourceOffset(i, idx)] : E{};
  }
}

template <typename E, typename I>
__global__ void OneHotKernel(const I* indices, const E* on, const E* off, E* out,
                             movement::OneHotIndexer ix, int64_t n) {
  const E on_v = *on, off_v = *off;
  QUIVER_GRID_LOOP(i, n) {
    const int64_t idx = static_cast<int64_t>(indices[ix.IndexPosition(i)]);
    out[i] = idx == ix.DepthSlot(i) ? on_v : off_v;
  }
}

template <typename E>
__global__ void CopyRowsKernel(const E* src, E* dst, int64_t row, const int64_t* rows, int64_t n) {
  QUIVER_GRID_LOOP(i, n) {
    const int64_t p = i / row, j = i % row;
    dst[rows[2 * p + 1] * row + j] = src[rows[2 * p] * row + j];
  }
}

}  // namespace

cudaError_t LaunchPad(const void* in, void* out, size_t esize, const movement::PadIndexer& ix,
                      const void* pad_value, cudaStream_t s) {
  const int64_t n = ix.NumOutputs();
  if (n == 0) return cudaSuccess;
  return BySize(esize, [&](auto zero) {
    using E = decltype(zero);
    PadKernel<E><<<Blocks(n), kThreads, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out), ix,
                                                static_cast<const E*>(pad_value), n);
    return cudaGetLastError();
  });
}

cudaError_t LaunchSelect(const bool* cond, const void* t, const void* e, void* out, size_t esize,
                         const movement::MultiBroadcastIndexer& ix, cudaStream_t s) {
  const int64_t n = ix.NumElements();
  if (n == 0) return cudaSuccess;
  return BySize(esize, [&](auto zero) {
    using E = decltype(zero);
    SelectKernel<E><<<Blocks(n), kThreads, 0, s>>>(
        cond, static_cast<const E*>(t), static_cast<const E*>(e), static_cast<E*>(out), ix, n);
    return cudaGetLastError();
  });
}

cudaError_t LaunchLogical(LogicalOp op, const bool* x, const bool* y, bool* z,
                          const movement::MultiBroadcastIndexer& ix, cudaStream_t s) {
  const int64_t n = ix.NumElements();
  if (n == 0) return cudaSuccess;
  LogicalKernel<<<Blocks(n), kThreads, 0, s>>>(op == LogicalOp::kAnd, x, y, z, ix, n);
  return cudaGetLastError();
}

cudaError_t LaunchLogicalNot(const bool* x, bool* y, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  LogicalNotKernel<<<Blocks(n), kThreads, 0, s>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t LaunchGatherV2(const void* params, const int64_t* indices, void* out, size_t esize,
                           const movement::GatherIndexer& ix, cudaStream_t s) {
  const int64_t n = ix.NumOutputs();
  if (n == 0) return cudaSuccess;
  return BySize(esize, [&](auto zero) {
    using E = decltype(zero);
    GatherV2Kernel<E><<<Blocks(n), kThreads, 0, s>>>(static_cast<const E*>(params), indices,
                                                     static_cast<E*>(out), ix, n);
    return cudaGetLastError();
  });
}

cudaError_t LaunchOneHot(const void* indices, IndexType index_type, const void* on, const void* off,
                         void* out, size_t esize, const movement::OneHotIndexer& ix,
                         cudaStream_t s) {
  const int64_t n = ix.NumOutputs();
  if (n == 0) return cudaSuccess;
  return BySize(esize, [&](auto zero) {
    using E = decltype(zero);
    const E* on_e = static_cast<const E*>(on);
    const E* off_e = static_cast<const E*>(off);
    E* out_e = static_cast<E*>(out);
    switch (index_type) {
      case IndexType::kInt32:
        OneHotKernel<E, int32_t><<<Blocks(n), kThreads, 0, s>>>(
            static_cast<const int32_t*>(indices), on_e, off_e, out_e, ix, n);
        break;
      case IndexType::kInt64:
        OneHotKernel<E, int64_t><<<Blocks(n), kThreads, 0, s>>>(
            static_cast<const int64_t*>(indices), on_e, off_e, out_e, ix, n);
        break;
      case IndexType::kUint8:
        OneHotKernel<E, uint8_t><<<Blocks(n), kThreads, 0, s>>>(
            static_cast<const uint8_t*>(indices), on_e, off_e, out_e, ix, n);
        break;
      case IndexType::kInt8:
        OneHotKernel<E, int8_t><<<Blocks(n), kThreads, 0, s>>>(static_cast<const int8_t*>(indices),
                                                               on_e, off_e, out_e, ix, n);
        break;
      default:
        return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
  });
}

cudaError_t LaunchCopyRows(const void* src, void* dst, size_t esize, int64_t row,
                           const int64_t* rows, int64_t count, cudaStream_t s) {
  const int64_t n = row * count;
  if (n == 0) return cudaSuccess;
  return BySize(esize, [&](auto zero) {
    using E = decltype(zero);
    CopyRowsKernel<E><<<Blocks(n), kThreads, 0, s>>>(static_cast<const E*>(src),
                                                     static_cast<E*>(dst), row, rows, n);
    return cudaGetLastError();
  });
}

}  // namespace cuda
}  // namespace quiver
