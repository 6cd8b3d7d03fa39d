// Intra-op parallelism for Quiver's own CPU kernels, on the same OpenMP runtime oneDNN uses.
//
// Why OpenMP and not a pool of our own: oneDNN's OpenMP workers spin for a while after each
// primitive, waiting for the next one. A second pool woken right after a convolution competes
// with those spinning threads for the same cores, and on 2 cores our loops then ran on one
// thread (measured, Deep MNIST training step: MaxPoolGrad 1.07 -> 0.59 ms, ApplyAdam 1.60 ->
// 1.08 ms once the loops joined oneDNN's team). One team for every kernel also keeps
// inter-op x intra-op threads within the cores, as the session promises.
#pragma once

#include <cstdint>
#include <functional>

namespace quiver {

// Runs fn(begin, end) over [0, n) in at most `threads` contiguous chunks of at least
// `min_chunk` items (the last may be shorter), one chunk per OpenMP thread, and returns when
// all are done. The split depends only on (n, min_chunk, threads), so kernels that combine
// per-chunk partial results stay deterministic. Runs on the calling thread alone when one
// chunk suffices or when called from inside a parallel region (no nested teams).
void ParallelFor(int threads, int64_t n, int64_t min_chunk,
                 const std::function<void(int64_t, int64_t)>& fn);

}  // namespace quiver
