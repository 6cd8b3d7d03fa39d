// ParallelFor (devices/cpu/parallel_for.h): the chunks it hands out, hand-derived for small
// cases; every index exactly once for a grid of sizes; several OpenMP threads really run; a
// nested call stays correct.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "devices/cpu/parallel_for.h"

using quiver::ParallelFor;

namespace {

using Ranges = std::vector<std::pair<int64_t, int64_t>>;

// The [begin, end) ranges fn was called with, sorted.
Ranges ChunksOf(int threads, int64_t n, int64_t min_chunk) {
  std::mutex mu;
  Ranges ranges;
  ParallelFor(threads, n, min_chunk, [&](int64_t b, int64_t e) {
    std::lock_guard<std::mutex> lock(mu);
    ranges.emplace_back(b, e);
  });
  std::sort(ranges.begin(), ranges.end());
  return ranges;
}

}  // namespace

TEST_CASE("ParallelFor splits 0..n into at most threads chunks of at least min_chunk items",
          "[parallel_for]") {
  // ceil(10 / 1) = 10 candidate chunks, capped at 3 threads: ceil(10 / 3) = 4 items each.
  CHECK(ChunksOf(3, 10, 1) == Ranges{{0, 4}, {4, 8}, {8, 10}});
  // min_chunk 6: ceil(10 / 6) = 2 chunks of 5.
  CHECK(ChunksOf(3, 10, 6) == Ranges{{0, 5}, {5, 10}});
  // One chunk suffices: a single call over everything.
  CHECK(ChunksOf(4, 10, 10) == Ranges{{0, 10}});
  CHECK(ChunksOf(4, 10, 100) == Ranges{{0, 10}});
  // One thread (or a nonsensical count) never splits.
  CHECK(ChunksOf(1, 1000, 1) == Ranges{{0, 1000}});
  CHECK(ChunksOf(0, 7, 1) == Ranges{{0, 7}});
  CHECK(ChunksOf(-2, 7, 0) == Ranges{{0, 7}});
  // Nothing to do: fn is not called.
  CHECK(ChunksOf(4, 0, 1).empty());
  CHECK(ChunksOf(4, -5, 1).empty());
}

TEST_CASE("ParallelFor visits every index exactly once", "[parallel_for]") {
  for (int threads : {1, 2, 3, 4, 7}) {
    for (int64_t n : {1, 2, 3, 5, 64, 1000, 4099}) {
      for (int64_t min_chunk : {0, 1, 3, 64, 5000}) {
        CAPTURE(threads, n, min_chunk);
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        ParallelFor(threads, n, min_chunk, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
        });
        int64_t wrong = 0;
        for (const auto& h : hits) wrong += h.load() != 1;
        CHECK(wrong == 0);
      }
    }
  }
}

TEST_CASE("ParallelFor runs its chunks on several threads", "[parallel_for]") {
  // Each chunk waits (bounded) until a second chunk has started: only concurrent threads
  // let both see 2.
  std::atomic<int> started{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  ParallelFor(2, 2, 1, [&](int64_t, int64_t) {
    started.fetch_add(1);
    for (int spin = 0; spin < 2000 && started.load() < 2; ++spin) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::lock_guard<std::mutex> lock(mu);
    ids.insert(std::this_thread::get_id());
  });
  CHECK(started.load() == 2);
  CHECK(ids.size() == 2);
}

TEST_CASE("A ParallelFor inside a ParallelFor chunk still covers its range", "[parallel_for]") {
  constexpr int64_t kRows = 6, kCols = 1000;
  std::vector<std::atomic<int>> hits(kRows * kCols);
  ParallelFor(3, kRows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      ParallelFor(3, kCols, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) hits[r * kCols + c].fetch_add(1);
      });
    }
  });
  int64_t wrong = 0;
  for (const auto& h : hits) wrong += h.load() != 1;
  CHECK(wrong == 0);
}
