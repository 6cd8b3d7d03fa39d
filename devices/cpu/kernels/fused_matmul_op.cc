// _FusedMatMul on the CPU (float32 only): one oneDNN matmul primitive with the bias and the
// activation as post-ops, so the product is written once instead of three times. float64
// has no kernel; the fusion pass leaves such graphs unfused. A constant B (frozen weights)
// is packed once into oneDNN's layout (onednn::PackedConstMatMul).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

struct FusedMatMulEntry {
  dnnl::memory::desc a, b, bias, c;
  dnnl::matmul prim;
};

class FusedMatMulOp : public OpKernel {
 public:
  FusedMatMulOp(bool ta, bool tb, onednn::FusedActivation act, bool constant_b)
      : transpose_a_(ta), transpose_b_(tb), act_(act), constant_b_(constant_b) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    const Tensor& bias = ctx.input(2);
    ASSIGN_OR_RETURN(const onednn::BatchMatMulDims d,
                     onednn::MatMulDims(ctx, a, b, transpose_a_, transpose_b_, /*fused=*/true));
    const int64_t m = d.m, k = d.k, n = d.n;
    RETURN_IF_ERROR(onednn::CheckFusedBias(ctx, bias, n));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{m, n}));
    if (out->num_elements() == 0) return absl::OkStatus();
    float* c = out->data<float>();
    if (k == 0) {
      // An empty product: the result is act(bias) broadcast, which oneDNN cannot do with a
      // zero-sized K; fall back to a 1-row reference.
      return Fallback(bias.data<float>(), m, n, c);
    }
    onednn::ScopedThreads threads(onednn::ThreadsForWork(2.0 * m * n * k));
    if (constant_b_) {
      return packed_.Run(ctx, d, a.data<float>(), b.data<float>(), c, bias.data<float>(), &act_);
    }
    return onednn::Guard(ctx, "fused matmul", [&]() -> absl::Status {
      auto entry = cache_.GetOrCreate({m, n, k, threads.threads()}, [&] {
        using onednn::Dims;
        FusedMatMulEntry e;
        // Transposes as strides: oneDNN reads the operands in place.
        e.a = onednn::StridedDesc({m, k}, transpose_a_ ? Dims{1, m} : Dims{k, 1});
        e.b = onednn::StridedDesc({k, n}, transpose_b_ ? Dims{1, k} : Dims{n, 1});
        e.bias = onednn::StridedDesc({1, n}, {n, 1});
        e.c = onednn::StridedDesc({m, n}, {n, 1});
        dnnl::primitive_attr attr = onednn::ScratchpadAttr();
        if (act_.present) {
          dnnl::post_ops po;
          po.append_eltwise(1.f, act_.alg, act_.alpha, act_.beta);
          attr.set_post_ops(po);
        }
        e.prim = dnnl::matmul(dnnl::matmul::primitive_desc(
            dnnl::matmul::desc(e.a, e.b, e.bias, e.c), attr, onednn::CpuEngine()));
        return e;
      });
      dnnl::engine& eng = onednn::CpuEngine();
      dnnl::memory am(entry->a, eng, const_cast<float*>(a.data<float>()));
      dnnl::memory bm(entry->b, eng, const_cast<float*>(b.data<float>()));
      dnnl::memory biasm(entry->bias, eng, const_cast<float*>(bias.data<float>()));
      dnnl::memory cm(entry->c, eng, c);
      dnnl::stream& s = onednn::ThreadStream();
      onednn::Execute(
          entry->prim, s,
          {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_BIAS, biasm}, {DNNL_ARG_DST, cm}});
      return absl::OkStatus();
    });
  }

 private:
  absl::Status Fallback(const float* bias, int64_t m, int64_t n, float* c) const {
    for (int64_t i = 0; i < m; ++i) std::copy(bias, bias + n, c + i * n);
    if (!act_.present) return absl::OkStatus();
    for (int64_t i = 0; i < m * n; ++i) {
      float& v = c[i];
      switch (act_.alg) {
        case dnnl::algorithm::eltwise_relu:
          v = std::max(v, 0.f);
          break;
        case dnnl::algorithm::eltwise_clip:
          v = std::min(std::max(v, 0.f), 6.f);
          break;
        case dnnl::algorithm::eltwise_elu:
          v = v > 0 ? v : std::expm1(v);
          break;
        case dnnl::algorithm::eltwise_tanh:
          v = std::tanh(v);
          break;
        default:
          v = 1.f / (1.f + std::exp(-v));
          break;
      }
    }
    return absl::OkStatus();
  }

  const bool transpose_a_, transpose_b_;
  const onednn::FusedActivation act_;
  const bool constant_b_;  // B is a Const (frozen weights): packed once
  onednn::PrimitiveCache<FusedMatMulEntry> cache_;
  onednn::PackedConstMatMul packed_;
};

KernelOrError CreateFusedMatMul(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(bool ta, c.GetAttr<bool>("transpose_a"));
  ASSIGN_OR_RETURN(bool tb, c.GetAttr<bool>("transpose_b"));
  ASSIGN_OR_RETURN(onednn::FusedActivation act, onednn::ParseFusedBiasActivation(c));
  return std::unique_ptr<OpKernel>(
      new FusedMatMulOp(ta, tb, act, onednn::InputIsConstant(c.node(), 1)));
}

QUIVER_REGISTER_KERNEL(KernelDef("_FusedMatMul", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateFusedMatMul);

}  // namespace
}  // namespace quiver
