// Host side of the deferred index range check (index_check_launchers.h): used by the GPU
// GatherV2, UnsortedSegmentSum and SparseSoftmaxCrossEntropyWithLogits kernels when their
// index tensor is device-resident and the step collects deferred checks, so that they never
// wait for the stream mid-step. The check's result (and optionally the first bytes of the
// indices, for the error message) is copied into a pinned host slot on the compute stream; the
// executor runs the registered check after waiting for the device.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/index_check_launchers.h"
#include "devices/deferred_checks.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {

// Whether `indices` can be checked without a sync: in device memory, inside an executor step
// whose partition device is the kernel's GPU (the one the executor waits for before running
// the checks), with a pinned allocator for the result.
inline bool CanDeferIndexCheck(const OpKernelContext& ctx, const GpuScope& g,
                               const Tensor& indices) {
  const Allocator* a = indices.allocator();
  return a != nullptr && !a->host_accessible() && ctx.deferred_checks() != nullptr &&
         g.device() != nullptr && ctx.device() == g.device() &&
         g.device()->pinned_allocator() != nullptr;
}

// The error message for the first bad index: its position, its value, and `extra_bytes` of
// the indices copied from their start.
using IndexCheckMessage = std::function<std::string(int64_t pos, int64_t value, const void* extra)>;

// Enqueues the check that every index (int16/int32/int64 `indices`, device-resident) lies in
// [lo, hi) on g's stream, writing them widened to int64 into `widened` when non-null, and adds
// a deferred check that fails with the node's prefix + `message` if one does not. Call after
// g.Init().
inline absl::Status DeferIndexCheck(GpuScope& g, const Tensor& indices, int64_t lo, int64_t hi,
                                    int64_t* widened, size_t extra_bytes,
                                    IndexCheckMessage message) {
  CheckIndexType type;
  switch (indices.dtype()) {
    case DT_INT16:
      type = CheckIndexType::kInt16;
      break;
    case DT_INT32:
      type = CheckIndexType::kInt32;
      break;
    case DT_INT64:
      type = CheckIndexType::kInt64;
      break;
    default:
      return g.ctx().Error("indices must be int16, int32 or int64, got " +
                           DataTypeName(indices.dtype()));
  }
  constexpr size_t kResultBytes = 2 * sizeof(int64_t);
  auto bad = g.Temp(kResultBytes);
  if (!bad.ok()) return bad.status();
  Allocator* pinned = g.device()->pinned_allocator();
  // Frees the pinned slot with the check (run or dropped: the executor waits for the device
  // before dropping it, so no copy still writes the slot).
  struct Slot {
    Allocator* allocator = nullptr;
    void* p = nullptr;
    Slot() = default;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() {
      if (p != nullptr) allocator->DeallocateRaw(p);
    }
  };
  auto slot = std::make_shared<Slot>();
  slot->allocator = pinned;
  slot->p = pinned->AllocateRaw(Allocator::kDefaultAlignment, kResultBytes + extra_bytes);
  if (slot->p == nullptr) {
    return absl::ResourceExhaustedError("node '" + g.ctx().node().name() + "' (" +
                                        g.ctx().node().op() +
                                        "): out of pinned host memory for the index check");
  }
  RETURN_IF_ERROR(g.Check(LaunchCheckIndices(indices.raw_data(), type, indices.num_elements(), lo,
                                             hi, widened, static_cast<int64_t*>(*bad), g.stream()),
                          "checking the indices"));
  // Registered before the copies are enqueued: from here on the step waits for the device
  // before the slot is freed.
  const std::string prefix(g.ctx().Error("").message());
  g.ctx().deferred_checks()->Add([slot, prefix, message = std::move(message)]() -> absl::Status {
    int64_t result[2];
    std::memcpy(result, slot->p, sizeof(result));
    if (result[0] == INT64_MAX) return absl::OkStatus();
    return absl::InvalidArgumentError(
        prefix + message(result[0], result[1], static_cast<const char*>(slot->p) + kResultBytes));
  });
  RETURN_IF_ERROR(
      g.Check(cudaMemcpyAsync(slot->p, *bad, kResultBytes, cudaMemcpyDeviceToHost, g.stream()),
              "copying the index check result"));
  if (extra_bytes > 0) {
    RETURN_IF_ERROR(
        g.Check(cudaMemcpyAsync(static_cast<char*>(slot->p) + kResultBytes, indices.raw_data(),
                                extra_bytes, cudaMemcpyDeviceToHost, g.stream()),
                "copying the indices"));
  }
  return absl::OkStatus();
}

}  // namespace cuda
}  // namespace quiver
