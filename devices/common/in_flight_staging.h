// Host staging buffers that an asynchronous copy still reads, released once the copy is done.
//
// An accelerator's CopyFromHost memcpys the caller's bytes into a pinned staging buffer,
// enqueues the DMA from it, records a completion marker (a CUDA event) after the copy and
// hands buffer and marker here; it can then return without waiting for the copy. Reclaim()
// releases, oldest first, every buffer whose marker reports done. Markers recorded on one
// stream complete in order, so Reclaim() stops at the first one still pending.
//
// Not thread-safe: the owner serialises calls (CudaDevice holds its copy mutex).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quiver {

class InFlightStaging {
 public:
  struct Entry {
    void* marker = nullptr;  // e.g. a cudaEvent_t recorded after the copy
    void* buffer = nullptr;  // the staging buffer the copy reads
    size_t bytes = 0;
  };
  // Whether the copy behind `marker` has completed (an error aborts Reclaim).
  using IsDone = std::function<absl::StatusOr<bool>(void* marker)>;
  // Gives the buffer back to its allocator and the marker to its pool.
  using Release = std::function<void(const Entry&)>;

  void Add(const Entry& e) {
    entries_.push_back(e);
    bytes_ += e.bytes;
  }

  // Releases the completed prefix; returns how many entries it released.
  absl::StatusOr<size_t> Reclaim(const IsDone& is_done, const Release& release) {
    size_t released = 0;
    while (!entries_.empty()) {
      absl::StatusOr<bool> done = is_done(entries_.front().marker);
      if (!done.ok()) return done.status();
      if (!*done) break;
      PopFront(release);
      ++released;
    }
    return released;
  }

  // Releases everything without asking (the caller has waited for the copy stream).
  void ReleaseAll(const Release& release) {
    while (!entries_.empty()) PopFront(release);
  }

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  size_t bytes() const { return bytes_; }
  const Entry& oldest() const { return entries_.front(); }

 private:
  void PopFront(const Release& release) {
    Entry e = entries_.front();
    entries_.pop_front();
    bytes_ -= e.bytes;
    release(e);
  }

  std::deque<Entry> entries_;
  size_t bytes_ = 0;
};

}  // namespace quiver
