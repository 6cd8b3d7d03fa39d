// GPU kernels for data movement: Pack, Unpack, Concat (v1), Pad, PadV2, BroadcastTo, Snapshot,
// IdentityN, ShapeN, SelectV2, LogicalAnd/Or/Not, GatherV2, OneHot, DynamicStitch and
// ParallelDynamicStitch. Semantics, shape checks and error messages follow the CPU kernels
// (devices/cpu/kernels/{concat,tile_pad,select_broadcast_stitch,gather,identity,shape}_ops.cc):
// the shape rules are the shared ones in graph/ops/array_shapes.h, and every check runs before
// the first CUDA call. Byte-moving kernels work on element sizes, so one registration covers
// the `movable` dtypes; int32 tensors stay on the host as in TF.
//
// Memory: shapes, axes, paddings, depth and DynamicStitch's indices are HostMemory inputs;
// ShapeN's outputs are HostMemory. PadV2's constant_values, OneHot's on/off values and
// GatherV2's indices are device tensors. GatherV2 validates its indices on the host: when they
// are device-resident it copies them back (one stream synchronisation) and uploads the checked
// values as int64, so an out-of-range index is an error, never an out-of-bounds read.
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

namespace as = array_shapes;
using array_kernels::InitFactory;
using array_kernels::NodeError;

int64_t Product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

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

class PackGpuOp : public OpKernel {
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
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(void* out, g.Out(0, *shape));
    const size_t esize = DataTypeSize(ctx.input(0).dtype());
    for (int i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(const void* in, g.In(i));
      RETURN_IF_ERROR(g.Check(
          LaunchScatter(in, out, esize, Block2D(outer, inner, n * inner, i * inner), g.stream()),
          "pack"));
    }
    return g.Finish();
  }

 private:
  int64_t axis_ = 0;
};

class UnpackGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(axis_, c.GetAttr<int64_t>("axis"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in_t = ctx.input(0);
    const int num = ctx.num_outputs();
    auto shape = as::UnpackShape(in_t.shape(), num, axis_);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    const int rank = in_t.rank();
    const int ax = static_cast<int>(axis_ < 0 ? axis_ + rank : axis_);
    const int64_t outer = Product(in_t.shape().dims(), 0, ax);
    const int64_t inner = Product(in_t.shape().dims(), ax + 1, rank);
    const size_t esize = DataTypeSize(in_t.dtype());
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const void* in, g.In(0));
    for (int k = 0; k < num; ++k) {
      ASSIGN_OR_RETURN(void* out, g.Out(k, *shape));
      RETURN_IF_ERROR(g.Check(
          LaunchGather(in, out, esize, Block2D(outer, inner, num * inner, k * inner), g.stream()),
          "unpack"));
    }
    return g.Finish();
  }

 private:
  int64_t axis_ = 0;
};

// Concat: concat_dim (HostMemory) first, then the values.
class ConcatGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(int64_t axis, GpuHostScalar(ctx, 0, "concat_dim"));
    const int n = ctx.num_inputs() - 1;
    std::vector<TensorShape> shapes;
    for (int i = 1; i <= n; ++i) shapes.push_back(ctx.input(i).shape());
    auto shape = as::ConcatShape(shapes, &axis);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    const int rank = shape->rank();
    const int ax = static_cast<int>(axis < 0 ? axis + rank : axis);
    const std::vector<int64_t>& out_dims = shape->dims();
    const int64_t outer = Product(out_dims, 0, ax);
    const int64_t out_chunk = Product(out_dims, ax, out_dims.size());
    const size_t esize = DataTypeSize(ctx.input(1).dtype());
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(void* out, g.Out(0, *shape));
    int64_t offset = 0;
    for (int i = 1; i <= n; ++i) {
      const std::vector<int64_t>& in_dims = ctx.input(i).shape().dims();
      const int64_t chunk = Product(in_dims, ax, in_dims.size());
      ASSIGN_OR_RETURN(const void* in, g.In(i));
      RETURN_IF_ERROR(g.Check(
          LaunchScatter(in, out, esize, Block2D(outer, chunk, out_chunk, offset), g.stream()),
          "concat"));
      offset += chunk;
    }
    return g.Finish();
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
    if (ctx.input(1).rank() == 2 && ctx.input(1).dim(1) != 2) {
      return ctx.Error("paddings must be a [rank, 2] matrix");
    }
    auto shape = as::PadShape(in_t.shape(), &paddings, static_cast<int>(paddings.size() / 2));
    if (!shape.ok()) return NodeError(ctx, shape.status());
    if (*shape == in_t.shape()) {  // nothing to pad
      ctx.set_output(0, in_t);
      return absl::OkStatus();
    }
    const bool v2 = ctx.num_inputs() > 2;
    if (v2 && ctx.input(2).num_elements() != 1) {
      return ctx.Error("constant_values must be a scalar");
    }
    movement::PadIndexer ix;
    if (!movement::MakePadIndexer(in_t.rank(), in_t.shape().dims().data(), paddings.data(), &ix)) {
      return ctx.Error(
          absl::StrCat("the GPU Pad supports at most ", movement::kMaxRank, " padded dims"));
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const void* in, g.In(0));
    const void* value = nullptr;
    if (v2) {
      ASSIGN_OR_RETURN(value, g.In(2));
    }
    ASSIGN_OR_RETURN(void* out, g.Out(0, *shape));
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
    auto target = as::ShapeFromDims(dims, /*allow_unknown=*/false);
    if (!target.ok()) return NodeError(ctx, target.status());
    auto shape = as::BroadcastToShape(in_t.shape(), *target);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    if (*shape == in_t.shape()) {
      ctx.set_output(0, in_t);
      return absl::OkStatus();
    }
    const int in_rank = in_t.rank();
    const int64_t* in_dims = in_t.shape().dims().data();
    movement::MultiBroadcastIndexer b;
    if (!movement::MakeMultiBroadcastIndexer(shape->rank(), shape->dims().data(), 1, &in_rank,
                                             &in_dims, &b)) {
      return ctx.Error("broadcast rank exceeds the GPU kernel's limit of 8 collapsed dims");
    }
    index::StridedIndexer ix;
    ix.rank = b.rank;
    for (int d = 0; d < b.rank; ++d) {
      ix.dims[d] = b.dims[d];
      ix.strides[d] = b.strides[0][d];
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const void* in, g.In(0));
    ASSIGN_OR_RETURN(void* out, g.Out(0, *shape));
    RETURN_IF_ERROR(
        g.Check(LaunchGather(in, out, DataTypeSize(in_t.dtype()), ix, g.stream()), "broadcast_to"));
    return g.Finish();
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
          return ctx.Error(absl::StrCat("output type is int32 but value ", dims[k],
                                        " does not fit; use out_type=int64"));
        } else {
          out->data<int32_t>()[k] = static_cast<int32_t>(dims[k]);
        }
      }
    }
    return absl::OkStatus();
  }
};

// ---- SelectV2, LogicalAnd/Or/Not --------------------------------------------------------

class SelectV2GpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& cond = ctx.input(0);
    const Tensor& t = ctx.input(1);
    const Tensor& e = ctx.input(2);
    if (cond.dtype() != DT_BOOL) {
      return ctx.Error(absl::StrCat("condition must be bool, got ", DataTypeName(cond.dtype())));
    }
    auto shape = as::SelectV2Shape(cond.shape(), t.shape(), e.shape());
    if (!shape.ok()) return NodeError(ctx, shape.status());
    const int ranks[3] = {cond.rank(), t.rank(), e.rank()};
    const int64_t* dims[3] = {cond.shape().dims().data(), t.shape().dims().data(),
                              e.shape().dims().data()};
    movement::MultiBroadcastIndexer ix;
    if (!movement::MakeMultiBroadcastIndexer(shape->rank(), shape->dims().data(), 3, ranks, dims,
                                             &ix)) {
      return ctx.Error("broadcast rank exceeds the GPU kernel's limit of 8 collapsed dims");
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const void* c, g.In(0));
    ASSIGN_OR_RETURN(const void* tv, g.In(1));
    ASSIGN_OR_RETURN(const void* ev, g.In(2));
    ASSIGN_OR_RETURN(void* out, g.Out(0, *shape));
    RETURN_IF_ERROR(g.Check(LaunchSelect(static_cast<const bool*>(c), tv, ev, out,
                                         DataTypeSize(t.dtype()), ix, g.stream()),
                            "select"));
    return g.Finish();
  }
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
                    Make<SelectV2GpuOp>());
  // LogicalAnd/Or/Not have no type attr: bool in, bool out.
  RegisterGpuKernel(KernelDef("LogicalAnd", kGpu), Make<LogicalGpuOp>(LogicalOp::kAnd));
  RegisterGpuKernel(KernelDef("LogicalOr", kGpu), Make<LogicalGpuOp>(LogicalOp::kOr));
  RegisterGpuKernel(KernelDef("LogicalNot", kGpu), Make<LogicalNotGpuOp>());
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace quiver
