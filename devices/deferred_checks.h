// Checks that a step runs after its device work is done (StepResources::deferred_checks).
//
// An accelerator kernel that must validate device-resident data (e.g. that gather indices are
// in range) would otherwise wait for its stream mid-step. Instead it enqueues the check on the
// device (its result copied into pinned host memory) and adds a closure here that reads that
// result; the executor waits for the step's devices once at the end, then runs the closures.
#pragma once

#include <atomic>
#include <functional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "graph/mutex.h"

namespace quiver {

class DeferredChecks {
 public:
  DeferredChecks() = default;
  DeferredChecks(const DeferredChecks&) = delete;
  DeferredChecks& operator=(const DeferredChecks&) = delete;

  // Thread-safe. The check may own resources (pinned host memory): it is destroyed, unrun,
  // with this object if RunAll is never called.
  void Add(std::function<absl::Status()> check) {
    MutexLock lock(&mu_);
    checks_.push_back(std::move(check));
    count_.store(static_cast<int64_t>(checks_.size()), std::memory_order_release);
  }

  // Whether any check was added (cheap: no lock).
  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }

  // Runs every check in insertion order (all of them, so each can free what it owns) and
  // returns the first error. The checks are consumed.
  absl::Status RunAll() {
    std::vector<std::function<absl::Status()>> checks;
    {
      MutexLock lock(&mu_);
      checks.swap(checks_);
      count_.store(0, std::memory_order_release);
    }
    absl::Status first;
    for (auto& check : checks) {
      absl::Status s = check();
      if (first.ok() && !s.ok()) first = std::move(s);
    }
    return first;
  }

 private:
  Mutex mu_;
  std::vector<std::function<absl::Status()>> checks_;
  std::atomic<int64_t> count_{0};
};

}  // namespace quiver
