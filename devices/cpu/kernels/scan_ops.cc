// Cumsum and Cumprod (tf.math.cumsum / cumprod) along one axis, with TF's `exclusive` (each
// output leaves out its own element: the first is the identity) and `reverse` (scan from the
// end). The input is viewed as [outer, n, inner] around the axis; each (outer, inner) line is
// scanned sequentially in T, like TF and NumPy (float sums are not widened). Integer scans wrap
// (computed in the unsigned type: no UB).
#include <algorithm>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/ops/array_extra_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

template <typename T, bool kFloat = std::is_floating_point_v<T>>
struct ScanAcc {
  using type = T;
};
template <typename T>
struct ScanAcc<T, false> {
  using type = std::make_unsigned_t<T>;
};

template <typename T, bool kProd>
class ScanOp : public OpKernel {
  using Acc = typename ScanAcc<T>::type;

 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(exclusive_, c.GetAttr<bool>("exclusive"));
    ASSIGN_OR_RETURN(reverse_, c.GetAttr<bool>("reverse"));
    return absl::OkStatus();
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DataTypeOf<T>::value) {
      return ctx.Error(absl::StrCat("x must be ", DataTypeName(DataTypeOf<T>::value), ", got ",
                                    DataTypeName(x.dtype())));
    }
    if (ctx.input(1).rank() != 0) {
      return ctx.Error(
          absl::StrCat("ScanOp: axis must be a scalar, not ", ctx.input(1).shape().DebugString()));
    }
    ASSIGN_OR_RETURN(int64_t axis_v, array_kernels::HostScalar(ctx, 1, "axis"));
    auto axis = array_extra_shapes::ScanAxis(axis_v, x.rank());
    if (!axis.ok()) return array_kernels::NodeError(ctx, axis.status());
    ASSIGN_OR_RETURN(Tensor * out_t, ctx.allocate_output(0, x.shape()));
    if (x.num_elements() == 0) return absl::OkStatus();
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < *axis; ++d) outer *= x.dim(d);
    for (int d = *axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
    const int64_t n = x.dim(*axis);
    const T* in = x.data<T>();
    T* out = out_t->data<T>();
    const bool exclusive = exclusive_, reverse = reverse_;
    // One task per (outer, inner) line; lines of one outer slice are adjacent in memory, so
    // the inner loop runs over them together (vectorisable) for each step along the axis.
    ParallelFor(ctx.intra_op_threads(), outer, std::max<int64_t>(1, 16384 / (n * inner)),
                [&](int64_t o0, int64_t o1) {
                  std::vector<Acc> acc(inner);
                  for (int64_t o = o0; o < o1; ++o) {
                    const T* src = in + o * n * inner;
                    T* dst = out + o * n * inner;
                    for (int64_t j = 0; j < inner; ++j) acc[j] = kProd ? Acc(1) : Acc(0);
                    for (int64_t step = 0; step < n; ++step) {
                      const int64_t k = reverse ? n - 1 - step : step;
                      const T* s = src + k * inner;
                      T* d = dst + k * inner;
                      for (int64_t j = 0; j < inner; ++j) {
                        const Acc v = static_cast<Acc>(s[j]);
                        if (exclusive) d[j] = static_cast<T>(acc[j]);
                        acc[j] =
                            kProd ? static_cast<Acc>(acc[j] * v) : static_cast<Acc>(acc[j] + v);
                        if (!exclusive) d[j] = static_cast<T>(acc[j]);
                      }
                    }
                  }
                });
    return absl::OkStatus();
  }

 private:
  bool exclusive_ = false;
  bool reverse_ = false;
};

#define QUIVER_SCAN_KERNELS(T)                                                                   \
  QUIVER_REGISTER_KERNEL(                                                                        \
      KernelDef("Cumsum", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}).HostMemory("axis"),  \
      (array_kernels::InitFactory<ScanOp<T, false>>()));                                         \
  QUIVER_REGISTER_KERNEL(                                                                        \
      KernelDef("Cumprod", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}).HostMemory("axis"), \
      (array_kernels::InitFactory<ScanOp<T, true>>()))

QUIVER_SCAN_KERNELS(float);
QUIVER_SCAN_KERNELS(double);
QUIVER_SCAN_KERNELS(int32_t);
QUIVER_SCAN_KERNELS(int64_t);

}  // namespace
}  // namespace quiver
