// Shape and argument rules of the less common array ops (ReverseV2, ReverseSequence,
// Cumsum/Cumprod, GatherNd, ScatterNd, TopKV2, MirrorPad/MirrorPadGrad), shared by their shape
// functions (graph/ops/array_extra_ops.cc, partial shapes) and their kernels (concrete shapes),
// so that graph construction and execution check alike. Conventions as array_shapes.h: -1 is
// an unknown dim, a nullptr value argument is a constant not known at graph-construction time,
// errors are InvalidArgument without a node prefix (callers add it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/tensor_shape.h"

namespace quiver::array_extra_shapes {

// ReverseV2: `axes` (each in [-rank, rank), none twice, as TF) as a per-dim mask.
absl::StatusOr<std::vector<bool>> ReverseAxes(const std::vector<int64_t>& axes, int rank);

// ReverseSequence: seq_dim and batch_dim distinct and in [0, rank); seq_lengths (shape
// `lengths`) a vector of input.dim(batch_dim) entries. `values` (nullptr: unknown) must each lie
// in [0, input.dim(seq_dim)].
absl::Status CheckReverseSequence(const TensorShape& input, const TensorShape& lengths,
                                  int64_t seq_dim, int64_t batch_dim,
                                  const std::vector<int64_t>* values);

// Cumsum / Cumprod: the scan axis in [-rank, rank), normalised.
absl::StatusOr<int> ScanAxis(int64_t axis, int rank);

// GatherNd: indices [..., N] (N <= rank of params) -> indices.shape[:-1] + params.shape[N:].
absl::StatusOr<TensorShape> GatherNdShape(const TensorShape& params, const TensorShape& indices);

// ScatterNd: `shape` (the shape input's values; nullptr: unknown, of `shape_length` entries,
// -1 when that is unknown too) with indices [..., N] and updates of shape
// indices.shape[:-1] + shape[N:]. Returns the output shape.
absl::StatusOr<TensorShape> ScatterNdShape(const TensorShape& indices, const TensorShape& updates,
                                           const std::vector<int64_t>* shape, int shape_length);

// TopKV2: input of rank >= 1 with at least k entries in its last dim; k >= 0 (nullptr:
// unknown). Output: input.shape[:-1] + [k].
absl::StatusOr<TensorShape> TopKShape(const TensorShape& input, const int64_t* k);

// MirrorPad (`grad` false) / MirrorPadGrad (`grad` true) with `mode` REFLECT or SYMMETRIC:
// `paddings` the row-major [rank, 2] values (nullptr: unknown, `rows` rows or -1). Each pad is
// >= 0 and below the dim (REFLECT) or at most the dim (SYMMETRIC); for the gradient the dim is
// the original one (input dim - before - after). Returns the output shape.
absl::StatusOr<TensorShape> MirrorPadShape(const TensorShape& input,
                                           const std::vector<int64_t>* paddings, int rows,
                                           const std::string& mode, bool grad);

}  // namespace quiver::array_extra_shapes
