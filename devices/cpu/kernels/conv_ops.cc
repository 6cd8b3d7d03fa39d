// Conv2D on the CPU (NHWC): float32 through oneDNN's convolution, float64 through direct loops.
// A filter whose in_channels divides the input depth runs as a grouped convolution.
#include <algorithm>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

template <typename T>
class Conv2DOp : public OpKernel {
 public:
  explicit Conv2DOp(const onednn::WindowAttrs& w) : window_(w) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& input = ctx.input(0);
    const Tensor& filter = ctx.input(1);
    if (input.rank() != 4 || filter.rank() != 4) {
      return ctx.Error(absl::StrCat("Conv2D needs a 4-D input (NHWC) and a 4-D filter (HWIO), got ",
                                    input.shape().DebugString(), " and ",
                                    filter.shape().DebugString()));
    }
    onednn::ConvDims d;
    d.n = input.dim(0);
    d.h = input.dim(1);
    d.w = input.dim(2);
    d.c = input.dim(3);
    d.kh = filter.dim(0);
    d.kw = filter.dim(1);
    d.oc = filter.dim(3);
    const int64_t f_in = filter.dim(2);
    if (f_in <= 0 || d.c % f_in != 0 || d.oc % (d.c / f_in) != 0) {
      return ctx.Error(absl::StrCat("input depth ", d.c, " of ", input.shape().DebugString(),
                                    " does not match filter ", filter.shape().DebugString(),
                                    ": it must equal the filter's in_channels (dim 2), or be a "
                                    "multiple of it that also divides out_channels (grouped)"));
    }
    d.groups = d.c / f_in;
    RETURN_IF_ERROR(onednn::ComputeConvOutput(ctx, window_, &d));
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

template <typename T>
KernelOrError CreateConv2D(OpKernelConstruction& c) {
  onednn::WindowAttrs w;
  RETURN_IF_ERROR(onednn::ParseWindowAttrs(c, &w));
  return std::unique_ptr<OpKernel>(new Conv2DOp<T>(w));
}

QUIVER_REGISTER_KERNEL(KernelDef("Conv2D", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateConv2D<float>);
QUIVER_REGISTER_KERNEL(KernelDef("Conv2D", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       CreateConv2D<double>);

}  // namespace
}  // namespace quiver
