// ConcatV2, Concat (axis first), Pack, Unpack, Split, SplitV. Each input (or output) is viewed
// as an [outer, chunk] matrix around the axis and copied row by row with memcpy.
#include <algorithm>
#include <vector>

#include "devices/common/array_plans.h"
#include "devices/common/int_attr_kernel.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::InitFactory;

// Concatenates inputs [first, first + n) along `axis` into output 0.
absl::Status ConcatInto(OpKernelContext& ctx, int first, int n, int64_t axis) {
  ASSIGN_OR_RETURN(array_plans::ConcatPlan plan, array_plans::PlanConcat(ctx, first, n, axis));
  ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, plan.shape));
  const size_t esize = DataTypeSize(out->dtype());
  for (int k = 0; k < n; ++k) {
    const int64_t chunk = plan.chunks[k];
    array_kernels::StridedCopy(
        ctx.input(first + k).raw_data(), out->raw_data(), esize, 0, plan.offsets[k],
        {{plan.outer, chunk, plan.out_chunk}, {chunk, 1, 1}}, ctx.intra_op_threads());
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

class PackOp : public Int64AttrKernel {
 public:
  PackOp() : Int64AttrKernel("axis") {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    ASSIGN_OR_RETURN(array_plans::PackPlan plan, array_plans::PlanPack(ctx, attr()));
    const int64_t outer = plan.outer, inner = plan.inner;
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, plan.shape));
    const size_t esize = DataTypeSize(out->dtype());
    for (int i = 0; i < n; ++i) {
      array_kernels::StridedCopy(ctx.input(i).raw_data(), out->raw_data(), esize, 0, i * inner,
                                 {{outer, inner, n * inner}, {inner, 1, 1}},
                                 ctx.intra_op_threads());
    }
    return absl::OkStatus();
  }
};

class UnpackOp : public Int64AttrKernel {
 public:
  UnpackOp() : Int64AttrKernel("axis") {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    const int num = ctx.num_outputs();
    ASSIGN_OR_RETURN(array_plans::PackPlan plan, array_plans::PlanUnpack(ctx, attr()));
    const int64_t outer = plan.outer, inner = plan.inner;
    const size_t esize = DataTypeSize(in.dtype());
    for (int k = 0; k < num; ++k) {
      ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(k, plan.shape));
      array_kernels::StridedCopy(in.raw_data(), out->raw_data(), esize, k * inner, 0,
                                 {{outer, num * inner, inner}, {inner, 1, 1}},
                                 ctx.intra_op_threads());
    }
    return absl::OkStatus();
  }
};

// Split and SplitV (the inverse of Concat): output k is the column block [offset_k, offset_k +
// chunk_k) of the value viewed as [outer, in_chunk] around split_dim; `shapes` are the outputs'
// shapes from the shape rule (which checked split_dim). One output is the value itself, as in TF.
absl::Status SplitInto(OpKernelContext& ctx, int value_input, int64_t split_dim,
                       absl::StatusOr<std::vector<TensorShape>> shapes) {
  if (!shapes.ok()) return array_kernels::NodeError(ctx, shapes.status());
  const Tensor& in = ctx.input(value_input);
  if (ctx.num_outputs() == 1) {
    ctx.set_output(0, in);
    return absl::OkStatus();
  }
  const std::vector<int64_t>& dims = in.shape().dims();
  const size_t axis = static_cast<size_t>(split_dim < 0 ? split_dim + in.rank() : split_dim);
  const int64_t outer = array_plans::Product(dims, 0, axis);
  const int64_t in_chunk = array_plans::Product(dims, axis, dims.size());
  const size_t esize = DataTypeSize(in.dtype());
  int64_t offset = 0;
  for (int k = 0; k < ctx.num_outputs(); ++k) {
    const TensorShape& shape = (*shapes)[k];
    const int64_t chunk = array_plans::Product(shape.dims(), axis, dims.size());
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(k, shape));
    array_kernels::StridedCopy(in.raw_data(), out->raw_data(), esize, offset, 0,
                               {{outer, in_chunk, chunk}, {chunk, 1, 1}}, ctx.intra_op_threads());
    offset += chunk;
  }
  return absl::OkStatus();
}

// Split: (split_dim, value) into num_split equal parts.
class SplitOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(int64_t axis, array_kernels::HostScalar(ctx, 0, "split_dim"));
    auto shape = array_shapes::SplitShape(ctx.input(1).shape(), ctx.num_outputs(), &axis);
    if (!shape.ok()) return array_kernels::NodeError(ctx, shape.status());
    return SplitInto(ctx, 1, axis, std::vector<TensorShape>(ctx.num_outputs(), *shape));
  }
};

// SplitV: (value, size_splits, split_dim); one size may be -1 (the rest).
class SplitVOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes,
                     array_kernels::HostInts(ctx, 1, "size_splits", /*want_rank=*/1));
    ASSIGN_OR_RETURN(int64_t axis, array_kernels::HostScalar(ctx, 2, "split_dim"));
    return SplitInto(
        ctx, 0, axis,
        array_shapes::SplitVShapes(ctx.input(0).shape(), ctx.num_outputs(), &sizes, &axis));
  }
};

// ConcatOffset: offset i is 0 except along concat_dim, where it is the sum of the earlier
// shapes' extents there (TF's ConcatOffsetOp, with its checks).
class ConcatOffsetOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(int64_t axis, array_kernels::HostScalar(ctx, 0, "concat_dim"));
    const int n = ctx.num_inputs() - 1;
    ASSIGN_OR_RETURN(std::vector<int64_t> first, array_kernels::HostInts(ctx, 1, "shape"));
    const int64_t rank = static_cast<int64_t>(first.size());
    if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
      return ctx.Error(absl::StrCat("concat_dim ", axis, " is out of range for rank ", rank));
    }
    if (axis < 0) axis += rank;
    int64_t offset = 0;
    for (int i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(std::vector<int64_t> shape, array_kernels::HostInts(ctx, i + 1, "shape"));
      if (static_cast<int64_t>(shape.size()) != rank) {
        return ctx.Error(
            absl::StrCat("shape ", i, " has ", shape.size(), " dims, shape 0 has ", rank));
      }
      for (int64_t d = 0; d < rank; ++d) {
        if (d != axis && shape[d] != first[d]) {
          return ctx.Error(absl::StrCat("shape ", i, " differs from shape 0 in dim ", d, ": ",
                                        shape[d], " vs ", first[d]));
        }
      }
      ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(i, TensorShape({rank})));
      for (int64_t d = 0; d < rank; ++d) {
        const int64_t v = d == axis ? offset : 0;
        if (out->dtype() == DT_INT64) {
          out->data<int64_t>()[d] = v;
        } else {
          out->data<int32_t>()[d] = static_cast<int32_t>(v);
        }
      }
      offset += rank > 0 ? shape[axis] : 0;
    }
    return absl::OkStatus();
  }
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
QUIVER_REGISTER_KERNEL(
    KernelDef("Split", kCpu).TypeConstraint("T", AllTypes()).HostMemory("split_dim"),
    InitFactory<SplitOp>());
QUIVER_REGISTER_KERNEL(KernelDef("SplitV", kCpu)
                           .TypeConstraint("T", AllTypes())
                           .HostMemory("size_splits")
                           .HostMemory("split_dim"),
                       InitFactory<SplitVOp>());

QUIVER_REGISTER_KERNEL(KernelDef("ConcatOffset", kCpu), InitFactory<ConcatOffsetOp>());

}  // namespace
}  // namespace quiver
