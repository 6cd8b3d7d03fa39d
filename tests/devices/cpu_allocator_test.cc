// CpuAllocator: statistics, the byte limit, the size-class cache, and tensors that remember
// the allocator they came from.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "devices/cpu/cpu_allocator.h"
#include "devices/device.h"
#include "graph/tensor.h"

namespace quiver {
namespace {

TEST_CASE("Size classes: 64-byte minimum, four classes per power of two", "[allocator]") {
  CHECK(CpuAllocator::SizeClass(0) == 64);
  CHECK(CpuAllocator::SizeClass(1) == 64);
  CHECK(CpuAllocator::SizeClass(65) == 128);  // 64 <= n < 128: step max(64, 16) = 64
  // 1 MiB <= n < 2 MiB: steps of 256 KiB.
  CHECK(CpuAllocator::SizeClass(size_t{1} << 20) == size_t{1} << 20);
  CHECK(CpuAllocator::SizeClass((size_t{1} << 20) + 1) == (size_t{1} << 20) + (size_t{256} << 10));
  CHECK(CpuAllocator::SizeClass(1'900'000) == size_t{2} << 20);
}

TEST_CASE("Stats count bytes handed out and the peak", "[allocator]") {
  CpuAllocator a({.name = "test"});
  CHECK(a.Name() == "test");
  void* p = a.AllocateRaw(64, 1000);
  void* q = a.AllocateRaw(64, 24);
  REQUIRE(p != nullptr);
  REQUIRE(q != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
  CHECK(reinterpret_cast<uintptr_t>(q) % 64 == 0);
  std::memset(p, 1, 1000);  // the whole request is usable
  AllocatorStats s = a.GetStats();
  CHECK(s.num_allocs == 2);
  CHECK(s.bytes_in_use == 1024);
  CHECK(s.peak_bytes_in_use == 1024);
  CHECK(s.largest_alloc_size == 1000);
  a.DeallocateRaw(p);
  s = a.GetStats();
  CHECK(s.bytes_in_use == 24);
  CHECK(s.peak_bytes_in_use == 1024);
  a.ClearPeak();
  CHECK(a.GetStats().peak_bytes_in_use == 24);
  a.DeallocateRaw(q);
  a.DeallocateRaw(nullptr);  // ignored
  CHECK(a.GetStats().bytes_in_use == 0);
}

TEST_CASE("Larger alignments and zero-byte requests", "[allocator]") {
  CpuAllocator a;
  void* p = a.AllocateRaw(4096, 10);
  void* z1 = a.AllocateRaw(64, 0);
  void* z2 = a.AllocateRaw(64, 0);
  REQUIRE(p != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(p) % 4096 == 0);
  REQUIRE(z1 != nullptr);
  CHECK(z1 != z2);                        // unique pointers
  CHECK(a.AllocateRaw(3, 8) == nullptr);  // not a power of two
  a.DeallocateRaw(p);
  a.DeallocateRaw(z1);
  a.DeallocateRaw(z2);
  CHECK(a.GetStats().bytes_in_use == 0);
}

TEST_CASE("The byte limit refuses requests that would exceed it", "[allocator]") {
  CpuAllocator a({.name = "limited", .bytes_limit = 1000});
  void* p = a.AllocateRaw(64, 600);
  REQUIRE(p != nullptr);
  CHECK(a.AllocateRaw(64, 401) == nullptr);  // 600 + 401 > 1000
  void* q = a.AllocateRaw(64, 400);          // exactly at the limit
  CHECK(q != nullptr);
  a.DeallocateRaw(p);
  a.DeallocateRaw(q);
  CHECK(a.GetStats().bytes_limit == 1000);

  // Through Tensor::Create the failure is a ResourceExhausted naming the allocator and limit.
  auto t = Tensor::Create(DT_FLOAT, {300}, &a);  // 1200 bytes
  REQUIRE_FALSE(t.ok());
  CHECK(t.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(std::string(t.status().message()).find("limited") != std::string::npos);
  CHECK(std::string(t.status().message()).find("1000") != std::string::npos);
}

TEST_CASE("Freed large blocks are cached and reused for the same size class", "[allocator]") {
  CpuAllocator a({.name = "cache", .max_cached_bytes = 8 << 20, .min_cached_bytes = 64 << 10});
  void* p = a.AllocateRaw(64, 1 << 20);
  REQUIRE(p != nullptr);
  a.DeallocateRaw(p);
  CHECK(a.cached_bytes() == 1 << 20);
  // Same class (1 MiB exactly and 1 MiB - 100 both round to 1 MiB): the same block comes back.
  void* q = a.AllocateRaw(64, (1 << 20) - 100);
  CHECK(q == p);
  CHECK(a.cached_bytes() == 0);
  CHECK(a.GetStats().bytes_in_use == (1 << 20) - 100);
  // A small block is never cached.
  void* s = a.AllocateRaw(64, 1000);
  a.DeallocateRaw(s);
  CHECK(a.cached_bytes() == 0);
  a.DeallocateRaw(q);
  // The cache is bounded: a block that would overflow max_cached_bytes goes back to the heap.
  void* big = a.AllocateRaw(64, 16 << 20);
  a.DeallocateRaw(big);
  CHECK(a.cached_bytes() == 1 << 20);
  a.ReleaseCache();
  CHECK(a.cached_bytes() == 0);
}

TEST_CASE("Concurrent allocation keeps exact statistics", "[allocator]") {
  CpuAllocator a;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&a, t] {
      for (int i = 0; i < 2000; ++i) {
        size_t n = static_cast<size_t>((i * 7919 + t * 104729) % 200000);
        void* p = a.AllocateRaw(64, n);
        if (n > 0) static_cast<char*>(p)[n - 1] = 1;
        a.DeallocateRaw(p);
      }
    });
  }
  for (auto& th : threads) th.join();
  AllocatorStats s = a.GetStats();
  CHECK(s.num_allocs == 8000);
  CHECK(s.bytes_in_use == 0);
}

TEST_CASE("Tensors remember their allocator; the process total sees every allocator",
          "[allocator]") {
  CpuAllocator a({.name = "mine"});
  const int64_t before = GetTensorMemoryStats().current_bytes;
  {
    auto t = Tensor::Create(DT_FLOAT, {10, 10}, &a);
    REQUIRE(t.ok());
    CHECK(t->allocator() == &a);
    CHECK(a.GetStats().bytes_in_use == 400);
    CHECK(GetTensorMemoryStats().current_bytes - before == 400);
    auto host = t->Clone();  // default: the process-wide host allocator
    REQUIRE(host.ok());
    CHECK(host->allocator() == ProcessCpuAllocator());
    CHECK(a.GetStats().bytes_in_use == 400);
  }
  CHECK(a.GetStats().bytes_in_use == 0);
  CHECK(GetTensorMemoryStats().current_bytes == before);
}

TEST_CASE("An allocator deleted when idle outlives the tensors it handed out", "[allocator]") {
  auto a = std::make_unique<CpuAllocator>(CpuAllocatorOptions{.name = "session"});
  auto t = Tensor::FromVector<float>({1, 2, 3}, {3});
  auto kept = t.Clone(a.get());
  REQUIRE(kept.ok());
  CpuAllocator::DeleteWhenIdle(std::move(a));  // a tensor is still alive: not deleted yet
  CHECK(kept->ToVector<float>() == std::vector<float>{1, 2, 3});
  *kept = Tensor();  // the last block comes back; the allocator goes (ASan checks the rest)
}

TEST_CASE("CPU devices each own an allocator and copy between them", "[allocator][device]") {
  auto set = DeviceSet::Create({1});
  REQUIRE(set.ok());
  auto cpu0 = CreateDevice(*set->Find("CPU:0"), {});
  auto cpu1 = CreateDevice(*set->Find("CPU:1"), {.bytes_limit = 4096});
  REQUIRE(cpu0.ok());
  REQUIRE(cpu1.ok());
  CHECK((*cpu0)->allocator() != (*cpu1)->allocator());
  CHECK((*cpu1)->allocator()->Name() == "cpu:1");
  CHECK((*cpu1)->allocator()->GetStats().bytes_limit == 4096);
  CHECK((*cpu0)->device_context() == nullptr);
  auto src = Tensor::FromVector<int32_t>({4, 5, 6, 7}, {2, 2});
  auto copy = CopyTensor(src, cpu1->get());
  REQUIRE(copy.ok());
  CHECK(copy->allocator() == (*cpu1)->allocator());
  CHECK_FALSE(copy->SharesBufferWith(src));
  CHECK(copy->ToVector<int32_t>() == std::vector<int32_t>{4, 5, 6, 7});
  CHECK((*cpu1)->allocator()->GetStats().bytes_in_use == 16);
  CHECK((*cpu0)->allocator()->GetStats().bytes_in_use == 0);
  CHECK((*cpu1)->Sync().ok());
}

}  // namespace
}  // namespace quiver
