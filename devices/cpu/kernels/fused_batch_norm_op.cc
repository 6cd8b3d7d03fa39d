// FusedBatchNorm / V2 / V3 on the CPU for float32 (NHWC or NCHW; V3 also 5-D NDHWC/NCDHW).
// Inference (is_training=false) runs oneDNN's batch normalization with the given statistics.
// Training computes the batch statistics with loops accumulating in double, and follows TF's
// outputs: batch_variance is Bessel-corrected (and blended into the running variance when
// exponential_avg_factor != 1), reserve_space_1/2 hold the batch mean and biased variance.
#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

struct BatchNormEntry {
  dnnl::memory::desc data, stats;
  dnnl::batch_normalization_forward prim;
};

class FusedBatchNormOp : public OpKernel {
 public:
  FusedBatchNormOp(float epsilon, float factor, std::string format, bool is_training)
      : epsilon_(epsilon),
        factor_(factor),
        format_(std::move(format)),
        channels_first_(format_ == "NCHW" || format_ == "NCDHW"),
        rank_(format_.size()),
        is_training_(is_training) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    // The checks and messages every device shares.
    ASSIGN_OR_RETURN(const int channel_dim,
                     array_plans::CheckFusedBatchNormInputs(ctx, format_, is_training_, factor_));
    ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.shape()));
    if (ctx.num_outputs() > 5) {  // V3's reserve_space_3: unused on the CPU, a scalar as in TF
      ASSIGN_OR_RETURN(Tensor * r3, ctx.allocate_output(5, TensorShape{}));
      r3->data<float>()[0] = 0.0f;
    }
    if (!is_training_) {
      // The statistics pass through: the outputs alias the (immutable) inputs.
      ctx.set_output(1, ctx.input(3));
      ctx.set_output(2, ctx.input(4));
      ctx.set_output(3, ctx.input(3));
      ctx.set_output(4, ctx.input(4));
      if (x.num_elements() == 0) return absl::OkStatus();
      return RunInference(ctx, x, y);
    }
    return RunTraining(ctx, x, y, channel_dim);
  }

 private:
  absl::Status RunInference(OpKernelContext& ctx, const Tensor& x, Tensor* y) const {
    using tag = dnnl::memory::format_tag;
    const auto f32 = dnnl::memory::data_type::f32;
    // oneDNN orders dims N, C, spatial... whatever the layout; the tag names the layout.
    onednn::Dims dims = {x.dim(0), x.dim(channels_first_ ? 1 : rank_ - 1)};
    for (int i = 0; i < rank_ - 2; ++i) dims.push_back(x.dim(channels_first_ ? 2 + i : 1 + i));
    // Memory-bound: one thread unless the tensor is large (see onednn::kSerialWork).
    onednn::ScopedThreads threads(onednn::ThreadsForWork(2.0 * x.num_elements()));
    std::vector<int64_t> key(dims.begin(), dims.end());
    key.push_back(threads.threads());
    return onednn::Guard(ctx, "batch normalization", [&]() -> absl::Status {
      auto entry = cache_.GetOrCreate(key, [&] {
        BatchNormEntry e;
        const tag layout = rank_ == 4 ? (channels_first_ ? tag::nchw : tag::nhwc)
                                      : (channels_first_ ? tag::ncdhw : tag::ndhwc);
        e.data = dnnl::memory::desc(dims, f32, layout);
        e.stats = dnnl::memory::desc({dims[1]}, f32, tag::a);
        const auto flags = dnnl::normalization_flags::use_global_stats |
                           dnnl::normalization_flags::use_scale |
                           dnnl::normalization_flags::use_shift;
        e.prim =
            dnnl::batch_normalization_forward(dnnl::batch_normalization_forward::primitive_desc(
                dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_inference, e.data,
                                                        epsilon_, flags),
                onednn::ScratchpadAttr(), onednn::CpuEngine()));
        return e;
      });
      dnnl::engine& eng = onednn::CpuEngine();
      auto mem = [&](const dnnl::memory::desc& md, const Tensor& t) {
        return dnnl::memory(md, eng, const_cast<float*>(t.data<float>()));
      };
      dnnl::memory dst(entry->data, eng, y->data<float>());
      dnnl::stream& s = onednn::ThreadStream();
      onednn::Execute(entry->prim, s,
                      {{DNNL_ARG_SRC, mem(entry->data, x)},
                       {DNNL_ARG_DST, dst},
                       {DNNL_ARG_SCALE, mem(entry->stats, ctx.input(1))},
                       {DNNL_ARG_SHIFT, mem(entry->stats, ctx.input(2))},
                       {DNNL_ARG_MEAN, mem(entry->stats, ctx.input(3))},
                       {DNNL_ARG_VARIANCE, mem(entry->stats, ctx.input(4))}});
      return absl::OkStatus();
    });
  }

  absl::Status RunTraining(OpKernelContext& ctx, const Tensor& x, Tensor* y,
                           int channel_dim) const {
    const int64_t c = x.dim(channel_dim);
    std::vector<Tensor*> outs(4);
    for (int i = 0; i < 4; ++i) {
      ASSIGN_OR_RETURN(outs[i], ctx.allocate_output(i + 1, TensorShape{c}));
    }
    float* batch_mean = outs[0]->data<float>();
    float* batch_var = outs[1]->data<float>();
    float* saved_mean = outs[2]->data<float>();
    float* saved_var = outs[3]->data<float>();
    // x as [outer, C, inner]: NHWC has inner 1, NCHW has outer N.
    int64_t inner = 1;
    for (int i = channel_dim + 1; i < rank_; ++i) inner *= x.dim(i);
    const int64_t outer = c == 0 ? 0 : x.num_elements() / (c * inner);
    const int64_t count = outer * inner;
    if (count == 0) {  // no samples: statistics undefined, as in TF
      std::fill(batch_mean, batch_mean + c, std::numeric_limits<float>::quiet_NaN());
      std::fill(batch_var, batch_var + c, std::numeric_limits<float>::quiet_NaN());
      std::fill(saved_mean, saved_mean + c, 0.0f);
      std::fill(saved_var, saved_var + c, 0.0f);
      return absl::OkStatus();
    }
    const float* in = x.data<float>();
    float* out = y->data<float>();
    std::vector<double> sum(c, 0.0), sq(c, 0.0);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* p = in + (o * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i) sum[ch] += p[i];
      }
    }
    for (int64_t ch = 0; ch < c; ++ch) sum[ch] /= static_cast<double>(count);  // now the mean
    for (int64_t o = 0; o < outer; ++o) {  // two passes: no cancellation in the variance
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* p = in + (o * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i) {
          const double d = p[i] - sum[ch];
          sq[ch] += d * d;
        }
      }
    }
    const float* scale = ctx.input(1).data<float>();
    const float* offset = ctx.input(2).data<float>();
    const float* old_mean = ctx.input(3).data<float>();
    const float* old_var = ctx.input(4).data<float>();
    const double bessel =
        static_cast<double>(count) / static_cast<double>(std::max<int64_t>(count - 1, 1));
    std::vector<float> mul(c), add(c);
    for (int64_t ch = 0; ch < c; ++ch) {
      const double var = sq[ch] / static_cast<double>(count);
      const double m = 1.0 / std::sqrt(var + epsilon_) * scale[ch];
      mul[ch] = static_cast<float>(m);
      add[ch] = static_cast<float>(offset[ch] - sum[ch] * m);
      saved_mean[ch] = static_cast<float>(sum[ch]);
      saved_var[ch] = static_cast<float>(var);
      if (factor_ == 1.0f) {
        batch_mean[ch] = static_cast<float>(sum[ch]);
        batch_var[ch] = static_cast<float>(var * bessel);
      } else {
        const double keep = 1.0 - factor_;
        batch_mean[ch] = static_cast<float>(keep * old_mean[ch] + factor_ * sum[ch]);
        batch_var[ch] = static_cast<float>(keep * old_var[ch] + factor_ * var * bessel);
      }
    }
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* p = in + (o * c + ch) * inner;
        float* q = out + (o * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i) q[i] = p[i] * mul[ch] + add[ch];
      }
    }
    return absl::OkStatus();
  }

  const float epsilon_, factor_;
  const std::string format_;
  const bool channels_first_;
  const int rank_;
  const bool is_training_;
  onednn::PrimitiveCache<BatchNormEntry> cache_;
};

KernelOrError CreateFusedBatchNorm(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(array_plans::BatchNormAttrs a, array_plans::ParseBatchNormAttrs(c));
  // Only float32 x is registered: T may also be half/bfloat16 in the op, U is always float.
  return std::unique_ptr<OpKernel>(
      new FusedBatchNormOp(a.epsilon, a.exponential_avg_factor, a.data_format, a.is_training));
}

QUIVER_REGISTER_KERNEL(KernelDef("FusedBatchNorm", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateFusedBatchNorm);
QUIVER_REGISTER_KERNEL(KernelDef("FusedBatchNormV2", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateFusedBatchNorm);
QUIVER_REGISTER_KERNEL(KernelDef("FusedBatchNormV3", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateFusedBatchNorm);

}  // namespace
}  // namespace quiver
