// RandomUniform, RandomStandardNormal, TruncatedNormal and RandomUniformInt on the CPU, with
// TensorFlow's Philox stream layout (devices/common/philox.h):
//
//  - The kernel keeps a base generator seeded from (seed, seed2) and an atomic offset. Each
//    Compute reserves 256 counter values per output element (TF's ReserveRandomOutputs(n, 256))
//    by one fetch_add, so concurrent and consecutive runs draw disjoint ranges, and a fresh
//    kernel (a new Session) with the same seeds replays the same sequence.
//  - Output group g (Dist::kGroup values) is a pure function of (base, offset, g), so the
//    fill can be split across threads without changing a single value.
//  - seed == seed2 == 0 means "nondeterministic": the kernel seeds itself from std::random_device.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/philox.h"
#include "devices/common/philox_state.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using random::Philox4x32;
using random::PhiloxState;

// Groups per parallel chunk: Philox costs ~10 ns per group, so below this threads lose.
constexpr int64_t kMinGroupsPerChunk = 16 * 1024;

// Reads the `shape` input (0) and allocates the output.
absl::StatusOr<Tensor*> AllocateFromShapeInput(OpKernelContext& ctx) {
  ASSIGN_OR_RETURN(std::vector<int64_t> dims, array_kernels::HostInts(ctx, 0, "shape"));
  ASSIGN_OR_RETURN(const TensorShape shape, random::RandomOutputShape(ctx, dims));
  return ctx.allocate_output(0, shape);
}

// Writes n values, group g from generator base + g * skip_per_group, in parallel chunks.
// `fill(gen, out)` writes one full group of K values.
template <int K, typename T, typename FillGroup>
void FillGroups(int threads, const Philox4x32& base, uint64_t skip_per_group, T* out, int64_t n,
                const FillGroup& fill) {
  const int64_t groups = (n + K - 1) / K;
  ParallelFor(threads, groups, kMinGroupsPerChunk, [&](int64_t g0, int64_t g1) {
    Philox4x32 gen = base;
    gen.Skip(static_cast<uint64_t>(g0) * skip_per_group);
    for (int64_t g = g0; g < g1; ++g) {
      if (skip_per_group != 1 && g != g0) {  // each group starts at its own reserved block
        gen = base;
        gen.Skip(static_cast<uint64_t>(g) * skip_per_group);
      }
      T* dst = out + g * K;
      if ((g + 1) * K <= n) {
        fill(&gen, dst);
      } else {  // the last, partial group
        T tmp[K];
        fill(&gen, tmp);
        std::copy(tmp, tmp + (n - g * K), dst);
      }
    }
  });
}

// RandomUniform / RandomStandardNormal (Dist::Fill consumes one Philox output per group) and
// TruncatedNormal (variable consumption; each group has its own block of kSkipPerGroup).
template <typename T, typename Dist, bool kVariable>
class RandomOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return state_.Init(c); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(Tensor * out, AllocateFromShapeInput(ctx));
    const int64_t n = out->num_elements();
    if (n == 0) return absl::OkStatus();
    const Philox4x32 gen = state_.Reserve(n);
    uint64_t skip = 1;
    if constexpr (kVariable) skip = Dist::kSkipPerGroup;
    FillGroups<Dist::kGroup>(ctx.intra_op_threads(), gen, skip, out->data<T>(), n,
                             [](Philox4x32* g, T* dst) { Dist::Fill(g, dst); });
    return absl::OkStatus();
  }

 private:
  PhiloxState state_;
};

template <typename T>
class RandomUniformIntOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return state_.Init(c); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    for (int i : {1, 2}) {
      if (ctx.input(i).rank() != 0) {
        return ctx.Error(absl::StrCat(i == 1 ? "minval" : "maxval", " must be 0-D, got shape ",
                                      ctx.input(i).shape().DebugString()));
      }
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateFromShapeInput(ctx));
    const int64_t n = out->num_elements();
    if (n == 0) return absl::OkStatus();  // TF does not check the bounds then either
    const T lo = *ctx.input(1).data<T>(), hi = *ctx.input(2).data<T>();
    if (!(lo < hi)) return ctx.Error(absl::StrCat("Need minval < maxval: ", lo, " >= ", hi));
    using U = std::make_unsigned_t<T>;
    const U range = static_cast<U>(static_cast<U>(hi) - static_cast<U>(lo));
    using Dist = random::UniformIntDist<T>;
    FillGroups<Dist::kGroup>(ctx.intra_op_threads(), state_.Reserve(n), 1, out->data<T>(), n,
                             [lo, range](Philox4x32* g, T* dst) { Dist::Fill(g, lo, range, dst); });
    return absl::OkStatus();
  }

 private:
  PhiloxState state_;
};

using array_kernels::InitFactory;

template <typename T>
using UniformOp = RandomOp<T, random::UniformDist<T>, false>;
template <typename T>
using NormalOp = RandomOp<T, random::NormalDist<T>, false>;
template <typename T>
using TruncatedOp = RandomOp<T, random::TruncatedNormalDist<T>, true>;

#define QUIVER_REGISTER_RANDOM(op, Kernel, T)                                                  \
  QUIVER_REGISTER_KERNEL(                                                                      \
      KernelDef(op, kCpu).TypeConstraint("dtype", {DataTypeOf<T>::value}).HostMemory("shape"), \
      InitFactory<Kernel<T>>())
QUIVER_REGISTER_RANDOM("RandomUniform", UniformOp, float);
QUIVER_REGISTER_RANDOM("RandomUniform", UniformOp, double);
QUIVER_REGISTER_RANDOM("RandomStandardNormal", NormalOp, float);
QUIVER_REGISTER_RANDOM("RandomStandardNormal", NormalOp, double);
QUIVER_REGISTER_RANDOM("TruncatedNormal", TruncatedOp, float);
QUIVER_REGISTER_RANDOM("TruncatedNormal", TruncatedOp, double);
#undef QUIVER_REGISTER_RANDOM

QUIVER_REGISTER_KERNEL(KernelDef("RandomUniformInt", kCpu)
                           .TypeConstraint("Tout", {DT_INT32})
                           .HostMemory("shape")
                           .HostMemory("minval")
                           .HostMemory("maxval"),
                       InitFactory<RandomUniformIntOp<int32_t>>());
QUIVER_REGISTER_KERNEL(KernelDef("RandomUniformInt", kCpu)
                           .TypeConstraint("Tout", {DT_INT64})
                           .HostMemory("shape")
                           .HostMemory("minval")
                           .HostMemory("maxval"),
                       InitFactory<RandomUniformIntOp<int64_t>>());

}  // namespace
}  // namespace quiver
