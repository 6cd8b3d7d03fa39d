#include "devices/cpu/cpu_allocator.h"

#include <algorithm>
#include <bit>
#include <cstdlib>

namespace quiver {
namespace {

constexpr size_t kMinHeader = 64;                // keeps the user pointer 64-byte aligned
constexpr uint64_t kMagic = 0x51564552414c4c43;  // "QVERALLC": catches foreign pointers

// Stored just before the pointer handed out.
struct BlockHeader {
  uint64_t requested;     // bytes asked for (what the stats count)
  uint64_t class_bytes;   // usable bytes of the block
  uint64_t header_bytes;  // offset from the heap block's start to the user pointer
  uint64_t magic;
};
static_assert(sizeof(BlockHeader) <= kMinHeader);

BlockHeader* HeaderOf(void* user) { return static_cast<BlockHeader*>(user) - 1; }
void* BaseOf(void* user) { return static_cast<char*>(user) - HeaderOf(user)->header_bytes; }

size_t RoundUp(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

}  // namespace

int64_t DefaultCpuAllocatorCacheBytes() {
  static const int64_t bytes = [] {
    const char* env = std::getenv(kCpuAllocatorCacheEnv);
#if defined(__SANITIZE_ADDRESS__)
    // Under ASan a reused block would hide use-after-free: no cache unless asked for.
    constexpr int64_t kDefault = 0;
#else
    constexpr int64_t kDefault = int64_t{512} << 20;
#endif
    if (env == nullptr || *env == '\0') return kDefault;
    return std::max<int64_t>(0, std::atoll(env)) << 20;
  }();
  return bytes;
}

CpuAllocator::CpuAllocator(CpuAllocatorOptions options) : options_(std::move(options)) {
  stats_.bytes_limit = options_.bytes_limit;
}

CpuAllocator::~CpuAllocator() {
  MutexLock lock(&mu_);
  ReleaseCacheLocked();
}

size_t CpuAllocator::SizeClass(size_t num_bytes) {
  if (num_bytes <= kMinHeader) return kMinHeader;
  size_t p = std::bit_floor(num_bytes);
  size_t step = std::max(kMinHeader, p / 4);
  return RoundUp(num_bytes, step);
}

void* CpuAllocator::AllocateRaw(size_t alignment, size_t num_bytes) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return nullptr;
  // Guard the size arithmetic below against requests near SIZE_MAX.
  if (num_bytes > (SIZE_MAX >> 2)) return nullptr;
  const size_t header = std::max(alignment, kMinHeader);
  const size_t class_bytes = RoundUp(SizeClass(num_bytes), header);
  const bool cacheable = header == kMinHeader && class_bytes >= options_.min_cached_bytes &&
                         options_.max_cached_bytes > 0;
  void* base = nullptr;
  {
    MutexLock lock(&mu_);
    if (stats_.bytes_limit > 0 &&
        stats_.bytes_in_use + static_cast<int64_t>(num_bytes) > stats_.bytes_limit) {
      return nullptr;
    }
    if (cacheable) {
      auto it = cache_.find(class_bytes);
      if (it != cache_.end() && !it->second.empty()) {
        base = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= static_cast<int64_t>(class_bytes);
      }
    }
    // Counted before the heap call so that concurrent requests cannot overshoot the limit.
    stats_.num_allocs++;
    stats_.bytes_in_use += static_cast<int64_t>(num_bytes);
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
    stats_.largest_alloc_size =
        std::max(stats_.largest_alloc_size, static_cast<int64_t>(num_bytes));
    live_blocks_++;
  }
  if (base == nullptr) {
    base = std::aligned_alloc(header, header + class_bytes);
    if (base == nullptr) {
      // Out of memory: give the cache back to the heap and try once more.
      ReleaseCache();
      base = std::aligned_alloc(header, header + class_bytes);
    }
    if (base == nullptr) {
      MutexLock lock(&mu_);
      stats_.num_allocs--;
      stats_.bytes_in_use -= static_cast<int64_t>(num_bytes);
      live_blocks_--;
      return nullptr;
    }
  }
  void* user = static_cast<char*>(base) + header;
  *HeaderOf(user) = BlockHeader{num_bytes, class_bytes, header, kMagic};
  return user;
}

void CpuAllocator::DeallocateRaw(void* ptr) {
  if (ptr == nullptr) return;
  const BlockHeader h = *HeaderOf(ptr);
  if (h.magic != kMagic) std::abort();  // not ours: continuing would corrupt the heap
  void* base = BaseOf(ptr);
  bool keep = false;
  bool delete_self = false;
  {
    MutexLock lock(&mu_);
    stats_.bytes_in_use -= static_cast<int64_t>(h.requested);
    live_blocks_--;
    const auto class_bytes = static_cast<int64_t>(h.class_bytes);
    if (h.header_bytes == kMinHeader && h.class_bytes >= options_.min_cached_bytes &&
        !delete_when_idle_ && cached_bytes_ + class_bytes <= options_.max_cached_bytes) {
      cache_[h.class_bytes].push_back(base);
      cached_bytes_ += class_bytes;
      keep = true;
    }
    delete_self = delete_when_idle_ && live_blocks_ == 0;
  }
  if (!keep) std::free(base);
  if (delete_self) delete this;
}

AllocatorStats CpuAllocator::GetStats() const {
  MutexLock lock(&mu_);
  return stats_;
}

void CpuAllocator::ClearPeak() {
  MutexLock lock(&mu_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

void CpuAllocator::SetBytesLimit(int64_t bytes_limit) {
  MutexLock lock(&mu_);
  stats_.bytes_limit = bytes_limit;
}

int64_t CpuAllocator::cached_bytes() const {
  MutexLock lock(&mu_);
  return cached_bytes_;
}

void CpuAllocator::ReleaseCache() {
  MutexLock lock(&mu_);
  ReleaseCacheLocked();
}

void CpuAllocator::ReleaseCacheLocked() {
  for (auto& [size, blocks] : cache_) {
    for (void* b : blocks) std::free(b);
  }
  cache_.clear();
  cached_bytes_ = 0;
}

void CpuAllocator::DeleteWhenIdle(std::unique_ptr<CpuAllocator> allocator) {
  if (allocator == nullptr) return;
  CpuAllocator* a = allocator.release();
  bool delete_now;
  {
    MutexLock lock(&a->mu_);
    a->ReleaseCacheLocked();
    a->delete_when_idle_ = true;
    delete_now = a->live_blocks_ == 0;
  }
  if (delete_now) delete a;
}

Allocator* ProcessCpuAllocator() {
  static CpuAllocator* allocator = new CpuAllocator(CpuAllocatorOptions{.name = "cpu"});
  return allocator;
}

}  // namespace quiver
