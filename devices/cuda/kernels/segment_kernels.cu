// UnsortedSegmentSum kernel (see segment_launchers.h): one thread per data element, atomicAdd
// into the output row its segment id names.
#include "devices/cuda/kernels/launch_util.cuh"
#include "devices/cuda/kernels/segment_launchers.h"

namespace quiver {
namespace cuda {
namespace {

__global__ void UnsortedSegmentSumF32Kernel(const float* data, const int64_t* ids, float* out,
                                            int64_t inner, int64_t total, int64_t num_segments) {
  QUIVER_GRID_LOOP(i, total) {
    const int64_t j = i / inner;
    const int64_t s = ids[j];
    // s >= num_segments: a bad id a deferred check reports; never written out of bounds.
    if (s >= 0 && s < num_segments) atomicAdd(out + s * inner + (i - j * inner), data[i]);
  }
}

}  // namespace

cudaError_t LaunchUnsortedSegmentSumF32(const float* data, const int64_t* ids, float* out,
                                        int64_t n, int64_t inner, int64_t num_segments,
                                        cudaStream_t stream) {
  const int64_t out_elements = num_segments * inner;
  if (out_elements == 0) return cudaSuccess;
  cudaError_t err =
      cudaMemsetAsync(out, 0, static_cast<size_t>(out_elements) * sizeof(float), stream);
  if (err != cudaSuccess) return err;
  const int64_t total = n * inner;
  if (total == 0) return cudaSuccess;
  UnsortedSegmentSumF32Kernel<<<Blocks(total), kThreads, 0, stream>>>(data, ids, out, inner, total,
                                                                      num_segments);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace quiver
