// The expression program of a _FusedElementwise node: a straight-line list of element-wise
// instructions over the node's inputs, evaluated independently at every output element.
//
// Registers: the node's N inputs are registers 0..N-1 ("i0".."i{N-1}"); instruction k writes
// register N+k ("r{k}"). Every instruction reads registers written before it; the result of
// the last instruction is the node's output. Inputs broadcast against each other with NumPy
// rules, so register values are per output element.
//
// Wire form (the node's `program` attr, a list(string), one instruction per entry):
//   "<Op> <operand>"            unary,  e.g. "Relu r0"
//   "<Op> <operand> <operand>"  binary, e.g. "Mul i1 r0"
// where <Op> is the TensorFlow op name the instruction computes (Add, Sub, Mul, RealDiv,
// Maximum, Minimum, SquaredDifference, Neg, Abs, Square, Sqrt, Rsqrt, Exp, Log, Tanh, Sigmoid,
// Relu, Relu6, Elu, Reciprocal, Floor, Ceil) with TensorFlow's semantics for floats. Example,
// sigmoid(x * w + b) over inputs x, w, b:  ["Mul i0 i1", "Add r0 i2", "Sigmoid r1"].
//
// The decoded form is plain data (fixed-size arrays, no allocation) so that a CUDA kernel can
// take it by value; EvalElement and the Apply* helpers are QUIVER_HOST_DEVICE. Parsing and
// printing (ToStrings, ToCSource) are host-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/common/cwise_functors.h"
#include "devices/common/host_device.h"

namespace quiver {
namespace elementwise {

enum class OpCode : uint8_t {
  // unary
  kNeg,
  kAbs,
  kSquare,
  kSqrt,
  kRsqrt,
  kExp,
  kLog,
  kTanh,
  kSigmoid,
  kRelu,
  kRelu6,
  kElu,
  kReciprocal,
  kFloor,
  kCeil,
  // binary
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMaximum,
  kMinimum,
  kSquaredDifference,
  kNumOpCodes,
};

QUIVER_HOST_DEVICE bool IsBinary(OpCode op) { return op >= OpCode::kAdd; }

inline constexpr int kMaxInputs = 16;
inline constexpr int kMaxInstructions = 64;
inline constexpr int kMaxRegisters = kMaxInputs + kMaxInstructions;

struct Instruction {
  OpCode op = OpCode::kNeg;
  uint8_t a = 0;  // register read
  uint8_t b = 0;  // second register read (binary ops only)
};

struct Program {
  int num_inputs = 0;
  int num_instructions = 0;
  Instruction code[kMaxInstructions];
  int output_register() const { return num_inputs + num_instructions - 1; }
};

// ---- host-side helpers ---------------------------------------------------------------------

// The opcode computing TensorFlow op `tf_op` on floats (AddV2/Add/BiasAdd -> kAdd, RealDiv/Div
// -> kDiv), or false.
bool OpCodeForTfOp(const std::string& tf_op, OpCode* op);
// The canonical TF op name printed in the wire form ("Add", "RealDiv", ...).
const char* OpCodeName(OpCode op);
// Rough per-element cost relative to an add (for threading decisions).
int OpCodeCost(OpCode op);

// Decodes and validates the wire form: known ops, arity, registers in range and defined before
// use, at least one instruction, limits respected. Errors name the bad entry.
absl::StatusOr<Program> Parse(int num_inputs, const std::vector<std::string>& text);
std::vector<std::string> ToStrings(const Program& p);

// Renders the program as the body of a C/C++ (or CUDA) function that reads `in0`..`in{N-1}`
// of type `type` and returns the output, one `const T rK = ...;` statement per instruction,
// e.g. for ["Mul i0 i1", "Relu r0"] and "float":
//   const float r0 = (in0 * in1);
//   const float r1 = (r0 < 0.0f ? 0.0f : r0);
//   return r1;
// Only standard math functions (expf, tanhf, sqrtf, ... or the double versions) are used.
std::string ToCSource(const Program& p, const std::string& type);

// ---- evaluation ---------------------------------------------------------------------------

template <typename T>
QUIVER_HOST_DEVICE T ApplyUnary(OpCode op, T x) {
  switch (op) {
    case OpCode::kNeg:
      return functor::Neg<T>()(x);
    case OpCode::kAbs:
      return functor::Abs<T>()(x);
    case OpCode::kSquare:
      return functor::Square<T>()(x);
    case OpCode::kSqrt:
      return functor::Sqrt<T>()(x);
    case OpCode::kRsqrt:
      return functor::Rsqrt<T>()(x);
    case OpCode::kExp:
      return functor::Exp<T>()(x);
    case OpCode::kLog:
      return functor::Log<T>()(x);
    case OpCode::kTanh:
      return functor::Tanh<T>()(x);
    case OpCode::kSigmoid:
      return functor::Sigmoid<T>()(x);
    case OpCode::kRelu:
      return functor::Relu<T>()(x);
    case OpCode::kRelu6:
      return functor::Relu6<T>()(x);
    case OpCode::kElu:
      return functor::Elu<T>()(x);
    case OpCode::kReciprocal:
      return functor::Reciprocal<T>()(x);
    case OpCode::kFloor:
      return functor::Floor<T>()(x);
    case OpCode::kCeil:
      return functor::Ceil<T>()(x);
    default:
      return x;
  }
}

template <typename T>
QUIVER_HOST_DEVICE T ApplyBinary(OpCode op, T a, T b) {
  switch (op) {
    case OpCode::kAdd:
      return functor::Add<T>()(a, b);
    case OpCode::kSub:
      return functor::Sub<T>()(a, b);
    case OpCode::kMul:
      return functor::Mul<T>()(a, b);
    case OpCode::kDiv:
      return functor::RealDiv<T>()(a, b);
    case OpCode::kMaximum:
      return functor::Maximum<T>()(a, b);
    case OpCode::kMinimum:
      return functor::Minimum<T>()(a, b);
    case OpCode::kSquaredDifference:
      return functor::SquaredDifference<T>()(a, b);
    default:
      return a;
  }
}

// Evaluates the program at one element given its N input values (the reference semantics;
// a GPU kernel can call this per thread).
template <typename T>
QUIVER_HOST_DEVICE T EvalElement(const Program& p, const T* inputs) {
  T reg[kMaxRegisters];
  for (int i = 0; i < p.num_inputs; ++i) reg[i] = inputs[i];
  for (int k = 0; k < p.num_instructions; ++k) {
    const Instruction& in = p.code[k];
    reg[p.num_inputs + k] = IsBinary(in.op) ? ApplyBinary<T>(in.op, reg[in.a], reg[in.b])
                                            : ApplyUnary<T>(in.op, reg[in.a]);
  }
  return reg[p.output_register()];
}

// ---- broadcasting over N inputs -----------------------------------------------------------

// How N input shapes broadcast to the output, with adjacent dims that broadcast the same way
// for every input merged and size-1 output dims dropped (rank <= kMaxRank after collapsing;
// an input's stride is 0 along a dim where it is broadcast).
struct BroadcastLayout {
  static constexpr int kMaxRank = 8;
  int rank = 0;
  int num_inputs = 0;
  int64_t num_elements = 0;
  int64_t out_dims[kMaxRank] = {};
  int64_t strides[kMaxInputs][kMaxRank] = {};

  // Flat offset of input `i` at output multi-index `idx`.
  QUIVER_HOST_DEVICE int64_t Offset(int i, const int64_t* idx) const {
    int64_t o = 0;
    for (int d = 0; d < rank; ++d) o += idx[d] * strides[i][d];
    return o;
  }
};

// The NumPy broadcast of `shapes` (fully known dims) as an output shape and a layout, or an
// InvalidArgument error "incompatible shapes for broadcasting: [2,3] vs [4]".
absl::Status PlanBroadcast(const std::vector<std::vector<int64_t>>& shapes,
                           std::vector<int64_t>* output_dims, BroadcastLayout* layout);

}  // namespace elementwise
}  // namespace quiver
