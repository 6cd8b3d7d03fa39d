#include "devices/cpu/kernels/array_kernel_util.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "devices/cpu/parallel_for.h"
#include "devices/device.h"
#include "graph/ops/array_shapes.h"

namespace quiver::array_kernels {

std::vector<DataType> AllTypes() {
  return {DT_FLOAT,  DT_DOUBLE, DT_INT32,  DT_INT64, DT_INT8, DT_UINT8,   DT_INT16,
          DT_UINT16, DT_UINT32, DT_UINT64, DT_BOOL,  DT_HALF, DT_BFLOAT16};
}

absl::Status NodeError(const OpKernelContext& ctx, const absl::Status& s) {
  return s.ok() ? s : ctx.Error(std::string(s.message()));
}

absl::Status SetReshaped(OpKernelContext& ctx, const absl::StatusOr<TensorShape>& shape) {
  if (!shape.ok()) return NodeError(ctx, shape.status());
  auto out = ctx.input(0).Reshaped(*shape);
  if (!out.ok()) return NodeError(ctx, out.status());
  ctx.set_output(0, *std::move(out));
  return absl::OkStatus();
}

absl::StatusOr<TensorShape> FillShape(const OpKernelContext& ctx,
                                      const std::vector<int64_t>& dims) {
  const Tensor& value = ctx.input(1);
  if (value.rank() != 0) {
    return ctx.Error(
        absl::StrCat("value must be a scalar, got shape ", value.shape().DebugString()));
  }
  auto shape = array_shapes::ShapeFromDims(dims, /*allow_unknown=*/false);
  if (!shape.ok()) return NodeError(ctx, shape.status());
  return shape;
}

absl::Status CheckAddNShapes(const OpKernelContext& ctx) {
  const int n = ctx.num_inputs();
  if (n == 0) return ctx.Error("AddN needs at least one input");
  const TensorShape& shape = ctx.input(0).shape();
  for (int i = 1; i < n; ++i) {
    if (ctx.input(i).shape() != shape) {
      return ctx.Error(absl::StrCat("inputs must all have the same shape: input 0 is ",
                                    shape.DebugString(), " but input ", i, " is ",
                                    ctx.input(i).shape().DebugString()));
    }
  }
  return absl::OkStatus();
}

absl::Status Int32OutputOverflow(const OpKernelContext& ctx, int64_t value) {
  return ctx.Error(
      absl::StrCat("output type is int32 but value ", value, " does not fit; use out_type=int64"));
}

absl::StatusOr<TensorShape> SliceBounds(const OpKernelContext& ctx,
                                        const std::vector<int64_t>& begin,
                                        const std::vector<int64_t>& size, std::vector<int64_t>* b,
                                        std::vector<int64_t>* s) {
  if (begin.size() != size.size()) {
    return ctx.Error("begin and size must have the same length");
  }
  auto shape = array_shapes::SliceShape(ctx.input(0).shape(), &begin, &size,
                                        static_cast<int>(begin.size()), b, s);
  if (!shape.ok()) return NodeError(ctx, shape.status());
  return shape;
}

absl::Status UnreadableTransferSource(const OpKernelContext& ctx, const std::string& src_device) {
  const Tensor& in = ctx.input(0);
  return ctx.Error(absl::StrCat("the input is in ", in.allocator()->Name(),
                                ", which the host cannot read, and its source device '", src_device,
                                "' is not such a device of this session"));
}

absl::Status OutputTransfer(OpKernelContext& ctx, Device* dst, Device* src) {
  const Tensor& in = ctx.input(0);
  auto copy = CopyTensor(in, dst, src);
  if (!copy.ok()) return NodeError(ctx, copy.status());
  ctx.set_output(0, *std::move(copy));
  if (StepCounters* counters = ctx.resources().counters) {
    counters->transfers.fetch_add(1, std::memory_order_relaxed);
    counters->transfer_bytes.fetch_add(static_cast<int64_t>(in.num_bytes()),
                                       std::memory_order_relaxed);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> HostInts(const OpKernelContext& ctx, int i, const char* what,
                                              int want_rank) {
  const Tensor& t = ctx.input(i);
  if (!t.valid()) return ctx.Error(absl::StrCat("input '", what, "' is empty"));
  if (want_rank >= 0 && t.rank() != want_rank) {
    return ctx.Error(
        absl::StrCat("'", what, "' must be ",
                     want_rank == 0 ? std::string("a scalar") : absl::StrCat(want_rank, "-D"),
                     ", got shape ", t.shape().DebugString()));
  }
  auto v = t.AsInt64Vector();
  if (!v.ok()) return ctx.Error(absl::StrCat("'", what, "': ", v.status().message()));
  return v;
}

absl::StatusOr<int64_t> HostScalar(const OpKernelContext& ctx, int i, const char* what) {
  auto v = HostInts(ctx, i, what, /*want_rank=*/-1);
  if (!v.ok()) return v.status();
  if (v->size() != 1) {
    return ctx.Error(absl::StrCat("'", what, "' must be a scalar, got shape ",
                                  ctx.input(i).shape().DebugString()));
  }
  return (*v)[0];
}

std::vector<int64_t> RowMajorStrides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> strides(dims.size());
  int64_t s = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = s;
    s *= dims[i];
  }
  return strides;
}

namespace {

// Bytes per parallel chunk: below this, threading costs more than it saves.
constexpr int64_t kMinBytesPerChunk = 64 * 1024;
// Transpose tiles: at most kTileElems elements (8 KiB for 8-byte types, in L1); 16 x 64 when
// both sides are long (the best of 8..64 x 16..128 measured on Zen 4, 1-4 byte elements),
// and a short innermost side gets proportionally more rows.
constexpr int64_t kTileElems = 1024;
constexpr int64_t kTileQ = 16;

template <typename U>
void CopyRowTyped(const char* src, char* dst, int64_t n, int64_t src_step, int64_t dst_step) {
  const U* s = reinterpret_cast<const U*>(src);
  U* d = reinterpret_cast<U*>(dst);
  if (dst_step == 1) {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i * src_step];
  } else {
    for (int64_t i = 0; i < n; ++i) d[i * dst_step] = s[i * src_step];
  }
}

// Copies n elements with the given steps (in elements); pointers are element-aligned.
void CopyRow(const char* src, char* dst, size_t esize, int64_t n, int64_t src_step,
             int64_t dst_step) {
  if (src_step == 1 && dst_step == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n) * esize);
    return;
  }
  switch (esize) {
    case 1:
      return CopyRowTyped<uint8_t>(src, dst, n, src_step, dst_step);
    case 2:
      return CopyRowTyped<uint16_t>(src, dst, n, src_step, dst_step);
    case 4:
      return CopyRowTyped<uint32_t>(src, dst, n, src_step, dst_step);
    case 8:
      return CopyRowTyped<uint64_t>(src, dst, n, src_step, dst_step);
    default: {
      const int64_t e = static_cast<int64_t>(esize);
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(dst + i * dst_step * e, src + i * src_step * e, esize);
    }
  }
}

// Walks the outer dims (all but the last `inner` dims) for flat outer indices [begin, end).
class Odometer {
 public:
  Odometer(const std::vector<CopyDim>& dims, size_t outer, int64_t start)
      : dims_(dims), outer_(outer), index_(outer, 0) {
    for (size_t k = outer; k-- > 0;) {
      index_[k] = start % dims[k].count;
      start /= dims[k].count;
      src_ += index_[k] * dims[k].src_step;
      dst_ += index_[k] * dims[k].dst_step;
    }
  }
  int64_t src() const { return src_; }
  int64_t dst() const { return dst_; }
  void Next() {
    for (size_t k = outer_; k-- > 0;) {
      src_ += dims_[k].src_step;
      dst_ += dims_[k].dst_step;
      if (++index_[k] < dims_[k].count) return;
      src_ -= dims_[k].count * dims_[k].src_step;
      dst_ -= dims_[k].count * dims_[k].dst_step;
      index_[k] = 0;
    }
  }

 private:
  const std::vector<CopyDim>& dims_;
  size_t outer_;
  std::vector<int64_t> index_;
  int64_t src_ = 0, dst_ = 0;
};

// Source and destination offsets of flat index `flat` over all of `dims` (no allocation).
void OffsetsOf(const std::vector<CopyDim>& dims, int64_t flat, int64_t* src, int64_t* dst) {
  *src = 0;
  *dst = 0;
  for (size_t k = dims.size(); k-- > 0;) {
    int64_t i = flat % dims[k].count;
    flat /= dims[k].count;
    *src += i * dims[k].src_step;
    *dst += i * dims[k].dst_step;
  }
}

// Transposes an np x nq block whose source is contiguous along p and whose destination is
// contiguous along q: src(p, q) = s[p + q * sq], dst(p, q) = d[p * dp + q]. Rows of up to
// kTileQ q-values go through a small contiguous buffer, so every source and destination cache
// line is used whole and power-of-two strides cannot thrash L1 sets. np * min(nq, kTileQ) must
// not exceed kTileElems.
template <typename U>
void TransposeBlockTyped(const char* src, char* dst, int64_t np, int64_t nq, int64_t dp,
                         int64_t sq) {
  const U* s = reinterpret_cast<const U*>(src);
  U* d = reinterpret_cast<U*>(dst);
  U buf[kTileElems];
  const int64_t tq = std::min(nq, kTileQ);
  for (int64_t q0 = 0; q0 < nq; q0 += tq) {
    const int64_t nqt = std::min(tq, nq - q0);
    for (int64_t q = 0; q < nqt; ++q) {
      const U* row = s + (q0 + q) * sq;
      U* b = buf + q * np;
      for (int64_t p = 0; p < np; ++p) b[p] = row[p];
    }
    for (int64_t p = 0; p < np; ++p) {
      U* out = d + p * dp + q0;
      for (int64_t q = 0; q < nqt; ++q) out[q] = buf[q * np + p];
    }
  }
}

void TransposeBlock(const char* src, char* dst, size_t esize, int64_t np, int64_t nq, int64_t dp,
                    int64_t sq) {
  switch (esize) {
    case 1:
      return TransposeBlockTyped<uint8_t>(src, dst, np, nq, dp, sq);
    case 2:
      return TransposeBlockTyped<uint16_t>(src, dst, np, nq, dp, sq);
    case 4:
      return TransposeBlockTyped<uint32_t>(src, dst, np, nq, dp, sq);
    case 8:
      return TransposeBlockTyped<uint64_t>(src, dst, np, nq, dp, sq);
    default: {
      const int64_t e = static_cast<int64_t>(esize);
      for (int64_t p = 0; p < np; ++p) CopyRow(src + p * e, dst + p * dp * e, esize, nq, sq, 1);
    }
  }
}

}  // namespace

void StridedCopy(const void* src_v, void* dst_v, size_t esize, int64_t src_base, int64_t dst_base,
                 std::vector<CopyDim> dims, int threads) {
  const char* src = static_cast<const char*>(src_v);
  char* dst = static_cast<char*>(dst_v);
  const int64_t e = static_cast<int64_t>(esize);
  // Simplify: drop size-1 dims, merge a dim into its inner neighbour when both sides are
  // contiguous across the boundary.
  std::vector<CopyDim> d;
  for (const CopyDim& x : dims) {
    if (x.count == 0) return;
    if (x.count == 1) continue;
    d.push_back(x);
  }
  std::vector<CopyDim> merged;
  for (const CopyDim& x : d) {
    if (!merged.empty()) {
      CopyDim& prev = merged.back();
      if (prev.src_step == x.count * x.src_step && prev.dst_step == x.count * x.dst_step) {
        prev.count *= x.count;
        prev.src_step = x.src_step;
        prev.dst_step = x.dst_step;
        continue;
      }
    }
    merged.push_back(x);
  }
  if (merged.empty()) {
    std::memcpy(dst + dst_base * e, src + src_base * e, esize);
    return;
  }
  const CopyDim inner = merged.back();
  const size_t outer = merged.size() - 1;
  int64_t rows = 1;
  for (size_t k = 0; k < outer; ++k) rows *= merged[k].count;

  // Transpose-like: the innermost dim reads with a stride but another dim reads contiguously.
  // Tile over (that dim, innermost) so reads and writes both hit cache lines fully.
  int p_dim = -1;
  if (inner.src_step != 1 && inner.dst_step == 1 && rows * inner.count >= 4096) {
    for (size_t k = 0; k < outer; ++k) {
      // A short contiguous dim (< kTileQ) gains nothing from tiling: plain rows are faster.
      if (merged[k].src_step == 1 && merged[k].count >= kTileQ) p_dim = static_cast<int>(k);
    }
  }
  if (p_dim >= 0) {
    const CopyDim p = merged[p_dim];
    std::vector<CopyDim> rest;  // outer dims other than p
    for (size_t k = 0; k < outer; ++k) {
      if (static_cast<int>(k) != p_dim) rest.push_back(merged[k]);
    }
    int64_t combos = 1;
    for (const CopyDim& x : rest) combos *= x.count;
    const int64_t tp = kTileElems / std::min(inner.count, kTileQ);  // p rows per tile
    const int64_t p_tiles = (p.count + tp - 1) / tp;
    const int64_t work = combos * p_tiles;
    const int64_t bytes_per_item = std::min(tp, p.count) * inner.count * e;
    ParallelFor(threads, work,
                std::max<int64_t>(1, kMinBytesPerChunk / std::max<int64_t>(1, bytes_per_item)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t w = begin; w < end; ++w) {
                    int64_t so, d_o;
                    OffsetsOf(rest, w / p_tiles, &so, &d_o);
                    int64_t p0 = (w % p_tiles) * tp;
                    int64_t np = std::min(tp, p.count - p0);
                    TransposeBlock(src + (src_base + so + p0) * e,
                                   dst + (dst_base + d_o + p0 * p.dst_step) * e, esize, np,
                                   inner.count, p.dst_step, inner.src_step);
                  }
                });
    return;
  }

  const int64_t row_bytes = std::max<int64_t>(1, inner.count * e);
  ParallelFor(threads, rows, std::max<int64_t>(1, kMinBytesPerChunk / row_bytes),
              [&](int64_t begin, int64_t end) {
                Odometer o(merged, outer, begin);
                for (int64_t r = begin; r < end; ++r, o.Next()) {
                  CopyRow(src + (src_base + o.src()) * e, dst + (dst_base + o.dst()) * e, esize,
                          inner.count, inner.src_step, inner.dst_step);
                }
              });
}

void FillElements(void* dst, int64_t n, const void* value, size_t esize) {
  if (n <= 0) return;
  switch (esize) {
    case 1: {
      uint8_t v;
      std::memcpy(&v, value, 1);
      std::memset(dst, v, static_cast<size_t>(n));
      return;
    }
    case 2: {
      uint16_t v;
      std::memcpy(&v, value, 2);
      std::fill_n(static_cast<uint16_t*>(dst), n, v);
      return;
    }
    case 4: {
      uint32_t v;
      std::memcpy(&v, value, 4);
      std::fill_n(static_cast<uint32_t*>(dst), n, v);
      return;
    }
    case 8: {
      uint64_t v;
      std::memcpy(&v, value, 8);
      std::fill_n(static_cast<uint64_t*>(dst), n, v);
      return;
    }
    default:
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(static_cast<char*>(dst) + i * static_cast<int64_t>(esize), value, esize);
      }
  }
}

}  // namespace quiver::array_kernels
