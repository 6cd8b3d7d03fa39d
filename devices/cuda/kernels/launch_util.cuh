// Launch boilerplate shared by the .cu kernel files: the block size, the grid size for n
// elements and the grid-stride loop. Device code only sees devices/common and raw pointers;
// this header adds nothing else (no absl, no graph).
#pragma once

#include <cstdint>

namespace quiver {
namespace cuda {

// Threads per block of the element-wise kernels (and the size of their shared scratch).
constexpr int kThreads = 256;

// Blocks for n elements at kThreads per block: at least 1, at most 65536 (a grid-stride loop
// covers the rest).
inline int Blocks(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65536 ? (b < 1 ? 1 : b) : 65536);
}

}  // namespace cuda
}  // namespace quiver

// for (i = this thread's first element; i < n; i += all threads of the grid).
#define QUIVER_GRID_LOOP(i, n)                                                           \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
