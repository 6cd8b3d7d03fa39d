// BatchMatMul (equal batch dims) and BatchMatMulV2 (NumPy-broadcast batch dims). float32 runs
// as one oneDNN matmul over all batches (broadcast batch dims included, no copies); other
// dtypes use Eigen per batch.
#include <algorithm>
#include <type_traits>

#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

template <typename T>
class BatchMatMulOp : public OpKernel {
 public:
  BatchMatMulOp(bool adj_x, bool adj_y, bool broadcast)
      : adj_x_(adj_x), adj_y_(adj_y), broadcast_(broadcast) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& y = ctx.input(1);
    TensorShape out_shape;
    ASSIGN_OR_RETURN(const onednn::BatchMatMulDims d,
                     onednn::BatchMatMulShape(ctx, x, y, adj_x_, adj_y_, broadcast_, &out_shape));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, out_shape));
    if (out->num_elements() == 0) return absl::OkStatus();
    T* c = out->data<T>();
    if (d.k == 0) {  // an empty sum; oneDNN rejects zero-sized dims
      std::fill(c, c + out->num_elements(), T(0));
      return absl::OkStatus();
    }
    if constexpr (std::is_same_v<T, float>) {
      return onednn::MatMulF32(ctx, d, x.data<float>(), y.data<float>(), c);
    } else {
      onednn::MatMulGeneric<T>(d, x.data<T>(), y.data<T>(), c);
      return absl::OkStatus();
    }
  }

 private:
  const bool adj_x_, adj_y_, broadcast_;
};

template <typename T, bool kBroadcast>
KernelOrError CreateBatchMatMul(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(bool adj_x, c.GetAttr<bool>("adj_x"));
  ASSIGN_OR_RETURN(bool adj_y, c.GetAttr<bool>("adj_y"));
  return std::unique_ptr<OpKernel>(new BatchMatMulOp<T>(adj_x, adj_y, kBroadcast));
}

#define REGISTER_BATCH_MATMUL(T, DT)                                                 \
  QUIVER_REGISTER_KERNEL(KernelDef("BatchMatMul", kCpu).TypeConstraint("T", {DT}),   \
                         (CreateBatchMatMul<T, false>));                             \
  QUIVER_REGISTER_KERNEL(KernelDef("BatchMatMulV2", kCpu).TypeConstraint("T", {DT}), \
                         (CreateBatchMatMul<T, true>))

REGISTER_BATCH_MATMUL(float, DT_FLOAT);
REGISTER_BATCH_MATMUL(double, DT_DOUBLE);
REGISTER_BATCH_MATMUL(int32_t, DT_INT32);
REGISTER_BATCH_MATMUL(int64_t, DT_INT64);
#undef REGISTER_BATCH_MATMUL

}  // namespace
}  // namespace quiver
