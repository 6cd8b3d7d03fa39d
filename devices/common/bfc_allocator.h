// A best-fit-with-coalescing (BFC) allocator, after TensorFlow's: device-neutral, so the CUDA
// device runs it over cudaMalloc and the CPU tests run it over the host heap.
//
// Memory comes from a SubAllocator in large *regions* (grown geometrically, capped by
// bytes_limit). A region is cut into *chunks*, each a multiple of kMinAllocationSize bytes and
// aligned to it; chunks of one region form a doubly linked list in address order. Free chunks
// sit in size-class *bins* (bin b holds sizes in [256 << b, 256 << (b + 1))), each ordered by
// (size, address), so a request takes the smallest free chunk that fits (best fit), searching
// from its own bin upwards. A chunk larger than needed is split and the tail goes back to a
// bin; a freed chunk merges with free neighbours at once (coalescing), so a large request fits
// again after the small ones around it are freed. When nothing fits and a new region would
// exceed bytes_limit, wholly free regions are returned to the SubAllocator and the request is
// retried once; then AllocateRaw returns nullptr.
//
// Thread-safe: one mutex around everything (allocation is short; kernels run in between).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "graph/allocator.h"
#include "graph/mutex.h"

namespace quiver {

// The source of raw regions: cudaMalloc, cudaHostAlloc, or the host heap.
class SubAllocator {
 public:
  virtual ~SubAllocator() = default;
  // A region of `num_bytes` aligned to at least `alignment`, or nullptr.
  virtual void* Alloc(size_t alignment, size_t num_bytes) = 0;
  virtual void Free(void* ptr, size_t num_bytes) = 0;
  virtual bool host_accessible() const = 0;
};

// Host heap regions (aligned_alloc): for tests and host-side pools.
class HostSubAllocator : public SubAllocator {
 public:
  void* Alloc(size_t alignment, size_t num_bytes) override;
  void Free(void* ptr, size_t num_bytes) override;
  bool host_accessible() const override { return true; }
};

struct BFCAllocatorOptions {
  // Total bytes the allocator may hold in regions; 0: no limit.
  size_t bytes_limit = 0;
  // The first region's size; later regions double (at least the request), up to the limit.
  size_t initial_region_bytes = size_t{1} << 20;
};

// Extra numbers beyond AllocatorStats, for reports and tests.
struct BFCExtraStats {
  int64_t bytes_reserved = 0;  // bytes held in regions
  int64_t num_regions = 0;
  int64_t num_chunks = 0;  // in-use plus free chunks
  int64_t num_free_chunks = 0;
  int64_t largest_free_chunk = 0;
};

class BFCAllocator : public Allocator {
 public:
  static constexpr size_t kMinAllocationSize = 256;  // chunk granule and alignment
  static constexpr int kNumBins = 21;                // 256 B .. 256 MiB and up

  BFCAllocator(std::unique_ptr<SubAllocator> sub, std::string name,
               BFCAllocatorOptions options = {});
  ~BFCAllocator() override;
  BFCAllocator(const BFCAllocator&) = delete;
  BFCAllocator& operator=(const BFCAllocator&) = delete;

  std::string Name() const override { return name_; }
  // Alignments up to kMinAllocationSize are honoured (every chunk is 256-byte aligned); larger
  // ones return nullptr. bytes_in_use counts whole chunks (requests rounded up to 256 bytes).
  void* AllocateRaw(size_t alignment, size_t num_bytes) override;
  void DeallocateRaw(void* ptr) override;
  AllocatorStats GetStats() const override;
  void ClearPeak() override;
  bool host_accessible() const override { return sub_->host_accessible(); }

  BFCExtraStats GetExtraStats() const;
  // The usable size of the chunk behind `ptr` (0 if ptr is not a live allocation).
  size_t AllocatedSize(const void* ptr) const;
  // Checks every invariant (chunk lists tile the regions, no two adjacent free chunks, bins hold
  // exactly the free chunks, counters agree). Empty string when consistent; for tests.
  std::string CheckInvariants() const;

  static size_t RoundedBytes(size_t num_bytes);
  static int BinForSize(size_t size);

 private:
  using ChunkId = int;
  static constexpr ChunkId kInvalid = -1;
  struct Chunk {
    char* ptr = nullptr;
    size_t size = 0;
    bool in_use = false;
    ChunkId prev = kInvalid;  // neighbours in the same region, by address
    ChunkId next = kInvalid;
    int region = -1;
  };
  struct Region {
    char* ptr = nullptr;
    size_t size = 0;
  };
  struct BinOrder {
    const std::vector<Chunk>* chunks;
    bool operator()(ChunkId a, ChunkId b) const {
      const Chunk& x = (*chunks)[a];
      const Chunk& y = (*chunks)[b];
      if (x.size != y.size) return x.size < y.size;
      return x.ptr < y.ptr;
    }
  };
  using Bin = std::set<ChunkId, BinOrder>;

  void* AllocateLocked(size_t rounded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ChunkId FindChunkLocked(size_t rounded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ExtendLocked(size_t rounded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FreeEmptyRegionsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ChunkId NewChunkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeleteChunkLocked(ChunkId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void InsertFreeLocked(ChunkId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveFreeLocked(ChunkId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Merges chunk b (the next of a) into a; both must be free and out of the bins.
  void MergeLocked(ChunkId a, ChunkId b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<SubAllocator> sub_;
  const std::string name_;
  const BFCAllocatorOptions options_;

  mutable Mutex mu_;
  std::vector<Chunk> chunks_ ABSL_GUARDED_BY(mu_);
  std::vector<ChunkId> free_ids_ ABSL_GUARDED_BY(mu_);  // recycled chunk slots
  std::vector<Region> regions_ ABSL_GUARDED_BY(mu_);    // ptr == nullptr: returned slot
  std::vector<Bin> bins_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const void*, ChunkId> in_use_ ABSL_GUARDED_BY(mu_);
  size_t reserved_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_region_bytes_ ABSL_GUARDED_BY(mu_);
  AllocatorStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quiver
