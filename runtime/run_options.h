// Per-call options of Session::Run: a deadline and a cancellation token.
//
//   CancellationToken token;
//   RunOptions options;
//   options.timeout_ms = 500;
//   options.cancellation = &token;  // token.Cancel() from any thread stops the step
//   auto out = session->Run(options, feeds, fetches, targets, &metadata);
//
// The executor checks both between nodes (a kernel already running finishes first); the step
// then returns DeadlineExceeded or Cancelled, its intermediate tensors are freed, and the
// session stays usable.
#pragma once

#include <atomic>
#include <cstdint>

namespace quiver {

class CancellationToken {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // Makes the token usable for another step.
  void Reset() { cancelled_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> cancelled_{false};
};

struct RunOptions {
  int64_t timeout_ms = 0;                     // 0: no deadline
  CancellationToken* cancellation = nullptr;  // not owned; may be null
  // > 0: the step's kernels use at most this many intra-op threads (never more than the
  // session's). A loop's kernel passes its own budget on to the sessions of its body.
  int intra_op_threads = 0;
};

}  // namespace quiver
