// The runtime path a TF1 user takes on /gpu:0 (tools/examples/mnist_softmax.cc): build the model
// under a GPU scope, run the initializer, run the train step with feeds and fetch the loss, then
// read, checkpoint and restore the variables. Checked against the same graph pinned to the CPU:
// losses step by step, variables after training, RunMetadata, a step that fails on the GPU
// partition (the session stays usable), Runs from several threads at once on one session, and
// CudaDevice::Sync racing with CopyFromHost (staging buffers of copies still in flight).
//
// Without a GPU every case reports QUIVER_SKIPPED. In harness mode (QUIVER_GPU_HARNESS_CHECK=1,
// no GPU) the session cases run with the "GPU" session soft-placed on the CPU, which checks the
// test's own plumbing; the device-level case returns at once.
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "devices/cuda/cuda_device.h"
#include "graph/builder.h"
#include "graph/optimizers.h"
#include "graph/status_macros.h"
#include "runtime/checkpoint.h"
#include "runtime/session.h"
#include "tests/cuda/gpu_models.h"
#include "tests/cuda/gpu_test_harness.h"

namespace quiver {
namespace {

using namespace gputest;  // NOLINT: the shared harness (gpu_test_harness.h)

struct Batch {
  Tensor x, y;
};

// Deterministic MNIST-like batches (sparse pixels in [0, 1), one-hot labels).
std::vector<Batch> MakeBatches(int count, int64_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> pixel(0.f, 1.f);
  std::vector<Batch> out;
  for (int i = 0; i < count; ++i) {
    std::vector<float> xs(size * 784), ys(size * 10, 0.f);
    for (float& v : xs) v = pixel(rng) < 0.2f ? pixel(rng) : 0.f;  // sparse, like MNIST
    // A label a linear model can learn: the block of 78 pixels with the largest sum.
    for (int64_t r = 0; r < size; ++r) {
      int64_t best = 0;
      float best_sum = -1.f;
      for (int64_t k = 0; k < 10; ++k) {
        float sum = 0.f;
        for (int64_t p = 0; p < 78; ++p) sum += xs[r * 784 + k * 78 + p];
        if (sum > best_sum) {
          best_sum = sum;
          best = k;
        }
      }
      ys[r * 10 + best] = 1.f;
    }
    out.push_back({Tensor::FromVector<float>(xs, TensorShape{size, 784}),
                   Tensor::FromVector<float>(ys, TensorShape{size, 10})});
  }
  return out;
}

std::unique_ptr<Session> NewSession(bool cpu, std::string* train_op) {
  Graph graph;
  REQUIRE(SoftmaxModel(graph, train_op).ok());
  if (cpu) PinToCpu(graph);
  auto session = Session::Create(graph, SessionOptions{});
  REQUIRE(session.ok());
  return *std::move(session);
}

bool Close(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(std::fabs(a[i] - b[i]) <= tol * (1.f + std::fabs(b[i])))) {
      UNSCOPED_INFO("element " << i << ": " << a[i] << " vs " << b[i]);
      return false;
    }
  }
  return true;
}

std::map<std::string, std::vector<float>> Variables(Session& s) {
  std::map<std::string, std::vector<float>> out;
  auto vars = s.ReadVariables();
  if (!vars.ok()) {
    FAIL_CHECK(vars.status().ToString());
    return out;
  }
  for (const auto& [name, t] : *vars) out[name] = t.ToVector<float>();
  return out;
}

TEST_CASE("GPU runtime: MNIST softmax on /gpu:0 trains like the CPU, state persists",
          "[gpu][runtime]") {
  GPU_TEST_PROLOGUE();
  const bool gpu = cuda::GpuCount() > 0;
  std::string train_op;
  auto cpu_s = NewSession(/*cpu=*/true, &train_op);
  auto gpu_s = NewSession(/*cpu=*/false, &train_op);

  // A train step before the initializer fails in the GPU partition; the session stays usable.
  const std::vector<Batch> batches = MakeBatches(8, 100, 11);
  auto early =
      gpu_s->Run({{"x", batches[0].x}, {"y_", batches[0].y}}, {"cross_entropy"}, {train_op});
  CHECK(!early.ok());
  if (!early.ok()) CHECK(early.status().message().find("uninitialized") != std::string::npos);

  REQUIRE(cpu_s->Run({}, {}, {"init"}).ok());
  REQUIRE(gpu_s->Run({}, {}, {"init"}).ok());

  // 24 steps (three passes over the batches): the loss each step, fetched from device memory.
  std::vector<float> cpu_losses, gpu_losses;
  RunMetadata md;
  for (int step = 0; step < 24; ++step) {
    const Batch& b = batches[step % batches.size()];
    auto c = cpu_s->Run({{"x", b.x}, {"y_", b.y}}, {"cross_entropy"}, {train_op});
    auto g = gpu_s->Run({{"x", b.x}, {"y_", b.y}}, {"cross_entropy"}, {train_op}, &md);
    REQUIRE(c.ok());
    if (!g.ok()) {
      FAIL_CHECK("step " << step << ": " << g.status().ToString());
      return;
    }
    REQUIRE(g->size() == 1);
    CHECK(((*g)[0].allocator() == nullptr || (*g)[0].allocator()->host_accessible()));
    cpu_losses.push_back((*c)[0].ToVector<float>()[0]);
    gpu_losses.push_back((*g)[0].ToVector<float>()[0]);
  }
  CHECK(Close(gpu_losses, cpu_losses, 1e-3f));
  CHECK(gpu_losses.back() < gpu_losses.front());  // it trains

  // The step moved its two feeds in and nothing else; the variables live in GPU memory.
  if (gpu) {
    CHECK(md.transfers == 2);
    bool found = false;
    for (const auto& d : md.device_memory) {
      if (d.device.find("GPU:0") == std::string::npos) continue;
      found = true;
      CHECK(d.bytes_in_use >= static_cast<int64_t>((784 * 10 + 10) * sizeof(float)));
      CHECK(d.peak_bytes_in_use >= d.bytes_in_use);
    }
    CHECK(found);
  }

  // Variables after training: read back from device memory, and fetched through their refs.
  auto cpu_vars = Variables(*cpu_s);
  auto gpu_vars = Variables(*gpu_s);
  REQUIRE(cpu_vars.count("W") == 1);
  REQUIRE(gpu_vars.count("W") == 1);
  CHECK(Close(gpu_vars["W"], cpu_vars["W"], 1e-3f));
  CHECK(Close(gpu_vars["b"], cpu_vars["b"], 1e-3f));
  auto fetched = gpu_s->Run({}, {"W", "b"}, {});
  REQUIRE(fetched.ok());
  CHECK((*fetched)[0].ToVector<float>() == gpu_vars["W"]);
  CHECK((*fetched)[1].ToVector<float>() == gpu_vars["b"]);

  // Another signature (evaluation, a bigger batch) on the same variables.
  const Batch eval = MakeBatches(1, 1000, 5)[0];
  auto ca = cpu_s->Run({{"x", eval.x}, {"y_", eval.y}}, {"accuracy", "cross_entropy"});
  auto ga = gpu_s->Run({{"x", eval.x}, {"y_", eval.y}}, {"accuracy", "cross_entropy"});
  REQUIRE(ca.ok());
  if (!ga.ok()) FAIL_CHECK(ga.status().ToString());
  if (ga.ok()) {
    CHECK(std::fabs((*ga)[0].ToVector<float>()[0] - (*ca)[0].ToVector<float>()[0]) <= 3e-3f);
    CHECK(Close((*ga)[1].ToVector<float>(), (*ca)[1].ToVector<float>(), 1e-3f));
  }

  // Checkpoint out of device memory, restore into a fresh GPU session: same variables, and the
  // next step's loss equals the original session's.
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("quiver_gpu_runtime_test." + std::to_string(::getpid()) + ".ckpt"))
                               .string();
  REQUIRE(SaveCheckpoint(*gpu_s, path, 24).ok());
  std::string train2;
  auto restored = NewSession(/*cpu=*/false, &train2);
  REQUIRE(restored->Run({}, {}, {"init"}).ok());
  auto step = RestoreCheckpoint(*restored, path);
  REQUIRE(step.ok());
  CHECK(*step == 24);
  auto restored_vars = Variables(*restored);
  CHECK(restored_vars["W"] == gpu_vars["W"]);
  CHECK(restored_vars["b"] == gpu_vars["b"]);
  const Batch& next = batches[0];
  auto l1 = gpu_s->Run({{"x", next.x}, {"y_", next.y}}, {"cross_entropy"}, {train_op});
  auto l2 = restored->Run({{"x", next.x}, {"y_", next.y}}, {"cross_entropy"}, {train2});
  REQUIRE(l1.ok());
  REQUIRE(l2.ok());
  CHECK((*l1)[0].ToVector<float>()[0] == Approx((*l2)[0].ToVector<float>()[0]).epsilon(1e-5));
  std::filesystem::remove(path);

  // Destroying a session while tensors it returned are alive: they are host copies.
  const Tensor kept = (*l1)[0];
  gpu_s.reset();
  restored.reset();
  CHECK(kept.ToVector<float>().size() == 1);
}

// Session::Run is thread-safe: evaluation steps from four threads at once on one GPU session
// (feeds staged through pinned memory, fetches copied out, each step's sync-on-finish) give the
// results of the same steps run one at a time.
TEST_CASE("GPU runtime: concurrent Runs on one /gpu:0 session give sequential results",
          "[gpu][runtime]") {
  GPU_TEST_PROLOGUE();
  std::string train_op;
  auto s = NewSession(/*cpu=*/false, &train_op);
  REQUIRE(s->Run({}, {}, {"init"}).ok());
  const std::vector<Batch> batches = MakeBatches(6, 100, 3);
  for (int i = 0; i < 6; ++i) {  // non-zero weights, so every batch has its own loss
    REQUIRE(s->Run({{"x", batches[i].x}, {"y_", batches[i].y}}, {}, {train_op}).ok());
  }
  const std::vector<Batch> evals = MakeBatches(16, 200, 9);
  std::vector<float> expected;
  for (const Batch& b : evals) {
    auto r = s->Run({{"x", b.x}, {"y_", b.y}}, {"cross_entropy"});
    REQUIRE(r.ok());
    expected.push_back((*r)[0].ToVector<float>()[0]);
  }
  constexpr int kThreads = 4, kRounds = 10;
  std::atomic<int> errors{0}, mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        const size_t i = static_cast<size_t>(t * 7 + round) % evals.size();
        auto r = s->Run({{"x", evals[i].x}, {"y_", evals[i].y}}, {"cross_entropy"});
        if (!r.ok()) {
          errors++;
          continue;
        }
        // Not bit-exact: a reduction may sum in another order.
        const float got = (*r)[0].ToVector<float>()[0];
        if (!(std::fabs(got - expected[i]) <= 1e-5f * (1.f + std::fabs(expected[i])))) {
          mismatches++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(errors.load() == 0);
  CHECK(mismatches.load() == 0);
}

// CudaDevice::Sync from one thread while another keeps staging copies: Sync may release only the
// staging buffers of completed copies (a buffer handed back early is reused by the next copy
// while the DMA still reads it, and a destination receives the later bytes).
TEST_CASE("GPU runtime: Sync racing CopyFromHost keeps in-flight staging", "[gpu][runtime]") {
  if (HarnessMode()) return;  // nothing here runs without a GPU
  GPU_TEST_PROLOGUE();
  auto staging = SyncedStagingGpu();
  REQUIRE(staging.ok());
  Device* gpu = staging->gpu;
  constexpr int kCopies = 200;
  constexpr size_t kFloats = 64 * 1024;
  std::atomic<bool> stop{false};
  std::atomic<int> sync_errors{0};
  std::thread syncer([&] {
    while (!stop.load()) {
      if (!gpu->Sync().ok()) sync_errors++;
    }
  });
  std::vector<float> host(kFloats);
  std::vector<void*> dst;
  int copy_errors = 0;
  for (int i = 0; i < kCopies; ++i) {
    std::fill(host.begin(), host.end(), static_cast<float>(i));
    void* d = gpu->allocator()->AllocateRaw(256, kFloats * sizeof(float));
    REQUIRE(d != nullptr);
    copy_errors += !gpu->CopyFromHost(host.data(), d, kFloats * sizeof(float)).ok();
    dst.push_back(d);
  }
  stop.store(true);
  syncer.join();
  CHECK(copy_errors == 0);
  CHECK(sync_errors.load() == 0);
  std::vector<float> back(kFloats);
  int wrong = 0;
  for (int i = 0; i < kCopies; ++i) {
    CHECK(gpu->CopyToHost(dst[i], back.data(), kFloats * sizeof(float)).ok());
    for (float v : back) wrong += v != static_cast<float>(i);
  }
  CHECK(wrong == 0);
  CHECK(gpu->Sync().ok());
  CHECK(staging->cuda_device->pinned_allocator()->GetStats().bytes_in_use ==
        staging->pinned_before);
  for (void* d : dst) gpu->allocator()->DeallocateRaw(d);
}

}  // namespace
}  // namespace quiver
