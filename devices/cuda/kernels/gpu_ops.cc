// GPU OpKernels (float32) over the launchers in launchers.h: element-wise with broadcasting,
// activation gradients, BiasAdd/BiasAddGrad, reductions, ArgMax/ArgMin, Softmax/LogSoftmax,
// SoftmaxCrossEntropyWithLogits, the optimizer updates, random numbers, Transpose, Slice,
// ConcatV2, and the state/shape plumbing a training graph needs on the GPU (VariableV2,
// Assign, Identity, Reshape). Shapes, axes and sizes are HostMemory inputs, as in TF.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/common/philox_state.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/kernels/cwise_ops_common.h"
#include "devices/cpu/kernels/update_checks.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/cudnn_paths.h"
#include "devices/cuda/kernels/launchers.h"
#include "devices/cuda/kernels/var_locks.h"
#include "devices/device.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

using array_kernels::InitFactory;

#define GPU_ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN(lhs, expr)

std::vector<int64_t> Dims(const TensorShape& s) {
  std::vector<int64_t> d(s.rank());
  for (int i = 0; i < s.rank(); ++i) d[i] = s.dim(i);
  return d;
}

// ---- element-wise ----------------------------------------------------------------------------

class UnaryGpuOp : public OpKernel {
 public:
  explicit UnaryGpuOp(UnaryOp op, float alpha = 0.2f) : op_(op), alpha_(alpha) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    const Tensor& x = ctx.input(0);
    GPU_ASSIGN_OR_RETURN(const float* in, g.InAs<float>(0));
    GPU_ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, x.shape()));
    RETURN_IF_ERROR(
        g.Check(LaunchUnary(op_, in, out, x.num_elements(), g.stream(), alpha_), "unary"));
    return g.Finish();
  }

 private:
  UnaryOp op_;
  float alpha_;  // LeakyRelu's attr
};

class BinaryGpuOp : public OpKernel {
 public:
  // `same_shape`: TF's *Grad ops take two inputs of one shape (no broadcasting).
  BinaryGpuOp(BinaryOp op, bool same_shape, float alpha = 0.2f)
      : op_(op), same_shape_(same_shape), alpha_(alpha) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    RETURN_IF_ERROR(RequireFloat(ctx, 1));
    const Tensor& x = ctx.input(0);
    const Tensor& y = ctx.input(1);
    if (same_shape_ && x.shape() != y.shape()) {
      return ctx.Error(
          absl::StrCat("the gradient and the forward tensor must have the same shape, got ",
                       x.shape().DebugString(), " and ", y.shape().DebugString()));
    }
    auto planned = cwise::PlanBroadcast(x.shape(), y.shape());
    if (!planned.ok()) return array_kernels::NodeError(ctx, planned.status());  // as on the CPU
    const cwise::BroadcastPlan& plan = *planned;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    GPU_ASSIGN_OR_RETURN(const float* a, g.InAs<float>(0));
    GPU_ASSIGN_OR_RETURN(const float* b, g.InAs<float>(1));
    GPU_ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, plan.output_shape));
    const int64_t n = plan.num_elements;
    functor::BroadcastIndexer bcast;
    const functor::BroadcastIndexer* pb = nullptr;
    if (x.num_elements() != n || y.num_elements() != n) {
      const int rank = static_cast<int>(plan.out_dims.size());
      if (rank > 0 && !functor::MakeBroadcastIndexer(rank, plan.out_dims.data(), plan.x_dims.data(),
                                                     plan.y_dims.data(), &bcast)) {
        return ctx.Error("broadcast rank exceeds the GPU kernel's limit of 8 collapsed dims");
      }
      if (rank == 0) {  // every dim is 1
        bcast.rank = 0;
      }
      pb = &bcast;
    }
    RETURN_IF_ERROR(g.Check(LaunchBinary(op_, a, b, out, n, pb, g.stream(), alpha_), "binary"));
    return g.Finish();
  }

 private:
  BinaryOp op_;
  bool same_shape_;
  float alpha_;  // LeakyReluGrad's attr
};

// LeakyRelu / LeakyReluGrad carry `alpha` (default 0.2, as in TF); other ops have none.
float AlphaAttr(OpKernelConstruction& c) {
  auto alpha = c.GetAttr<float>("alpha");
  return alpha.ok() ? *alpha : 0.2f;
}

KernelFactory UnaryFactory(UnaryOp op) {
  return [op](OpKernelConstruction& c) -> KernelOrError {
    return std::unique_ptr<OpKernel>(new UnaryGpuOp(op, AlphaAttr(c)));
  };
}
KernelFactory BinaryFactory(BinaryOp op, bool same_shape) {
  return [op, same_shape](OpKernelConstruction& c) -> KernelOrError {
    return std::unique_ptr<OpKernel>(new BinaryGpuOp(op, same_shape, AlphaAttr(c)));
  };
}

// IsNan / IsInf / IsFinite: float in, bool out.
class FloatPredicateGpuOp : public OpKernel {
 public:
  explicit FloatPredicateGpuOp(FloatPredicate op) : op_(op) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    const Tensor& x = ctx.input(0);
    GPU_ASSIGN_OR_RETURN(const float* in, g.InAs<float>(0));
    GPU_ASSIGN_OR_RETURN(bool* out, g.OutAs<bool>(0, x.shape()));
    RETURN_IF_ERROR(g.Check(LaunchFloatPredicate(op_, in, out, x.num_elements(), g.stream()),
                            "float predicate"));
    return g.Finish();
  }

 private:
  FloatPredicate op_;
};

// ClipByValue: the CPU kernel's checks (scalar or same-shape bounds) and functor.
class ClipByValueGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    for (int i = 0; i < 3; ++i) RETURN_IF_ERROR(RequireFloat(ctx, i));
    RETURN_IF_ERROR(array_plans::CheckClipByValueInputs(ctx));
    const Tensor& x = ctx.input(0);
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    GPU_ASSIGN_OR_RETURN(const float* in, g.InAs<float>(0));
    GPU_ASSIGN_OR_RETURN(const float* lo, g.InAs<float>(1));
    GPU_ASSIGN_OR_RETURN(const float* hi, g.InAs<float>(2));
    GPU_ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, x.shape()));
    RETURN_IF_ERROR(g.Check(LaunchClip(in, lo, hi, out, x.num_elements(), ctx.input(1).rank() == 0,
                                       ctx.input(2).rank() == 0, g.stream()),
                            "ClipByValue"));
    return g.Finish();
  }
};

class L2LossGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& x = ctx.input(0);
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    GPU_ASSIGN_OR_RETURN(const float* in, g.InAs<float>(0));
    GPU_ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, TensorShape{}));
    RETURN_IF_ERROR(g.Check(LaunchL2Loss(in, out, x.num_elements(), g.stream()), "L2Loss"));
    return g.Finish();
  }
};

KernelDef FloatDef(const char* op, const char* attr = "T") {
  return KernelDef(op, kGpu).TypeConstraint(attr, {DT_FLOAT});
}

const bool cwise_registered = [] {
  const std::pair<const char*, UnaryOp> unary[] = {
      {"Neg", UnaryOp::kNeg},
      {"Abs", UnaryOp::kAbs},
      {"Square", UnaryOp::kSquare},
      {"Exp", UnaryOp::kExp},
      {"Log", UnaryOp::kLog},
      {"Sqrt", UnaryOp::kSqrt},
      {"Rsqrt", UnaryOp::kRsqrt},
      {"Tanh", UnaryOp::kTanh},
      {"Sigmoid", UnaryOp::kSigmoid},
      {"Relu", UnaryOp::kRelu},
      {"Relu6", UnaryOp::kRelu6},
      {"Elu", UnaryOp::kElu},
      {"Reciprocal", UnaryOp::kReciprocal},
      {"Sign", UnaryOp::kSign},
      {"Floor", UnaryOp::kFloor},
      {"Ceil", UnaryOp::kCeil},
      {"Round", UnaryOp::kRound},
      {"Erf", UnaryOp::kErf},
      {"Erfc", UnaryOp::kErfc},
      {"Cos", UnaryOp::kCos},
      {"Sin", UnaryOp::kSin},
      {"Softplus", UnaryOp::kSoftplus},
      {"Softsign", UnaryOp::kSoftsign},
      {"Selu", UnaryOp::kSelu},
      {"LeakyRelu", UnaryOp::kLeakyRelu},
  };
  for (const auto& [name, op] : unary) RegisterGpuKernel(FloatDef(name), UnaryFactory(op));
  const std::pair<const char*, BinaryOp> binary[] = {
      {"Add", BinaryOp::kAdd},           {"AddV2", BinaryOp::kAdd},
      {"Sub", BinaryOp::kSub},           {"Mul", BinaryOp::kMul},
      {"RealDiv", BinaryOp::kRealDiv},   {"Div", BinaryOp::kRealDiv},
      {"Maximum", BinaryOp::kMaximum},   {"Minimum", BinaryOp::kMinimum},
      {"Pow", BinaryOp::kPow},           {"SquaredDifference", BinaryOp::kSquaredDifference},
      {"FloorDiv", BinaryOp::kFloorDiv}, {"FloorMod", BinaryOp::kFloorMod},
      {"Atan2", BinaryOp::kAtan2},
  };
  for (const auto& [name, op] : binary) RegisterGpuKernel(FloatDef(name), BinaryFactory(op, false));
  const std::pair<const char*, BinaryOp> grads[] = {
      {"ReluGrad", BinaryOp::kReluGrad},
      {"Relu6Grad", BinaryOp::kRelu6Grad},
      {"SigmoidGrad", BinaryOp::kSigmoidGrad},
      {"TanhGrad", BinaryOp::kTanhGrad},
      {"EluGrad", BinaryOp::kEluGrad},
      {"SeluGrad", BinaryOp::kSeluGrad},
      {"LeakyReluGrad", BinaryOp::kLeakyReluGrad},
      {"SoftplusGrad", BinaryOp::kSoftplusGrad},
      {"SoftsignGrad", BinaryOp::kSoftsignGrad},
  };
  for (const auto& [name, op] : grads) RegisterGpuKernel(FloatDef(name), BinaryFactory(op, true));
  const std::pair<const char*, FloatPredicate> predicates[] = {
      {"IsNan", FloatPredicate::kIsNan},
      {"IsInf", FloatPredicate::kIsInf},
      {"IsFinite", FloatPredicate::kIsFinite},
  };
  for (const auto& [name, op] : predicates) {
    RegisterGpuKernel(FloatDef(name), [op = op](OpKernelConstruction&) -> KernelOrError {
      return std::unique_ptr<OpKernel>(new FloatPredicateGpuOp(op));
    });
  }
  RegisterGpuKernel(FloatDef("ClipByValue"), InitFactory<ClipByValueGpuOp>());
  RegisterGpuKernel(FloatDef("L2Loss"), InitFactory<L2LossGpuOp>());
  return true;
}();

// ---- BiasAdd / BiasAddGrad (NHWC, or NCHW with rank >= 3: channels in dim 1) -----------------

absl::StatusOr<bool> ParseNchw(OpKernelConstruction& c) {
  auto format = c.GetAttr<std::string>("data_format");
  if (!format.ok()) return false;
  if (*format != "NHWC" && *format != "NCHW") {
    return c.Error("data_format must be NHWC or NCHW, got '" + *format + "'");
  }
  return *format == "NCHW";
}

class BiasAddGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(nchw_, ParseNchw(c));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& x = ctx.input(0);
    const Tensor& b = ctx.input(1);
    // The CPU kernel's checks and messages.
    GPU_ASSIGN_OR_RETURN(const int cd, array_plans::BiasAddChannelDim(ctx, nchw_));
    int64_t inner = 1;
    for (int d = cd + 1; d < x.rank(); ++d) inner *= x.dim(d);
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    GPU_ASSIGN_OR_RETURN(const float* xp, g.InAs<float>(0));
    GPU_ASSIGN_OR_RETURN(const float* bp, g.InAs<float>(1));
    GPU_ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, x.shape()));
    RETURN_IF_ERROR(
        g.Check(LaunchBiasAdd(xp, bp, out, x.num_elements(), std::max<int64_t>(b.dim(0), 1),
                              std::max<int64_t>(inner, 1), g.stream()),
                "BiasAdd"));
    return g.Finish();
  }

 private:
  bool nchw_ = false;
};

// Reduces `x` over the dims flagged in `reduced` into a freshly allocated output 0.
absl::Status ReduceInto(GpuScope& g, ReduceOp op, const Tensor& x, const std::vector<bool>& reduced,
                        const TensorShape& out_shape) {
  OpKernelContext& ctx = g.ctx();
  const int rank = x.rank();
  if (rank > index::kMaxRank) {
    return ctx.Error(absl::StrCat("rank ", rank, " exceeds the GPU reduction limit of 8"));
  }
  std::vector<int64_t> dims = Dims(x.shape());
  int64_t cdims[index::kMaxRank];
  bool cred[index::kMaxRank];
  bool red[index::kMaxRank];
  for (int d = 0; d < rank; ++d) red[d] = reduced[d];
  const int crank = index::CollapseReduceDims(rank, dims.data(), red, cdims, cred);
  index::ReduceIndexer ix;
  if (!index::MakeReduceIndexer(crank, cdims, cred, &ix)) return ctx.Error("bad reduction");
  GPU_ASSIGN_OR_RETURN(const void* in_raw, g.In(x));
  const float* in = static_cast<const float*>(in_raw);
  GPU_ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, out_shape));
  if (x.num_elements() == 0) {  // identity of the reduction (NaN for a mean)
    const float v = op == ReduceOp::kSum    ? 0.f
                    : op == ReduceOp::kProd ? 1.f
                    : op == ReduceOp::kMean ? std::nanf("")
                    : op == ReduceOp::kMax  ? -INFINITY
                                            : INFINITY;
    int64_t n = 1;
    for (int64_t d : out_shape.dims()) n *= d;
    return g.Check(LaunchFill(out, n, v, g.stream()), "reduce fill");
  }
  return g.Check(LaunchReduce(op, in, out, ix, g.stream()), "reduce");
}

class BiasAddGradGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(nchw_, ParseNchw(c));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& x = ctx.input(0);
    // The CPU kernel's checks and messages.
    GPU_ASSIGN_OR_RETURN(const int cd, array_plans::BiasAddGradChannelDim(ctx, nchw_));
    std::vector<bool> reduced(x.rank(), true);
    reduced[cd] = false;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    RETURN_IF_ERROR(ReduceInto(g, ReduceOp::kSum, x, reduced, TensorShape{x.dim(cd)}));
    return g.Finish();
  }

 private:
  bool nchw_ = false;
};

// ---- FusedBatchNorm / V2 / V3 ------------------------------------------------------------------

class FusedBatchNormGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(const array_plans::BatchNormAttrs a, array_plans::ParseBatchNormAttrs(c));
    epsilon_ = a.epsilon;
    factor_ = a.exponential_avg_factor;
    format_ = a.data_format;
    is_training_ = a.is_training;
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& x = ctx.input(0);
    const int rank = static_cast<int>(format_.size());
    // The CPU kernel's checks and messages.
    GPU_ASSIGN_OR_RETURN(
        const int cd, array_plans::CheckFusedBatchNormInputs(ctx, format_, is_training_, factor_));
    const bool channels_first = format_ == "NCHW" || format_ == "NCDHW";
    const int64_t c = x.dim(cd);
    int64_t inner = 1;
    for (int d = cd + 1; d < rank; ++d) inner *= x.dim(d);
    const int64_t count = c == 0 ? 0 : x.num_elements() / c;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    GPU_ASSIGN_OR_RETURN(float* y, g.OutAs<float>(0, x.shape()));
    if (ctx.num_outputs() > 5) {  // V3's reserve_space_3: a scalar 0, as on the CPU
      GPU_ASSIGN_OR_RETURN(float* r3, g.OutAs<float>(5, TensorShape{}));
      RETURN_IF_ERROR(g.Check(LaunchFill(r3, 1, 0.f, g.stream()), "reserve_space_3"));
    }
    GPU_ASSIGN_OR_RETURN(const float* xp, g.InAs<float>(0));
    GPU_ASSIGN_OR_RETURN(const float* scale, g.InAs<float>(1));
    GPU_ASSIGN_OR_RETURN(const float* offset, g.InAs<float>(2));
    if (!is_training_) {  // the statistics pass through, as on the CPU
      ctx.set_output(1, ctx.input(3));
      ctx.set_output(2, ctx.input(4));
      ctx.set_output(3, ctx.input(3));
      ctx.set_output(4, ctx.input(4));
      GPU_ASSIGN_OR_RETURN(const float* mean, g.InAs<float>(3));
      GPU_ASSIGN_OR_RETURN(const float* var, g.InAs<float>(4));
      if (UseCudnnPaths()) {  // y only; 4-D formats (cudnn_paths.h lists what it leaves to us)
        GPU_ASSIGN_OR_RETURN(
            bool done, TryCudnnBatchNormInference(g, channels_first, Dims(x.shape()), epsilon_, xp,
                                                  scale, offset, mean, var, y));
        if (done) return g.Finish();
      }
      GPU_ASSIGN_OR_RETURN(void* scratch, g.Temp(2 * std::max<int64_t>(c, 1) * sizeof(float)));
      RETURN_IF_ERROR(g.Check(LaunchBatchNorm(xp, scale, offset, mean, var, epsilon_, factor_,
                                              false, count, c, inner, y, nullptr, nullptr, nullptr,
                                              nullptr, static_cast<float*>(scratch), g.stream()),
                              "FusedBatchNorm"));
      return g.Finish();
    }
    // Training stays on our kernel: see TryCudnnBatchNormInference for why not cuDNN's.
    GPU_ASSIGN_OR_RETURN(void* scratch, g.Temp(2 * std::max<int64_t>(c, 1) * sizeof(float)));
    float* outs[4];
    for (int i = 0; i < 4; ++i) {
      GPU_ASSIGN_OR_RETURN(outs[i], g.OutAs<float>(i + 1, TensorShape{c}));
    }
    if (count == 0) {  // no samples: statistics undefined (NaN), saved ones 0, as on the CPU
      for (int i = 0; i < 4; ++i) {
        RETURN_IF_ERROR(g.Check(LaunchFill(outs[i], c, i < 2 ? std::nanf("") : 0.f, g.stream()),
                                "FusedBatchNorm"));
      }
      return g.Finish();
    }
    const float* old_mean = nullptr;
    const float* old_var = nullptr;
    if (factor_ != 1.0f) {
      GPU_ASSIGN_OR_RETURN(old_mean, g.InAs<float>(3));
      GPU_ASSIGN_OR_RETURN(old_var, g.InAs<float>(4));
    }
    RETURN_IF_ERROR(g.Check(LaunchBatchNorm(xp, scale, offset, old_mean, old_var, epsilon_, factor_,
                                            true, count, c, inner, y, outs[0], outs[1], outs[2],
                                            outs[3], static_cast<float*>(scratch), g.stream()),
                            "FusedBatchNorm"));
    return g.Finish();
  }

 private:
  float epsilon_ = 1e-3f, factor_ = 1.0f;
  std::string format_;
  bool is_training_ = true;
};

// ---- reductions and ArgMax ---------------------------------------------------------------------

// Normalises the axes (input `axes_input`, host memory) against `x` into a mask, with the CPU
// kernels' checks and messages.
absl::StatusOr<std::vector<bool>> AxesMask(OpKernelContext& ctx, int axes_input, const Tensor& x) {
  RETURN_IF_ERROR(RequireHostInput(ctx, axes_input, "reduction_indices"));
  return array_plans::ReductionMask(ctx, ctx.input(axes_input), x.shape());
}

class ReduceGpuOp : public OpKernel {
 public:
  ReduceGpuOp(OpKernelConstruction& c, ReduceOp op) : op_(op) {
    auto keep = c.GetAttr<bool>("keep_dims");
    keep_dims_ = keep.ok() && *keep;
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& x = ctx.input(0);
    GPU_ASSIGN_OR_RETURN(std::vector<bool> mask, AxesMask(ctx, 1, x));
    std::vector<int64_t> out_dims;
    for (int d = 0; d < x.rank(); ++d) {
      if (!mask[d]) {
        out_dims.push_back(x.dim(d));
      } else if (keep_dims_) {
        out_dims.push_back(1);
      }
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    RETURN_IF_ERROR(ReduceInto(g, op_, x, mask, TensorShape(out_dims)));
    return g.Finish();
  }

 private:
  ReduceOp op_;
  bool keep_dims_ = false;
};

KernelFactory ReduceFactory(ReduceOp op) {
  return [op](OpKernelConstruction& c) -> KernelOrError {
    return std::unique_ptr<OpKernel>(new ReduceGpuOp(c, op));
  };
}

class ArgGpuOp : public OpKernel {
 public:
  explicit ArgGpuOp(bool is_min) : is_min_(is_min) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& x = ctx.input(0);
    // The CPU kernel's checks and messages.
    RETURN_IF_ERROR(RequireHostInput(ctx, 1, "dimension"));
    GPU_ASSIGN_OR_RETURN(const int axis, array_plans::ArgReductionAxis(ctx));
    const int rank = x.rank();
    if (rank > index::kMaxRank) return ctx.Error("rank exceeds the GPU limit of 8");
    std::vector<int64_t> dims = Dims(x.shape()), out_dims;
    bool red[index::kMaxRank] = {};
    red[axis] = true;
    for (int d = 0; d < rank; ++d) {
      if (d != axis) out_dims.push_back(dims[d]);
    }
    index::ReduceIndexer ix;
    if (!index::MakeReduceIndexer(rank, dims.data(), red, &ix)) return ctx.Error("bad axis");
    const bool int64_out = ctx.node().output_type(0) == DT_INT64;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    GPU_ASSIGN_OR_RETURN(const float* in, g.InAs<float>(0));
    GPU_ASSIGN_OR_RETURN(void* out, g.Out(0, TensorShape(out_dims)));
    RETURN_IF_ERROR(g.Check(LaunchArgMax(is_min_, in, out, int64_out, ix, g.stream()), "ArgMax"));
    return g.Finish();
  }

 private:
  bool is_min_;
};

// ---- softmax and cross-entropy -----------------------------------------------------------------

class SoftmaxGpuOp : public OpKernel {
 public:
  explicit SoftmaxGpuOp(bool log) : log_(log) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& x = ctx.input(0);
    RETURN_IF_ERROR(array_plans::CheckSoftmaxLogits(ctx, log_));  // the CPU kernel's message
    const int64_t cols = x.dim(x.rank() - 1);
    const int64_t rows = cols == 0 ? 0 : x.num_elements() / cols;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    GPU_ASSIGN_OR_RETURN(const float* in, g.InAs<float>(0));
    GPU_ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, x.shape()));
    if (UseCudnnPaths()) {  // our kernel (a thread per row) is slow on long rows
      GPU_ASSIGN_OR_RETURN(bool done, TryCudnnSoftmax(g, log_, rows, cols, in, out));
      if (done) return g.Finish();
    }
    RETURN_IF_ERROR(g.Check(LaunchSoftmax(in, out, rows, cols, log_, g.stream()), "softmax"));
    return g.Finish();
  }

 private:
  bool log_;
};

// Device pointer to `t` viewed as [batch, classes] with the plan's element strides (0 along a
// broadcast dim): the tensor itself when it has that shape, else a gathered copy.
absl::StatusOr<const float*> BroadcastRows(GpuScope& g, const Tensor& t, int64_t batch,
                                           int64_t classes, int64_t row_stride,
                                           int64_t col_stride) {
  GPU_ASSIGN_OR_RETURN(const void* p, g.In(t));
  if (t.rank() == 2 && t.dim(0) == batch && t.dim(1) == classes) {
    return static_cast<const float*>(p);
  }
  index::StridedIndexer ix;
  ix.rank = 2;
  ix.dims[0] = batch;
  ix.dims[1] = classes;
  ix.strides[0] = row_stride;
  ix.strides[1] = col_stride;
  GPU_ASSIGN_OR_RETURN(void* tmp, g.Temp(static_cast<size_t>(batch * classes) * sizeof(float)));
  RETURN_IF_ERROR(g.Check(LaunchGather(p, tmp, sizeof(float), ix, g.stream()), "xent broadcast"));
  return static_cast<const float*>(tmp);
}

class XentGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    RETURN_IF_ERROR(RequireFloat(ctx, 1));
    // The CPU kernel's shape rules and messages (broadcasting included).
    ASSIGN_OR_RETURN(array_plans::XentPlan plan, array_plans::PlanXent(ctx));
    const int64_t rows = plan.batch, cols = plan.classes;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    GPU_ASSIGN_OR_RETURN(float* loss, g.OutAs<float>(0, TensorShape{rows}));
    GPU_ASSIGN_OR_RETURN(float* back, g.OutAs<float>(1, plan.shape));
    if (rows == 0) return g.Finish();
    GPU_ASSIGN_OR_RETURN(
        const float* lp,
        BroadcastRows(g, ctx.input(0), rows, cols, plan.logits_row_stride, plan.logits_col_stride));
    GPU_ASSIGN_OR_RETURN(
        const float* yp,
        BroadcastRows(g, ctx.input(1), rows, cols, plan.labels_row_stride, plan.labels_col_stride));
    RETURN_IF_ERROR(g.Check(LaunchSoftmaxXent(lp, yp, loss, back, rows, cols, g.stream()), "xent"));
    return g.Finish();
  }
};

// ---- optimizer updates on ref variables --------------------------------------------------------

// The frame every optimizer update shares: locks the first `num_vars` ref inputs, checks them
// and the other inputs as the CPU kernels do (update_checks.h: input `grad` has var's shape,
// the others are scalars), then, on an initialised GpuScope with the variables detached from
// shared buffers, runs `launch(g, var)` and forwards ref input 0 as output 0.
template <typename Launch>
absl::Status RunApply(OpKernelContext& ctx, int num_vars, int grad, Launch&& launch) {
  ASSIGN_OR_RETURN(std::vector<Variable*> vars, update_checks::RefVariables(ctx, num_vars));
  VarLocks locks;
  locks.Lock(vars);
  RETURN_IF_ERROR(update_checks::CheckVariables(ctx, vars, DT_FLOAT));
  Tensor& var = ctx.ref_input(0)->value;
  RETURN_IF_ERROR(update_checks::CheckOperands(ctx, var.shape(), num_vars, grad));
  GpuScope g(ctx);
  RETURN_IF_ERROR(g.Init());
  RETURN_IF_ERROR(locks.DetachShared(g));
  RETURN_IF_ERROR(launch(g, var));
  RETURN_IF_ERROR(g.Finish());
  ctx.set_output_ref(0, ctx.ref_input(0));
  return absl::OkStatus();
}

class ApplyGradientDescentGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    // var, alpha, delta
    return RunApply(ctx, 1, /*grad=*/2, [&](GpuScope& g, Tensor& var) -> absl::Status {
      GPU_ASSIGN_OR_RETURN(void* vp, g.InOut(var));
      GPU_ASSIGN_OR_RETURN(const float* alpha, g.InAs<float>(1));
      GPU_ASSIGN_OR_RETURN(const float* delta, g.InAs<float>(2));
      return g.Check(LaunchApplyGradientDescent(static_cast<float*>(vp), alpha, delta,
                                                var.num_elements(), g.stream()),
                     "ApplyGradientDescent");
    });
  }
};

class ApplyMomentumGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(nesterov_, c.GetAttr<bool>("use_nesterov"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    // var, accum, lr, grad, momentum
    return RunApply(ctx, 2, /*grad=*/3, [&](GpuScope& g, Tensor& var) -> absl::Status {
      GPU_ASSIGN_OR_RETURN(void* vp, g.InOut(var));
      GPU_ASSIGN_OR_RETURN(void* ap, g.InOut(ctx.ref_input(1)->value));
      GPU_ASSIGN_OR_RETURN(const float* lr, g.InAs<float>(2));
      GPU_ASSIGN_OR_RETURN(const float* grad, g.InAs<float>(3));
      GPU_ASSIGN_OR_RETURN(const float* mom, g.InAs<float>(4));
      return g.Check(LaunchApplyMomentum(static_cast<float*>(vp), static_cast<float*>(ap), lr, grad,
                                         mom, var.num_elements(), nesterov_, g.stream()),
                     "ApplyMomentum");
    });
  }

 private:
  bool nesterov_ = false;
};

class ApplyAdamGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(nesterov_, c.GetAttr<bool>("use_nesterov"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    // var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad
    return RunApply(ctx, 3, /*grad=*/9, [&](GpuScope& g, Tensor& var) -> absl::Status {
      GPU_ASSIGN_OR_RETURN(void* vp, g.InOut(var));
      GPU_ASSIGN_OR_RETURN(void* mp, g.InOut(ctx.ref_input(1)->value));
      GPU_ASSIGN_OR_RETURN(void* vvp, g.InOut(ctx.ref_input(2)->value));
      const float* s[6];
      for (int i = 0; i < 6; ++i) {
        GPU_ASSIGN_OR_RETURN(s[i], g.InAs<float>(3 + i));
      }
      GPU_ASSIGN_OR_RETURN(const float* grad, g.InAs<float>(9));
      return g.Check(LaunchApplyAdam(static_cast<float*>(vp), static_cast<float*>(mp),
                                     static_cast<float*>(vvp), s[0], s[1], s[2], s[3], s[4], s[5],
                                     grad, var.num_elements(), nesterov_, g.stream()),
                     "ApplyAdam");
    });
  }

 private:
  bool nesterov_ = false;
};

// ---- random (the CPU kernels' Philox layout: 256 counters reserved per output) ---------------

class RandomGpuOp : public OpKernel {
 public:
  explicit RandomGpuOp(RandomDist dist) : dist_(dist) {}
  absl::Status Init(OpKernelConstruction& c) { return state_.Init(c); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    GPU_ASSIGN_OR_RETURN(std::vector<int64_t> dims, GpuHostInts(ctx, 0, "shape"));
    // The CPU kernels' checks and messages.
    GPU_ASSIGN_OR_RETURN(const TensorShape shape, random::RandomOutputShape(ctx, dims));
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    GPU_ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, shape));
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    if (n == 0) return g.Finish();
    const random::Philox4x32 gen = state_.Reserve(n);
    RETURN_IF_ERROR(g.Check(LaunchRandom(dist_, gen, out, n, g.stream()), "random"));
    return g.Finish();
  }

 private:
  RandomDist dist_;
  random::PhiloxState state_;
};

KernelFactory RandomFactory(RandomDist dist) {
  return [dist](OpKernelConstruction& c) -> KernelOrError {
    auto k = std::make_unique<RandomGpuOp>(dist);
    RETURN_IF_ERROR(k->Init(c));
    return std::unique_ptr<OpKernel>(std::move(k));
  };
}

// ---- Transpose / Slice / ConcatV2 --------------------------------------------------------------

class TransposeGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    GPU_ASSIGN_OR_RETURN(std::vector<int64_t> perm64, GpuHostInts(ctx, 1, "perm"));
    // The CPU kernel's shape rule and messages.
    auto shape = array_shapes::TransposeShape(x.shape(), &perm64, static_cast<int>(perm64.size()));
    if (!shape.ok()) return array_kernels::NodeError(ctx, shape.status());
    const int rank = x.rank();
    if (rank > index::kMaxRank) return ctx.Error("rank exceeds the GPU limit of 8");
    std::vector<int> perm(perm64.begin(), perm64.end());
    std::vector<int64_t> dims = Dims(x.shape());
    index::StridedIndexer ix;
    if (!index::MakeTransposeIndexer(rank, dims.data(), perm.data(), &ix)) {
      return ctx.Error("perm is not a permutation of the input's dims");
    }
    return GatherInputToOutput(ctx, ix, *shape, "transpose");
  }
};

class SliceGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int rank = x.rank();
    GPU_ASSIGN_OR_RETURN(std::vector<int64_t> begin, GpuHostInts(ctx, 1, "begin"));
    GPU_ASSIGN_OR_RETURN(std::vector<int64_t> size, GpuHostInts(ctx, 2, "size"));
    // The CPU kernel's checks and messages (array_kernels::SliceBounds).
    std::vector<int64_t> b, s;
    GPU_ASSIGN_OR_RETURN(TensorShape shape, array_kernels::SliceBounds(ctx, begin, size, &b, &s));
    if (rank > index::kMaxRank) return ctx.Error("rank exceeds the GPU limit of 8");
    std::vector<int64_t> dims = Dims(x.shape()), step(rank, 1);
    index::StridedIndexer ix;
    if (!index::MakeSliceIndexer(rank, dims.data(), b.data(), step.data(), s.data(), &ix)) {
      return ctx.Error("slice out of range");
    }
    return GatherInputToOutput(ctx, ix, shape, "slice");
  }
};

// StridedSlice: TF's masks resolved by the planner the CPU kernel and shape inference share,
// then one gather over (begin, stride, size) per input dim.
class StridedSliceGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(masks_, array_plans::ParseStridedSliceMasks(c));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    GPU_ASSIGN_OR_RETURN(std::vector<int64_t> begin, GpuHostInts(ctx, 1, "begin"));
    GPU_ASSIGN_OR_RETURN(std::vector<int64_t> end, GpuHostInts(ctx, 2, "end"));
    GPU_ASSIGN_OR_RETURN(std::vector<int64_t> strides, GpuHostInts(ctx, 3, "strides"));
    auto plan = array_shapes::PlanStridedSlice(x.shape(), &begin, &end, &strides,
                                               static_cast<int>(begin.size()), masks_);
    if (!plan.ok()) return ctx.Error(std::string(plan.status().message()));
    if (plan->is_identity) {
      GPU_ASSIGN_OR_RETURN(Tensor r, x.Reshaped(plan->output_shape));
      ctx.set_output(0, std::move(r));
      return absl::OkStatus();
    }
    const int rank = x.rank();
    if (rank > index::kMaxRank) return ctx.Error("rank exceeds the GPU limit of 8");
    std::vector<int64_t> dims = Dims(x.shape());
    index::StridedIndexer ix;
    if (!index::MakeSliceIndexer(rank, dims.data(), plan->begin.data(), plan->stride.data(),
                                 plan->size.data(), &ix)) {
      return ctx.Error("strided slice out of range");
    }
    return GatherInputToOutput(ctx, ix, plan->output_shape, "strided slice");
  }

 private:
  array_shapes::StridedSliceMasks masks_;
};

class ConcatV2GpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs() - 1;
    if (n < 1) return ctx.Error("ConcatV2 needs at least one value");
    GPU_ASSIGN_OR_RETURN(int64_t axis_value, GpuHostScalar(ctx, n, "axis"));
    // The CPU kernel's checks and messages (the shape rule shape inference uses too).
    GPU_ASSIGN_OR_RETURN(array_plans::ConcatPlan plan,
                         array_plans::PlanConcat(ctx, 0, n, axis_value));
    const int rank = plan.shape.rank();
    const int axis = plan.axis;
    if (rank > index::kMaxRank) return ctx.Error("rank exceeds the GPU limit of 8");
    std::vector<int64_t> out_dims = Dims(plan.shape);
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    GPU_ASSIGN_OR_RETURN(void* out, g.Out(0, plan.shape));
    int64_t offset = 0;
    for (int i = 0; i < n; ++i) {
      const Tensor& t = ctx.input(i);
      std::vector<int64_t> in_dims = Dims(t.shape());
      index::StridedIndexer ix;
      if (!index::MakeConcatInputIndexer(rank, in_dims.data(), out_dims.data(),
                                         static_cast<int>(axis), offset, &ix)) {
        return ctx.Error("bad concat input");
      }
      GPU_ASSIGN_OR_RETURN(const void* in, g.In(i));
      RETURN_IF_ERROR(
          g.Check(LaunchScatter(in, out, DataTypeSize(t.dtype()), ix, g.stream()), "concat"));
      offset += in_dims[axis];
    }
    return g.Finish();
  }
};

// ---- state and plumbing ------------------------------------------------------------------------

// VariableV2 on the GPU: the variable's value lives in whatever memory its first Assign put it
// (device memory when the executor runs Assign with the GPU as ctx.device()).
class VariableGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(std::string shared_name, c.GetAttr<std::string>("shared_name"));
    name_ = shared_name.empty() ? c.node().name() : shared_name;  // as the CPU kernel
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    if (!ctx.resources().variable) return ctx.Error("this step has no variable store");
    Variable* v = ctx.resources().variable(name_, true);
    if (v == nullptr) return ctx.Error(absl::StrCat("could not create variable '", name_, "'"));
    ReaderMutexLock lock(&v->mu);
    ctx.set_output_ref(0, v);
    return absl::OkStatus();
  }

 private:
  std::string name_;
};

class AssignGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(validate_shape_, c.GetAttr<bool>("validate_shape"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    Variable* var = ctx.ref_input(0);
    if (var == nullptr)
      return ctx.Error("input 0 must be a reference to a variable");  // as on the CPU
    const Tensor& value = ctx.input(1);
    if (!value.valid()) return ctx.Error("the value to assign is empty");
    MutexLock lock(&var->mu);
    if (var->initialized() && validate_shape_ && var->value.shape() != value.shape()) {
      return ctx.Error(absl::StrCat("Assign requires shapes of both tensors to match. lhs shape= ",
                                    var->value.shape().DebugString(),
                                    " rhs shape= ", value.shape().DebugString()));
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    // In place unless a reader still holds the buffer (copy-on-write, see Variable).
    const bool in_place = var->initialized() && var->value.shape() == value.shape() &&
                          var->value.dtype() == value.dtype() &&
                          (!var->ValueIsShared() || var->value.SharesBufferWith(value));
    if (!in_place) {
      GPU_ASSIGN_OR_RETURN(Tensor t,
                           Tensor::Create(value.dtype(), value.shape(), ctx.device()->allocator()));
      var->value = std::move(t);
    }
    if (value.num_bytes() > 0 && !var->value.SharesBufferWith(value)) {
      GPU_ASSIGN_OR_RETURN(const void* src, g.In(value));
      GPU_ASSIGN_OR_RETURN(void* dst, g.WriteTo(var->value));
      RETURN_IF_ERROR(g.Check(
          cudaMemcpyAsync(dst, src, value.num_bytes(), cudaMemcpyDeviceToDevice, g.stream()),
          "Assign copy"));
    }
    RETURN_IF_ERROR(g.Finish());
    ctx.set_output_ref(0, var);
    return absl::OkStatus();
  }

 private:
  bool validate_shape_ = true;
};

// Identity (also reads a ref: its output is the variable's current value) and Reshape alias
// the input's buffer: no device work.
class IdentityGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    Variable* v = ctx.ref_input(0);
    if (v != nullptr) {
      MutexLock lock(&v->mu);
      if (!v->initialized()) {
        return ctx.Error("Attempting to use uninitialized value " +
                         ctx.node().input(0).node->name());
      }
      ctx.set_output(0, v->value);
    } else {
      ctx.set_output(0, ctx.input(0));
    }
    return absl::OkStatus();
  }
};

class ReshapeGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    GPU_ASSIGN_OR_RETURN(std::vector<int64_t> dims, GpuHostInts(ctx, 1, "shape"));
    // The CPU kernel's shape rule and messages.
    return array_kernels::SetReshaped(ctx, array_shapes::ReshapeShape(x.shape(), dims));
  }
};

// _Transfer into this GPU (copy insertion runs it on the destination): host memory, or another
// device's memory (copied out by that device, found by the `src_device` attr in the session's
// device table), in; a fresh buffer of the GPU's allocator out. Counted like the CPU one.
class TransferGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    auto src = c.GetAttr<std::string>("src_device");  // absent on hand-made transfers
    if (src.ok()) src_device_ = *src;
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    Device* dst = ctx.device();
    if (AsCudaDevice(dst) == nullptr) {  // a context without the GPU: stage through the shared one
      auto shared = SharedCudaDevice(0);
      if (!shared.ok()) return ctx.Error(std::string(shared.status().message()));
      dst = *shared;
    }
    Device* src = nullptr;
    if (in.allocator() != nullptr && !in.allocator()->host_accessible()) {
      if (in.allocator() == dst->allocator()) {
        src = dst;  // already in this GPU's memory (a same-device copy)
      } else if (!src_device_.empty()) {
        src = ctx.FindDevice(src_device_);
      }
      if (src == nullptr || src->allocator()->host_accessible()) {
        return array_kernels::UnreadableTransferSource(ctx, src_device_);
      }
    }
    return array_kernels::OutputTransfer(ctx, dst, src);
  }

 private:
  std::string src_device_;
};

template <typename K, typename... Args>
KernelFactory Simple(Args... args) {
  return [args...](OpKernelConstruction&) -> KernelOrError {
    return std::unique_ptr<OpKernel>(new K(args...));
  };
}

const bool others_registered = [] {
  RegisterGpuKernel(FloatDef("BiasAdd"), InitFactory<BiasAddGpuOp>());
  RegisterGpuKernel(FloatDef("BiasAddGrad"), InitFactory<BiasAddGradGpuOp>());
  for (const char* bn : {"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"}) {
    RegisterGpuKernel(FloatDef(bn), InitFactory<FusedBatchNormGpuOp>());
  }
  const std::pair<const char*, ReduceOp> reductions[] = {
      {"Sum", ReduceOp::kSum}, {"Mean", ReduceOp::kMean}, {"Max", ReduceOp::kMax},
      {"Min", ReduceOp::kMin}, {"Prod", ReduceOp::kProd},
  };
  for (const auto& [name, op] : reductions) {
    RegisterGpuKernel(FloatDef(name).HostMemory("reduction_indices"), ReduceFactory(op));
  }
  RegisterGpuKernel(FloatDef("ArgMax").HostMemory("dimension"), Simple<ArgGpuOp>(false));
  RegisterGpuKernel(FloatDef("ArgMin").HostMemory("dimension"), Simple<ArgGpuOp>(true));
  RegisterGpuKernel(FloatDef("Softmax"), Simple<SoftmaxGpuOp>(false));
  RegisterGpuKernel(FloatDef("LogSoftmax"), Simple<SoftmaxGpuOp>(true));
  RegisterGpuKernel(FloatDef("SoftmaxCrossEntropyWithLogits"), Simple<XentGpuOp>());
  RegisterGpuKernel(FloatDef("ApplyGradientDescent"), Simple<ApplyGradientDescentGpuOp>());
  RegisterGpuKernel(FloatDef("ApplyMomentum"), InitFactory<ApplyMomentumGpuOp>());
  RegisterGpuKernel(FloatDef("ApplyAdam"), InitFactory<ApplyAdamGpuOp>());
  RegisterGpuKernel(FloatDef("RandomUniform", "dtype").HostMemory("shape"),
                    RandomFactory(RandomDist::kUniform));
  RegisterGpuKernel(FloatDef("RandomStandardNormal", "dtype").HostMemory("shape"),
                    RandomFactory(RandomDist::kNormal));
  RegisterGpuKernel(FloatDef("TruncatedNormal", "dtype").HostMemory("shape"),
                    RandomFactory(RandomDist::kTruncatedNormal));
  // No int32: as in TF, int32 tensors are shapes and axes, kept in host memory (on the CPU),
  // where the GPU kernels' HostMemory args expect them.
  const std::vector<DataType> movable = {DT_FLOAT, DT_INT64, DT_DOUBLE, DT_BOOL};
  RegisterGpuKernel(KernelDef("Transpose", kGpu).TypeConstraint("T", movable).HostMemory("perm"),
                    Simple<TransposeGpuOp>());
  RegisterGpuKernel(
      KernelDef("Slice", kGpu).TypeConstraint("T", movable).HostMemory("begin").HostMemory("size"),
      Simple<SliceGpuOp>());
  RegisterGpuKernel(KernelDef("StridedSlice", kGpu)
                        .TypeConstraint("T", movable)
                        .HostMemory("begin")
                        .HostMemory("end")
                        .HostMemory("strides"),
                    InitFactory<StridedSliceGpuOp>());
  RegisterGpuKernel(KernelDef("ConcatV2", kGpu).TypeConstraint("T", movable).HostMemory("axis"),
                    Simple<ConcatV2GpuOp>());
  RegisterGpuKernel(KernelDef("VariableV2", kGpu).TypeConstraint("dtype", {DT_FLOAT}),
                    InitFactory<VariableGpuOp>());
  RegisterGpuKernel(KernelDef("Assign", kGpu).TypeConstraint("T", {DT_FLOAT}),
                    InitFactory<AssignGpuOp>());
  RegisterGpuKernel(KernelDef("Identity", kGpu).TypeConstraint("T", movable),
                    Simple<IdentityGpuOp>());
  RegisterGpuKernel(KernelDef("StopGradient", kGpu).TypeConstraint("T", movable),
                    Simple<IdentityGpuOp>());
  RegisterGpuKernel(KernelDef("PlaceholderWithDefault", kGpu).TypeConstraint("dtype", movable),
                    Simple<IdentityGpuOp>());
  RegisterGpuKernel(KernelDef("_Transfer", kGpu).TypeConstraint("T", array_kernels::AllTypes()),
                    InitFactory<TransferGpuOp>());
  RegisterGpuKernel(KernelDef("Reshape", kGpu).TypeConstraint("T", movable).HostMemory("shape"),
                    Simple<ReshapeGpuOp>());
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace quiver
