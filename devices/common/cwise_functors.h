// Element-wise functors and the broadcast index helper, shared by the CPU kernels and (later)
// the CUDA kernels. Everything here is QUIVER_HOST_DEVICE: no std:: calls other than <cmath>
// functions, no exceptions, no allocation. Integer arithmetic that could overflow goes through
// unsigned types so that it wraps (like TensorFlow on every platform) instead of being UB.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "devices/common/host_device.h"

namespace quiver {
namespace functor {

// ---- helpers -----------------------------------------------------------------------------

template <typename T>
QUIVER_HOST_DEVICE bool IsNan(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    return x != x;
  } else {
    return false;
  }
}

// Two's-complement wrapping arithmetic for integers; plain arithmetic for floats.
template <typename T>
QUIVER_HOST_DEVICE T WrapAdd(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}
template <typename T>
QUIVER_HOST_DEVICE T WrapSub(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}
template <typename T>
QUIVER_HOST_DEVICE T WrapMul(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // Promote narrow types to unsigned int first: uint16 * uint16 would promote to (signed) int
    // and could overflow.
    using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// ---- unary -------------------------------------------------------------------------------

template <typename T>
struct Neg {
  QUIVER_HOST_DEVICE T operator()(T x) const { return WrapSub(T(0), x); }
};
template <typename T>
struct Abs {
  // abs(INT_MIN) wraps to INT_MIN, as in TensorFlow (and without UB).
  QUIVER_HOST_DEVICE T operator()(T x) const { return x < T(0) ? WrapSub(T(0), x) : x; }
};
template <typename T>
struct Square {
  QUIVER_HOST_DEVICE T operator()(T x) const { return WrapMul(x, x); }
};
template <typename T>
struct Sign {
  // NaN maps to NaN in TensorFlow (and NumPy): neither comparison holds, so return x.
  QUIVER_HOST_DEVICE T operator()(T x) const { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x); }
};
template <typename T>
struct Reciprocal {
  QUIVER_HOST_DEVICE T operator()(T x) const { return T(1) / x; }
};
template <typename T>
struct Exp {
  QUIVER_HOST_DEVICE T operator()(T x) const { return std::exp(x); }
};
template <typename T>
struct Log {
  QUIVER_HOST_DEVICE T operator()(T x) const { return std::log(x); }
};
template <typename T>
struct Sqrt {
  QUIVER_HOST_DEVICE T operator()(T x) const { return std::sqrt(x); }
};
template <typename T>
struct Rsqrt {
  QUIVER_HOST_DEVICE T operator()(T x) const { return T(1) / std::sqrt(x); }
};
template <typename T>
struct Tanh {
  QUIVER_HOST_DEVICE T operator()(T x) const { return std::tanh(x); }
};
template <typename T>
struct Sigmoid {
  // 1 / (1 + e^-x) overflows gracefully: e^-x = inf gives 0, never NaN.
  QUIVER_HOST_DEVICE T operator()(T x) const { return T(1) / (T(1) + std::exp(-x)); }
};
template <typename T>
struct Floor {
  QUIVER_HOST_DEVICE T operator()(T x) const { return std::floor(x); }
};
template <typename T>
struct Ceil {
  QUIVER_HOST_DEVICE T operator()(T x) const { return std::ceil(x); }
};
template <typename T>
struct Relu {
  // Written so that NaN propagates (NaN < 0 is false), like TensorFlow.
  QUIVER_HOST_DEVICE T operator()(T x) const { return x < T(0) ? T(0) : x; }
};
template <typename T>
struct Relu6 {
  QUIVER_HOST_DEVICE T operator()(T x) const { return x < T(0) ? T(0) : (x > T(6) ? T(6) : x); }
};
template <typename T>
struct Elu {
  QUIVER_HOST_DEVICE T operator()(T x) const { return x < T(0) ? std::expm1(x) : x; }
};
// Round half to even (banker's rounding) like TF: rint in the default rounding mode, which
// also keeps TF's signed zeros (round(-0.4) = -0); integers pass through.
template <typename T>
struct Round {
  QUIVER_HOST_DEVICE T operator()(T x) const {
    if constexpr (std::is_integral_v<T>) {
      return x;
    } else {
      return std::rint(x);
    }
  }
};
template <typename T>
struct Erf {
  QUIVER_HOST_DEVICE T operator()(T x) const { return std::erf(x); }
};
template <typename T>
struct Erfc {
  QUIVER_HOST_DEVICE T operator()(T x) const { return std::erfc(x); }
};
template <typename T>
struct Cos {
  QUIVER_HOST_DEVICE T operator()(T x) const { return std::cos(x); }
};
template <typename T>
struct Sin {
  QUIVER_HOST_DEVICE T operator()(T x) const { return std::sin(x); }
};
// TF's softplus: x above -threshold, e^x below threshold, else log(e^x + 1), where threshold =
// log(epsilon) + 2 of T (the branches agree to T's precision there).
template <typename T>
struct Softplus {
  QUIVER_HOST_DEVICE T operator()(T x) const {
    const T threshold = sizeof(T) == 4 ? T(-13.942385f) : T(-34.04365338911715);
    if (x > -threshold) return x;
    if (x < threshold) return std::exp(x);
    return std::log(std::exp(x) + T(1));
  }
};
template <typename T>
struct Softsign {
  QUIVER_HOST_DEVICE T operator()(T x) const { return x / (T(1) + (x < T(0) ? -x : x)); }
};
// SELU's constants (Klambauer et al.), as TF: scale and scale * alpha.
inline constexpr double kSeluScale = 1.0507009873554804934193349852946;
inline constexpr double kSeluScaleAlpha = 1.7580993408473768599402175208123;
template <typename T>
struct Selu {
  QUIVER_HOST_DEVICE T operator()(T x) const {
    return x < T(0) ? T(kSeluScaleAlpha) * std::expm1(x) : T(kSeluScale) * x;
  }
};
// LeakyRelu with TF's attr `alpha`: x > 0 ? x : alpha * x (NaN stays NaN).
template <typename T>
struct LeakyRelu {
  T alpha = T(0.2);
  QUIVER_HOST_DEVICE T operator()(T x) const { return x > T(0) ? x : x * alpha; }
};
// IsNan / IsInf / IsFinite (bool results; named *Op because IsNan above is a helper).
template <typename T>
struct IsNanOp {
  QUIVER_HOST_DEVICE bool operator()(T x) const { return x != x; }
};
template <typename T>
struct IsInfOp {
  QUIVER_HOST_DEVICE bool operator()(T x) const {
    return x > std::numeric_limits<T>::max() || x < -std::numeric_limits<T>::max();
  }
};
template <typename T>
struct IsFiniteOp {
  QUIVER_HOST_DEVICE bool operator()(T x) const {
    return x <= std::numeric_limits<T>::max() && x >= -std::numeric_limits<T>::max();
  }
};
struct LogicalNot {
  QUIVER_HOST_DEVICE bool operator()(bool x) const { return !x; }
};

// ---- binary ------------------------------------------------------------------------------

template <typename T>
struct Add {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const { return WrapAdd(a, b); }
};
template <typename T>
struct Sub {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const { return WrapSub(a, b); }
};
template <typename T>
struct Mul {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const { return WrapMul(a, b); }
};
// Float division (RealDiv, and Div on floats).
template <typename T>
struct RealDiv {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const { return a / b; }
};
// Div on integers: C++ truncating division, like TensorFlow's Div kernel. The caller rejects
// b == 0 before launching; b == -1 is special-cased because MIN / -1 traps on x86.
template <typename T>
struct TruncDiv {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const {
    if (b == T(-1)) return WrapSub(T(0), a);
    return b == T(0) ? T(0) : a / b;
  }
};
// FloorDiv: rounds toward negative infinity (Python's //).
template <typename T>
struct FloorDiv {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == T(-1)) return WrapSub(T(0), a);
      if (b == T(0)) return T(0);
      T q = a / b;
      // Truncation rounded toward zero; step down when the signs differ and it was inexact.
      if ((a % b != T(0)) && ((a < T(0)) != (b < T(0)))) q = q - T(1);
      return q;
    } else {
      return std::floor(a / b);
    }
  }
};
// FloorMod: the remainder has the sign of the divisor (Python's %).
template <typename T>
struct FloorMod {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == T(-1) || b == T(0)) return T(0);
      T r = a % b;
      if (r != T(0) && ((r < T(0)) != (b < T(0)))) r = r + b;
      return r;
    } else {
      T r = std::fmod(a, b);
      if (r != T(0) && ((r < T(0)) != (b < T(0)))) r = r + b;
      return r;
    }
  }
};
// EluGrad(gradients, outputs), TF argument order: outputs < 0 ? gradients * (outputs + 1) :
// gradients (the ELU's derivative written with its output: d/dx expm1(x) = y + 1 for x < 0).
// NaN outputs take the second branch and pass the gradient through, like the CPU kernel.
template <typename T>
struct EluGrad {
  QUIVER_HOST_DEVICE T operator()(T g, T out) const { return out < T(0) ? g * (out + T(1)) : g; }
};
// Maximum/Minimum propagate NaN from either side (TensorFlow 2 and NumPy semantics): if a is
// NaN the comparison picks a; if only b is NaN it fails and picks b. Written as one select with
// a non-short-circuit `|` so that loops and reductions over it vectorise.
template <typename T>
struct Maximum {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const { return ((a > b) | IsNan(a)) ? a : b; }
};
template <typename T>
struct Minimum {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const { return ((a < b) | IsNan(a)) ? a : b; }
};
template <typename T>
struct Pow {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      // Exponentiation by squaring with wrapping; the caller rejects negative exponents.
      T result = T(1);
      T base = a;
      while (b > T(0)) {
        if (b & T(1)) result = WrapMul(result, base);
        b = static_cast<T>(b >> 1);
        if (b > T(0)) base = WrapMul(base, base);
      }
      return result;
    } else {
      return std::pow(a, b);
    }
  }
};
// Atan2(y, x), TF's argument order.
template <typename T>
struct Atan2 {
  QUIVER_HOST_DEVICE T operator()(T y, T x) const { return std::atan2(y, x); }
};
// ClipByValue on one element: min(max(x, lo), hi) in TF's order (hi applied first, then lo),
// NaN propagating like Maximum/Minimum.
template <typename T>
QUIVER_HOST_DEVICE T ClipValue(T x, T lo, T hi) {
  return Maximum<T>()(Minimum<T>()(x, hi), lo);
}
template <typename T>
struct SquaredDifference {
  QUIVER_HOST_DEVICE T operator()(T a, T b) const {
    T d = WrapSub(a, b);
    return WrapMul(d, d);
  }
};

// Comparisons produce bool.
template <typename T>
struct Equal {
  QUIVER_HOST_DEVICE bool operator()(T a, T b) const { return a == b; }
};
template <typename T>
struct NotEqual {
  QUIVER_HOST_DEVICE bool operator()(T a, T b) const { return a != b; }
};
template <typename T>
struct Less {
  QUIVER_HOST_DEVICE bool operator()(T a, T b) const { return a < b; }
};
template <typename T>
struct LessEqual {
  QUIVER_HOST_DEVICE bool operator()(T a, T b) const { return a <= b; }
};
template <typename T>
struct Greater {
  QUIVER_HOST_DEVICE bool operator()(T a, T b) const { return a > b; }
};
template <typename T>
struct GreaterEqual {
  QUIVER_HOST_DEVICE bool operator()(T a, T b) const { return a >= b; }
};
struct LogicalAnd {
  QUIVER_HOST_DEVICE bool operator()(bool a, bool b) const { return a && b; }
};
struct LogicalOr {
  QUIVER_HOST_DEVICE bool operator()(bool a, bool b) const { return a || b; }
};

// ---- broadcasting ------------------------------------------------------------------------

// Maps a flat output index to the flat offsets of two broadcast inputs. Dims are the
// (collapsed) output dims; an input's stride is 0 along dims where it is broadcast. A CUDA
// kernel copies this struct by value into its parameters.
struct BroadcastIndexer {
  static constexpr int kMaxRank = 8;
  int rank = 0;
  int64_t out_dims[kMaxRank] = {};
  int64_t x_strides[kMaxRank] = {};
  int64_t y_strides[kMaxRank] = {};

  QUIVER_HOST_DEVICE void Offsets(int64_t out_index, int64_t* x_offset, int64_t* y_offset) const {
    int64_t xo = 0, yo = 0;
    for (int d = rank - 1; d >= 0; --d) {
      int64_t i = out_index % out_dims[d];
      out_index /= out_dims[d];
      xo += i * x_strides[d];
      yo += i * y_strides[d];
    }
    *x_offset = xo;
    *y_offset = yo;
  }
};

// Fills `indexer` from output dims and per-input dims of the same rank (each input dim is
// either equal to the output dim or 1). Returns false if the rank exceeds kMaxRank or the
// dims are inconsistent; callers collapse adjacent dims first, so real graphs never hit the
// limit.
QUIVER_HOST_DEVICE bool MakeBroadcastIndexer(int rank, const int64_t* out_dims,
                                             const int64_t* x_dims, const int64_t* y_dims,
                                             BroadcastIndexer* indexer) {
  if (rank < 0 || rank > BroadcastIndexer::kMaxRank) return false;
  indexer->rank = rank;
  int64_t xs = 1, ys = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if ((x_dims[d] != out_dims[d] && x_dims[d] != 1) ||
        (y_dims[d] != out_dims[d] && y_dims[d] != 1)) {
      return false;
    }
    indexer->out_dims[d] = out_dims[d];
    indexer->x_strides[d] = x_dims[d] == 1 ? 0 : xs;
    indexer->y_strides[d] = y_dims[d] == 1 ? 0 : ys;
    xs *= x_dims[d];
    ys *= y_dims[d];
  }
  return true;
}

}  // namespace functor
}  // namespace quiver
