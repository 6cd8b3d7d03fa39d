// Output-shape arithmetic for the image ops (resizes) and the space/batch/depth rearrangements,
// shared by the shape functions (partial shapes: -1 dims, possibly unknown constant inputs) and
// the CPU kernels (concrete shapes and values), so that graph construction and execution
// validate identically. Errors are InvalidArgument without a node prefix: callers add one
// through InferenceContext::Error / OpKernelContext::Error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/tensor_shape.h"

namespace quiver::image_shapes {

// ResizeBilinear / ResizeNearestNeighbor: images [batch, h, w, channels] resized to `size`
// (nullptr: unknown) = {new_h, new_w}. TF's ImageResizerState checks: align_corners and
// half_pixel_centers exclusive, rank 4, channels > 0, non-empty input image, positive size.
absl::StatusOr<TensorShape> ResizeShape(const TensorShape& images, const std::vector<int64_t>* size,
                                        bool align_corners, bool half_pixel_centers);

// DepthToSpace / SpaceToDepth (data_format "NHWC" or "NCHW"; the kernels run NHWC only).
absl::StatusOr<TensorShape> DepthToSpaceShape(const TensorShape& input, int64_t block_size,
                                              const std::string& data_format);
absl::StatusOr<TensorShape> SpaceToDepthShape(const TensorShape& input, int64_t block_size,
                                              const std::string& data_format);

// SpaceToBatchND: input [batch] + spatial (M dims) + remaining; `block` has M values >= 1 and
// `paddings` (row-major [M, 2]) non-negative values that make each padded spatial dim divisible
// by its block. nullptr: unknown (then only the rank and the remaining dims are known).
// `block_len` is M when known from the block input's shape (-1: unknown).
absl::StatusOr<TensorShape> SpaceToBatchShape(const TensorShape& input,
                                              const std::vector<int64_t>* block, int block_len,
                                              const std::vector<int64_t>* paddings);
// BatchToSpaceND: the inverse, with non-negative `crops` ([M, 2]) removed after the rearrangement;
// the batch must be divisible by prod(block).
absl::StatusOr<TensorShape> BatchToSpaceShape(const TensorShape& input,
                                              const std::vector<int64_t>* block, int block_len,
                                              const std::vector<int64_t>* crops);

}  // namespace quiver::image_shapes
