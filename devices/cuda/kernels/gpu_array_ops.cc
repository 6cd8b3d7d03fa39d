// GPU kernels for the shape plumbing that training graphs (and their gradients) put between
// GPU ops, so that a step does not bounce tensors through the host: Const (copied to the device
// once per device and cached), Shape/Size/Rank (host outputs: they read no data), ExpandDims /
// Squeeze (aliases), Tile, Fill / ZerosLike / OnesLike, AddN and NoOp.
#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/kernels/cwise_ops_common.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/launchers.h"
#include "devices/device.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

using array_kernels::InitFactory;

class ConstGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(value_, c.GetAttr<Tensor>("value"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    Device* dev = ctx.device();
    if (AsCudaDevice(dev) == nullptr) {  // no GPU context: the host value is what callers can use
      ctx.set_output(0, value_);
      return absl::OkStatus();
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = on_device_.find(dev);
    if (it == on_device_.end()) {
      auto copy = CopyTensor(value_, dev);
      if (!copy.ok()) return ctx.Error(std::string(copy.status().message()));
      it = on_device_.emplace(dev, *std::move(copy)).first;
    }
    ctx.set_output(0, it->second);
    return absl::OkStatus();
  }

 private:
  Tensor value_;
  mutable std::mutex mu_;
  // One device copy per Device the kernel ran on (a kernel object belongs to one session, so
  // its devices outlive it).
  mutable std::map<Device*, Tensor> on_device_;
};

// Shape / Size / Rank: host-memory outputs (the data is never read).
class ShapeGpuOp : public OpKernel {
 public:
  enum Kind { kShape, kSize, kRank };
  explicit ShapeGpuOp(Kind kind) : kind_(kind) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const DataType out_type = ctx.node().output_type(0);
    std::vector<int64_t> values;
    if (kind_ == kShape) {
      values = x.shape().dims();
    } else {
      values.push_back(kind_ == kSize ? x.num_elements() : x.rank());
    }
    TensorShape shape =
        kind_ == kShape ? TensorShape{static_cast<int64_t>(values.size())} : TensorShape{};
    // HostMemory("output"): allocate_output hands out host memory (the session's CPU:0).
    ASSIGN_OR_RETURN(Tensor * t, ctx.allocate_output(0, shape));
    if (t->allocator() != nullptr && !t->allocator()->host_accessible()) {
      return ctx.Error(
          "the output was allocated in device memory: run the kernel with the "
          "OpKernel in its context (HostMemory outputs)");
    }
    for (size_t i = 0; i < values.size(); ++i) {
      if (out_type == DT_INT32) {
        if (values[i] > INT32_MAX) return array_kernels::Int32OutputOverflow(ctx, values[i]);
        t->data<int32_t>()[i] = static_cast<int32_t>(values[i]);
      } else {
        t->data<int64_t>()[i] = values[i];
      }
    }
    return absl::OkStatus();
  }

 private:
  Kind kind_;
};

// ExpandDims and Squeeze alias their input with the CPU kernels' shape rules and messages.
class ExpandDimsGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(int64_t axis, GpuHostScalar(ctx, 1, "dim"));
    return array_kernels::SetReshaped(ctx,
                                      array_shapes::ExpandDimsShape(ctx.input(0).shape(), &axis));
  }
};

class SqueezeGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    auto dims = c.GetAttr<std::vector<int64_t>>("squeeze_dims");
    if (dims.ok()) axes_ = *dims;
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    return array_kernels::SetReshaped(ctx, array_shapes::SqueezeShape(ctx.input(0).shape(), axes_));
  }

 private:
  std::vector<int64_t> axes_;
};

// Tile: out dims d_k * m_k. Row-major over [m_0, d_0, m_1, d_1, ...] is row-major over the
// output, so one gather with strides (0, in_stride_k) does it. Size-1 entries are dropped and
// contiguous neighbours merged, so any rank fits as long as <= 8 dims remain.
class TileGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> mult, GpuHostInts(ctx, 1, "multiples"));
    // The CPU kernel's checks and messages.
    auto shape = array_shapes::TileShape(x.shape(), &mult, static_cast<int>(mult.size()));
    if (!shape.ok()) return array_kernels::NodeError(ctx, shape.status());
    const int rank = x.rank();
    std::vector<int64_t> sizes, steps;  // (size, source step) from outermost to innermost
    int64_t in_stride = x.num_elements();
    for (int d = 0; d < rank; ++d) {
      in_stride = x.dim(d) == 0 ? 0 : in_stride / x.dim(d);
      const int64_t pair[2][2] = {{mult[d], 0}, {x.dim(d), in_stride}};
      for (const auto& [size, step] : pair) {
        if (size == 1) continue;
        if (!sizes.empty() && steps.back() == step * size) {  // contiguous with the previous
          sizes.back() *= size;
          steps.back() = step;
          continue;
        }
        sizes.push_back(size);
        steps.push_back(step);
      }
    }
    index::StridedIndexer ix;
    if (shape->num_elements() > 0) {
      if (sizes.size() > static_cast<size_t>(index::kMaxRank)) {
        return ctx.Error("the GPU Tile supports at most 8 dims after collapsing");
      }
      ix.rank = static_cast<int>(sizes.size());
      for (int d = 0; d < ix.rank; ++d) {
        ix.dims[d] = sizes[d];
        ix.strides[d] = steps[d];
      }
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(void* out, g.Out(0, *shape));
    if (shape->num_elements() == 0) return g.Finish();
    ASSIGN_OR_RETURN(const void* in, g.In(0));
    RETURN_IF_ERROR(
        g.Check(LaunchGather(in, out, DataTypeSize(x.dtype()), ix, g.stream()), "tile"));
    return g.Finish();
  }
};

// ZerosLike (0), OnesLike (1), Fill (dims on the host, value a device scalar).
class FillGpuOp : public OpKernel {
 public:
  enum Kind { kZeros, kOnes, kFill };
  explicit FillGpuOp(Kind kind) : kind_(kind) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    std::vector<int64_t> dims;
    if (kind_ == kFill) {
      ASSIGN_OR_RETURN(dims, GpuHostInts(ctx, 0, "dims"));
      // The CPU kernel's checks and messages.
      RETURN_IF_ERROR(array_kernels::FillShape(ctx, dims).status());
    } else {
      dims = ctx.input(0).shape().dims();
    }
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, TensorShape(dims)));
    if (kind_ == kFill) {
      ASSIGN_OR_RETURN(const float* v, g.InAs<float>(1));
      RETURN_IF_ERROR(g.Check(LaunchFillFrom(out, n, v, g.stream()), "fill"));
    } else {
      RETURN_IF_ERROR(g.Check(LaunchFill(out, n, kind_ == kOnes ? 1.f : 0.f, g.stream()), "fill"));
    }
    return g.Finish();
  }

 private:
  Kind kind_;
};

class AddNGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    RETURN_IF_ERROR(array_kernels::CheckAddNShapes(ctx));  // the CPU kernel's check and message
    const Tensor& first = ctx.input(0);
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, first.shape()));
    ASSIGN_OR_RETURN(const float* a, g.InAs<float>(0));
    const int64_t count = first.num_elements();
    if (n == 1) {
      if (count > 0) {  // an empty tensor may have no buffer
        RETURN_IF_ERROR(g.Check(
            cudaMemcpyAsync(out, a, count * sizeof(float), cudaMemcpyDeviceToDevice, g.stream()),
            "AddN copy"));
      }
      return g.Finish();
    }
    ASSIGN_OR_RETURN(const float* b, g.InAs<float>(1));
    RETURN_IF_ERROR(
        g.Check(LaunchBinary(BinaryOp::kAdd, a, b, out, count, nullptr, g.stream()), "AddN"));
    for (int i = 2; i < n; ++i) {
      ASSIGN_OR_RETURN(const float* c, g.InAs<float>(i));
      RETURN_IF_ERROR(
          g.Check(LaunchBinary(BinaryOp::kAdd, out, c, out, count, nullptr, g.stream()), "AddN"));
    }
    return g.Finish();
  }
};

bool ElemTypeOf(DataType t, ElemType* out) {
  switch (t) {
    case DT_FLOAT:
      *out = ElemType::kFloat;
      return true;
    case DT_DOUBLE:
      *out = ElemType::kDouble;
      return true;
    case DT_INT32:
      *out = ElemType::kInt32;
      return true;
    case DT_INT64:
      *out = ElemType::kInt64;
      return true;
    case DT_BOOL:
      *out = ElemType::kBool;
      return true;
    default:
      return false;
  }
}

// Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual with NumPy broadcasting -> bool.
class CompareGpuOp : public OpKernel {
 public:
  explicit CompareGpuOp(CompareOp op) : op_(op) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& y = ctx.input(1);
    ElemType type;
    if (x.dtype() != y.dtype() || !ElemTypeOf(x.dtype(), &type)) {
      return ctx.Error(absl::StrCat("unsupported GPU comparison of ", DataTypeName(x.dtype()),
                                    " and ", DataTypeName(y.dtype())));
    }
    auto planned = cwise::PlanBroadcast(x.shape(), y.shape());
    if (!planned.ok()) {
      // As the CPU kernel: Equal/NotEqual with incompatible_shape_error=false give a scalar.
      const bool equality = op_ == CompareOp::kEqual || op_ == CompareOp::kNotEqual;
      auto strict = ctx.node().GetAttr<bool>("incompatible_shape_error");
      if (equality && strict.ok() && !*strict) {
        GpuScope g(ctx);
        RETURN_IF_ERROR(g.Init());
        ASSIGN_OR_RETURN(void* out, g.Out(0, TensorShape{}));
        RETURN_IF_ERROR(g.Check(
            cudaMemsetAsync(out, op_ == CompareOp::kNotEqual ? 1 : 0, sizeof(bool), g.stream()),
            "compare"));
        return g.Finish();
      }
      return ctx.Error(std::string(planned.status().message()));
    }
    const cwise::BroadcastPlan& plan = *planned;
    functor::BroadcastIndexer bcast;
    const int rank = static_cast<int>(plan.out_dims.size());
    if (x.num_elements() == plan.num_elements && y.num_elements() == plan.num_elements) {
      bcast.rank = 1;  // same shape: the identity map
      bcast.out_dims[0] = std::max<int64_t>(plan.num_elements, 1);
      bcast.x_strides[0] = bcast.y_strides[0] = 1;
    } else if (rank == 0) {
      bcast.rank = 0;
    } else if (!functor::MakeBroadcastIndexer(rank, plan.out_dims.data(), plan.x_dims.data(),
                                              plan.y_dims.data(), &bcast)) {
      return ctx.Error("broadcast rank exceeds the GPU kernel's limit of 8 collapsed dims");
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const void* a, g.In(0));
    ASSIGN_OR_RETURN(const void* b, g.In(1));
    ASSIGN_OR_RETURN(void* out, g.Out(0, plan.output_shape));
    RETURN_IF_ERROR(g.Check(LaunchCompare(op_, type, a, b, static_cast<bool*>(out),
                                          plan.num_elements, bcast, g.stream()),
                            "compare"));
    return g.Finish();
  }

 private:
  CompareOp op_;
};

class CastGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const DataType to = ctx.node().output_type(0);
    ElemType from_t, to_t;
    if (!ElemTypeOf(x.dtype(), &from_t) || !ElemTypeOf(to, &to_t)) {
      return ctx.Error(
          absl::StrCat("no GPU cast from ", DataTypeName(x.dtype()), " to ", DataTypeName(to)));
    }
    if (x.dtype() == to) {  // the identity cast aliases, as on the CPU
      ctx.set_output(0, x);
      return absl::OkStatus();
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(const void* in, g.In(0));
    ASSIGN_OR_RETURN(void* out, g.Out(0, x.shape()));
    RETURN_IF_ERROR(
        g.Check(LaunchCast(from_t, to_t, in, out, x.num_elements(), g.stream()), "cast"));
    return g.Finish();
  }
};

class NoOpGpu : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext&) const override { return absl::OkStatus(); }
};

template <typename K, typename... Args>
KernelFactory Make(Args... args) {
  return [args...](OpKernelConstruction&) -> KernelOrError {
    return std::unique_ptr<OpKernel>(new K(args...));
  };
}

const bool registered = [] {
  // No int32: as in TF, int32 tensors are shapes and axes, kept in host memory (on the CPU),
  // where the GPU kernels' HostMemory args expect them.
  const std::vector<DataType> movable = {DT_FLOAT, DT_INT64, DT_DOUBLE, DT_BOOL};
  const std::vector<DataType> all = array_kernels::AllTypes();
  // float only: integer constants are shapes and axes, which GPU kernels take in host memory
  // (TF keeps its int32 GPU tensors on the host for the same reason).
  RegisterGpuKernel(KernelDef("Const", kGpu).TypeConstraint("dtype", {DT_FLOAT}),
                    InitFactory<ConstGpuOp>());
  RegisterGpuKernel(KernelDef("Shape", kGpu).TypeConstraint("T", all).HostMemory("output"),
                    Make<ShapeGpuOp>(ShapeGpuOp::kShape));
  RegisterGpuKernel(KernelDef("Size", kGpu).TypeConstraint("T", all).HostMemory("output"),
                    Make<ShapeGpuOp>(ShapeGpuOp::kSize));
  RegisterGpuKernel(KernelDef("Rank", kGpu).TypeConstraint("T", all).HostMemory("output"),
                    Make<ShapeGpuOp>(ShapeGpuOp::kRank));
  RegisterGpuKernel(KernelDef("ExpandDims", kGpu).TypeConstraint("T", movable).HostMemory("dim"),
                    Make<ExpandDimsGpuOp>());
  RegisterGpuKernel(KernelDef("Squeeze", kGpu).TypeConstraint("T", movable),
                    InitFactory<SqueezeGpuOp>());
  RegisterGpuKernel(KernelDef("Tile", kGpu).TypeConstraint("T", movable).HostMemory("multiples"),
                    Make<TileGpuOp>());
  RegisterGpuKernel(KernelDef("ZerosLike", kGpu).TypeConstraint("T", {DT_FLOAT}),
                    Make<FillGpuOp>(FillGpuOp::kZeros));
  RegisterGpuKernel(KernelDef("OnesLike", kGpu).TypeConstraint("T", {DT_FLOAT}),
                    Make<FillGpuOp>(FillGpuOp::kOnes));
  RegisterGpuKernel(KernelDef("Fill", kGpu).TypeConstraint("T", {DT_FLOAT}).HostMemory("dims"),
                    Make<FillGpuOp>(FillGpuOp::kFill));
  RegisterGpuKernel(KernelDef("AddN", kGpu).TypeConstraint("T", {DT_FLOAT}), Make<AddNGpuOp>());
  RegisterGpuKernel(KernelDef("NoOp", kGpu), Make<NoOpGpu>());
  const std::pair<const char*, CompareOp> compares[] = {
      {"Equal", CompareOp::kEqual},     {"NotEqual", CompareOp::kNotEqual},
      {"Less", CompareOp::kLess},       {"LessEqual", CompareOp::kLessEqual},
      {"Greater", CompareOp::kGreater}, {"GreaterEqual", CompareOp::kGreaterEqual}};
  for (const auto& [name, op] : compares) {
    RegisterGpuKernel(
        KernelDef(name, kGpu).TypeConstraint("T", {DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64}),
        Make<CompareGpuOp>(op));
  }
  const std::vector<DataType> castable = {DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_BOOL};
  // Both ends: a cast to a type without a GPU kernel (half, int8, ...) stays on the CPU.
  RegisterGpuKernel(
      KernelDef("Cast", kGpu).TypeConstraint("SrcT", castable).TypeConstraint("DstT", castable),
      Make<CastGpuOp>());
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace quiver
