// Node attributes are TensorFlow AttrValue protos, so import/export is lossless. These helpers
// read them with type checking and build them concisely.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/tensor.h"
#include "graph/tensor_shape.h"
#include "graph/types.h"
#include "proto/graph.pb.h"

namespace quiver {

using AttrValue = tensorflow::AttrValue;
using AttrMap = std::map<std::string, AttrValue>;

// The attr type names of TF's OpDef: "int", "float", "bool", "string", "type", "shape",
// "tensor", "func", and "list(...)" of each. Returns "" for an unset AttrValue.
std::string AttrValueTypeName(const AttrValue& value);

AttrValue MakeAttr(int64_t v);
inline AttrValue MakeAttr(int v) { return MakeAttr(static_cast<int64_t>(v)); }
AttrValue MakeAttr(float v);
AttrValue MakeAttr(bool v);
AttrValue MakeAttr(const std::string& v);
inline AttrValue MakeAttr(const char* v) { return MakeAttr(std::string(v)); }
AttrValue MakeAttr(DataType v);
AttrValue MakeAttr(const TensorShape& v);
AttrValue MakeAttr(const std::vector<int64_t>& v);
AttrValue MakeAttr(const std::vector<float>& v);
AttrValue MakeAttr(const std::vector<DataType>& v);
AttrValue MakeAttr(const std::vector<std::string>& v);
// Encodes the tensor as a TensorProto (tensor_content).
AttrValue MakeAttr(const Tensor& v);

// TensorShapeProto <-> TensorShape. `legacy_empty_is_unknown` handles producers <= 21 that wrote
// an unknown Placeholder shape as an empty shape.
TensorShape ShapeFromProto(const tensorflow::TensorShapeProto& proto);
void ShapeToProto(const TensorShape& shape, tensorflow::TensorShapeProto* proto);

// Typed getters: an error names the attr and the expected/actual type.
template <typename T>
absl::StatusOr<T> GetAttr(const AttrMap& attrs, const std::string& name);
// The supported T (defined in attr_value.cc):
template <>
absl::StatusOr<int64_t> GetAttr<int64_t>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<int> GetAttr<int>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<float> GetAttr<float>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<bool> GetAttr<bool>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<std::string> GetAttr<std::string>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<DataType> GetAttr<DataType>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<TensorShape> GetAttr<TensorShape>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<Tensor> GetAttr<Tensor>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<std::vector<int64_t>> GetAttr<std::vector<int64_t>>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<std::vector<int>> GetAttr<std::vector<int>>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<std::vector<float>> GetAttr<std::vector<float>>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<std::vector<DataType>> GetAttr<std::vector<DataType>>(const AttrMap& attrs, const std::string& name);
template <>
absl::StatusOr<std::vector<std::string>> GetAttr<std::vector<std::string>>(const AttrMap& attrs, const std::string& name);

// Returns the attr or `fallback` when it is absent (still an error if it has the wrong type).
template <typename T>
absl::StatusOr<T> GetAttrOr(const AttrMap& attrs, const std::string& name, T fallback) {
  if (attrs.find(name) == attrs.end()) return fallback;
  return GetAttr<T>(attrs, name);
}

}  // namespace quiver
