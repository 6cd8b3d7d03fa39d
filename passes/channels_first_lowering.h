// Channels-first lowering: rewrites the convolutions and pools a GraphDef declares with
// data_format "NCHW" into their NHWC form wrapped in Transposes, because Quiver's kernels (CPU
// oneDNN and GPU alike) only run NHWC. It is mandatory, not an optimization: BuildStepGraph
// (runtime/step_graph.cc) runs it on every step graph before the optimizer, at every optimizer
// level, and `quiver optimize` runs it before the pipeline. It is not part of
// PassManager::Default, so it cannot be disabled.
//
// Ops and their inputs (D: a 4-D data tensor, transposed NCHW -> NHWC with perm [0,2,3,1];
// S: a 4-element int32 shape/window vector in NCHW order, permuted to NHWC order; K: kept):
//   Conv2D(D input, K filter)                    DepthwiseConv2dNative(D input, K filter)
//   Conv2DBackpropInput(S input_sizes, K filter, D out_backprop)   (a 2-element [H, W]
//       input_sizes is the same in both formats and is kept)
//   Conv2DBackpropFilter(D input, K filter_sizes, D out_backprop)  (filters are HWIO in both)
//   DepthwiseConv2dNativeBackpropInput(S, K, D) / ...BackpropFilter(D, K, D)
//   MaxPool(D)  AvgPool(D)  MaxPoolV2(D, S ksize, S strides)
//   MaxPoolGrad(D orig_input, D orig_output, D grad)  AvgPoolGrad(S orig_input_shape, D grad)
// (ops missing from the registry cannot be in a graph; their rules are kept for when they come.)
//
// Followers run in either layout, so they are never required to change: BiasAdd(D, K) and
// BiasAddGrad(D) (output K) in NCHW, the element-wise activations Relu, Relu6, Elu, Selu,
// LeakyRelu, Tanh, Sigmoid, Softplus and the gradients ReluGrad, Relu6Grad, EluGrad,
// LeakyReluGrad, TanhGrad, SigmoidGrad (all inputs D). A follower is rewritten by the same rules
// only when every one of its D inputs comes from an output Transpose made here (see below), so
// that conv -> bias -> relu -> pool keeps the NHWC layout (and the NHWC Conv2D + BiasAdd + Relu
// can be fused) instead of paying a transpose pair around each follower.
//
// For a node N with data_format "NCHW":
//   - attrs strides, ksize, dilations ([n,c,h,w] -> [n,h,w,c]) and explicit_paddings (the
//     same on its before/after pairs) are permuted and data_format becomes "NHWC";
//   - the NHWC op is named N/nhwc; a Transpose (perm [0,3,1,2]) of its output takes the name N,
//     so a fetch, feed or target "N:0" keeps its meaning and every consumer reads it. The
//     *BackpropFilter ops output a filter (HWIO in both formats): their NHWC op keeps the name
//     N and its output is not transposed;
//   - a D input read from such an output Transpose made by this lowering reads the NHWC tensor
//     under it instead (unless N is fed), so chains of NCHW ops pay one transpose at each end;
//     an output Transpose left without consumers, neither fetched nor targeted, is removed.
//     Other D inputs get a Transpose "N/<arg>_nhwc" (shared by consumers without control
//     inputs that read the same tensor on the same device);
//   - an S input that is an unfed Const becomes a new permuted Const; otherwise a GatherV2 with
//     indices [0,2,3,1] permutes it at run time (its length must be known: 4, or 2 where the
//     op allows [H, W]);
//   - N's control inputs go to every node that reads one of N's inputs and to the NHWC op; N's
//     control outputs leave the output Transpose;
//   - data Transposes and the NHWC op get N's requested and assigned device and its "_" attrs
//     (colocation; not "_output_shapes", which would be stale); the int32 permutation Consts and
//     GatherV2s get no device, so the placer keeps these shape computations on the host, where the
//     kernels read them (HostMemory).
// data_format "NHWC" (or absent) is left alone; MaxPool's "NCHW_VECT_C" is left to the kernel,
// which rejects it by name. A known rank other than 4 on a D input, an S input of another
// length, or a malformed attr list is an InvalidArgument error naming the node.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "passes/pass_manager.h"

namespace quiver {

// True for the ops whose NCHW form must be lowered (whatever their data_format); false for
// followers, which also run in NCHW.
bool IsChannelsFirstLowerableOp(const std::string& op);

// Lowers every NCHW node of `graph` as described above. Shapes of the new nodes are inferred.
// PassStats::changes has one line per lowered node.
absl::StatusOr<PassStats> LowerChannelsFirst(Graph* graph, const PassContext& ctx);

// The same, as a GraphPass (name "channels_first_lowering"), for tests and tools that run
// passes; BuildStepGraph calls LowerChannelsFirst directly.
class ChannelsFirstLoweringPass : public GraphPass {
 public:
  std::string name() const override { return "channels_first_lowering"; }
  absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) override {
    return LowerChannelsFirst(graph, ctx);
  }
};

}  // namespace quiver
