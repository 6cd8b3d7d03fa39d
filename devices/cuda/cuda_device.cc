#include "devices/cuda/cuda_device.h"

#include <cublas_v2.h>
#include <cudnn.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/device_set.h"
#include "graph/mutex.h"

namespace quiver {
namespace cuda {

absl::Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorName(err), " (",
                                          static_cast<int>(err), "): ", cudaGetErrorString(err)));
}

namespace {

struct Detection {
  int count = 0;
  std::string message;
};

const Detection& Detect() {
  static const Detection* d = [] {
    auto* out = new Detection;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      // Without a driver: cudaErrorInsufficientDriver (35), count left unwritten.
      out->message =
          absl::StrCat("no CUDA device: cudaGetDeviceCount returned ", cudaGetErrorName(err), " (",
                       static_cast<int>(err), "): ", cudaGetErrorString(err));
      cudaGetLastError();  // clear the sticky-free error so later calls start clean
    } else if (count <= 0) {
      out->message = "no CUDA device: cudaGetDeviceCount reported 0";
    } else {
      out->count = count;
      out->message = absl::StrCat(count, " CUDA device(s)");
    }
    return out;
  }();
  return *d;
}

}  // namespace

int GpuCount() { return Detect().count; }
std::string DetectionMessage() { return Detect().message; }

// ---- sub-allocators --------------------------------------------------------------------------

void* GpuMemorySubAllocator::Alloc(size_t /*alignment*/, size_t num_bytes) {
  // cudaMalloc returns 256-byte aligned memory, the BFC granule.
  if (cudaSetDevice(device_) != cudaSuccess) return nullptr;
  void* p = nullptr;
  if (cudaMalloc(&p, num_bytes) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void GpuMemorySubAllocator::Free(void* ptr, size_t /*num_bytes*/) {
  cudaSetDevice(device_);
  cudaFree(ptr);
}

void* PinnedHostSubAllocator::Alloc(size_t /*alignment*/, size_t num_bytes) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, num_bytes, cudaHostAllocPortable) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void PinnedHostSubAllocator::Free(void* ptr, size_t /*num_bytes*/) { cudaFreeHost(ptr); }

// ---- CudaDevice ------------------------------------------------------------------------------

#define QUIVER_CUDA_RETURN_IF_ERROR(expr, what)                 \
  do {                                                          \
    absl::Status _s = ::quiver::cuda::CudaStatus((expr), what); \
    if (!_s.ok()) return _s;                                    \
  } while (0)

absl::StatusOr<std::unique_ptr<CudaDevice>> CudaDevice::Create(const DeviceInfo& info,
                                                               const DeviceOptions& options) {
  if (info.id < 0 || info.id >= GpuCount()) {
    return absl::NotFoundError(
        absl::StrCat("GPU:", info.id, " does not exist (", DetectionMessage(), ")"));
  }
  std::unique_ptr<CudaDevice> d(new CudaDevice(info));
  d->streams_.device = info.id;
  QUIVER_CUDA_RETURN_IF_ERROR(cudaSetDevice(info.id), "cudaSetDevice");
  for (cudaStream_t* s :
       {&d->streams_.compute, &d->streams_.host_to_device, &d->streams_.device_to_host}) {
    QUIVER_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(s, cudaStreamNonBlocking),
                                "cudaStreamCreate");
  }
  QUIVER_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&d->compute_done_, cudaEventDisableTiming),
                              "cudaEventCreate");
  size_t free_bytes = 0, total_bytes = 0;
  QUIVER_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  BFCAllocatorOptions gpu;
  gpu.bytes_limit =
      options.bytes_limit > 0 ? static_cast<size_t>(options.bytes_limit) : free_bytes / 10 * 9;
  gpu.initial_region_bytes = size_t{64} << 20;
  d->gpu_allocator_ = std::make_unique<BFCAllocator>(
      std::make_unique<GpuMemorySubAllocator>(info.id), absl::StrCat("gpu_bfc:", info.id), gpu);
  BFCAllocatorOptions pinned;
  pinned.bytes_limit = size_t{4} << 30;
  pinned.initial_region_bytes = size_t{16} << 20;
  d->pinned_allocator_ = std::make_unique<BFCAllocator>(
      std::make_unique<PinnedHostSubAllocator>(), absl::StrCat("gpu_pinned:", info.id), pinned);
  return d;
}

CudaDevice::~CudaDevice() {
  if (cudaSetDevice(streams_.device) != cudaSuccess) return;
  for (cudaStream_t s : {streams_.compute, streams_.host_to_device, streams_.device_to_host}) {
    if (s != nullptr) cudaStreamSynchronize(s);
  }
  // The streams are idle: every staging buffer can go back before the allocator does.
  staging_.ReleaseAll([this](const InFlightStaging::Entry& e) { ReleaseStaging(e); });
  for (cudaEvent_t e : free_events_) cudaEventDestroy(e);
  free_events_.clear();
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (cudnn_ != nullptr) cudnnDestroy(cudnn_);
  // Tensors fetched from the device may still hold blocks: the allocators outlive the device
  // in that case (a small, bounded leak per session rather than a use-after-free).
  if (gpu_allocator_ && gpu_allocator_->GetStats().bytes_in_use != 0) gpu_allocator_.release();
  if (pinned_allocator_ && pinned_allocator_->GetStats().bytes_in_use != 0) {
    pinned_allocator_.release();
  }
  gpu_allocator_.reset();
  pinned_allocator_.reset();
  for (cudaStream_t s : {streams_.compute, streams_.host_to_device, streams_.device_to_host}) {
    if (s != nullptr) cudaStreamDestroy(s);
  }
  if (compute_done_ != nullptr) cudaEventDestroy(compute_done_);
}

absl::Status CudaDevice::Activate() const {
  return CudaStatus(cudaSetDevice(streams_.device), "cudaSetDevice");
}

namespace {

// Feeds and uploads up to this size are staged through pinned memory and do not wait for their
// DMA; larger ones (weights uploaded once) wait instead of pinning that much.
constexpr size_t kMaxStagedCopyBytes = size_t{64} << 20;
// Staging held by copies in flight is capped: past it, CopyFromHost waits for the oldest.
constexpr size_t kMaxInFlightStagingBytes = size_t{256} << 20;

}  // namespace

absl::StatusOr<cudaEvent_t> CudaDevice::TakeEventLocked() {
  if (!free_events_.empty()) {
    cudaEvent_t e = free_events_.back();
    free_events_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  QUIVER_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming),
                              "cudaEventCreate");
  return e;
}

void CudaDevice::ReleaseStaging(const InFlightStaging::Entry& e) {
  pinned_allocator_->DeallocateRaw(e.buffer);
  free_events_.push_back(static_cast<cudaEvent_t>(e.marker));
}

absl::Status CudaDevice::ReclaimStagingLocked(size_t incoming) {
  auto is_done = [](void* marker) -> absl::StatusOr<bool> {
    cudaError_t err = cudaEventQuery(static_cast<cudaEvent_t>(marker));
    if (err == cudaErrorNotReady) {
      // Not an error, but do not leave it as this thread's last error: kernels check that.
      if (cudaPeekAtLastError() == cudaErrorNotReady) cudaGetLastError();
      return false;
    }
    if (err != cudaSuccess) return CudaStatus(err, "cudaEventQuery(host-to-device copy)");
    return true;
  };
  auto release = [this](const InFlightStaging::Entry& e) { ReleaseStaging(e); };
  auto reclaimed = staging_.Reclaim(is_done, release);
  if (!reclaimed.ok()) return reclaimed.status();
  while (!staging_.empty() && staging_.bytes() + incoming > kMaxInFlightStagingBytes) {
    QUIVER_CUDA_RETURN_IF_ERROR(
        cudaEventSynchronize(static_cast<cudaEvent_t>(staging_.oldest().marker)),
        "cudaEventSynchronize(host-to-device copy)");
    reclaimed = staging_.Reclaim(is_done, release);
    if (!reclaimed.ok()) return reclaimed.status();
  }
  return absl::OkStatus();
}

absl::Status CudaDevice::CopyFromHost(const void* host_src, void* device_dst, size_t num_bytes) {
  if (num_bytes == 0) return absl::OkStatus();
  QUIVER_CUDA_RETURN_IF_ERROR(cudaSetDevice(streams_.device), "cudaSetDevice");
  std::lock_guard<std::mutex> lock(copy_mu_);
  const bool stage = num_bytes <= kMaxStagedCopyBytes;
  if (stage) {
    absl::Status s = ReclaimStagingLocked(num_bytes);
    if (!s.ok()) return s;
  }
  auto done = TakeEventLocked();
  if (!done.ok()) return done.status();
  // The caller may free or reuse host_src as soon as we return (feeds, _Transfer and Const
  // uploads do), and cudaMemcpyAsync has consumed its source only once the copy has completed.
  // So copy the bytes into pinned staging now (a host memcpy: cheap next to a DMA wait) and
  // let the staging buffer outlive the call; without staging memory, wait for the copy below.
  void* staging = stage ? pinned_allocator_->AllocateRaw(256, num_bytes) : nullptr;
  const void* src = host_src;
  if (staging != nullptr) {
    std::memcpy(staging, host_src, num_bytes);
    src = staging;
  }
  auto fail = [&](cudaError_t err, const char* what) {
    // Nothing was left in flight from `staging` unless the copy was enqueued: wait for the
    // stream before handing the buffer back.
    cudaStreamSynchronize(streams_.host_to_device);
    if (staging != nullptr) pinned_allocator_->DeallocateRaw(staging);
    free_events_.push_back(*done);
    return CudaStatus(err, what);
  };
  // The destination may be memory that compute work queued earlier still reads (the BFC
  // allocator reuses freed blocks in stream order): copy after it.
  cudaError_t err = cudaEventRecord(compute_done_, streams_.compute);
  if (err != cudaSuccess) return fail(err, "cudaEventRecord");
  err = cudaStreamWaitEvent(streams_.host_to_device, compute_done_, 0);
  if (err != cudaSuccess) return fail(err, "cudaStreamWaitEvent");
  err =
      cudaMemcpyAsync(device_dst, src, num_bytes, cudaMemcpyHostToDevice, streams_.host_to_device);
  if (err != cudaSuccess) return fail(err, "cudaMemcpyAsync(H2D)");
  err = cudaEventRecord(*done, streams_.host_to_device);
  if (err != cudaSuccess) return fail(err, "cudaEventRecord");
  // Compute work queued from now on reads the destination only after the copy.
  err = cudaStreamWaitEvent(streams_.compute, *done, 0);
  if (err != cudaSuccess) return fail(err, "cudaStreamWaitEvent");
  if (staging != nullptr) {
    staging_.Add({*done, staging, num_bytes});
    return absl::OkStatus();
  }
  // host_src itself is the DMA source: wait for this copy (only this stream, not the device).
  err = cudaStreamSynchronize(streams_.host_to_device);
  free_events_.push_back(*done);
  return CudaStatus(err, "cudaStreamSynchronize(H2D)");
}

absl::Status CudaDevice::CopyToHost(const void* device_src, void* host_dst, size_t num_bytes) {
  if (num_bytes == 0) return absl::OkStatus();
  QUIVER_CUDA_RETURN_IF_ERROR(cudaSetDevice(streams_.device), "cudaSetDevice");
  {
    // The shared event is re-recorded by every copy: enqueue under the lock, wait outside it,
    // so a fetch waiting for a step's compute does not hold up another thread's feeds.
    std::lock_guard<std::mutex> lock(copy_mu_);
    QUIVER_CUDA_RETURN_IF_ERROR(cudaEventRecord(compute_done_, streams_.compute),
                                "cudaEventRecord");
    QUIVER_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(streams_.device_to_host, compute_done_, 0),
                                "cudaStreamWaitEvent");
    QUIVER_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_dst, device_src, num_bytes,
                                                cudaMemcpyDeviceToHost, streams_.device_to_host),
                                "cudaMemcpyAsync(D2H)");
  }
  // The caller reads host_dst next: wait for the copy stream (not the whole device).
  QUIVER_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(streams_.device_to_host),
                              "cudaStreamSynchronize(D2H)");
  return absl::OkStatus();
}

absl::Status CudaDevice::Sync() {
  QUIVER_CUDA_RETURN_IF_ERROR(cudaSetDevice(streams_.device), "cudaSetDevice");
  for (cudaStream_t s : {streams_.host_to_device, streams_.compute, streams_.device_to_host}) {
    QUIVER_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  }
  // Not ReleaseAll: another thread may have staged a copy after the waits above (a concurrent
  // Run), whose buffer its DMA still reads. Those queued before the waits report done.
  std::lock_guard<std::mutex> lock(copy_mu_);
  return ReclaimStagingLocked(0);
}

absl::StatusOr<cublasContext*> CudaDevice::cublas() {
  std::lock_guard<std::mutex> lock(handles_mu_);
  if (cublas_ == nullptr) {
    QUIVER_CUDA_RETURN_IF_ERROR(cudaSetDevice(streams_.device), "cudaSetDevice");
    cublasHandle_t h = nullptr;
    cublasStatus_t st = cublasCreate(&h);
    if (st != CUBLAS_STATUS_SUCCESS) {
      return absl::InternalError(absl::StrCat("cublasCreate failed: ", cublasGetStatusName(st)));
    }
    // Unchecked, a failure would leave the handle on the legacy default stream, unordered with
    // our non-blocking streams.
    st = cublasSetStream(h, streams_.compute);
    if (st != CUBLAS_STATUS_SUCCESS) {
      cublasDestroy(h);
      return absl::InternalError(absl::StrCat("cublasSetStream failed: ", cublasGetStatusName(st)));
    }
    cublas_ = h;
  }
  return cublas_;
}

absl::StatusOr<cudnnContext*> CudaDevice::cudnn() {
  std::lock_guard<std::mutex> lock(handles_mu_);
  if (cudnn_ == nullptr) {
    QUIVER_CUDA_RETURN_IF_ERROR(cudaSetDevice(streams_.device), "cudaSetDevice");
    cudnnHandle_t h = nullptr;
    cudnnStatus_t st = cudnnCreate(&h);
    if (st != CUDNN_STATUS_SUCCESS) {
      return absl::InternalError(absl::StrCat("cudnnCreate failed: ", cudnnGetErrorString(st)));
    }
    st = cudnnSetStream(h, streams_.compute);  // as for cuBLAS above
    if (st != CUDNN_STATUS_SUCCESS) {
      cudnnDestroy(h);
      return absl::InternalError(absl::StrCat("cudnnSetStream failed: ", cudnnGetErrorString(st)));
    }
    cudnn_ = h;
  }
  return cudnn_;
}

CudaDevice* AsCudaDevice(Device* device) {
  if (device == nullptr || device->info().type != kGpu) return nullptr;
  return dynamic_cast<CudaDevice*>(device);
}

absl::StatusOr<CudaDevice*> SharedCudaDevice(int ordinal) {
  static Mutex mu;
  static auto* devices = new std::map<int, CudaDevice*>();
  MutexLock lock(&mu);
  auto it = devices->find(ordinal);
  if (it != devices->end()) return it->second;
  DeviceInfo info;
  info.type = kGpu;
  info.id = ordinal;
  info.name = LocalDeviceName(kGpu, ordinal);
  info.priority = DeviceTypePriority(kGpu);
  auto parsed = ParseDeviceName(info.name);
  if (parsed.ok()) info.parsed = *parsed;
  auto d = CudaDevice::Create(info, DeviceOptions{});
  if (!d.ok()) return d.status();
  CudaDevice* raw = d->release();
  (*devices)[ordinal] = raw;
  return raw;
}

// ---- kernel registration and factories ---------------------------------------------------------

namespace {

struct PendingKernels {
  Mutex mu;
  std::vector<KernelDef> defs;
  bool registered = false;
  int count = 0;
};

PendingKernels& Pending() {
  static auto* p = new PendingKernels;
  return *p;
}

}  // namespace

void RegisterGpuKernel(KernelDef def, KernelFactory factory) {
  def.factory = std::move(factory);
  PendingKernels& p = Pending();
  MutexLock lock(&p.mu);
  p.count++;
  if (p.registered) {
    KernelRegistry::Global().Register(std::move(def));
  } else {
    p.defs.push_back(std::move(def));
  }
}

void RegisterPendingGpuKernels() {
  PendingKernels& p = Pending();
  MutexLock lock(&p.mu);
  if (p.registered) return;
  for (KernelDef& def : p.defs) KernelRegistry::Global().Register(std::move(def));
  p.defs.clear();
  p.registered = true;
}

int NumGpuKernels() {
  PendingKernels& p = Pending();
  MutexLock lock(&p.mu);
  return p.count;
}

namespace {

// At static-init time: a DeviceSet factory that adds the GPUs that answer, and the Device
// factory that makes their CudaDevices.
const bool registered = [] {
  DeviceSet::RegisterFactory([](DeviceSet* set) -> absl::Status {
    const int n = GpuCount();
    if (n == 0) return absl::OkStatus();
    RegisterPendingGpuKernels();
    for (int i = 0; i < n; ++i) {
      absl::Status s = set->AddDevice(kGpu, i);
      if (!s.ok() && s.code() != absl::StatusCode::kAlreadyExists) return s;
    }
    return absl::OkStatus();
  });
  RegisterDeviceFactory(
      kGpu,
      [](const DeviceInfo& info,
         const DeviceOptions& options) -> absl::StatusOr<std::unique_ptr<Device>> {
        auto d = CudaDevice::Create(info, options);
        if (!d.ok()) return d.status();
        return std::unique_ptr<Device>(std::move(*d));
      });
  return true;
}();

}  // namespace

}  // namespace cuda
}  // namespace quiver
