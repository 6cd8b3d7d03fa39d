// BiasAdd: value + bias[C] along the channel dim (last for NHWC, dim 1 for NCHW). Plain loops
// the compiler vectorises, split over the intra-op threads for large tensors, written in place
// when the value's buffer is not shared.
#include <algorithm>

#include "devices/common/array_plans.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// About this many elements per parallel chunk: below it, threading costs more than it saves.
constexpr int64_t kElementsPerChunk = 1 << 15;

template <typename T>
class BiasAddOp : public OpKernel {
 public:
  explicit BiasAddOp(bool nchw) : nchw_(nchw) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& value = ctx.input(0);
    const Tensor& bias = ctx.input(1);
    ASSIGN_OR_RETURN(const int channel_dim, array_plans::BiasAddChannelDim(ctx, nchw_));
    const int64_t channels = value.dim(channel_dim);
    ASSIGN_OR_RETURN(Tensor * out, ctx.forward_input_or_allocate_output(0, 0, value.shape()));
    if (value.num_elements() == 0) return absl::OkStatus();
    const T* in = value.data<T>();
    const T* b = bias.data<T>();
    T* o = out->data<T>();
    // Both layouts are rows of `inner` elements; NHWC adds the whole bias vector to each row,
    // NCHW adds one bias value (the row's channel) to every element of the row.
    int64_t inner = 1;
    for (int i = channel_dim + 1; i < value.rank(); ++i) inner *= value.dim(i);
    if (!nchw_) inner = channels;
    const int64_t rows = value.num_elements() / inner;
    const int64_t min_rows = std::max<int64_t>(1, kElementsPerChunk / inner);
    ParallelFor(ctx.intra_op_threads(), rows, min_rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* x = in + r * inner;
        T* y = o + r * inner;
        if (nchw_) {
          const T bv = b[r % channels];
          for (int64_t j = 0; j < inner; ++j) y[j] = x[j] + bv;
        } else {
          for (int64_t j = 0; j < inner; ++j) y[j] = x[j] + b[j];
        }
      }
    });
    return absl::OkStatus();
  }

 private:
  const bool nchw_;
};

template <typename T>
KernelOrError CreateBiasAdd(OpKernelConstruction& c) {
  // Not ASSIGN_OR_RETURN: GCC 12 then warns (falsely) that the string may be uninitialised.
  absl::StatusOr<std::string> format = c.GetAttr<std::string>("data_format");
  if (!format.ok()) return format.status();
  if (*format != "NHWC" && *format != "NCHW") {
    return c.Error("data_format must be NHWC or NCHW, got '" + *format + "'");
  }
  return std::unique_ptr<OpKernel>(new BiasAddOp<T>(*format == "NCHW"));
}

QUIVER_REGISTER_KERNEL(KernelDef("BiasAdd", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateBiasAdd<float>);
QUIVER_REGISTER_KERNEL(KernelDef("BiasAdd", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       CreateBiasAdd<double>);
QUIVER_REGISTER_KERNEL(KernelDef("BiasAdd", kCpu).TypeConstraint("T", {DT_INT32}),
                       CreateBiasAdd<int32_t>);
QUIVER_REGISTER_KERNEL(KernelDef("BiasAdd", kCpu).TypeConstraint("T", {DT_INT64}),
                       CreateBiasAdd<int64_t>);

}  // namespace
}  // namespace quiver
