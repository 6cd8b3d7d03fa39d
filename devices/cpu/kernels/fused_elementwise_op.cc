// _FusedElementwise on the CPU (float32 and float64): evaluates the node's expression program
// (devices/common/elementwise_program.h) block by block. The output is walked in blocks of
// kBlock contiguous elements; per block every input is a pointer (an input of the output's
// shape, or a row of a broadcast input) or a small gathered/splatted buffer, and every
// instruction is one contiguous loop over the block into a scratch slot that stays in L1
// (slots are reused once their value is dead). Cheap ops run the shared functors in plain
// loops the compiler vectorises; exp/log/tanh/sigmoid/elu/sqrt go through Eigen's packet math,
// the same code the unfused kernels use, so fused and unfused results agree.
#include <Eigen/Core>
#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/cwise_functors.h"
#include "devices/common/elementwise_program.h"
#include "devices/cpu/kernels/cwise_ops_common.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using elementwise::BroadcastLayout;
using elementwise::Instruction;
using elementwise::OpCode;
using elementwise::Program;

constexpr int64_t kBlock = 1024;
// Inner (collapsed) rows at least this long are walked row by row so that broadcast inputs
// are pointers or splats; shorter rows are gathered element by element.
constexpr int64_t kMinRow = 64;

template <typename T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;
template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;

template <typename F, typename T>
inline void Unary(const T* a, T* out, int64_t n) {
  F f;
  for (int64_t j = 0; j < n; ++j) out[j] = f(a[j]);
}
template <typename F, typename T>
inline void Binary(const T* a, const T* b, T* out, int64_t n) {
  F f;
  for (int64_t j = 0; j < n; ++j) out[j] = f(a[j], b[j]);
}

// out[0, n) = op(a[0, n), b[0, n)); out may alias a or b.
template <typename T>
void RunInstruction(OpCode op, const T* a, const T* b, T* out, int64_t n) {
  const ConstArrayMap<T> x(a, static_cast<Eigen::Index>(n));
  ArrayMap<T> y(out, static_cast<Eigen::Index>(n));
  switch (op) {
    case OpCode::kNeg:
      return Unary<functor::Neg<T>>(a, out, n);
    case OpCode::kAbs:
      return Unary<functor::Abs<T>>(a, out, n);
    case OpCode::kSquare:
      return Unary<functor::Square<T>>(a, out, n);
    case OpCode::kRelu:
      return Unary<functor::Relu<T>>(a, out, n);
    case OpCode::kRelu6:
      return Unary<functor::Relu6<T>>(a, out, n);
    case OpCode::kReciprocal:
      return Unary<functor::Reciprocal<T>>(a, out, n);
    case OpCode::kSqrt:
      y = x.sqrt();
      return;
    case OpCode::kRsqrt:
      y = x.rsqrt();
      return;
    case OpCode::kExp:
      y = x.exp();
      return;
    case OpCode::kLog:
      y = x.log();
      return;
    case OpCode::kTanh:
      y = x.tanh();
      return;
    case OpCode::kSigmoid:  // as the Sigmoid kernel: 1 / (1 + e^-x), saturating cleanly
      y = (T(1) + (-x).exp()).inverse();
      return;
    case OpCode::kElu:
      y = (x < T(0)).select(x.expm1(), x);
      return;
    case OpCode::kFloor:
      y = x.floor();
      return;
    case OpCode::kCeil:
      y = x.ceil();
      return;
    case OpCode::kAdd:
      return Binary<functor::Add<T>>(a, b, out, n);
    case OpCode::kSub:
      return Binary<functor::Sub<T>>(a, b, out, n);
    case OpCode::kMul:
      return Binary<functor::Mul<T>>(a, b, out, n);
    case OpCode::kDiv:
      return Binary<functor::RealDiv<T>>(a, b, out, n);
    case OpCode::kMaximum:
      return Binary<functor::Maximum<T>>(a, b, out, n);
    case OpCode::kMinimum:
      return Binary<functor::Minimum<T>>(a, b, out, n);
    case OpCode::kSquaredDifference:
      return Binary<functor::SquaredDifference<T>>(a, b, out, n);
    default:
      return;
  }
}

// ---- pairs: a cheap op followed by a cheap unary op on its result, in one loop ----------
// (the intermediate never goes through memory, which is what a separate loop per instruction
// costs when the data is already in cache).

template <typename F>
struct AsBinary {  // a unary functor in the binary slot (b is ignored)
  template <typename T>
  QUIVER_HOST_DEVICE T operator()(T a, T) const {
    return F()(a);
  }
};

bool IsCheapUnary(OpCode op) {
  return op == OpCode::kNeg || op == OpCode::kAbs || op == OpCode::kSquare || op == OpCode::kRelu ||
         op == OpCode::kRelu6 || op == OpCode::kReciprocal;
}
bool IsCheapFirst(OpCode op) {
  return IsCheapUnary(op) || (elementwise::IsBinary(op) && op != OpCode::kNumOpCodes);
}

template <typename F1, typename F2, typename T>
inline void PairLoop(const T* a, const T* b, T* out, int64_t n) {
  F1 f1;
  F2 f2;
  for (int64_t j = 0; j < n; ++j) out[j] = f2(f1(a[j], b[j]));
}

template <typename T, typename F1>
void PairSecond(OpCode op2, const T* a, const T* b, T* out, int64_t n) {
  switch (op2) {
    case OpCode::kNeg:
      return PairLoop<F1, functor::Neg<T>>(a, b, out, n);
    case OpCode::kAbs:
      return PairLoop<F1, functor::Abs<T>>(a, b, out, n);
    case OpCode::kSquare:
      return PairLoop<F1, functor::Square<T>>(a, b, out, n);
    case OpCode::kRelu:
      return PairLoop<F1, functor::Relu<T>>(a, b, out, n);
    case OpCode::kRelu6:
      return PairLoop<F1, functor::Relu6<T>>(a, b, out, n);
    case OpCode::kReciprocal:
      return PairLoop<F1, functor::Reciprocal<T>>(a, b, out, n);
    default:
      return;
  }
}

// out = op2(op1(a, b)) (b ignored for a unary op1); only for IsCheapFirst(op1) and
// IsCheapUnary(op2).
template <typename T>
void RunPair(OpCode op1, OpCode op2, const T* a, const T* b, T* out, int64_t n) {
  switch (op1) {
    case OpCode::kNeg:
      return PairSecond<T, AsBinary<functor::Neg<T>>>(op2, a, a, out, n);
    case OpCode::kAbs:
      return PairSecond<T, AsBinary<functor::Abs<T>>>(op2, a, a, out, n);
    case OpCode::kSquare:
      return PairSecond<T, AsBinary<functor::Square<T>>>(op2, a, a, out, n);
    case OpCode::kRelu:
      return PairSecond<T, AsBinary<functor::Relu<T>>>(op2, a, a, out, n);
    case OpCode::kRelu6:
      return PairSecond<T, AsBinary<functor::Relu6<T>>>(op2, a, a, out, n);
    case OpCode::kReciprocal:
      return PairSecond<T, AsBinary<functor::Reciprocal<T>>>(op2, a, a, out, n);
    case OpCode::kAdd:
      return PairSecond<T, functor::Add<T>>(op2, a, b, out, n);
    case OpCode::kSub:
      return PairSecond<T, functor::Sub<T>>(op2, a, b, out, n);
    case OpCode::kMul:
      return PairSecond<T, functor::Mul<T>>(op2, a, b, out, n);
    case OpCode::kDiv:
      return PairSecond<T, functor::RealDiv<T>>(op2, a, b, out, n);
    case OpCode::kMaximum:
      return PairSecond<T, functor::Maximum<T>>(op2, a, b, out, n);
    case OpCode::kMinimum:
      return PairSecond<T, functor::Minimum<T>>(op2, a, b, out, n);
    case OpCode::kSquaredDifference:
      return PairSecond<T, functor::SquaredDifference<T>>(op2, a, b, out, n);
    default:
      return;
  }
}

// Calls fn(functor) for a binary opcode.
template <typename T, typename Fn>
void WithBinary(OpCode op, Fn&& fn) {
  switch (op) {
    case OpCode::kAdd:
      return fn(functor::Add<T>());
    case OpCode::kSub:
      return fn(functor::Sub<T>());
    case OpCode::kMul:
      return fn(functor::Mul<T>());
    case OpCode::kDiv:
      return fn(functor::RealDiv<T>());
    case OpCode::kMaximum:
      return fn(functor::Maximum<T>());
    case OpCode::kMinimum:
      return fn(functor::Minimum<T>());
    case OpCode::kSquaredDifference:
      return fn(functor::SquaredDifference<T>());
    default:
      return;
  }
}

// Two binary ops in one loop: out = op2(op1(a, b), c), or op2(c, op1(a, b)) when
// !result_first.
template <typename T>
void RunBinaryPair(OpCode op1, OpCode op2, bool result_first, const T* a, const T* b, const T* c,
                   T* out, int64_t n) {
  WithBinary<T>(op1, [&](auto f1) {
    WithBinary<T>(op2, [&](auto f2) {
      if (result_first) {
        for (int64_t j = 0; j < n; ++j) out[j] = f2(f1(a[j], b[j]), c[j]);
      } else {
        for (int64_t j = 0; j < n; ++j) out[j] = f2(c[j], f1(a[j], b[j]));
      }
    });
  });
}

template <typename T>
class FusedElementwiseOp : public OpKernel {
 public:
  explicit FusedElementwiseOp(const Program& p) : p_(p) {
    // Scratch slots by liveness: an instruction may write the slot of an operand that dies
    // at it (element j reads only element j). The last instruction writes the output.
    const int n = p_.num_inputs, m = p_.num_instructions;
    std::vector<int> last_use(m, -1);
    for (int k = 0; k < m; ++k) {
      const Instruction& in = p_.code[k];
      if (in.a >= n) last_use[in.a - n] = k;
      if (elementwise::IsBinary(in.op) && in.b >= n) last_use[in.b - n] = k;
      cost_ += elementwise::OpCodeCost(in.op);
    }
    slot_.assign(m, -1);
    std::vector<int> free_slots;
    for (int k = 0; k < m; ++k) {
      const Instruction& in = p_.code[k];
      for (int r : {static_cast<int>(in.a), elementwise::IsBinary(in.op) ? in.b : -1}) {
        if (r >= n && last_use[r - n] == k && slot_[r - n] >= 0 &&
            std::find(free_slots.begin(), free_slots.end(), slot_[r - n]) == free_slots.end()) {
          free_slots.push_back(slot_[r - n]);
        }
      }
      if (k == m - 1) break;  // the output
      if (free_slots.empty()) {
        slot_[k] = num_slots_++;
      } else {
        slot_[k] = free_slots.back();
        free_slots.pop_back();
      }
      if (last_use[k] < 0) free_slots.push_back(slot_[k]);  // never read
    }
    // Pairs: instruction k+1 is the only reader of r_k and either a cheap unary op on it
    // (kUnary), or a binary op reading it once after binary op k (kBinary).
    paired_.assign(m, kNone);
    for (int k = 0; k + 1 < m; ++k) {
      const Instruction& cur = p_.code[k];
      const Instruction& next = p_.code[k + 1];
      if (last_use[k] != k + 1) continue;
      if (IsCheapFirst(cur.op) && IsCheapUnary(next.op) && next.a == n + k) {
        paired_[k] = kUnary;
      } else if (elementwise::IsBinary(cur.op) && elementwise::IsBinary(next.op) &&
                 ((next.a == n + k) != (next.b == n + k))) {
        paired_[k] = kBinary;
      } else {
        continue;
      }
      ++k;  // k+1 is consumed by the pair
    }
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = p_.num_inputs;
    if (ctx.num_inputs() != n) {
      return ctx.Error(absl::StrCat("expected ", n, " inputs, got ", ctx.num_inputs()));
    }
    std::vector<std::vector<int64_t>> shapes(n);
    std::vector<const T*> data(n);
    for (int i = 0; i < n; ++i) {
      RETURN_IF_ERROR(cwise::CheckDtype(ctx, i, DataTypeOf<T>::value));
      shapes[i] = ctx.input(i).shape().dims();
      data[i] = ctx.input(i).template data<T>();
    }
    std::vector<int64_t> out_dims;
    auto layout = std::make_unique<BroadcastLayout>();
    if (absl::Status s = elementwise::PlanBroadcast(shapes, &out_dims, layout.get()); !s.ok()) {
      return ctx.Error(std::string(s.message()));
    }
    const TensorShape out_shape(out_dims);
    const int64_t total = layout->num_elements;
    // Inputs that already have the output's shape are read at the output position; one of
    // them may donate its buffer.
    std::vector<bool> full(n), scalar(n);
    int forward = -1;
    for (int i = 0; i < n; ++i) {
      full[i] = ctx.input(i).shape() == out_shape;
      scalar[i] = !full[i] && ctx.input(i).num_elements() == 1;
      if (full[i] && forward < 0) forward = i;
    }
    Tensor* y;
    if (forward >= 0) {
      ASSIGN_OR_RETURN(y, ctx.forward_input_or_allocate_output(forward, 0, out_shape));
    } else {
      ASSIGN_OR_RETURN(y, ctx.allocate_output(0, out_shape));
    }
    if (total == 0) return absl::OkStatus();
    T* out = y->template data<T>();
    const BroadcastLayout& L = *layout;
    const int rank = L.rank;
    const int64_t inner = rank > 0 ? L.out_dims[rank - 1] : 1;
    const bool by_row = inner >= kMinRow;

    cwise::ParallelForRange(ctx, total, cost_, [&](int64_t begin, int64_t end) {
      // Scratch: instruction slots, then one buffer per input that needs one. Kept per
      // thread (a pool thread runs many ranges), so the slots stay warm in L1.
      thread_local std::vector<T> scratch;
      const size_t need = static_cast<size_t>((num_slots_ + n) * kBlock);
      if (scratch.size() < need) scratch.resize(need);
      T* const base = scratch.data();
      auto slot = [&](int s) { return base + s * kBlock; };
      auto input_buf = [&](int i) { return base + (num_slots_ + i) * kBlock; };
      const T* reg[elementwise::kMaxRegisters];
      for (int i = 0; i < n; ++i) {
        if (scalar[i]) std::fill(input_buf(i), input_buf(i) + kBlock, data[i][0]);
      }
      int64_t idx[BroadcastLayout::kMaxRank];
      for (int64_t pos = begin; pos < end;) {
        int64_t len = std::min(kBlock, end - pos);
        if (by_row) len = std::min(len, inner - pos % inner);
        // The output multi-index of `pos` (only needed for broadcast inputs).
        bool have_idx = false;
        auto index_of_pos = [&] {
          if (have_idx) return;
          int64_t rem = pos;
          for (int d = rank - 1; d >= 0; --d) {
            idx[d] = rem % L.out_dims[d];
            rem /= L.out_dims[d];
          }
          have_idx = true;
        };
        for (int i = 0; i < n; ++i) {
          if (full[i]) {
            reg[i] = data[i] + pos;
          } else if (scalar[i]) {
            reg[i] = input_buf(i);
          } else if (by_row) {
            index_of_pos();
            const T* src = data[i] + L.Offset(i, idx);
            if (L.strides[i][rank - 1] != 0) {
              reg[i] = src;  // contiguous along the row
            } else {
              std::fill(input_buf(i), input_buf(i) + len, *src);
              reg[i] = input_buf(i);
            }
          } else {
            // Gather with an odometer over the output index.
            index_of_pos();
            int64_t j_idx[BroadcastLayout::kMaxRank];
            std::copy(idx, idx + rank, j_idx);
            int64_t off = L.Offset(i, j_idx);
            T* buf = input_buf(i);
            for (int64_t j = 0; j < len; ++j) {
              buf[j] = data[i][off];
              for (int d = rank - 1; d >= 0; --d) {
                off += L.strides[i][d];
                if (++j_idx[d] < L.out_dims[d]) break;
                off -= L.strides[i][d] * L.out_dims[d];
                j_idx[d] = 0;
              }
            }
            reg[i] = buf;
          }
        }
        for (int k = 0; k < p_.num_instructions; ++k) {
          const Instruction& in = p_.code[k];
          if (paired_[k] != kNone) {
            const int k2 = k + 1;
            const Instruction& in2 = p_.code[k2];
            T* dst = k2 == p_.num_instructions - 1 ? out + pos : slot(slot_[k2]);
            if (paired_[k] == kUnary) {
              RunPair<T>(in.op, in2.op, reg[in.a],
                         elementwise::IsBinary(in.op) ? reg[in.b] : reg[in.a], dst, len);
            } else {
              const bool result_first = in2.a == n + k;
              RunBinaryPair<T>(in.op, in2.op, result_first, reg[in.a], reg[in.b],
                               reg[result_first ? in2.b : in2.a], dst, len);
            }
            reg[n + k2] = dst;
            k = k2;
            continue;
          }
          T* dst = k == p_.num_instructions - 1 ? out + pos : slot(slot_[k]);
          RunInstruction<T>(in.op, reg[in.a], elementwise::IsBinary(in.op) ? reg[in.b] : nullptr,
                            dst, len);
          reg[n + k] = dst;
        }
        pos += len;
      }
    });
    return absl::OkStatus();
  }

 private:
  const Program p_;
  std::vector<int> slot_;  // per instruction: its scratch slot (-1: the output)
  enum Pairing : uint8_t { kNone, kUnary, kBinary };
  std::vector<Pairing> paired_;  // instruction k runs fused with k+1 (RunPair, RunBinaryPair)
  int num_slots_ = 0;
  int64_t cost_ = 0;
};

template <typename T>
KernelOrError CreateFusedElementwise(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(int64_t n, c.GetAttr<int64_t>("N"));
  ASSIGN_OR_RETURN(std::vector<std::string> text, c.GetAttr<std::vector<std::string>>("program"));
  absl::StatusOr<Program> p = elementwise::Parse(static_cast<int>(n), text);
  if (!p.ok()) return c.Error(std::string(p.status().message()));
  return std::unique_ptr<OpKernel>(new FusedElementwiseOp<T>(*p));
}

QUIVER_REGISTER_KERNEL(KernelDef("_FusedElementwise", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateFusedElementwise<float>);
QUIVER_REGISTER_KERNEL(KernelDef("_FusedElementwise", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       CreateFusedElementwise<double>);

}  // namespace
}  // namespace quiver
