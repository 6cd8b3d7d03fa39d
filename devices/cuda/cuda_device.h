// The CUDA device (GPU:N), built only when QUIVER_WITH_CUDA.
//
// Detection: cudaGetDeviceCount failing (no driver: error 35) or reporting 0 means "no GPU";
// the DeviceSet factory then adds nothing and registers no GPU kernels, so placement, kernel
// tables and error messages are exactly those of a CPU-only build. With k GPUs it adds
// GPU:0..GPU:k-1 and, once per process, moves the GPU kernels (registered at static-init time
// into a pending list, see RegisterGpuKernel) into the global KernelRegistry.
//
// Per GPU (CudaDevice):
//   - a compute stream (kernels, cuBLAS, cuDNN) and separate host-to-device and
//     device-to-host copy streams; copies are ordered against compute with events (the copy
//     stream waits for the compute work queued so far, compute waits for the copy), never with
//     a device-wide synchronisation;
//   - a BFC allocator over cudaMalloc (device tensors) and one over cudaHostAlloc (pinned host
//     staging buffers for transfers);
//   - lazily created cuBLAS / cuBLASLt / cuDNN handles bound to the compute stream.
#pragma once

#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devices/common/bfc_allocator.h"
#include "devices/common/in_flight_staging.h"
#include "devices/device.h"
#include "devices/kernel.h"

// Opaque library handles (cublas_v2.h / cudnn.h stay out of this header).
struct cublasContext;
struct cublasLtContext;
struct cudnnContext;

namespace quiver {
namespace cuda {

// Number of usable GPUs: 0 when the runtime reports an error (no driver) or no device.
int GpuCount();
// "cudaErrorInsufficientDriver (35): CUDA driver version is insufficient..." for reports.
std::string DetectionMessage();

// A status for a failed CUDA runtime call, or OK.
absl::Status CudaStatus(cudaError_t err, const char* what);

// cudaMalloc / cudaFree regions.
class GpuMemorySubAllocator : public SubAllocator {
 public:
  explicit GpuMemorySubAllocator(int device) : device_(device) {}
  void* Alloc(size_t alignment, size_t num_bytes) override;
  void Free(void* ptr, size_t num_bytes) override;
  bool host_accessible() const override { return false; }

 private:
  int device_;
};

// cudaHostAlloc / cudaFreeHost regions (pinned, host accessible).
class PinnedHostSubAllocator : public SubAllocator {
 public:
  void* Alloc(size_t alignment, size_t num_bytes) override;
  void Free(void* ptr, size_t num_bytes) override;
  bool host_accessible() const override { return true; }
};

// What Device::device_context() returns for a CudaDevice: kernels cast it back.
struct CudaStreams {
  int device = 0;
  cudaStream_t compute = nullptr;
  cudaStream_t host_to_device = nullptr;
  cudaStream_t device_to_host = nullptr;
};

class CudaDevice final : public Device {
 public:
  // Creates streams and allocators on GPU `info.id`. `options.bytes_limit` caps the device
  // BFC allocator (0: 90% of the free memory at creation).
  static absl::StatusOr<std::unique_ptr<CudaDevice>> Create(const DeviceInfo& info,
                                                            const DeviceOptions& options);
  ~CudaDevice() override;

  Allocator* allocator() const override { return gpu_allocator_.get(); }
  // Pinned host memory for staging transfers (host accessible).
  Allocator* pinned_allocator() const { return pinned_allocator_.get(); }

  // Enqueued on the copy streams, ordered after the compute work queued so far; compute work
  // queued later waits for the copy. CopyFromHost returns once `host_src` has been read, so the
  // caller may free it right away: up to kMaxStagedCopyBytes it memcpys the source into a pinned
  // staging buffer and returns without waiting for the DMA (the buffer is freed when the copy's
  // event completes), so feeding a step does not wait for the compute queued before it; larger
  // copies wait for the host-to-device stream. CopyToHost returns once the bytes are on the host.
  absl::Status CopyFromHost(const void* host_src, void* device_dst, size_t num_bytes) override;
  absl::Status CopyToHost(const void* device_src, void* host_dst, size_t num_bytes) override;
  // Both copies above are stream ordered: CopyTensor need not Sync() the whole device.
  bool CopiesAreStreamOrdered() const override { return true; }
  // Waits for the three streams and frees the staging buffers of completed copies (not those a
  // concurrent step staged after the waits).
  absl::Status Sync() override;
  void* device_context() const override { return const_cast<CudaStreams*>(&streams_); }

  const CudaStreams& streams() const { return streams_; }
  int ordinal() const { return streams_.device; }
  // Handles bound to the compute stream, created on first use.
  absl::StatusOr<cublasContext*> cublas();
  absl::StatusOr<cudnnContext*> cudnn();

  // Held around cuBLAS/cuDNN call sequences: the handles are shared by the executor's threads.
  std::mutex& library_mutex() { return library_mu_; }

  // Makes this GPU current on the calling thread (every kernel does it first).
  absl::Status Activate() const;

 private:
  explicit CudaDevice(const DeviceInfo& info) : Device(info) {}

  // Frees the staging buffers whose copies have completed, then, while more than
  // kMaxInFlightStagingBytes would be in flight with `incoming` more, waits for the oldest.
  absl::Status ReclaimStagingLocked(size_t incoming);
  void ReleaseStaging(const InFlightStaging::Entry& e);
  absl::StatusOr<cudaEvent_t> TakeEventLocked();

  CudaStreams streams_;
  cudaEvent_t compute_done_ = nullptr;    // recorded on compute before a copy
  std::mutex copy_mu_;                    // the events are shared: one copy at a time
  InFlightStaging staging_;               // pinned sources of copies still in flight
  std::vector<cudaEvent_t> free_events_;  // recycled copy-completion events
  std::unique_ptr<BFCAllocator> gpu_allocator_;
  std::unique_ptr<BFCAllocator> pinned_allocator_;
  std::mutex handles_mu_;
  std::mutex library_mu_;
  cublasContext* cublas_ = nullptr;
  cudnnContext* cudnn_ = nullptr;
};

// The CudaDevice behind a kernel context's device, or nullptr when it is not a GPU.
CudaDevice* AsCudaDevice(Device* device);
// A process-wide CudaDevice for `ordinal`, for GPU kernels called with a non-GPU context (an
// executor that does not pass its device yet, or a test): created on first use, never freed.
absl::StatusOr<CudaDevice*> SharedCudaDevice(int ordinal);

// GPU kernels register here at static-init time; the DeviceSet factory moves them into
// KernelRegistry::Global() the first time a GPU answers (never on a machine without one).
void RegisterGpuKernel(KernelDef def, KernelFactory factory);
// Moves the pending GPU kernels into the global registry (idempotent). Tests may call it.
void RegisterPendingGpuKernels();
// How many GPU kernels are pending or registered (for reports).
int NumGpuKernels();

struct GpuKernelRegistrar {
  GpuKernelRegistrar(KernelDef def, KernelFactory factory) {
    RegisterGpuKernel(std::move(def), std::move(factory));
  }
};

#define QUIVER_REGISTER_GPU_KERNEL(def, factory) \
  QUIVER_REGISTER_GPU_KERNEL_UNIQ(__COUNTER__, def, factory)
#define QUIVER_REGISTER_GPU_KERNEL_UNIQ(ctr, def, factory) \
  QUIVER_REGISTER_GPU_KERNEL_UNIQ2(ctr, def, factory)
#define QUIVER_REGISTER_GPU_KERNEL_UNIQ2(ctr, def, factory) \
  static ::quiver::cuda::GpuKernelRegistrar quiver_gpu_kernel_registrar_##ctr(def, factory)

}  // namespace cuda
}  // namespace quiver
