// Lowers TensorFlow's TensorArrays and TensorLists to dense list tensors (graph/ops/
// tensor_list_ops.cc), at import, before loops are functionalized.
//
// RNNs keep their per-step inputs and outputs in these: tf.nn.dynamic_rnn and Keras' LSTM/GRU
// unstack the input sequence into one, read element t in the loop body, write the output of
// step t into another and stack it after the loop. TF1 writes a TensorArrayV3 (a DT_RESOURCE
// handle plus a float "flow" scalar that orders the accesses); TF2 (and TF1 graphs with
// control flow v2, and Keras models frozen by convert_variables_to_constants_v2) writes
// TensorLists, DT_VARIANT values. Quiver has neither resources nor variants: a list of n
// elements of shape S becomes one tensor [n] + S, and the value that carried the list (the
// flow, or the variant) carries that tensor instead:
//
//   TensorListReserve(shape, n)            -> _DenseListReserve(shape, n)
//   TensorListFromTensor(t, shape)         -> Identity(t)
//   TensorListSetItem(l, i, x)             -> _DenseListSetItem(l, i, x)   (in place when it can)
//   TensorListGetItem(l, i, shape)         -> _DenseListGetItem(l, i)
//   TensorListStack(l, shape)              -> Identity(l)
//   TensorListGather(l, idx, shape)        -> _DenseListGather(l, idx)
//   TensorListScatterIntoExistingList(l, t, idx) -> _DenseListScatter(l, idx, t)
//   TensorListLength(l)                    -> _DenseListLength(l)
//   TensorListElementShape(l)              -> _DenseListElementShape(l)
//   TensorArrayV3(size) -> (handle, flow)  -> _DenseTensorArray(size): handle an int32 0
//   TensorArrayWriteV3(h, i, x, flow)      -> _DenseListSetItem(flow, i, x)
//   TensorArrayReadV3(h, i, flow)          -> _DenseListGetItem(flow, i)
//   TensorArrayGatherV3(h, idx, flow)      -> _DenseListGather(flow, idx)
//   TensorArrayScatterV3(h, idx, x, flow)  -> _DenseListScatter(flow, idx, x)   (unstack)
//   TensorArraySizeV3(h, flow)             -> _DenseListLength(flow)
//   TensorArrayCloseV3(h)                  -> NoOp (waits for h's producer)
//
// The forwarding nodes between them (Identity, IdentityN, Switch, Merge, Enter, Exit,
// NextIteration, and "_While" loop variables) take the element dtype in place of DT_VARIANT
// (or of the flow's float); handles become int32. A "_While" whose loop variable is a list
// gets its cond and body graphs lowered too (calls inlined first), their Placeholder arg_i
// retyped. Names, devices and control inputs are kept, so every TF tensor name still means
// the same value. Any other TensorArray/TensorList op (PushBack, PopBack, Concat, Split,
// gradients, dynamic_size growth) is an InvalidArgument error naming the node.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "proto/graph.pb.h"

namespace quiver {

// True when `graph_def` has a TensorArray or TensorList op (the lowering has work to do).
bool UsesTensorLists(const tensorflow::GraphDef& graph_def);

// The lowered GraphDef (see above). `list_args` names DT_VARIANT Placeholders that carry
// lists, with their element dtypes (a loop body's arg_i, set by the enclosing graph).
absl::StatusOr<tensorflow::GraphDef> LowerTensorLists(
    const tensorflow::GraphDef& graph_def,
    const std::map<std::string, tensorflow::DataType>& list_args = {});

}  // namespace quiver
