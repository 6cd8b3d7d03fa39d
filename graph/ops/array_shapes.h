// Output-shape arithmetic for the array ops, shared by the shape functions (partial shapes,
// possibly unknown constant inputs) and the CPU kernels (concrete shapes and values), so that
// graph construction and execution validate identically.
//
// Conventions: a dimension of -1 is unknown; a TensorShape may have unknown rank; an argument
// `const std::vector<int64_t>* values` is nullptr when the constant input is not known at
// graph-construction time. Errors are InvalidArgument without a node prefix: callers add one
// through InferenceContext::Error / OpKernelContext::Error.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/tensor_shape.h"

namespace quiver::array_shapes {

// Maps axis in [-rank, rank) to [0, rank); `what` names the argument in the error.
absl::StatusOr<int> CanonicalAxis(int64_t axis, int rank, const char* what);

// Fill / shape-from-vector: every value must be >= 0 (or -1 when `allow_unknown`).
absl::StatusOr<TensorShape> ShapeFromDims(const std::vector<int64_t>& dims, bool allow_unknown);

// Reshape with at most one -1 in `requested`.
absl::StatusOr<TensorShape> ReshapeShape(const TensorShape& input,
                                         const std::vector<int64_t>& requested);

// Squeeze: empty `squeeze_dims` removes every dimension of size 1.
absl::StatusOr<TensorShape> SqueezeShape(const TensorShape& input,
                                         const std::vector<int64_t>& squeeze_dims);

// ExpandDims: `dim` in [-rank-1, rank].
absl::StatusOr<TensorShape> ExpandDimsShape(const TensorShape& input, const int64_t* dim);

// Transpose: `perm` must be a permutation of [0, rank).
absl::StatusOr<TensorShape> TransposeShape(const TensorShape& input,
                                           const std::vector<int64_t>* perm, int perm_length);

// Concat along `axis` (nullptr: unknown axis).
absl::StatusOr<TensorShape> ConcatShape(const std::vector<TensorShape>& inputs,
                                        const int64_t* axis);

// Pack (tf.stack): all inputs compatible; a new dimension of size inputs.size() at `axis`.
absl::StatusOr<TensorShape> PackShape(const std::vector<TensorShape>& inputs, int64_t axis);

// Unpack (tf.unstack): the shape of each of the `num` outputs.
absl::StatusOr<TensorShape> UnpackShape(const TensorShape& input, int64_t num, int64_t axis);

// Split (tf.split into equal parts): the shape of each of the `num_split` outputs. `axis` is
// the split_dim input (nullptr: unknown, when only the rank is kept); the dimension along it,
// when known, must be divisible by num_split.
absl::StatusOr<TensorShape> SplitShape(const TensorShape& input, int64_t num_split,
                                       const int64_t* axis);

// SplitV (tf.split with sizes): the shapes of the `num_split` outputs; output i has
// size_splits[i] along `axis`. One entry may be -1 (the rest of the dimension); the others must
// be >= 0 and sum to the dimension (to at most the dimension with a -1). `size_splits` nullptr:
// values unknown (the outputs' dims along the axis are unknown); `axis` nullptr: unknown (only
// the rank is kept). With a known dimension and sizes, a -1 is resolved in the result.
absl::StatusOr<std::vector<TensorShape>> SplitVShapes(const TensorShape& input, int64_t num_split,
                                                      const std::vector<int64_t>* size_splits,
                                                      const int64_t* axis);

// Slice: size -1 means "to the end". On success `begin_out`/`size_out` (when non-null and the
// shape and values are fully known) receive the resolved per-dimension begin and size.
absl::StatusOr<TensorShape> SliceShape(const TensorShape& input, const std::vector<int64_t>* begin,
                                       const std::vector<int64_t>* size, int spec_length,
                                       std::vector<int64_t>* begin_out = nullptr,
                                       std::vector<int64_t>* size_out = nullptr);

// StridedSlice, with NumPy semantics and TF's five masks.
struct StridedSliceMasks {
  int64_t begin_mask = 0;
  int64_t end_mask = 0;
  int64_t ellipsis_mask = 0;
  int64_t new_axis_mask = 0;
  int64_t shrink_axis_mask = 0;
};
struct StridedSlicePlan {
  TensorShape output_shape;  // final shape: new axes inserted, shrunk axes removed
  // Per input dimension (filled only when the input shape and the values are fully known):
  // elements taken are begin + k * stride for k in [0, size).
  std::vector<int64_t> begin, stride, size;
  bool is_identity = false;  // the slice takes the whole input in order (alias, no copy)
};
// `begin`/`end`/`strides` are nullptr when unknown; `spec_length` is their (common) length.
absl::StatusOr<StridedSlicePlan> PlanStridedSlice(const TensorShape& input,
                                                  const std::vector<int64_t>* begin,
                                                  const std::vector<int64_t>* end,
                                                  const std::vector<int64_t>* strides,
                                                  int spec_length, const StridedSliceMasks& masks);

// Tile: output dim i = input dim i * multiples[i].
absl::StatusOr<TensorShape> TileShape(const TensorShape& input,
                                      const std::vector<int64_t>* multiples, int spec_length);

// Pad: `paddings` is the row-major [rank, 2] matrix of (before, after) pairs.
absl::StatusOr<TensorShape> PadShape(const TensorShape& input, const std::vector<int64_t>* paddings,
                                     int spec_rows);

// GatherV2: params[:axis] + indices[batch_dims:] + params[axis+1:].
absl::StatusOr<TensorShape> GatherShape(const TensorShape& params, const TensorShape& indices,
                                        const int64_t* axis, int64_t batch_dims);

// OneHot: a dimension of size `depth` inserted at `axis` (-1: last).
absl::StatusOr<TensorShape> OneHotShape(const TensorShape& indices, const int64_t* depth,
                                        int64_t axis);

// Range: the number of elements in [start, limit) stepping by delta (TF's checks: delta != 0,
// and the direction of delta reaches limit). One overload per kind: int64 arithmetic stays exact.
absl::StatusOr<int64_t> RangeSize(int64_t start, int64_t limit, int64_t delta);
absl::StatusOr<int64_t> RangeSize(double start, double limit, double delta);

// BroadcastTo: `input` broadcast (NumPy rules, dims aligned from the right) to `target`, which
// may be partial. The result is `target`, with unknown target dims taken from `input` where
// the input decides them (a known dim other than 1).
absl::StatusOr<TensorShape> BroadcastToShape(const TensorShape& input, const TensorShape& target);

// SelectV2: the NumPy broadcast of condition, then and else.
absl::StatusOr<TensorShape> SelectV2Shape(const TensorShape& cond, const TensorShape& then_shape,
                                          const TensorShape& else_shape);

// Select (TF1's tf.where): then and else have one shape (partial shapes merge), the result;
// the condition is a scalar, has that shape, or is a vector as long as its first dim (it then
// picks whole rows). *cond_as_rows (when given) says the latter: the kernels view the
// condition as [n, 1, ..., 1] and broadcast it.
absl::StatusOr<TensorShape> SelectShape(const TensorShape& cond, const TensorShape& then_shape,
                                        const TensorShape& else_shape,
                                        bool* cond_as_rows = nullptr);

// DynamicStitch: every data[i] has shape indices[i].shape + S for one common S; the result is
// [first_dim] + S (first_dim = max index + 1, -1 when unknown). Unknown rank when S cannot be
// told.
absl::StatusOr<TensorShape> DynamicStitchShape(const std::vector<TensorShape>& indices,
                                               const std::vector<TensorShape>& data,
                                               int64_t first_dim);

}  // namespace quiver::array_shapes
