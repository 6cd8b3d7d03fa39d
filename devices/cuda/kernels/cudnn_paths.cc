#include "devices/cuda/kernels/cudnn_paths.h"

#include <cudnn.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

std::atomic<bool>& Switch() {
  static std::atomic<bool> on{[] {
    const char* e = std::getenv("QUIVER_GPU_CUDNN_OPS");
    if (e == nullptr) return true;
    const std::string v(e);
    return !(v == "0" || v == "false" || v == "off");
  }()};
  return on;
}

std::atomic<int64_t>& Hits() {
  static std::atomic<int64_t> hits{0};
  return hits;
}

// The first element of a problem key.
enum class Kind : int64_t {
  kHandle = 0,  // no cuDNN handle on this GPU
  kMaxPool,
  kAvgPool,
  kSoftmax,
  kLogSoftmax,
  kBatchNormNhwc,
  kBatchNormNchw,
};

// Problems cuDNN failed (or declined) at run time: later steps go straight to our kernels.
class FailedProblems {
 public:
  bool Contains(const std::vector<int64_t>& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return set_.count(key) > 0;
  }
  // True when `key` was not there yet.
  bool Add(const std::vector<int64_t>& key) {
    std::lock_guard<std::mutex> lock(mu_);
    if (set_.size() >= 4096) set_.clear();  // a bound for shape-churning programs
    return set_.insert(key).second;
  }

 private:
  std::mutex mu_;
  std::set<std::vector<int64_t>> set_;
};
FailedProblems& Failed() {
  static FailedProblems* f = new FailedProblems;  // leaked: used by kernels until exit
  return *f;
}

// True when every factor is positive and their product fits int (cuDNN's sizes and strides).
bool PositiveProductFitsInt(std::initializer_list<int64_t> factors) {
  int64_t p = 1;
  for (int64_t f : factors) {
    if (f <= 0 || f > INT_MAX) return false;
    p *= f;  // both <= INT_MAX: no int64 overflow
    if (p > INT_MAX) return false;
  }
  return true;
}

int I(int64_t v) { return static_cast<int>(v); }

struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  ~TensorDesc() {
    if (d != nullptr) cudnnDestroyTensorDescriptor(d);
  }
};
struct PoolDesc {
  cudnnPoolingDescriptor_t d = nullptr;
  ~PoolDesc() {
    if (d != nullptr) cudnnDestroyPoolingDescriptor(d);
  }
};

// What a cuDNN call sequence did: SUCCESS, a failure (status and the call's name), or
// `decline`: cuDNN would compute something other than TF's result (not an error).
struct Outcome {
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const char* what = "";
  bool decline = false;
};
#define QUIVER_CUDNN_TRY(call)                  \
  do {                                          \
    const cudnnStatus_t quiver_st_ = (call);    \
    if (quiver_st_ != CUDNN_STATUS_SUCCESS) {   \
      return Outcome{quiver_st_, #call, false}; \
    }                                           \
  } while (0)

void Report(GpuScope& g, const std::string& what) {
  std::fprintf(stderr,
               "quiver: node '%s' (%s): %s; running our CUDA kernel for this problem instead\n",
               g.ctx().node().name().c_str(), g.ctx().node().op().c_str(), what.c_str());
}

// Runs `body` (the cuDNN calls) under the device's library mutex for the problem `key` (Kind,
// then its sizes; the GPU ordinal is added here). True when it succeeded; false, with the
// problem remembered, when cuDNN is unavailable, failed or declined.
absl::StatusOr<bool> RunCudnn(GpuScope& g, Kind kind, std::vector<int64_t> key,
                              const std::function<Outcome(cudnnHandle_t)>& body) {
  const int64_t ordinal = g.device()->ordinal();
  key.insert(key.begin(), {static_cast<int64_t>(kind), ordinal});
  const std::vector<int64_t> handle_key = {static_cast<int64_t>(Kind::kHandle), ordinal};
  if (Failed().Contains(handle_key) || Failed().Contains(key)) return false;
  absl::StatusOr<cudnnHandle_t> h = g.device()->cudnn();
  if (!h.ok()) {
    if (Failed().Add(handle_key)) Report(g, std::string(h.status().message()));
    return false;
  }
  Outcome out;
  {
    // cuDNN handles are not safe for concurrent use: one call sequence at a time.
    std::lock_guard<std::mutex> lock(g.device()->library_mutex());
    // Launch errors are per thread and sticky until read: report one left by earlier work
    // now, so that clearing a failed cuDNN call's error below cannot swallow it.
    RETURN_IF_ERROR(g.Check(cudaGetLastError(), "before a cuDNN call"));
    out = body(*h);
    if (out.status == CUDNN_STATUS_SUCCESS && !out.decline) {
      Hits().fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    const cudaError_t launch = cudaGetLastError();  // clear what a failed launch left behind
    if (out.decline) {
      Failed().Add(key);
      return false;
    }
    if (Failed().Add(key)) {
      Report(g, absl::StrCat(out.what, " failed: ", cudnnGetErrorString(out.status),
                             launch == cudaSuccess
                                 ? ""
                                 : absl::StrCat(" [CUDA: ", cudaGetErrorName(launch), "]"),
                             " (problem ", absl::StrJoin(key, ","), ")"));
    }
  }
  return false;
}

}  // namespace

bool UseCudnnPaths() { return Switch().load(std::memory_order_relaxed); }
void SetUseCudnnPathsForTesting(bool on) { Switch().store(on, std::memory_order_relaxed); }
int64_t CudnnPathHitsForTesting() { return Hits().load(std::memory_order_relaxed); }

absl::StatusOr<bool> TryCudnnPoolForward(GpuScope& g, bool is_max, const index::PoolGeometry& geo,
                                         int64_t pad_b, int64_t pad_r, const float* x, float* y) {
  // TF's SAME puts an odd extra row/column at the bottom/right; cuDNN pads symmetrically.
  if (geo.pad_t != pad_b || geo.pad_l != pad_r || geo.pad_t < 0 || geo.pad_l < 0) return false;
  // Windows wholly in padding (TF: max -FLT_MAX, average 0) are not cuDNN's to define.
  if (geo.pad_t >= geo.kh || geo.pad_l >= geo.kw) return false;
  auto positive_int = [](int64_t v) { return v > 0 && v <= INT_MAX; };
  if (!PositiveProductFitsInt({geo.n, geo.h, geo.w, geo.c}) ||
      !PositiveProductFitsInt({geo.n, geo.oh, geo.ow, geo.c}) || !positive_int(geo.kh) ||
      !positive_int(geo.kw) || !positive_int(geo.stride_h) || !positive_int(geo.stride_w)) {
    return false;  // (pad_t < kh and pad_l < kw fit int too)
  }
  const std::vector<int64_t> key = {geo.n,  geo.h,        geo.w,        geo.c,     geo.kh,
                                    geo.kw, geo.stride_h, geo.stride_w, geo.pad_t, geo.pad_l};
  return RunCudnn(g, is_max ? Kind::kMaxPool : Kind::kAvgPool, key, [&](cudnnHandle_t h) {
    TensorDesc xd, yd;
    PoolDesc pd;
    QUIVER_CUDNN_TRY(cudnnCreateTensorDescriptor(&xd.d));
    QUIVER_CUDNN_TRY(cudnnCreateTensorDescriptor(&yd.d));
    QUIVER_CUDNN_TRY(cudnnCreatePoolingDescriptor(&pd.d));
    QUIVER_CUDNN_TRY(cudnnSetTensor4dDescriptor(xd.d, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, I(geo.n),
                                                I(geo.c), I(geo.h), I(geo.w)));
    // MAX, not MAX_DETERMINISTIC: the forward pass has no ties to break. NOT_PROPAGATE_NAN:
    // as TF's GPU MaxPool and our kernel, a NaN does not replace the running maximum.
    QUIVER_CUDNN_TRY(cudnnSetPooling2dDescriptor(
        pd.d, is_max ? CUDNN_POOLING_MAX : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING,
        CUDNN_NOT_PROPAGATE_NAN, I(geo.kh), I(geo.kw), I(geo.pad_t), I(geo.pad_l), I(geo.stride_h),
        I(geo.stride_w)));
    int on = 0, oc = 0, oh = 0, ow = 0;
    QUIVER_CUDNN_TRY(cudnnGetPooling2dForwardOutputDim(pd.d, xd.d, &on, &oc, &oh, &ow));
    if (on != geo.n || oc != geo.c || oh != geo.oh || ow != geo.ow) {
      Outcome decline;
      decline.decline = true;
      return decline;
    }
    QUIVER_CUDNN_TRY(cudnnSetTensor4dDescriptor(yd.d, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, I(geo.n),
                                                I(geo.c), I(geo.oh), I(geo.ow)));
    const float one = 1.f, zero = 0.f;
    QUIVER_CUDNN_TRY(cudnnPoolingForward(h, pd.d, &one, xd.d, x, &zero, yd.d, y));
    return Outcome{};
  });
}

absl::StatusOr<bool> TryCudnnSoftmax(GpuScope& g, bool log, int64_t rows, int64_t cols,
                                     const float* x, float* y) {
  if (!PositiveProductFitsInt({rows, cols})) return false;
  return RunCudnn(g, log ? Kind::kLogSoftmax : Kind::kSoftmax, {rows, cols}, [&](cudnnHandle_t h) {
    TensorDesc d;
    QUIVER_CUDNN_TRY(cudnnCreateTensorDescriptor(&d.d));
    // INSTANCE mode normalises each n over C*H*W = cols values.
    QUIVER_CUDNN_TRY(cudnnSetTensor4dDescriptor(d.d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, I(rows),
                                                I(cols), 1, 1));
    const float one = 1.f, zero = 0.f;
    QUIVER_CUDNN_TRY(cudnnSoftmaxForward(h, log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
                                         CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.d, x, &zero, d.d, y));
    return Outcome{};
  });
}

absl::StatusOr<bool> TryCudnnBatchNormInference(GpuScope& g, bool channels_first,
                                                const std::vector<int64_t>& x_dims, float epsilon,
                                                const float* x, const float* scale,
                                                const float* offset, const float* mean,
                                                const float* variance, float* y) {
  if (x_dims.size() != 4) return false;  // 5-D formats: our kernel
  if (!PositiveProductFitsInt({x_dims[0], x_dims[1], x_dims[2], x_dims[3]})) return false;
  if (!(static_cast<double>(epsilon) >= CUDNN_BN_MIN_EPSILON)) return false;
  const int64_t n = x_dims[0];
  const int64_t c = channels_first ? x_dims[1] : x_dims[3];
  const int64_t h = channels_first ? x_dims[2] : x_dims[1];
  const int64_t w = channels_first ? x_dims[3] : x_dims[2];
  // epsilon is part of the problem (by its bits): cuDNN may reject some values.
  uint32_t eps_bits = 0;
  std::memcpy(&eps_bits, &epsilon, sizeof(eps_bits));
  return RunCudnn(
      g, channels_first ? Kind::kBatchNormNchw : Kind::kBatchNormNhwc, {n, c, h, w, eps_bits},
      [&](cudnnHandle_t handle) {
        TensorDesc xd, bd;
        QUIVER_CUDNN_TRY(cudnnCreateTensorDescriptor(&xd.d));
        QUIVER_CUDNN_TRY(cudnnCreateTensorDescriptor(&bd.d));
        QUIVER_CUDNN_TRY(
            cudnnSetTensor4dDescriptor(xd.d, channels_first ? CUDNN_TENSOR_NCHW : CUDNN_TENSOR_NHWC,
                                       CUDNN_DATA_FLOAT, I(n), I(c), I(h), I(w)));
        // [1, C, 1, 1]: one scale/offset/mean/variance per channel.
        QUIVER_CUDNN_TRY(cudnnDeriveBNTensorDescriptor(bd.d, xd.d, CUDNN_BATCHNORM_SPATIAL));
        const float one = 1.f, zero = 0.f;
        QUIVER_CUDNN_TRY(cudnnBatchNormalizationForwardInference(
            handle, CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd.d, x, xd.d, y, bd.d, scale, offset,
            mean, variance, static_cast<double>(epsilon)));
        return Outcome{};
      });
}

#undef QUIVER_CUDNN_TRY

}  // namespace cuda
}  // namespace quiver
