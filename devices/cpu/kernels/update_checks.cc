#include "devices/cpu/kernels/update_checks.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace quiver {
namespace update_checks {

absl::StatusOr<std::vector<Variable*>> RefVariables(const OpKernelContext& ctx, int n) {
  const std::vector<ArgDef>& args = ctx.node().op_def().inputs;
  std::vector<Variable*> vars;
  for (int i = 0; i < n; ++i) {
    Variable* v = ctx.ref_input(i);
    if (v == nullptr) {
      return ctx.Error(
          absl::StrCat("input '", args[i].name, "' must be a reference to a variable"));
    }
    vars.push_back(v);
  }
  return vars;
}

absl::Status CheckVariables(const OpKernelContext& ctx, const std::vector<Variable*>& vars,
                            DataType dtype) {
  const std::vector<ArgDef>& args = ctx.node().op_def().inputs;
  for (size_t i = 0; i < vars.size(); ++i) {
    const Tensor& t = vars[i]->value;
    if (!t.valid()) {  // FailedPrecondition, as in TF; the message names node and variable
      return absl::FailedPreconditionError(
          ctx.Error(absl::StrCat("Attempting to use uninitialized value ",
                                 ctx.node().input(static_cast<int>(i)).node->name(), " (input '",
                                 args[i].name, "'); run its initializer first"))
              .message());
    }
    if (t.dtype() != dtype) {
      return ctx.Error(absl::StrCat("variable '", args[i].name, "' holds ", DataTypeName(t.dtype()),
                                    ", expected ", DataTypeName(dtype)));
    }
    if (i > 0 && t.shape() != vars[0]->value.shape()) {
      return ctx.Error(absl::StrCat("var and ", args[i].name, " do not have the same shape",
                                    vars[0]->value.shape().DebugString(), " ",
                                    t.shape().DebugString()));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOperands(const OpKernelContext& ctx, const TensorShape& var_shape, int first,
                           int grad) {
  const std::vector<ArgDef>& args = ctx.node().op_def().inputs;
  for (int i = first; i < ctx.num_inputs(); ++i) {
    const Tensor& t = ctx.input(i);
    if (i == grad) {
      if (t.shape() != var_shape) {
        return ctx.Error(absl::StrCat("var and ", args[i].name, " do not have the same shape",
                                      var_shape.DebugString(), " ", t.shape().DebugString()));
      }
    } else if (t.rank() != 0) {
      return ctx.Error(absl::StrCat(args[i].name, " is not a scalar: ", t.shape().DebugString()));
    }
  }
  return absl::OkStatus();
}

}  // namespace update_checks
}  // namespace quiver
