// Functionalizes TF1 while loops (control flow v1), as TF's functionalize_while does for XLA:
// every tf.while_loop written as Enter/Merge/Switch/LoopCond/NextIteration/Exit nodes of one
// frame becomes a single "_While" node (graph/while_loop.h) whose cond and body are GraphDefs.
//
// For each outermost frame F:
//   - loop variables are its Merges (sorted by name), each fed by a non-constant Enter and a
//     NextIteration; F's constant Enters (loop invariants, sorted by name) follow as extra
//     loop variables that the body passes through unchanged;
//   - cond_graph holds Placeholders "arg_k" for the Merge outputs (and invariant Enters), the
//     nodes the LoopCond's input depends on (same names), and ret_0 = Identity(<cond>);
//   - body_graph holds Placeholders "arg_k" for Switch_k:1 (also Merge_k and invariant
//     Enters), the nodes each NextIteration's input depends on, every other node of the frame
//     (side effects, kept alive by control inputs of ret_0), and ret_k = the next values;
//   - the frame's nodes leave the graph; the "_While" node (named after F, without its
//     "/while_context" suffix, made unique) reads the Enters' inputs and control inputs, and
//     each Exit becomes an Identity of the matching "_While" output under the Exit's own name,
//     so consumers and fetches keep working.
// Nested loops stay, still in v1 form, inside the outer loop's body graph: the kernel imports
// that graph with ImportGraphDef, which functionalizes them in turn.
//
// Refused with InvalidArgument naming the frame and node: a frame without exactly one
// LoopCond, a loop Merge that is not (Enter, NextIteration), NextIteration and Merge counts
// that differ, a body reading Switch:0 other than through an Exit, a node reading a tensor of
// another frame not through an Enter, ref-typed or DT_RESOURCE loop variables.
#pragma once

#include "absl/status/status.h"
#include "proto/graph.pb.h"

namespace quiver {

// True when the GraphDef has TF1 control-flow-v1 loop ops (Enter/Exit/NextIteration/LoopCond).
bool HasV1Loops(const tensorflow::GraphDef& graph_def);

// Rewrites every TF1 tf.while_loop (control flow v1) of `graph_def` into one "_While" node.
// On error `graph_def` is left unchanged.
absl::Status FunctionalizeV1Loops(tensorflow::GraphDef* graph_def);

}  // namespace quiver
