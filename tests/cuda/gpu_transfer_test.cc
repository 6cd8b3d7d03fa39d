// CudaDevice::CopyFromHost through pinned staging (devices/cuda/cuda_device.cc): the call
// returns before its DMA ends, so the test overwrites each host source right after the call and
// checks that the device still received the bytes given at call time, that compute work queued
// later sees them, that large copies (not staged) arrive too, and that every staging buffer is
// back in the pinned allocator after Sync(). Expected values are the host vectors themselves.
#include <catch2/catch.hpp>

#include <cstring>
#include <numeric>
#include <vector>

#include "devices/cuda/cuda_device.h"
#include "tests/cuda/gpu_test_harness.h"

namespace quiver {
namespace {

using namespace gputest;  // NOLINT: the shared harness (gpu_test_harness.h)

TEST_CASE("GPU: CopyFromHost stages through pinned memory and may reuse the source", "[gpu]") {
  if (HarnessMode()) return;  // nothing here runs without a GPU
  GPU_TEST_PROLOGUE();
  auto staging = SyncedStagingGpu();
  REQUIRE(staging.ok());
  Device* gpu = staging->gpu;

  // 64 copies of 100x784 floats (an MNIST batch) from ONE host buffer, rewritten after each
  // call: each destination must hold the values of its own call.
  constexpr int kCopies = 64;
  constexpr size_t kFloats = 100 * 784;
  std::vector<float> host(kFloats);
  std::vector<void*> dst;
  for (int i = 0; i < kCopies; ++i) {
    std::iota(host.begin(), host.end(), static_cast<float>(i * 1000));
    void* d = gpu->allocator()->AllocateRaw(256, kFloats * sizeof(float));
    REQUIRE(d != nullptr);
    absl::Status s = gpu->CopyFromHost(host.data(), d, kFloats * sizeof(float));
    CHECK(s.ok());
    std::fill(host.begin(), host.end(), -1.0f);  // the caller reuses its buffer at once
    dst.push_back(d);
  }
  // Compute work queued after the copies sees their bytes: a device-to-device copy on the
  // compute stream, then back to the host.
  void* last_copy = gpu->allocator()->AllocateRaw(256, kFloats * sizeof(float));
  REQUIRE(last_copy != nullptr);
  CHECK(cudaMemcpyAsync(last_copy, dst.back(), kFloats * sizeof(float), cudaMemcpyDeviceToDevice,
                        staging->cuda_device->streams().compute) == cudaSuccess);
  std::vector<float> back(kFloats);
  for (int i = 0; i < kCopies; ++i) {
    CHECK(gpu->CopyToHost(dst[i], back.data(), kFloats * sizeof(float)).ok());
    CHECK(back.front() == static_cast<float>(i * 1000));
    CHECK(back.back() == static_cast<float>(i * 1000 + kFloats - 1));
  }
  CHECK(gpu->CopyToHost(last_copy, back.data(), kFloats * sizeof(float)).ok());
  CHECK(back[17] == static_cast<float>((kCopies - 1) * 1000 + 17));

  // A copy above the staging limit (64 MiB) goes straight from the caller's memory.
  const size_t big_floats = (size_t{80} << 20) / sizeof(float);
  std::vector<float> big(big_floats);
  std::iota(big.begin(), big.end(), 0.0f);
  void* big_dst = gpu->allocator()->AllocateRaw(256, big_floats * sizeof(float));
  REQUIRE(big_dst != nullptr);
  CHECK(gpu->CopyFromHost(big.data(), big_dst, big_floats * sizeof(float)).ok());
  std::vector<float> expected_tail(big.end() - 1000, big.end());
  std::fill(big.begin(), big.end(), 0.0f);
  std::vector<float> tail(1000);
  CHECK(gpu->CopyToHost(static_cast<float*>(big_dst) + big_floats - 1000, tail.data(),
                        1000 * sizeof(float))
            .ok());
  CHECK(tail == expected_tail);

  // After Sync every staging buffer is back.
  CHECK(gpu->Sync().ok());
  CHECK(staging->cuda_device->pinned_allocator()->GetStats().bytes_in_use ==
        staging->pinned_before);
  for (void* d : dst) gpu->allocator()->DeallocateRaw(d);
  gpu->allocator()->DeallocateRaw(last_copy);
  gpu->allocator()->DeallocateRaw(big_dst);
}

}  // namespace
}  // namespace quiver
