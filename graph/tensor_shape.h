// Tensor shapes. A dimension of -1 is unknown; a shape may also have unknown rank.
// Concrete tensors always have fully known shapes; partial shapes appear in shape inference
// and Placeholder declarations.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quiver {

class TensorShape {
 public:
  static constexpr int64_t kUnknownDim = -1;

  TensorShape() = default;  // scalar
  TensorShape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit TensorShape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  static TensorShape UnknownRank() {
    TensorShape s;
    s.unknown_rank_ = true;
    return s;
  }

  bool unknown_rank() const { return unknown_rank_; }
  int rank() const { return unknown_rank_ ? -1 : static_cast<int>(dims_.size()); }
  int64_t dim(int i) const { return dims_[i]; }
  void set_dim(int i, int64_t d) { dims_[i] = d; }
  const std::vector<int64_t>& dims() const { return dims_; }
  void AddDim(int64_t d) { dims_.push_back(d); }
  bool IsFullyDefined() const;

  // Product of the dims; -1 if any dim or the rank is unknown, or if the product overflows
  // int64 (no tensor has such a shape; ValidatedNumElements says why). Callers that build shapes
  // from untrusted input use ValidatedNumElements instead, which rejects overflow.
  int64_t num_elements() const;
  static absl::StatusOr<int64_t> ValidatedNumElements(const std::vector<int64_t>& dims);

  // True when a tensor of shape `concrete` may stand where this (possibly partial) shape is
  // declared.
  bool IsCompatibleWith(const TensorShape& concrete) const;

  // "[2,?,3]", "<unknown>", "[]" for scalars.
  std::string DebugString() const;

  bool operator==(const TensorShape& o) const {
    return unknown_rank_ == o.unknown_rank_ && dims_ == o.dims_;
  }
  bool operator!=(const TensorShape& o) const { return !(*this == o); }

 private:
  std::vector<int64_t> dims_;
  bool unknown_rank_ = false;
};

}  // namespace quiver
