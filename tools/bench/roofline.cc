// quiver_roofline [--threads N] [--size S] [--format text|json]
// This machine's roofline ceilings: single-precision GEMM throughput through oneDNN's
// dnnl_sgemm (S x S x S, best of several runs) on one thread and on N threads, and memory
// bandwidth from a STREAM-style triad a[i] = b[i] + s * c[i] over arrays far larger than the
// caches (three arrays of 2^24 floats; 12 bytes per element moved, STREAM's convention, which
// does not count the write-allocate read of a[]).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.h"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best-of-`reps` sgemm GFLOP/s with `threads` OpenMP threads.
double SgemmGflops(int threads, int64_t n, int reps) {
  omp_set_num_threads(threads);
  std::vector<float> a(n * n), b(n * n), c(n * n);
  for (int64_t i = 0; i < n * n; ++i) {
    a[i] = static_cast<float>((i * 7) % 13) * 0.01f;
    b[i] = static_cast<float>((i * 5) % 11) * 0.01f;
  }
  double best = 0;
  for (int r = 0; r < reps + 1; ++r) {  // the first call warms up (JIT, threads)
    double t0 = Now();
    if (dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n) !=
        dnnl_success) {
      std::fprintf(stderr, "quiver_roofline: dnnl_sgemm failed\n");
      std::exit(1);
    }
    double dt = Now() - t0;
    if (r > 0) best = std::max(best, 2.0 * n * n * n / dt / 1e9);
  }
  return best;
}

// Best-of-`reps` triad GB/s with `threads` threads.
double TriadGbs(int threads, int reps) {
  const int64_t n = int64_t{1} << 24;
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]), c(new float[n]);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {  // first touch by the threads that run the triad
    a[i] = 0.f;
    b[i] = 1.f;
    c[i] = 2.f;
  }
  const float s = 3.f;
  float* pa = a.get();
  const float* pb = b.get();
  const float* pc = c.get();
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    double t0 = Now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
    double dt = Now() - t0;
    best = std::max(best, 3.0 * sizeof(float) * n / dt / 1e9);
  }
  if (pa[n / 2] != 7.f) std::fprintf(stderr, "quiver_roofline: triad check failed\n");
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = omp_get_max_threads();
  int64_t size = 1536;
  std::string format = "text";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "quiver_roofline: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") {
      threads = std::atoi(next());
    } else if (a == "--size") {
      size = std::atoll(next());
    } else if (a == "--format") {
      format = next();
    } else {
      std::fprintf(stderr,
                   "usage: quiver_roofline [--threads N] [--size S] [--format text|json]\n");
      return 2;
    }
  }
  if (threads < 1 || size < 64 || (format != "text" && format != "json")) {
    std::fprintf(stderr, "quiver_roofline: --threads >= 1, --size >= 64, --format text|json\n");
    return 2;
  }
  const double g1 = SgemmGflops(1, size, 3);
  const double gn = threads == 1 ? g1 : SgemmGflops(threads, size, 5);
  const double b1 = TriadGbs(1, 5);
  const double bn = threads == 1 ? b1 : TriadGbs(threads, 5);
  if (format == "json") {
    std::printf(
        "{\"threads\": %d, \"sgemm_size\": %lld, \"sgemm_gflops_1t\": %.2f, \"sgemm_gflops\": "
        "%.2f, "
        "\"triad_gbs_1t\": %.2f, \"triad_gbs\": %.2f}\n",
        threads, static_cast<long long>(size), g1, gn, b1, bn);
  } else {
    std::printf("sgemm %lldx%lldx%lld (oneDNN): %.1f GFLOP/s on 1 thread, %.1f on %d\n",
                static_cast<long long>(size), static_cast<long long>(size),
                static_cast<long long>(size), g1, gn, threads);
    std::printf("triad (3 x 64 MiB): %.1f GB/s on 1 thread, %.1f on %d\n", b1, bn, threads);
    std::printf("ridge point (%d threads): %.1f FLOP/byte\n", threads, gn / bn);
  }
  return 0;
}
