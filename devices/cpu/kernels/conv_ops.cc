// Conv2D and DepthwiseConv2dNative on the CPU (NHWC): float32 through oneDNN's convolution,
// float64 through direct loops. A Conv2D filter whose in_channels divides the input depth runs
// as a grouped convolution. A depthwise convolution is the grouped convolution with one group
// per input channel, and TF's [KH, KW, C, M] filter is exactly the grouped [KH, KW, 1, C*M]
// layout, so both ops are one kernel that differs only in how it reads the dims.
#include <algorithm>
#include <type_traits>

#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// onednn::Conv2DDims or onednn::DepthwiseConv2DDims.
using DimsFn = absl::StatusOr<onednn::ConvDims> (*)(const OpKernelContext&,
                                                    const onednn::WindowAttrs&, const Tensor&,
                                                    const Tensor&);

template <typename T, DimsFn kDims>
class Conv2DOp : public OpKernel {
 public:
  explicit Conv2DOp(const onednn::WindowAttrs& w) : window_(w) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& input = ctx.input(0);
    const Tensor& filter = ctx.input(1);
    ASSIGN_OR_RETURN(const onednn::ConvDims d, kDims(ctx, window_, input, filter));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{d.n, d.oh, d.ow, d.oc}));
    if (out->num_elements() == 0) return absl::OkStatus();
    T* o = out->data<T>();
    if (input.num_elements() == 0 || filter.num_elements() == 0) {  // empty sums
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

template <typename T, DimsFn kDims>
KernelOrError CreateConv2D(OpKernelConstruction& c) {
  onednn::WindowAttrs w;
  RETURN_IF_ERROR(onednn::ParseWindowAttrs(c, &w));
  return std::unique_ptr<OpKernel>(new Conv2DOp<T, kDims>(w));
}

QUIVER_REGISTER_KERNEL(KernelDef("Conv2D", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       (CreateConv2D<float, onednn::Conv2DDims>));
QUIVER_REGISTER_KERNEL(KernelDef("Conv2D", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       (CreateConv2D<double, onednn::Conv2DDims>));
QUIVER_REGISTER_KERNEL(KernelDef("DepthwiseConv2dNative", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       (CreateConv2D<float, onednn::DepthwiseConv2DDims>));
QUIVER_REGISTER_KERNEL(KernelDef("DepthwiseConv2dNative", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       (CreateConv2D<double, onednn::DepthwiseConv2DDims>));

}  // namespace
}  // namespace quiver
