// BiasAddGrad on the CPU: the sum of out_backprop over every dim but the channel one (the last
// for NHWC; dim 1 for NCHW with rank >= 3, as in BiasAdd). Floating sums accumulate in double.
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// Elements per parallel chunk: a chunk is worth a thread only past this.
constexpr int64_t kMinElementsPerChunk = 64 * 1024;

template <typename T>
class BiasAddGradOp : public OpKernel {
 public:
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

  absl::Status Init(OpKernelConstruction& c) {
    // Not ASSIGN_OR_RETURN: GCC 12 then warns (falsely) that the string may be uninitialised.
    absl::StatusOr<std::string> format = c.GetAttr<std::string>("data_format");
    if (!format.ok()) return format.status();
    if (*format != "NHWC" && *format != "NCHW") {
      return c.Error("data_format must be NHWC or NCHW, got '" + *format + "'");
    }
    nchw_ = *format == "NCHW";
    return absl::OkStatus();
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    const int rank = in.rank();
    // View the input as [outer, channels, inner]: NHWC has inner = 1, NCHW outer = batch.
    ASSIGN_OR_RETURN(const int cdim, array_plans::BiasAddGradChannelDim(ctx, nchw_));
    const int64_t channels = in.dim(cdim);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < cdim; ++i) outer *= in.dim(i);
    for (int i = cdim + 1; i < rank; ++i) inner *= in.dim(i);
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{channels}));
    T* o = out->data<T>();
    const T* x = in.data<T>();
    if (inner == 1) {
      SumRows(ctx.intra_op_threads(), x, outer, channels, o);
    } else {
      // Each channel's sum is independent: split the channels across threads.
      const int64_t min_channels = std::max<int64_t>(1, kMinElementsPerChunk / (outer * inner + 1));
      ParallelFor(ctx.intra_op_threads(), channels, min_channels, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          Acc acc = 0;
          for (int64_t b = 0; b < outer; ++b) {
            const T* p = x + (b * channels + c) * inner;
            for (int64_t i = 0; i < inner; ++i) acc += static_cast<Acc>(p[i]);
          }
          o[c] = static_cast<T>(acc);
        }
      });
    }
    return absl::OkStatus();
  }

 private:
  // Column sums of a row-major [rows, cols] matrix: each chunk of rows sums into its own
  // partial vector, then the partials are added in a fixed order (deterministic results).
  static void SumRows(int threads, const T* x, int64_t rows, int64_t cols, T* out) {
    const int64_t chunks =
        std::clamp<int64_t>(rows * cols / kMinElementsPerChunk, 1, std::max(1, threads));
    std::vector<Acc> partial(chunks * cols, Acc(0));
    const int64_t per = (rows + chunks - 1) / chunks;
    ParallelFor(threads, chunks, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        Acc* acc = partial.data() + k * cols;
        for (int64_t r = k * per; r < std::min(rows, (k + 1) * per); ++r) {
          const T* row = x + r * cols;
          for (int64_t c = 0; c < cols; ++c) acc[c] += static_cast<Acc>(row[c]);
        }
      }
    });
    for (int64_t c = 0; c < cols; ++c) {
      Acc s = 0;
      for (int64_t k = 0; k < chunks; ++k) s += partial[k * cols + c];
      out[c] = static_cast<T>(s);
    }
  }

  bool nchw_ = false;
};

using array_kernels::InitFactory;

#define QUIVER_REGISTER_BIAS_ADD_GRAD(T)                                          \
  QUIVER_REGISTER_KERNEL(                                                         \
      KernelDef("BiasAddGrad", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
      InitFactory<BiasAddGradOp<T>>())
QUIVER_REGISTER_BIAS_ADD_GRAD(float);
QUIVER_REGISTER_BIAS_ADD_GRAD(double);
QUIVER_REGISTER_BIAS_ADD_GRAD(int32_t);
QUIVER_REGISTER_BIAS_ADD_GRAD(int64_t);
#undef QUIVER_REGISTER_BIAS_ADD_GRAD

}  // namespace
}  // namespace quiver
