// FusedBatchNormGrad / V2 / V3 on the CPU for float32 (NHWC or NCHW; V3 also 5-D NDHWC/NCDHW).
// reserve_space_1/2 are the mean and variance the forward op normalized with: in training the
// batch mean and biased batch variance (FusedBatchNorm's outputs 3 and 4 on every Quiver
// device, as in TF's CPU kernel), in inference the population statistics. The formulas are
// TF's (see devices/common/batch_norm_grad_functors.h); sums accumulate in double. V3's
// reserve_space_3 is ignored, and the two trailing outputs are empty [0] placeholders, as in TF.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/common/batch_norm_grad_functors.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

class FusedBatchNormGradOp : public OpKernel {
 public:
  FusedBatchNormGradOp(float epsilon, std::string format, bool is_training)
      : epsilon_(epsilon), format_(std::move(format)), is_training_(is_training) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    ASSIGN_OR_RETURN(const array_plans::BatchNormGradPlan plan,
                     array_plans::PlanBatchNormGrad(ctx, format_));
    const int64_t c = plan.channels;
    ASSIGN_OR_RETURN(Tensor * dx, ctx.allocate_output(0, x.shape()));
    ASSIGN_OR_RETURN(Tensor * dscale, ctx.allocate_output(1, TensorShape{c}));
    ASSIGN_OR_RETURN(Tensor * doffset, ctx.allocate_output(2, TensorShape{c}));
    for (int i = 3; i < 5; ++i) RETURN_IF_ERROR(ctx.allocate_output(i, TensorShape{0}).status());

    // x as [outer, C, inner]: NHWC has inner 1, NCHW has outer N.
    const int64_t inner = plan.inner;
    const int64_t outer = plan.outer;
    const float* pdy = dy.data<float>();
    const float* px = x.data<float>();
    const float* scale = ctx.input(2).data<float>();
    const float* mean = ctx.input(3).data<float>();
    const float* var = ctx.input(4).data<float>();
    std::vector<double> sum_dy(c, 0.0), sum_dy_xc(c, 0.0);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const int64_t base = (o * c + ch) * inner;
        const double m = mean[ch];
        double s = 0, sx = 0;
        for (int64_t i = 0; i < inner; ++i) {
          const double g = pdy[base + i];
          s += g;
          sx += g * (px[base + i] - m);
        }
        sum_dy[ch] += s;
        sum_dy_xc[ch] += sx;
      }
    }
    std::vector<functor::BatchNormGradCoefs> k(c);
    float* ds = dscale->data<float>();
    float* dof = doffset->data<float>();
    for (int64_t ch = 0; ch < c; ++ch) {
      k[ch] = functor::BatchNormGradChannel(sum_dy[ch], sum_dy_xc[ch], outer * inner, scale[ch],
                                            mean[ch], var[ch], epsilon_, is_training_, ds + ch,
                                            dof + ch);
    }
    float* out = dx->data<float>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const int64_t base = (o * c + ch) * inner;
        const functor::BatchNormGradCoefs& kc = k[ch];
        for (int64_t i = 0; i < inner; ++i) {
          out[base + i] =
              static_cast<float>(kc.dy_coef * pdy[base + i] + kc.x_coef * px[base + i] + kc.bias);
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  const float epsilon_;
  const std::string format_;
  const bool is_training_;
};

KernelOrError CreateFusedBatchNormGrad(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(array_plans::BatchNormAttrs a, array_plans::ParseBatchNormAttrs(c));
  return std::unique_ptr<OpKernel>(
      new FusedBatchNormGradOp(a.epsilon, a.data_format, a.is_training));
}

QUIVER_REGISTER_KERNEL(KernelDef("FusedBatchNormGrad", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateFusedBatchNormGrad);
QUIVER_REGISTER_KERNEL(KernelDef("FusedBatchNormGradV2", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateFusedBatchNormGrad);
QUIVER_REGISTER_KERNEL(KernelDef("FusedBatchNormGradV3", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateFusedBatchNormGrad);

}  // namespace
}  // namespace quiver
