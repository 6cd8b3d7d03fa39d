// TF1 optimizers: `GradientDescentOptimizer(0.5).Minimize(b, loss)` adds the gradient nodes
// and the fused in-place update ops (ApplyGradientDescent / ApplyMomentum / ApplyAdam) and
// returns the train op, exactly as tf.compat.v1.train.*Optimizer.minimize does.
//
// Slot variables (momentum accumulators, Adam's m and v, beta powers) are non-trainable
// variables registered with the builder, so GlobalVariablesInitializer() covers them: call it
// after Minimize.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/builder.h"

namespace quiver {

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Adds d(loss)/d(var) for `vars` (default: all trainable variables) and the update ops;
  // returns the train op (a NoOp named `name` that runs every update).
  absl::StatusOr<Node*> Minimize(GraphBuilder& b, Output loss,
                                 std::vector<VariableHandle> vars = {},
                                 const std::string& name = "");

 protected:
  explicit Optimizer(std::string name) : name_(std::move(name)) {}
  // Adds the update of one variable given its gradient; returns the update node.
  virtual absl::StatusOr<Node*> ApplyDense(GraphBuilder& b, const VariableHandle& var,
                                           Output grad) = 0;
  // Runs once after all updates are created (Adam advances its beta powers here).
  virtual absl::StatusOr<Node*> Finish(GraphBuilder& b, const std::vector<Node*>& updates,
                                       const std::string& name);
  // A scalar constant of the variable's dtype.
  static Output ScalarFor(GraphBuilder& b, const VariableHandle& var, double value,
                          const std::string& name);
  // A zero-initialised non-trainable variable shaped like `var` ("<var>/<slot>").
  static VariableHandle Slot(GraphBuilder& b, const VariableHandle& var, const std::string& slot);

  std::string name_;
};

class GradientDescentOptimizer : public Optimizer {
 public:
  explicit GradientDescentOptimizer(double learning_rate)
      : Optimizer("GradientDescent"), learning_rate_(learning_rate) {}

 protected:
  absl::StatusOr<Node*> ApplyDense(GraphBuilder& b, const VariableHandle& var, Output grad) override;

 private:
  double learning_rate_;
};

class MomentumOptimizer : public Optimizer {
 public:
  MomentumOptimizer(double learning_rate, double momentum, bool use_nesterov = false)
      : Optimizer("Momentum"), learning_rate_(learning_rate), momentum_(momentum),
        use_nesterov_(use_nesterov) {}

 protected:
  absl::StatusOr<Node*> ApplyDense(GraphBuilder& b, const VariableHandle& var, Output grad) override;

 private:
  double learning_rate_, momentum_;
  bool use_nesterov_;
};

class AdamOptimizer : public Optimizer {
 public:
  explicit AdamOptimizer(double learning_rate = 0.001, double beta1 = 0.9, double beta2 = 0.999,
                         double epsilon = 1e-8)
      : Optimizer("Adam"), learning_rate_(learning_rate), beta1_(beta1), beta2_(beta2),
        epsilon_(epsilon) {}

 protected:
  absl::StatusOr<Node*> ApplyDense(GraphBuilder& b, const VariableHandle& var, Output grad) override;
  absl::StatusOr<Node*> Finish(GraphBuilder& b, const std::vector<Node*>& updates,
                               const std::string& name) override;

 private:
  double learning_rate_, beta1_, beta2_, epsilon_;
  VariableHandle beta1_power_, beta2_power_;
};

}  // namespace quiver
