#include "devices/kernel.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quiver {

namespace {
std::string NodePrefix(const Node& node) {
  return absl::StrCat("node '", node.name(), "' (", node.op(), "): ");
}
}  // namespace

absl::Status OpKernelConstruction::Error(const std::string& message) const {
  return absl::InvalidArgumentError(NodePrefix(node_) + message);
}

absl::Status OpKernelContext::Error(const std::string& message) const {
  return absl::InvalidArgumentError(NodePrefix(node_) + message);
}

absl::StatusOr<Tensor*> OpKernelContext::allocate_output(int i, const TensorShape& shape) {
  auto t = Tensor::Create(node_.output_type(i), shape);
  if (!t.ok()) {
    return absl::Status(t.status().code(), NodePrefix(node_) + std::string(t.status().message()));
  }
  outputs_[i].tensor = *std::move(t);
  return &outputs_[i].tensor;
}

absl::StatusOr<Tensor*> OpKernelContext::forward_input_or_allocate_output(
    int in, int out, const TensorShape& shape) {
  TensorValue& input = inputs_[in];
  // Only forward a tensor this step owns exclusively: not a variable's buffer, not shared.
  if (input.ref == nullptr && input.tensor.valid() && input.tensor.RefCountIsOne() &&
      input.tensor.dtype() == node_.output_type(out)) {
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
  kernels_.emplace(std::move(op), std::move(def));
}

namespace {
bool Matches(const KernelDef& def, const Node& node) {
  if (def.type_attr.empty() || def.allowed_types.empty()) return true;
  auto t = node.GetAttr<DataType>(def.type_attr);
  if (!t.ok()) return false;
  return std::find(def.allowed_types.begin(), def.allowed_types.end(), *t) !=
         def.allowed_types.end();
}
}  // namespace

const KernelDef* KernelRegistry::Find(const Node& node, const std::string& device_type) const {
  auto [begin, end] = kernels_.equal_range(node.op());
  for (auto it = begin; it != end; ++it) {
    if (it->second.device_type == device_type && Matches(it->second, node)) return &it->second;
  }
  return nullptr;
}

std::vector<std::string> KernelRegistry::SupportedDeviceTypes(const Node& node) const {
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

KernelOrError KernelRegistry::CreateKernel(const Node& node,
                                           const std::string& device_type) const {
  const KernelDef* def = Find(node, device_type);
  if (def == nullptr) {
    std::string dtype;
    auto [begin, end] = kernels_.equal_range(node.op());
    for (auto it = begin; it != end; ++it) {
      if (!it->second.type_attr.empty()) {
        auto t = node.GetAttr<DataType>(it->second.type_attr);
        if (t.ok()) dtype = absl::StrCat(" for ", it->second.type_attr, "=", DataTypeName(*t));
        break;
      }
    }
    std::vector<std::string> devices = SupportedDeviceTypes(node);
    return absl::NotFoundError(absl::StrCat(
        NodePrefix(node), "no ", device_type, " kernel", dtype, "; devices with a kernel: ",
        devices.empty() ? "none" : absl::StrJoin(devices, ", ")));
  }
  OpKernelConstruction construction(node);
  return def->factory(construction);
}

}  // namespace quiver
