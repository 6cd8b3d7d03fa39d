// Conversion between TensorProto (the GraphDef constant encoding) and Tensor.
#pragma once

#include "absl/status/statusor.h"
#include "graph/tensor.h"
#include "proto/graph.pb.h"

namespace quiver {

// The most bytes TensorFromProto materialises from the typed *_val fields, which describe
// splats of any size with one value ("10^12 floats, all 1"): a hostile GraphDef uses them to
// make the importer allocate without bound. Past this limit TensorFromProto returns
// ResourceExhausted before allocating. (tensor_content is bounded by its own size, at most
// the 2 GiB of a protobuf.) Default 2 GiB, as for content. Process-wide; lower it where graphs
// are untrusted and memory is tight (the fuzzers use 64 MiB).
inline constexpr int64_t kDefaultMaxProtoTensorBytes = int64_t{2} << 30;
void SetMaxProtoTensorBytes(int64_t bytes);
int64_t MaxProtoTensorBytes();

// Reads tensor_content or the typed *_val fields the way TensorFlow does: zero values
// zero-fill, fewer values than elements repeat the last one, half/bfloat16 bits come from
// half_val. Errors name the mismatch (content size vs dtype x shape, unsupported dtype,
// too many values, negative or overflowing dims, more bytes than MaxProtoTensorBytes()).
absl::StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& proto);

// Writes tensor_content (compact and exact).
void TensorToProto(const Tensor& tensor, tensorflow::TensorProto* proto);

}  // namespace quiver
