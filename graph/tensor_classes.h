// Union-find over a GraphDef's tensors ("node:index"), for import-time lowerings that must give
// every tensor joined through forwarding ops (Identity, Switch, Merge, Enter, ...) one dtype:
// cond_v2's Optionals (graph/resource_variable_lowering.h) and TensorLists/TensorArrays
// (graph/tensor_list_lowering.h). Each class holds the dtype its tensors must have
// (DT_INVALID: not yet known) and a kind (0: not yet known) that the caller defines.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "proto/graph.pb.h"

namespace quiver {

class TensorClasses {
 public:
  // The class id of `tensor`, creating a singleton class for a new one.
  int Id(const std::string& tensor) {
    auto [it, inserted] = ids_.emplace(tensor, static_cast<int>(parent_.size()));
    if (inserted) {
      parent_.push_back(it->second);
      dtype_.push_back(tensorflow::DT_INVALID);
      kind_.push_back(0);
    }
    return it->second;
  }
  bool Has(const std::string& tensor) const { return ids_.count(tensor) > 0; }
  int Find(int x) {
    while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
    return x;
  }
  // False when the two classes already hold different dtypes or kinds.
  bool Union(int a, int b) {
    a = Find(a);
    b = Find(b);
    if (a == b) return true;
    if (!Compatible(dtype_[a], dtype_[b]) || !Compatible(kind_[a], kind_[b])) return false;
    if (dtype_[a] == tensorflow::DT_INVALID) dtype_[a] = dtype_[b];
    if (kind_[a] == 0) kind_[a] = kind_[b];
    parent_[b] = a;
    return true;
  }
  // False when the class already holds another dtype.
  bool Constrain(int x, tensorflow::DataType t) {
    x = Find(x);
    if (!Compatible(dtype_[x], t)) return false;
    dtype_[x] = t;
    return true;
  }
  // False when the class already has another kind.
  bool SetKind(int x, int kind) {
    x = Find(x);
    if (!Compatible(kind_[x], kind)) return false;
    kind_[x] = kind;
    return true;
  }
  tensorflow::DataType DtypeOf(int x) { return dtype_[Find(x)]; }
  int KindOf(int x) { return kind_[Find(x)]; }

 private:
  template <typename T>
  static bool Compatible(T a, T b) {
    return a == T{} || b == T{} || a == b;
  }
  std::unordered_map<std::string, int> ids_;
  std::vector<int> parent_;
  std::vector<tensorflow::DataType> dtype_;
  std::vector<int> kind_;
};

}  // namespace quiver
