// Shared plumbing for the oneDNN-backed CPU kernels: one process-wide CPU engine, one stream
// per thread, a thread-safe LRU cache of primitives keyed by shapes, exception-to-Status
// conversion, and the small GEMM/convolution helpers that more than one kernel file needs.
//
// Kernels' Compute is const and runs on several threads at once, so a cached primitive runs
// on any executor thread, concurrently. oneDNN's default (library-managed) scratchpad is one
// buffer shared by all primitives, safe only when a primitive runs on the thread that created
// it: measured, 10 wrong results in 8,000 concurrent runs of a MatMul + Add graph. So every
// primitive is created with ScratchpadAttr() (user-managed scratchpad) and run through
// Execute(), which hands it a buffer private to the calling thread. Only the cache needs a lock.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devices/common/index_helpers.h"
#include "devices/kernel.h"
#include "graph/mutex.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace quiver {
namespace onednn {

using Dims = dnnl::memory::dims;

dnnl::engine& CpuEngine();
// A stream for the calling thread; streams are not thread-safe, so each thread gets its own.
dnnl::stream& ThreadStream();

// `attr` with a user-managed scratchpad: pass it to every primitive_desc (see the top).
dnnl::primitive_attr ScratchpadAttr(dnnl::primitive_attr attr = dnnl::primitive_attr());
// Runs `prim` on `stream` (and waits), adding DNNL_ARG_SCRATCHPAD from a buffer private to the
// calling thread when the primitive needs one. Throws like primitive::execute.
void Execute(const dnnl::primitive& prim, dnnl::stream& stream,
             std::unordered_map<int, dnnl::memory> args);
// A reorder from `from` to `to` (made with ScratchpadAttr), run through Execute.
void Reorder(const dnnl::reorder& reorder, dnnl::stream& stream, const dnnl::memory& from,
             const dnnl::memory& to);

// ---- OpenMP threads per primitive ----------------------------------------------------------

// Primitives with less work than this (FLOPs, or element visits x kWorkPerElementVisit for
// pooling and normalisation) run on one OpenMP thread. A parallel region costs a few microseconds
// on an idle machine, most of what a second thread saves on such a primitive, and on a loaded one
// each region can wait a whole scheduler time slice for its second thread (measured: a
// 784-512-256-10 MLP at batch 1 took 24 ms instead of 0.02 ms with 2 threads on a busy 2-vCPU
// machine).
inline constexpr double kSerialWork = 8e6;
// What one element visit of a memory-bound primitive (pooling, normalisation) counts as in
// that work measure: ~32 FLOPs of GEMM take as long as streaming one float on one core
// (about 250 GFLOP/s against 25-30 GB/s here). Measured: a 2x2 MaxPool over
// 256x28x28x32 floats (6.4M visits) took 1.2 ms on one thread, 0.xx ms on two.
inline constexpr double kWorkPerElementVisit = 32;

// 1 below kSerialWork, or when the machine is oversubscribed; else the calling thread's
// OpenMP setting.
int ThreadsForWork(double work);

// Whether runnable work exceeds the CPUs: the 1-minute load average above 1.5x the online
// CPUs (re-read at most every 250 ms). OpenMP's barriers wait for every team thread, so on
// an oversubscribed machine each parallel region can wait a time slice for a descheduled
// thread (measured: a CNN training step 7x slower with 2 threads than with 1 at load 9 on 2
// vCPUs). This is OpenMP's own dynamic adjustment (OMP_DYNAMIC, which libgomp also bases on
// the load average), decided before a primitive is created because oneDNN primitives must
// run with the thread count they were made for. Off by default (it makes
// results depend on the load); QUIVER_ADAPTIVE_THREADS=1 turns it on.
bool MachineOversubscribed();

// Sets the calling thread's OpenMP thread count for the scope (oneDNN reads it both when it
// creates a primitive and when it runs one, so a primitive must be created and run under the
// same count: put threads() in its cache key), then restores it.
class ScopedThreads {
 public:
  explicit ScopedThreads(int n);
  ~ScopedThreads();
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;
  int threads() const { return threads_; }

 private:
  int previous_, threads_;
};

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
    MutexLock lock(&mu_);
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
  mutable Mutex mu_;
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

// The dims of MatMul / _FusedMatMul (every device) of 2-D `a` and `b`: checks ranks and the
// inner dimensions (MatMul's message also shows the transposes, _FusedMatMul's does not).
absl::StatusOr<BatchMatMulDims> MatMulDims(const OpKernelContext& ctx, const Tensor& a,
                                           const Tensor& b, bool transpose_a, bool transpose_b,
                                           bool fused);
// The dims of BatchMatMul (`broadcast` false: equal ranks and batch dims) and BatchMatMulV2
// (batch dims broadcast) on every device; `out_shape` gets the output's shape.
absl::StatusOr<BatchMatMulDims> BatchMatMulShape(const OpKernelContext& ctx, const Tensor& x,
                                                 const Tensor& y, bool adj_x, bool adj_y,
                                                 bool broadcast, TensorShape* out_shape);
// A fused bias (_FusedMatMul, _FusedConv2D, every device) must be [n].
absl::Status CheckFusedBias(const OpKernelContext& ctx, const Tensor& bias, int64_t n);

// float32 through the oneDNN matmul primitive (process-wide primitive cache).
absl::Status MatMulF32(const OpKernelContext& ctx, const BatchMatMulDims& d, const float* a,
                       const float* b, float* c);
// A float32 2-D matmul C[M,N] = op(A) x op(B) whose B is a constant (a frozen graph's
// weights): B is reordered once, per M, into the blocked layout oneDNN's kernel wants and kept,
// instead of being repacked by the primitive on every call (measured: the 3136x1024 layer of
// the MNIST CNN at batch 1 took 3x TensorFlow's time, which caches its packed weights too).
// The kernel owning one must only feed it the same constant B; a different pointer repacks.
// Thread-safe; the packings of the last kMaxShapes batch sizes are kept (batch sizes whose
// kernels want the same layout share one copy).
// With `bias` (length N) and `act` it is _FusedMatMul's C = act(op(A) x op(B) + bias); one
// instance must always be called with or always without them.
struct FusedActivation;
class PackedConstMatMul {
 public:
  absl::Status Run(const OpKernelContext& ctx, const BatchMatMulDims& d, const float* a,
                   const float* b, float* c, const float* bias = nullptr,
                   const FusedActivation* act = nullptr) const;

 private:
  static constexpr size_t kMaxShapes = 8;
  struct Entry;
  mutable Mutex mu_;
  mutable std::vector<std::shared_ptr<const Entry>> entries_;
};

// Whether input `i` of the node is a constant: a Const, possibly behind Identity/Snapshot
// nodes (frozen TF graphs read every constant through an Identity).
bool InputIsConstant(const Node& node, int i);

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
// The dims of a Conv2D of NHWC `input` dims and HWIO `filter` dims (4 each, non-negative):
// checks that the input depth is the filter's in_channels or a multiple of it that also divides
// out_channels (groups), then ComputeConvOutput. Shared by the forward and gradient kernels
// of every device, so all accept the same shapes with the same messages.
absl::StatusOr<ConvDims> GroupedConvDims(const OpKernelContext& ctx, const WindowAttrs& w,
                                         const std::vector<int64_t>& input,
                                         const std::vector<int64_t>& filter);
// The dims of Conv2D (and _FusedConv2D) on an NHWC `input` and HWIO `filter`: checks ranks,
// then GroupedConvDims.
absl::StatusOr<ConvDims> Conv2DDims(const OpKernelContext& ctx, const WindowAttrs& w,
                                    const Tensor& input, const Tensor& filter);
// The dims of Conv2DBackpropInput (every device): `input_sizes` holds 4 dims or TF's 2
// spatial ones (then completed to 4 from out_backprop's batch and the filter's in_channels);
// checks ranks, non-negative sizes, GroupedConvDims, and that `out_backprop` has the forward
// output's shape.
absl::StatusOr<ConvDims> ConvBackpropInputDims(const OpKernelContext& ctx, const WindowAttrs& w,
                                               std::vector<int64_t>* input_sizes,
                                               const Tensor& filter, const Tensor& out_backprop);
// The dims of Conv2DBackpropFilter (every device): as ConvBackpropInputDims, with 4
// `filter_sizes`.
absl::StatusOr<ConvDims> ConvBackpropFilterDims(const OpKernelContext& ctx, const WindowAttrs& w,
                                                const Tensor& input,
                                                const std::vector<int64_t>& filter_sizes,
                                                const Tensor& out_backprop);
// The dims of DepthwiseConv2dNative (CPU and GPU): NHWC input, filter [KH, KW, C, M], a grouped
// convolution with C groups and C*M output channels.
absl::StatusOr<ConvDims> DepthwiseConv2DDims(const OpKernelContext& ctx, const WindowAttrs& w,
                                             const Tensor& input, const Tensor& filter);
// The window of MaxPool / AvgPool (`op`) over `input` (every device): checks that it is 4-D
// (NHWC) and that the window fits; *pad_b / *pad_r get the bottom/right padding, which
// PoolGeometry does not hold.
absl::StatusOr<index::PoolGeometry> PoolForwardGeometry(const OpKernelContext& ctx,
                                                        const WindowAttrs& w, const Tensor& input,
                                                        const char* op, int64_t* pad_b,
                                                        int64_t* pad_r);
// The window of MaxPoolGrad (every device): orig_input is 4-D, the window fits, and
// orig_output and grad have the pooled shape.
absl::StatusOr<index::PoolGeometry> MaxPoolGradGeometry(const OpKernelContext& ctx,
                                                        const WindowAttrs& w,
                                                        const Tensor& orig_input,
                                                        const Tensor& orig_output,
                                                        const Tensor& grad);
// The window of AvgPoolGrad (every device): orig_input_shape has 4 non-negative elements, grad
// is 4-D with the pooled shape, and the window fits.
absl::StatusOr<index::PoolGeometry> AvgPoolGradGeometry(
    const OpKernelContext& ctx, const WindowAttrs& w, const std::vector<int64_t>& orig_input_shape,
    const Tensor& grad);

// The multiply-adds x 2 of the convolution (its ThreadsForWork measure; the same for its
// gradients).
double ConvFlops(const ConvDims& d);
// A primitive-cache key: the shape and the OpenMP threads a primitive is made (and must run)
// with.
std::vector<int64_t> ConvKey(const ConvDims& d, int threads);

// oneDNN descriptors of a convolution (forward, fused or backward) on NHWC activations and TF's
// HWIO filter (user_weights reads it in place through strides; any_weights lets oneDNN pick
// its blocked layout, which enables its JIT kernels: reordering the small filter each call is
// cheaper than the GEMM fallback plain HWIO forces), and the window as oneDNN takes it.
struct ConvLayout {
  dnnl::memory::desc src, dst, user_weights, any_weights;
  Dims strides, dilates, pad_l, pad_r;
};
ConvLayout MakeConvLayout(const ConvDims& d);
// A reorder from `from` to `to` (made with ScratchpadAttr), or an empty one when they agree.
dnnl::reorder ReorderIfNeeded(const dnnl::memory::desc& from, const dnnl::memory::desc& to);
// The memory a primitive reads its weights from: `user` (over `data`) itself when `reorder`
// is empty, else a fresh `want` memory that `reorder` fills from it on `stream`.
dnnl::memory WeightsFor(const dnnl::reorder& reorder, const dnnl::memory::desc& user,
                        const dnnl::memory::desc& want, const float* data, dnnl::stream& stream);

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
  std::string name;  // the activation's op name when present (Relu, Relu6, Elu, Tanh, Sigmoid)
  dnnl::algorithm alg = dnnl::algorithm::eltwise_relu;
  float alpha = 0.f, beta = 0.f;
};
// fused_ops must be ["BiasAdd"] or ["BiasAdd", <activation>] with one arg (the bias).
absl::StatusOr<FusedActivation> ParseFusedBiasActivation(const OpKernelConstruction& c);

}  // namespace onednn
}  // namespace quiver
