// Loops. Quiver runs both of TensorFlow's loop forms as one functional node, "_While":
//   - TF2's While/StatelessWhile (cond and body are functions of the GraphDef's library) are
//     converted at import by MakeWhileFromFunctions (called by the function inliner);
//   - TF1's tf.while_loop (control flow v1: Enter, Merge, Switch, LoopCond, NextIteration,
//     Exit in one flat graph) is functionalized at import by FunctionalizeV1Loops
//     (graph/functionalize_loops.h), as TF's functionalize_while does for XLA.
//
// A "_While" node has n inputs (the loop variables' initial values) and n outputs (their final
// values), and attrs
//   T:           list(type), the loop variables' dtypes;
//   cond_graph:  string, a serialized GraphDef that reads Placeholders "arg_0".."arg_<n-1>"
//                (dtypes T) and computes "ret_0", a bool scalar;
//   body_graph:  string, a serialized GraphDef with the same Placeholders computing
//                "ret_0".."ret_<n-1>", the next values (dtypes T);
//   output_shapes: list(shape), optional (TF2 gives them; unknown otherwise).
// Both GraphDefs may contain anything a top-level GraphDef can (nested loops, conditionals,
// function calls with their library); the CPU kernel (runtime/while_op.cc) imports and runs
// them in sessions of their own, iterating until cond is false.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/graph.pb.h"

namespace quiver {

inline constexpr char kWhileOp[] = "_While";

// Placeholder names and result names of the cond/body graphs.
std::string WhileArgName(int i);     // "arg_<i>"
std::string WhileResultName(int i);  // "ret_<i>"

// A "_While" node. `inputs` are the loop variables' initial values, then any "^control"
// inputs; `output_shapes` may be empty.
tensorflow::NodeDef MakeWhileNode(const std::string& name, const std::string& device,
                                  const std::vector<std::string>& inputs,
                                  const std::vector<tensorflow::DataType>& types,
                                  const tensorflow::GraphDef& cond_graph,
                                  const tensorflow::GraphDef& body_graph,
                                  const std::vector<tensorflow::TensorShapeProto>& output_shapes);

// TF2: a While/StatelessWhile node (attrs T, cond, body, output_shapes) -> a "_While" node of
// the same name, whose cond/body graphs call the library functions (and carry the library),
// last in `nodes`. Before it come the ReadVariableOps of the resource loop variables the
// loop only reads (a Keras RNN's weights): those are carried as values ("<name>/
// read_variable_<k>"), the functions' reads becoming Identities, and the loop's output k,
// which TF's consumers still take for the variable's handle, must be read from the handle
// itself: `resource_outputs` maps k to it. Any other use of a resource loop variable is an
// InvalidArgument error.
struct WhileFromFunctions {
  std::vector<tensorflow::NodeDef> nodes;
  std::map<int, std::string> resource_outputs;
};
absl::StatusOr<WhileFromFunctions> MakeWhileFromFunctions(
    const tensorflow::NodeDef& node, const tensorflow::FunctionDefLibrary& library);

}  // namespace quiver
