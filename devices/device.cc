#include "devices/device.h"

#include <cstring>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "devices/cpu/cpu_allocator.h"
#include "devices/kernel.h"
#include "graph/mutex.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// A host device: its own CpuAllocator (or the process one), copies are memcpy.
class CpuDevice final : public Device {
 public:
  CpuDevice(DeviceInfo info, std::unique_ptr<CpuAllocator> owned, Allocator* allocator)
      : Device(std::move(info)), owned_(std::move(owned)), allocator_(allocator) {}
  // Fetched tensors may outlive the session: the allocator goes when its last block does.
  ~CpuDevice() override { CpuAllocator::DeleteWhenIdle(std::move(owned_)); }
  Allocator* allocator() const override { return allocator_; }

 private:
  std::unique_ptr<CpuAllocator> owned_;
  Allocator* allocator_;
};

Mutex factories_mu;
std::map<std::string, DeviceFactory>& Factories() {
  static auto* factories = new std::map<std::string, DeviceFactory>();
  return *factories;
}

}  // namespace

absl::Status Device::CopyFromHost(const void* host_src, void* device_dst, size_t num_bytes) {
  if (num_bytes > 0) std::memcpy(device_dst, host_src, num_bytes);
  return absl::OkStatus();
}

absl::Status Device::CopyToHost(const void* device_src, void* host_dst, size_t num_bytes) {
  if (num_bytes > 0) std::memcpy(host_dst, device_src, num_bytes);
  return absl::OkStatus();
}

Device* Device::DefaultCpu() {
  static Device* device = [] {
    DeviceInfo info;
    info.type = kCpu;
    info.id = 0;
    info.name = LocalDeviceName(kCpu, 0);
    info.priority = DeviceTypePriority(kCpu);
    auto parsed = ParseDeviceName(info.name);
    if (parsed.ok()) info.parsed = *parsed;
    return new CpuDevice(std::move(info), nullptr, ProcessCpuAllocator());
  }();
  return device;
}

void RegisterDeviceFactory(const std::string& type, DeviceFactory factory) {
  MutexLock lock(&factories_mu);
  Factories()[type] = std::move(factory);
}

absl::StatusOr<std::unique_ptr<Device>> CreateDevice(const DeviceInfo& info,
                                                     const DeviceOptions& options) {
  if (info.type == kCpu) {
    CpuAllocatorOptions a;
    a.name = absl::AsciiStrToLower(info.short_name());
    a.bytes_limit = options.bytes_limit;
    auto allocator = std::make_unique<CpuAllocator>(std::move(a));
    Allocator* raw = allocator.get();
    return std::unique_ptr<Device>(new CpuDevice(info, std::move(allocator), raw));
  }
  DeviceFactory factory;
  {
    MutexLock lock(&factories_mu);
    auto it = Factories().find(info.type);
    if (it != Factories().end()) factory = it->second;
  }
  if (!factory) {
    return absl::NotFoundError(absl::StrCat("no device factory registered for device type '",
                                            info.type, "' (", info.name, ")"));
  }
  return factory(info, options);
}

absl::StatusOr<Tensor> CopyTensor(const Tensor& src, Device* dst, Device* src_device) {
  ASSIGN_OR_RETURN(Tensor out, Tensor::Create(src.dtype(), src.shape(), dst->allocator()));
  const size_t n = src.num_bytes();
  if (n == 0) return out;
  const bool src_host = src.allocator() == nullptr || src.allocator()->host_accessible();
  // The source may be freed as soon as we return: an asynchronous copy must be done, unless
  // the device says its copies are stream ordered.
  const bool sync_after_copy_in =
      !dst->allocator()->host_accessible() && !dst->CopiesAreStreamOrdered();
  if (src_host) {
    RETURN_IF_ERROR(dst->CopyFromHost(src.raw_data(), out.raw_data(), n));
    if (sync_after_copy_in) RETURN_IF_ERROR(dst->Sync());
  } else if (dst->allocator()->host_accessible()) {
    if (src_device == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "copying a tensor out of allocator '", src.allocator()->Name(), "' needs its device"));
    }
    RETURN_IF_ERROR(src_device->CopyToHost(src.raw_data(), out.raw_data(), n));
    if (!src_device->CopiesAreStreamOrdered()) RETURN_IF_ERROR(src_device->Sync());
  } else {
    // Device to device through a host bounce buffer (no peer copies yet).
    ASSIGN_OR_RETURN(Tensor host, CopyTensor(src, Device::DefaultCpu(), src_device));
    RETURN_IF_ERROR(dst->CopyFromHost(host.raw_data(), out.raw_data(), n));
    if (sync_after_copy_in) RETURN_IF_ERROR(dst->Sync());
  }
  return out;
}

}  // namespace quiver
