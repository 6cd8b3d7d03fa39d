// MatMul on the CPU: float32 through oneDNN's matmul primitive (with a constant B, e.g. a
// frozen graph's weights, packed once: onednn::PackedConstMatMul), float64/int32/int64
// through Eigen's GEMM (see onednn_util).
#include <algorithm>
#include <type_traits>

#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

template <typename T>
class MatMulOp : public OpKernel {
 public:
  MatMulOp(bool transpose_a, bool transpose_b, bool constant_b)
      : transpose_a_(transpose_a), transpose_b_(transpose_b), constant_b_(constant_b) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    ASSIGN_OR_RETURN(const onednn::BatchMatMulDims d,
                     onednn::MatMulDims(ctx, a, b, transpose_a_, transpose_b_, /*fused=*/false));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{d.m, d.n}));
    if (out->num_elements() == 0) return absl::OkStatus();
    T* c = out->data<T>();
    if (d.k == 0) {  // an empty sum; oneDNN rejects zero-sized dims
      std::fill(c, c + out->num_elements(), T(0));
      return absl::OkStatus();
    }
    if constexpr (std::is_same_v<T, float>) {
      if (constant_b_) return packed_.Run(ctx, d, a.data<float>(), b.data<float>(), c);
      return onednn::MatMulF32(ctx, d, a.data<float>(), b.data<float>(), c);
    } else {
      onednn::MatMulGeneric<T>(d, a.data<T>(), b.data<T>(), c);
      return absl::OkStatus();
    }
  }

 private:
  const bool transpose_a_, transpose_b_;
  const bool constant_b_;  // B is a Const: pack it once (float32)
  onednn::PackedConstMatMul packed_;
};

template <typename T>
KernelOrError CreateMatMul(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(bool ta, c.GetAttr<bool>("transpose_a"));
  ASSIGN_OR_RETURN(bool tb, c.GetAttr<bool>("transpose_b"));
  return std::unique_ptr<OpKernel>(new MatMulOp<T>(ta, tb, onednn::InputIsConstant(c.node(), 1)));
}

QUIVER_REGISTER_KERNEL(KernelDef("MatMul", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateMatMul<float>);
QUIVER_REGISTER_KERNEL(KernelDef("MatMul", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       CreateMatMul<double>);
QUIVER_REGISTER_KERNEL(KernelDef("MatMul", kCpu).TypeConstraint("T", {DT_INT32}),
                       CreateMatMul<int32_t>);
QUIVER_REGISTER_KERNEL(KernelDef("MatMul", kCpu).TypeConstraint("T", {DT_INT64}),
                       CreateMatMul<int64_t>);

}  // namespace
}  // namespace quiver
