// Device-side index range check (see index_check_launchers.h).
#include <cstdint>

#include "devices/cuda/kernels/index_check_launchers.h"
#include "devices/cuda/kernels/launch_util.cuh"

namespace quiver {
namespace cuda {
namespace {

constexpr long long kNone = INT64_MAX;

__global__ void InitBadKernel(int64_t* bad) {
  bad[0] = kNone;
  bad[1] = 0;
}

template <typename I>
__global__ void CheckIndicesKernel(const I* indices, int64_t count, int64_t lo, int64_t hi,
                                   int64_t* widened, int64_t* bad) {
  QUIVER_GRID_LOOP(i, count) {
    const int64_t v = static_cast<int64_t>(indices[i]);
    if (widened != nullptr) widened[i] = v;
    if (v < lo || v >= hi) {
      atomicMin(reinterpret_cast<long long*>(bad), static_cast<long long>(i));
    }
  }
}

template <typename I>
__global__ void BadValueKernel(const I* indices, int64_t* bad) {
  if (bad[0] != kNone) bad[1] = static_cast<int64_t>(indices[bad[0]]);
}

template <typename I>
cudaError_t Launch(const void* indices_v, int64_t count, int64_t lo, int64_t hi, int64_t* widened,
                   int64_t* bad, cudaStream_t s) {
  const I* indices = static_cast<const I*>(indices_v);
  InitBadKernel<<<1, 1, 0, s>>>(bad);
  if (count > 0) {
    CheckIndicesKernel<I><<<Blocks(count), kThreads, 0, s>>>(indices, count, lo, hi, widened, bad);
    BadValueKernel<I><<<1, 1, 0, s>>>(indices, bad);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchCheckIndices(const void* indices, CheckIndexType type, int64_t count, int64_t lo,
                               int64_t hi, int64_t* widened, int64_t* bad, cudaStream_t stream) {
  switch (type) {
    case CheckIndexType::kInt16:
      return Launch<int16_t>(indices, count, lo, hi, widened, bad, stream);
    case CheckIndexType::kInt32:
      return Launch<int32_t>(indices, count, lo, hi, widened, bad, stream);
    case CheckIndexType::kInt64:
      return Launch<int64_t>(indices, count, lo, hi, widened, bad, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace cuda
}  // namespace quiver
