#include "devices/device_set.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/kernel.h"
#include "graph/mutex.h"

namespace quiver {
namespace {

Mutex factories_mu;
std::vector<DeviceSet::Factory>& Factories() {
  static auto* factories = new std::vector<DeviceSet::Factory>();
  return *factories;
}

}  // namespace

bool DeviceInfo::is_cpu() const { return type == kCpu; }

int DeviceTypePriority(const std::string& type) {
  if (type == kGpu) return 210;
  if (type == kCpu) return 100;
  return 50;
}

void DeviceSet::RegisterFactory(Factory factory) {
  MutexLock lock(&factories_mu);
  Factories().push_back(std::move(factory));
}

absl::StatusOr<DeviceSet> DeviceSet::Create(const DeviceSetOptions& options) {
  if (options.num_virtual_cpus < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_virtual_cpus must be >= 0, got ", options.num_virtual_cpus));
  }
  DeviceSet set;
  for (int i = 0; i <= options.num_virtual_cpus; ++i) {
    absl::Status s = set.AddDevice(kCpu, i);
    if (!s.ok()) return s;
  }
  std::vector<Factory> factories;
  {
    MutexLock lock(&factories_mu);
    factories = Factories();
  }
  for (const Factory& f : factories) {
    absl::Status s = f(&set);
    if (!s.ok()) return s;
  }
  return set;
}

absl::Status DeviceSet::AddDevice(const std::string& type, int id) {
  for (const DeviceInfo& d : devices_) {
    if (d.type == type && d.id == id) {
      return absl::AlreadyExistsError(absl::StrCat("device ", type, ":", id, " already exists"));
    }
  }
  DeviceInfo info;
  info.type = type;
  info.id = id;
  info.name = LocalDeviceName(type, id);
  info.priority = DeviceTypePriority(type);
  auto parsed = ParseDeviceName(info.name);
  if (!parsed.ok()) return parsed.status();
  info.parsed = *parsed;
  devices_.push_back(std::move(info));
  std::stable_sort(devices_.begin(), devices_.end(), [](const DeviceInfo& a, const DeviceInfo& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.type != b.type) return a.type < b.type;
    return a.id < b.id;
  });
  return absl::OkStatus();
}

const DeviceInfo* DeviceSet::Find(const std::string& name) const {
  for (const DeviceInfo& d : devices_) {
    if (d.name == name || d.short_name() == name) return &d;
  }
  auto parsed = ParseDeviceName(name);
  if (!parsed.ok() || parsed->empty()) return nullptr;
  std::vector<const DeviceInfo*> m = Matching(*parsed);
  return m.size() == 1 ? m[0] : nullptr;
}

std::vector<const DeviceInfo*> DeviceSet::Matching(const ParsedDeviceName& spec) const {
  std::vector<const DeviceInfo*> out;
  for (const DeviceInfo& d : devices_) {
    if (IsSpecification(spec, d.parsed)) out.push_back(&d);
  }
  return out;
}

const DeviceInfo& DeviceSet::host() const {
  for (const DeviceInfo& d : devices_) {
    if (d.type == kCpu && d.id == 0) return d;
  }
  return devices_.front();  // Create always adds CPU:0
}

std::string DeviceSet::DebugString() const {
  std::vector<std::string> names;
  for (const DeviceInfo& d : devices_) names.push_back(d.name);
  return absl::StrCat("[ ", absl::StrJoin(names, ", "), " ]");
}

}  // namespace quiver
