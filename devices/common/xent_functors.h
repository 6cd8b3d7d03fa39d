// SparseSoftmaxCrossEntropyWithLogits for one row, as a __host__ __device__ function: the CUDA
// kernel runs it per row and tests/devices/xent_functors_test.cc checks it on the host against
// hand-derived values. The arithmetic follows the CPU kernel (devices/cpu/kernels/xent_ops.cc):
// with m = max(logits) and s = sum_j exp(logits_j - m) accumulated in double,
//   loss       = log(s) - (logits_label - m)
//   backprop_j = exp(logits_j - m) / s - (j == label)
#pragma once

#include <cmath>
#include <cstdint>

#include "devices/common/host_device.h"

namespace quiver {
namespace functor {

// Returns the row's loss and writes its `cols` backprop values. A label outside [0, cols) (which
// callers reject before launching) never indexes out of bounds: the loss and every backprop value
// become NaN. cols == 0 writes nothing and returns 0.
template <typename T>
QUIVER_HOST_DEVICE T SparseXentRow(const T* logits, int64_t cols, int64_t label, T* backprop) {
  if (cols <= 0) return T(0);
  if (label < 0 || label >= cols) {
    const T nan = static_cast<T>(NAN);
    for (int64_t j = 0; j < cols; ++j) backprop[j] = nan;
    return nan;
  }
  T mx = logits[0];
  for (int64_t j = 1; j < cols; ++j) mx = logits[j] > mx ? logits[j] : mx;
  double sum = 0;
  for (int64_t j = 0; j < cols; ++j) {
    const T e = std::exp(logits[j] - mx);
    backprop[j] = e;
    sum += static_cast<double>(e);
  }
  for (int64_t j = 0; j < cols; ++j) {
    backprop[j] = static_cast<T>(static_cast<double>(backprop[j]) / sum - (j == label ? 1.0 : 0.0));
  }
  return static_cast<T>(std::log(sum) - static_cast<double>(logits[label] - mx));
}

}  // namespace functor
}  // namespace quiver
