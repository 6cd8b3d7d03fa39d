// DepthwiseConv2dNative on the CPU (NHWC). A depthwise convolution is a grouped convolution
// with one group per input channel, and TF's [KH, KW, C, M] filter is exactly the grouped
// [KH, KW, 1, C*M] layout, so it shares Conv2D's oneDNN (float32) and loop (float64) paths.
#include <algorithm>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

template <typename T>
class DepthwiseConv2dOp : public OpKernel {
 public:
  explicit DepthwiseConv2dOp(const onednn::WindowAttrs& w) : window_(w) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& input = ctx.input(0);
    const Tensor& filter = ctx.input(1);
    if (input.rank() != 4 || filter.rank() != 4) {
      return ctx.Error(absl::StrCat(
          "DepthwiseConv2dNative needs a 4-D input (NHWC) and a 4-D filter [KH,KW,C,M], got ",
          input.shape().DebugString(), " and ", filter.shape().DebugString()));
    }
    if (filter.dim(2) != input.dim(3)) {
      return ctx.Error(absl::StrCat(
          "input depth ", input.dim(3), " of ", input.shape().DebugString(),
          " must equal the filter's in_channels (dim 2) of ", filter.shape().DebugString()));
    }
    onednn::ConvDims d;
    d.n = input.dim(0);
    d.h = input.dim(1);
    d.w = input.dim(2);
    d.c = input.dim(3);
    d.kh = filter.dim(0);
    d.kw = filter.dim(1);
    d.oc = d.c * filter.dim(3);
    d.groups = d.c;
    RETURN_IF_ERROR(onednn::ComputeConvOutput(ctx, window_, &d));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{d.n, d.oh, d.ow, d.oc}));
    if (out->num_elements() == 0) return absl::OkStatus();
    T* o = out->data<T>();
    if (filter.num_elements() == 0 || input.num_elements() == 0) {  // empty sums
      std::fill(o, o + out->num_elements(), T(0));
      return absl::OkStatus();
    }
    if constexpr (std::is_same_v<T, float>) {
      return onednn::ConvF32(ctx, cache_, d, input.data<float>(), filter.data<float>(), o);
    } else {
      onednn::ConvGeneric<T>(d, input.data<T>(), filter.data<T>(), o);
      return absl::OkStatus();
    }
  }

 private:
  const onednn::WindowAttrs window_;
  onednn::ConvCache cache_;
};

template <typename T>
KernelOrError CreateDepthwiseConv2d(OpKernelConstruction& c) {
  onednn::WindowAttrs w;
  RETURN_IF_ERROR(onednn::ParseWindowAttrs(c, &w));
  return std::unique_ptr<OpKernel>(new DepthwiseConv2dOp<T>(w));
}

QUIVER_REGISTER_KERNEL(KernelDef("DepthwiseConv2dNative", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateDepthwiseConv2d<float>);
QUIVER_REGISTER_KERNEL(KernelDef("DepthwiseConv2dNative", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       CreateDepthwiseConv2d<double>);

}  // namespace
}  // namespace quiver
