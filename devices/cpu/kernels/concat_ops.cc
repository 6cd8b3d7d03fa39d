// ConcatV2, Concat (axis first), Pack, Unpack. Each input (or output) is viewed as an
// [outer, chunk] matrix around the axis and copied row by row with memcpy.
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

namespace as = array_shapes;
using array_kernels::AllTypes;
using array_kernels::CopyDim;
using array_kernels::InitFactory;
using array_kernels::NodeError;

int64_t Product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

// Concatenates inputs [first, first + n) along `axis` into output 0.
absl::Status ConcatInto(OpKernelContext& ctx, int first, int n, int64_t axis) {
  std::vector<TensorShape> shapes;
  for (int i = first; i < first + n; ++i) shapes.push_back(ctx.input(i).shape());
  auto shape = as::ConcatShape(shapes, &axis);
  if (!shape.ok()) return NodeError(ctx, shape.status());
  const int rank = shape->rank();
  const int ax = static_cast<int>(axis < 0 ? axis + rank : axis);
  const std::vector<int64_t>& out_dims = shape->dims();
  const int64_t outer = Product(out_dims, 0, ax);
  const int64_t out_chunk = Product(out_dims, ax, out_dims.size());
  ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, *shape));
  const size_t esize = DataTypeSize(out->dtype());
  int64_t offset = 0;
  for (int i = first; i < first + n; ++i) {
    const Tensor& in = ctx.input(i);
    const int64_t chunk = Product(in.shape().dims(), ax, in.shape().dims().size());
    array_kernels::StridedCopy(in.raw_data(), out->raw_data(), esize, 0, offset,
                               {{outer, chunk, out_chunk}, {chunk, 1, 1}}, ctx.intra_op_pool());
    offset += chunk;
  }
  return absl::OkStatus();
}

class ConcatV2Op : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs() - 1;
    ASSIGN_OR_RETURN(int64_t axis, array_kernels::HostScalar(ctx, n, "axis"));
    return ConcatInto(ctx, 0, n, axis);
  }
};

class ConcatOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(int64_t axis, array_kernels::HostScalar(ctx, 0, "concat_dim"));
    return ConcatInto(ctx, 1, ctx.num_inputs() - 1, axis);
  }
};

class PackOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(axis_, c.GetAttr<int64_t>("axis"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    std::vector<TensorShape> shapes;
    for (int i = 0; i < n; ++i) shapes.push_back(ctx.input(i).shape());
    auto shape = as::PackShape(shapes, axis_);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    const int rank = shape->rank();
    const int ax = static_cast<int>(axis_ < 0 ? axis_ + rank : axis_);
    const int64_t outer = Product(shape->dims(), 0, ax);
    const int64_t inner = Product(shape->dims(), ax + 1, rank);
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, *shape));
    const size_t esize = DataTypeSize(out->dtype());
    for (int i = 0; i < n; ++i) {
      array_kernels::StridedCopy(ctx.input(i).raw_data(), out->raw_data(), esize, 0, i * inner,
                                 {{outer, inner, n * inner}, {inner, 1, 1}}, ctx.intra_op_pool());
    }
    return absl::OkStatus();
  }

 private:
  int64_t axis_ = 0;
};

class UnpackOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(axis_, c.GetAttr<int64_t>("axis"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    const int num = ctx.num_outputs();
    auto shape = as::UnpackShape(in.shape(), num, axis_);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    const int rank = in.rank();
    const int ax = static_cast<int>(axis_ < 0 ? axis_ + rank : axis_);
    const int64_t outer = Product(in.shape().dims(), 0, ax);
    const int64_t inner = Product(in.shape().dims(), ax + 1, rank);
    const size_t esize = DataTypeSize(in.dtype());
    for (int k = 0; k < num; ++k) {
      ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(k, *shape));
      array_kernels::StridedCopy(in.raw_data(), out->raw_data(), esize, k * inner, 0,
                                 {{outer, num * inner, inner}, {inner, 1, 1}}, ctx.intra_op_pool());
    }
    return absl::OkStatus();
  }

 private:
  int64_t axis_ = 0;
};

QUIVER_REGISTER_KERNEL(
    KernelDef("ConcatV2", kCpu).TypeConstraint("T", AllTypes()).HostMemory("axis"),
    InitFactory<ConcatV2Op>());
QUIVER_REGISTER_KERNEL(
    KernelDef("Concat", kCpu).TypeConstraint("T", AllTypes()).HostMemory("concat_dim"),
    InitFactory<ConcatOp>());
QUIVER_REGISTER_KERNEL(KernelDef("Pack", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<PackOp>());
QUIVER_REGISTER_KERNEL(KernelDef("Unpack", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<UnpackOp>());

}  // namespace
}  // namespace quiver
