// Index maps for data-movement and reduction kernels, shared by the CPU tests and the CUDA
// launchers (devices/cuda/kernels): everything here is QUIVER_HOST_DEVICE, fixed-size (a CUDA
// kernel takes the structs by value) and allocation-free.
//
//   StridedIndexer  flat index over `dims` (row-major) -> base + sum_d i_d * strides[d].
//                   Transpose, Slice, StridedSlice (negative steps too) and the per-input copies
//                   of ConcatV2 are all one StridedIndexer each.
//   ReduceIndexer   output index -> offset of its first input element, and reduction index ->
//                   offset relative to that: Sum/Mean/Max/ArgMax over any set of axes.
//
// Makers return false on a rank above kMaxRank or inconsistent arguments; callers collapse
// dims first (CollapseDims) so real graphs stay well within the limit.
#pragma once

#include <cstdint>

#include "devices/common/host_device.h"

namespace quiver {
namespace index {

inline constexpr int kMaxRank = 8;

struct StridedIndexer {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
  int64_t base = 0;

  QUIVER_HOST_DEVICE int64_t Offset(int64_t index) const {
    int64_t off = base;
    for (int d = rank - 1; d >= 0; --d) {
      int64_t i = index % dims[d];
      index /= dims[d];
      off += i * strides[d];
    }
    return off;
  }
  QUIVER_HOST_DEVICE int64_t NumElements() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= dims[d];
    return n;
  }
};

// Row-major strides of `dims`.
QUIVER_HOST_DEVICE void RowMajorStrides(int rank, const int64_t* dims, int64_t* strides) {
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    strides[d] = s;
    s *= dims[d];
  }
}

// Transpose: out[i] = in[perm-mapped i], with out dims[d] = in_dims[perm[d]]. `perm` must be a
// permutation of 0..rank-1.
QUIVER_HOST_DEVICE bool MakeTransposeIndexer(int rank, const int64_t* in_dims, const int* perm,
                                             StridedIndexer* out) {
  if (rank < 0 || rank > kMaxRank) return false;
  int64_t in_strides[kMaxRank];
  RowMajorStrides(rank, in_dims, in_strides);
  bool seen[kMaxRank] = {};
  out->rank = rank;
  out->base = 0;
  for (int d = 0; d < rank; ++d) {
    if (perm[d] < 0 || perm[d] >= rank || seen[perm[d]]) return false;
    seen[perm[d]] = true;
    out->dims[d] = in_dims[perm[d]];
    out->strides[d] = in_strides[perm[d]];
  }
  return true;
}

// Slice / StridedSlice after mask processing: out dim d has out_dims[d] elements, the k-th at
// input index begin[d] + k * step[d] (step may be negative). Checks that every addressed index
// lies inside in_dims.
QUIVER_HOST_DEVICE bool MakeSliceIndexer(int rank, const int64_t* in_dims, const int64_t* begin,
                                         const int64_t* step, const int64_t* out_dims,
                                         StridedIndexer* out) {
  if (rank < 0 || rank > kMaxRank) return false;
  int64_t in_strides[kMaxRank];
  RowMajorStrides(rank, in_dims, in_strides);
  out->rank = rank;
  out->base = 0;
  for (int d = 0; d < rank; ++d) {
    if (out_dims[d] < 0) return false;
    if (out_dims[d] > 0) {
      int64_t last = begin[d] + (out_dims[d] - 1) * step[d];
      if (begin[d] < 0 || begin[d] >= in_dims[d] || last < 0 || last >= in_dims[d]) return false;
    }
    out->dims[d] = out_dims[d];
    out->strides[d] = step[d] * in_strides[d];
    out->base += begin[d] * in_strides[d];
  }
  return true;
}

// ConcatV2, one input at a time: maps the input's flat index to its offset in the output,
// where the input starts at `axis_offset` along `axis` of an output of `out_dims`.
QUIVER_HOST_DEVICE bool MakeConcatInputIndexer(int rank, const int64_t* in_dims,
                                               const int64_t* out_dims, int axis,
                                               int64_t axis_offset, StridedIndexer* out) {
  if (rank < 1 || rank > kMaxRank || axis < 0 || axis >= rank) return false;
  for (int d = 0; d < rank; ++d) {
    if (d != axis && in_dims[d] != out_dims[d]) return false;
  }
  if (axis_offset < 0 || axis_offset + in_dims[axis] > out_dims[axis]) return false;
  out->rank = rank;
  RowMajorStrides(rank, out_dims, out->strides);
  for (int d = 0; d < rank; ++d) out->dims[d] = in_dims[d];
  out->base = axis_offset * out->strides[axis];
  return true;
}

// Reduction over the dims flagged in `reduced` (1) of a row-major input. Output element o
// (row-major over the kept dims) reduces input offsets kept.Offset(o) + reduce.Offset(r) for
// r in [0, num_reduced).
struct ReduceIndexer {
  StridedIndexer kept;
  StridedIndexer reduce;
  int64_t num_outputs = 1;
  int64_t num_reduced = 1;
};

QUIVER_HOST_DEVICE bool MakeReduceIndexer(int rank, const int64_t* dims, const bool* reduced,
                                          ReduceIndexer* out) {
  if (rank < 0 || rank > kMaxRank) return false;
  int64_t strides[kMaxRank];
  RowMajorStrides(rank, dims, strides);
  out->kept.rank = out->reduce.rank = 0;
  out->kept.base = out->reduce.base = 0;
  out->num_outputs = out->num_reduced = 1;
  for (int d = 0; d < rank; ++d) {
    StridedIndexer& s = reduced[d] ? out->reduce : out->kept;
    s.dims[s.rank] = dims[d];
    s.strides[s.rank] = strides[d];
    ++s.rank;
    (reduced[d] ? out->num_reduced : out->num_outputs) *= dims[d];
  }
  return true;
}

// Merges adjacent dims that are both reduced or both kept (and drops size-1 dims), so that a
// reduction over e.g. axes {1,2} of [N,H,W,C] becomes [N, H*W, C] with mask {0,1,0}. Returns
// the new rank (at least 1: a scalar becomes [1], kept).
QUIVER_HOST_DEVICE int CollapseReduceDims(int rank, const int64_t* dims, const bool* reduced,
                                          int64_t* out_dims, bool* out_reduced) {
  for (int d = 0; d < rank; ++d) {
    if (dims[d] == 0) {  // an empty tensor: keep the dims as they are, so counts stay right
      for (int e = 0; e < rank; ++e) {
        out_dims[e] = dims[e];
        out_reduced[e] = reduced[e];
      }
      return rank;
    }
  }
  int n = 0;
  for (int d = 0; d < rank; ++d) {
    if (dims[d] == 1) continue;
    if (n > 0 && out_reduced[n - 1] == reduced[d]) {
      out_dims[n - 1] *= dims[d];
    } else {
      out_dims[n] = dims[d];
      out_reduced[n] = reduced[d];
      ++n;
    }
  }
  if (n == 0) {
    out_dims[0] = 1;
    out_reduced[0] = false;
    n = 1;
  }
  return n;
}

// A 2-D NHWC pooling window (MaxPool/AvgPool and their gradients), TF semantics: output
// (oy, ox) covers input rows [oy*stride_h - pad_t, +kh) and cols [ox*stride_w - pad_l, +kw),
// clipped to the input; padding never contributes (AvgPool divides by the clipped count).
struct PoolGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0;
  int64_t kh = 1, kw = 1, stride_h = 1, stride_w = 1;
  int64_t oh = 0, ow = 0, pad_t = 0, pad_l = 0;

  QUIVER_HOST_DEVICE int64_t NumOutputs() const { return n * oh * ow * c; }
  // Splits a flat NHWC output index and returns the clipped window [h0, h1) x [w0, w1); the
  // input element (b, y, x, ch) is at ((b * h + y) * w + x) * c + ch.
  QUIVER_HOST_DEVICE void Window(int64_t out_index, int64_t* b, int64_t* ch, int64_t* h0,
                                 int64_t* h1, int64_t* w0, int64_t* w1) const {
    *ch = out_index % c;
    int64_t r = out_index / c;
    const int64_t ox = r % ow;
    r /= ow;
    const int64_t oy = r % oh;
    *b = r / oh;
    const int64_t ys = oy * stride_h - pad_t, xs = ox * stride_w - pad_l;
    *h0 = ys < 0 ? 0 : ys;
    *w0 = xs < 0 ? 0 : xs;
    *h1 = ys + kh < h ? ys + kh : h;
    *w1 = xs + kw < w ? xs + kw : w;
  }
  QUIVER_HOST_DEVICE int64_t InputOffset(int64_t b, int64_t y, int64_t x, int64_t ch) const {
    return ((b * h + y) * w + x) * c + ch;
  }
};

}  // namespace index
}  // namespace quiver
