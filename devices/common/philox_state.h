// The stateful part every random kernel shares, on every device: a base Philox generator seeded
// from the op's (seed, seed2) attrs and an atomic offset from which each Compute reserves 256
// counter values per output element (TF's ReserveRandomOutputs(n, 256)), so concurrent and
// consecutive runs draw disjoint ranges and a fresh kernel with the same seeds replays the same
// sequence. seed == seed2 == 0 means "nondeterministic": seeded from std::random_device.
//
// Host code only (absl, OpKernelConstruction): never included by a .cu file.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "devices/common/philox.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver::random {

class PhiloxState {
 public:
  // Counter values reserved per output element, as in TF; every distribution stays inside it.
  static constexpr uint64_t kReservedPerOutput = 256;

  absl::Status Init(const OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(int64_t seed, c.GetAttr<int64_t>("seed"));
    ASSIGN_OR_RETURN(int64_t seed2, c.GetAttr<int64_t>("seed2"));
    uint64_t s1 = static_cast<uint64_t>(seed), s2 = static_cast<uint64_t>(seed2);
    if (s1 == 0 && s2 == 0) {
      std::random_device rd;
      s1 = (static_cast<uint64_t>(rd()) << 32) | rd();
      s2 = (static_cast<uint64_t>(rd()) << 32) | rd();
    }
    base_ = Philox4x32(s1, s2);
    return absl::OkStatus();
  }

  // A generator positioned at a fresh range big enough for `n` outputs.
  Philox4x32 Reserve(int64_t n) const {
    const uint64_t offset =
        next_.fetch_add(static_cast<uint64_t>(n) * kReservedPerOutput, std::memory_order_relaxed);
    Philox4x32 gen = base_;
    gen.Skip(offset);
    return gen;
  }

 private:
  Philox4x32 base_;
  mutable std::atomic<uint64_t> next_{0};
};

// The output shape of a random op from its `shape` input (read into `dims`), checked the same
// way on every device: non-negative dims whose element count fits.
inline absl::StatusOr<TensorShape> RandomOutputShape(const OpKernelContext& ctx,
                                                     const std::vector<int64_t>& dims) {
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) {
      return ctx.Error(absl::StrCat("shape[", i, "] = ", dims[i], " must be non-negative"));
    }
  }
  auto n = TensorShape::ValidatedNumElements(dims);
  if (!n.ok()) return ctx.Error(absl::StrCat("shape: ", n.status().message()));
  return TensorShape(dims);
}

}  // namespace quiver::random
