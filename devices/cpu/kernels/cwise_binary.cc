// CPU kernels for the arithmetic binary ops (Add, AddV2, Sub, Mul, RealDiv, Div) and AddN.
// Maximum/Minimum/Pow/SquaredDifference/FloorDiv/FloorMod are in cwise_binary_misc.cc.
#include <vector>

#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/kernels/cwise_ops_common.h"

namespace quiver {
namespace {

using cwise::BinaryFactory;
using cwise::IntDivCheck;

#define QUIVER_BINARY(op, T, ...)                                                         \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         (BinaryFactory<T, __VA_ARGS__>()))

#define QUIVER_BINARY_NUMERIC(op, F) \
  QUIVER_BINARY(op, float, F);       \
  QUIVER_BINARY(op, double, F);      \
  QUIVER_BINARY(op, int32_t, F);     \
  QUIVER_BINARY(op, int64_t, F)

QUIVER_BINARY_NUMERIC("Add", functor::Add);
QUIVER_BINARY_NUMERIC("AddV2", functor::Add);
QUIVER_BINARY_NUMERIC("Sub", functor::Sub);
QUIVER_BINARY_NUMERIC("Mul", functor::Mul);

QUIVER_BINARY("RealDiv", float, functor::RealDiv);
QUIVER_BINARY("RealDiv", double, functor::RealDiv);
// Div is true division on floats and truncating division on integers (TF's Div kernel;
// Python's tf.div maps integer division to FloorDiv instead).
QUIVER_BINARY("Div", float, functor::RealDiv);
QUIVER_BINARY("Div", double, functor::RealDiv);
QUIVER_BINARY("Div", int32_t, functor::TruncDiv, IntDivCheck);
QUIVER_BINARY("Div", int64_t, functor::TruncDiv, IntDivCheck);

// AddN: the element-wise sum of N same-shape tensors. Works on cache-sized blocks so that the
// partial sums stay in L1 while every input is streamed once.
template <typename T>
class AddNOp : public OpKernel {
 public:
  explicit AddNOp(OpKernelConstruction&) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    RETURN_IF_ERROR(array_kernels::CheckAddNShapes(ctx));  // every device's check and message
    const TensorShape& shape = ctx.input(0).shape();
    std::vector<const T*> in(n);
    for (int i = 0; i < n; ++i) {
      RETURN_IF_ERROR(cwise::CheckDtype(ctx, i, DataTypeOf<T>::value));
      in[i] = ctx.input(i).data<T>();
    }
    if (n == 1) {  // nothing to add: alias the input
      ctx.set_output(0, ctx.input(0));
      return absl::OkStatus();
    }
    const int64_t size = ctx.input(0).num_elements();
    ASSIGN_OR_RETURN(Tensor * out_t, ctx.forward_input_or_allocate_output(0, 0, shape));
    T* out = out_t->data<T>();
    constexpr int64_t kBlock = 2048;
    const int64_t blocks = (size + kBlock - 1) / kBlock;
    cwise::ParallelForRange(ctx, blocks, kBlock * (n - 1), [&](int64_t b0, int64_t b1) {
      const int64_t begin = b0 * kBlock;
      const int64_t end = b1 * kBlock < size ? b1 * kBlock : size;
      const int64_t len = end - begin;
      functor::Add<T> add;
      cwise::LoopVV(in[0] + begin, in[1] + begin, out + begin, len, add);
      for (int i = 2; i < n; ++i) cwise::LoopVV(out + begin, in[i] + begin, out + begin, len, add);
    });
    return absl::OkStatus();
  }
};

#define QUIVER_ADDN(T)                                                                        \
  QUIVER_REGISTER_KERNEL(KernelDef("AddN", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         MakeFactory<AddNOp<T>>())
QUIVER_ADDN(float);
QUIVER_ADDN(double);
QUIVER_ADDN(int32_t);
QUIVER_ADDN(int64_t);

}  // namespace
}  // namespace quiver
