// Gradients of the 3-D convolution and pools (TF's nn_grad.py _Conv3DGrad, _MaxPool3DGrad,
// _AvgPool3DGrad): Conv3D -> Conv3DBackpropInputV2 (input) and Conv3DBackpropFilterV2
// (filter), MaxPool3D -> MaxPool3DGrad, AvgPool3D -> AvgPool3DGrad, each with the forward
// node's window attrs.
#include <string>
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

// The forward node's attrs among `names` that the backward op `target` declares.
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

absl::Status Conv3DGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  const OpDef* input_def = FindOp("Conv3DBackpropInputV2");
  const OpDef* filter_def = FindOp("Conv3DBackpropFilterV2");
  if (input_def == nullptr) return MissingOp(op, "Conv3DBackpropInputV2");
  if (filter_def == nullptr) return MissingOp(op, "Conv3DBackpropFilterV2");
  const std::vector<std::string> names = {"strides", "padding", "data_format", "dilations"};
  Output input = Input(b, op, 0), filter = Input(b, op, 1);
  (*gi)[0] = b.Op("Conv3DBackpropInputV2", {grad::ShapeOf(b, input), filter, g[0]},
                  ForwardAttrs(op, *input_def, names), "Conv3DBackpropInputV2");
  (*gi)[1] = b.Op("Conv3DBackpropFilterV2", {input, grad::ShapeOf(b, filter), g[0]},
                  ForwardAttrs(op, *filter_def, names), "Conv3DBackpropFilterV2");
  return absl::OkStatus();
}

const std::vector<std::string>& PoolAttrNames() {
  static const auto* names =
      new std::vector<std::string>{"ksize", "strides", "padding", "data_format"};
  return *names;
}

absl::Status MaxPool3DGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  const OpDef* def = FindOp("MaxPool3DGrad");
  if (def == nullptr) return MissingOp(op, "MaxPool3DGrad");
  (*gi)[0] = b.Op("MaxPool3DGrad", {Input(b, op, 0), OutputOf(b, op, 0), g[0]},
                  ForwardAttrs(op, *def, PoolAttrNames()), "MaxPool3DGrad");
  return absl::OkStatus();
}

absl::Status AvgPool3DGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  const OpDef* def = FindOp("AvgPool3DGrad");
  if (def == nullptr) return MissingOp(op, "AvgPool3DGrad");
  (*gi)[0] = b.Op("AvgPool3DGrad", {grad::ShapeOf(b, Input(b, op, 0)), g[0]},
                  ForwardAttrs(op, *def, PoolAttrNames()), "AvgPool3DGrad");
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_GRADIENT("Conv3D", Conv3DGrad);
QUIVER_REGISTER_GRADIENT("MaxPool3D", MaxPool3DGrad);
QUIVER_REGISTER_GRADIENT("AvgPool3D", AvgPool3DGrad);

}  // namespace quiver
