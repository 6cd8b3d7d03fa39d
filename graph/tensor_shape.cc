#include "graph/tensor_shape.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quiver {

bool TensorShape::IsFullyDefined() const {
  if (unknown_rank_) return false;
  for (int64_t d : dims_) {
    if (d < 0) return false;
  }
  return true;
}

int64_t TensorShape::num_elements() const {
  if (!IsFullyDefined()) return -1;
  int64_t n = 1;
  for (int64_t d : dims_) {
    // A product past int64 cannot be a tensor's; treat it as unknown rather than wrap.
    if (__builtin_mul_overflow(n, d, &n)) return -1;
  }
  return n;
}

absl::StatusOr<int64_t> TensorShape::ValidatedNumElements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape [", absl::StrJoin(dims, ","), "] has a negative dimension"));
    }
    if (d != 0 && n > INT64_MAX / d) {
      return absl::InvalidArgumentError(absl::StrCat("shape [", absl::StrJoin(dims, ","),
                                                     "] has more elements than fit in 64 bits"));
    }
    n *= d;
  }
  return n;
}

bool TensorShape::IsCompatibleWith(const TensorShape& concrete) const {
  if (unknown_rank_ || concrete.unknown_rank_) return true;
  if (dims_.size() != concrete.dims_.size()) return false;
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (dims_[i] >= 0 && concrete.dims_[i] >= 0 && dims_[i] != concrete.dims_[i]) return false;
  }
  return true;
}

std::string TensorShape::DebugString() const {
  if (unknown_rank_) return "<unknown>";
  std::string out = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) out += ",";
    out += dims_[i] < 0 ? "?" : absl::StrCat(dims_[i]);
  }
  return out + "]";
}

}  // namespace quiver
