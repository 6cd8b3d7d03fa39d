// CPU kernels for Maximum, Minimum, Pow, SquaredDifference, FloorDiv, FloorMod and Atan2.
#include "devices/cpu/kernels/cwise_ops_common.h"

namespace quiver {
namespace {

using cwise::BinaryFactory;
using cwise::IntDivCheck;
using cwise::IntPowCheck;
using cwise::NoCheck;

#define QUIVER_BINARY(op, T, ...)                                                         \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         (BinaryFactory<T, __VA_ARGS__>()))

#define QUIVER_BINARY_NUMERIC(op, ...)     \
  QUIVER_BINARY(op, float, __VA_ARGS__);   \
  QUIVER_BINARY(op, double, __VA_ARGS__);  \
  QUIVER_BINARY(op, int32_t, __VA_ARGS__); \
  QUIVER_BINARY(op, int64_t, __VA_ARGS__)

QUIVER_BINARY_NUMERIC("Maximum", functor::Maximum);
QUIVER_BINARY_NUMERIC("Minimum", functor::Minimum);
QUIVER_BINARY_NUMERIC("SquaredDifference", functor::SquaredDifference);
QUIVER_BINARY_NUMERIC("FloorDiv", functor::FloorDiv, IntDivCheck);
QUIVER_BINARY_NUMERIC("FloorMod", functor::FloorMod, IntDivCheck);
// Float pow calls libm per element: give it a higher cost so it parallelises earlier.
QUIVER_BINARY("Pow", float, functor::Pow, NoCheck, 8);
QUIVER_BINARY("Pow", double, functor::Pow, NoCheck, 8);
QUIVER_BINARY("Pow", int32_t, functor::Pow, IntPowCheck);
QUIVER_BINARY("Pow", int64_t, functor::Pow, IntPowCheck);
QUIVER_BINARY("Atan2", float, functor::Atan2, NoCheck, 8);
QUIVER_BINARY("Atan2", double, functor::Atan2, NoCheck, 8);

}  // namespace
}  // namespace quiver
