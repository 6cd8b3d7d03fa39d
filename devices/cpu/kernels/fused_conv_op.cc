// _FusedConv2D on the CPU (NHWC, float32 only): one oneDNN convolution with the bias and the
// activation as post-ops. float64 has no kernel; the fusion pass leaves such graphs unfused.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
    if (bias.rank() != 1 || bias.dim(0) != d.oc) {
      return ctx.Error(absl::StrCat("bias must be [", d.oc, "], got ", bias.shape().DebugString()));
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{d.n, d.oh, d.ow, d.oc}));
    if (out->num_elements() == 0) return absl::OkStatus();
    if (input.num_elements() == 0 || filter.num_elements() == 0) {
      return ctx.Error("empty input or filter is not supported by the fused convolution");
    }
    onednn::ScopedThreads threads(onednn::ThreadsForWork(
        2.0 * d.n * d.oh * d.ow * d.kh * d.kw * static_cast<double>(d.c / d.groups) * d.oc));
    const std::vector<int64_t> key = onednn::ConvKey(d, threads.threads());
    return onednn::Guard(ctx, "fused convolution", [&]() -> absl::Status {
      auto entry = cache_.GetOrCreate(key, [&] { return Build(d); });
      dnnl::engine& eng = onednn::CpuEngine();
      dnnl::stream& s = onednn::ThreadStream();
      dnnl::memory src(entry->src, eng, const_cast<float*>(input.data<float>()));
      dnnl::memory dst(entry->dst, eng, out->data<float>());
      dnnl::memory b(entry->bias, eng, const_cast<float*>(bias.data<float>()));
      dnnl::memory weights(entry->user_weights, eng, const_cast<float*>(filter.data<float>()));
      if (entry->weights_reorder) {
        dnnl::memory reordered(entry->weights, eng);
        onednn::Reorder(entry->weights_reorder, s, weights, reordered);
        weights = reordered;
      }
      onednn::Execute(entry->conv, s,
                      {{DNNL_ARG_SRC, src},
                       {DNNL_ARG_WEIGHTS, weights},
                       {DNNL_ARG_BIAS, b},
                       {DNNL_ARG_DST, dst}});
      return absl::OkStatus();
    });
  }

 private:
  // The same descriptors as Conv2D's (see onednn_util.cc), plus the bias and the post-op.
  FusedConvEntry Build(const onednn::ConvDims& d) const {
    using tag = dnnl::memory::format_tag;
    using onednn::Dims;
    const auto f32 = dnnl::memory::data_type::f32;
    FusedConvEntry e;
    e.src = dnnl::memory::desc({d.n, d.c, d.h, d.w}, f32, tag::nhwc);
    e.dst = dnnl::memory::desc({d.n, d.oc, d.oh, d.ow}, f32, tag::nhwc);
    e.bias = dnnl::memory::desc({d.oc}, f32, tag::a);
    const int64_t icg = d.c / d.groups, ocg = d.oc / d.groups;
    Dims wdims, wstrides;
    if (d.groups == 1) {
      wdims = {d.oc, d.c, d.kh, d.kw};
      wstrides = {1, d.oc, d.kw * d.c * d.oc, d.c * d.oc};  // HWIO
    } else {
      wdims = {d.groups, ocg, icg, d.kh, d.kw};
      wstrides = {ocg, 1, d.oc, d.kw * icg * d.oc, icg * d.oc};
    }
    e.user_weights = onednn::StridedDesc(wdims, wstrides);
    const dnnl::memory::desc any_weights(wdims, f32, tag::any);
    dnnl::primitive_attr attr = onednn::ScratchpadAttr();
    if (act_.present) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, act_.alg, act_.alpha, act_.beta);
      attr.set_post_ops(po);
    }
    dnnl::convolution_forward::primitive_desc pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::convolution_direct, e.src, any_weights,
                                        e.bias, e.dst, Dims{d.stride_h, d.stride_w},
                                        Dims{d.dilation_h - 1, d.dilation_w - 1},
                                        Dims{d.pad_t, d.pad_l}, Dims{d.pad_b, d.pad_r}),
        attr, onednn::CpuEngine());
    e.weights = pd.weights_desc();
    e.conv = dnnl::convolution_forward(pd);
    if (e.weights != e.user_weights) {
      e.weights_reorder = dnnl::reorder(
          dnnl::reorder::primitive_desc(onednn::CpuEngine(), e.user_weights, onednn::CpuEngine(),
                                        e.weights, onednn::ScratchpadAttr()));
    }
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
