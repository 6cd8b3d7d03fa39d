// Row-major index arithmetic for the host-side index-map tests (index_helpers_test.cc,
// movement_helpers_test.cc): the naive reference the helpers under test are checked against,
// written independently of devices/common (repeated division and multiply-add).
#pragma once

#include <cstdint>
#include <functional>
#include <numeric>
#include <vector>

namespace quiver::index_test {

// Multi-index of flat index i over dims (row-major), computed by repeated division.
inline std::vector<int64_t> Unravel(int64_t i, const std::vector<int64_t>& dims) {
  std::vector<int64_t> idx(dims.size());
  for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
    idx[d] = i % dims[d];
    i /= dims[d];
  }
  return idx;
}

// Flat index of the multi-index idx over dims (row-major).
inline int64_t Ravel(const std::vector<int64_t>& idx, const std::vector<int64_t>& dims) {
  int64_t off = 0;
  for (size_t d = 0; d < dims.size(); ++d) off = off * dims[d] + idx[d];
  return off;
}

// Number of elements of dims (1 for a scalar).
inline int64_t Product(const std::vector<int64_t>& dims) {
  return std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<int64_t>());
}

}  // namespace quiver::index_test
