// _FusedConv2D on the CPU (NHWC, float32 only): one oneDNN convolution with the bias and the
// activation as post-ops. float64 has no kernel; the fusion pass leaves such graphs unfused.
#include <algorithm>
#include <string>
#include <vector>

#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

struct FusedConvEntry {
  dnnl::memory::desc src, user_weights, weights, bias, dst;
  dnnl::convolution_forward conv;
  dnnl::reorder weights_reorder;  // empty when the primitive reads TF's layout directly
};

class FusedConv2DOp : public OpKernel {
 public:
  FusedConv2DOp(const onednn::WindowAttrs& w, onednn::FusedActivation act)
      : window_(w), act_(act) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& input = ctx.input(0);
    const Tensor& filter = ctx.input(1);
    const Tensor& bias = ctx.input(2);
    ASSIGN_OR_RETURN(const onednn::ConvDims d, onednn::Conv2DDims(ctx, window_, input, filter));
    RETURN_IF_ERROR(onednn::CheckFusedBias(ctx, bias, d.oc));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{d.n, d.oh, d.ow, d.oc}));
    if (out->num_elements() == 0) return absl::OkStatus();
    if (input.num_elements() == 0 || filter.num_elements() == 0) {
      return ctx.Error("empty input or filter is not supported by the fused convolution");
    }
    onednn::ScopedThreads threads(onednn::ThreadsForWork(onednn::ConvFlops(d)));
    const std::vector<int64_t> key = onednn::ConvKey(d, threads.threads());
    return onednn::Guard(ctx, "fused convolution", [&]() -> absl::Status {
      auto entry = cache_.GetOrCreate(key, [&] { return Build(d); });
      dnnl::engine& eng = onednn::CpuEngine();
      dnnl::stream& s = onednn::ThreadStream();
      dnnl::memory src(entry->src, eng, const_cast<float*>(input.data<float>()));
      dnnl::memory dst(entry->dst, eng, out->data<float>());
      dnnl::memory b(entry->bias, eng, const_cast<float*>(bias.data<float>()));
      dnnl::memory weights = onednn::WeightsFor(entry->weights_reorder, entry->user_weights,
                                                entry->weights, filter.data<float>(), s);
      onednn::Execute(entry->conv, s,
                      {{DNNL_ARG_SRC, src},
                       {DNNL_ARG_WEIGHTS, weights},
                       {DNNL_ARG_BIAS, b},
                       {DNNL_ARG_DST, dst}});
      return absl::OkStatus();
    });
  }

 private:
  // Conv2D's descriptors (onednn::MakeConvLayout), plus the bias and the post-op.
  FusedConvEntry Build(const onednn::ConvDims& d) const {
    const onednn::ConvLayout s = onednn::MakeConvLayout(d);
    FusedConvEntry e;
    e.src = s.src;
    e.dst = s.dst;
    e.bias = dnnl::memory::desc({d.oc}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
    e.user_weights = s.user_weights;
    dnnl::primitive_attr attr = onednn::ScratchpadAttr();
    if (act_.present) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, act_.alg, act_.alpha, act_.beta);
      attr.set_post_ops(po);
    }
    dnnl::convolution_forward::primitive_desc pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::convolution_direct, s.src, s.any_weights,
                                        e.bias, s.dst, s.strides, s.dilates, s.pad_l, s.pad_r),
        attr, onednn::CpuEngine());
    e.weights = pd.weights_desc();
    e.conv = dnnl::convolution_forward(pd);
    e.weights_reorder = onednn::ReorderIfNeeded(e.user_weights, e.weights);
    return e;
  }

  const onednn::WindowAttrs window_;
  const onednn::FusedActivation act_;
  onednn::PrimitiveCache<FusedConvEntry> cache_;
};

KernelOrError CreateFusedConv2D(OpKernelConstruction& c) {
  onednn::WindowAttrs w;
  RETURN_IF_ERROR(onednn::ParseWindowAttrs(c, &w));
  ASSIGN_OR_RETURN(onednn::FusedActivation act, onednn::ParseFusedBiasActivation(c));
  return std::unique_ptr<OpKernel>(new FusedConv2DOp(w, act));
}

QUIVER_REGISTER_KERNEL(KernelDef("_FusedConv2D", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateFusedConv2D);

}  // namespace
}  // namespace quiver
