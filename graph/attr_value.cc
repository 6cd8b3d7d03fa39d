#include "graph/attr_value.h"

#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"
#include "graph/tensor_proto.h"

namespace quiver {

std::string AttrValueTypeName(const AttrValue& v) {
  switch (v.value_case()) {
    case AttrValue::kS: return "string";
    case AttrValue::kI: return "int";
    case AttrValue::kF: return "float";
    case AttrValue::kB: return "bool";
    case AttrValue::kType: return "type";
    case AttrValue::kShape: return "shape";
    case AttrValue::kTensor: return "tensor";
    case AttrValue::kFunc: return "func";
    case AttrValue::kPlaceholder: return "placeholder";
    case AttrValue::kList: {
      const auto& l = v.list();
      if (l.s_size()) return "list(string)";
      if (l.i_size()) return "list(int)";
      if (l.f_size()) return "list(float)";
      if (l.b_size()) return "list(bool)";
      if (l.type_size()) return "list(type)";
      if (l.shape_size()) return "list(shape)";
      if (l.tensor_size()) return "list(tensor)";
      if (l.func_size()) return "list(func)";
      return "list";  // empty list: matches any list type
    }
    case AttrValue::VALUE_NOT_SET: return "";
  }
  return "";
}

AttrValue MakeAttr(int64_t v) {
  AttrValue a;
  a.set_i(v);
  return a;
}
AttrValue MakeAttr(float v) {
  AttrValue a;
  a.set_f(v);
  return a;
}
AttrValue MakeAttr(bool v) {
  AttrValue a;
  a.set_b(v);
  return a;
}
AttrValue MakeAttr(const std::string& v) {
  AttrValue a;
  a.set_s(v);
  return a;
}
AttrValue MakeAttr(DataType v) {
  AttrValue a;
  a.set_type(static_cast<tensorflow::DataType>(v));
  return a;
}
AttrValue MakeAttr(const TensorShape& v) {
  AttrValue a;
  ShapeToProto(v, a.mutable_shape());
  return a;
}
AttrValue MakeAttr(const std::vector<int64_t>& v) {
  AttrValue a;
  auto* list = a.mutable_list();
  for (int64_t x : v) list->add_i(x);
  return a;
}
AttrValue MakeAttr(const std::vector<float>& v) {
  AttrValue a;
  auto* list = a.mutable_list();
  for (float x : v) list->add_f(x);
  return a;
}
AttrValue MakeAttr(const std::vector<DataType>& v) {
  AttrValue a;
  auto* list = a.mutable_list();
  for (DataType x : v) list->add_type(static_cast<tensorflow::DataType>(x));
  return a;
}
AttrValue MakeAttr(const std::vector<std::string>& v) {
  AttrValue a;
  auto* list = a.mutable_list();
  for (const std::string& x : v) list->add_s(x);
  return a;
}
AttrValue MakeAttr(const Tensor& v) {
  AttrValue a;
  TensorToProto(v, a.mutable_tensor());
  return a;
}

TensorShape ShapeFromProto(const tensorflow::TensorShapeProto& proto) {
  if (proto.unknown_rank()) return TensorShape::UnknownRank();
  std::vector<int64_t> dims;
  dims.reserve(proto.dim_size());
  for (const auto& d : proto.dim()) dims.push_back(d.size() < 0 ? -1 : d.size());
  return TensorShape(std::move(dims));
}

void ShapeToProto(const TensorShape& shape, tensorflow::TensorShapeProto* proto) {
  proto->Clear();
  if (shape.unknown_rank()) {
    proto->set_unknown_rank(true);
    return;
  }
  for (int64_t d : shape.dims()) proto->add_dim()->set_size(d);
}

namespace {

absl::Status WrongType(const std::string& name, const char* expected, const AttrValue& v) {
  std::string actual = AttrValueTypeName(v);
  return absl::InvalidArgumentError(absl::StrCat("attr '", name, "' has type ",
                                                 actual.empty() ? "<unset>" : actual,
                                                 ", expected ", expected));
}

absl::StatusOr<const AttrValue*> Find(const AttrMap& attrs, const std::string& name) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return absl::InvalidArgumentError(absl::StrCat("missing attr '", name, "'"));
  return &it->second;
}

bool IsListOrEmpty(const AttrValue& v) { return v.value_case() == AttrValue::kList; }

}  // namespace

template <>
absl::StatusOr<int64_t> GetAttr<int64_t>(const AttrMap& attrs, const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if ((*v)->value_case() != AttrValue::kI) return WrongType(name, "int", **v);
  return (*v)->i();
}
template <>
absl::StatusOr<int> GetAttr<int>(const AttrMap& attrs, const std::string& name) {
  auto v = GetAttr<int64_t>(attrs, name);
  if (!v.ok()) return v.status();
  return static_cast<int>(*v);
}
template <>
absl::StatusOr<float> GetAttr<float>(const AttrMap& attrs, const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if ((*v)->value_case() != AttrValue::kF) return WrongType(name, "float", **v);
  return (*v)->f();
}
template <>
absl::StatusOr<bool> GetAttr<bool>(const AttrMap& attrs, const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if ((*v)->value_case() != AttrValue::kB) return WrongType(name, "bool", **v);
  return (*v)->b();
}
template <>
absl::StatusOr<std::string> GetAttr<std::string>(const AttrMap& attrs, const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if ((*v)->value_case() != AttrValue::kS) return WrongType(name, "string", **v);
  return (*v)->s();
}
template <>
absl::StatusOr<DataType> GetAttr<DataType>(const AttrMap& attrs, const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if ((*v)->value_case() != AttrValue::kType) return WrongType(name, "type", **v);
  return static_cast<DataType>((*v)->type());
}
template <>
absl::StatusOr<TensorShape> GetAttr<TensorShape>(const AttrMap& attrs, const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if ((*v)->value_case() != AttrValue::kShape) return WrongType(name, "shape", **v);
  return ShapeFromProto((*v)->shape());
}
template <>
absl::StatusOr<Tensor> GetAttr<Tensor>(const AttrMap& attrs, const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if ((*v)->value_case() != AttrValue::kTensor) return WrongType(name, "tensor", **v);
  auto t = TensorFromProto((*v)->tensor());
  if (!t.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("attr '", name, "': ", t.status().message()));
  }
  return t;
}
template <>
absl::StatusOr<std::vector<int64_t>> GetAttr<std::vector<int64_t>>(const AttrMap& attrs,
                                                                   const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if (!IsListOrEmpty(**v)) return WrongType(name, "list(int)", **v);
  const auto& l = (*v)->list();
  return std::vector<int64_t>(l.i().begin(), l.i().end());
}
template <>
absl::StatusOr<std::vector<int>> GetAttr<std::vector<int>>(const AttrMap& attrs,
                                                           const std::string& name) {
  auto v = GetAttr<std::vector<int64_t>>(attrs, name);
  if (!v.ok()) return v.status();
  return std::vector<int>(v->begin(), v->end());
}
template <>
absl::StatusOr<std::vector<float>> GetAttr<std::vector<float>>(const AttrMap& attrs,
                                                               const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if (!IsListOrEmpty(**v)) return WrongType(name, "list(float)", **v);
  const auto& l = (*v)->list();
  return std::vector<float>(l.f().begin(), l.f().end());
}
template <>
absl::StatusOr<std::vector<DataType>> GetAttr<std::vector<DataType>>(const AttrMap& attrs,
                                                                     const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if (!IsListOrEmpty(**v)) return WrongType(name, "list(type)", **v);
  std::vector<DataType> out;
  for (int t : (*v)->list().type()) out.push_back(static_cast<DataType>(t));
  return out;
}
template <>
absl::StatusOr<std::vector<std::string>> GetAttr<std::vector<std::string>>(
    const AttrMap& attrs, const std::string& name) {
  auto v = Find(attrs, name);
  if (!v.ok()) return v.status();
  if (!IsListOrEmpty(**v)) return WrongType(name, "list(string)", **v);
  const auto& l = (*v)->list();
  return std::vector<std::string>(l.s().begin(), l.s().end());
}

}  // namespace quiver
