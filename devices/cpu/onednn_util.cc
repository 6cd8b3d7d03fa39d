#include "devices/cpu/onednn_util.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <unordered_map>

#include <Eigen/Core>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/status_macros.h"

namespace quiver {
namespace onednn {

dnnl::engine& CpuEngine() {
  static dnnl::engine* engine = [] {
    // Every primitive Quiver makes lives in one of its own PrimitiveCaches (keyed by shape and
    // thread count), so oneDNN's process-wide cache only doubled the memory. Turning it off
    // also means each primitive is created by one thread and published to others under our
    // cache's mutex; oneDNN's cache hands primitives between threads through synchronisation
    // inside libdnnl, which ThreadSanitizer cannot see.
    dnnl::set_primitive_cache_capacity(0);
    return new dnnl::engine(dnnl::engine::kind::cpu, 0);  // never freed: kernels may run
  }();                                                    // during static destruction
  return *engine;
}

dnnl::stream& ThreadStream() {
  thread_local dnnl::stream stream(CpuEngine());
  return stream;
}

dnnl::primitive_attr ScratchpadAttr(dnnl::primitive_attr attr) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

namespace {
// The calling thread's scratchpad: grows to the largest request, lives as long as the thread.
// One kernel runs at a time per thread and its primitives run one after another, so one
// buffer per thread is never used by two executions at once.
void* ThreadScratchpad(size_t bytes) {
  struct Scratch {
    void* data = nullptr;
    size_t size = 0;
    ~Scratch() { std::free(data); }
  };
  thread_local Scratch scratch;
  if (bytes > scratch.size) {
    const size_t rounded = (bytes + 4095) / 4096 * 4096;
    void* grown = std::aligned_alloc(4096, rounded);
    if (grown == nullptr) throw std::bad_alloc();
    std::free(scratch.data);
    scratch.data = grown;
    scratch.size = rounded;
  }
  return scratch.data;
}
}  // namespace

void Execute(const dnnl::primitive& prim, dnnl::stream& stream,
             std::unordered_map<int, dnnl::memory> args) {
  const dnnl_memory_desc_t* md =
      dnnl_primitive_desc_query_md(prim.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  if (md != nullptr) {
    const dnnl::memory::desc scratch_desc(*md);
    const size_t bytes = scratch_desc.get_size();
    if (bytes > 0) {
      args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(scratch_desc, CpuEngine(), ThreadScratchpad(bytes));
    }
  }
  prim.execute(stream, args);
  stream.wait();
}

void Reorder(const dnnl::reorder& reorder, dnnl::stream& stream, const dnnl::memory& from,
             const dnnl::memory& to) {
  Execute(reorder, stream, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

bool MachineOversubscribed() {
  static const bool enabled = [] {
    // Opt-in: the thread count changes oneDNN's summation order, so with it on, results
    // depend on the machine's load (two runs of one graph may differ in the last bits).
    const char* env = std::getenv("QUIVER_ADAPTIVE_THREADS");
    return env != nullptr && std::string(env) == "1";
  }();
  if (!enabled) return false;
  static std::atomic<int64_t> next_check_ns{0};
  static std::atomic<bool> oversubscribed{false};
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t next = next_check_ns.load(std::memory_order_relaxed);
  if (now >= next && next_check_ns.compare_exchange_strong(next, now + 250'000'000)) {
    double load = 0;
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (getloadavg(&load, 1) == 1 && cpus > 0) {
      oversubscribed.store(load > 1.5 * static_cast<double>(cpus), std::memory_order_relaxed);
    }
  }
  return oversubscribed.load(std::memory_order_relaxed);
}

int ThreadsForWork(double work) {
  const int threads = omp_get_max_threads();
  if (threads <= 1 || work < kSerialWork || MachineOversubscribed()) return 1;
  return threads;
}

ScopedThreads::ScopedThreads(int n) : previous_(omp_get_max_threads()), threads_(n) {
  if (threads_ != previous_) omp_set_num_threads(threads_);
}

ScopedThreads::~ScopedThreads() {
  if (threads_ != previous_) omp_set_num_threads(previous_);
}

Dims ContiguousStrides(const Dims& dims) {
  Dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * std::max<int64_t>(dims[i + 1], 1);
  }
  return strides;
}

namespace {

// One batch dim after collapsing: adjacent dims that broadcast the same way are merged, dims
// of size 1 in the output are dropped. A common [B,M,K] x [K,N] thus becomes one dim.
struct CollapsedDim {
  int64_t size;
  bool a_full, b_full;  // false: the operand broadcasts (size 1) along this dim
};

std::vector<CollapsedDim> CollapseBatch(const BatchMatMulDims& d) {
  std::vector<CollapsedDim> dims;
  for (size_t i = 0; i < d.out_batch.size(); ++i) {
    if (d.out_batch[i] == 1) continue;
    const bool a_full = d.a_batch[i] != 1, b_full = d.b_batch[i] != 1;
    if (!dims.empty() && dims.back().a_full == a_full && dims.back().b_full == b_full) {
      dims.back().size *= d.out_batch[i];
    } else {
      dims.push_back({d.out_batch[i], a_full, b_full});
    }
  }
  return dims;
}

// Batch strides (in elements) of an operand over the collapsed dims.
std::vector<int64_t> BatchStrides(const std::vector<CollapsedDim>& dims, bool a, int64_t matrix) {
  std::vector<int64_t> strides(dims.size());
  int64_t s = matrix;
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    if (a ? dims[i].a_full : dims[i].b_full) s *= dims[i].size;
  }
  return strides;
}

struct MatMulEntry {
  dnnl::memory::desc a, b, c;
  dnnl::matmul prim;
};

}  // namespace

absl::Status MatMulF32(const OpKernelContext& ctx, const BatchMatMulDims& d, const float* a,
                       const float* b, float* c) {
  std::vector<CollapsedDim> batch = CollapseBatch(d);
  int64_t m = d.m;
  // [B,M,K] x [K,N] without transpose_a is one [B*M,K] x [K,N] GEMM: fold the batch into M.
  if (batch.size() == 1 && batch[0].a_full && !batch[0].b_full && !d.transpose_a) {
    m *= batch[0].size;
    batch.clear();
  }
  const int nb = static_cast<int>(batch.size());
  Dims a_dims, b_dims, c_dims;
  for (const CollapsedDim& cd : batch) {
    a_dims.push_back(cd.a_full ? cd.size : 1);
    b_dims.push_back(cd.b_full ? cd.size : 1);
    c_dims.push_back(cd.size);
  }
  Dims a_strides = BatchStrides(batch, true, m * d.k);
  Dims b_strides = BatchStrides(batch, false, d.k * d.n);
  a_dims.insert(a_dims.end(), {m, d.k});
  b_dims.insert(b_dims.end(), {d.k, d.n});
  c_dims.insert(c_dims.end(), {m, d.n});
  // Transposes are expressed as strides: no copy, oneDNN reads the operand in place.
  if (d.transpose_a) {
    a_strides.insert(a_strides.end(), {1, m});
  } else {
    a_strides.insert(a_strides.end(), {d.k, 1});
  }
  if (d.transpose_b) {
    b_strides.insert(b_strides.end(), {1, d.k});
  } else {
    b_strides.insert(b_strides.end(), {d.n, 1});
  }

  // The key holds everything that shapes the primitive.
  std::vector<int64_t> key = {nb, m, d.n, d.k, d.transpose_a, d.transpose_b};
  for (const CollapsedDim& cd : batch) key.insert(key.end(), {cd.size, cd.a_full, cd.b_full});

  double work = 2.0 * m * d.n * d.k;
  for (const CollapsedDim& cd : batch) work *= static_cast<double>(cd.size);
  ScopedThreads threads(ThreadsForWork(work));
  key.push_back(threads.threads());

  static PrimitiveCache<MatMulEntry>* cache = new PrimitiveCache<MatMulEntry>(256);
  return Guard(ctx, "matmul", [&]() -> absl::Status {
    auto entry = cache->GetOrCreate(key, [&] {
      MatMulEntry e;
      e.a = StridedDesc(a_dims, a_strides);
      e.b = StridedDesc(b_dims, b_strides);
      e.c = StridedDesc(c_dims, ContiguousStrides(c_dims));
      e.prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(e.a, e.b, e.c),
                                                         ScratchpadAttr(), CpuEngine()));
      return e;
    });
    dnnl::engine& eng = CpuEngine();
    dnnl::memory am(entry->a, eng, const_cast<float*>(a));
    dnnl::memory bm(entry->b, eng, const_cast<float*>(b));
    dnnl::memory cm(entry->c, eng, c);
    dnnl::stream& s = ThreadStream();
    Execute(entry->prim, s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    return absl::OkStatus();
  });
}

struct PackedConstMatMul::Entry {
  int64_t m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  int threads = 0;                  // OpenMP threads the primitive was made for
  const float* b_source = nullptr;  // the B that b_packed holds
  dnnl::memory::desc a, c, bias;
  dnnl::matmul prim;
  dnnl::memory b_packed;
};

absl::Status PackedConstMatMul::Run(const OpKernelContext& ctx, const BatchMatMulDims& d,
                                    const float* a, const float* b, float* c, const float* bias,
                                    const FusedActivation* act) const {
  if (bias == nullptr && (!d.a_batch.empty() || !d.b_batch.empty())) {
    return MatMulF32(ctx, d, a, b, c);
  }
  ScopedThreads threads(ThreadsForWork(2.0 * d.m * d.n * d.k));
  auto matches = [&](const Entry& e) {
    return e.m == d.m && e.n == d.n && e.k == d.k && e.transpose_a == d.transpose_a &&
           e.transpose_b == d.transpose_b && e.b_source == b && e.threads == threads.threads();
  };
  std::shared_ptr<const Entry> entry;
  {
    MutexLock lock(&mu_);
    for (const auto& e : entries_) {
      if (matches(*e)) entry = e;
    }
    if (entry == nullptr) {
      // A new batch size, or B moved (then drop the stale packings of the old B).
      entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                    [&](const auto& e) { return e->b_source != b; }),
                     entries_.end());
      if (entries_.size() >= kMaxShapes) entries_.erase(entries_.begin());  // the oldest goes
      absl::Status built = Guard(ctx, "matmul (packed weights)", [&]() -> absl::Status {
        auto e = std::make_shared<Entry>();
        e->m = d.m;
        e->n = d.n;
        e->k = d.k;
        e->transpose_a = d.transpose_a;
        e->transpose_b = d.transpose_b;
        e->b_source = b;
        e->threads = threads.threads();
        e->a = StridedDesc({d.m, d.k}, d.transpose_a ? Dims{1, d.m} : Dims{d.k, 1});
        e->c = StridedDesc({d.m, d.n}, {d.n, 1});
        const dnnl::memory::desc user_b =
            StridedDesc({d.k, d.n}, d.transpose_b ? Dims{1, d.k} : Dims{d.n, 1});
        const dnnl::memory::desc any_b({d.k, d.n}, dnnl::memory::data_type::f32,
                                       dnnl::memory::format_tag::any);
        dnnl::primitive_attr attr = ScratchpadAttr();
        if (act != nullptr && act->present) {
          dnnl::post_ops po;
          po.append_eltwise(1.f, act->alg, act->alpha, act->beta);
          attr.set_post_ops(po);
        }
        e->bias = StridedDesc({1, d.n}, {d.n, 1});
        dnnl::matmul::primitive_desc pd(bias != nullptr
                                            ? dnnl::matmul::desc(e->a, any_b, e->bias, e->c)
                                            : dnnl::matmul::desc(e->a, any_b, e->c),
                                        attr, CpuEngine());
        e->prim = dnnl::matmul(pd);
        // Batch sizes whose kernels want the same layout share one packed copy.
        for (const auto& other : entries_) {
          if (other->b_packed.get_desc() == pd.weights_desc()) e->b_packed = other->b_packed;
        }
        if (!e->b_packed) {
          e->b_packed = dnnl::memory(pd.weights_desc(), CpuEngine());
          dnnl::memory user(user_b, CpuEngine(), const_cast<float*>(b));
          dnnl::stream& s = ThreadStream();
          Reorder(dnnl::reorder(user, e->b_packed, ScratchpadAttr()), s, user, e->b_packed);
        }
        entry = e;
        return absl::OkStatus();
      });
      RETURN_IF_ERROR(built);
      entries_.push_back(entry);
    }
  }
  return Guard(ctx, "matmul (packed weights)", [&]() -> absl::Status {
    dnnl::engine& eng = CpuEngine();
    dnnl::memory am(entry->a, eng, const_cast<float*>(a));
    dnnl::memory cm(entry->c, eng, c);
    dnnl::stream& s = ThreadStream();
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, entry->b_packed}, {DNNL_ARG_DST, cm}};
    if (bias != nullptr) {
      args.emplace(DNNL_ARG_BIAS, dnnl::memory(entry->bias, eng, const_cast<float*>(bias)));
    }
    Execute(entry->prim, s, std::move(args));
    return absl::OkStatus();
  });
}

bool InputIsConstant(const Node& node, int i) {
  if (i >= node.num_inputs()) return false;
  const Node* src = node.input(i).node;
  for (int hops = 0; src != nullptr && hops < 16; ++hops) {
    if (src->op() == "Const") return true;
    if ((src->op() != "Identity" && src->op() != "Snapshot") || src->num_inputs() < 1) return false;
    src = src->input(0).node;
  }
  return false;
}

template <typename T>
void MatMulGeneric(const BatchMatMulDims& d, const T* a, const T* b, T* c) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMap = Eigen::Map<const Mat>;
  const std::vector<CollapsedDim> batch = CollapseBatch(d);
  const std::vector<int64_t> as = BatchStrides(batch, true, d.m * d.k);
  const std::vector<int64_t> bs = BatchStrides(batch, false, d.k * d.n);
  int64_t total = 1;
  for (const CollapsedDim& cd : batch) total *= cd.size;
  for (int64_t i = 0; i < total; ++i) {
    // Unravel the output batch index into per-operand offsets (0 along broadcast dims).
    int64_t rem = i, a_off = 0, b_off = 0;
    for (int j = static_cast<int>(batch.size()) - 1; j >= 0; --j) {
      const int64_t idx = rem % batch[j].size;
      rem /= batch[j].size;
      if (batch[j].a_full) a_off += idx * as[j];
      if (batch[j].b_full) b_off += idx * bs[j];
    }
    Eigen::Map<Mat> cm(c + i * d.m * d.n, d.m, d.n);
    // A stored [K,M] row-major is the transpose of the [M,K] we need, and so on.
    ConstMap am(a + a_off, d.transpose_a ? d.k : d.m, d.transpose_a ? d.m : d.k);
    ConstMap bm(b + b_off, d.transpose_b ? d.n : d.k, d.transpose_b ? d.k : d.n);
    if (d.transpose_a && d.transpose_b) {
      cm.noalias() = am.transpose() * bm.transpose();
    } else if (d.transpose_a) {
      cm.noalias() = am.transpose() * bm;
    } else if (d.transpose_b) {
      cm.noalias() = am * bm.transpose();
    } else {
      cm.noalias() = am * bm;
    }
  }
}

template void MatMulGeneric<double>(const BatchMatMulDims&, const double*, const double*, double*);
template void MatMulGeneric<int32_t>(const BatchMatMulDims&, const int32_t*, const int32_t*,
                                     int32_t*);
template void MatMulGeneric<int64_t>(const BatchMatMulDims&, const int64_t*, const int64_t*,
                                     int64_t*);

bool ComputeWindow(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                   const std::string& padding, int64_t* out, int64_t* pad_before,
                   int64_t* pad_after) {
  const int64_t eff_k = (k - 1) * dilation + 1;
  if (padding == "VALID") {
    *pad_before = *pad_after = 0;
    *out = in >= eff_k ? (in - eff_k) / stride + 1 : -1;
  } else if (padding == "SAME") {
    *out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((*out - 1) * stride + eff_k - in, 0);
    *pad_before = total / 2;
    *pad_after = total - *pad_before;
  } else {  // EXPLICIT: pads given
    const int64_t padded = in + *pad_before + *pad_after;
    *out = padded >= eff_k ? (padded - eff_k) / stride + 1 : -1;
  }
  return *out >= 0;
}

absl::Status ParseWindowAttrs(const OpKernelConstruction& c, WindowAttrs* w) {
  const AttrMap& attrs = c.node().attrs();
  auto get4 = [&](const char* name, int64_t* h, int64_t* wd) -> absl::Status {
    if (attrs.find(name) == attrs.end()) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::vector<int64_t> v, c.GetAttr<std::vector<int64_t>>(name));
    if (v.size() != 4) {
      return c.Error(absl::StrCat(name, " must have 4 elements (NHWC), got ", v.size()));
    }
    if (v[0] != 1 || v[3] != 1) {
      return c.Error(absl::StrCat(name, " over the batch and depth dimensions must be 1, got [",
                                  absl::StrJoin(v, ","), "]"));
    }
    if (v[1] < 1 || v[2] < 1) {
      return c.Error(absl::StrCat(name, " must be positive, got [", absl::StrJoin(v, ","), "]"));
    }
    *h = v[1];
    *wd = v[2];
    return absl::OkStatus();
  };
  if (attrs.count("data_format")) {
    ASSIGN_OR_RETURN(std::string format, c.GetAttr<std::string>("data_format"));
    if (format != "NHWC") {
      return c.Error("data_format '" + format +
                     "' is not supported on the CPU: only NHWC (transpose the input, or place "
                     "the node on a GPU)");
    }
  }
  RETURN_IF_ERROR(get4("strides", &w->stride_h, &w->stride_w));
  RETURN_IF_ERROR(get4("dilations", &w->dilation_h, &w->dilation_w));
  RETURN_IF_ERROR(get4("ksize", &w->ksize_h, &w->ksize_w));
  ASSIGN_OR_RETURN(w->padding, c.GetAttr<std::string>("padding"));
  if (w->padding == "EXPLICIT") {
    ASSIGN_OR_RETURN(std::vector<int64_t> p,
                     GetAttrOr<std::vector<int64_t>>(attrs, "explicit_paddings", {}));
    if (p.size() != 8 || p[0] != 0 || p[1] != 0 || p[6] != 0 || p[7] != 0 ||
        *std::min_element(p.begin(), p.end()) < 0) {
      return c.Error(
          "padding EXPLICIT needs explicit_paddings of 8 non-negative values (NHWC "
          "before/after pairs) with 0 for batch and depth, got [" +
          absl::StrJoin(p, ",") + "]");
    }
    std::copy(p.begin() + 2, p.begin() + 6, w->explicit_pads);
  } else if (w->padding != "SAME" && w->padding != "VALID") {
    return c.Error("padding must be SAME, VALID or EXPLICIT, got '" + w->padding + "'");
  }
  return absl::OkStatus();
}

absl::Status ComputeConvOutput(const OpKernelContext& ctx, const WindowAttrs& w, ConvDims* d) {
  d->stride_h = w.stride_h;
  d->stride_w = w.stride_w;
  d->dilation_h = w.dilation_h;
  d->dilation_w = w.dilation_w;
  d->pad_t = w.explicit_pads[0];
  d->pad_b = w.explicit_pads[1];
  d->pad_l = w.explicit_pads[2];
  d->pad_r = w.explicit_pads[3];
  if (!ComputeWindow(d->h, d->kh, w.stride_h, w.dilation_h, w.padding, &d->oh, &d->pad_t,
                     &d->pad_b) ||
      !ComputeWindow(d->w, d->kw, w.stride_w, w.dilation_w, w.padding, &d->ow, &d->pad_l,
                     &d->pad_r)) {
    return ctx.Error(absl::StrCat("the ", d->kh, "x", d->kw, " window (dilations ", w.dilation_h,
                                  ",", w.dilation_w, ") does not fit the ", d->h, "x", d->w,
                                  " input with padding ", w.padding,
                                  ": the output size would be negative"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ConvDims> GroupedConvDims(const OpKernelContext& ctx, const WindowAttrs& w,
                                         const std::vector<int64_t>& input,
                                         const std::vector<int64_t>& filter) {
  ConvDims d;
  d.n = input[0];
  d.h = input[1];
  d.w = input[2];
  d.c = input[3];
  d.kh = filter[0];
  d.kw = filter[1];
  d.oc = filter[3];
  const int64_t f_in = filter[2];
  if (f_in <= 0 || d.c < f_in || d.c % f_in != 0 || d.oc % (d.c / f_in) != 0) {
    return ctx.Error(absl::StrCat("input depth ", d.c, " of ", TensorShape(input).DebugString(),
                                  " does not match filter ", TensorShape(filter).DebugString(),
                                  ": it must equal the filter's in_channels (dim 2), or be a "
                                  "multiple of it that also divides out_channels (grouped)"));
  }
  d.groups = d.c / f_in;
  RETURN_IF_ERROR(ComputeConvOutput(ctx, w, &d));
  return d;
}

absl::StatusOr<ConvDims> Conv2DDims(const OpKernelContext& ctx, const WindowAttrs& w,
                                    const Tensor& input, const Tensor& filter) {
  if (input.rank() != 4 || filter.rank() != 4) {
    return ctx.Error(absl::StrCat("Conv2D needs a 4-D input (NHWC) and a 4-D filter (HWIO), got ",
                                  input.shape().DebugString(), " and ",
                                  filter.shape().DebugString()));
  }
  return GroupedConvDims(ctx, w, input.shape().dims(), filter.shape().dims());
}

namespace {

// Fills `d` from the input shape [N,H,W,C] and filter shape [KH,KW,C/G,OC], computes the
// forward output size, and checks that out_backprop has it.
absl::Status SetUpConvBackprop(const OpKernelContext& ctx, const WindowAttrs& window,
                               const std::vector<int64_t>& input,
                               const std::vector<int64_t>& filter, const Tensor& out_backprop,
                               ConvDims* d) {
  for (int64_t v : input) {
    if (v < 0) return ctx.Error("the input shape must be non-negative");
  }
  for (int64_t v : filter) {
    if (v < 0) return ctx.Error("the filter shape must be non-negative");
  }
  const TensorShape in_shape(input), f_shape(filter);
  ASSIGN_OR_RETURN(*d, GroupedConvDims(ctx, window, input, filter));
  const TensorShape want{d->n, d->oh, d->ow, d->oc};
  if (out_backprop.shape() != want) {
    return ctx.Error(absl::StrCat("out_backprop has shape ", out_backprop.shape().DebugString(),
                                  ", but Conv2D of input ", in_shape.DebugString(), " and filter ",
                                  f_shape.DebugString(), " with padding ", window.padding,
                                  " gives ", want.DebugString()));
  }
  return absl::OkStatus();
}

absl::Status CheckRank4(const OpKernelContext& ctx, const Tensor& t, const char* what) {
  if (t.rank() != 4) {
    return ctx.Error(absl::StrCat(what, " must be 4-D, got shape ", t.shape().DebugString()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ConvDims> ConvBackpropInputDims(const OpKernelContext& ctx, const WindowAttrs& w,
                                               std::vector<int64_t>* input_sizes,
                                               const Tensor& filter, const Tensor& out_backprop) {
  RETURN_IF_ERROR(CheckRank4(ctx, filter, "filter"));
  RETURN_IF_ERROR(CheckRank4(ctx, out_backprop, "out_backprop"));
  std::vector<int64_t>& sizes = *input_sizes;
  if (sizes.size() == 2) {  // TF's spatial-only form: batch and depth from the others
    sizes = {out_backprop.dim(0), sizes[0], sizes[1], filter.dim(2)};
  } else if (sizes.size() != 4) {
    return ctx.Error(
        absl::StrCat("input_sizes must have 4 elements (or 2 spatial ones), got ", sizes.size()));
  }
  ConvDims d;
  RETURN_IF_ERROR(SetUpConvBackprop(ctx, w, sizes, filter.shape().dims(), out_backprop, &d));
  return d;
}

absl::StatusOr<ConvDims> ConvBackpropFilterDims(const OpKernelContext& ctx, const WindowAttrs& w,
                                                const Tensor& input,
                                                const std::vector<int64_t>& filter_sizes,
                                                const Tensor& out_backprop) {
  RETURN_IF_ERROR(CheckRank4(ctx, input, "input"));
  RETURN_IF_ERROR(CheckRank4(ctx, out_backprop, "out_backprop"));
  if (filter_sizes.size() != 4) {
    return ctx.Error(absl::StrCat("filter_sizes must have 4 elements, got ", filter_sizes.size()));
  }
  ConvDims d;
  RETURN_IF_ERROR(SetUpConvBackprop(ctx, w, input.shape().dims(), filter_sizes, out_backprop, &d));
  return d;
}

absl::StatusOr<ConvDims> DepthwiseConv2DDims(const OpKernelContext& ctx, const WindowAttrs& w,
                                             const Tensor& input, const Tensor& filter) {
  if (input.rank() != 4 || filter.rank() != 4) {
    return ctx.Error(absl::StrCat(
        "DepthwiseConv2dNative needs a 4-D input (NHWC) and a 4-D filter [KH,KW,C,M], got ",
        input.shape().DebugString(), " and ", filter.shape().DebugString()));
  }
  if (filter.dim(2) != input.dim(3)) {
    return ctx.Error(absl::StrCat("input depth ", input.dim(3), " of ", input.shape().DebugString(),
                                  " must equal the filter's in_channels (dim 2) of ",
                                  filter.shape().DebugString()));
  }
  ConvDims d;
  d.n = input.dim(0);
  d.h = input.dim(1);
  d.w = input.dim(2);
  d.c = input.dim(3);
  d.kh = filter.dim(0);
  d.kw = filter.dim(1);
  d.oc = d.c * filter.dim(3);
  d.groups = d.c;
  RETURN_IF_ERROR(ComputeConvOutput(ctx, w, &d));
  return d;
}

double ConvFlops(const ConvDims& d) {
  return 2.0 * d.n * d.oh * d.ow * d.kh * d.kw * static_cast<double>(d.c / d.groups) * d.oc;
}

std::vector<int64_t> ConvKey(const ConvDims& d, int threads) {
  return {d.n,     d.h,      d.w,        d.c,        d.kh,         d.kw,
          d.oc,    d.groups, d.stride_h, d.stride_w, d.dilation_h, d.dilation_w,
          d.pad_t, d.pad_b,  d.pad_l,    d.pad_r,    threads};
}

struct ConvEntry {
  dnnl::memory::desc src, user_weights, weights, dst;
  dnnl::convolution_forward conv;
  dnnl::reorder weights_reorder;  // empty when the primitive reads TF's layout directly
};

ConvLayout MakeConvLayout(const ConvDims& d) {
  using tag = dnnl::memory::format_tag;
  const auto f32 = dnnl::memory::data_type::f32;
  ConvLayout s;
  // Activations stay in TF's NHWC (no reorders of the big tensors); oneDNN's dims order is
  // always N, C, H, W whatever the layout.
  s.src = dnnl::memory::desc({d.n, d.c, d.h, d.w}, f32, tag::nhwc);
  s.dst = dnnl::memory::desc({d.n, d.oc, d.oh, d.ow}, f32, tag::nhwc);
  const int64_t icg = d.c / d.groups, ocg = d.oc / d.groups;
  Dims wdims, wstrides;
  if (d.groups == 1) {
    wdims = {d.oc, d.c, d.kh, d.kw};
    wstrides = {1, d.oc, d.kw * d.c * d.oc, d.c * d.oc};  // HWIO
  } else {
    wdims = {d.groups, ocg, icg, d.kh, d.kw};
    wstrides = {ocg, 1, d.oc, d.kw * icg * d.oc, icg * d.oc};  // HWIO, O split in groups
  }
  s.user_weights = StridedDesc(wdims, wstrides);
  s.any_weights = dnnl::memory::desc(wdims, f32, tag::any);
  s.strides = {d.stride_h, d.stride_w};
  s.dilates = {d.dilation_h - 1, d.dilation_w - 1};  // oneDNN counts extra gaps from 0
  s.pad_l = {d.pad_t, d.pad_l};
  s.pad_r = {d.pad_b, d.pad_r};
  return s;
}

dnnl::reorder ReorderIfNeeded(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  if (from == to) return dnnl::reorder();
  return dnnl::reorder(
      dnnl::reorder::primitive_desc(CpuEngine(), from, CpuEngine(), to, ScratchpadAttr()));
}

dnnl::memory WeightsFor(const dnnl::reorder& reorder, const dnnl::memory::desc& user,
                        const dnnl::memory::desc& want, const float* data, dnnl::stream& stream) {
  dnnl::memory weights(user, CpuEngine(), const_cast<float*>(data));
  if (!reorder) return weights;
  dnnl::memory reordered(want, CpuEngine());
  Reorder(reorder, stream, weights, reordered);
  return reordered;
}

absl::Status ConvF32(const OpKernelContext& ctx, const ConvCache& cache, const ConvDims& d,
                     const float* input, const float* filter, float* output) {
  ScopedThreads threads(ThreadsForWork(ConvFlops(d)));
  const std::vector<int64_t> key = ConvKey(d, threads.threads());
  return Guard(ctx, "convolution", [&]() -> absl::Status {
    auto entry = cache.GetOrCreate(key, [&] {
      const ConvLayout s = MakeConvLayout(d);
      ConvEntry e;
      e.src = s.src;
      e.dst = s.dst;
      e.user_weights = s.user_weights;
      dnnl::convolution_forward::primitive_desc pd(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                          dnnl::algorithm::convolution_direct, s.src, s.any_weights,
                                          s.dst, s.strides, s.dilates, s.pad_l, s.pad_r),
          ScratchpadAttr(), CpuEngine());
      e.weights = pd.weights_desc();
      e.conv = dnnl::convolution_forward(pd);
      e.weights_reorder = ReorderIfNeeded(e.user_weights, e.weights);
      return e;
    });
    dnnl::engine& eng = CpuEngine();
    dnnl::stream& s = ThreadStream();
    dnnl::memory src(entry->src, eng, const_cast<float*>(input));
    dnnl::memory dst(entry->dst, eng, output);
    dnnl::memory weights =
        WeightsFor(entry->weights_reorder, entry->user_weights, entry->weights, filter, s);
    Execute(entry->conv, s,
            {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    return absl::OkStatus();
  });
}

template <typename T>
void ConvGeneric(const ConvDims& d, const T* input, const T* filter, T* output) {
  const int64_t icg = d.c / d.groups, ocg = d.oc / d.groups;
  for (int64_t b = 0; b < d.n; ++b) {
    for (int64_t oy = 0; oy < d.oh; ++oy) {
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        T* out = output + ((b * d.oh + oy) * d.ow + ox) * d.oc;
        std::fill(out, out + d.oc, T(0));
        for (int64_t ky = 0; ky < d.kh; ++ky) {
          const int64_t iy = oy * d.stride_h - d.pad_t + ky * d.dilation_h;
          if (iy < 0 || iy >= d.h) continue;  // padding contributes zeros
          for (int64_t kx = 0; kx < d.kw; ++kx) {
            const int64_t ix = ox * d.stride_w - d.pad_l + kx * d.dilation_w;
            if (ix < 0 || ix >= d.w) continue;
            const T* in = input + ((b * d.h + iy) * d.w + ix) * d.c;
            const T* f = filter + (ky * d.kw + kx) * icg * d.oc;
            for (int64_t g = 0; g < d.groups; ++g) {
              for (int64_t i = 0; i < icg; ++i) {
                const T x = in[g * icg + i];
                const T* frow = f + i * d.oc + g * ocg;  // contiguous over output channels
                T* orow = out + g * ocg;
                for (int64_t o = 0; o < ocg; ++o) orow[o] += x * frow[o];
              }
            }
          }
        }
      }
    }
  }
}

template void ConvGeneric<float>(const ConvDims&, const float*, const float*, float*);
template void ConvGeneric<double>(const ConvDims&, const double*, const double*, double*);

absl::StatusOr<FusedActivation> ParseFusedBiasActivation(const OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(std::vector<std::string> ops, c.GetAttr<std::vector<std::string>>("fused_ops"));
  ASSIGN_OR_RETURN(int64_t num_args, c.GetAttr<int64_t>("num_args"));
  if (ops.empty() || ops[0] != "BiasAdd" || ops.size() > 2 || num_args != 1) {
    return c.Error(absl::StrCat("unsupported fused_ops [", absl::StrJoin(ops, ", "),
                                "] with num_args=", num_args,
                                ": expected [BiasAdd] or [BiasAdd, <activation>] and 1 arg"));
  }
  FusedActivation act;
  if (ops.size() == 1) return act;
  act.present = true;
  act.name = ops[1];
  const std::string& a = ops[1];
  if (a == "Relu") {
    act.alg = dnnl::algorithm::eltwise_relu;
  } else if (a == "Relu6") {
    act.alg = dnnl::algorithm::eltwise_clip;
    act.beta = 6.f;
  } else if (a == "Elu") {
    act.alg = dnnl::algorithm::eltwise_elu;
    act.alpha = 1.f;
  } else if (a == "Tanh") {
    act.alg = dnnl::algorithm::eltwise_tanh;
  } else if (a == "Sigmoid") {
    act.alg = dnnl::algorithm::eltwise_logistic;
  } else {
    return c.Error(
        absl::StrCat("unsupported fused activation '", a, "' (Relu, Relu6, Elu, Tanh, Sigmoid)"));
  }
  return act;
}

namespace {

// The pooling window over NHWC `input` dims; `shown` (the forward input's shape string, or
// empty) is added to the error when the window does not fit.
absl::StatusOr<index::PoolGeometry> PoolWindow(const OpKernelContext& ctx, const WindowAttrs& w,
                                               const std::vector<int64_t>& input,
                                               const std::string& shown, int64_t* pad_b_out,
                                               int64_t* pad_r_out) {
  index::PoolGeometry g;
  g.n = input[0];
  g.h = input[1];
  g.w = input[2];
  g.c = input[3];
  g.kh = w.ksize_h;
  g.kw = w.ksize_w;
  g.stride_h = w.stride_h;
  g.stride_w = w.stride_w;
  g.pad_t = w.explicit_pads[0];
  g.pad_l = w.explicit_pads[2];
  int64_t pad_b = w.explicit_pads[1], pad_r = w.explicit_pads[3];
  if (!ComputeWindow(g.h, g.kh, g.stride_h, 1, w.padding, &g.oh, &g.pad_t, &pad_b) ||
      !ComputeWindow(g.w, g.kw, g.stride_w, 1, w.padding, &g.ow, &g.pad_l, &pad_r)) {
    return ctx.Error(absl::StrCat("the ", g.kh, "x", g.kw, " window does not fit the ", g.h, "x",
                                  g.w, " input ", shown, shown.empty() ? "" : " ", "with padding ",
                                  w.padding));
  }
  if (pad_b_out != nullptr) *pad_b_out = pad_b;
  if (pad_r_out != nullptr) *pad_r_out = pad_r;
  return g;
}

// The gradients' window: the input dims come from the graph (AvgPoolGrad's orig_input_shape).
absl::StatusOr<index::PoolGeometry> PoolGradWindow(const OpKernelContext& ctx, const WindowAttrs& w,
                                                   const std::vector<int64_t>& input) {
  for (int64_t d : input) {
    if (d < 0) return ctx.Error("the input shape must be non-negative");
  }
  return PoolWindow(ctx, w, input, "", nullptr, nullptr);
}

absl::Status CheckPoolRank4(const OpKernelContext& ctx, const Tensor& t, const char* what) {
  if (t.rank() != 4) {
    return ctx.Error(
        absl::StrCat(what, " must be 4-D (NHWC), got shape ", t.shape().DebugString()));
  }
  return absl::OkStatus();
}

absl::Status CheckPooledShape(const OpKernelContext& ctx, const index::PoolGeometry& g,
                              const Tensor& t, const char* what) {
  const TensorShape pooled{g.n, g.oh, g.ow, g.c};
  if (t.shape() != pooled) {
    return ctx.Error(absl::StrCat(what, " has shape ", t.shape().DebugString(),
                                  ", but pooling the input gives ", pooled.DebugString()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<index::PoolGeometry> PoolForwardGeometry(const OpKernelContext& ctx,
                                                        const WindowAttrs& w, const Tensor& input,
                                                        const char* op, int64_t* pad_b,
                                                        int64_t* pad_r) {
  if (input.rank() != 4) {
    return ctx.Error(
        absl::StrCat(op, " needs a 4-D input (NHWC), got ", input.shape().DebugString()));
  }
  return PoolWindow(ctx, w, input.shape().dims(), input.shape().DebugString(), pad_b, pad_r);
}

absl::StatusOr<index::PoolGeometry> MaxPoolGradGeometry(const OpKernelContext& ctx,
                                                        const WindowAttrs& w,
                                                        const Tensor& orig_input,
                                                        const Tensor& orig_output,
                                                        const Tensor& grad) {
  RETURN_IF_ERROR(CheckPoolRank4(ctx, orig_input, "orig_input"));
  ASSIGN_OR_RETURN(index::PoolGeometry g, PoolGradWindow(ctx, w, orig_input.shape().dims()));
  RETURN_IF_ERROR(CheckPooledShape(ctx, g, orig_output, "orig_output"));
  RETURN_IF_ERROR(CheckPooledShape(ctx, g, grad, "grad"));
  return g;
}

absl::StatusOr<index::PoolGeometry> AvgPoolGradGeometry(
    const OpKernelContext& ctx, const WindowAttrs& w, const std::vector<int64_t>& orig_input_shape,
    const Tensor& grad) {
  if (orig_input_shape.size() != 4) {
    return ctx.Error(absl::StrCat("orig_input_shape must have 4 elements (NHWC), got ",
                                  orig_input_shape.size()));
  }
  RETURN_IF_ERROR(CheckPoolRank4(ctx, grad, "grad"));
  ASSIGN_OR_RETURN(index::PoolGeometry g, PoolGradWindow(ctx, w, orig_input_shape));
  RETURN_IF_ERROR(CheckPooledShape(ctx, g, grad, "grad"));
  return g;
}

absl::StatusOr<BatchMatMulDims> MatMulDims(const OpKernelContext& ctx, const Tensor& a,
                                           const Tensor& b, bool transpose_a, bool transpose_b,
                                           bool fused) {
  if (a.rank() != 2 || b.rank() != 2) {
    return ctx.Error(absl::StrCat("MatMul needs 2-D inputs, got ", a.shape().DebugString(), " and ",
                                  b.shape().DebugString()));
  }
  BatchMatMulDims d;
  d.transpose_a = transpose_a;
  d.transpose_b = transpose_b;
  d.m = a.dim(transpose_a ? 1 : 0);
  d.k = a.dim(transpose_a ? 0 : 1);
  const int64_t k_b = b.dim(transpose_b ? 1 : 0);
  d.n = b.dim(transpose_b ? 0 : 1);
  if (d.k != k_b) {
    const std::string transposes =
        fused ? ""
              : absl::StrCat(" (transpose_a=", transpose_a ? "true" : "false",
                             ", transpose_b=", transpose_b ? "true" : "false", ")");
    return ctx.Error(absl::StrCat("Matrix size-incompatible: In[0]: ", a.shape().DebugString(),
                                  ", In[1]: ", b.shape().DebugString(), transposes,
                                  ": inner dimensions ", d.k, " and ", k_b, " differ"));
  }
  return d;
}

absl::StatusOr<BatchMatMulDims> BatchMatMulShape(const OpKernelContext& ctx, const Tensor& x,
                                                 const Tensor& y, bool adj_x, bool adj_y,
                                                 bool broadcast, TensorShape* out_shape) {
  if (x.rank() < 2 || y.rank() < 2) {
    return ctx.Error(absl::StrCat("BatchMatMul needs inputs of rank >= 2, got ",
                                  x.shape().DebugString(), " and ", y.shape().DebugString()));
  }
  if (!broadcast && x.rank() != y.rank()) {
    return ctx.Error(absl::StrCat("BatchMatMul needs inputs of equal rank, got ",
                                  x.shape().DebugString(), " and ", y.shape().DebugString(),
                                  " (BatchMatMulV2 broadcasts)"));
  }
  BatchMatMulDims d;
  d.transpose_a = adj_x;
  d.transpose_b = adj_y;
  const int xr = x.rank(), yr = y.rank();
  d.m = x.dim(adj_x ? xr - 1 : xr - 2);
  d.k = x.dim(adj_x ? xr - 2 : xr - 1);
  const int64_t k_y = y.dim(adj_y ? yr - 1 : yr - 2);
  d.n = y.dim(adj_y ? yr - 2 : yr - 1);
  if (d.k != k_y) {
    return ctx.Error(absl::StrCat("Matrix size-incompatible: In[0]: ", x.shape().DebugString(),
                                  ", In[1]: ", y.shape().DebugString(), " (adj_x=",
                                  adj_x ? "true" : "false", ", adj_y=", adj_y ? "true" : "false",
                                  "): inner dimensions ", d.k, " and ", k_y, " differ"));
  }
  // Right-align the batch dims, padding the shorter with 1s, and broadcast them.
  const int nb = std::max(xr, yr) - 2;
  d.a_batch.assign(nb, 1);
  d.b_batch.assign(nb, 1);
  d.out_batch.assign(nb, 1);
  for (int i = 0; i < xr - 2; ++i) d.a_batch[nb - (xr - 2) + i] = x.dim(i);
  for (int i = 0; i < yr - 2; ++i) d.b_batch[nb - (yr - 2) + i] = y.dim(i);
  *out_shape = TensorShape();
  for (int i = 0; i < nb; ++i) {
    const int64_t a = d.a_batch[i], b = d.b_batch[i];
    if (a != b && (!broadcast || (a != 1 && b != 1))) {
      return ctx.Error(absl::StrCat(
          "batch dimensions of ", x.shape().DebugString(), " and ", y.shape().DebugString(),
          broadcast ? " are not broadcastable" : " differ (BatchMatMulV2 broadcasts)"));
    }
    d.out_batch[i] = a == 1 ? b : a;  // not max: 0 broadcast with 1 is 0
    out_shape->AddDim(d.out_batch[i]);
  }
  out_shape->AddDim(d.m);
  out_shape->AddDim(d.n);
  return d;
}

absl::Status CheckFusedBias(const OpKernelContext& ctx, const Tensor& bias, int64_t n) {
  if (bias.rank() != 1 || bias.dim(0) != n) {
    return ctx.Error(absl::StrCat("bias must be [", n, "], got ", bias.shape().DebugString()));
  }
  return absl::OkStatus();
}

}  // namespace onednn
}  // namespace quiver
