// Shared plumbing for the oneDNN-backed CPU kernels: one process-wide CPU engine, one stream
// per thread, a thread-safe LRU cache of primitives keyed by shapes, exception-to-Status
// conversion, and the small GEMM/convolution helpers that more than one kernel file needs.
//
// Kernels' Compute is const and runs on several threads at once. oneDNN primitives may be
// executed concurrently (their library-mode scratchpad is thread-local), so a cached primitive
// is shared freely; only the cache itself needs a lock.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "devices/kernel.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace quiver {
namespace onednn {

using Dims = dnnl::memory::dims;

dnnl::engine& CpuEngine();
// A stream for the calling thread; streams are not thread-safe, so each thread gets its own.
dnnl::stream& ThreadStream();

// Row-major strides for dims.
Dims ContiguousStrides(const Dims& dims);
// A plain (strided) f32 memory descriptor.
inline dnnl::memory::desc StridedDesc(const Dims& dims, const Dims& strides,
                                      dnnl::memory::data_type dt = dnnl::memory::data_type::f32) {
  return dnnl::memory::desc(dims, dt, strides);
}

// Runs `fn` and turns oneDNN (or allocation) exceptions into an error that names the node.
template <typename F>
absl::Status Guard(const OpKernelContext& ctx, const char* what, F&& fn) {
  try {
    return fn();
  } catch (const dnnl::error& e) {
    return ctx.Error(std::string("oneDNN ") + what + " failed: " + e.what());
  } catch (const std::exception& e) {
    return ctx.Error(std::string(what) + " failed: " + e.what());
  }
}

// A bounded, thread-safe LRU map from a shape key to an immutable entry (a primitive and the
// descriptors it needs). Entries are shared_ptr so an evicted entry stays alive while another
// thread still executes it.
template <typename Entry>
class PrimitiveCache {
 public:
  using Key = std::vector<int64_t>;
  explicit PrimitiveCache(size_t capacity = 32) : capacity_(capacity) {}

  // Returns the entry for `key`, building it with `make()` (a function returning Entry) on a
  // miss. `make` may throw dnnl::error; nothing is cached then. Building happens under the
  // lock so concurrent first calls with one shape create the primitive once.
  template <typename Make>
  std::shared_ptr<const Entry> GetOrCreate(const Key& key, Make&& make) const {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);  // most recently used first
      return it->second->second;
    }
    auto entry = std::make_shared<const Entry>(make());
    lru_.emplace_front(key, entry);
    index_[key] = lru_.begin();
    if (lru_.size() > capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return entry;
  }

 private:
  using List = std::list<std::pair<Key, std::shared_ptr<const Entry>>>;
  const size_t capacity_;
  mutable absl::Mutex mu_;
  mutable List lru_;
  mutable absl::flat_hash_map<Key, typename List::iterator> index_;
};

// ---- matrix multiplication ------------------------------------------------------------------

// A batched product C[b] = op(A[b]) x op(B[b]) where the batch dims broadcast NumPy-style.
// A is stored row-major as [a_batch..., M, K] (or [.., K, M] when transpose_a), B likewise,
// C is contiguous [out_batch..., M, N]. The three batch vectors have equal length.
struct BatchMatMulDims {
  std::vector<int64_t> a_batch, b_batch, out_batch;
  int64_t m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
};

// float32 through the oneDNN matmul primitive (process-wide primitive cache).
absl::Status MatMulF32(const OpKernelContext& ctx, const BatchMatMulDims& d, const float* a,
                       const float* b, float* c);
// Other dtypes through Eigen's GEMM, one batch at a time. T: double, int32_t, int64_t.
template <typename T>
void MatMulGeneric(const BatchMatMulDims& d, const T* a, const T* b, T* c);

// ---- convolution and pooling windows --------------------------------------------------------

// TF's output size and padding for one spatial dim. padding is "SAME", "VALID" or "EXPLICIT"
// (then *pad_before / *pad_after are inputs). Returns false when the output would be negative.
// SAME pads (out-1)*stride + effective_k - in in total, the smaller half before, as TF does.
bool ComputeWindow(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                   const std::string& padding, int64_t* out, int64_t* pad_before,
                   int64_t* pad_after);

// The NHWC window attrs of Conv2D, DepthwiseConv2dNative, MaxPool and AvgPool.
struct WindowAttrs {
  int64_t ksize_h = 1, ksize_w = 1;  // pools only; convs take them from the filter
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  std::string padding;
  int64_t explicit_pads[4] = {0, 0, 0, 0};  // top, bottom, left, right (EXPLICIT only)
};
// Reads and checks strides, padding, explicit_paddings, data_format (NHWC only on the CPU),
// and, when present in the op, dilations and ksize.
absl::Status ParseWindowAttrs(const OpKernelConstruction& c, WindowAttrs* w);

// A 2-D NHWC convolution, possibly grouped. The filter is TF's [KH, KW, C/G, OC] layout, which
// with G = C is also DepthwiseConv2dNative's [KH, KW, C, M] (OC = C*M).
struct ConvDims {
  int64_t n = 0, h = 0, w = 0, c = 0;  // input
  int64_t kh = 0, kw = 0, oc = 0, groups = 1;
  int64_t oh = 0, ow = 0;  // output
  int64_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_t = 0, pad_b = 0, pad_l = 0, pad_r = 0;
};
// Fills the output size and padding of `d` (input and filter sizes set) from `w`; an error
// names the input when the window does not fit.
absl::Status ComputeConvOutput(const OpKernelContext& ctx, const WindowAttrs& w, ConvDims* d);

// float32 through oneDNN (cached primitive per shape in `cache`, owned by the kernel).
struct ConvEntry;
using ConvCache = PrimitiveCache<ConvEntry>;
absl::Status ConvF32(const OpKernelContext& ctx, const ConvCache& cache, const ConvDims& d,
                     const float* input, const float* filter, float* output);
// Direct loops (float64; also a reference for float). T: float, double.
template <typename T>
void ConvGeneric(const ConvDims& d, const T* input, const T* filter, T* output);

// The bias + activation of a _FusedMatMul/_FusedConv2D node, as a oneDNN eltwise post-op.
struct FusedActivation {
  bool present = false;
  dnnl::algorithm alg = dnnl::algorithm::eltwise_relu;
  float alpha = 0.f, beta = 0.f;
};
// fused_ops must be ["BiasAdd"] or ["BiasAdd", <activation>] with one arg (the bias).
absl::StatusOr<FusedActivation> ParseFusedBiasActivation(const OpKernelConstruction& c);

}  // namespace onednn
}  // namespace quiver
