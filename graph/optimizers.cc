#include "graph/optimizers.h"

#include "absl/strings/str_cat.h"
#include "graph/gradients.h"

namespace quiver {

Output Optimizer::ScalarFor(GraphBuilder& b, const VariableHandle& var, double value,
                            const std::string& name) {
  return b.Scalar(value, var.ref.dtype(), name);
}

VariableHandle Optimizer::Slot(GraphBuilder& b, const VariableHandle& var, const std::string& slot) {
  auto colocate = b.device(var.ref.node()->requested_device());
  return b.Variable(b.Zeros(var.ref.shape(), var.ref.dtype()), absl::StrCat(var.name(), "/", slot),
                    /*trainable=*/false);
}

absl::StatusOr<Node*> Optimizer::Minimize(GraphBuilder& b, Output loss,
                                          std::vector<VariableHandle> vars,
                                          const std::string& name) {
  if (!b.status().ok()) return b.status();
  if (vars.empty()) vars = b.trainable_variables();
  if (vars.empty()) return absl::InvalidArgumentError("Minimize: no trainable variables");
  std::vector<Output> xs;
  for (const VariableHandle& v : vars) xs.push_back(v.ref);
  auto grads = AddSymbolicGradients(b, {loss}, xs);
  if (!grads.ok()) return grads.status();
  std::vector<Node*> updates;
  for (size_t i = 0; i < vars.size(); ++i) {
    if (!(*grads)[i].valid()) continue;  // loss does not depend on this variable
    auto scope = b.name_scope(absl::StrCat(name_, "/update_", vars[i].name()));
    auto device = b.device(vars[i].ref.node()->requested_device());
    auto update = ApplyDense(b, vars[i], (*grads)[i]);
    if (!update.ok()) return update.status();
    updates.push_back(*update);
  }
  if (updates.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Minimize: loss '", loss.name(), "' depends on none of the variables"));
  }
  auto train = Finish(b, updates, name.empty() ? name_ : name);
  if (!b.status().ok()) return b.status();
  return train;
}

absl::StatusOr<Node*> Optimizer::Finish(GraphBuilder& b, const std::vector<Node*>& updates,
                                        const std::string& name) {
  Node* n = Group(b, updates, name);
  if (n == nullptr) return b.status();
  return n;
}

absl::StatusOr<Node*> GradientDescentOptimizer::ApplyDense(GraphBuilder& b,
                                                          const VariableHandle& var, Output grad) {
  Node* n = b.OpNode("ApplyGradientDescent",
                     {var.ref, ScalarFor(b, var, learning_rate_, "learning_rate"), grad}, {},
                     "ApplyGradientDescent");
  if (n == nullptr) return b.status();
  return n;
}

absl::StatusOr<Node*> MomentumOptimizer::ApplyDense(GraphBuilder& b, const VariableHandle& var,
                                                   Output grad) {
  VariableHandle accum = Slot(b, var, "Momentum");
  Node* n = b.OpNode("ApplyMomentum",
                     {var.ref, accum.ref, ScalarFor(b, var, learning_rate_, "learning_rate"), grad,
                      ScalarFor(b, var, momentum_, "momentum")},
                     {{"use_nesterov", MakeAttr(use_nesterov_)}}, "ApplyMomentum");
  if (n == nullptr) return b.status();
  return n;
}

absl::StatusOr<Node*> AdamOptimizer::ApplyDense(GraphBuilder& b, const VariableHandle& var,
                                               Output grad) {
  if (!beta1_power_.ref.valid()) {
    // One pair of beta powers per optimizer, like TF (created with the first variable).
    auto root = b.name_scope("");
    beta1_power_ = b.Variable(b.Scalar(beta1_, var.ref.dtype()), "beta1_power", false);
    beta2_power_ = b.Variable(b.Scalar(beta2_, var.ref.dtype()), "beta2_power", false);
  }
  VariableHandle m = Slot(b, var, "Adam");
  VariableHandle v = Slot(b, var, "Adam_1");
  Node* n = b.OpNode("ApplyAdam",
                     {var.ref, m.ref, v.ref, beta1_power_.value, beta2_power_.value,
                      ScalarFor(b, var, learning_rate_, "learning_rate"),
                      ScalarFor(b, var, beta1_, "beta1"), ScalarFor(b, var, beta2_, "beta2"),
                      ScalarFor(b, var, epsilon_, "epsilon"), grad},
                     {}, "ApplyAdam");
  if (n == nullptr) return b.status();
  return n;
}

absl::StatusOr<Node*> AdamOptimizer::Finish(GraphBuilder& b, const std::vector<Node*>& updates,
                                            const std::string& name) {
  // Advance the bias-correction powers after every update has read them.
  auto deps = b.control_dependencies(updates);
  auto device = b.device(beta1_power_.ref.node()->requested_device());
  Output b1 = Assign(beta1_power_.ref, beta1_power_.value * beta1_, "update_beta1_power");
  Output b2 = Assign(beta2_power_.ref, beta2_power_.value * beta2_, "update_beta2_power");
  if (!b.status().ok()) return b.status();
  std::vector<Node*> all = updates;
  all.push_back(b1.node());
  all.push_back(b2.node());
  Node* n = Group(b, all, name);
  if (n == nullptr) return b.status();
  return n;
}

}  // namespace quiver
