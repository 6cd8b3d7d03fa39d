// Inference-time batch-norm folding (TF's Grappler "FoldBatchNorms" / ORT's ConvBNFusion):
// a linear producer P = Conv2D, DepthwiseConv2dNative or MatMul with a constant filter,
// optionally followed by a BiasAdd (or Add/AddV2) of a constant [C] bias, absorbs
//   - FusedBatchNorm/V2/V3 with is_training=false, NHWC, float, and constant scale, offset,
//     mean and variance: s = scale / sqrt(variance + epsilon), filter' = filter * s (per output
//     channel), bias' = (bias - mean) * s + offset; the batch norm becomes BiasAdd(P, bias')
//     under its own name (so fetches of its output 0 keep working);
//   - Mul by a constant per-channel ([C], [1,..,1,C]) or scalar factor (TF's frozen,
//     decomposed batch norm: x * (scale/sqrt(var+eps)) + (offset - mean * ...)):
//     filter' = filter * c, bias' = bias * c, and the Mul disappears;
//   - Add/AddV2 of a constant [C] after P + BiasAdd: bias' = bias + c, and the Add disappears.
// Afterwards the fusion pass sees P + BiasAdd (+ activation) and fuses it.
//
// Nothing folds when P or the bias add has another consumer, is fetched, fed or targeted, or
// has control edges; when the batch norm is training, NCHW or not float, its statistics
// outputs are used, or a parameter or the filter is not a constant; when the nodes are on
// different devices; or when the channel counts disagree. Each such candidate gets a note.
#pragma once

#include "passes/pass_manager.h"

namespace quiver {

class BatchNormFoldingPass : public GraphPass {
 public:
  std::string name() const override { return "batch_norm_folding"; }
  absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) override;
};

}  // namespace quiver
