#include "devices/kernel.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/device.h"
#include "graph/status_macros.h"

namespace quiver {

namespace {
std::string NodePrefix(const Node& node) {
  return absl::StrCat("node '", node.name(), "' (", node.op(), "): ");
}
}  // namespace

absl::Status Variable::PrepareForInPlaceWrite() {
  if (!ValueIsShared()) return absl::OkStatus();
  ASSIGN_OR_RETURN(Tensor copy, value.Clone(value.allocator()));
  value = std::move(copy);
  return absl::OkStatus();
}

absl::Status OpKernelConstruction::Error(const std::string& message) const {
  return absl::InvalidArgumentError(NodePrefix(node_) + message);
}

absl::Status OpKernelContext::Error(const std::string& message) const {
  return absl::InvalidArgumentError(NodePrefix(node_) + message);
}

OpKernelContext::OpKernelContext(const Node& node, std::vector<TensorValue>* inputs,
                                 std::vector<TensorValue>* outputs, StepResources* resources,
                                 Device* device, const OpKernel* kernel)
    : node_(node),
      inputs_(*inputs),
      outputs_(*outputs),
      resources_(resources),
      device_(device != nullptr ? device : Device::DefaultCpu()),
      kernel_(kernel) {}

Device* OpKernelContext::FindDevice(const std::string& name) const {
  if (resources_ == nullptr || !resources_->find_device) return nullptr;
  return resources_->find_device(name);
}

Allocator* OpKernelContext::output_allocator(int i) const {
  Allocator* own = device_->allocator();
  // Shapes, sizes and ranks an accelerator kernel produces are read by the host: they go to
  // host memory, so a CPU consumer needs no copy (copy insertion agrees, see IsHostMemoryOutput).
  if (kernel_ != nullptr && kernel_->output_in_host_memory(i) && !own->host_accessible()) {
    Device* host = resources_ != nullptr ? resources_->host_device : nullptr;
    return (host != nullptr ? host : Device::DefaultCpu())->allocator();
  }
  return own;
}

absl::StatusOr<Tensor*> OpKernelContext::allocate_output(int i, const TensorShape& shape) {
  const DataType dtype = node_.output_type(i);
  auto describe = [&] {
    return absl::StrCat(NodePrefix(node_), "output ", i, " (", DataTypeName(dtype),
                        shape.DebugString(), ")");
  };
  // Checked before any allocation: a huge declared shape is an error, not an attempt.
  auto bytes = Tensor::BytesFor(dtype, shape);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat(describe(), ": ", std::string(bytes.status().message())));
  }
  const int64_t limit = resources_ != nullptr ? resources_->max_tensor_bytes : 0;
  if (limit > 0 && *bytes > limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat(describe(), " needs ", *bytes, " bytes, over max_tensor_bytes = ", limit));
  }
  auto t = Tensor::Create(dtype, shape, output_allocator(i));
  if (!t.ok()) {
    return absl::Status(t.status().code(),
                        absl::StrCat(describe(), ": ", std::string(t.status().message())));
  }
  outputs_[i].tensor = *std::move(t);
  return &outputs_[i].tensor;
}

bool OpKernelContext::input_buffer_is_forwardable(int in, int out) const {
  const TensorValue& input = inputs_[in];
  // Only forward a tensor this step owns exclusively: not a variable's buffer, not shared, and
  // only within one device's memory.
  const bool allowed = resources_ == nullptr || resources_->forward_inputs;
  return allowed && input.ref == nullptr && input.tensor.allocator() == output_allocator(out) &&
         input.tensor.valid() && input.tensor.RefCountIsOne() &&
         input.tensor.dtype() == node_.output_type(out);
}

absl::StatusOr<Tensor*> OpKernelContext::forward_input_or_allocate_output(
    int in, int out, const TensorShape& shape) {
  TensorValue& input = inputs_[in];
  if (input_buffer_is_forwardable(in, out)) {
    auto n = TensorShape::ValidatedNumElements(shape.dims());
    if (n.ok() && *n == input.tensor.num_elements()) {
      auto reshaped = input.tensor.Reshaped(shape);
      if (reshaped.ok()) {
        outputs_[out].tensor = *std::move(reshaped);
        return &outputs_[out].tensor;
      }
    }
  }
  return allocate_output(out, shape);
}

KernelRegistry& KernelRegistry::Global() {
  static KernelRegistry* registry = new KernelRegistry;
  return *registry;
}

void KernelRegistry::Register(KernelDef def) {
  std::string op = def.op;
  WriterMutexLock lock(&mu_);
  kernels_.emplace(std::move(op), std::move(def));
}

std::vector<KernelRegistry::Entry> KernelRegistry::List() const {
  std::vector<Entry> out;
  {
    ReaderMutexLock lock(&mu_);
    for (const auto& [op, def] : kernels_) {
      out.push_back({op, def.device_type, def.type_attr, def.allowed_types});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.op, a.device_type) < std::tie(b.op, b.device_type);
  });
  return out;
}

bool KernelDef::IsHostMemoryArg(const std::string& arg) const {
  return std::find(host_memory_args.begin(), host_memory_args.end(), arg) != host_memory_args.end();
}

bool IsHostMemoryOutput(const Node& node, int index, const std::string& device_type) {
  const KernelDef* def = KernelRegistry::Global().Find(node, device_type);
  if (def == nullptr || def->host_memory_args.empty()) return false;
  return def->IsHostMemoryArg(node.OutputArgName(index));
}

namespace {
bool SatisfiesConstraint(const Node& node, const std::string& attr,
                         const std::vector<DataType>& types) {
  if (attr.empty() || types.empty()) return true;
  auto t = node.GetAttr<DataType>(attr);
  if (!t.ok()) return false;
  return std::find(types.begin(), types.end(), *t) != types.end();
}

bool Matches(const KernelDef& def, const Node& node) {
  if (!SatisfiesConstraint(node, def.type_attr, def.allowed_types)) return false;
  for (const auto& [attr, types] : def.more_type_constraints) {
    if (!SatisfiesConstraint(node, attr, types)) return false;
  }
  return true;
}
}  // namespace

const KernelDef* KernelRegistry::Find(const Node& node, const std::string& device_type) const {
  ReaderMutexLock lock(&mu_);
  return FindLocked(node, device_type);
}

const KernelDef* KernelRegistry::FindLocked(const Node& node,
                                            const std::string& device_type) const {
  auto [begin, end] = kernels_.equal_range(node.op());
  for (auto it = begin; it != end; ++it) {
    if (it->second.device_type == device_type && Matches(it->second, node)) return &it->second;
  }
  return nullptr;
}

std::vector<std::string> KernelRegistry::SupportedDeviceTypes(const Node& node) const {
  ReaderMutexLock lock(&mu_);
  return SupportedDeviceTypesLocked(node);
}

std::vector<std::string> KernelRegistry::SupportedDeviceTypesLocked(const Node& node) const {
  std::vector<std::string> out;
  auto [begin, end] = kernels_.equal_range(node.op());
  for (auto it = begin; it != end; ++it) {
    if (Matches(it->second, node) &&
        std::find(out.begin(), out.end(), it->second.device_type) == out.end()) {
      out.push_back(it->second.device_type);
    }
  }
  return out;
}

KernelOrError KernelRegistry::CreateKernel(const Node& node, const std::string& device_type) const {
  const KernelDef* def = nullptr;
  {
    ReaderMutexLock lock(&mu_);
    def = FindLocked(node, device_type);
  }
  if (def == nullptr) {
    ReaderMutexLock lock(&mu_);
    std::string dtype;
    auto [begin, end] = kernels_.equal_range(node.op());
    for (auto it = begin; it != end; ++it) {
      if (!it->second.type_attr.empty()) {
        auto t = node.GetAttr<DataType>(it->second.type_attr);
        if (t.ok()) dtype = absl::StrCat(" for ", it->second.type_attr, "=", DataTypeName(*t));
        break;
      }
    }
    std::vector<std::string> devices = SupportedDeviceTypesLocked(node);
    return absl::NotFoundError(absl::StrCat(
        NodePrefix(node), "no ", device_type, " kernel", dtype,
        "; devices with a kernel: ", devices.empty() ? "none" : absl::StrJoin(devices, ", ")));
  }
  // Outside the lock: factories may look kernels up themselves. `def` stays valid (see
  // KernelRegistry).
  OpKernelConstruction construction(node);
  KernelOrError kernel = def->factory(construction);
  if (kernel.ok() && *kernel != nullptr && !def->host_memory_args.empty()) {
    std::vector<bool>& host = (*kernel)->host_memory_outputs_;
    host.assign(node.num_outputs(), false);
    for (int i = 0; i < node.num_outputs(); ++i) {
      host[i] = def->IsHostMemoryArg(node.OutputArgName(i));
    }
  }
  return kernel;
}

}  // namespace quiver
