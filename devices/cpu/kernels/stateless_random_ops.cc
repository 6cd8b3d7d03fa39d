// Stateless random ops on the CPU, bit for bit TensorFlow's (tensorflow/core/kernels/
// stateless_random_ops.cc, stateless_random_ops_v2.cc, random_ops_util.h):
//
//  - StatelessRandomGetKeyCounter(seed): the two seeds (int32 seeds sign-extended to 64 bits)
//    become a Philox counter {s0 lo, s0 hi, s1 lo, s1 hi}, scrambled by one Philox call under
//    the fixed key {0x3ec8f720, 0x02461e29}: the output words m0..m3 give key = m0 | m1 << 32
//    and counter = [0, m2 | m3 << 32].
//  - The V2 ops build the generator from key[0] (Philox key words lo, hi) and counter[0..1]
//    (counter words 0,1 from counter[0] and 2,3 from counter[1]); alg 1 (Philox) and 3 (auto
//    select, Philox on the CPU as in TF) are accepted, 2 (ThreeFry) and anything else refused.
//  - The V1 ops are GetKeyCounter + V2 (TF's V1 kernels build the same generator).
//  - The fill is TF's FillPhiloxRandom: output group g (4 floats / 2 doubles) uses counter
//    base + g; truncated normals, which consume a variable number of words, start group g at
//    base + g * kSkipPerGroup (256 words reserved per value). The transforms are those of
//    devices/common/philox.h, shared with the stateful random kernels.
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
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

using random::Philox4;
using random::Philox4x32;

constexpr int32_t kAlgPhilox = 1;
constexpr int32_t kAlgThreeFry = 2;
constexpr int32_t kAlgAutoSelect = 3;

// Groups per parallel chunk: Philox costs ~10 ns per group, so below this threads lose.
constexpr int64_t kMinGroupsPerChunk = 16 * 1024;

// The generator whose counter is {c0 lo, c0 hi, c1 lo, c1 hi} and key {k lo, k hi}.
Philox4x32 FromKeyCounter(uint64_t key, uint64_t c0, uint64_t c1) {
  // Philox4x32(seed_lo, seed_hi) sets the key and counter words 2, 3; Skip(c0) sets words 0, 1.
  Philox4x32 gen(key, c1);
  gen.Skip(c0);
  return gen;
}

// TF's GenerateKey: the scrambled (key, counter) of a [2] seed.
struct KeyCounter {
  uint64_t key;
  uint64_t counter[2];
};
KeyCounter ScrambleSeed(uint64_t s0, uint64_t s1) {
  const Philox4 m = FromKeyCounter(0x02461e293ec8f720ull, s0, s1)();
  return {m.v[0] | (static_cast<uint64_t>(m.v[1]) << 32),
          {0, m.v[2] | (static_cast<uint64_t>(m.v[3]) << 32)}};
}

// Reads a [2] int32/int64 seed (input i), sign-extending int32 values as TF does.
absl::StatusOr<KeyCounter> SeedInput(const OpKernelContext& ctx, int i) {
  const Tensor& seed = ctx.input(i);
  if (seed.rank() != 1 || seed.dim(0) != 2) {
    return ctx.Error(absl::StrCat("seed must have shape [2], not ", seed.shape().DebugString()));
  }
  int64_t s[2];
  if (seed.dtype() == DT_INT32) {
    for (int k = 0; k < 2; ++k) s[k] = seed.data<int32_t>()[k];
  } else if (seed.dtype() == DT_INT64) {
    for (int k = 0; k < 2; ++k) s[k] = seed.data<int64_t>()[k];
  } else {
    return ctx.Error(absl::StrCat("seed must be int32 or int64, got ", DataTypeName(seed.dtype())));
  }
  return ScrambleSeed(static_cast<uint64_t>(s[0]), static_cast<uint64_t>(s[1]));
}

// The V2 ops' (key, counter, alg) inputs at `first`, first + 1, first + 2 as a generator.
absl::StatusOr<Philox4x32> KeyCounterAlgInputs(const OpKernelContext& ctx, int first) {
  const Tensor& key = ctx.input(first);
  const Tensor& counter = ctx.input(first + 1);
  const Tensor& alg_t = ctx.input(first + 2);
  if (alg_t.rank() != 0 || alg_t.dtype() != DT_INT32) {
    return ctx.Error(absl::StrCat("alg must be an int32 scalar, got ", DataTypeName(alg_t.dtype()),
                                  " of shape ", alg_t.shape().DebugString()));
  }
  const int32_t alg = *alg_t.data<int32_t>();
  if (alg == kAlgThreeFry) {
    return ctx.Error(
        "Unsupported algorithm id: 2 (ThreeFry, which TensorFlow runs only under XLA); the CPU "
        "kernel implements Philox (alg 1) and auto-select (alg 3)");
  }
  if (alg != kAlgPhilox && alg != kAlgAutoSelect) {
    return ctx.Error(absl::StrCat("Unsupported algorithm id: ", alg,
                                  " (expected 1 = Philox or 3 = auto-select)"));
  }
  if (key.dtype() != DT_UINT64 || counter.dtype() != DT_UINT64) {
    return ctx.Error("key and counter must be uint64");
  }
  if (key.rank() != 1 || key.dim(0) != 1) {
    return ctx.Error(absl::StrCat("key must have shape [1], not ", key.shape().DebugString(),
                                  ". (Note that batched keys are not supported yet.)"));
  }
  if (counter.rank() != 1 || counter.dim(0) < 2) {
    return ctx.Error(absl::StrCat("counter must be a vector with length at least 2; got shape: ",
                                  counter.shape().DebugString(),
                                  ". (Note that batched counters are not supported yet.)"));
  }
  const uint64_t* c = counter.data<uint64_t>();
  return FromKeyCounter(key.data<uint64_t>()[0], c[0], c[1]);
}

absl::StatusOr<Tensor*> AllocateFromShapeInput(OpKernelContext& ctx) {
  ASSIGN_OR_RETURN(std::vector<int64_t> dims, array_kernels::HostInts(ctx, 0, "shape"));
  ASSIGN_OR_RETURN(const TensorShape shape, random::RandomOutputShape(ctx, dims));
  return ctx.allocate_output(0, shape);
}

// Writes n values, group g from generator base + g * skip_per_group, in parallel chunks.
// `fill(gen, out)` writes one full group of K values. Every value depends only on (base, g).
template <int K, typename T, typename FillGroup>
void FillGroups(int threads, const Philox4x32& base, uint64_t skip_per_group, T* out, int64_t n,
                const FillGroup& fill) {
  const int64_t groups = (n + K - 1) / K;
  ParallelFor(threads, groups, kMinGroupsPerChunk, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      Philox4x32 gen = base;
      gen.Skip(static_cast<uint64_t>(g) * skip_per_group);
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

// Uniform / Normal / TruncatedNormal. kV2: inputs (shape, key, counter, alg); else (shape, seed).
template <typename T, typename Dist, bool kVariable, bool kV2>
class StatelessRandomOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    Philox4x32 gen;
    if constexpr (kV2) {
      ASSIGN_OR_RETURN(gen, KeyCounterAlgInputs(ctx, 1));
    } else {
      ASSIGN_OR_RETURN(const KeyCounter kc, SeedInput(ctx, 1));
      gen = FromKeyCounter(kc.key, kc.counter[0], kc.counter[1]);
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateFromShapeInput(ctx));
    const int64_t n = out->num_elements();
    if (n == 0) return absl::OkStatus();
    uint64_t skip = 1;
    if constexpr (kVariable) skip = Dist::kSkipPerGroup;
    FillGroups<Dist::kGroup>(ctx.intra_op_threads(), gen, skip, out->data<T>(), n,
                             [](Philox4x32* g, T* dst) { Dist::Fill(g, dst); });
    return absl::OkStatus();
  }
};

// Integers in [minval, maxval) by `bits % range` (TF's UniformDistribution for integers): one
// 32-bit word per value for 32-bit types, two (lo, hi) for 64-bit ones.
template <typename T>
class StatelessRandomUniformIntOp : public OpKernel {
  using U = std::make_unsigned_t<T>;
  static constexpr int kGroup = sizeof(T) == 4 ? 4 : 2;

 public:
  explicit StatelessRandomUniformIntOp(bool v2) : v2_(v2) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    Philox4x32 gen;
    if (v2_) {
      ASSIGN_OR_RETURN(gen, KeyCounterAlgInputs(ctx, 1));
    } else {
      ASSIGN_OR_RETURN(const KeyCounter kc, SeedInput(ctx, 1));
      gen = FromKeyCounter(kc.key, kc.counter[0], kc.counter[1]);
    }
    const int lo_i = v2_ ? 4 : 2;
    ASSIGN_OR_RETURN(Tensor * out, AllocateFromShapeInput(ctx));
    const int64_t n = out->num_elements();
    if (n == 0) return absl::OkStatus();  // TF does not check the bounds then
    for (int i : {lo_i, lo_i + 1}) {
      if (ctx.input(i).rank() != 0) {
        return ctx.Error(absl::StrCat(i == lo_i ? "minval" : "maxval", " must be 0-D, got shape ",
                                      ctx.input(i).shape().DebugString()));
      }
    }
    const T lo = *ctx.input(lo_i).data<T>(), hi = *ctx.input(lo_i + 1).data<T>();
    if (!(lo < hi)) {
      return ctx.Error(v2_ ? absl::StrCat("Need minval < maxval, got ", lo, " >= ", hi)
                           : absl::StrCat("Need minval < maxval: ", lo, " >= ", hi));
    }
    const U range = static_cast<U>(static_cast<U>(hi) - static_cast<U>(lo));
    FillGroups<kGroup>(ctx.intra_op_threads(), gen, 1, out->data<T>(), n,
                       [lo, range](Philox4x32* g, T* dst) {
                         const Philox4 s = (*g)();
                         for (int i = 0; i < kGroup; ++i) {
                           U bits;
                           if constexpr (sizeof(T) == 4) {
                             bits = s.v[i];
                           } else {
                             bits = s.v[2 * i] | (static_cast<uint64_t>(s.v[2 * i + 1]) << 32);
                           }
                           dst[i] = static_cast<T>(static_cast<U>(lo) + bits % range);
                         }
                       });
    return absl::OkStatus();
  }

 private:
  bool v2_;
};

class GetKeyCounterOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const KeyCounter kc, SeedInput(ctx, 0));
    ASSIGN_OR_RETURN(Tensor * key, ctx.allocate_output(0, TensorShape{1}));
    ASSIGN_OR_RETURN(Tensor * counter, ctx.allocate_output(1, TensorShape{2}));
    key->data<uint64_t>()[0] = kc.key;
    counter->data<uint64_t>()[0] = kc.counter[0];
    counter->data<uint64_t>()[1] = kc.counter[1];
    if (ctx.num_outputs() > 2) {
      ASSIGN_OR_RETURN(Tensor * alg, ctx.allocate_output(2, TensorShape{}));
      *alg->data<int32_t>() = kAlgPhilox;
    }
    return absl::OkStatus();
  }
};

class GetAlgOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(Tensor * alg, ctx.allocate_output(0, TensorShape{}));
    *alg->data<int32_t>() = kAlgPhilox;  // what TF's CPU (and GPU) kernel answers
    return absl::OkStatus();
  }
};

template <typename K>
KernelFactory Factory() {
  return [](OpKernelConstruction&) -> KernelOrError { return std::unique_ptr<OpKernel>(new K()); };
}

#define QUIVER_STATELESS_FLOAT(v1, v2, Dist, kVariable, T)                                     \
  QUIVER_REGISTER_KERNEL(                                                                      \
      KernelDef(v1, kCpu).TypeConstraint("dtype", {DataTypeOf<T>::value}).HostMemory("shape"), \
      (Factory<StatelessRandomOp<T, random::Dist<T>, kVariable, false>>()));                   \
  QUIVER_REGISTER_KERNEL(KernelDef(v2, kCpu)                                                   \
                             .TypeConstraint("dtype", {DataTypeOf<T>::value})                  \
                             .HostMemory("shape")                                              \
                             .HostMemory("alg"),                                               \
                         (Factory<StatelessRandomOp<T, random::Dist<T>, kVariable, true>>()))
QUIVER_STATELESS_FLOAT("StatelessRandomUniform", "StatelessRandomUniformV2", UniformDist, false,
                       float);
QUIVER_STATELESS_FLOAT("StatelessRandomUniform", "StatelessRandomUniformV2", UniformDist, false,
                       double);
QUIVER_STATELESS_FLOAT("StatelessRandomNormal", "StatelessRandomNormalV2", NormalDist, false,
                       float);
QUIVER_STATELESS_FLOAT("StatelessRandomNormal", "StatelessRandomNormalV2", NormalDist, false,
                       double);
QUIVER_STATELESS_FLOAT("StatelessTruncatedNormal", "StatelessTruncatedNormalV2",
                       TruncatedNormalDist, true, float);
QUIVER_STATELESS_FLOAT("StatelessTruncatedNormal", "StatelessTruncatedNormalV2",
                       TruncatedNormalDist, true, double);
#undef QUIVER_STATELESS_FLOAT

template <typename T>
KernelFactory IntFactory(bool v2) {
  return [v2](OpKernelConstruction&) -> KernelOrError {
    return std::unique_ptr<OpKernel>(new StatelessRandomUniformIntOp<T>(v2));
  };
}

#define QUIVER_STATELESS_INT(T)                                               \
  QUIVER_REGISTER_KERNEL(KernelDef("StatelessRandomUniformIntV2", kCpu)       \
                             .TypeConstraint("dtype", {DataTypeOf<T>::value}) \
                             .HostMemory("shape")                             \
                             .HostMemory("alg"),                              \
                         IntFactory<T>(true))
QUIVER_STATELESS_INT(int32_t);
QUIVER_STATELESS_INT(int64_t);
QUIVER_STATELESS_INT(uint32_t);
QUIVER_STATELESS_INT(uint64_t);
#undef QUIVER_STATELESS_INT
QUIVER_REGISTER_KERNEL(KernelDef("StatelessRandomUniformInt", kCpu)
                           .TypeConstraint("dtype", {DT_INT32})
                           .HostMemory("shape"),
                       IntFactory<int32_t>(false));
QUIVER_REGISTER_KERNEL(KernelDef("StatelessRandomUniformInt", kCpu)
                           .TypeConstraint("dtype", {DT_INT64})
                           .HostMemory("shape"),
                       IntFactory<int64_t>(false));

QUIVER_REGISTER_KERNEL(KernelDef("StatelessRandomGetKeyCounter", kCpu), Factory<GetKeyCounterOp>());
QUIVER_REGISTER_KERNEL(KernelDef("StatelessRandomGetKeyCounterAlg", kCpu),
                       Factory<GetKeyCounterOp>());
QUIVER_REGISTER_KERNEL(KernelDef("StatelessRandomGetAlg", kCpu), Factory<GetAlgOp>());

}  // namespace
}  // namespace quiver
