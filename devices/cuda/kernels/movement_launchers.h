// Launchers of the data-movement kernels (Pad, SelectV2, LogicalAnd/Or/Not, GatherV2, OneHot,
// DynamicStitch), implemented in movement_kernels.cu. Like launchers.h: plain functions over
// device pointers and a stream that see only devices/common; the OpKernels live in
// gpu_movement_ops.cc. Kernels that only move bytes work on element sizes of 1, 2, 4 or 8
// bytes (any other size returns cudaErrorInvalidValue). Every launcher returns the launch's
// cudaError_t (cudaSuccess when there is nothing to do).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "devices/common/movement_helpers.h"

namespace quiver {
namespace cuda {

enum class LogicalOp { kAnd, kOr };
// Element types of index tensors read on the device (OneHot).
enum class IndexType { kInt32, kInt64, kUint8, kInt8 };

// out[i] = in[ix.SourceOffset(i)], or *pad_value (a device scalar) where that is -1; zero bytes
// when pad_value is null.
cudaError_t LaunchPad(const void* in, void* out, size_t element_size,
                      const movement::PadIndexer& ix, const void* pad_value, cudaStream_t stream);
// out[i] = cond[o0] ? t[o1] : e[o2] with offsets from ix (inputs: 0 cond, 1 t, 2 e).
cudaError_t LaunchSelect(const bool* cond, const void* t, const void* e, void* out,
                         size_t element_size, const movement::MultiBroadcastIndexer& ix,
                         cudaStream_t stream);
// z[i] = x[o0] && y[o1] (or ||) with offsets from ix.
cudaError_t LaunchLogical(LogicalOp op, const bool* x, const bool* y, bool* z,
                          const movement::MultiBroadcastIndexer& ix, cudaStream_t stream);
// y[i] = !x[i].
cudaError_t LaunchLogicalNot(const bool* x, bool* y, int64_t n, cudaStream_t stream);
// out[i] = params[ix.SourceOffset(i, indices[ix.IndexPosition(i)])]. An index outside
// [0, ix.limit) (the caller reports it) gives zero bytes rather than an out-of-bounds read.
cudaError_t LaunchGatherV2(const void* params, const int64_t* indices, void* out,
                           size_t element_size, const movement::GatherIndexer& ix,
                           cudaStream_t stream);
// out[i] = indices[ix.IndexPosition(i)] == ix.DepthSlot(i) ? *on : *off (on, off: device
// scalars); out-of-range indices give an all-off row.
cudaError_t LaunchOneHot(const void* indices, IndexType index_type, const void* on, const void* off,
                         void* out, size_t element_size, const movement::OneHotIndexer& ix,
                         cudaStream_t stream);
// For p < count: dst row rows[2p + 1] = src row rows[2p] (rows of row_elements elements;
// `rows` is a device array). Destination rows must be distinct.
cudaError_t LaunchCopyRows(const void* src, void* dst, size_t element_size, int64_t row_elements,
                           const int64_t* rows, int64_t count, cudaStream_t stream);

}  // namespace cuda
}  // namespace quiver
