// Inlines tf.function calls: TF2 graphs (SavedModels, concrete functions' GraphDefs) keep their
// ops in the GraphDef's function library and call them through PartitionedCall /
// StatefulPartitionedCall nodes (or, TF1 Defun style, through a node whose op is the
// function's name). Quiver runs one flat graph, so the importer replaces each call with the
// function's body before anything else looks at the GraphDef (TF's own inliner does the
// same before Grappler runs):
//
//   - every body node N becomes "<call name>/N" (its device: N's own, else the call's);
//   - body inputs are rewritten from the function's naming to the graph's: a function input
//     arg becomes the call's matching input, "node:out_arg:i" the flat output index of that
//     output arg of node's op (lists counted by their N / type-list attrs), "^node" stays a
//     control input;
//   - the call's own control inputs become control inputs of every body node that reads no
//     other body node (the rest wait through those);
//   - the call node itself becomes an IdentityN of the function's return values (a NoOp for a
//     function with none), with control inputs on the function's control outputs: consumers
//     of "call:k" and "^call" and fetches by those names keep working unchanged.
//
// TF2's functional conditionals (If, StatelessIf, Case, StatelessCase) are lowered first, as
// TF's LowerIfOp / LowerCaseOp do: a Switch (_SwitchN for Case) per input, a call per branch
// waiting on its pivot, a Merge per output, and the node's name kept by an IdentityN of the
// Merges (see LowerBranches in the .cc); the calls are then
// inlined like any other. Functional loops (While, StatelessWhile) become "_While" nodes
// carrying their cond and body (graph/while_loop.h).
//
// Calls inside bodies are inlined in turn, up to a depth of 32 and 2^20 nodes in all (deeper
// or bigger, as recursion makes it, is an error).
// Refused with an error naming the function and node: a call to a function the library lacks,
// argument-count mismatches, list-typed function args, attr placeholders (functions that need
// instantiation with attrs; TF2 saves concrete, fully-typed functions), and an output arg the
// body node's op does not have.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "proto/graph.pb.h"

namespace quiver {

// True when some node calls a function of the library (what InlineFunctionCalls rewrites).
bool HasFunctionCalls(const tensorflow::GraphDef& graph_def);

// Rewrites `graph_def` in place; the library is left as it was (nothing calls it any more).
// A function that calls itself twice doubles the graph at every level: more than `max_nodes`
// nodes is ResourceExhausted, long before memory runs out.
absl::Status InlineFunctionCalls(tensorflow::GraphDef* graph_def,
                                 size_t max_nodes = size_t{1} << 20);

}  // namespace quiver
