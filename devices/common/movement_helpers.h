// Index maps for the GPU data-movement kernels (devices/cuda/kernels/movement_kernels.cu) that
// the CPU tests also exercise (tests/devices/movement_helpers_test.cc). Everything here is
// QUIVER_HOST_DEVICE, fixed-size (a CUDA kernel takes the structs by value) and
// allocation-free.
//
//   MultiBroadcastIndexer  output flat index -> offsets into up to three NumPy-broadcast inputs
//                          (SelectV2, LogicalAnd/Or, BroadcastTo), after collapsing dims.
//   PadIndexer             output flat index -> input offset, or -1 for a padding element.
//   GatherIndexer          GatherV2 (with batch_dims): output flat index -> position in the
//                          indices and, given the index value, the params offset.
//   OneHotIndexer          OneHot: output flat index -> position in the indices and depth slot.
//
// Makers return false on inconsistent arguments or on a rank above kMaxRank after collapsing.
#pragma once

#include <cstdint>

#include "devices/common/host_device.h"

namespace quiver {
namespace movement {

inline constexpr int kMaxRank = 8;
inline constexpr int kMaxInputs = 3;

struct MultiBroadcastIndexer {
  int rank = 0;
  int num_inputs = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxInputs][kMaxRank] = {};

  QUIVER_HOST_DEVICE int64_t NumElements() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= dims[d];
    return n;
  }
  // offsets[k] = element offset of input k for output element `index` (k < num_inputs).
  QUIVER_HOST_DEVICE void Offsets(int64_t index, int64_t* offsets) const {
    for (int k = 0; k < kMaxInputs; ++k) offsets[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t i = index % dims[d];
      index /= dims[d];
      for (int k = 0; k < kMaxInputs; ++k) offsets[k] += i * strides[k][d];
    }
  }
  QUIVER_HOST_DEVICE int64_t Offset(int input, int64_t index) const {
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t i = index % dims[d];
      index /= dims[d];
      off += i * strides[input][d];
    }
    return off;
  }
};

// Broadcasts `num_inputs` inputs (input k has rank in_ranks[k] <= out_rank and dims in_dims[k],
// aligned from the right; each dim equals the output's or is 1) to an output of `out_dims`.
// Size-1 output dims are dropped and adjacent dims merged where every input's strides allow,
// so that rank counts only the dims that matter. An empty output becomes rank 1, dims {0}.
QUIVER_HOST_DEVICE bool MakeMultiBroadcastIndexer(int out_rank, const int64_t* out_dims,
                                                  int num_inputs, const int* in_ranks,
                                                  const int64_t* const* in_dims,
                                                  MultiBroadcastIndexer* out) {
  if (out_rank < 0 || num_inputs < 1 || num_inputs > kMaxInputs) return false;
  out->num_inputs = num_inputs;
  for (int k = 0; k < kMaxInputs; ++k) {
    for (int d = 0; d < kMaxRank; ++d) out->strides[k][d] = 0;
  }
  bool empty = false;
  for (int d = 0; d < out_rank; ++d) {
    if (out_dims[d] < 0) return false;
    if (out_dims[d] == 0) empty = true;
  }
  for (int k = 0; k < num_inputs; ++k) {
    if (in_ranks[k] < 0 || in_ranks[k] > out_rank) return false;
    for (int j = 0; j < in_ranks[k]; ++j) {
      const int64_t o = out_dims[out_rank - in_ranks[k] + j];
      if (in_dims[k][j] != o && in_dims[k][j] != 1) return false;
    }
  }
  if (empty) {
    out->rank = 1;
    out->dims[0] = 0;
    return true;
  }
  // Right to left: the running element stride of each input, and the collapsed groups in
  // reverse order (group g has size rev_dims[g] and stride rev_strides[k][g] for input k).
  int64_t running[kMaxInputs] = {1, 1, 1};
  int64_t rev_dims[kMaxRank] = {};
  int64_t rev_strides[kMaxInputs][kMaxRank] = {};
  int n = 0;
  for (int d = out_rank - 1; d >= 0; --d) {
    const int64_t size = out_dims[d];
    int64_t stride[kMaxInputs] = {0, 0, 0};
    for (int k = 0; k < num_inputs; ++k) {
      const int j = d - (out_rank - in_ranks[k]);  // the input's dim, or < 0 when missing
      const int64_t in_size = j >= 0 ? in_dims[k][j] : 1;
      stride[k] = in_size == 1 ? 0 : running[k];
      running[k] *= in_size;
    }
    if (size == 1) continue;  // addresses nothing
    bool merge = n > 0;
    for (int k = 0; k < num_inputs && merge; ++k) {
      merge = stride[k] == rev_strides[k][n - 1] * rev_dims[n - 1];
    }
    if (merge) {
      rev_dims[n - 1] *= size;
      continue;
    }
    if (n == kMaxRank) return false;
    rev_dims[n] = size;
    for (int k = 0; k < num_inputs; ++k) rev_strides[k][n] = stride[k];
    ++n;
  }
  out->rank = n;
  for (int g = 0; g < n; ++g) {
    out->dims[g] = rev_dims[n - 1 - g];
    for (int k = 0; k < num_inputs; ++k) out->strides[k][g] = rev_strides[k][n - 1 - g];
  }
  return true;
}

// Pad / PadV2: output element -> input offset, or -1 where the output is padding.
struct PadIndexer {
  int rank = 0;
  int64_t out_dims[kMaxRank] = {};
  int64_t in_dims[kMaxRank] = {};
  int64_t before[kMaxRank] = {};

  QUIVER_HOST_DEVICE int64_t NumOutputs() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= out_dims[d];
    return n;
  }
  QUIVER_HOST_DEVICE int64_t SourceOffset(int64_t index) const {
    int64_t off = 0, stride = 1;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t i = index % out_dims[d];
      index /= out_dims[d];
      const int64_t k = i - before[d];
      if (k < 0 || k >= in_dims[d]) return -1;
      off += k * stride;
      stride *= in_dims[d];
    }
    return off;
  }
};

// `paddings` holds (before, after) pairs per dim, all >= 0. A dim padded by nothing is folded
// into the dim before it (its sizes and `before` scale by the folded size), so only padded dims
// (and the leading one) count against kMaxRank.
QUIVER_HOST_DEVICE bool MakePadIndexer(int rank, const int64_t* in_dims, const int64_t* paddings,
                                       PadIndexer* out) {
  if (rank < 0) return false;
  int n = 0;
  for (int d = 0; d < rank; ++d) {
    const int64_t b = paddings[2 * d], a = paddings[2 * d + 1];
    if (b < 0 || a < 0 || in_dims[d] < 0) return false;
    if (b == 0 && a == 0 && n > 0) {
      out->in_dims[n - 1] *= in_dims[d];
      out->out_dims[n - 1] *= in_dims[d];
      out->before[n - 1] *= in_dims[d];
      continue;
    }
    if (n == kMaxRank) return false;
    out->in_dims[n] = in_dims[d];
    out->out_dims[n] = b + in_dims[d] + a;
    out->before[n] = b;
    ++n;
  }
  out->rank = n;
  return true;
}

// GatherV2 with params viewed as [batch, outer, limit, inner] and indices as [batch, n]: output
// [batch, outer, n, inner] element (b, o, j, i) reads params (b, o, indices[b, j], i).
struct GatherIndexer {
  int64_t batch = 1, outer = 1, n = 1, limit = 1, inner = 1;

  QUIVER_HOST_DEVICE int64_t NumOutputs() const { return batch * outer * n * inner; }
  // Position in the (flat) indices that output `index` uses.
  QUIVER_HOST_DEVICE int64_t IndexPosition(int64_t index) const {
    const int64_t r = index / inner;  // (b * outer + o) * n + j
    const int64_t b = r / n / outer;
    return b * n + r % n;
  }
  // Params offset of output `index`, given the index value `idx` in [0, limit).
  QUIVER_HOST_DEVICE int64_t SourceOffset(int64_t index, int64_t idx) const {
    const int64_t i = index % inner;
    const int64_t bo = index / inner / n;  // b * outer + o
    return (bo * limit + idx) * inner + i;
  }
};

// OneHot with indices viewed as [prefix, suffix] (split at the axis) and output as
// [prefix, depth, suffix].
struct OneHotIndexer {
  int64_t prefix = 1, depth = 1, suffix = 1;

  QUIVER_HOST_DEVICE int64_t NumOutputs() const { return prefix * depth * suffix; }
  QUIVER_HOST_DEVICE int64_t IndexPosition(int64_t index) const {
    return index / (depth * suffix) * suffix + index % suffix;
  }
  QUIVER_HOST_DEVICE int64_t DepthSlot(int64_t index) const { return index / suffix % depth; }
};

}  // namespace movement
}  // namespace quiver
