// Helpers shared by the CPU array kernels. Shape ops move bytes, not numbers, so they work on
// element sizes instead of being templated per dtype.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/kernel.h"
#include "graph/tensor.h"

namespace quiver {

class ThreadPool;

namespace array_kernels {

// A factory for kernels that parse attrs in `absl::Status Init(OpKernelConstruction&)`, so that
// a bad attr is reported when the session compiles the graph, not as a crash.
template <typename K>
KernelFactory InitFactory() {
  return [](OpKernelConstruction& c) -> KernelOrError {
    auto k = std::make_unique<K>();
    absl::Status s = k->Init(c);
    if (!s.ok()) return s;
    return std::unique_ptr<OpKernel>(std::move(k));
  };
}

// Every dtype a Tensor can hold: the type constraint of the dtype-agnostic kernels.
std::vector<DataType> AllTypes();

// Prefixes an error from a shared helper with the node name and op.
absl::Status NodeError(const OpKernelContext& ctx, const absl::Status& s);

// Reshape, Squeeze and ExpandDims, on every device: output 0 aliases input 0 with `shape` (the
// array_shapes rule's result; its error gets the node prefix).
absl::Status SetReshaped(OpKernelContext& ctx, const absl::StatusOr<TensorShape>& shape);

// Fill, on every device: `dims` (input 0, read) a concrete shape and input 1 a scalar.
absl::StatusOr<TensorShape> FillShape(const OpKernelContext& ctx, const std::vector<int64_t>& dims);

// AddN, on every device: at least one input, all of one shape.
absl::Status CheckAddNShapes(const OpKernelContext& ctx);

// Shape, ShapeN, Size and Rank, on every device: the error for a value an int32 output cannot
// hold.
absl::Status Int32OutputOverflow(const OpKernelContext& ctx, int64_t value);

// Slice, on every device: checks `begin` and `size` against input 0 (array_shapes::SliceShape,
// so shape inference agrees) and returns the output shape, with the per-dim start in `b` and
// the extent (size -1 resolved) in `s`.
absl::StatusOr<TensorShape> SliceBounds(const OpKernelContext& ctx,
                                        const std::vector<int64_t>& begin,
                                        const std::vector<int64_t>& size, std::vector<int64_t>* b,
                                        std::vector<int64_t>* s);

// _Transfer, on every device: the error when input 0 is in memory the host cannot read and
// `src_device` (the node's attr) names no device of the session that can copy it out.
absl::Status UnreadableTransferSource(const OpKernelContext& ctx, const std::string& src_device);
// _Transfer, on every device: input 0 copied onto `dst` (read through `src`; nullptr when the
// host can read it) as output 0, counted in the step's counters.
absl::Status OutputTransfer(OpKernelContext& ctx, Device* dst, Device* src);

// Reads host input i (int32 or int64) as int64 values; `what` names it in errors. With
// `want_rank` >= 0 the input's rank must match.
absl::StatusOr<std::vector<int64_t>> HostInts(const OpKernelContext& ctx, int i, const char* what,
                                              int want_rank = 1);
// Reads a host input holding exactly one integer.
absl::StatusOr<int64_t> HostScalar(const OpKernelContext& ctx, int i, const char* what);

// One dimension of a strided copy: `count` elements, `src_step`/`dst_step` elements apart.
struct CopyDim {
  int64_t count;
  int64_t src_step;
  int64_t dst_step;
};

// Copies the elements addressed by an N-d loop nest from src to dst (both indexed in elements
// of `esize` bytes from the given bases): for every index vector i,
//   dst[dst_base + sum i_k * dst_step_k] = src[src_base + sum i_k * src_step_k].
// Steps may be negative (reversed slices) or 0 (broadcast/tile). Dimensions are simplified
// (size-1 dims dropped, contiguous ones merged) so the innermost loop is a memcpy where the
// layout allows; transposes take a cache-blocked path. Split over `threads` when large.
void StridedCopy(const void* src, void* dst, size_t esize, int64_t src_base, int64_t dst_base,
                 std::vector<CopyDim> dims, int threads);

// Row-major strides (in elements) of a shape.
std::vector<int64_t> RowMajorStrides(const std::vector<int64_t>& dims);

// Sets n elements of `esize` bytes at dst to the element at `value`.
void FillElements(void* dst, int64_t n, const void* value, size_t esize);

}  // namespace array_kernels
}  // namespace quiver
