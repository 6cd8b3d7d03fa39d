// A device as the runtime sees it: its DeviceInfo, the allocator its tensors live in, a way to
// move bytes in and out of host memory, and a Sync for work queued on it.
//
// A Session creates one Device per DeviceSet entry (CreateDevice). CPU:0 and every virtual
// CPU:N get their own CpuAllocator, so a cross-device transfer is a real copy between distinct
// buffers and each device's bytes are counted apart. The CUDA backend subclasses Device
// (allocator: BFC over device memory; copies: cudaMemcpyAsync on its stream; device_context:
// the stream) and registers a factory for "GPU".
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Device> cpu1, CreateDevice(*devices.Find("CPU:1"), {}));
//   ASSIGN_OR_RETURN(Tensor t, CopyTensor(src, cpu1.get()));
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "devices/device_set.h"
#include "graph/allocator.h"
#include "graph/tensor.h"

namespace quiver {

struct DeviceOptions {
  int64_t bytes_limit = 0;  // the allocator's limit on bytes handed out (0: none)
};

class Device {
 public:
  explicit Device(DeviceInfo info) : info_(std::move(info)) {}
  virtual ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const DeviceInfo& info() const { return info_; }
  const std::string& name() const { return info_.name; }  // full name

  // Where this device's tensors live. Owned by the device.
  virtual Allocator* allocator() const = 0;

  // Copies `num_bytes` from host memory into memory of this device's allocator, and back.
  // CPU devices memcpy; an accelerator enqueues on its stream (complete after Sync(), or, when
  // CopiesAreStreamOrdered(), ordered as described there: the CUDA device's CopyFromHost has
  // read the source when it returns, staged into pinned memory, so the source may be freed
  // right after while the DMA still runs).
  virtual absl::Status CopyFromHost(const void* host_src, void* device_dst, size_t num_bytes);
  virtual absl::Status CopyToHost(const void* device_src, void* host_dst, size_t num_bytes);
  // Waits for the work queued on this device (CPU: none).
  virtual absl::Status Sync() { return absl::OkStatus(); }
  // True when CopyFromHost is done reading `host_src` once it returns and every later use of
  // the destination on this device is ordered after the copy (a copy on a stream that compute
  // waits for), and CopyToHost returns with the bytes on the host. CopyTensor then needs no
  // Sync() around the copy, which would wait for the whole device. Default: false (CopyTensor
  // calls Sync() after copying into or out of memory the host cannot read).
  virtual bool CopiesAreStreamOrdered() const { return false; }
  // The accelerator's stream / device context kernels enqueue on (the CUDA device returns its
  // cudaStream_t wrapper here); nullptr on CPU.
  virtual void* device_context() const { return nullptr; }

  // A CPU:0 device over ProcessCpuAllocator(), for kernels run outside a session (tests,
  // constant folding). Never destroyed.
  static Device* DefaultCpu();

 private:
  DeviceInfo info_;
};

// Creates the Device for `info` with the factory registered for its type ("CPU" is built in).
using DeviceFactory =
    std::function<absl::StatusOr<std::unique_ptr<Device>>(const DeviceInfo&, const DeviceOptions&)>;
void RegisterDeviceFactory(const std::string& type, DeviceFactory factory);
absl::StatusOr<std::unique_ptr<Device>> CreateDevice(const DeviceInfo& info,
                                                     const DeviceOptions& options);

// A copy of `src` in a new buffer of `dst`'s allocator. `src` may live on any device whose
// allocator is host accessible, or on `src_device` (which then copies it to the host side:
// without it, copying out of memory the host cannot read is an InvalidArgument error).
absl::StatusOr<Tensor> CopyTensor(const Tensor& src, Device* dst, Device* src_device = nullptr);

}  // namespace quiver
