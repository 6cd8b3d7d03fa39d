// Dense lists: what TensorFlow's TensorArrays (TF1 TensorArrayV3, a resource plus a "flow"
// scalar) and TensorLists (TF2, DT_VARIANT values) become at import
// (graph/tensor_list_lowering.h).
//
// A list of n elements of one shape S is one tensor of shape [n] + S. A list whose element
// shape is not yet known (TF's element_shape had unknown dims and nothing was written) is
// *unallocated*: shape [n] + S with every unknown dim 0, no bytes. The first write allocates
// [n] + item.shape, zero-filled, as TF reads an unwritten element of a known shape as zeros.
// Writes work in place when the step owns the list's buffer (a loop passing it from one
// iteration to the next), so a T-step RNN writes T elements, not T lists.
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// Dims [1..] of `list` (unknown rank when the list's rank is unknown or 0).
TensorShape ElementShapeOf(const TensorShape& list) {
  if (list.unknown_rank() || list.rank() < 1) return TensorShape::UnknownRank();
  std::vector<int64_t> dims;
  for (int i = 1; i < list.rank(); ++i) dims.push_back(list.dim(i));
  return TensorShape(dims);
}

// [n] + element (unknown rank when the element's is).
TensorShape ListShape(int64_t n, const TensorShape& element) {
  if (element.unknown_rank()) return TensorShape::UnknownRank();
  std::vector<int64_t> dims = {n};
  for (int i = 0; i < element.rank(); ++i) dims.push_back(element.dim(i));
  return TensorShape(dims);
}

// A constant scalar input, or -1.
int64_t ConstScalar(const InferenceContext& c, int i) {
  const Tensor* t = c.input_tensor(i);
  if (t == nullptr || t->num_elements() != 1) return TensorShape::kUnknownDim;
  auto v = t->AsInt64Vector();
  return v.ok() ? (*v)[0] : TensorShape::kUnknownDim;
}

// TF's element_shape input: a vector with -1 for unknown dims, or the scalar -1 for an
// unknown rank.
TensorShape ElementShapeInput(const InferenceContext& c, int i) {
  const Tensor* t = c.input_tensor(i);
  if (t == nullptr || t->rank() != 1) return TensorShape::UnknownRank();
  auto v = t->AsInt64Vector();
  if (!v.ok()) return TensorShape::UnknownRank();
  for (int64_t& d : *v) d = d < 0 ? TensorShape::kUnknownDim : d;
  return TensorShape(*v);
}

absl::Status ReserveShape(InferenceContext& c) {
  c.set_output(0, ListShape(ConstScalar(c, 1), ElementShapeInput(c, 0)));
  return absl::OkStatus();
}

absl::Status TensorArrayShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape element, c.GetAttr<TensorShape>("element_shape"));
  c.set_output(0, TensorShape({}));
  c.set_output(1, ListShape(ConstScalar(c, 0), element));
  return absl::OkStatus();
}

// The list's length is kept; its element dims are the item's where the item knows them.
absl::Status SetItemShape(InferenceContext& c) {
  const TensorShape& list = c.input_shape(0);
  const TensorShape& item = c.input_shape(2);
  if (list.unknown_rank() || item.unknown_rank() || list.rank() != item.rank() + 1) {
    c.set_output(0, list.unknown_rank() ? ListShape(TensorShape::kUnknownDim, item) : list);
    return absl::OkStatus();
  }
  c.set_output(0, ListShape(list.dim(0), item));
  return absl::OkStatus();
}

absl::Status GetItemShape(InferenceContext& c) {
  c.set_output(0, ElementShapeOf(c.input_shape(0)));
  return absl::OkStatus();
}

absl::Status GatherShape(InferenceContext& c) {
  const TensorShape& indices = c.input_shape(1);
  const int64_t n = indices.rank() == 1 ? indices.dim(0) : TensorShape::kUnknownDim;
  c.set_output(0, ListShape(n, ElementShapeOf(c.input_shape(0))));
  return absl::OkStatus();
}

absl::Status ScatterShape(InferenceContext& c) {
  const TensorShape& list = c.input_shape(0);
  const int64_t n = list.unknown_rank() || list.rank() < 1 ? TensorShape::kUnknownDim : list.dim(0);
  c.set_output(0, ListShape(n, ElementShapeOf(c.input_shape(2))));
  return absl::OkStatus();
}

absl::Status EmptyShape(InferenceContext& c) {
  c.set_output(0, ListShape(0, ElementShapeInput(c, 0)));
  return absl::OkStatus();
}

absl::Status PushBackShape(InferenceContext& c) {
  c.set_output(0, ListShape(TensorShape::kUnknownDim, c.input_shape(1)));
  return absl::OkStatus();
}

absl::Status PopBackShape(InferenceContext& c) {
  const TensorShape element = ElementShapeOf(c.input_shape(0));
  c.set_output(0, ListShape(TensorShape::kUnknownDim, element));
  c.set_output(1, element);
  return absl::OkStatus();
}

absl::Status ScalarShape(InferenceContext& c) {
  c.set_output(0, TensorShape({}));
  return absl::OkStatus();
}

absl::Status ElementShapeShape(InferenceContext& c) {
  const TensorShape& list = c.input_shape(0);
  c.set_output(0, list.unknown_rank() ? TensorShape({TensorShape::kUnknownDim})
                                      : TensorShape({std::max(0, list.rank() - 1)}));
  return absl::OkStatus();
}

}  // namespace

// TensorListReserve. Stateful so that constant folding does not bake a zero-filled list into
// the graph.
QUIVER_REGISTER_OP("_DenseListReserve")
    .Input("element_shape: shape_type")
    .Input("num_elements: int32")
    .Output("list: element_dtype")
    .Attr("element_dtype: type")
    .Attr("shape_type: {int32, int64} = DT_INT32")
    .SetIsStateful()
    .SetShapeFn(ReserveShape);

// TensorArrayV3: `handle` is a placeholder int32 0 (the list travels in `flow`).
QUIVER_REGISTER_OP("_DenseTensorArray")
    .Input("size: int32")
    .Output("handle: int32")
    .Output("flow: dtype")
    .Attr("dtype: type")
    .Attr("element_shape: shape = unknown")
    .SetIsStateful()
    .SetShapeFn(TensorArrayShape);

// EmptyTensorList: no elements yet (TF2 loops' gradient accumulators start so).
QUIVER_REGISTER_OP("_DenseListEmpty")
    .Input("element_shape: shape_type")
    .Input("max_num_elements: int32")
    .Output("list: element_dtype")
    .Attr("element_dtype: type")
    .Attr("shape_type: {int32, int64} = DT_INT32")
    .SetIsStateful()
    .SetShapeFn(EmptyShape);

// TensorListPushBack: one element more. The list grows within a buffer with room to spare, so
// a loop pushing one element per iteration copies each element about twice, not T times.
QUIVER_REGISTER_OP("_DenseListPushBack")
    .Input("list: T")
    .Input("item: T")
    .Output("output: T")
    .Attr("T: type")
    .SetShapeFn(PushBackShape);

// TensorListPopBack: the last element, and the list without it (a view of the same buffer).
QUIVER_REGISTER_OP("_DenseListPopBack")
    .Input("list: T")
    .Output("output: T")
    .Output("item: T")
    .Attr("T: type")
    .SetShapeFn(PopBackShape);

// TensorListSetItem / TensorArrayWriteV3.
QUIVER_REGISTER_OP("_DenseListSetItem")
    .Input("list: T")
    .Input("index: int32")
    .Input("item: T")
    .Output("output: T")
    .Attr("T: type")
    .SetShapeFn(SetItemShape);

// TensorListGetItem / TensorArrayReadV3.
QUIVER_REGISTER_OP("_DenseListGetItem")
    .Input("list: T")
    .Input("index: int32")
    .Output("item: T")
    .Attr("T: type")
    .SetShapeFn(GetItemShape);

// TensorListGather / TensorArrayGatherV3 (elements `indices`, stacked).
QUIVER_REGISTER_OP("_DenseListGather")
    .Input("list: T")
    .Input("indices: int32")
    .Output("values: T")
    .Attr("T: type")
    .SetShapeFn(GatherShape);

// TensorArrayScatterV3 / TensorListScatterIntoExistingList: element indices[k] = value[k].
QUIVER_REGISTER_OP("_DenseListScatter")
    .Input("list: T")
    .Input("indices: int32")
    .Input("value: T")
    .Output("output: T")
    .Attr("T: type")
    .SetShapeFn(ScatterShape);

// TensorListLength / TensorArraySizeV3.
QUIVER_REGISTER_OP("_DenseListLength")
    .Input("list: T")
    .Output("length: int32")
    .Attr("T: type")
    .SetShapeFn(ScalarShape);

// TensorListElementShape.
QUIVER_REGISTER_OP("_DenseListElementShape")
    .Input("list: T")
    .Output("element_shape: shape_type")
    .Attr("T: type")
    .Attr("shape_type: {int32, int64} = DT_INT32")
    .SetShapeFn(ElementShapeShape);

}  // namespace quiver
