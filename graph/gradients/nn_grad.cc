// Gradients of the neural-network ops (TF's nn_grad.py): activations, softmax, bias, the
// cross-entropy losses, convolution, pooling and fused batch normalization. Where TF has a
// dedicated backward op (ReluGrad, BiasAddGrad, Conv2DBackpropInput, MaxPoolGrad,
// FusedBatchNormGrad, ...) it is used when registered; activations and BiasAdd fall back to
// primitive ops otherwise.
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/gradients.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using grad::Input;
using grad::OutputOf;
using GradOutputs = std::vector<Output>;

const OpDef* FindOp(const char* op) { return OpRegistry::Global().Find(op); }

// The forward node's attrs among `names` that the backward op `target` declares (so a backward
// op registered without, say, explicit_paddings still gets a valid node).
AttrMap ForwardAttrs(const Node& op, const OpDef& target, const std::vector<std::string>& names) {
  AttrMap attrs;
  for (const std::string& name : names) {
    auto it = op.attrs().find(name);
    if (it != op.attrs().end() && target.FindAttr(name) != nullptr) attrs[name] = it->second;
  }
  return attrs;
}

absl::Status MissingOp(const Node& op, const char* needed) {
  return absl::UnimplementedError(absl::StrCat("the gradient of node '", op.name(), "' (", op.op(),
                                               ") needs op '", needed,
                                               "', which is not registered"));
}

Output Mask(GraphBuilder& b, const Output& cond, DataType t) {
  return b.Op("Cast", {cond}, {{"SrcT", MakeAttr(DT_BOOL)}, {"DstT", MakeAttr(t)}}, "Cast");
}

Output Zero(GraphBuilder& b, const Output& like) { return grad::ScalarConst(b, 0, like.dtype()); }

// ---- activations -------------------------------------------------------------------------

absl::Status ReluGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  // Masked by the output, as TF does: relu(x) > 0 exactly where x > 0, and reading y instead
  // of x leaves the pre-activation with one consumer, so conv/matmul + bias + relu can fuse.
  Output y = OutputOf(b, op, 0);
  if (FindOp("ReluGrad") != nullptr) {
    (*gi)[0] = b.Op("ReluGrad", {g[0], y}, {}, "ReluGrad");
  } else {
    (*gi)[0] = g[0] * Mask(b, Greater(y, Zero(b, y)), y.dtype());
  }
  return absl::OkStatus();
}

absl::Status Relu6Grad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0);
  if (FindOp("Relu6Grad") != nullptr) {
    (*gi)[0] = b.Op("Relu6Grad", {g[0], x}, {}, "Relu6Grad");
  } else {
    Output inside =
        b.Op("LogicalAnd", {Greater(x, Zero(b, x)), Less(x, grad::ScalarConst(b, 6, x.dtype()))},
             {}, "LogicalAnd");
    (*gi)[0] = g[0] * Mask(b, inside, x.dtype());
  }
  return absl::OkStatus();
}

// y = x for x > 0, exp(x) - 1 otherwise: dy/dx = 1 or y + 1.
absl::Status EluGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0), y = OutputOf(b, op, 0);
  if (FindOp("EluGrad") != nullptr) {
    (*gi)[0] = b.Op("EluGrad", {g[0], y}, {}, "EluGrad");
  } else {
    Output positive = Mask(b, Greater(x, Zero(b, x)), x.dtype());
    (*gi)[0] = g[0] * (positive + (1.0 - positive) * (y + 1.0));
  }
  return absl::OkStatus();
}

// SELU: SeluGrad(g, y) = g * (y < 0 ? y + scale * alpha : scale).
absl::Status SeluGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output y = OutputOf(b, op, 0);
  if (FindOp("SeluGrad") == nullptr) return MissingOp(op, "SeluGrad");
  (*gi)[0] = b.Op("SeluGrad", {g[0], y}, {}, "SeluGrad");
  return absl::OkStatus();
}

// LeakyRelu: LeakyReluGrad(g, x) with the forward node's alpha.
absl::Status LeakyReluGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0);
  const OpDef* def = FindOp("LeakyReluGrad");
  if (def == nullptr) return MissingOp(op, "LeakyReluGrad");
  (*gi)[0] = b.Op("LeakyReluGrad", {g[0], x}, ForwardAttrs(op, *def, {"alpha"}), "LeakyReluGrad");
  return absl::OkStatus();
}

// Softplus: SoftplusGrad(g, x) = g * sigmoid(x).
absl::Status SoftplusGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0);
  if (FindOp("SoftplusGrad") != nullptr) {
    (*gi)[0] = b.Op("SoftplusGrad", {g[0], x}, {}, "SoftplusGrad");
  } else {
    (*gi)[0] = g[0] * Sigmoid(x);
  }
  return absl::OkStatus();
}

// Softsign: SoftsignGrad(g, x) = g / (1 + |x|)^2.
absl::Status SoftsignGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0);
  if (FindOp("SoftsignGrad") == nullptr) return MissingOp(op, "SoftsignGrad");
  (*gi)[0] = b.Op("SoftsignGrad", {g[0], x}, {}, "SoftsignGrad");
  return absl::OkStatus();
}

// L2Loss(t) = sum(t^2) / 2: dt = g * t (g is a scalar).
absl::Status L2LossGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = Input(b, op, 0) * g[0];
  return absl::OkStatus();
}

// ---- softmax and losses ------------------------------------------------------------------

// dx = (g - sum(g * y, -1)) * y
Output SoftmaxBackward(GraphBuilder& b, const Output& g, const Output& softmax) {
  Output inner = ReduceSum(g * softmax, {-1}, /*keep_dims=*/true);
  return (g - inner) * softmax;
}

absl::Status SoftmaxGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = SoftmaxBackward(b, g[0], OutputOf(b, op, 0));
  return absl::OkStatus();
}

// dx = g - sum(g, -1) * exp(y)
absl::Status LogSoftmaxGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                            GradOutputs* gi) {
  Output y = OutputOf(b, op, 0);
  (*gi)[0] = g[0] - ReduceSum(g[0], {-1}, /*keep_dims=*/true) * Exp(y);
  return absl::OkStatus();
}

// (Sparse)SoftmaxCrossEntropyWithLogits: output 0 is the per-example loss, output 1 its
// gradient w.r.t. the logits (softmax - labels). The logits get g_loss[:, None] * backprop,
// plus the softmax Jacobian applied to any gradient flowing into the backprop output.
absl::Status CrossEntropyGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                              GradOutputs* gi, bool sparse) {
  Output logits = Input(b, op, 0);
  std::vector<Output> logit_grads;
  Output g_loss;
  if (g[0].valid()) {
    g_loss = ExpandDims(g[0], -1);
    logit_grads.push_back(g_loss * OutputOf(b, op, 1));
  }
  if (g[1].valid()) logit_grads.push_back(SoftmaxBackward(b, g[1], Softmax(logits)));
  (*gi)[0] = grad::SumGradients(b, logit_grads);
  if (!sparse) {
    // loss = -sum(labels * log_softmax(logits)); backprop = softmax - labels.
    std::vector<Output> label_grads;
    if (g_loss.valid()) label_grads.push_back(g_loss * Neg(LogSoftmax(logits)));
    if (g[1].valid()) label_grads.push_back(Neg(g[1]));
    (*gi)[1] = grad::SumGradients(b, label_grads);
  }
  return absl::OkStatus();
}

absl::Status SoftmaxCrossEntropyGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                     GradOutputs* gi) {
  return CrossEntropyGrad(b, op, g, gi, /*sparse=*/false);
}

absl::Status SparseSoftmaxCrossEntropyGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                           GradOutputs* gi) {
  return CrossEntropyGrad(b, op, g, gi, /*sparse=*/true);
}

// ---- bias, convolution, pooling ------------------------------------------------------------

absl::Status BiasAddGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = g[0];
  if (const OpDef* def = FindOp("BiasAddGrad")) {
    (*gi)[1] = b.Op("BiasAddGrad", {g[0]}, ForwardAttrs(op, *def, {"data_format"}), "BiasAddGrad");
    return absl::OkStatus();
  }
  const TensorShape& shape = Input(b, op, 0).shape();
  if (shape.unknown_rank()) return grad::Error(op, "the bias gradient needs the value's rank");
  auto format = op.GetAttr<std::string>("data_format");
  const int channel = format.ok() && *format == "NCHW" ? 1 : shape.rank() - 1;
  std::vector<int64_t> axes;
  for (int d = 0; d < shape.rank(); ++d) {
    if (d != channel) axes.push_back(d);
  }
  (*gi)[1] = ReduceSum(g[0], axes);
  return absl::OkStatus();
}

absl::Status Conv2DGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  const OpDef* input_def = FindOp("Conv2DBackpropInput");
  const OpDef* filter_def = FindOp("Conv2DBackpropFilter");
  if (input_def == nullptr) return MissingOp(op, "Conv2DBackpropInput");
  if (filter_def == nullptr) return MissingOp(op, "Conv2DBackpropFilter");
  const std::vector<std::string> names = {"strides",     "padding",   "explicit_paddings",
                                          "data_format", "dilations", "use_cudnn_on_gpu"};
  Output input = Input(b, op, 0), filter = Input(b, op, 1);
  (*gi)[0] = b.Op("Conv2DBackpropInput", {grad::ShapeOf(b, input), filter, g[0]},
                  ForwardAttrs(op, *input_def, names), "Conv2DBackpropInput");
  (*gi)[1] = b.Op("Conv2DBackpropFilter", {input, grad::ShapeOf(b, filter), g[0]},
                  ForwardAttrs(op, *filter_def, names), "Conv2DBackpropFilter");
  return absl::OkStatus();
}

absl::Status MaxPoolGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  const OpDef* def = FindOp("MaxPoolGrad");
  if (def == nullptr) return MissingOp(op, "MaxPoolGrad");
  (*gi)[0] = b.Op(
      "MaxPoolGrad", {Input(b, op, 0), OutputOf(b, op, 0), g[0]},
      ForwardAttrs(op, *def, {"ksize", "strides", "padding", "explicit_paddings", "data_format"}),
      "MaxPoolGrad");
  return absl::OkStatus();
}

absl::Status AvgPoolGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  const OpDef* def = FindOp("AvgPoolGrad");
  if (def == nullptr) return MissingOp(op, "AvgPoolGrad");
  (*gi)[0] =
      b.Op("AvgPoolGrad", {grad::ShapeOf(b, Input(b, op, 0)), g[0]},
           ForwardAttrs(op, *def, {"ksize", "strides", "padding", "data_format"}), "AvgPoolGrad");
  return absl::OkStatus();
}

// TF's _BaseFusedBatchNormGrad: FusedBatchNorm -> FusedBatchNormGrad, V2 -> GradV2, V3 ->
// GradV3. Training reads the forward op's saved statistics (outputs 3 and 4, and V3's 5);
// inference the population mean and variance it was given (inputs 3 and 4). TF transposes
// NCHW to NHWC for inference only because its CPU kernel lacks NCHW there; Quiver's kernels
// take either layout. No gradient flows to the mean and variance inputs, nor from the
// statistics outputs.
absl::Status FusedBatchNormGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                GradOutputs* gi) {
  if (!g[0].valid()) return absl::OkStatus();  // only the statistics are used downstream
  const std::string grad_op = op.op() == "FusedBatchNorm"     ? "FusedBatchNormGrad"
                              : op.op() == "FusedBatchNormV2" ? "FusedBatchNormGradV2"
                                                              : "FusedBatchNormGradV3";
  const OpDef* def = FindOp(grad_op.c_str());
  if (def == nullptr) return MissingOp(op, grad_op.c_str());
  ASSIGN_OR_RETURN(bool is_training, op.GetAttr<bool>("is_training"));
  std::vector<Output> inputs = {g[0], Input(b, op, 0), Input(b, op, 1)};
  if (is_training) {
    inputs.push_back(OutputOf(b, op, 3));
    inputs.push_back(OutputOf(b, op, 4));
  } else {
    inputs.push_back(Input(b, op, 3));
    inputs.push_back(Input(b, op, 4));
  }
  if (grad_op == "FusedBatchNormGradV3") inputs.push_back(OutputOf(b, op, 5));
  Output dx =
      b.Op(grad_op, inputs,
           ForwardAttrs(op, *def, {"T", "U", "epsilon", "data_format", "is_training"}), grad_op);
  if (!dx.valid()) return b.status();
  (*gi)[0] = dx;
  (*gi)[1] = Output(&b, dx.node(), 1);
  (*gi)[2] = Output(&b, dx.node(), 2);
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_GRADIENT("Relu", ReluGrad);
QUIVER_REGISTER_GRADIENT("Relu6", Relu6Grad);
QUIVER_REGISTER_GRADIENT("Elu", EluGrad);
QUIVER_REGISTER_GRADIENT("Selu", SeluGrad);
QUIVER_REGISTER_GRADIENT("LeakyRelu", LeakyReluGrad);
QUIVER_REGISTER_GRADIENT("Softplus", SoftplusGrad);
QUIVER_REGISTER_GRADIENT("Softsign", SoftsignGrad);
QUIVER_REGISTER_GRADIENT("L2Loss", L2LossGrad);
QUIVER_REGISTER_GRADIENT("Softmax", SoftmaxGrad);
QUIVER_REGISTER_GRADIENT("LogSoftmax", LogSoftmaxGrad);
QUIVER_REGISTER_GRADIENT("SoftmaxCrossEntropyWithLogits", SoftmaxCrossEntropyGrad);
QUIVER_REGISTER_GRADIENT("SparseSoftmaxCrossEntropyWithLogits", SparseSoftmaxCrossEntropyGrad);
QUIVER_REGISTER_GRADIENT("BiasAdd", BiasAddGrad);
QUIVER_REGISTER_GRADIENT("Conv2D", Conv2DGrad);
QUIVER_REGISTER_GRADIENT("MaxPool", MaxPoolGrad);
QUIVER_REGISTER_GRADIENT("AvgPool", AvgPoolGrad);
QUIVER_REGISTER_GRADIENT("FusedBatchNorm", FusedBatchNormGrad);
QUIVER_REGISTER_GRADIENT("FusedBatchNormV2", FusedBatchNormGrad);
QUIVER_REGISTER_GRADIENT("FusedBatchNormV3", FusedBatchNormGrad);

}  // namespace quiver
