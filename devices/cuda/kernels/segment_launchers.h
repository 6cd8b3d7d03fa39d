// Launchers of the segment-reduction kernels (UnsortedSegmentSum), implemented in
// segment_kernels.cu. Like movement_launchers.h: plain functions over device pointers and a
// stream; the OpKernel lives in gpu_segment_ops.cc. Every launcher returns the launch's
// cudaError_t (cudaSuccess when there is nothing to do).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace quiver {
namespace cuda {

// out [num_segments, inner] = 0, then out[ids[j], k] += data[j, k] (atomicAdd) for j < n and
// every k < inner. `ids` (device int64): negative ids and ids >= num_segments (which the
// caller reports as errors) are skipped. The summation order (and so the float rounding) is not
// fixed.
cudaError_t LaunchUnsortedSegmentSumF32(const float* data, const int64_t* ids, float* out,
                                        int64_t n, int64_t inner, int64_t num_segments,
                                        cudaStream_t stream);

}  // namespace cuda
}  // namespace quiver
