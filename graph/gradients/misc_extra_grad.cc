// Gradients of the ops of graph/ops/misc_extra_ops.cc, as TF's array_grad.py / math_grad.py:
//
//   TensorScatterUpdate: d tensor = grad with the updated slices zeroed (a TensorScatterUpdate of
//     zeros), d updates = GatherNd(grad, indices).
//   TensorScatterAdd:    d tensor = grad, d updates = GatherNd(grad, indices).
//   SegmentSum:          d data = Gather(grad, segment_ids).
//   SegmentMean:         d data = Gather(grad / count, segment_ids), count the rows per segment
//                        (here SegmentSum(OnesLike(data)), broadcast to the output's shape).
// LinSpace and Unique have none in TF either (a gradient through them is an error).
#include <vector>

#include "graph/gradients.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using grad::Input;
using GradOutputs = std::vector<Output>;

absl::Status TensorScatterUpdateGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                     GradOutputs* gi) {
  Output indices = Input(b, op, 1);
  Output zeros = b.Op("ZerosLike", {Input(b, op, 2)}, {}, "ZerosLike");
  Output identity = b.Op("Identity", {g[0]}, {}, "Identity");
  (*gi)[0] = b.Op("TensorScatterUpdate", {identity, indices, zeros}, {}, "TensorScatterUpdate");
  (*gi)[2] = b.Op("GatherNd", {g[0], indices}, {}, "GatherNd");
  return absl::OkStatus();
}

absl::Status TensorScatterAddGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                  GradOutputs* gi) {
  (*gi)[0] = b.Op("Identity", {g[0]}, {}, "Identity");
  (*gi)[2] = b.Op("GatherNd", {g[0], Input(b, op, 1)}, {}, "GatherNd");
  return absl::OkStatus();
}

absl::Status SegmentSumGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                            GradOutputs* gi) {
  (*gi)[0] =
      b.Op("GatherV2", {g[0], Input(b, op, 1), grad::ScalarConst(b, 0, DT_INT32)}, {}, "GatherV2");
  return absl::OkStatus();
}

absl::Status SegmentMeanGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                             GradOutputs* gi) {
  Output ids = Input(b, op, 1);
  Output ones = b.Op("OnesLike", {Input(b, op, 0)}, {}, "OnesLike");
  Output counts = b.Op("SegmentSum", {ones, ids}, {}, "SegmentSum");
  Output scaled = g[0] / counts;
  (*gi)[0] = b.Op("GatherV2", {scaled, ids, grad::ScalarConst(b, 0, DT_INT32)}, {}, "GatherV2");
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_GRADIENT("TensorScatterUpdate", TensorScatterUpdateGrad);
QUIVER_REGISTER_GRADIENT("TensorScatterAdd", TensorScatterAddGrad);
QUIVER_REGISTER_GRADIENT("SegmentSum", SegmentSumGrad);
QUIVER_REGISTER_GRADIENT("SegmentMean", SegmentMeanGrad);

}  // namespace quiver
