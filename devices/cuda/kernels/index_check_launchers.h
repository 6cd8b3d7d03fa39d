// Launcher of the device-side index range check (index_check_kernels.cu). Lets GatherV2,
// UnsortedSegmentSum and SparseSoftmaxCrossEntropyWithLogits validate device-resident indices
// without waiting for the stream: the result is copied to pinned host memory and read after
// the step (devices/deferred_checks.h, deferred_index_check.h).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace quiver {
namespace cuda {

enum class CheckIndexType { kInt16, kInt32, kInt64 };

// bad[0] = the first position p < count with indices[p] outside [lo, hi) (INT64_MAX when none)
// and bad[1] = indices[p] (0 when none). `bad`: 2 device int64. `widened` (may be null):
// receives the indices as int64. Three launches on `stream`.
cudaError_t LaunchCheckIndices(const void* indices, CheckIndexType type, int64_t count, int64_t lo,
                               int64_t hi, int64_t* widened, int64_t* bad, cudaStream_t stream);

}  // namespace cuda
}  // namespace quiver
