// The devices a session can place nodes on.
//
// CPU:0 always exists. Extra *virtual* CPU devices (CPU:1..CPU:N) are separate logical
// devices on the same host (each will get its own allocator), which lets placement, transfer
// counting and partitioning be exercised on machines without an accelerator. GPU:N devices
// are added by a device factory that the CUDA backend registers where a GPU answers.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "devices/device_name.h"

namespace quiver {

struct DeviceInfo {
  std::string name;  // full name: /job:localhost/replica:0/task:0/device:CPU:0
  std::string type;  // "CPU", "GPU"
  int id = 0;
  int priority = 0;  // higher wins when several devices have a kernel (GPU 210 > CPU 100)
  ParsedDeviceName parsed;
  std::string short_name() const { return type + ":" + std::to_string(id); }
  bool is_cpu() const;
};

// TF's device-factory priorities: the first device type with a kernel wins.
int DeviceTypePriority(const std::string& type);

struct DeviceSetOptions {
  int num_virtual_cpus = 0;  // extra logical CPU devices CPU:1..CPU:N
};

class DeviceSet {
 public:
  // A factory adds devices of one type (e.g. the CUDA backend adds GPU:0..GPU:k-1 when GPUs
  // answer). Registered once at start-up; called by every Create.
  using Factory = std::function<absl::Status(DeviceSet*)>;
  static void RegisterFactory(Factory factory);

  // CPU:0, the virtual CPUs, then whatever registered factories add.
  static absl::StatusOr<DeviceSet> Create(const DeviceSetOptions& options = {});

  // Adds TYPE:id; error if it already exists.
  absl::Status AddDevice(const std::string& type, int id);

  // Sorted by priority (highest first), then type, then id: devices()[0] is the default.
  const std::vector<DeviceInfo>& devices() const { return devices_; }
  // By full name, short name ("CPU:1") or any spelling that parses to exactly one device.
  const DeviceInfo* Find(const std::string& name) const;
  // Devices whose full name satisfies `spec`, in priority order.
  std::vector<const DeviceInfo*> Matching(const ParsedDeviceName& spec) const;
  // CPU:0, where host-memory bookkeeping runs.
  const DeviceInfo& host() const;
  // "[ /job:.../device:CPU:0, ... ]" for error messages.
  std::string DebugString() const;

 private:
  std::vector<DeviceInfo> devices_;
};

}  // namespace quiver
