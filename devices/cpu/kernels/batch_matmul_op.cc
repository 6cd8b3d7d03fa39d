// BatchMatMul (equal batch dims) and BatchMatMulV2 (NumPy-broadcast batch dims). float32 runs
// as one oneDNN matmul over all batches (broadcast batch dims included, no copies); other
// dtypes use Eigen per batch.
#include <algorithm>
#include <type_traits>

#include "absl/strings/str_cat.h"
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
    if (x.rank() < 2 || y.rank() < 2) {
      return ctx.Error(absl::StrCat("BatchMatMul needs inputs of rank >= 2, got ",
                                    x.shape().DebugString(), " and ", y.shape().DebugString()));
    }
    if (!broadcast_ && x.shape().dims().size() != y.shape().dims().size()) {
      return ctx.Error(absl::StrCat("BatchMatMul needs inputs of equal rank, got ",
                                    x.shape().DebugString(), " and ", y.shape().DebugString(),
                                    " (BatchMatMulV2 broadcasts)"));
    }
    onednn::BatchMatMulDims d;
    d.transpose_a = adj_x_;
    d.transpose_b = adj_y_;
    const int xr = x.rank(), yr = y.rank();
    d.m = x.dim(adj_x_ ? xr - 1 : xr - 2);
    d.k = x.dim(adj_x_ ? xr - 2 : xr - 1);
    const int64_t k_y = y.dim(adj_y_ ? yr - 1 : yr - 2);
    d.n = y.dim(adj_y_ ? yr - 2 : yr - 1);
    if (d.k != k_y) {
      return ctx.Error(absl::StrCat("Matrix size-incompatible: In[0]: ", x.shape().DebugString(),
                                    ", In[1]: ", y.shape().DebugString(),
                                    " (adj_x=", adj_x_ ? "true" : "false",
                                    ", adj_y=", adj_y_ ? "true" : "false", "): inner dimensions ",
                                    d.k, " and ", k_y, " differ"));
    }
    // Right-align the batch dims, padding the shorter with 1s, and broadcast them.
    const int nb = std::max(xr, yr) - 2;
    d.a_batch.assign(nb, 1);
    d.b_batch.assign(nb, 1);
    d.out_batch.assign(nb, 1);
    for (int i = 0; i < xr - 2; ++i) d.a_batch[nb - (xr - 2) + i] = x.dim(i);
    for (int i = 0; i < yr - 2; ++i) d.b_batch[nb - (yr - 2) + i] = y.dim(i);
    TensorShape out_shape;
    for (int i = 0; i < nb; ++i) {
      const int64_t a = d.a_batch[i], b = d.b_batch[i];
      if (a != b && (!broadcast_ || (a != 1 && b != 1))) {
        return ctx.Error(absl::StrCat(
            "batch dimensions of ", x.shape().DebugString(), " and ", y.shape().DebugString(),
            broadcast_ ? " are not broadcastable" : " differ (BatchMatMulV2 broadcasts)"));
      }
      d.out_batch[i] = a == 1 ? b : a;
      out_shape.AddDim(d.out_batch[i]);
    }
    out_shape.AddDim(d.m);
    out_shape.AddDim(d.n);
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
