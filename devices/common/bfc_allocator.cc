#include "devices/common/bfc_allocator.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace quiver {

void* HostSubAllocator::Alloc(size_t alignment, size_t num_bytes) {
  alignment = std::max(alignment, sizeof(void*));
  size_t bytes = (num_bytes + alignment - 1) / alignment * alignment;
  return std::aligned_alloc(alignment, bytes == 0 ? alignment : bytes);
}

void HostSubAllocator::Free(void* ptr, size_t /*num_bytes*/) { std::free(ptr); }

size_t BFCAllocator::RoundedBytes(size_t num_bytes) {
  if (num_bytes == 0) return kMinAllocationSize;
  return (num_bytes + kMinAllocationSize - 1) / kMinAllocationSize * kMinAllocationSize;
}

int BFCAllocator::BinForSize(size_t size) {
  size_t units = size / kMinAllocationSize;  // >= 1 for every chunk
  int bin = 0;
  while (units > 1 && bin < kNumBins - 1) {
    units >>= 1;
    ++bin;
  }
  return bin;
}

BFCAllocator::BFCAllocator(std::unique_ptr<SubAllocator> sub, std::string name,
                           BFCAllocatorOptions options)
    : sub_(std::move(sub)), name_(std::move(name)), options_(options) {
  MutexLock lock(&mu_);
  bins_.reserve(kNumBins);
  for (int i = 0; i < kNumBins; ++i) bins_.emplace_back(BinOrder{&chunks_});
  next_region_bytes_ = RoundedBytes(std::max<size_t>(options_.initial_region_bytes, 1));
  stats_.bytes_limit = static_cast<int64_t>(options_.bytes_limit);
}

BFCAllocator::~BFCAllocator() {
  MutexLock lock(&mu_);
  // Outstanding allocations die with the allocator (their owners outlived it: a bug there).
  for (Region& r : regions_) {
    if (r.ptr != nullptr) sub_->Free(r.ptr, r.size);
  }
}

BFCAllocator::ChunkId BFCAllocator::NewChunkLocked() {
  if (!free_ids_.empty()) {
    ChunkId id = free_ids_.back();
    free_ids_.pop_back();
    chunks_[id] = Chunk();
    return id;
  }
  chunks_.emplace_back();
  return static_cast<ChunkId>(chunks_.size() - 1);
}

void BFCAllocator::DeleteChunkLocked(ChunkId id) {
  chunks_[id] = Chunk();
  chunks_[id].region = -2;  // marks a recycled slot
  free_ids_.push_back(id);
}

void BFCAllocator::InsertFreeLocked(ChunkId id) { bins_[BinForSize(chunks_[id].size)].insert(id); }

void BFCAllocator::RemoveFreeLocked(ChunkId id) { bins_[BinForSize(chunks_[id].size)].erase(id); }

void BFCAllocator::MergeLocked(ChunkId a, ChunkId b) {
  Chunk& ca = chunks_[a];
  Chunk& cb = chunks_[b];
  ca.size += cb.size;
  ca.next = cb.next;
  if (cb.next != kInvalid) chunks_[cb.next].prev = a;
  DeleteChunkLocked(b);
}

BFCAllocator::ChunkId BFCAllocator::FindChunkLocked(size_t rounded) {
  for (int b = BinForSize(rounded); b < kNumBins; ++b) {
    Bin& bin = bins_[b];
    for (ChunkId id : bin) {  // ordered by size: the first that fits is the best fit
      if (chunks_[id].size >= rounded) return id;
    }
  }
  return kInvalid;
}

bool BFCAllocator::ExtendLocked(size_t rounded) {
  const size_t limit = options_.bytes_limit;
  if (limit != 0 && reserved_ + rounded > limit) return false;
  size_t bytes = std::max(next_region_bytes_, rounded);
  if (limit != 0) bytes = std::min(bytes, limit - reserved_);
  void* mem = sub_->Alloc(kMinAllocationSize, bytes);
  if (mem == nullptr && bytes > rounded) {  // the big region failed: try just what is needed
    bytes = rounded;
    mem = sub_->Alloc(kMinAllocationSize, bytes);
  }
  if (mem == nullptr) return false;
  int region = -1;
  for (size_t i = 0; i < regions_.size(); ++i) {
    if (regions_[i].ptr == nullptr) {
      region = static_cast<int>(i);
      break;
    }
  }
  if (region < 0) {
    regions_.emplace_back();
    region = static_cast<int>(regions_.size() - 1);
  }
  regions_[region] = Region{static_cast<char*>(mem), bytes};
  reserved_ += bytes;
  if (next_region_bytes_ <= bytes) next_region_bytes_ = bytes * 2;
  ChunkId id = NewChunkLocked();
  Chunk& c = chunks_[id];
  c.ptr = static_cast<char*>(mem);
  c.size = bytes;
  c.region = region;
  InsertFreeLocked(id);
  return true;
}

void BFCAllocator::FreeEmptyRegionsLocked() {
  for (size_t r = 0; r < regions_.size(); ++r) {
    if (regions_[r].ptr == nullptr) continue;
    // A wholly free region is exactly one free chunk of the region's size.
    for (size_t id = 0; id < chunks_.size(); ++id) {
      Chunk& c = chunks_[id];
      if (c.region == static_cast<int>(r) && !c.in_use && c.ptr == regions_[r].ptr &&
          c.size == regions_[r].size) {
        RemoveFreeLocked(static_cast<ChunkId>(id));
        DeleteChunkLocked(static_cast<ChunkId>(id));
        sub_->Free(regions_[r].ptr, regions_[r].size);
        reserved_ -= regions_[r].size;
        regions_[r] = Region();
        break;
      }
    }
  }
}

void* BFCAllocator::AllocateLocked(size_t rounded) {
  ChunkId id = FindChunkLocked(rounded);
  if (id == kInvalid) {
    if (!ExtendLocked(rounded)) {
      FreeEmptyRegionsLocked();
      if (!ExtendLocked(rounded)) return nullptr;
    }
    id = FindChunkLocked(rounded);
    if (id == kInvalid) return nullptr;
  }
  RemoveFreeLocked(id);
  if (chunks_[id].size - rounded >= kMinAllocationSize) {  // split; the tail stays free
    ChunkId tail = NewChunkLocked();                       // may reallocate chunks_
    Chunk& c = chunks_[id];
    Chunk& t = chunks_[tail];
    t.ptr = c.ptr + rounded;
    t.size = c.size - rounded;
    t.region = c.region;
    t.prev = id;
    t.next = c.next;
    if (c.next != kInvalid) chunks_[c.next].prev = tail;
    c.next = tail;
    c.size = rounded;
    InsertFreeLocked(tail);
  }
  Chunk& c = chunks_[id];
  c.in_use = true;
  in_use_[c.ptr] = id;
  stats_.num_allocs++;
  stats_.bytes_in_use += static_cast<int64_t>(c.size);
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  stats_.largest_alloc_size = std::max(stats_.largest_alloc_size, static_cast<int64_t>(c.size));
  return c.ptr;
}

void* BFCAllocator::AllocateRaw(size_t alignment, size_t num_bytes) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMinAllocationSize) {
    return nullptr;
  }
  if (num_bytes > (size_t{1} << 62)) return nullptr;
  MutexLock lock(&mu_);
  return AllocateLocked(RoundedBytes(num_bytes));
}

void BFCAllocator::DeallocateRaw(void* ptr) {
  if (ptr == nullptr) return;
  MutexLock lock(&mu_);
  auto it = in_use_.find(ptr);
  if (it == in_use_.end()) return;  // not ours: ignore rather than corrupt the lists
  ChunkId id = it->second;
  in_use_.erase(it);
  chunks_[id].in_use = false;
  stats_.bytes_in_use -= static_cast<int64_t>(chunks_[id].size);
  ChunkId next = chunks_[id].next;
  if (next != kInvalid && !chunks_[next].in_use) {
    RemoveFreeLocked(next);
    MergeLocked(id, next);
  }
  ChunkId prev = chunks_[id].prev;
  if (prev != kInvalid && !chunks_[prev].in_use) {
    RemoveFreeLocked(prev);
    MergeLocked(prev, id);
    id = prev;
  }
  InsertFreeLocked(id);
}

AllocatorStats BFCAllocator::GetStats() const {
  MutexLock lock(&mu_);
  return stats_;
}

void BFCAllocator::ClearPeak() {
  MutexLock lock(&mu_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

BFCExtraStats BFCAllocator::GetExtraStats() const {
  MutexLock lock(&mu_);
  BFCExtraStats s;
  s.bytes_reserved = static_cast<int64_t>(reserved_);
  for (const Region& r : regions_) s.num_regions += r.ptr != nullptr;
  for (const Chunk& c : chunks_) {
    if (c.region < 0) continue;
    s.num_chunks++;
    if (!c.in_use) {
      s.num_free_chunks++;
      s.largest_free_chunk = std::max(s.largest_free_chunk, static_cast<int64_t>(c.size));
    }
  }
  return s;
}

size_t BFCAllocator::AllocatedSize(const void* ptr) const {
  MutexLock lock(&mu_);
  auto it = in_use_.find(ptr);
  return it == in_use_.end() ? 0 : chunks_[it->second].size;
}

std::string BFCAllocator::CheckInvariants() const {
  MutexLock lock(&mu_);
  size_t reserved = 0;
  int64_t in_use_bytes = 0;
  size_t free_chunks = 0, in_use_chunks = 0;
  for (size_t r = 0; r < regions_.size(); ++r) {
    const Region& region = regions_[r];
    if (region.ptr == nullptr) continue;
    reserved += region.size;
    // Find the region's first chunk and walk the list.
    ChunkId first = kInvalid;
    for (size_t id = 0; id < chunks_.size(); ++id) {
      if (chunks_[id].region == static_cast<int>(r) && chunks_[id].ptr == region.ptr) {
        first = static_cast<ChunkId>(id);
      }
    }
    if (first == kInvalid) return absl::StrCat("region ", r, " has no first chunk");
    if (chunks_[first].prev != kInvalid) return absl::StrCat("region ", r, " first has a prev");
    char* expect = region.ptr;
    bool prev_free = false;
    for (ChunkId id = first; id != kInvalid; id = chunks_[id].next) {
      const Chunk& c = chunks_[id];
      if (c.ptr != expect) return absl::StrCat("chunk ", id, " does not follow its prev");
      if (c.size == 0 || c.size % kMinAllocationSize != 0) {
        return absl::StrCat("chunk ", id, " has size ", c.size);
      }
      if (c.next != kInvalid && chunks_[c.next].prev != id) {
        return absl::StrCat("chunk ", id, " next/prev links disagree");
      }
      if (c.in_use) {
        in_use_chunks++;
        in_use_bytes += static_cast<int64_t>(c.size);
        auto it = in_use_.find(c.ptr);
        if (it == in_use_.end() || it->second != id) {
          return absl::StrCat("in-use chunk ", id, " missing from the map");
        }
        prev_free = false;
      } else {
        if (prev_free) return absl::StrCat("adjacent free chunks at ", id, " (not coalesced)");
        free_chunks++;
        if (bins_[BinForSize(c.size)].count(id) != 1) {
          return absl::StrCat("free chunk ", id, " not in its bin");
        }
        prev_free = true;
      }
      expect += c.size;
    }
    if (expect != region.ptr + region.size) return absl::StrCat("region ", r, " not tiled");
  }
  size_t binned = 0;
  for (const Bin& b : bins_) binned += b.size();
  if (binned != free_chunks) return absl::StrCat(binned, " binned vs ", free_chunks, " free");
  if (in_use_chunks != in_use_.size()) return "in-use map size mismatch";
  if (in_use_bytes != stats_.bytes_in_use) return "bytes_in_use mismatch";
  if (reserved != reserved_) return "reserved bytes mismatch";
  if (options_.bytes_limit != 0 && reserved_ > options_.bytes_limit) return "over bytes_limit";
  return "";
}

}  // namespace quiver
