// Less common array ops that real graphs use: ReverseV2 (Keras go_backwards, Bidirectional
// RNNs), ReverseSequence, Cumsum/Cumprod, GatherNd, ScatterNd, Where, TopKV2, MirrorPad and
// MirrorPadGrad. Signatures follow TensorFlow's ops/array_ops.cc, math_ops.cc and nn_ops.cc
// (same arg and attr names and defaults; type lists without the dtypes Quiver cannot hold).
// The shape rules live in array_extra_shapes.cc, shared with the kernels.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/ops/array_extra_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

namespace xs = array_extra_shapes;
using std::optional;
using std::vector;

constexpr int64_t kUnknown = TensorShape::kUnknownDim;

template <typename T>
absl::StatusOr<T> Wrap(const InferenceContext& c, absl::StatusOr<T> v) {
  if (!v.ok()) return c.Error(std::string(v.status().message()));
  return v;
}
absl::Status WrapStatus(const InferenceContext& c, const absl::Status& s) {
  return s.ok() ? s : c.Error(std::string(s.message()));
}

absl::StatusOr<optional<vector<int64_t>>> ConstInts(const InferenceContext& c, int i) {
  const Tensor* t = c.input_tensor(i);
  if (t == nullptr || !t->valid()) return optional<vector<int64_t>>();
  auto v = t->AsInt64Vector();
  if (!v.ok()) return c.Error(absl::StrCat("input ", i, ": ", v.status().message()));
  return optional<vector<int64_t>>(*std::move(v));
}

absl::Status CheckRank(const InferenceContext& c, int i, int rank, const char* what) {
  const TensorShape& s = c.input_shape(i);
  if (!s.unknown_rank() && s.rank() != rank) {
    return c.Error(absl::StrCat("'", what, "' must be ",
                                rank == 0 ? "a scalar" : absl::StrCat(rank, "-D"), ", got shape ",
                                s.DebugString()));
  }
  return absl::OkStatus();
}

absl::Status ReverseV2ShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckRank(c, 1, 1, "axis"));
  const TensorShape& in = c.input_shape(0);
  ASSIGN_OR_RETURN(auto axes, ConstInts(c, 1));
  if (axes && !in.unknown_rank()) {
    RETURN_IF_ERROR(WrapStatus(c, xs::ReverseAxes(*axes, in.rank()).status()));
  }
  c.set_output(0, in);
  return absl::OkStatus();
}

absl::Status ReverseSequenceShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(int64_t seq_dim, c.GetAttr<int64_t>("seq_dim"));
  ASSIGN_OR_RETURN(int64_t batch_dim, c.GetAttr<int64_t>("batch_dim"));
  ASSIGN_OR_RETURN(auto lengths, ConstInts(c, 1));
  RETURN_IF_ERROR(
      WrapStatus(c, xs::CheckReverseSequence(c.input_shape(0), c.input_shape(1), seq_dim, batch_dim,
                                             lengths ? &*lengths : nullptr)));
  c.set_output(0, c.input_shape(0));
  return absl::OkStatus();
}

absl::Status ScanShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckRank(c, 1, 0, "axis"));
  const TensorShape& in = c.input_shape(0);
  ASSIGN_OR_RETURN(auto axis, ConstInts(c, 1));
  if (axis && axis->size() == 1 && !in.unknown_rank()) {
    RETURN_IF_ERROR(WrapStatus(c, xs::ScanAxis((*axis)[0], in.rank()).status()));
  }
  c.set_output(0, in);
  return absl::OkStatus();
}

absl::Status GatherNdShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, xs::GatherNdShape(c.input_shape(0), c.input_shape(1))));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status ScatterNdShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckRank(c, 2, 1, "shape"));
  const TensorShape& ss = c.input_shape(2);
  const int length = ss.unknown_rank() || ss.dim(0) < 0 || ss.dim(0) > (1 << 20)
                         ? -1
                         : static_cast<int>(ss.dim(0));
  ASSIGN_OR_RETURN(auto shape, ConstInts(c, 2));
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, xs::ScatterNdShape(c.input_shape(0), c.input_shape(1),
                                                               shape ? &*shape : nullptr, length)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status WhereShapeFn(InferenceContext& c) {
  const TensorShape& in = c.input_shape(0);
  c.set_output(0, TensorShape{kUnknown, in.unknown_rank() ? kUnknown : in.rank()});
  return absl::OkStatus();
}

absl::Status TopKShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckRank(c, 1, 0, "k"));
  ASSIGN_OR_RETURN(auto k, ConstInts(c, 1));
  const int64_t* kp = k && k->size() == 1 ? &(*k)[0] : nullptr;
  ASSIGN_OR_RETURN(TensorShape out, Wrap(c, xs::TopKShape(c.input_shape(0), kp)));
  c.set_output(0, out);
  c.set_output(1, out);
  return absl::OkStatus();
}

absl::Status MirrorPadShapeImpl(InferenceContext& c, bool grad) {
  ASSIGN_OR_RETURN(std::string mode, c.GetAttr<std::string>("mode"));
  const TensorShape& ps = c.input_shape(1);
  int rows = -1;
  if (!ps.unknown_rank()) {
    if (ps.rank() != 2 || (ps.dim(1) >= 0 && ps.dim(1) != 2)) {
      return c.Error(
          absl::StrCat("paddings must be a matrix with 2 columns, got shape ", ps.DebugString()));
    }
    if (ps.dim(0) > (1 << 20)) return c.Error("paddings has too many rows");
    rows = static_cast<int>(ps.dim(0));
  }
  ASSIGN_OR_RETURN(auto paddings, ConstInts(c, 1));
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, xs::MirrorPadShape(c.input_shape(0), paddings ? &*paddings : nullptr,
                                              rows, mode, grad)));
  c.set_output(0, out);
  return absl::OkStatus();
}

absl::Status MirrorPadShapeFn(InferenceContext& c) { return MirrorPadShapeImpl(c, false); }
absl::Status MirrorPadGradShapeFn(InferenceContext& c) { return MirrorPadShapeImpl(c, true); }

// TF's numbertype / realnumbertype without the complex and quantized types.
constexpr char kNumberTypes[] =
    "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
    "uint64}";

}  // namespace

QUIVER_REGISTER_OP("ReverseV2")
    .Input("tensor: T")
    .Input("axis: Tidx")
    .Output("output: T")
    .Attr("Tidx: {int32, int64} = DT_INT32")
    .Attr(
        "T: {uint8, int8, uint16, int16, int32, uint32, int64, uint64, bool, bfloat16, half, "
        "float, double}")
    .SetShapeFn(ReverseV2ShapeFn);

QUIVER_REGISTER_OP("ReverseSequence")
    .Input("input: T")
    .Input("seq_lengths: Tlen")
    .Output("output: T")
    .Attr("seq_dim: int")
    .Attr("batch_dim: int = 0")
    .Attr("T: type")
    .Attr("Tlen: {int32, int64} = DT_INT64")
    .SetShapeFn(ReverseSequenceShapeFn);

QUIVER_REGISTER_OP("Cumsum")
    .Input("x: T")
    .Input("axis: Tidx")
    .Output("out: T")
    .Attr("exclusive: bool = false")
    .Attr("reverse: bool = false")
    .Attr(kNumberTypes)
    .Attr("Tidx: {int32, int64} = DT_INT32")
    .SetShapeFn(ScanShapeFn);

QUIVER_REGISTER_OP("Cumprod")
    .Input("x: T")
    .Input("axis: Tidx")
    .Output("out: T")
    .Attr("exclusive: bool = false")
    .Attr("reverse: bool = false")
    .Attr(kNumberTypes)
    .Attr("Tidx: {int32, int64} = DT_INT32")
    .SetShapeFn(ScanShapeFn);

QUIVER_REGISTER_OP("GatherNd")
    .Input("params: Tparams")
    .Input("indices: Tindices")
    .Output("output: Tparams")
    .Attr("Tparams: type")
    .Attr("Tindices: {int16, int32, int64}")
    .Attr("bad_indices_policy: string = ''")
    .SetShapeFn(GatherNdShapeFn);

QUIVER_REGISTER_OP("ScatterNd")
    .Input("indices: Tindices")
    .Input("updates: T")
    .Input("shape: Tindices")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tindices: {int16, int32, int64}")
    .Attr("bad_indices_policy: string = ''")
    .SetShapeFn(ScatterNdShapeFn);

QUIVER_REGISTER_OP("Where")
    .Input("input: T")
    .Output("index: int64")
    .Attr(
        "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
        "uint64, bool} = DT_BOOL")
    .SetShapeFn(WhereShapeFn);

QUIVER_REGISTER_OP("TopKV2")
    .Input("input: T")
    .Input("k: Tk")
    .Output("values: T")
    .Output("indices: index_type")
    .Attr("sorted: bool = true")
    .Attr(kNumberTypes)
    .Attr("Tk: {int16, int32, int64} = DT_INT32")
    .Attr("index_type: {int16, int32, int64} = DT_INT32")
    .SetShapeFn(TopKShapeFn);

QUIVER_REGISTER_OP("MirrorPad")
    .Input("input: T")
    .Input("paddings: Tpaddings")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tpaddings: {int32, int64} = DT_INT32")
    .Attr("mode: {'REFLECT', 'SYMMETRIC'}")
    .SetShapeFn(MirrorPadShapeFn);

QUIVER_REGISTER_OP("MirrorPadGrad")
    .Input("input: T")
    .Input("paddings: Tpaddings")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tpaddings: {int32, int64} = DT_INT32")
    .Attr("mode: {'REFLECT', 'SYMMETRIC'}")
    .SetShapeFn(MirrorPadGradShapeFn);

}  // namespace quiver
