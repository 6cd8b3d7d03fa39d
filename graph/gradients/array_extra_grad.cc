// Gradients of the ops of graph/ops/array_extra_ops.cc, as TF's array_grad.py / math_grad.py:
// ReverseV2, ReverseSequence, Cumsum, Cumprod, GatherNd, ScatterNd, MirrorPad, MirrorPadGrad.
// Where, Any and All carry none. (TopKV2 has no gradient here yet.)
#include <string>
#include <vector>

#include "graph/gradients.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using grad::Input;
using GradOutputs = std::vector<Output>;

// The attrs of `op` named in `names` (those it has), copied for a gradient node.
AttrMap CopyAttrs(const Node& op, const std::vector<std::string>& names) {
  AttrMap attrs;
  for (const std::string& name : names) {
    auto it = op.attrs().find(name);
    if (it != op.attrs().end()) attrs[name] = it->second;
  }
  return attrs;
}

// ReverseV2: the gradient reversed along the same axes.
absl::Status ReverseV2Grad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = b.Op("ReverseV2", {g[0], Input(b, op, 1)}, {}, "ReverseV2");
  return absl::OkStatus();
}

// ReverseSequence: its own inverse, so the gradient is reversed the same way.
absl::Status ReverseSequenceGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                 GradOutputs* gi) {
  (*gi)[0] = b.Op("ReverseSequence", {g[0], Input(b, op, 1)},
                  CopyAttrs(op, {"seq_dim", "batch_dim"}), "ReverseSequence");
  return absl::OkStatus();
}

// Cumsum (TF's _CumsumGrad): the cumulative sum of the gradient in the other direction.
absl::Status CumsumGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(bool exclusive, op.GetAttr<bool>("exclusive"));
  ASSIGN_OR_RETURN(bool reverse, op.GetAttr<bool>("reverse"));
  (*gi)[0] = b.Op("Cumsum", {g[0], Input(b, op, 1)},
                  {{"exclusive", MakeAttr(exclusive)}, {"reverse", MakeAttr(!reverse)}}, "Cumsum");
  return absl::OkStatus();
}

// Cumprod (TF's _CumprodGrad): cumsum(cumprod(x) * grad) in the other direction, divided by x
// (so, as in TF, undefined where x has zeros).
absl::Status CumprodGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(bool exclusive, op.GetAttr<bool>("exclusive"));
  ASSIGN_OR_RETURN(bool reverse, op.GetAttr<bool>("reverse"));
  Output x = Input(b, op, 0), axis = Input(b, op, 1);
  Output prod =
      b.Op("Cumprod", {x, axis},
           {{"exclusive", MakeAttr(exclusive)}, {"reverse", MakeAttr(reverse)}}, "Cumprod");
  Output sum =
      b.Op("Cumsum", {prod * g[0], axis},
           {{"exclusive", MakeAttr(exclusive)}, {"reverse", MakeAttr(!reverse)}}, "Cumsum");
  (*gi)[0] = sum / x;
  return absl::OkStatus();
}

// GatherNd (TF's _GatherNdGrad): the gradient scattered (summed) back into params' shape.
absl::Status GatherNdGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output params = Input(b, op, 0), indices = Input(b, op, 1);
  if (indices.dtype() != DT_INT32 && indices.dtype() != DT_INT64) {
    indices = Cast(indices, DT_INT32);
  }
  Output shape = b.Op("Shape", {params}, {{"out_type", MakeAttr(indices.dtype())}}, "Shape");
  (*gi)[0] = b.Op("ScatterNd", {indices, g[0], shape}, {}, "ScatterNd");
  return absl::OkStatus();
}

// ScatterNd (TF's _ScatterNdGrad): each update gets the gradient at the slice it was added to.
absl::Status ScatterNdGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[1] = b.Op("GatherNd", {g[0], Input(b, op, 0)}, {}, "GatherNd");
  return absl::OkStatus();
}

// MirrorPad <-> MirrorPadGrad: each is the other's gradient (TF's _MirrorPadGrad and
// _MirrorPadGradGrad).
absl::Status MirrorPadGradFn(GraphBuilder& b, const Node& op, const GradOutputs& g,
                             GradOutputs* gi) {
  (*gi)[0] =
      b.Op("MirrorPadGrad", {g[0], Input(b, op, 1)}, CopyAttrs(op, {"mode"}), "MirrorPadGrad");
  return absl::OkStatus();
}
absl::Status MirrorPadGradGradFn(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                 GradOutputs* gi) {
  (*gi)[0] = b.Op("MirrorPad", {g[0], Input(b, op, 1)}, CopyAttrs(op, {"mode"}), "MirrorPad");
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_GRADIENT("ReverseV2", ReverseV2Grad);
QUIVER_REGISTER_GRADIENT("ReverseSequence", ReverseSequenceGrad);
QUIVER_REGISTER_GRADIENT("Cumsum", CumsumGrad);
QUIVER_REGISTER_GRADIENT("Cumprod", CumprodGrad);
QUIVER_REGISTER_GRADIENT("GatherNd", GatherNdGrad);
QUIVER_REGISTER_GRADIENT("ScatterNd", ScatterNdGrad);
QUIVER_REGISTER_GRADIENT("MirrorPad", MirrorPadGradFn);
QUIVER_REGISTER_GRADIENT("MirrorPadGrad", MirrorPadGradGradFn);

QUIVER_NO_GRADIENT("Where");
QUIVER_NO_GRADIENT("Any");
QUIVER_NO_GRADIENT("All");

}  // namespace quiver
