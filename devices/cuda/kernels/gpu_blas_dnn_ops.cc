// GPU kernels over vendor libraries (float32, NHWC): MatMul and BatchMatMul(V2) on cuBLAS,
// Conv2D / Conv2DBackpropInput / Conv2DBackpropFilter / _FusedConv2D / DepthwiseConv2dNative
// on cuDNN, MaxPool/AvgPool on cuDNN where it expresses TF's window exactly (cudnn_paths.h) and
// otherwise, like their gradients, on our own kernels (exact TF window semantics, including
// SAME's asymmetric padding, which cuDNN pooling cannot express).
//
// Precision: cuBLAS runs in its default (pedantic-free, no TF32) mode and cuDNN convolutions
// in CUDNN_FMA_MATH, so float32 results match the CPU within float tolerance rather than
// TF32's ~1e-3.
//
// TF's filter layout [KH, KW, C, OC] is not one cuDNN takes: the filter is transposed to
// [OC, KH, KW, C] (cuDNN's NHWC filter format) in scratch memory, and the filter gradient is
// computed in that layout and transposed back. When no cuDNN algorithm takes that filter for a
// problem (grouped/dilated NHWC float32 configurations are the sparse ones), the same is done
// with a [OC, C, KH, KW] filter (NHWC data with a KCRS filter: IMPLICIT_GEMM's general case).
// DepthwiseConv2dNative is the grouped convolution with groups = C: TF's [KH, KW, C, M] filter
// (output channel c*M + m reads input channel c) is byte-for-byte the grouped [KH, KW, 1, C*M]
// layout, and cuDNN's groups take consecutive runs of K/groups = M output channels, so the same
// transpose to [C*M, KH, KW, 1] serves. Asymmetric SAME padding (odd total) is handled by copying
// the input into a zero-padded buffer and convolving with padding 0.
// _FusedConv2D with [BiasAdd] or [BiasAdd, Relu] runs as one cudnnConvolutionBiasActivationForward
// call when the cuDNN switch (cudnn_paths.h) is on and cuDNN takes the problem (TryFusedConv);
// otherwise as the convolution followed by our bias and activation kernels.
#include <cublas_v2.h>
#include <cudnn.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/onednn_util.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/cudnn_paths.h"
#include "devices/cuda/kernels/launchers.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

absl::Status CublasCheck(OpKernelContext& ctx, cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return ctx.Error(absl::StrCat(what, " failed: ", cublasGetStatusName(st)));
}
absl::Status CudnnCheck(OpKernelContext& ctx, cudnnStatus_t st, const char* what) {
  if (st == CUDNN_STATUS_SUCCESS) return absl::OkStatus();
  return ctx.Error(absl::StrCat(what, " failed: ", cudnnGetErrorString(st)));
}

// Row-major C[m,n] = op(A) op(B) through column-major cuBLAS: C^T = op(B)^T op(A)^T.
absl::Status Gemm(OpKernelContext& ctx, cublasHandle_t h, cudaStream_t stream, bool ta, bool tb,
                  int64_t m, int64_t n, int64_t k, const float* a, int64_t stride_a, const float* b,
                  int64_t stride_b, float* c, int64_t stride_c, int64_t batch) {
  const float one = 1.f, zero = 0.f;
  if (m == 0 || n == 0 || batch == 0) return absl::OkStatus();
  if (k == 0) {  // an empty inner dimension: C = 0 (every batch is contiguous here)
    const cudaError_t err = cudaMemsetAsync(c, 0, batch * m * n * sizeof(float), stream);
    if (err != cudaSuccess) return ctx.Error(std::string("memset: ") + cudaGetErrorString(err));
    return absl::OkStatus();
  }
  const int lda = static_cast<int>(ta ? m : k), ldb = static_cast<int>(tb ? k : n);
  return CublasCheck(
      ctx,
      cublasSgemmStridedBatched(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one,
                                b, ldb, stride_b, a, lda, stride_a, &zero, c, static_cast<int>(n),
                                stride_c, static_cast<int>(batch)),
      "cublasSgemmStridedBatched");
}

// The activation of a _FusedMatMul/_FusedConv2D (fused_ops [BiasAdd] or [BiasAdd, act], one
// arg), as our element-wise kernels: the same set the CPU kernels accept.
struct FusedBiasAct {
  bool act = false;
  UnaryOp op = UnaryOp::kRelu;
};
absl::StatusOr<FusedBiasAct> ParseFused(OpKernelConstruction& c) {
  // The CPU kernels' parser, so both devices accept the same attrs with the same messages.
  ASSIGN_OR_RETURN(const onednn::FusedActivation parsed, onednn::ParseFusedBiasActivation(c));
  FusedBiasAct f;
  f.act = parsed.present;
  if (!f.act) return f;
  const std::pair<const char*, UnaryOp> ops[] = {{"Relu", UnaryOp::kRelu},
                                                 {"Relu6", UnaryOp::kRelu6},
                                                 {"Elu", UnaryOp::kElu},
                                                 {"Tanh", UnaryOp::kTanh},
                                                 {"Sigmoid", UnaryOp::kSigmoid}};
  for (const auto& [name, op] : ops) {
    if (parsed.name == name) {
      f.op = op;
      return f;
    }
  }
  return c.Error("unsupported fused activation '" + parsed.name + "'");  // parser out of step
}

// y += bias (per last-dim channel), then the activation, in place.
absl::Status ApplyBiasAct(GpuScope& g, const FusedBiasAct& f, float* y, int64_t n, int64_t channels,
                          int bias_input) {
  OpKernelContext& ctx = g.ctx();
  RETURN_IF_ERROR(onednn::CheckFusedBias(ctx, ctx.input(bias_input), channels));
  ASSIGN_OR_RETURN(const float* bp, g.InAs<float>(bias_input));
  if (n == 0) return absl::OkStatus();
  RETURN_IF_ERROR(g.Check(LaunchBiasAdd(y, bp, y, n, channels, 1, g.stream()), "fused bias"));
  if (f.act) RETURN_IF_ERROR(g.Check(LaunchUnary(f.op, y, y, n, g.stream()), "fused activation"));
  return absl::OkStatus();
}

class MatMulGpuOp : public OpKernel {
 public:
  explicit MatMulGpuOp(bool fused = false) : fused_(fused) {}
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(ta_, c.GetAttr<bool>("transpose_a"));
    ASSIGN_OR_RETURN(tb_, c.GetAttr<bool>("transpose_b"));
    if (fused_) {
      ASSIGN_OR_RETURN(fused_act_, ParseFused(c));
    }
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    // The CPU kernels' checks and messages.
    ASSIGN_OR_RETURN(const onednn::BatchMatMulDims d,
                     onednn::MatMulDims(ctx, a, b, ta_, tb_, fused_));
    const int64_t m = d.m, k = d.k, n = d.n;
    if (fused_) RETURN_IF_ERROR(onednn::CheckFusedBias(ctx, ctx.input(2), n));
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(cublasHandle_t h, g.device()->cublas());
    ASSIGN_OR_RETURN(const float* ap, g.InAs<float>(0));
    ASSIGN_OR_RETURN(const float* bp, g.InAs<float>(1));
    ASSIGN_OR_RETURN(float* cp, g.OutAs<float>(0, TensorShape{m, n}));
    {
      std::lock_guard<std::mutex> lock(g.device()->library_mutex());
      RETURN_IF_ERROR(Gemm(ctx, h, g.stream(), ta_, tb_, m, n, k, ap, 0, bp, 0, cp, 0, 1));
    }
    if (fused_) RETURN_IF_ERROR(ApplyBiasAct(g, fused_act_, cp, m * n, n, 2));
    return g.Finish();
  }

 private:
  bool fused_;
  bool ta_ = false, tb_ = false;
  FusedBiasAct fused_act_;
};

class BatchMatMulGpuOp : public OpKernel {
 public:
  explicit BatchMatMulGpuOp(bool broadcast) : broadcast_(broadcast) {}
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(adj_x_, c.GetAttr<bool>("adj_x"));
    ASSIGN_OR_RETURN(adj_y_, c.GetAttr<bool>("adj_y"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& x = ctx.input(0);
    const Tensor& y = ctx.input(1);
    // The CPU kernels' checks and messages.
    TensorShape out_shape;
    ASSIGN_OR_RETURN(const onednn::BatchMatMulDims dims,
                     onednn::BatchMatMulShape(ctx, x, y, adj_x_, adj_y_, broadcast_, &out_shape));
    const int64_t m = dims.m, k = dims.k, n = dims.n;
    const int nb = static_cast<int>(dims.out_batch.size());
    const std::vector<int64_t>&ab = dims.a_batch, &bb = dims.b_batch, &ob = dims.out_batch;
    int64_t batches = 1, a_count = 1, b_count = 1;
    for (int i = 0; i < nb; ++i) {
      batches *= ob[i];
      a_count *= ab[i];
      b_count *= bb[i];
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(cublasHandle_t h, g.device()->cublas());
    ASSIGN_OR_RETURN(const float* xp, g.InAs<float>(0));
    ASSIGN_OR_RETURN(const float* yp, g.InAs<float>(1));
    ASSIGN_OR_RETURN(float* op, g.OutAs<float>(0, out_shape));
    const bool a_full = a_count == batches, b_full = b_count == batches;
    std::lock_guard<std::mutex> lock(g.device()->library_mutex());
    if ((a_full || a_count == 1) && (b_full || b_count == 1)) {
      RETURN_IF_ERROR(Gemm(ctx, h, g.stream(), adj_x_, adj_y_, m, n, k, xp, a_full ? m * k : 0, yp,
                           b_full ? k * n : 0, op, m * n, batches));
    } else {  // mixed broadcasting: one GEMM per output batch
      for (int64_t bi = 0; bi < batches; ++bi) {
        int64_t rem = bi, ai = 0, yi = 0, astride = 1, bstride = 1;
        for (int d = nb - 1; d >= 0; --d) {
          const int64_t idx = rem % ob[d];
          rem /= ob[d];
          ai += (ab[d] == 1 ? 0 : idx) * astride;
          yi += (bb[d] == 1 ? 0 : idx) * bstride;
          astride *= ab[d];
          bstride *= bb[d];
        }
        RETURN_IF_ERROR(Gemm(ctx, h, g.stream(), adj_x_, adj_y_, m, n, k, xp + ai * m * k, 0,
                             yp + yi * k * n, 0, op + bi * m * n, 0, 1));
      }
    }
    return g.Finish();
  }

 private:
  bool broadcast_;
  bool adj_x_ = false, adj_y_ = false;
};

// ---- cuDNN convolution -------------------------------------------------------------------------

// RAII descriptors.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnActivationDescriptor_t act = nullptr;
  ~Descriptors() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (act) cudnnDestroyActivationDescriptor(act);
  }
};

// The conv problem after padding is made symmetric: input [n, hp, wp, c] (padded when the
// original padding was asymmetric), symmetric pads ph, pw.
struct ConvPlan {
  onednn::ConvDims d;
  bool explicit_pad = false;  // input copied into a zero-padded [n, hp, wp, c] buffer
  int64_t hp = 0, wp = 0, ph = 0, pw = 0;
  // The cuDNN filter layout: KRSC [OC, KH, KW, C/G] (CUDNN_TENSOR_NHWC, tried first) or KCRS
  // [OC, C/G, KH, KW] (CUDNN_TENSOR_NCHW: NHWC data with a KCRS filter is IMPLICIT_GEMM's most
  // general configuration, the fallback when no algorithm takes the KRSC filter).
  bool kcrs = false;
};

ConvPlan PlanConv(const onednn::ConvDims& d) {
  ConvPlan p;
  p.d = d;
  p.explicit_pad = d.pad_t != d.pad_b || d.pad_l != d.pad_r;
  p.hp = p.explicit_pad ? d.h + d.pad_t + d.pad_b : d.h;
  p.wp = p.explicit_pad ? d.w + d.pad_l + d.pad_r : d.w;
  p.ph = p.explicit_pad ? 0 : d.pad_t;
  p.pw = p.explicit_pad ? 0 : d.pad_l;
  return p;
}

absl::Status MakeDescriptors(OpKernelContext& ctx, const ConvPlan& p, Descriptors* ds) {
  const onednn::ConvDims& d = p.d;
  auto I = [](int64_t v) { return static_cast<int>(v); };
  RETURN_IF_ERROR(CudnnCheck(ctx, cudnnCreateTensorDescriptor(&ds->x), "descriptor"));
  RETURN_IF_ERROR(CudnnCheck(ctx, cudnnCreateTensorDescriptor(&ds->y), "descriptor"));
  RETURN_IF_ERROR(CudnnCheck(ctx, cudnnCreateFilterDescriptor(&ds->w), "descriptor"));
  RETURN_IF_ERROR(CudnnCheck(ctx, cudnnCreateConvolutionDescriptor(&ds->conv), "descriptor"));
  RETURN_IF_ERROR(CudnnCheck(ctx,
                             cudnnSetTensor4dDescriptor(ds->x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                                        I(d.n), I(d.c), I(p.hp), I(p.wp)),
                             "cudnnSetTensor4dDescriptor(x)"));
  RETURN_IF_ERROR(CudnnCheck(ctx,
                             cudnnSetTensor4dDescriptor(ds->y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                                        I(d.n), I(d.oc), I(d.oh), I(d.ow)),
                             "cudnnSetTensor4dDescriptor(y)"));
  RETURN_IF_ERROR(
      CudnnCheck(ctx,
                 cudnnSetFilter4dDescriptor(ds->w, CUDNN_DATA_FLOAT,
                                            p.kcrs ? CUDNN_TENSOR_NCHW : CUDNN_TENSOR_NHWC, I(d.oc),
                                            I(d.c / d.groups), I(d.kh), I(d.kw)),
                 "cudnnSetFilter4dDescriptor"));
  RETURN_IF_ERROR(
      CudnnCheck(ctx,
                 cudnnSetConvolution2dDescriptor(ds->conv, I(p.ph), I(p.pw), I(d.stride_h),
                                                 I(d.stride_w), I(d.dilation_h), I(d.dilation_w),
                                                 CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                 "cudnnSetConvolution2dDescriptor"));
  RETURN_IF_ERROR(CudnnCheck(ctx, cudnnSetConvolutionGroupCount(ds->conv, I(d.groups)),
                             "cudnnSetConvolutionGroupCount"));
  RETURN_IF_ERROR(CudnnCheck(ctx, cudnnSetConvolutionMathType(ds->conv, CUDNN_FMA_MATH),
                             "cudnnSetConvolutionMathType"));
  return absl::OkStatus();
}

// [KH,KW,Cg,OC] -> [OC,KH,KW,Cg] (KRSC) or [OC,Cg,KH,KW] (KCRS) (to_cudnn), or back.
absl::Status TransposeFilter(GpuScope& g, const ConvPlan& p, const float* src, float* dst,
                             bool to_cudnn) {
  const onednn::ConvDims& d = p.d;
  const int64_t cg = d.c / d.groups;
  int64_t dims_tf[4] = {d.kh, d.kw, cg, d.oc};
  int64_t krsc[4] = {d.oc, d.kh, d.kw, cg}, kcrs[4] = {d.oc, cg, d.kh, d.kw};
  int64_t* dims_cudnn = p.kcrs ? kcrs : krsc;
  int krsc_to[4] = {3, 0, 1, 2}, krsc_back[4] = {1, 2, 3, 0};
  int kcrs_to[4] = {3, 2, 0, 1}, kcrs_back[4] = {2, 3, 1, 0};
  int* perm_to = p.kcrs ? kcrs_to : krsc_to;
  int* perm_back = p.kcrs ? kcrs_back : krsc_back;
  index::StridedIndexer ix;
  if (!index::MakeTransposeIndexer(4, to_cudnn ? dims_tf : dims_cudnn,
                                   to_cudnn ? perm_to : perm_back, &ix)) {
    return g.ctx().Error("bad filter transpose");
  }
  return g.Check(LaunchGather(src, dst, sizeof(float), ix, g.stream()), "filter transpose");
}

// Copies x [n,h,w,c] into the interior of a zeroed [n,hp,wp,c] buffer (or, `back`, gathers the
// interior of a padded gradient into dx).
absl::Status PadCopy(GpuScope& g, const ConvPlan& p, const float* src, float* dst, bool back) {
  const onednn::ConvDims& d = p.d;
  int64_t padded[4] = {d.n, p.hp, p.wp, d.c};
  index::StridedIndexer ix;
  ix.rank = 4;
  ix.dims[0] = d.n;
  ix.dims[1] = d.h;
  ix.dims[2] = d.w;
  ix.dims[3] = d.c;
  index::RowMajorStrides(4, padded, ix.strides);
  ix.base = d.pad_t * ix.strides[1] + d.pad_l * ix.strides[2];
  if (back) return g.Check(LaunchGather(src, dst, sizeof(float), ix, g.stream()), "unpad");
  RETURN_IF_ERROR(g.Check(
      cudaMemsetAsync(dst, 0, d.n * p.hp * p.wp * d.c * sizeof(float), g.stream()), "pad memset"));
  return g.Check(LaunchScatter(src, dst, sizeof(float), ix, g.stream()), "pad");
}

std::vector<int64_t> ShapeOf(const Tensor& t) { return t.shape().dims(); }

// ---- cuDNN algorithm choice with fallback
// --------------------------------------------------------
//
// The _v7 heuristics rank the algorithms, but the top pick can still fail on a given
// configuration (NHWC fp32 with CUDNN_FMA_MATH supports only a subset, grouped/depthwise
// convolutions fewer still) or need more workspace than is free. So every candidate the
// heuristic marks usable is tried in its order: workspace size, workspace, then the call; a
// failure moves on to the next one, and only when all fail is the error returned, listing each
// algorithm and why it failed. The algorithm that worked is remembered per problem (direction,
// GPU, shapes, padding, strides, dilations, groups) so later steps go straight to it.

// kFusedBias / kFusedBiasRelu: cudnnConvolutionBiasActivationForward with an IDENTITY / RELU
// activation (their own algorithm-cache entries: IDENTITY runs only one algorithm).
enum class ConvDirection {
  kForward = 0,
  kBackwardData = 1,
  kBackwardFilter = 2,
  kFusedBias = 3,
  kFusedBiasRelu = 4,
};

const char* FwdAlgoName(int a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
      return "FWD_IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return "FWD_IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
      return "FWD_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
      return "FWD_DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
      return "FWD_FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
      return "FWD_FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
      return "FWD_WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
      return "FWD_WINOGRAD_NONFUSED";
    default:
      return "FWD_?";
  }
}
const char* BwdDataAlgoName(int a) {
  switch (a) {
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_0:
      return "BWD_DATA_ALGO_0";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_1:
      return "BWD_DATA_ALGO_1";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT:
      return "BWD_DATA_FFT";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING:
      return "BWD_DATA_FFT_TILING";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD:
      return "BWD_DATA_WINOGRAD";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED:
      return "BWD_DATA_WINOGRAD_NONFUSED";
    default:
      return "BWD_DATA_?";
  }
}
const char* BwdFilterAlgoName(int a) {
  switch (a) {
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0:
      return "BWD_FILTER_ALGO_0";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1:
      return "BWD_FILTER_ALGO_1";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT:
      return "BWD_FILTER_FFT";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3:
      return "BWD_FILTER_ALGO_3";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD:
      return "BWD_FILTER_WINOGRAD";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED:
      return "BWD_FILTER_WINOGRAD_NONFUSED";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING:
      return "BWD_FILTER_FFT_TILING";
    default:
      return "BWD_FILTER_?";
  }
}

// The algorithm that last worked for a problem. Keys: ConvAlgoKey.
class ConvAlgoCache {
 public:
  bool Lookup(const std::vector<int64_t>& key, int* algo) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    *algo = it->second;
    return true;
  }
  void Store(const std::vector<int64_t>& key, int algo) {
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.size() >= 4096) map_.clear();  // a bound for shape-churning programs
    map_[key] = algo;
  }
  void Erase(const std::vector<int64_t>& key) {
    std::lock_guard<std::mutex> lock(mu_);
    map_.erase(key);
  }

 private:
  std::mutex mu_;
  std::map<std::vector<int64_t>, int> map_;
};
ConvAlgoCache& AlgoCache() {
  static ConvAlgoCache* cache = new ConvAlgoCache;  // leaked: used by kernels until exit
  return *cache;
}
// Problems (ConvAlgoKey with the KRSC filter) for which no algorithm took the KRSC filter:
// later steps go straight to KCRS.
ConvAlgoCache& KcrsCache() {
  static ConvAlgoCache* cache = new ConvAlgoCache;  // leaked: used by kernels until exit
  return *cache;
}

// Fused problems (ConvAlgoKey with a kFusedBias* direction and the filter layout tried) for which
// cudnnConvolutionBiasActivationForward failed: later steps run cudnnConvolutionForward and our
// bias/activation kernels straight away.
ConvAlgoCache& FusedDeclined() {
  static ConvAlgoCache* cache = new ConvAlgoCache;  // leaked: used by kernels until exit
  return *cache;
}
std::atomic<int64_t>& FusedConvHits() {
  static std::atomic<int64_t> hits{0};
  return hits;
}

std::vector<int64_t> ConvAlgoKey(ConvDirection dir, int ordinal, const ConvPlan& p) {
  const onednn::ConvDims& d = p.d;
  return {static_cast<int64_t>(dir),
          ordinal,
          d.n,
          d.c,
          p.hp,
          p.wp,
          d.kh,
          d.kw,
          d.oc,
          d.groups,
          d.oh,
          d.ow,
          p.ph,
          p.pw,
          d.stride_h,
          d.stride_w,
          d.dilation_h,
          d.dilation_w,
          p.kcrs ? 1 : 0};
}

// One direction's cuDNN entry points, as plain ints for the algorithm.
struct ConvAlgoOps {
  ConvDirection dir;
  const char* call;               // the convolution call, for messages
  const char* (*name)(int algo);  // the algorithm's name
  int algo_count;                 // CUDNN_CONVOLUTION_*_ALGO_COUNT
  // The heuristic's ranking: fills `algos` with (algorithm, status) in its order.
  std::function<cudnnStatus_t(std::vector<std::pair<int, cudnnStatus_t>>* algos)> heuristic;
  std::function<cudnnStatus_t(int algo, size_t* bytes)> workspace_size;
  std::function<cudnnStatus_t(int algo, void* ws, size_t bytes)> run;
};

// Runs the convolution with the first algorithm that works (see above). Call with the
// device's library mutex held.
absl::Status RunConvWithFallback(GpuScope& g, const ConvPlan& p, const ConvAlgoOps& ops) {
  OpKernelContext& ctx = g.ctx();
  // Launch errors are per thread and sticky until read: report one left by earlier work now,
  // so that clearing a failed algorithm's error below cannot swallow it.
  RETURN_IF_ERROR(g.Check(cudaGetLastError(), "before the convolution"));
  Allocator* alloc = g.device()->allocator();
  const std::vector<int64_t> key = ConvAlgoKey(ops.dir, g.device()->ordinal(), p);
  std::vector<std::string> tried;  // "<algo>: <outcome>" for the error message

  // Runs one algorithm; true when it worked.
  auto attempt = [&](int algo) -> bool {
    size_t ws_bytes = 0;
    cudnnStatus_t st = ops.workspace_size(algo, &ws_bytes);
    if (st != CUDNN_STATUS_SUCCESS) {
      tried.push_back(
          absl::StrCat(ops.name(algo), ": workspace size query failed: ", cudnnGetErrorString(st)));
      return false;
    }
    void* ws = nullptr;
    if (ws_bytes > 0) {
      ws = alloc->AllocateRaw(Allocator::kDefaultAlignment, ws_bytes);
      if (ws == nullptr) {
        tried.push_back(
            absl::StrCat(ops.name(algo), ": no GPU memory for its ", ws_bytes, "-byte workspace"));
        return false;
      }
    }
    st = ops.run(algo, ws, ws_bytes);
    // Freed in stream order, like GpuScope's temps: later work that reuses the block is
    // queued after this convolution.
    if (ws != nullptr) alloc->DeallocateRaw(ws);
    if (st == CUDNN_STATUS_SUCCESS) return true;
    const cudaError_t launch = cudaGetLastError();  // clear what a failed launch left behind
    tried.push_back(absl::StrCat(
        ops.name(algo), " (workspace ", ws_bytes, " bytes): ", cudnnGetErrorString(st),
        launch == cudaSuccess ? "" : absl::StrCat(" [CUDA: ", cudaGetErrorName(launch), "]")));
    return false;
  };

  int cached = -1;
  if (AlgoCache().Lookup(key, &cached)) {
    if (attempt(cached)) return absl::OkStatus();
    AlgoCache().Erase(key);
  }

  std::vector<std::pair<int, cudnnStatus_t>> ranked;
  const cudnnStatus_t hst = ops.heuristic(&ranked);
  std::vector<int> candidates;
  if (hst != CUDNN_STATUS_SUCCESS) {
    tried.push_back(absl::StrCat("heuristic query failed: ", cudnnGetErrorString(hst)));
  } else {
    // An algorithm can be listed more than once (once per math type): keep its first usable
    // entry, in the heuristic's order.
    auto listed = [](const std::vector<int>& v, int a) {
      return std::find(v.begin(), v.end(), a) != v.end();
    };
    for (const auto& [algo, status] : ranked) {
      if (status == CUDNN_STATUS_SUCCESS && !listed(candidates, algo)) candidates.push_back(algo);
    }
    std::vector<int> skipped;
    for (const auto& [algo, status] : ranked) {
      if (status != CUDNN_STATUS_SUCCESS && !listed(candidates, algo) && !listed(skipped, algo)) {
        skipped.push_back(algo);
        tried.push_back(absl::StrCat(ops.name(algo), ": skipped, heuristic status ",
                                     cudnnGetErrorString(status)));
      }
    }
  }
  // No usable ranking at all: try every algorithm in enum order as a last resort.
  if (candidates.empty()) {
    for (int a = 0; a < ops.algo_count; ++a) candidates.push_back(a);
  }
  for (int algo : candidates) {
    if (algo == cached) continue;  // failed just above
    if (attempt(algo)) {
      AlgoCache().Store(key, algo);
      return absl::OkStatus();
    }
  }
  return ctx.Error(absl::StrCat(ops.call, ": no cuDNN algorithm worked for input [", p.d.n, ",",
                                p.hp, ",", p.wp, ",", p.d.c, "], filter [", p.d.oc, ",", p.d.kh,
                                ",", p.d.kw, ",", p.d.c / p.d.groups, "], groups ", p.d.groups,
                                "; tried: ", absl::StrJoin(tried, "; ")));
}

// The forward heuristic's ranking (see ConvAlgoOps::heuristic).
cudnnStatus_t ForwardHeuristic(cudnnHandle_t h, const Descriptors& ds,
                               std::vector<std::pair<int, cudnnStatus_t>>* algos) {
  int max = 0;
  if (cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max) != CUDNN_STATUS_SUCCESS || max <= 0) {
    max = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  }
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(max);
  int found = 0;
  const cudnnStatus_t st = cudnnGetConvolutionForwardAlgorithm_v7(h, ds.x, ds.w, ds.conv, ds.y, max,
                                                                  &found, perf.data());
  for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < found && i < max; ++i) {
    algos->emplace_back(static_cast<int>(perf[i].algo), perf[i].status);
  }
  return st;
}

// _FusedConv2D's y = act(conv(x) + bias) in one cudnnConvolutionBiasActivationForward call, for
// the plan `p` whose convolution descriptors `ds` holds (x, filt: as cudnnConvolutionForward
// takes them). `relu`: CUDNN_ACTIVATION_RELU, else IDENTITY, which cuDNN runs only with
// IMPLICIT_PRECOMP_GEMM. alpha1 = 1 and alpha2 = 0 (no side input: z is y, zeroed first so that
// nothing uninitialised can enter even if z is read). True when it ran; false when the caller
// must run the plain convolution and ApplyBiasAct: the problem failed before (FusedDeclined), or
// it fails now (descriptors, or every algorithm: remembered and reported once on stderr). An
// error only for a CUDA error that is not cuDNN's. Call with the library mutex held.
std::vector<int64_t> FusedKey(GpuScope& g, const ConvPlan& p, bool relu) {
  return ConvAlgoKey(relu ? ConvDirection::kFusedBiasRelu : ConvDirection::kFusedBias,
                     g.device()->ordinal(), p);
}
// True when the fused call failed before for this problem and filter layout.
bool FusedDeclinedFor(GpuScope& g, const ConvPlan& p, bool relu) {
  int known = 0;
  return FusedDeclined().Lookup(FusedKey(g, p, relu), &known);
}

absl::StatusOr<bool> TryFusedConv(GpuScope& g, cudnnHandle_t h, const ConvPlan& p, Descriptors* ds,
                                  bool relu, const float* x, const float* filt, const float* bias,
                                  float* y) {
  const ConvDirection dir = relu ? ConvDirection::kFusedBiasRelu : ConvDirection::kFusedBias;
  const std::vector<int64_t> key = FusedKey(g, p, relu);
  if (FusedDeclinedFor(g, p, relu)) return false;
  // A launch error left by earlier work must surface as an error, not read as a failed fused
  // call (RunConvWithFallback would clear it).
  RETURN_IF_ERROR(g.Check(cudaGetLastError(), "before the convolution"));
  auto decline = [&](const std::string& why) {
    FusedDeclined().Store(key, 1);
    std::fprintf(stderr,
                 "quiver: node '%s' (%s): cudnnConvolutionBiasActivationForward: %s; running "
                 "cudnnConvolutionForward and our bias/activation kernels for this problem "
                 "instead\n",
                 g.ctx().node().name().c_str(), g.ctx().node().op().c_str(), why.c_str());
    return false;
  };
  // The bias [1, C, 1, 1] in y's (NHWC) format: C contiguous values either way.
  cudnnStatus_t st = cudnnCreateTensorDescriptor(&ds->bias);
  if (st == CUDNN_STATUS_SUCCESS) {
    st = cudnnSetTensor4dDescriptor(ds->bias, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1,
                                    static_cast<int>(p.d.oc), 1, 1);
  }
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnCreateActivationDescriptor(&ds->act);
  if (st == CUDNN_STATUS_SUCCESS) {
    // NOT_PROPAGATE_NAN: the CPU's fused kernel (oneDNN's relu post-op) turns NaN into 0, and
    // it is the option TF and ONNX Runtime pass to this call (older cuDNN took no other).
    st = cudnnSetActivationDescriptor(ds->act,
                                      relu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
                                      CUDNN_NOT_PROPAGATE_NAN, 0.0);
  }
  if (st != CUDNN_STATUS_SUCCESS) {
    return decline(absl::StrCat("descriptor setup failed: ", cudnnGetErrorString(st)));
  }
  const int64_t y_count = p.d.n * p.d.oh * p.d.ow * p.d.oc;
  RETURN_IF_ERROR(
      g.Check(cudaMemsetAsync(y, 0, y_count * sizeof(float), g.stream()), "fused conv memset"));
  const float one = 1.f, zero = 0.f;
  ConvAlgoOps ops;
  ops.dir = dir;
  ops.call = "cudnnConvolutionBiasActivationForward";
  ops.name = FwdAlgoName;
  ops.algo_count = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  // RELU: the plain convolution's ranking (the fused call takes a subset of it), then
  // IMPLICIT_PRECOMP_GEMM, the algorithm the fused call is documented with, if not listed usable.
  // IDENTITY: IMPLICIT_PRECOMP_GEMM alone.
  ops.heuristic = [&](std::vector<std::pair<int, cudnnStatus_t>>* algos) {
    const cudnnStatus_t hst = relu ? ForwardHeuristic(h, *ds, algos) : CUDNN_STATUS_SUCCESS;
    if (hst == CUDNN_STATUS_SUCCESS) {
      algos->emplace_back(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_STATUS_SUCCESS);
    }
    return hst;
  };
  ops.workspace_size = [&](int algo, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(
        h, ds->x, ds->w, ds->conv, ds->y, static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
  };
  ops.run = [&](int algo, void* ws, size_t bytes) {
    return cudnnConvolutionBiasActivationForward(
        h, &one, ds->x, x, ds->w, filt, ds->conv, static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws,
        bytes, &zero, ds->y, y, ds->bias, bias, ds->act, ds->y, y);
  };
  const absl::Status run = RunConvWithFallback(g, p, ops);
  if (!run.ok()) return decline(std::string(run.message()));
  FusedConvHits().fetch_add(1, std::memory_order_relaxed);
  return true;
}

enum class ConvKind { kForward, kBackpropInput, kBackpropFilter, kFusedForward, kDepthwiseForward };

class ConvGpuOp : public OpKernel {
 public:
  explicit ConvGpuOp(ConvKind kind) : kind_(kind) {}
  absl::Status Init(OpKernelConstruction& c) {
    RETURN_IF_ERROR(onednn::ParseWindowAttrs(c, &window_));
    if (kind_ == ConvKind::kFusedForward) {
      ASSIGN_OR_RETURN(fused_act_, ParseFused(c));
    }
    return absl::OkStatus();
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    // The CPU kernels' checks and messages (onednn_util.h), so both devices reject the same
    // shapes with the same words.
    std::vector<int64_t> in_shape, filter_shape;
    onednn::ConvDims d;
    switch (kind_) {
      case ConvKind::kForward:
      case ConvKind::kFusedForward:
      case ConvKind::kDepthwiseForward: {
        RETURN_IF_ERROR(RequireFloat(ctx, 0));
        if (kind_ == ConvKind::kDepthwiseForward) {
          ASSIGN_OR_RETURN(d,
                           onednn::DepthwiseConv2DDims(ctx, window_, ctx.input(0), ctx.input(1)));
        } else {
          ASSIGN_OR_RETURN(d, onednn::Conv2DDims(ctx, window_, ctx.input(0), ctx.input(1)));
        }
        if (kind_ == ConvKind::kFusedForward) {
          RETURN_IF_ERROR(onednn::CheckFusedBias(ctx, ctx.input(2), d.oc));
        }
        in_shape = ShapeOf(ctx.input(0));
        filter_shape = ShapeOf(ctx.input(1));
        break;
      }
      case ConvKind::kBackpropInput: {
        // TF's spatial-only input_sizes [H, W] is completed to 4 dims.
        ASSIGN_OR_RETURN(in_shape, GpuHostInts(ctx, 0, "input_sizes", /*want_rank=*/1));
        ASSIGN_OR_RETURN(
            d, onednn::ConvBackpropInputDims(ctx, window_, &in_shape, ctx.input(1), ctx.input(2)));
        filter_shape = ShapeOf(ctx.input(1));
        break;
      }
      case ConvKind::kBackpropFilter: {
        ASSIGN_OR_RETURN(filter_shape, GpuHostInts(ctx, 1, "filter_sizes", /*want_rank=*/1));
        ASSIGN_OR_RETURN(d, onednn::ConvBackpropFilterDims(ctx, window_, ctx.input(0), filter_shape,
                                                           ctx.input(2)));
        in_shape = ShapeOf(ctx.input(0));
        break;
      }
    }
    const bool forward = kind_ == ConvKind::kForward || kind_ == ConvKind::kFusedForward ||
                         kind_ == ConvKind::kDepthwiseForward;
    // (From the shapes: a depthwise convolution over C = 0 channels has 0 groups.)
    const int64_t in_count = TensorShape(in_shape).num_elements();
    const int64_t filter_count = TensorShape(filter_shape).num_elements();
    const int64_t out_count = d.n * d.oh * d.ow * d.oc;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());

    // Empty problems never reach cuDNN (its descriptors reject zero sizes, and C = 0 would
    // mean 0 groups): the result is empty, or made of empty sums (zeros), as on the CPU. A
    // fused convolution then adds the bias and applies the activation, as the unfused
    // Conv2D + BiasAdd (+ activation) would.
    {
      const int64_t result_count = forward                             ? out_count
                                   : kind_ == ConvKind::kBackpropInput ? in_count
                                                                       : filter_count;
      // The two operands the result sums over.
      const int64_t a = forward ? in_count : out_count;
      const int64_t b = kind_ == ConvKind::kBackpropFilter ? in_count : filter_count;
      if (result_count == 0 || a == 0 || b == 0) {
        const TensorShape shape = forward ? TensorShape{d.n, d.oh, d.ow, d.oc}
                                  : kind_ == ConvKind::kBackpropInput ? TensorShape(in_shape)
                                                                      : TensorShape(filter_shape);
        ASSIGN_OR_RETURN(float* r, g.OutAs<float>(0, shape));
        if (result_count > 0) {
          RETURN_IF_ERROR(
              g.Check(cudaMemsetAsync(r, 0, result_count * sizeof(float), g.stream()), "memset"));
        }
        if (kind_ == ConvKind::kFusedForward) {
          RETURN_IF_ERROR(ApplyBiasAct(g, fused_act_, r, result_count, d.oc, 2));
        }
        return g.Finish();
      }
    }

    const ConvPlan plan = PlanConv(d);
    ASSIGN_OR_RETURN(cudnnHandle_t h, g.device()->cudnn());
    const size_t padded_bytes = d.n * plan.hp * plan.wp * d.c * sizeof(float);
    const size_t filter_bytes = filter_count * sizeof(float);
    const float one = 1.f, zero = 0.f;

    // The operands, staged (and padded, for asymmetric padding) once for both filter layouts.
    float* out = nullptr;         // y, dx or TF's [KH,KW,C/G,OC] dw
    const float* x = nullptr;     // forward, backprop filter: the (padded) input
    const float* w_tf = nullptr;  // forward, backprop input: TF's filter
    const float* dy = nullptr;    // backprops: the output gradient
    float* dxp = nullptr;         // backprop input: the (padded) input gradient
    if (forward) {
      ASSIGN_OR_RETURN(out, g.OutAs<float>(0, TensorShape{d.n, d.oh, d.ow, d.oc}));
    } else if (kind_ == ConvKind::kBackpropInput) {
      ASSIGN_OR_RETURN(out, g.OutAs<float>(0, TensorShape(in_shape)));
    } else {
      ASSIGN_OR_RETURN(out, g.OutAs<float>(0, TensorShape(filter_shape)));
    }
    if (kind_ != ConvKind::kBackpropInput) {
      ASSIGN_OR_RETURN(x, g.InAs<float>(0));
    }
    if (kind_ != ConvKind::kBackpropFilter) {
      ASSIGN_OR_RETURN(w_tf, g.InAs<float>(1));
    }
    if (!forward) {
      ASSIGN_OR_RETURN(dy, g.InAs<float>(2));
    }
    ASSIGN_OR_RETURN(void* filt_raw, g.Temp(filter_bytes));
    float* filt = static_cast<float*>(filt_raw);  // the filter in cuDNN's layout
    if (kind_ == ConvKind::kBackpropInput) dxp = out;
    if (plan.explicit_pad) {
      ASSIGN_OR_RETURN(void* raw, g.Temp(padded_bytes));
      if (kind_ == ConvKind::kBackpropInput) {
        dxp = static_cast<float*>(raw);
      } else {
        RETURN_IF_ERROR(PadCopy(g, plan, x, static_cast<float*>(raw), false));
        x = static_cast<float*>(raw);
      }
    }

    // _FusedConv2D in one cuDNN call (TryFusedConv) for [BiasAdd] and [BiasAdd, Relu] with a
    // well-formed bias and the cuDNN switch on; otherwise, or where that call fails, the plain
    // convolution and then ApplyBiasAct (our bias and activation kernels).
    const Tensor* bias_t = kind_ == ConvKind::kFusedForward ? &ctx.input(2) : nullptr;
    const bool try_fused = bias_t != nullptr && UseCudnnPaths() &&
                           (!fused_act_.act || fused_act_.op == UnaryOp::kRelu) &&
                           bias_t->rank() == 1 && bias_t->dim(0) == d.oc;
    const float* fused_bias = nullptr;
    if (try_fused) {
      ASSIGN_OR_RETURN(fused_bias, g.InAs<float>(2));
    }
    bool fused_done = false;  // TryFusedConv computed y, bias and activation included

    // One attempt with the filter layout p.kcrs.
    auto run = [&](const ConvPlan& p) -> absl::Status {
      Descriptors ds;
      RETURN_IF_ERROR(MakeDescriptors(ctx, p, &ds));
      if (w_tf != nullptr) RETURN_IF_ERROR(TransposeFilter(g, p, w_tf, filt, true));
      ConvAlgoOps ops;
      if (forward) {
        ops.dir = ConvDirection::kForward;
        ops.call = "cudnnConvolutionForward";
        ops.name = FwdAlgoName;
        ops.algo_count = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
        ops.heuristic = [&](std::vector<std::pair<int, cudnnStatus_t>>* algos) {
          return ForwardHeuristic(h, ds, algos);
        };
        ops.workspace_size = [&](int algo, size_t* bytes) {
          return cudnnGetConvolutionForwardWorkspaceSize(
              h, ds.x, ds.w, ds.conv, ds.y, static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
        };
        ops.run = [&](int algo, void* ws, size_t bytes) {
          return cudnnConvolutionForward(h, &one, ds.x, x, ds.w, filt, ds.conv,
                                         static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, bytes,
                                         &zero, ds.y, out);
        };
      } else if (kind_ == ConvKind::kBackpropInput) {
        ops.dir = ConvDirection::kBackwardData;
        ops.call = "cudnnConvolutionBackwardData";
        ops.name = BwdDataAlgoName;
        ops.algo_count = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
        ops.heuristic = [&](std::vector<std::pair<int, cudnnStatus_t>>* algos) {
          int max = 0;
          if (cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max) != CUDNN_STATUS_SUCCESS ||
              max <= 0) {
            max = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
          }
          std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(max);
          int found = 0;
          const cudnnStatus_t st = cudnnGetConvolutionBackwardDataAlgorithm_v7(
              h, ds.w, ds.y, ds.conv, ds.x, max, &found, perf.data());
          for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < found && i < max; ++i) {
            algos->emplace_back(static_cast<int>(perf[i].algo), perf[i].status);
          }
          return st;
        };
        ops.workspace_size = [&](int algo, size_t* bytes) {
          return cudnnGetConvolutionBackwardDataWorkspaceSize(
              h, ds.w, ds.y, ds.conv, ds.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(algo),
              bytes);
        };
        ops.run = [&](int algo, void* ws, size_t bytes) {
          return cudnnConvolutionBackwardData(h, &one, ds.w, filt, ds.y, dy, ds.conv,
                                              static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws,
                                              bytes, &zero, ds.x, dxp);
        };
      } else {
        ops.dir = ConvDirection::kBackwardFilter;
        ops.call = "cudnnConvolutionBackwardFilter";
        ops.name = BwdFilterAlgoName;
        ops.algo_count = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
        ops.heuristic = [&](std::vector<std::pair<int, cudnnStatus_t>>* algos) {
          int max = 0;
          if (cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max) != CUDNN_STATUS_SUCCESS ||
              max <= 0) {
            max = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
          }
          std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(max);
          int found = 0;
          const cudnnStatus_t st = cudnnGetConvolutionBackwardFilterAlgorithm_v7(
              h, ds.x, ds.y, ds.conv, ds.w, max, &found, perf.data());
          for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < found && i < max; ++i) {
            algos->emplace_back(static_cast<int>(perf[i].algo), perf[i].status);
          }
          return st;
        };
        ops.workspace_size = [&](int algo, size_t* bytes) {
          return cudnnGetConvolutionBackwardFilterWorkspaceSize(
              h, ds.x, ds.y, ds.conv, ds.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
              bytes);
        };
        ops.run = [&](int algo, void* ws, size_t bytes) {
          return cudnnConvolutionBackwardFilter(h, &one, ds.x, x, ds.y, dy, ds.conv,
                                                static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
                                                ws, bytes, &zero, ds.w, filt);
        };
      }
      RETURN_IF_ERROR(RunConvWithFallback(g, p, ops));
      if (kind_ == ConvKind::kBackpropFilter) {
        RETURN_IF_ERROR(TransposeFilter(g, p, filt, out, false));
      }
      return absl::OkStatus();
    };

    // KRSC first; KCRS when no algorithm takes KRSC (remembered per problem).
    ConvPlan krsc = plan, kcrs = plan;
    krsc.kcrs = false;
    kcrs.kcrs = true;
    const ConvDirection dir = forward                             ? ConvDirection::kForward
                              : kind_ == ConvKind::kBackpropInput ? ConvDirection::kBackwardData
                                                                  : ConvDirection::kBackwardFilter;
    const std::vector<int64_t> krsc_key = ConvAlgoKey(dir, g.device()->ordinal(), krsc);
    {
      // cuDNN handles are not safe for concurrent use: one library call sequence at a time.
      std::lock_guard<std::mutex> lock(g.device()->library_mutex());
      // The fused call first, with either filter layout (each one's failure is remembered).
      for (const ConvPlan* fp : {&krsc, &kcrs}) {
        if (!try_fused || fused_done || FusedDeclinedFor(g, *fp, fused_act_.act)) continue;
        Descriptors ds;
        if (!MakeDescriptors(ctx, *fp, &ds).ok()) continue;  // the plain path reports it
        RETURN_IF_ERROR(TransposeFilter(g, *fp, w_tf, filt, true));
        ASSIGN_OR_RETURN(fused_done,
                         TryFusedConv(g, h, *fp, &ds, fused_act_.act, x, filt, fused_bias, out));
      }
      int known = 0;
      if (fused_done) {
        // y holds the result, bias and activation included.
      } else if (KcrsCache().Lookup(krsc_key, &known)) {
        RETURN_IF_ERROR(run(kcrs));
      } else {
        const absl::Status first = run(krsc);
        if (!first.ok()) {
          const absl::Status second = run(kcrs);
          if (!second.ok()) {
            return absl::Status(
                second.code(),
                absl::StrCat(first.message(), "; then with a KCRS filter: ", second.message()));
          }
          KcrsCache().Store(krsc_key, 1);
        }
      }
    }
    if (kind_ == ConvKind::kFusedForward && !fused_done) {  // bias (+ act): our kernels
      RETURN_IF_ERROR(ApplyBiasAct(g, fused_act_, out, out_count, d.oc, 2));
    }
    if (kind_ == ConvKind::kBackpropInput && plan.explicit_pad) {
      RETURN_IF_ERROR(PadCopy(g, plan, dxp, out, true));
    }
    return g.Finish();
  }

 private:
  ConvKind kind_;
  onednn::WindowAttrs window_;
  FusedBiasAct fused_act_;
};

// ---- pooling -----------------------------------------------------------------------------------

class PoolGpuOp : public OpKernel {
 public:
  PoolGpuOp(bool is_max, bool grad) : is_max_(is_max), grad_(grad) {}
  absl::Status Init(OpKernelConstruction& c) { return onednn::ParseWindowAttrs(c, &window_); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    // The CPU kernels' checks and messages (onednn_util.h).
    std::vector<int64_t> in_shape;
    index::PoolGeometry geo;
    int64_t pad_b = 0, pad_r = 0;
    if (!grad_) {
      RETURN_IF_ERROR(RequireFloat(ctx, 0));
      ASSIGN_OR_RETURN(
          geo, onednn::PoolForwardGeometry(ctx, window_, ctx.input(0),
                                           is_max_ ? "MaxPool" : "AvgPool", &pad_b, &pad_r));
      in_shape = ShapeOf(ctx.input(0));
    } else if (is_max_) {
      RETURN_IF_ERROR(RequireFloat(ctx, 0));
      ASSIGN_OR_RETURN(
          geo, onednn::MaxPoolGradGeometry(ctx, window_, ctx.input(0), ctx.input(1), ctx.input(2)));
      in_shape = ShapeOf(ctx.input(0));
    } else {
      ASSIGN_OR_RETURN(in_shape, GpuHostInts(ctx, 0, "orig_input_shape"));
      ASSIGN_OR_RETURN(geo, onednn::AvgPoolGradGeometry(ctx, window_, in_shape, ctx.input(1)));
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    if (!grad_) {
      ASSIGN_OR_RETURN(const float* x, g.InAs<float>(0));
      ASSIGN_OR_RETURN(float* y, g.OutAs<float>(0, TensorShape{geo.n, geo.oh, geo.ow, geo.c}));
      if (UseCudnnPaths()) {  // cudnn_paths.h lists the problems it leaves to our kernel
        ASSIGN_OR_RETURN(bool done, TryCudnnPoolForward(g, is_max_, geo, pad_b, pad_r, x, y));
        if (done) return g.Finish();
      }
      RETURN_IF_ERROR(g.Check(LaunchPool(is_max_, x, y, geo, g.stream()), "pool"));
      return g.Finish();
    }
    // The gradients stay on our kernels: MaxPoolGrad must route each window's gradient to its
    // first maximum (row-major), as the CPU does, and cuDNN's pooling backward promises no
    // tie-breaking rule; cudnnPoolingBackward also takes the forward x and y, which
    // AvgPoolGrad does not get.
    const int dy_input = is_max_ ? 2 : 1;
    const float* x = nullptr;
    if (is_max_) {
      ASSIGN_OR_RETURN(x, g.InAs<float>(0));
    }
    ASSIGN_OR_RETURN(const float* dy, g.InAs<float>(dy_input));
    ASSIGN_OR_RETURN(float* dx, g.OutAs<float>(0, TensorShape(in_shape)));
    RETURN_IF_ERROR(g.Check(LaunchPoolGrad(is_max_, x, dy, dx, geo, g.stream()), "pool grad"));
    return g.Finish();
  }

 private:
  bool is_max_, grad_;
  onednn::WindowAttrs window_;
};

template <typename K, typename... Args>
KernelFactory InitWith(Args... args) {
  return [args...](OpKernelConstruction& c) -> KernelOrError {
    auto k = std::make_unique<K>(args...);
    RETURN_IF_ERROR(k->Init(c));
    return std::unique_ptr<OpKernel>(std::move(k));
  };
}

KernelDef F(const char* op) { return KernelDef(op, kGpu).TypeConstraint("T", {DT_FLOAT}); }

const bool registered = [] {
  RegisterGpuKernel(F("MatMul"), InitWith<MatMulGpuOp>(false));
  RegisterGpuKernel(F("_FusedMatMul"), InitWith<MatMulGpuOp>(true));
  RegisterGpuKernel(F("BatchMatMul"), InitWith<BatchMatMulGpuOp>(false));
  RegisterGpuKernel(F("BatchMatMulV2"), InitWith<BatchMatMulGpuOp>(true));
  RegisterGpuKernel(F("Conv2D"), InitWith<ConvGpuOp>(ConvKind::kForward));
  RegisterGpuKernel(F("_FusedConv2D"), InitWith<ConvGpuOp>(ConvKind::kFusedForward));
  RegisterGpuKernel(F("DepthwiseConv2dNative"), InitWith<ConvGpuOp>(ConvKind::kDepthwiseForward));
  RegisterGpuKernel(F("Conv2DBackpropInput").HostMemory("input_sizes"),
                    InitWith<ConvGpuOp>(ConvKind::kBackpropInput));
  RegisterGpuKernel(F("Conv2DBackpropFilter").HostMemory("filter_sizes"),
                    InitWith<ConvGpuOp>(ConvKind::kBackpropFilter));
  RegisterGpuKernel(F("MaxPool"), InitWith<PoolGpuOp>(true, false));
  RegisterGpuKernel(F("AvgPool"), InitWith<PoolGpuOp>(false, false));
  RegisterGpuKernel(F("MaxPoolGrad"), InitWith<PoolGpuOp>(true, true));
  RegisterGpuKernel(F("AvgPoolGrad").HostMemory("orig_input_shape"),
                    InitWith<PoolGpuOp>(false, true));
  return true;
}();

}  // namespace

int64_t CudnnFusedConvHitsForTesting() { return FusedConvHits().load(std::memory_order_relaxed); }

}  // namespace cuda
}  // namespace quiver
