#include "devices/cpu/parallel_for.h"

#include <omp.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace quiver {
namespace {

// Runs chunk c of `chunks` equal ranges of [0, n).
void RunChunk(int64_t c, int64_t chunks, int64_t n,
              const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t per = (n + chunks - 1) / chunks;
  const int64_t begin = c * per, end = std::min(n, begin + per);
  if (begin < end) fn(begin, end);
}

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer cannot see libgomp's barriers (it is built without TSan), so every kernel
// output read after an OpenMP join would be reported as a race. Under TSan the chunks run on
// std::threads instead, whose joins it understands: it still checks the chunks against each
// other, which is what the kernels' split has to get right.
thread_local bool in_parallel_for = false;

void RunChunks(int64_t chunks, int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  std::vector<std::thread> helpers;
  for (int64_t c = 1; c < chunks; ++c) {
    helpers.emplace_back([c, chunks, n, &fn] {
      in_parallel_for = true;
      RunChunk(c, chunks, n, fn);
    });
  }
  in_parallel_for = true;
  RunChunk(0, chunks, n, fn);
  in_parallel_for = false;
  for (std::thread& t : helpers) t.join();
}

bool InParallelRegion() { return in_parallel_for || omp_in_parallel(); }
#else
void RunChunks(int64_t chunks, int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
#pragma omp parallel num_threads(static_cast <int>(chunks))
  {
    // The runtime may give a smaller team than asked for (OMP_THREAD_LIMIT, dynamic
    // adjustment): each thread then takes every team-th chunk, so every item still runs once.
    const int team = omp_get_num_threads();
    for (int64_t c = omp_get_thread_num(); c < chunks; c += team) RunChunk(c, chunks, n, fn);
  }
}

bool InParallelRegion() { return omp_in_parallel(); }
#endif

}  // namespace

void ParallelFor(int threads, int64_t n, int64_t min_chunk,
                 const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  min_chunk = std::max<int64_t>(1, min_chunk);
  const int64_t chunks =
      std::clamp<int64_t>((n + min_chunk - 1) / min_chunk, 1, std::max(1, threads));
  if (chunks == 1 || InParallelRegion()) {
    fn(0, n);
    return;
  }
  RunChunks(chunks, n, fn);
}

}  // namespace quiver
