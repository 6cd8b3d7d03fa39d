// Conversion between TensorProto (the GraphDef constant encoding) and Tensor.
#pragma once

#include "absl/status/statusor.h"
#include "graph/tensor.h"
#include "proto/graph.pb.h"

namespace quiver {

// Reads tensor_content or the typed *_val fields the way TensorFlow does: zero values
// zero-fill, fewer values than elements repeat the last one, half/bfloat16 bits come from
// half_val. Errors name the mismatch (content size vs dtype x shape, unsupported dtype,
// too many values, negative or overflowing dims).
absl::StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& proto);

// Writes tensor_content (compact and exact).
void TensorToProto(const Tensor& tensor, tensorflow::TensorProto* proto);

}  // namespace quiver
