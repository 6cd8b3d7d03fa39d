// FusedBatchNormGrad / V2 / V3 on the GPU (float32; NHWC, NCHW, and V3's NDHWC / NCDHW).
// Semantics and error messages follow the CPU kernel (devices/cpu/kernels/
// batch_norm_grad_op.cc): reserve_space_1/2 are the mean and variance the forward op
// normalized with (the GPU FusedBatchNorm also saves the biased variance, not its inverse
// square root), V3's reserve_space_3 is not read, outputs 3 and 4 are empty [0] placeholders.
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cuda/cuda_device.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/batch_norm_grad_launchers.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

class FusedBatchNormGradGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(const array_plans::BatchNormAttrs a, array_plans::ParseBatchNormAttrs(c));
    epsilon_ = a.epsilon;
    format_ = a.data_format;
    is_training_ = a.is_training;
    return absl::OkStatus();
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& x = ctx.input(1);
    ASSIGN_OR_RETURN(const array_plans::BatchNormGradPlan plan,
                     array_plans::PlanBatchNormGrad(ctx, format_));
    const int64_t c = plan.channels;
    const int64_t inner = plan.inner;
    const int64_t count = plan.outer * inner;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(float* dx, g.OutAs<float>(0, x.shape()));
    ASSIGN_OR_RETURN(float* dscale, g.OutAs<float>(1, TensorShape{c}));
    ASSIGN_OR_RETURN(float* doffset, g.OutAs<float>(2, TensorShape{c}));
    for (int i = 3; i < 5; ++i) RETURN_IF_ERROR(g.Out(i, TensorShape{0}).status());
    ASSIGN_OR_RETURN(const float* pdy, g.InAs<float>(0));
    ASSIGN_OR_RETURN(const float* px, g.InAs<float>(1));
    ASSIGN_OR_RETURN(const float* scale, g.InAs<float>(2));
    ASSIGN_OR_RETURN(const float* mean, g.InAs<float>(3));
    ASSIGN_OR_RETURN(const float* var, g.InAs<float>(4));
    RETURN_IF_ERROR(g.Check(LaunchBatchNormGrad(pdy, px, scale, mean, var, epsilon_, is_training_,
                                                count, c, inner, dx, dscale, doffset, g.stream()),
                            "FusedBatchNormGrad"));
    return g.Finish();
  }

 private:
  float epsilon_ = 1e-4f;
  std::string format_;
  bool is_training_ = true;
};

const bool registered = [] {
  for (const char* op : {"FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3"}) {
    RegisterGpuKernel(KernelDef(op, kGpu).TypeConstraint("T", {DT_FLOAT}),
                      array_kernels::InitFactory<FusedBatchNormGradGpuOp>());
  }
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace quiver
