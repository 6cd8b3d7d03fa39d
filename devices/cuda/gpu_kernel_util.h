// What every GPU OpKernel needs: the CudaDevice and stream it runs on, device pointers for its
// inputs and outputs, scratch memory, and error reporting.
//
// Tensors may be device-resident (allocated from the CudaDevice's BFC allocator, which is what
// the executor does when it runs the node with ctx.device() == the GPU) or host-resident (an
// executor or test that runs a GPU kernel with a CPU context, or a variable that still lives in
// host memory). GpuScope hides the difference: In() returns the tensor's own pointer when it
// is in device memory and otherwise stages a copy on the compute stream; Out() does the
// reverse at Finish(). Host staging synchronises the compute stream once per kernel; device-
// resident tensors never synchronise.
#pragma once

#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devices/common/index_helpers.h"
#include "devices/cuda/cuda_device.h"
#include "devices/kernel.h"
#include "graph/tensor.h"

namespace quiver {
namespace cuda {

class GpuScope {
 public:
  explicit GpuScope(OpKernelContext& ctx) : ctx_(ctx) {}
  ~GpuScope();
  GpuScope(const GpuScope&) = delete;
  GpuScope& operator=(const GpuScope&) = delete;

  // Resolves the device (ctx.device() when it is a GPU, else the shared CudaDevice of the
  // node's assigned GPU ordinal) and makes it current. Call first.
  absl::Status Init();

  CudaDevice* device() const { return device_; }
  cudaStream_t stream() const { return device_->streams().compute; }
  OpKernelContext& ctx() { return ctx_; }

  // Device pointer to the bytes of `t` (read only).
  absl::StatusOr<const void*> In(const Tensor& t);
  absl::StatusOr<const void*> In(int i) { return In(ctx_.input(i)); }
  template <typename T>
  absl::StatusOr<const T*> InAs(int i) {
    auto p = In(i);
    if (!p.ok()) return p.status();
    return static_cast<const T*>(*p);
  }
  // Device pointer to a tensor the kernel updates in place (a variable's value): staged in
  // now and back at Finish() when host-resident.
  absl::StatusOr<void*> InOut(Tensor& t);
  // Allocates output i (through ctx.allocate_output, i.e. the context device's allocator) and
  // returns a device pointer to it.
  absl::StatusOr<void*> Out(int i, const TensorShape& shape);
  template <typename T>
  absl::StatusOr<T*> OutAs(int i, const TensorShape& shape) {
    auto p = Out(i, shape);
    if (!p.ok()) return p.status();
    return static_cast<T*>(*p);
  }
  // Device pointer for an existing tensor to be written (an output set up by the caller).
  absl::StatusOr<void*> WriteTo(Tensor& t);
  // Device scratch memory, freed when the scope ends (in stream order).
  absl::StatusOr<void*> Temp(size_t bytes);

  // Turns a launch result into a status naming the node.
  absl::Status Check(cudaError_t err, const char* what);
  // Copies staged outputs back to the host and, if anything was staged, waits for the stream.
  absl::Status Finish();

 private:
  struct Staged {
    void* host;
    void* device;
    size_t bytes;
  };
  absl::StatusOr<void*> AllocDevice(size_t bytes);
  static bool OnDevice(const Tensor& t);

  OpKernelContext& ctx_;
  CudaDevice* device_ = nullptr;
  std::vector<void*> temps_;
  std::vector<Staged> write_back_;
  bool staged_ = false;
  bool finished_ = false;
};

// Shape checks shared by the kernels.
absl::Status RequireFloat(OpKernelContext& ctx, int input);

// array_kernels::HostInts / HostScalar for a HostMemory input, after checking that the tensor
// really is in host memory (an error, not a crash, if a placement bug sent it to the device).
// An error (not a crash) when input i, a HostMemory arg, arrived in device memory.
absl::Status RequireHostInput(const OpKernelContext& ctx, int i, const char* what);
absl::StatusOr<std::vector<int64_t>> GpuHostInts(const OpKernelContext& ctx, int i,
                                                 const char* what, int want_rank = 1);
absl::StatusOr<int64_t> GpuHostScalar(const OpKernelContext& ctx, int i, const char* what);

// The pure data-movement kernels (Transpose, Slice, StridedSlice, BroadcastTo): output 0 of
// `shape` is one gather of input 0's elements through `ix`; `what` names the launch in errors.
absl::Status GatherInputToOutput(OpKernelContext& ctx, const index::StridedIndexer& ix,
                                 const TensorShape& shape, const char* what);

}  // namespace cuda
}  // namespace quiver
