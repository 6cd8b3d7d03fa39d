// CPU kernels for the element-wise unary ops. Cheap ops run the shared functors in plain loops
// (the compiler vectorises them); transcendental ops and sqrt/floor/ceil go through Eigen,
// whose packet math vectorises exp/log/tanh/logistic, which a scalar libm loop cannot.
#include <Eigen/Core>

#include "devices/common/cwise_functors.h"
#include "devices/cpu/kernels/cwise_ops_common.h"

namespace quiver {
namespace {

using cwise::FunctorBulk;
using cwise::UnaryOp;

template <typename T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;
template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;

// Each Eigen bulk op evaluates a coefficient-wise expression; in and out may be the same
// buffer (forwarded input), which is safe for coefficient-wise expressions.
#define QUIVER_EIGEN_BULK(Name, expr)                       \
  struct Name {                                             \
    template <typename T>                                   \
    static void Run(const T* in, T* out, int64_t n) {       \
      ConstArrayMap<T> x(in, static_cast<Eigen::Index>(n)); \
      ArrayMap<T> y(out, static_cast<Eigen::Index>(n));     \
      y = (expr);                                           \
    }                                                       \
  };

QUIVER_EIGEN_BULK(EigenExp, x.exp())
QUIVER_EIGEN_BULK(EigenLog, x.log())
QUIVER_EIGEN_BULK(EigenSqrt, x.sqrt())
QUIVER_EIGEN_BULK(EigenRsqrt, x.rsqrt())
QUIVER_EIGEN_BULK(EigenTanh, x.tanh())
// Not Eigen's logistic(): for float it switches to exp(x) below -9, which is off by e^x
// relative (1e-4 at x = -9). 1 / (1 + e^-x) with the vectorised exp stays within ~2 ulp and
// saturates cleanly (e^-x = inf gives 0).
QUIVER_EIGEN_BULK(EigenSigmoid, (T(1) + (-x).exp()).inverse())
QUIVER_EIGEN_BULK(EigenFloor, x.floor())
QUIVER_EIGEN_BULK(EigenCeil, x.ceil())
QUIVER_EIGEN_BULK(EigenElu, (x < T(0)).select(x.expm1(), x))
QUIVER_EIGEN_BULK(EigenCos, x.cos())
QUIVER_EIGEN_BULK(EigenSin, x.sin())
#undef QUIVER_EIGEN_BULK

#define QUIVER_UNARY_KERNEL(op, T, Bulk, cost)                                            \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         (MakeFactory<UnaryOp<T, Bulk, cost>>()))

// Float-only math.
#define QUIVER_FLOAT_UNARY(op, Bulk, cost)    \
  QUIVER_UNARY_KERNEL(op, float, Bulk, cost); \
  QUIVER_UNARY_KERNEL(op, double, Bulk, cost)

QUIVER_FLOAT_UNARY("Exp", EigenExp, 8);
QUIVER_FLOAT_UNARY("Log", EigenLog, 8);
QUIVER_FLOAT_UNARY("Sqrt", EigenSqrt, 4);
QUIVER_FLOAT_UNARY("Rsqrt", EigenRsqrt, 4);
QUIVER_FLOAT_UNARY("Tanh", EigenTanh, 8);
QUIVER_FLOAT_UNARY("Sigmoid", EigenSigmoid, 8);
QUIVER_FLOAT_UNARY("Floor", EigenFloor, 1);
QUIVER_FLOAT_UNARY("Ceil", EigenCeil, 1);
QUIVER_FLOAT_UNARY("Elu", EigenElu, 8);
QUIVER_FLOAT_UNARY("Reciprocal", FunctorBulk<functor::Reciprocal>, 1);
QUIVER_FLOAT_UNARY("Relu", FunctorBulk<functor::Relu>, 1);
QUIVER_FLOAT_UNARY("Relu6", FunctorBulk<functor::Relu6>, 1);
QUIVER_FLOAT_UNARY("Cos", EigenCos, 8);
QUIVER_FLOAT_UNARY("Sin", EigenSin, 8);
QUIVER_FLOAT_UNARY("Erf", FunctorBulk<functor::Erf>, 8);
QUIVER_FLOAT_UNARY("Erfc", FunctorBulk<functor::Erfc>, 8);
QUIVER_FLOAT_UNARY("Softplus", FunctorBulk<functor::Softplus>, 8);
QUIVER_FLOAT_UNARY("Softsign", FunctorBulk<functor::Softsign>, 2);
QUIVER_FLOAT_UNARY("Selu", FunctorBulk<functor::Selu>, 8);

// Math that also applies to integers.
#define QUIVER_NUMERIC_UNARY(op, Functor)                    \
  QUIVER_UNARY_KERNEL(op, float, FunctorBulk<Functor>, 1);   \
  QUIVER_UNARY_KERNEL(op, double, FunctorBulk<Functor>, 1);  \
  QUIVER_UNARY_KERNEL(op, int32_t, FunctorBulk<Functor>, 1); \
  QUIVER_UNARY_KERNEL(op, int64_t, FunctorBulk<Functor>, 1)

QUIVER_NUMERIC_UNARY("Neg", functor::Neg);
QUIVER_NUMERIC_UNARY("Abs", functor::Abs);
QUIVER_NUMERIC_UNARY("Square", functor::Square);
QUIVER_NUMERIC_UNARY("Sign", functor::Sign);
QUIVER_NUMERIC_UNARY("Round", functor::Round);  // half to even; identity on integers
// Relu on integers is cheap and TensorFlow has it (quantised graphs feed int activations).
QUIVER_UNARY_KERNEL("Relu", int32_t, FunctorBulk<functor::Relu>, 1);
QUIVER_UNARY_KERNEL("Relu", int64_t, FunctorBulk<functor::Relu>, 1);

// LeakyRelu: the functor carries the node's `alpha` attr.
template <typename T>
class LeakyReluOp : public OpKernel {
 public:
  explicit LeakyReluOp(OpKernelConstruction& c) {
    auto alpha = c.GetAttr<float>("alpha");
    if (alpha.ok()) f_.alpha = static_cast<T>(*alpha);
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(cwise::CheckDtype(ctx, 0, DataTypeOf<T>::value));
    const Tensor& x = ctx.input(0);
    const T* in = x.data<T>();
    ASSIGN_OR_RETURN(Tensor * y, ctx.forward_input_or_allocate_output(0, 0, x.shape()));
    T* out = y->data<T>();
    const functor::LeakyRelu<T> f = f_;
    cwise::ParallelForRange(ctx, x.num_elements(), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) out[i] = f(in[i]);
    });
    return absl::OkStatus();
  }

 private:
  functor::LeakyRelu<T> f_;
};
QUIVER_REGISTER_KERNEL(KernelDef("LeakyRelu", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       MakeFactory<LeakyReluOp<float>>());
QUIVER_REGISTER_KERNEL(KernelDef("LeakyRelu", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       MakeFactory<LeakyReluOp<double>>());

// IsNan / IsInf / IsFinite: float in, bool out.
template <typename T, template <typename> class F>
class FloatPredicateOp : public OpKernel {
 public:
  explicit FloatPredicateOp(OpKernelConstruction&) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(cwise::CheckDtype(ctx, 0, DataTypeOf<T>::value));
    const Tensor& x = ctx.input(0);
    const T* in = x.data<T>();
    ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.shape()));
    bool* out = y->data<bool>();
    cwise::ParallelForRange(ctx, x.num_elements(), 1, [&](int64_t begin, int64_t end) {
      F<T> f;
      for (int64_t i = begin; i < end; ++i) out[i] = f(in[i]);
    });
    return absl::OkStatus();
  }
};
#define QUIVER_FLOAT_PREDICATE(op, F)                                          \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DT_FLOAT}),  \
                         (MakeFactory<FloatPredicateOp<float, F>>()));         \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DT_DOUBLE}), \
                         (MakeFactory<FloatPredicateOp<double, F>>()))
QUIVER_FLOAT_PREDICATE("IsNan", functor::IsNanOp);
QUIVER_FLOAT_PREDICATE("IsInf", functor::IsInfOp);
QUIVER_FLOAT_PREDICATE("IsFinite", functor::IsFiniteOp);
#undef QUIVER_FLOAT_PREDICATE

// LogicalNot has no type attr: its input is always bool.
template <typename>
using LogicalNotOf = functor::LogicalNot;
QUIVER_REGISTER_KERNEL(KernelDef("LogicalNot", kCpu),
                       (MakeFactory<UnaryOp<bool, FunctorBulk<LogicalNotOf>>>()));

}  // namespace
}  // namespace quiver
