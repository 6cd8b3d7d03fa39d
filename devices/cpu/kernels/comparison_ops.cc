// CPU kernels for the comparisons (bool results, NumPy broadcasting) and LogicalAnd/Or.
#include "devices/cpu/kernels/cwise_ops_common.h"

namespace quiver {
namespace {

using cwise::BinaryOp;
using cwise::NoCheck;

#define QUIVER_COMPARE(op, T, F)                                                          \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         (MakeFactory<BinaryOp<T, bool, F<T>>>()))
#define QUIVER_COMPARE_NUMERIC(op, F) \
  QUIVER_COMPARE(op, float, F);       \
  QUIVER_COMPARE(op, double, F);      \
  QUIVER_COMPARE(op, int32_t, F);     \
  QUIVER_COMPARE(op, int64_t, F)

QUIVER_COMPARE_NUMERIC("Less", functor::Less);
QUIVER_COMPARE_NUMERIC("LessEqual", functor::LessEqual);
QUIVER_COMPARE_NUMERIC("Greater", functor::Greater);
QUIVER_COMPARE_NUMERIC("GreaterEqual", functor::GreaterEqual);

// Equal/NotEqual read incompatible_shape_error (kEquality = true).
#define QUIVER_EQUALITY(op, T, F)                                                         \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         (MakeFactory<BinaryOp<T, bool, F<T>, NoCheck, 1, true>>()))
#define QUIVER_EQUALITY_ALL(op, F) \
  QUIVER_EQUALITY(op, float, F);   \
  QUIVER_EQUALITY(op, double, F);  \
  QUIVER_EQUALITY(op, int32_t, F); \
  QUIVER_EQUALITY(op, int64_t, F); \
  QUIVER_EQUALITY(op, bool, F)

QUIVER_EQUALITY_ALL("Equal", functor::Equal);
QUIVER_EQUALITY_ALL("NotEqual", functor::NotEqual);

// LogicalAnd/Or have no type attr: bool in, bool out.
QUIVER_REGISTER_KERNEL(KernelDef("LogicalAnd", kCpu),
                       (MakeFactory<BinaryOp<bool, bool, functor::LogicalAnd>>()));
QUIVER_REGISTER_KERNEL(KernelDef("LogicalOr", kCpu),
                       (MakeFactory<BinaryOp<bool, bool, functor::LogicalOr>>()));

}  // namespace
}  // namespace quiver
