#include "graph/ops/array_shapes.h"

#include <cmath>
#include <limits>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/op_registry.h"

namespace quiver::array_shapes {

namespace {

constexpr int64_t kUnknown = TensorShape::kUnknownDim;

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

std::string VecString(const std::vector<int64_t>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ","), "]");
}

// a * b for non-negative dims; error on int64 overflow.
absl::StatusOr<int64_t> MulDims(int64_t a, int64_t b) {
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) {
    return Invalid(absl::StrCat("dimension ", a, " * ", b, " overflows int64"));
  }
  return a * b;
}

absl::StatusOr<int64_t> AddDims(int64_t a, int64_t b) {
  if (b > std::numeric_limits<int64_t>::max() - a) {
    return Invalid(absl::StrCat("dimension ", a, " + ", b, " overflows int64"));
  }
  return a + b;
}

TensorShape UnknownDims(int rank) { return TensorShape(std::vector<int64_t>(rank, kUnknown)); }

}  // namespace

absl::StatusOr<int> CanonicalAxis(int64_t axis, int rank, const char* what) {
  if (axis < -rank || axis >= rank) {
    return Invalid(absl::StrCat(what, " = ", axis, " is out of range [", -rank, ", ", rank,
                                ") for a tensor of rank ", rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::StatusOr<TensorShape> ShapeFromDims(const std::vector<int64_t>& dims, bool allow_unknown) {
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0 && !(allow_unknown && dims[i] == kUnknown)) {
      return Invalid(absl::StrCat("dims[", i, "] = ", dims[i], " must be non-negative"));
    }
  }
  TensorShape shape(dims);
  if (shape.IsFullyDefined()) {
    auto n = TensorShape::ValidatedNumElements(dims);
    if (!n.ok()) return n.status();
  }
  return shape;
}

absl::StatusOr<TensorShape> ReshapeShape(const TensorShape& input,
                                         const std::vector<int64_t>& requested) {
  int unknown_index = -1;
  int64_t product = 1;
  for (size_t i = 0; i < requested.size(); ++i) {
    int64_t d = requested[i];
    if (d == kUnknown) {
      if (unknown_index >= 0) {
        return Invalid(absl::StrCat("only one dimension of the requested shape ",
                                    VecString(requested), " may be -1, not both ", unknown_index,
                                    " and ", i));
      }
      unknown_index = static_cast<int>(i);
    } else if (d < 0) {
      return Invalid(absl::StrCat("requested shape ", VecString(requested), " has dimension ", i,
                                  " = ", d, "; sizes must be non-negative or -1"));
    } else {
      auto p = MulDims(product, d);
      if (!p.ok())
        return Invalid(absl::StrCat("requested shape ", VecString(requested),
                                    " has more elements than fit in int64"));
      product = *p;
    }
  }
  std::vector<int64_t> out = requested;
  int64_t n = input.num_elements();  // -1 unless fully defined
  if (n >= 0) {
    if (unknown_index >= 0) {
      if (product == 0) {
        return Invalid(absl::StrCat("cannot infer the -1 in requested shape ", VecString(requested),
                                    " for a tensor with ", n,
                                    " values: the other sizes multiply to 0"));
      }
      if (n % product != 0) {
        return Invalid(absl::StrCat("Input to reshape is a tensor with ", n,
                                    " values, but the requested shape ", VecString(requested),
                                    " requires a multiple of ", product));
      }
      out[unknown_index] = n / product;
    } else if (product != n) {
      return Invalid(absl::StrCat("Input to reshape is a tensor with ", n, " values (shape ",
                                  input.DebugString(), "), but the requested shape ",
                                  VecString(requested), " has ", product));
    }
  } else if (unknown_index < 0 && !input.unknown_rank() && product != 0) {
    // Partial input: its known dims must still divide the requested element count.
    int64_t known = 1;
    for (int64_t d : input.dims()) {
      if (d >= 0) known *= d;  // never overflows: the input product of a real tensor fits
    }
    if (known > 0 && product % known != 0) {
      return Invalid(absl::StrCat("Input to reshape is a tensor of shape ", input.DebugString(),
                                  " (a multiple of ", known, " values), but the requested shape ",
                                  VecString(requested), " has ", product));
    }
  }
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> SqueezeShape(const TensorShape& input,
                                         const std::vector<int64_t>& squeeze_dims) {
  if (input.unknown_rank()) return TensorShape::UnknownRank();
  int rank = input.rank();
  std::set<int> to_squeeze;
  for (int64_t d : squeeze_dims) {
    if (d < -rank || d >= rank) {
      return Invalid(
          absl::StrCat("Tried to squeeze dim index ", d, " for tensor with ", rank, " dimensions"));
    }
    to_squeeze.insert(static_cast<int>(d < 0 ? d + rank : d));
  }
  std::vector<int64_t> out;
  for (int i = 0; i < rank; ++i) {
    int64_t d = input.dim(i);
    if (!to_squeeze.empty()) {
      if (to_squeeze.count(i)) {
        if (d >= 0 && d != 1) {
          return Invalid(absl::StrCat("Can not squeeze dim[", i,
                                      "], expected a dimension of 1, got ", d, " (input shape ",
                                      input.DebugString(), ")"));
        }
        continue;  // an unknown dim is assumed to be 1; the kernel checks
      }
      out.push_back(d);
    } else {
      if (d == kUnknown) return TensorShape::UnknownRank();  // cannot tell whether it goes
      if (d != 1) out.push_back(d);
    }
  }
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> ExpandDimsShape(const TensorShape& input, const int64_t* dim) {
  if (input.unknown_rank()) return TensorShape::UnknownRank();
  int rank = input.rank();
  if (dim == nullptr) return UnknownDims(rank + 1);
  if (*dim < -rank - 1 || *dim > rank) {
    return Invalid(absl::StrCat("Tried to expand dim index ", *dim, " for tensor with ", rank,
                                " dimensions (valid: [", -rank - 1, ", ", rank, "])"));
  }
  int at = static_cast<int>(*dim < 0 ? *dim + rank + 1 : *dim);
  std::vector<int64_t> out = input.dims();
  out.insert(out.begin() + at, 1);
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> TransposeShape(const TensorShape& input,
                                           const std::vector<int64_t>* perm, int perm_length) {
  if (perm != nullptr) {
    int n = static_cast<int>(perm->size());
    std::vector<bool> seen(n, false);
    for (int i = 0; i < n; ++i) {
      int64_t p = (*perm)[i];
      if (p < 0 || p >= n) {
        return Invalid(absl::StrCat("perm ", VecString(*perm), " has ", p, " at position ", i,
                                    ", which is out of range [0, ", n, ")"));
      }
      if (seen[p]) {
        return Invalid(absl::StrCat("perm ", VecString(*perm), " is not a permutation: ", p,
                                    " appears twice"));
      }
      seen[p] = true;
    }
    perm_length = n;
  }
  if (input.unknown_rank()) {
    return perm_length >= 0 ? UnknownDims(perm_length) : TensorShape::UnknownRank();
  }
  int rank = input.rank();
  if (perm_length >= 0 && perm_length != rank) {
    return Invalid(absl::StrCat("transpose expects a perm of size ", rank, " for input of shape ",
                                input.DebugString(), ", but perm has size ", perm_length));
  }
  if (perm == nullptr) return UnknownDims(rank);
  std::vector<int64_t> out(rank);
  for (int i = 0; i < rank; ++i) out[i] = input.dim(static_cast<int>((*perm)[i]));
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> ConcatShape(const std::vector<TensorShape>& inputs,
                                        const int64_t* axis) {
  int rank = -1;
  int first = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].unknown_rank()) continue;
    if (rank < 0) {
      rank = inputs[i].rank();
      first = static_cast<int>(i);
    } else if (inputs[i].rank() != rank) {
      return Invalid(absl::StrCat("ConcatOp : Ranks of all input tensors should match: shape[",
                                  first, "] = ", inputs[first].DebugString(), " vs. shape[", i,
                                  "] = ", inputs[i].DebugString()));
    }
  }
  if (rank < 0) return TensorShape::UnknownRank();
  if (rank == 0) return Invalid("Can't concatenate scalars (use tf.stack instead)");
  if (axis == nullptr) return UnknownDims(rank);
  auto ax = CanonicalAxis(*axis, rank, "concat axis");
  if (!ax.ok()) return ax.status();
  std::vector<int64_t> out(rank, kUnknown);
  std::vector<int> source(rank, -1);  // which input fixed each non-axis dim (for messages)
  int64_t axis_sum = 0;
  bool axis_known = true;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].unknown_rank()) {
      axis_known = false;
      continue;
    }
    for (int d = 0; d < rank; ++d) {
      int64_t v = inputs[i].dim(d);
      if (d == *ax) {
        if (v < 0) {
          axis_known = false;
        } else if (axis_known) {
          auto s = AddDims(axis_sum, v);
          if (!s.ok()) return s.status();
          axis_sum = *s;
        }
        continue;
      }
      if (v < 0) continue;
      if (out[d] < 0) {
        out[d] = v;
        source[d] = static_cast<int>(i);
      } else if (out[d] != v) {
        return Invalid(
            absl::StrCat("ConcatOp : Dimension ", d, " in both shapes must be equal: shape[",
                         source[d], "] = ", inputs[source[d]].DebugString(), " vs. shape[", i,
                         "] = ", inputs[i].DebugString(), " (concatenating along axis ", *ax, ")"));
      }
    }
  }
  out[*ax] = axis_known ? axis_sum : kUnknown;
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> PackShape(const std::vector<TensorShape>& inputs, int64_t axis) {
  TensorShape merged = TensorShape::UnknownRank();
  int first = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorShape& s = inputs[i];
    if (s.unknown_rank()) continue;
    if (merged.unknown_rank()) {
      merged = s;
      first = static_cast<int>(i);
      continue;
    }
    bool ok = s.rank() == merged.rank();
    for (int d = 0; ok && d < s.rank(); ++d) {
      if (s.dim(d) < 0) continue;
      if (merged.dim(d) < 0) {
        merged.set_dim(d, s.dim(d));
      } else if (merged.dim(d) != s.dim(d)) {
        ok = false;
      }
    }
    if (!ok) {
      return Invalid(absl::StrCat("Shapes of all inputs must match: values[", first,
                                  "].shape = ", inputs[first].DebugString(), " != values[", i,
                                  "].shape = ", s.DebugString()));
    }
  }
  if (merged.unknown_rank()) return TensorShape::UnknownRank();
  int rank = merged.rank();
  if (axis < -(rank + 1) || axis > rank) {
    return Invalid(absl::StrCat("axis = ", axis, " not in [", -(rank + 1), ", ", rank + 1,
                                ") for packing tensors of shape ", merged.DebugString()));
  }
  int at = static_cast<int>(axis < 0 ? axis + rank + 1 : axis);
  std::vector<int64_t> out = merged.dims();
  out.insert(out.begin() + at, static_cast<int64_t>(inputs.size()));
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> UnpackShape(const TensorShape& input, int64_t num, int64_t axis) {
  if (input.unknown_rank()) return TensorShape::UnknownRank();
  int rank = input.rank();
  if (axis < -rank || axis >= rank) {
    return Invalid(absl::StrCat("axis = ", axis, " not in [", -rank, ", ", rank,
                                ") for unpacking a tensor of shape ", input.DebugString()));
  }
  int at = static_cast<int>(axis < 0 ? axis + rank : axis);
  if (input.dim(at) >= 0 && input.dim(at) != num) {
    return Invalid(absl::StrCat("Unpack of a tensor of shape ", input.DebugString(), " along axis ",
                                at, " gives ", input.dim(at), " outputs, but num = ", num));
  }
  std::vector<int64_t> out = input.dims();
  out.erase(out.begin() + at);
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> SplitShape(const TensorShape& input, int64_t num_split,
                                       const int64_t* axis) {
  if (num_split < 1) return Invalid(absl::StrCat("num_split = ", num_split, " must be >= 1"));
  if (input.unknown_rank()) return TensorShape::UnknownRank();
  const int rank = input.rank();
  if (axis == nullptr) return UnknownDims(rank);
  auto at = CanonicalAxis(*axis, rank, "split_dim");
  if (!at.ok()) return at.status();
  std::vector<int64_t> out = input.dims();
  const int64_t dim = out[*at];
  if (dim >= 0 && dim % num_split != 0) {
    return Invalid(absl::StrCat(
        "Number of ways to split should evenly divide the split dimension, but got split_dim ", *at,
        " (size = ", dim, ") and num_split ", num_split, " for a tensor of shape ",
        input.DebugString()));
  }
  out[*at] = dim >= 0 ? dim / num_split : kUnknown;
  return TensorShape(std::move(out));
}

absl::StatusOr<std::vector<TensorShape>> SplitVShapes(const TensorShape& input, int64_t num_split,
                                                      const std::vector<int64_t>* size_splits,
                                                      const int64_t* axis) {
  if (num_split < 1) return Invalid(absl::StrCat("num_split = ", num_split, " must be >= 1"));
  std::vector<int64_t> sizes;
  int rest = -1;  // the index of the -1 entry
  int64_t known_sum = 0;
  if (size_splits != nullptr) {
    sizes = *size_splits;
    if (static_cast<int64_t>(sizes.size()) != num_split) {
      return Invalid(absl::StrCat("size_splits ", VecString(sizes), " has ", sizes.size(),
                                  " entries, but num_split = ", num_split));
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] == kUnknown) {
        if (rest >= 0) {
          return Invalid(absl::StrCat("size_splits ", VecString(sizes),
                                      " may hold only one -1, but entries ", rest, " and ", i,
                                      " are -1"));
        }
        rest = static_cast<int>(i);
      } else if (sizes[i] < 0) {
        return Invalid(absl::StrCat("size_splits ", VecString(sizes), " has entry ", i, " = ",
                                    sizes[i], "; sizes must be non-negative or -1"));
      } else {
        auto s = AddDims(known_sum, sizes[i]);
        if (!s.ok()) return s.status();
        known_sum = *s;
      }
    }
  }
  const size_t n = static_cast<size_t>(num_split);
  if (input.unknown_rank()) return std::vector<TensorShape>(n, TensorShape::UnknownRank());
  const int rank = input.rank();
  if (axis == nullptr) return std::vector<TensorShape>(n, UnknownDims(rank));
  auto at = CanonicalAxis(*axis, rank, "split_dim");
  if (!at.ok()) return at.status();
  const int64_t dim = input.dim(*at);
  if (size_splits != nullptr && dim >= 0) {
    if (rest < 0 && known_sum != dim) {
      return Invalid(absl::StrCat("size_splits ", VecString(sizes), " sum to ", known_sum,
                                  ", but the input of shape ", input.DebugString(), " has size ",
                                  dim, " along split_dim ", *at));
    }
    if (rest >= 0 && known_sum > dim) {
      return Invalid(absl::StrCat("the known entries of size_splits ", VecString(sizes), " sum to ",
                                  known_sum, ", more than the size ", dim,
                                  " of the input of shape ", input.DebugString(),
                                  " along split_dim ", *at));
    }
    if (rest >= 0) sizes[rest] = dim - known_sum;
  }
  std::vector<TensorShape> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::vector<int64_t> dims = input.dims();
    dims[*at] = size_splits != nullptr ? sizes[i] : kUnknown;
    out.emplace_back(std::move(dims));
  }
  return out;
}

absl::StatusOr<TensorShape> SliceShape(const TensorShape& input, const std::vector<int64_t>* begin,
                                       const std::vector<int64_t>* size, int spec_length,
                                       std::vector<int64_t>* begin_out,
                                       std::vector<int64_t>* size_out) {
  if (begin != nullptr) spec_length = static_cast<int>(begin->size());
  if (size != nullptr) spec_length = static_cast<int>(size->size());
  int rank = input.unknown_rank() ? spec_length : input.rank();
  if (rank < 0) return TensorShape::UnknownRank();
  if (spec_length >= 0 && spec_length != rank) {
    return Invalid(absl::StrCat("Expected begin and size arguments to be 1-D tensors of size ",
                                rank, " (the rank of input ", input.DebugString(),
                                "), but got size ", spec_length));
  }
  std::vector<int64_t> out(rank, kUnknown);
  if (begin_out) begin_out->assign(rank, 0);
  if (size_out) size_out->assign(rank, 0);
  for (int i = 0; i < rank; ++i) {
    int64_t dim = input.unknown_rank() ? kUnknown : input.dim(i);
    bool b_known = begin != nullptr, s_known = size != nullptr;
    int64_t b = b_known ? (*begin)[i] : 0;
    int64_t s = s_known ? (*size)[i] : 0;
    if (b_known && (b < 0 || (dim >= 0 && b > dim))) {
      return Invalid(absl::StrCat("Expected begin[", i, "] in [0, ", dim >= 0 ? dim : b,
                                  "], but got ", b, " (input shape ", input.DebugString(), ")"));
    }
    if (s_known && s < -1) {
      return Invalid(absl::StrCat("Expected size[", i, "] >= -1, but got ", s));
    }
    if (s_known && s == -1) {
      out[i] = (dim >= 0 && b_known) ? dim - b : kUnknown;
    } else if (s_known) {
      if (dim >= 0 && b_known && s > dim - b) {
        return Invalid(absl::StrCat("Expected size[", i, "] in [0, ", dim - b, "], but got ", s,
                                    " (begin[", i, "] = ", b, ", input shape ", input.DebugString(),
                                    ")"));
      }
      out[i] = s;
    }
    if (begin_out) (*begin_out)[i] = b;
    if (size_out) (*size_out)[i] = out[i];
  }
  return TensorShape(std::move(out));
}

absl::StatusOr<StridedSlicePlan> PlanStridedSlice(const TensorShape& input,
                                                  const std::vector<int64_t>* begin,
                                                  const std::vector<int64_t>* end,
                                                  const std::vector<int64_t>* strides,
                                                  int spec_length, const StridedSliceMasks& masks) {
  StridedSlicePlan plan;
  bool values_known = begin != nullptr && end != nullptr && strides != nullptr;
  if (values_known) {
    if (begin->size() != end->size() || begin->size() != strides->size()) {
      return Invalid(absl::StrCat(
          "Expected begin, end, and strides to be 1-D tensors of equal size, but got sizes ",
          begin->size(), ", ", end->size(), " and ", strides->size()));
    }
    spec_length = static_cast<int>(begin->size());
  }
  if (spec_length > 64) {
    return Invalid(absl::StrCat("slice spec has ", spec_length, " entries; at most 64 supported"));
  }
  if (spec_length < 0 || input.unknown_rank()) {
    plan.output_shape = TensorShape::UnknownRank();
    return plan;
  }
  const int n = spec_length;
  auto bit = [](int64_t mask, int i) { return ((static_cast<uint64_t>(mask) >> i) & 1u) != 0; };

  // Ellipsis wins over new-axis, which wins over shrink (TF's precedence).
  int ellipsis_pos = -1;
  int consumed = 0;  // spec entries that index an input dimension
  for (int i = 0; i < n; ++i) {
    if (bit(masks.ellipsis_mask, i)) {
      if (ellipsis_pos >= 0) return Invalid("Multiple ellipses in slice spec not allowed");
      ellipsis_pos = i;
    } else if (!bit(masks.new_axis_mask, i)) {
      ++consumed;
    }
  }
  const int rank = input.rank();
  if (consumed > rank) {
    return Invalid(absl::StrCat("Index out of range using input dim ", rank, "; input of shape ",
                                input.DebugString(), " has only ", rank, " dims but the slice ",
                                "spec indexes ", consumed));
  }
  bool shape_known = input.IsFullyDefined();
  bool fill = values_known && shape_known;  // per-dimension plan only when fully concrete
  std::vector<int64_t> out;
  int full_index = 0;
  auto take_whole = [&](int d) {
    out.push_back(input.dim(d));
    if (fill) {
      plan.begin.push_back(0);
      plan.stride.push_back(1);
      plan.size.push_back(input.dim(d));
    }
  };
  for (int i = 0; i < n; ++i) {
    if (i == ellipsis_pos) {
      for (int k = 0; k < rank - consumed; ++k) take_whole(full_index++);
      continue;
    }
    if (bit(masks.new_axis_mask, i)) {
      out.push_back(1);
      continue;
    }
    const int d = full_index++;
    const int64_t dim = input.dim(d);
    const bool shrink = bit(masks.shrink_axis_mask, i);
    if (!values_known) {
      if (!shrink) out.push_back(kUnknown);
      continue;
    }
    const int64_t s = (*strides)[i];
    if (s == 0) return Invalid(absl::StrCat("strides[", i, "] must be non-zero"));
    if (shrink) {
      // x[k]: a single index, TF ignores the masks and end here.
      if (s < 0) return Invalid("only stride 1 allowed on non-range indexing");
      int64_t b = (*begin)[i];
      if (dim >= 0) {
        int64_t idx = b < 0 ? b + dim : b;
        if (idx < 0 || idx >= dim) {
          return Invalid(absl::StrCat("slice index ", b, " of dimension ", d,
                                      " out of bounds (input shape ", input.DebugString(), ")"));
        }
        if (fill) {
          plan.begin.push_back(idx);
          plan.stride.push_back(1);
          plan.size.push_back(1);
        }
      }
      continue;
    }
    if (dim < 0) {
      out.push_back(kUnknown);
      continue;
    }
    // NumPy range semantics: negative indices count from the end, then clamp; a negative
    // stride walks from begin down to (excluding) end.
    const int64_t lo = s > 0 ? 0 : -1;
    const int64_t hi = s > 0 ? dim : dim - 1;
    auto canonical = [&](int64_t x, bool masked, bool is_begin) -> int64_t {
      if (masked) return s > 0 ? (is_begin ? 0 : dim) : (is_begin ? dim - 1 : -1);
      int64_t fwd = x < 0 ? (x < -dim ? lo : x + dim) : x;
      return fwd < lo ? lo : (fwd > hi ? hi : fwd);
    };
    int64_t b = canonical((*begin)[i], bit(masks.begin_mask, i), true);
    int64_t e = canonical((*end)[i], bit(masks.end_mask, i), false);
    int64_t size = 0;
    if (s > 0 && e > b) {
      size = (e - b - 1) / s + 1;  // ceil((e - b) / s) without overflow
    } else if (s < 0 && b > e) {
      uint64_t abs_s = static_cast<uint64_t>(-(s + 1)) + 1;
      size = static_cast<int64_t>(static_cast<uint64_t>(b - e - 1) / abs_s) + 1;
    }
    out.push_back(size);
    if (fill) {
      plan.begin.push_back(size > 0 ? b : 0);
      plan.stride.push_back(s);
      plan.size.push_back(size);
    }
  }
  if (ellipsis_pos < 0) {
    while (full_index < rank) take_whole(full_index++);  // implicit trailing ellipsis
  }
  plan.output_shape = TensorShape(std::move(out));
  if (fill) {
    plan.is_identity = true;
    for (int d = 0; d < rank; ++d) {
      if (plan.begin[d] != 0 || plan.size[d] != input.dim(d) ||
          (plan.stride[d] != 1 && plan.size[d] > 1)) {
        plan.is_identity = false;
      }
    }
  }
  return plan;
}

absl::StatusOr<TensorShape> TileShape(const TensorShape& input,
                                      const std::vector<int64_t>* multiples, int spec_length) {
  if (multiples != nullptr) {
    spec_length = static_cast<int>(multiples->size());
    for (size_t i = 0; i < multiples->size(); ++i) {
      if ((*multiples)[i] < 0) {
        return Invalid(absl::StrCat("Expected multiples[", i, "] >= 0, but got ", (*multiples)[i]));
      }
    }
  }
  int rank = input.unknown_rank() ? spec_length : input.rank();
  if (rank < 0) return TensorShape::UnknownRank();
  if (spec_length >= 0 && spec_length != rank) {
    return Invalid(absl::StrCat("Expected multiples argument to be a vector of length ", rank,
                                " (the rank of input ", input.DebugString(), ") but got length ",
                                spec_length));
  }
  std::vector<int64_t> out(rank, kUnknown);
  for (int i = 0; i < rank; ++i) {
    int64_t dim = input.unknown_rank() ? kUnknown : input.dim(i);
    if (multiples == nullptr) {
      out[i] = dim == 0 ? 0 : kUnknown;
      continue;
    }
    int64_t m = (*multiples)[i];
    if (m == 0 || dim == 0) {
      out[i] = 0;
    } else if (dim > 0) {
      auto p = MulDims(dim, m);
      if (!p.ok()) return p.status();
      out[i] = *p;
    }
  }
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> PadShape(const TensorShape& input, const std::vector<int64_t>* paddings,
                                     int spec_rows) {
  if (paddings != nullptr) {
    if (paddings->size() % 2 != 0) return Invalid("paddings must be a [rank, 2] matrix");
    spec_rows = static_cast<int>(paddings->size() / 2);
    for (size_t i = 0; i < paddings->size(); ++i) {
      if ((*paddings)[i] < 0) {
        return Invalid(absl::StrCat("Paddings must be non-negative: paddings[", i / 2, "] = [",
                                    (*paddings)[i & ~size_t{1}], ", ", (*paddings)[i | 1], "]"));
      }
    }
  }
  int rank = input.unknown_rank() ? spec_rows : input.rank();
  if (rank < 0) return TensorShape::UnknownRank();
  if (spec_rows >= 0 && spec_rows != rank) {
    return Invalid(
        absl::StrCat("The first dimension of paddings must be the rank of inputs: ", "input shape ",
                     input.DebugString(), ", paddings has ", spec_rows, " rows"));
  }
  std::vector<int64_t> out(rank, kUnknown);
  if (paddings == nullptr || input.unknown_rank()) return TensorShape(std::move(out));
  for (int i = 0; i < rank; ++i) {
    if (input.dim(i) < 0) continue;
    auto a = AddDims(input.dim(i), (*paddings)[2 * i]);
    if (!a.ok()) return a.status();
    auto b = AddDims(*a, (*paddings)[2 * i + 1]);
    if (!b.ok()) return b.status();
    out[i] = *b;
  }
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> GatherShape(const TensorShape& params, const TensorShape& indices,
                                        const int64_t* axis, int64_t batch_dims) {
  if (!params.unknown_rank() && params.rank() < 1) {
    return Invalid("params must be at least 1-dimensional");
  }
  if (params.unknown_rank() || indices.unknown_rank()) return TensorShape::UnknownRank();
  const int p_rank = params.rank(), i_rank = indices.rank();
  if (batch_dims < 0) batch_dims += i_rank;
  if (batch_dims < 0 || batch_dims > i_rank) {
    return Invalid(absl::StrCat("batch_dims must be in [", -i_rank, ", ", i_rank,
                                "] for indices of rank ", i_rank));
  }
  if (axis == nullptr) {
    return UnknownDims(p_rank + i_rank - 1 - static_cast<int>(batch_dims));
  }
  auto ax = CanonicalAxis(*axis, p_rank, "axis");
  if (!ax.ok()) return ax.status();
  if (batch_dims > *ax) {
    return Invalid(absl::StrCat("batch_dims (", batch_dims,
                                ") must be less than or equal to axis (", *ax, ")"));
  }
  for (int d = 0; d < batch_dims; ++d) {
    if (params.dim(d) >= 0 && indices.dim(d) >= 0 && params.dim(d) != indices.dim(d)) {
      return Invalid(absl::StrCat("params.shape[", d, "] = ", params.dim(d),
                                  " must equal indices.shape[", d, "] = ", indices.dim(d),
                                  " (batch_dims = ", batch_dims, ")"));
    }
  }
  std::vector<int64_t> out(params.dims().begin(), params.dims().begin() + *ax);
  out.insert(out.end(), indices.dims().begin() + batch_dims, indices.dims().end());
  out.insert(out.end(), params.dims().begin() + *ax + 1, params.dims().end());
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> OneHotShape(const TensorShape& indices, const int64_t* depth,
                                        int64_t axis) {
  if (depth != nullptr && *depth < 0) {
    return Invalid(absl::StrCat("depth must be non-negative, got: ", *depth));
  }
  if (indices.unknown_rank()) return TensorShape::UnknownRank();
  int rank = indices.rank();
  if (axis < -1 || axis > rank) {
    return Invalid(absl::StrCat("Expected axis to be -1 or between [0, ", rank + 1,
                                "), but received: ", axis));
  }
  std::vector<int64_t> out = indices.dims();
  out.insert(out.begin() + (axis == -1 ? rank : axis), depth ? *depth : kUnknown);
  return TensorShape(std::move(out));
}

absl::StatusOr<int64_t> RangeSize(int64_t start, int64_t limit, int64_t delta) {
  if (delta == 0) return Invalid("Requires delta != 0");
  if (delta > 0 && start > limit) {
    return Invalid(absl::StrCat("Requires start <= limit when delta > 0: ", start, "/", limit));
  }
  if (delta < 0 && start < limit) {
    return Invalid(absl::StrCat("Requires start >= limit when delta < 0: ", start, "/", limit));
  }
  // |limit - start| and |delta| as uint64 so that extreme int64 values do not overflow.
  uint64_t span = delta > 0 ? static_cast<uint64_t>(limit) - static_cast<uint64_t>(start)
                            : static_cast<uint64_t>(start) - static_cast<uint64_t>(limit);
  uint64_t step =
      delta > 0 ? static_cast<uint64_t>(delta) : static_cast<uint64_t>(-(delta + 1)) + 1;
  if (span == 0) return 0;
  uint64_t n = (span - 1) / step + 1;
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Invalid("Range has more elements than fit in int64");
  }
  return static_cast<int64_t>(n);
}

absl::StatusOr<int64_t> RangeSize(double start, double limit, double delta) {
  if (!std::isfinite(start) || !std::isfinite(limit) || !std::isfinite(delta)) {
    return Invalid(absl::StrCat("Range requires finite start, limit and delta: ", start, ", ",
                                limit, ", ", delta));
  }
  if (delta == 0) return Invalid("Requires delta != 0");
  if (delta > 0 && start > limit) {
    return Invalid(absl::StrCat("Requires start <= limit when delta > 0: ", start, "/", limit));
  }
  if (delta < 0 && start < limit) {
    return Invalid(absl::StrCat("Requires start >= limit when delta < 0: ", start, "/", limit));
  }
  double n = std::ceil(std::abs((limit - start) / delta));
  if (!(n < 9.2e18)) return Invalid("Range has more elements than fit in int64");
  return static_cast<int64_t>(n);
}

absl::StatusOr<TensorShape> BroadcastToShape(const TensorShape& input, const TensorShape& target) {
  if (target.unknown_rank()) return target;
  if (input.unknown_rank()) return target;
  if (input.rank() > target.rank()) {
    return Invalid(absl::StrCat(
        "Rank of input (", input.rank(), ") must be no greater than rank of output shape (",
        target.rank(), "): cannot broadcast ", input.DebugString(), " to ", target.DebugString()));
  }
  std::vector<int64_t> out = target.dims();
  const int offset = target.rank() - input.rank();
  for (int i = 0; i < input.rank(); ++i) {
    const int64_t in = input.dim(i);
    int64_t& t = out[offset + i];
    if (in == kUnknown || in == 1) continue;
    if (t == kUnknown) {
      t = in;
    } else if (t != in) {
      return Invalid(absl::StrCat("cannot broadcast ", input.DebugString(), " to ",
                                  target.DebugString(), ": input dim ", i, " is ", in,
                                  ", the target's is ", t));
    }
  }
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> SelectV2Shape(const TensorShape& cond, const TensorShape& then_shape,
                                          const TensorShape& else_shape) {
  auto te = shape_fn::BroadcastShapes(then_shape, else_shape);
  if (!te.ok()) {
    return Invalid(absl::StrCat("then and else must broadcast: ", then_shape.DebugString(), " vs ",
                                else_shape.DebugString()));
  }
  auto all = shape_fn::BroadcastShapes(cond, *te);
  if (!all.ok()) {
    return Invalid(absl::StrCat("condition ", cond.DebugString(),
                                " does not broadcast with then/else ", te->DebugString()));
  }
  return *all;
}

absl::StatusOr<TensorShape> SelectShape(const TensorShape& cond, const TensorShape& then_shape,
                                        const TensorShape& else_shape, bool* cond_as_rows) {
  if (cond_as_rows != nullptr) *cond_as_rows = false;
  TensorShape out = then_shape;
  if (!then_shape.unknown_rank() && !else_shape.unknown_rank()) {
    bool same = then_shape.rank() == else_shape.rank();
    std::vector<int64_t> dims;
    for (int d = 0; same && d < then_shape.rank(); ++d) {
      const int64_t a = then_shape.dim(d), b = else_shape.dim(d);
      same = a < 0 || b < 0 || a == b;
      dims.push_back(a < 0 ? b : a);
    }
    if (!same) {
      return Invalid(absl::StrCat("then and else must have the same shape, got ",
                                  then_shape.DebugString(), " and ", else_shape.DebugString()));
    }
    out = TensorShape(std::move(dims));
  } else if (then_shape.unknown_rank()) {
    out = else_shape;
  }
  if (cond.unknown_rank() || out.unknown_rank() || cond.rank() == 0) return out;
  if (cond.rank() == 1 && out.rank() > 1) {
    const int64_t n = cond.dim(0), rows = out.dim(0);
    if (n >= 0 && rows >= 0 && n != rows) {
      return Invalid(
          absl::StrCat("a vector condition must have one element per row of then/else: "
                       "condition ",
                       cond.DebugString(), " vs then/else ", out.DebugString()));
    }
    if (cond_as_rows != nullptr) *cond_as_rows = true;
    return out;
  }
  bool same = cond.rank() == out.rank();
  for (int d = 0; same && d < cond.rank(); ++d) {
    same = cond.dim(d) < 0 || out.dim(d) < 0 || cond.dim(d) == out.dim(d);
  }
  if (!same) {
    return Invalid(
        absl::StrCat("condition must be a scalar, a vector of length then.shape[0], or "
                     "have the shape of then/else: condition ",
                     cond.DebugString(), " vs then/else ", out.DebugString()));
  }
  return out;
}

absl::StatusOr<TensorShape> DynamicStitchShape(const std::vector<TensorShape>& indices,
                                               const std::vector<TensorShape>& data,
                                               int64_t first_dim) {
  if (indices.size() != data.size()) {
    return Invalid(absl::StrCat("DynamicStitch needs as many data as indices tensors, got ",
                                indices.size(), " and ", data.size()));
  }
  std::optional<std::vector<int64_t>> suffix;  // S, once known
  for (size_t i = 0; i < indices.size(); ++i) {
    const TensorShape& idx = indices[i];
    const TensorShape& d = data[i];
    if (idx.unknown_rank() || d.unknown_rank()) continue;
    bool prefix_ok = d.rank() >= idx.rank();
    for (int k = 0; prefix_ok && k < idx.rank(); ++k) {
      prefix_ok = idx.dim(k) < 0 || d.dim(k) < 0 || idx.dim(k) == d.dim(k);
    }
    if (!prefix_ok) {
      return Invalid(absl::StrCat("data[", i, "].shape ", d.DebugString(),
                                  " must start with indices[", i, "].shape ", idx.DebugString()));
    }
    std::vector<int64_t> s(d.dims().begin() + idx.rank(), d.dims().end());
    if (!suffix) {
      suffix = std::move(s);
      continue;
    }
    bool same = suffix->size() == s.size();
    for (size_t k = 0; same && k < s.size(); ++k) {
      if ((*suffix)[k] < 0) {
        (*suffix)[k] = s[k];
      } else if (s[k] >= 0 && s[k] != (*suffix)[k]) {
        same = false;
      }
    }
    if (!same) {
      return Invalid(absl::StrCat("data[", i, "].shape ", d.DebugString(),
                                  " does not match the other data tensors' trailing shape ",
                                  VecString(*suffix), " (after indices[", i, "].shape ",
                                  idx.DebugString(), ")"));
    }
  }
  if (!suffix) return TensorShape::UnknownRank();
  std::vector<int64_t> out{first_dim};
  out.insert(out.end(), suffix->begin(), suffix->end());
  return TensorShape(std::move(out));
}

}  // namespace quiver::array_shapes
