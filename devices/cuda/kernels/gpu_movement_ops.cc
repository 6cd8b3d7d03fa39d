// GPU kernels for data movement: Pack, Unpack, Concat (v1), Split, SplitV, Pad, PadV2,
// BroadcastTo, Snapshot, IdentityN, ShapeN, SelectV2, Select, LogicalAnd/Or/Not, GatherV2, OneHot,
// DynamicStitch and ParallelDynamicStitch. Semantics, shape checks and error messages follow the
// CPU kernels (devices/cpu/kernels/{concat,tile_pad,select_broadcast_stitch,gather,identity,
// shape}_ops.cc): both call the shared plans of devices/common/array_plans.h (over the shape
// rules of graph/ops/array_shapes.h), and every check runs before the first CUDA call.
// Byte-moving kernels work on element sizes, so one registration covers the `movable` dtypes;
// int32 tensors stay on the host as in TF.
//
// Memory: shapes, axes (Split's split_dim too), SplitV's size_splits, paddings, depth and
// DynamicStitch's indices are HostMemory inputs; ShapeN's outputs are HostMemory. PadV2's
// constant_values, OneHot's on/off values and GatherV2's indices are device tensors. GatherV2
// validates its indices on the host: when they are device-resident it copies them back (one
// stream synchronisation) and uploads the checked values as int64, so an out-of-range index is
// an error, never an out-of-bounds read.
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/common/int_attr_kernel.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/kernels/cwise_ops_common.h"
#include "devices/cuda/cuda_device.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/launchers.h"
#include "devices/cuda/kernels/movement_launchers.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

using array_kernels::InitFactory;

// A rank-2 strided map: element (r, c) of an [rows, cols] block is at base + r * row_step + c.
index::StridedIndexer Block2D(int64_t rows, int64_t cols, int64_t row_step, int64_t base) {
  index::StridedIndexer ix;
  ix.rank = 2;
  ix.dims[0] = rows;
  ix.dims[1] = cols;
  ix.strides[0] = row_step;
  ix.strides[1] = 1;
  ix.base = base;
  return ix;
}

// ---- Pack, Unpack, Concat ---------------------------------------------------------------

class PackGpuOp : public Int64AttrKernel {
 public:
  PackGpuOp() : Int64AttrKernel("axis") {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    ASSIGN_OR_RETURN(array_plans::PackPlan plan, array_plans::PlanPack(ctx, attr()));
    const int64_t outer = plan.outer, inner = plan.inner;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(void* out, g.Out(0, plan.shape));
    const size_t esize = DataTypeSize(ctx.input(0).dtype());
    for (int i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(const void* in, g.In(i));
      RETURN_IF_ERROR(g.Check(
          LaunchScatter(in, out, esize, Block2D(outer, inner, n * inner, i * inner), g.stream()),
          "pack"));
    }
    return g.Finish();
  }
};

class UnpackGpuOp : public Int64AttrKernel {
 public:
  UnpackGpuOp() : Int64AttrKernel("axis") {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in_t = ctx.input(0);
    const int num = ctx.num_outputs();
    ASSIGN_OR_RETURN(array_plans::PackPlan plan, array_plans::PlanUnpack(ctx, attr()));
    const int64_t outer = plan.outer, inner = plan.inner;
    const size_t esize = DataTypeSize(in_t.dtype());
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const void* in, g.In(0));
    for (int k = 0; k < num; ++k) {
      ASSIGN_OR_RETURN(void* out, g.Out(k, plan.shape));
      RETURN_IF_ERROR(g.Check(
          LaunchGather(in, out, esize, Block2D(outer, inner, num * inner, k * inner), g.stream()),
          "unpack"));
    }
    return g.Finish();
  }
};

// Concat: concat_dim (HostMemory) first, then the values.
class ConcatGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(int64_t axis, GpuHostScalar(ctx, 0, "concat_dim"));
    const int n = ctx.num_inputs() - 1;
    ASSIGN_OR_RETURN(array_plans::ConcatPlan plan, array_plans::PlanConcat(ctx, 1, n, axis));
    const size_t esize = DataTypeSize(ctx.input(1).dtype());
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(void* out, g.Out(0, plan.shape));
    for (int k = 0; k < n; ++k) {
      ASSIGN_OR_RETURN(const void* in, g.In(1 + k));
      const index::StridedIndexer ix =
          Block2D(plan.outer, plan.chunks[k], plan.out_chunk, plan.offsets[k]);
      RETURN_IF_ERROR(g.Check(LaunchScatter(in, out, esize, ix, g.stream()), "concat"));
    }
    return g.Finish();
  }
};

// Split and SplitV (the inverse of Concat): output k gathers the column block [offset_k,
// offset_k + chunk_k) of the value viewed as [outer, in_chunk] around split_dim. `shapes` come
// from the CPU kernel's shape rule (graph/ops/array_shapes.h), checked before any CUDA call.
// One output is the value itself, as on the CPU.
absl::Status SplitGpu(OpKernelContext& ctx, int value_input, int64_t split_dim,
                      absl::StatusOr<std::vector<TensorShape>> shapes) {
  if (!shapes.ok()) return array_kernels::NodeError(ctx, shapes.status());
  const Tensor& in_t = ctx.input(value_input);
  if (ctx.num_outputs() == 1) {
    ctx.set_output(0, in_t);
    return absl::OkStatus();
  }
  const std::vector<int64_t>& dims = in_t.shape().dims();
  const size_t axis = static_cast<size_t>(split_dim < 0 ? split_dim + in_t.rank() : split_dim);
  const int64_t outer = array_plans::Product(dims, 0, axis);
  const int64_t in_chunk = array_plans::Product(dims, axis, dims.size());
  const size_t esize = DataTypeSize(in_t.dtype());
  GpuScope g(ctx);
  RETURN_IF_ERROR(g.Init());
  ASSIGN_OR_RETURN(const void* in, g.In(value_input));
  int64_t offset = 0;
  for (int k = 0; k < ctx.num_outputs(); ++k) {
    const TensorShape& shape = (*shapes)[k];
    const int64_t chunk = array_plans::Product(shape.dims(), axis, dims.size());
    ASSIGN_OR_RETURN(void* out, g.Out(k, shape));
    RETURN_IF_ERROR(
        g.Check(LaunchGather(in, out, esize, Block2D(outer, chunk, in_chunk, offset), g.stream()),
                "split"));
    offset += chunk;
  }
  return g.Finish();
}

// Split: split_dim (HostMemory) first, then the value.
class SplitGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(int64_t axis, GpuHostScalar(ctx, 0, "split_dim"));
    auto shape = array_shapes::SplitShape(ctx.input(1).shape(), ctx.num_outputs(), &axis);
    if (!shape.ok()) return array_kernels::NodeError(ctx, shape.status());
    return SplitGpu(ctx, 1, axis, std::vector<TensorShape>(ctx.num_outputs(), *shape));
  }
};

// SplitV: (value, size_splits, split_dim), size_splits and split_dim in HostMemory.
class SplitVGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes,
                     GpuHostInts(ctx, 1, "size_splits", /*want_rank=*/1));
    ASSIGN_OR_RETURN(int64_t axis, GpuHostScalar(ctx, 2, "split_dim"));
    return SplitGpu(
        ctx, 0, axis,
        array_shapes::SplitVShapes(ctx.input(0).shape(), ctx.num_outputs(), &sizes, &axis));
  }
};

// ---- Pad, PadV2, BroadcastTo ------------------------------------------------------------

// Pad (zeros) and PadV2 (constant_values: a device scalar, read by the kernel).
class PadGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in_t = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> paddings,
                     GpuHostInts(ctx, 1, "paddings", /*want_rank=*/2));
    ASSIGN_OR_RETURN(array_plans::PadPlan plan, array_plans::PlanPad(ctx, std::move(paddings)));
    if (plan.identity) {
      ctx.set_output(0, in_t);
      return absl::OkStatus();
    }
    movement::PadIndexer ix;
    if (!movement::MakePadIndexer(in_t.rank(), in_t.shape().dims().data(), plan.paddings.data(),
                                  &ix)) {
      return ctx.Error(
          absl::StrCat("the GPU Pad supports at most ", movement::kMaxRank, " padded dims"));
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const void* in, g.In(0));
    const void* value = nullptr;
    if (ctx.num_inputs() > 2) {  // PadV2
      ASSIGN_OR_RETURN(value, g.In(2));
    }
    ASSIGN_OR_RETURN(void* out, g.Out(0, plan.shape));
    RETURN_IF_ERROR(
        g.Check(LaunchPad(in, out, DataTypeSize(in_t.dtype()), ix, value, g.stream()), "pad"));
    return g.Finish();
  }
};

class BroadcastToGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in_t = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> dims, GpuHostInts(ctx, 1, "shape"));
    ASSIGN_OR_RETURN(TensorShape shape, array_plans::PlanBroadcastTo(ctx, dims));
    if (shape == in_t.shape()) {
      ctx.set_output(0, in_t);
      return absl::OkStatus();
    }
    const int in_rank = in_t.rank();
    const int64_t* in_dims = in_t.shape().dims().data();
    movement::MultiBroadcastIndexer b;
    if (!movement::MakeMultiBroadcastIndexer(shape.rank(), shape.dims().data(), 1, &in_rank,
                                             &in_dims, &b)) {
      return ctx.Error("broadcast rank exceeds the GPU kernel's limit of 8 collapsed dims");
    }
    index::StridedIndexer ix;
    ix.rank = b.rank;
    for (int d = 0; d < b.rank; ++d) {
      ix.dims[d] = b.dims[d];
      ix.strides[d] = b.strides[0][d];
    }
    return GatherInputToOutput(ctx, ix, shape, "broadcast_to");
  }
};

// ---- Snapshot, IdentityN, ShapeN --------------------------------------------------------

// Snapshot: a copy (the CPU kernel clones), device to device.
class SnapshotGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const void* in, g.In(0));
    ASSIGN_OR_RETURN(void* out, g.Out(0, x.shape()));
    if (x.num_bytes() > 0) {
      RETURN_IF_ERROR(
          g.Check(cudaMemcpyAsync(out, in, x.num_bytes(), cudaMemcpyDeviceToDevice, g.stream()),
                  "snapshot copy"));
    }
    return g.Finish();
  }
};

// IdentityN: output i aliases input i (no device work), as the CPU kernel.
class IdentityNGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    for (int i = 0; i < ctx.num_inputs() && i < ctx.num_outputs(); ++i) {
      ctx.set_output(i, ctx.input(i));
    }
    return absl::OkStatus();
  }
};

// ShapeN: host-memory outputs (the data is never read), int32 or int64.
class ShapeNGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    for (int i = 0; i < ctx.num_inputs() && i < ctx.num_outputs(); ++i) {
      const std::vector<int64_t>& dims = ctx.input(i).shape().dims();
      ASSIGN_OR_RETURN(Tensor * out,
                       ctx.allocate_output(i, TensorShape{static_cast<int64_t>(dims.size())}));
      if (out->allocator() != nullptr && !out->allocator()->host_accessible()) {
        return ctx.Error(
            "the output was allocated in device memory: run the kernel with the "
            "OpKernel in its context (HostMemory outputs)");
      }
      for (size_t k = 0; k < dims.size(); ++k) {
        if (out->dtype() == DT_INT64) {
          out->data<int64_t>()[k] = dims[k];
        } else if (dims[k] > INT32_MAX) {
          return array_kernels::Int32OutputOverflow(ctx, dims[k]);
        } else {
          out->data<int32_t>()[k] = static_cast<int32_t>(dims[k]);
        }
      }
    }
    return absl::OkStatus();
  }
};

// ---- SelectV2, LogicalAnd/Or/Not --------------------------------------------------------

// SelectV2, and Select (`v1`), whose condition the plan views as [n, 1, ..., 1] when it picks
// rows; both then broadcast like SelectV2.
class SelectV2GpuOp : public OpKernel {
 public:
  explicit SelectV2GpuOp(bool v1 = false) : v1_(v1) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& cond = ctx.input(0);
    const Tensor& t = ctx.input(1);
    const Tensor& e = ctx.input(2);
    TensorShape shape, cond_shape = cond.shape();
    if (v1_) {
      ASSIGN_OR_RETURN(array_plans::SelectPlan plan, array_plans::PlanSelect(ctx));
      shape = plan.shape;
      cond_shape = plan.cond_shape;
    } else {
      ASSIGN_OR_RETURN(shape, array_plans::PlanSelectV2(ctx));
    }
    const int ranks[3] = {cond_shape.rank(), t.rank(), e.rank()};
    const int64_t* dims[3] = {cond_shape.dims().data(), t.shape().dims().data(),
                              e.shape().dims().data()};
    movement::MultiBroadcastIndexer ix;
    if (!movement::MakeMultiBroadcastIndexer(shape.rank(), shape.dims().data(), 3, ranks, dims,
                                             &ix)) {
      return ctx.Error("broadcast rank exceeds the GPU kernel's limit of 8 collapsed dims");
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const void* c, g.In(0));
    ASSIGN_OR_RETURN(const void* tv, g.In(1));
    ASSIGN_OR_RETURN(const void* ev, g.In(2));
    ASSIGN_OR_RETURN(void* out, g.Out(0, shape));
    RETURN_IF_ERROR(g.Check(LaunchSelect(static_cast<const bool*>(c), tv, ev, out,
                                         DataTypeSize(t.dtype()), ix, g.stream()),
                            "select"));
    return g.Finish();
  }

 private:
  bool v1_;
};

class LogicalGpuOp : public OpKernel {
 public:
  explicit LogicalGpuOp(LogicalOp op) : op_(op) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& y = ctx.input(1);
    RETURN_IF_ERROR(cwise::CheckDtype(ctx, 0, DT_BOOL));
    RETURN_IF_ERROR(cwise::CheckDtype(ctx, 1, DT_BOOL));
    auto plan = cwise::PlanBroadcast(x.shape(), y.shape());
    if (!plan.ok()) return ctx.Error(std::string(plan.status().message()));
    const TensorShape& shape = plan->output_shape;
    const int ranks[2] = {x.rank(), y.rank()};
    const int64_t* dims[2] = {x.shape().dims().data(), y.shape().dims().data()};
    movement::MultiBroadcastIndexer ix;
    if (!movement::MakeMultiBroadcastIndexer(shape.rank(), shape.dims().data(), 2, ranks, dims,
                                             &ix)) {
      return ctx.Error("broadcast rank exceeds the GPU kernel's limit of 8 collapsed dims");
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const bool* a, g.InAs<bool>(0));
    ASSIGN_OR_RETURN(const bool* b, g.InAs<bool>(1));
    ASSIGN_OR_RETURN(bool* out, g.OutAs<bool>(0, shape));
    RETURN_IF_ERROR(g.Check(LaunchLogical(op_, a, b, out, ix, g.stream()), "logical"));
    return g.Finish();
  }

 private:
  LogicalOp op_;
};

class LogicalNotGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    RETURN_IF_ERROR(cwise::CheckDtype(ctx, 0, DT_BOOL));
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const bool* in, g.InAs<bool>(0));
    ASSIGN_OR_RETURN(bool* out, g.OutAs<bool>(0, x.shape()));
    RETURN_IF_ERROR(
        g.Check(LaunchLogicalNot(in, out, x.num_elements(), g.stream()), "logical_not"));
    return g.Finish();
  }
};

template <typename K, typename... Args>
KernelFactory Make(Args... args) {
  return [args...](OpKernelConstruction&) -> KernelOrError {
    return std::unique_ptr<OpKernel>(new K(args...));
  };
}

const bool registered = [] {
  // No int32: as in TF, int32 tensors are shapes and axes, kept in host memory.
  const std::vector<DataType> movable = {DT_FLOAT, DT_INT64, DT_DOUBLE, DT_BOOL};
  RegisterGpuKernel(KernelDef("Pack", kGpu).TypeConstraint("T", movable), InitFactory<PackGpuOp>());
  RegisterGpuKernel(KernelDef("Unpack", kGpu).TypeConstraint("T", movable),
                    InitFactory<UnpackGpuOp>());
  RegisterGpuKernel(KernelDef("Concat", kGpu).TypeConstraint("T", movable).HostMemory("concat_dim"),
                    Make<ConcatGpuOp>());
  RegisterGpuKernel(KernelDef("Split", kGpu).TypeConstraint("T", movable).HostMemory("split_dim"),
                    Make<SplitGpuOp>());
  RegisterGpuKernel(KernelDef("SplitV", kGpu)
                        .TypeConstraint("T", movable)
                        .HostMemory("size_splits")
                        .HostMemory("split_dim"),
                    Make<SplitVGpuOp>());
  RegisterGpuKernel(KernelDef("Pad", kGpu).TypeConstraint("T", movable).HostMemory("paddings"),
                    Make<PadGpuOp>());
  RegisterGpuKernel(KernelDef("PadV2", kGpu).TypeConstraint("T", movable).HostMemory("paddings"),
                    Make<PadGpuOp>());
  RegisterGpuKernel(KernelDef("BroadcastTo", kGpu).TypeConstraint("T", movable).HostMemory("shape"),
                    Make<BroadcastToGpuOp>());
  RegisterGpuKernel(KernelDef("Snapshot", kGpu).TypeConstraint("T", movable),
                    Make<SnapshotGpuOp>());
  // IdentityN's T is a list(type): no single-type constraint applies (it only aliases).
  RegisterGpuKernel(KernelDef("IdentityN", kGpu), Make<IdentityNGpuOp>());
  RegisterGpuKernel(
      KernelDef("ShapeN", kGpu).TypeConstraint("T", array_kernels::AllTypes()).HostMemory("output"),
      Make<ShapeNGpuOp>());
  RegisterGpuKernel(KernelDef("SelectV2", kGpu).TypeConstraint("T", movable),
                    Make<SelectV2GpuOp>(false));
  RegisterGpuKernel(KernelDef("Select", kGpu).TypeConstraint("T", movable),
                    Make<SelectV2GpuOp>(true));
  // LogicalAnd/Or/Not have no type attr: bool in, bool out.
  RegisterGpuKernel(KernelDef("LogicalAnd", kGpu), Make<LogicalGpuOp>(LogicalOp::kAnd));
  RegisterGpuKernel(KernelDef("LogicalOr", kGpu), Make<LogicalGpuOp>(LogicalOp::kOr));
  RegisterGpuKernel(KernelDef("LogicalNot", kGpu), Make<LogicalNotGpuOp>());
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace quiver
