#include "graph/ops/array_extra_shapes.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quiver::array_extra_shapes {

namespace {

constexpr int64_t kUnknown = TensorShape::kUnknownDim;

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

std::string VecString(const std::vector<int64_t>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ","), "]");
}

}  // namespace

absl::StatusOr<std::vector<bool>> ReverseAxes(const std::vector<int64_t>& axes, int rank) {
  std::vector<bool> mask(rank, false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) {
      return Invalid(absl::StrCat("'axis'[", a, "] = ", a, " is out of valid range [", -rank, ", ",
                                  rank, ") for a tensor of rank ", rank));
    }
    const int d = static_cast<int>(a < 0 ? a + rank : a);
    if (mask[d]) return Invalid(absl::StrCat("axis ", d, " specified more than once."));
    mask[d] = true;
  }
  return mask;
}

absl::Status CheckReverseSequence(const TensorShape& input, const TensorShape& lengths,
                                  int64_t seq_dim, int64_t batch_dim,
                                  const std::vector<int64_t>* values) {
  if (!lengths.unknown_rank() && lengths.rank() != 1) {
    return Invalid(absl::StrCat("seq_lengths must be 1-dim, not ", lengths.rank(), "-dim (shape ",
                                lengths.DebugString(), ")"));
  }
  if (seq_dim == batch_dim) {
    return Invalid(absl::StrCat("seq_dim and batch_dim must not be equal, both are ", seq_dim));
  }
  if (input.unknown_rank()) return absl::OkStatus();
  const int rank = input.rank();
  if (seq_dim < 0 || seq_dim >= rank) {
    return Invalid(absl::StrCat("Invalid seq_dim ", seq_dim, " for input of rank ", rank));
  }
  if (batch_dim < 0 || batch_dim >= rank) {
    return Invalid(absl::StrCat("Invalid batch_dim ", batch_dim, " for input of rank ", rank));
  }
  const int64_t batch = input.dim(static_cast<int>(batch_dim));
  if (!lengths.unknown_rank() && lengths.dim(0) >= 0 && batch >= 0 && lengths.dim(0) != batch) {
    return Invalid(absl::StrCat("Length of seq_lengths != input.dims(", batch_dim, "), (",
                                lengths.dim(0), " vs. ", batch, ")"));
  }
  const int64_t seq = input.dim(static_cast<int>(seq_dim));
  if (values != nullptr) {
    for (size_t i = 0; i < values->size(); ++i) {
      const int64_t v = (*values)[i];
      if (v < 0) return Invalid(absl::StrCat("seq_lengths(", i, ") = ", v, " is negative"));
      if (seq >= 0 && v > seq) {
        return Invalid(
            absl::StrCat("seq_lens(", i, ") = ", v, " > input.dims(", seq_dim, ") = ", seq));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ScanAxis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) {
    return Invalid(absl::StrCat("ScanOp: Expected scan axis in the range [", -rank, ", ", rank,
                                "), but got ", axis));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::StatusOr<TensorShape> GatherNdShape(const TensorShape& params, const TensorShape& indices) {
  if (!indices.unknown_rank() && indices.rank() < 1) {
    return Invalid(
        absl::StrCat("indices must be at least a vector, got shape ", indices.DebugString()));
  }
  if (indices.unknown_rank()) return TensorShape::UnknownRank();
  const int64_t n = indices.dim(indices.rank() - 1);
  if (n < 0 || params.unknown_rank()) return TensorShape::UnknownRank();
  if (n > params.rank()) {
    return Invalid(absl::StrCat("index innermost dimension length must be <= params rank; saw: ", n,
                                " vs. ", params.rank(), " (params shape ", params.DebugString(),
                                ", indices shape ", indices.DebugString(), ")"));
  }
  std::vector<int64_t> out(indices.dims().begin(), indices.dims().end() - 1);
  out.insert(out.end(), params.dims().begin() + n, params.dims().end());
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> ScatterNdShape(const TensorShape& indices, const TensorShape& updates,
                                           const std::vector<int64_t>* shape, int shape_length) {
  if (shape != nullptr) {
    for (size_t i = 0; i < shape->size(); ++i) {
      if ((*shape)[i] < 0) {
        return Invalid(
            absl::StrCat("shape ", VecString(*shape), " has a negative dimension ", (*shape)[i]));
      }
    }
    shape_length = static_cast<int>(shape->size());
  }
  TensorShape out = shape != nullptr    ? TensorShape(*shape)
                    : shape_length >= 0 ? TensorShape(std::vector<int64_t>(shape_length, kUnknown))
                                        : TensorShape::UnknownRank();
  if (!indices.unknown_rank() && indices.rank() < 1) {
    return Invalid(
        absl::StrCat("indices must be at least a vector, got shape ", indices.DebugString()));
  }
  if (indices.unknown_rank() || updates.unknown_rank() || out.unknown_rank()) return out;
  const int64_t n = indices.dim(indices.rank() - 1);
  if (n < 0) return out;
  if (n > out.rank()) {
    return Invalid(absl::StrCat("index innermost dimension length must be <= output rank; saw: ", n,
                                " vs. ", out.rank()));
  }
  // updates.shape must be indices.shape[:-1] + shape[n:].
  std::vector<int64_t> want(indices.dims().begin(), indices.dims().end() - 1);
  want.insert(want.end(), out.dims().begin() + n, out.dims().end());
  bool ok = updates.rank() == static_cast<int>(want.size());
  for (int d = 0; ok && d < updates.rank(); ++d) {
    ok = updates.dim(d) < 0 || want[d] < 0 || updates.dim(d) == want[d];
  }
  if (!ok) {
    return Invalid(absl::StrCat("updates must have shape indices.shape[:-1] + shape[", n,
                                ":] = ", TensorShape(want).DebugString(), ", got ",
                                updates.DebugString(), " (indices shape ", indices.DebugString(),
                                ", output shape ", out.DebugString(), ")"));
  }
  return out;
}

absl::StatusOr<TensorShape> TopKShape(const TensorShape& input, const int64_t* k) {
  if (k != nullptr && *k < 0) return Invalid(absl::StrCat("Need k >= 0, got ", *k));
  if (input.unknown_rank()) return TensorShape::UnknownRank();
  if (input.rank() < 1) {
    return Invalid(absl::StrCat("input must be >= 1-D, got shape ", input.DebugString()));
  }
  const int64_t last = input.dim(input.rank() - 1);
  if (k != nullptr && last >= 0 && last < *k) {
    return Invalid(absl::StrCat("input must have at least k columns. Had ", last, ", needed ", *k));
  }
  std::vector<int64_t> out = input.dims();
  out.back() = k != nullptr ? *k : kUnknown;
  return TensorShape(std::move(out));
}

absl::StatusOr<TensorShape> MirrorPadShape(const TensorShape& input,
                                           const std::vector<int64_t>* paddings, int rows,
                                           const std::string& mode, bool grad) {
  if (mode != "REFLECT" && mode != "SYMMETRIC") {
    return Invalid(absl::StrCat("mode must be REFLECT or SYMMETRIC, got '", mode, "'"));
  }
  const int64_t offset = mode == "REFLECT" ? 1 : 0;
  if (paddings != nullptr) {
    if (paddings->size() % 2 != 0) return Invalid("paddings must have 2 columns");
    rows = static_cast<int>(paddings->size() / 2);
  }
  if (input.unknown_rank()) {
    return rows >= 0 ? TensorShape(std::vector<int64_t>(rows, kUnknown))
                     : TensorShape::UnknownRank();
  }
  const int rank = input.rank();
  if (rows >= 0 && rows != rank) {
    return Invalid(absl::StrCat("The first dimension of paddings must be the rank of inputs: ",
                                rows, " vs. ", rank, " (input shape ", input.DebugString(), ")"));
  }
  if (paddings == nullptr) return TensorShape(std::vector<int64_t>(rank, kUnknown));
  std::vector<int64_t> out(rank);
  for (int d = 0; d < rank; ++d) {
    const int64_t before = (*paddings)[2 * d], after = (*paddings)[2 * d + 1];
    const int64_t dim = input.dim(d);
    if (before < 0 || after < 0) {
      return Invalid(absl::StrCat("paddings must be non-negative: ", before, " ", after));
    }
    if (dim < 0) {
      out[d] = kUnknown;
      continue;
    }
    const int64_t original = grad ? dim - before - after : dim;
    if (grad && original < 0) {
      return Invalid(absl::StrCat("paddings ", before, ", ", after, " exceed dimension ", d,
                                  " of size ", dim));
    }
    if (before > original - offset || after > original - offset) {
      return Invalid(absl::StrCat("paddings must be ", offset ? "less than" : "no greater than",
                                  " the dimension size: ", before, ", ", after, " not ",
                                  offset ? "less than " : "greater than ", original, " (dimension ",
                                  d, ", mode ", mode, ")"));
    }
    out[d] = grad ? original : dim + before + after;
  }
  return TensorShape(std::move(out));
}

}  // namespace quiver::array_extra_shapes
