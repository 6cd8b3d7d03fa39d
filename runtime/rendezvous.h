// A per-step rendezvous: where partitions of one step hand each other the tensors (and
// control signals) that cross devices. A send and its recv meet by key, in either order; the
// recv's callback runs on whichever thread completes the pair.
//
// StartAbort(status) fails every pending and future recv with that status, so that an error in
// one partition (or a cancelled step) stops all of them instead of leaving one waiting forever.
//
//   Rendezvous rendezvous;
//   rendezvous.RecvAsync("a:0->CPU:1", [](absl::Status s, TensorValue v) { ... });
//   rendezvous.Send("a:0->CPU:1", value);
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "devices/kernel.h"
#include "graph/mutex.h"

namespace quiver {

class Rendezvous {
 public:
  using DoneCallback = std::function<void(const absl::Status&, const TensorValue&)>;

  Rendezvous() = default;
  Rendezvous(const Rendezvous&) = delete;
  Rendezvous& operator=(const Rendezvous&) = delete;

  // Each key is sent at most once per step; a second send of a key is an error.
  absl::Status Send(const std::string& key, TensorValue value);
  // `done` runs exactly once: with the value, or with the abort status.
  void RecvAsync(const std::string& key, DoneCallback done);
  // The first status wins; pending recvs get it now, later ones at once.
  void StartAbort(const absl::Status& status);
  // Lock-free: executors check it between nodes.
  bool aborted() const { return aborted_.load(std::memory_order_acquire); }
  absl::Status status() const;

 private:
  struct Entry {
    bool has_value = false;
    TensorValue value;
    DoneCallback waiter;
  };
  mutable Mutex mu_;
  std::atomic<bool> aborted_{false};
  absl::Status abort_status_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Entry> table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quiver
