// The ops a TF1 training graph adds: losses (softmax cross-entropy), gradients of the NN ops
// (activations, BiasAdd, Conv2D, pooling) and the fused optimizer updates on ref variables
// (ApplyGradientDescent, ApplyMomentum, ApplyAdam). Signatures, attr names and defaults are
// TensorFlow's (nn_ops.cc, training_ops.cc) so that graphs built by tf.train optimizers import
// unchanged; dtype lists omit the complex/quantized types Quiver cannot hold.
//
// Shape functions take partial shapes: unknown dims and ranks flow through, and every check
// that can be decided at graph construction is made here, naming the node.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

constexpr int64_t kUnknown = TensorShape::kUnknownDim;

TensorShape UnknownDims(int rank) { return TensorShape(std::vector<int64_t>(rank, kUnknown)); }

// Input i as exactly `rank` dims (unknown rank becomes `rank` unknown dims).
absl::StatusOr<TensorShape> WithRank(const InferenceContext& c, int i, int rank, const char* what) {
  const TensorShape& s = c.input_shape(i);
  if (s.unknown_rank()) return UnknownDims(rank);
  if (s.rank() != rank) {
    return c.Error(absl::StrCat(what, " must be ", rank, "-D, got shape ", s.DebugString()));
  }
  return s;
}

// The most specific shape compatible with both, or an error naming both.
absl::StatusOr<TensorShape> Merge(const InferenceContext& c, const TensorShape& a,
                                  const TensorShape& b, const std::string& what) {
  if (a.unknown_rank()) return b;
  if (b.unknown_rank()) return a;
  bool ok = a.rank() == b.rank();
  std::vector<int64_t> dims;
  for (int i = 0; ok && i < a.rank(); ++i) {
    if (a.dim(i) != kUnknown && b.dim(i) != kUnknown && a.dim(i) != b.dim(i)) ok = false;
    dims.push_back(a.dim(i) != kUnknown ? a.dim(i) : b.dim(i));
  }
  if (!ok) {
    return c.Error(absl::StrCat(what, " must have the same shape, got ", a.DebugString(), " and ",
                                b.DebugString()));
  }
  return TensorShape(std::move(dims));
}

absl::Status CheckScalar(const InferenceContext& c, int i, const char* what) {
  const TensorShape& s = c.input_shape(i);
  if (!s.unknown_rank() && s.rank() != 0) {
    return c.Error(absl::StrCat(what, " must be a scalar, got shape ", s.DebugString()));
  }
  return absl::OkStatus();
}

// Channel dim of an activation of rank `rank` in `format` (BiasAdd's convention).
int ChannelDim(const std::string& format, int rank) {
  return format == "NCHW" && rank >= 3 ? 1 : rank - 1;
}

// ---- losses ---------------------------------------------------------------------------------

// features and labels broadcast to [batch, classes]; loss [batch], backprop [batch, classes].
absl::Status SoftmaxXentShape(InferenceContext& c) {
  const TensorShape& f = c.input_shape(0);
  const TensorShape& l = c.input_shape(1);
  TensorShape both;
  if (f.unknown_rank() && l.unknown_rank()) {
    both = UnknownDims(2);
  } else {
    auto b = shape_fn::BroadcastShapes(f.unknown_rank() ? UnknownDims(2) : f,
                                       l.unknown_rank() ? UnknownDims(2) : l);
    if (!b.ok()) {
      return c.Error(absl::StrCat("logits and labels must be broadcastable: logits ",
                                  f.DebugString(), ", labels ", l.DebugString()));
    }
    both = *b;
  }
  if (both.rank() != 2) {
    return c.Error(absl::StrCat(
        "logits and labels must be either 2-dimensional, or broadcasted to be 2-dimensional, "
        "got logits ",
        f.DebugString(), " and labels ", l.DebugString()));
  }
  c.set_output(0, TensorShape{both.dim(0)});
  c.set_output(1, both);
  return absl::OkStatus();
}

absl::Status SparseSoftmaxXentShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape f, WithRank(c, 0, 2, "logits"));
  ASSIGN_OR_RETURN(TensorShape l, WithRank(c, 1, 1, "labels"));
  if (f.dim(0) != kUnknown && l.dim(0) != kUnknown && f.dim(0) != l.dim(0)) {
    return c.Error(
        absl::StrCat("logits and labels must have the same first dimension, got logits shape ",
                     f.DebugString(), " and labels shape ", l.DebugString()));
  }
  const int64_t batch = f.dim(0) != kUnknown ? f.dim(0) : l.dim(0);
  f.set_dim(0, batch);
  c.set_output(0, TensorShape{batch});
  c.set_output(1, f);
  return absl::OkStatus();
}

// ---- gradients of the NN ops ----------------------------------------------------------------

// (gradients, features)-style element-wise grads: both inputs have the output's shape.
absl::Status ElementwiseGradShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape s, Merge(c, c.input_shape(0), c.input_shape(1),
                                        "the gradient and the forward tensor"));
  c.set_output(0, std::move(s));
  return absl::OkStatus();
}

absl::Status BiasAddGradShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(std::string format, c.GetAttr<std::string>("data_format"));
  const TensorShape& s = c.input_shape(0);
  if (s.unknown_rank()) {
    c.set_output(0, UnknownDims(1));
    return absl::OkStatus();
  }
  const int min_rank = format == "NCHW" ? 3 : 2;
  if (s.rank() < min_rank) {
    return c.Error(absl::StrCat("out_backprop must have rank >= ", min_rank, " for data_format ",
                                format, ", got shape ", s.DebugString()));
  }
  c.set_output(0, TensorShape{s.dim(ChannelDim(format, s.rank()))});
  return absl::OkStatus();
}

// A 4-D shape from a 1-D int32 size input (`i`) when its value is known.
absl::StatusOr<TensorShape> ShapeFromSizes(const InferenceContext& c, int i, const char* what,
                                           const TensorShape& fallback) {
  const TensorShape& s = c.input_shape(i);
  if (!s.unknown_rank() && s.rank() != 1) {
    return c.Error(absl::StrCat(what, " must be 1-D, got shape ", s.DebugString()));
  }
  const Tensor* t = c.input_tensor(i);
  if (t == nullptr) return fallback;
  auto v = t->AsInt64Vector();
  if (!v.ok()) return c.Error(std::string(v.status().message()));
  if (v->size() != 4) {
    return c.Error(absl::StrCat(what, " must have 4 elements, got ", v->size()));
  }
  for (int64_t d : *v) {
    if (d < 0) return c.Error(absl::StrCat(what, " must be non-negative, got ", t->DebugString()));
  }
  return TensorShape(*v);
}

absl::Status Conv2DBackpropInputShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(std::string format, c.GetAttr<std::string>("data_format"));
  ASSIGN_OR_RETURN(TensorShape filter, WithRank(c, 1, 4, "filter"));
  ASSIGN_OR_RETURN(TensorShape out_backprop, WithRank(c, 2, 4, "out_backprop"));
  const int n = 0, ch = format == "NCHW" ? 1 : 3, h = format == "NCHW" ? 2 : 1, w = h + 1;
  const Tensor* sizes = c.input_tensor(0);
  // TF also accepts input_sizes of just [H, W]: batch and depth then come from the others.
  if (sizes != nullptr && sizes->num_elements() == 2 && sizes->rank() == 1) {
    auto v = sizes->AsInt64Vector();
    if (!v.ok()) return c.Error(std::string(v.status().message()));
    TensorShape out = UnknownDims(4);
    out.set_dim(n, out_backprop.dim(n));
    out.set_dim(ch, filter.dim(2));
    out.set_dim(h, (*v)[0]);
    out.set_dim(w, (*v)[1]);
    c.set_output(0, std::move(out));
    return absl::OkStatus();
  }
  TensorShape fallback = UnknownDims(4);
  fallback.set_dim(n, out_backprop.dim(n));
  ASSIGN_OR_RETURN(TensorShape out, ShapeFromSizes(c, 0, "input_sizes", fallback));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

absl::Status Conv2DBackpropFilterShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(std::string format, c.GetAttr<std::string>("data_format"));
  ASSIGN_OR_RETURN(TensorShape input, WithRank(c, 0, 4, "input"));
  ASSIGN_OR_RETURN(TensorShape out_backprop, WithRank(c, 2, 4, "out_backprop"));
  TensorShape fallback = UnknownDims(4);
  fallback.set_dim(3, out_backprop.dim(format == "NCHW" ? 1 : 3));
  ASSIGN_OR_RETURN(TensorShape out, ShapeFromSizes(c, 1, "filter_sizes", fallback));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

absl::Status MaxPoolGradShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape input, WithRank(c, 0, 4, "orig_input"));
  RETURN_IF_ERROR(WithRank(c, 1, 4, "orig_output").status());
  RETURN_IF_ERROR(WithRank(c, 2, 4, "grad").status());
  c.set_output(0, std::move(input));
  return absl::OkStatus();
}

absl::Status AvgPoolGradShape(InferenceContext& c) {
  RETURN_IF_ERROR(WithRank(c, 1, 4, "grad").status());
  ASSIGN_OR_RETURN(TensorShape out, ShapeFromSizes(c, 0, "orig_input_shape", UnknownDims(4)));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

// ---- optimizers -----------------------------------------------------------------------------

// Inputs [0, num_vars) are variables of one shape, then scalars except input `grad`, which
// has the variables' shape. The output is the (first) variable.
absl::Status ApplyShape(InferenceContext& c, int num_vars, int grad) {
  const std::vector<ArgDef>& args = c.node().op_def().inputs;
  TensorShape s = c.input_shape(0);
  for (int i = 1; i < c.num_inputs(); ++i) {
    if (i < num_vars || i == grad) {
      ASSIGN_OR_RETURN(s, Merge(c, s, c.input_shape(i), "var and " + args[i].name));
    } else {
      RETURN_IF_ERROR(CheckScalar(c, i, args[i].name.c_str()));
    }
  }
  c.set_output(0, std::move(s));
  return absl::OkStatus();
}

// TF's realnumbertypes; its numbertype (BiasAddGrad, the optimizers) adds only complex and
// quantized types, which Quiver cannot hold, so both use this list.
constexpr char kRealNumberTypes[] =
    "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
    "uint64}";

}  // namespace

// ---- registrations --------------------------------------------------------------------------

QUIVER_REGISTER_OP("SoftmaxCrossEntropyWithLogits")
    .Input("features: T")
    .Input("labels: T")
    .Output("loss: T")
    .Output("backprop: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(SoftmaxXentShape);

QUIVER_REGISTER_OP("SparseSoftmaxCrossEntropyWithLogits")
    .Input("features: T")
    .Input("labels: Tlabels")
    .Output("loss: T")
    .Output("backprop: T")
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("Tlabels: {int32, int64} = DT_INT64")
    .SetShapeFn(SparseSoftmaxXentShape);

QUIVER_REGISTER_OP("ReluGrad")
    .Input("gradients: T")
    .Input("features: T")
    .Output("backprops: T")
    .Attr(kRealNumberTypes)
    .SetShapeFn(ElementwiseGradShape);

QUIVER_REGISTER_OP("Relu6Grad")
    .Input("gradients: T")
    .Input("features: T")
    .Output("backprops: T")
    .Attr(kRealNumberTypes)
    .SetShapeFn(ElementwiseGradShape);

QUIVER_REGISTER_OP("EluGrad")
    .Input("gradients: T")
    .Input("outputs: T")
    .Output("backprops: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(ElementwiseGradShape);

QUIVER_REGISTER_OP("SeluGrad")
    .Input("gradients: T")
    .Input("outputs: T")
    .Output("backprops: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(ElementwiseGradShape);

QUIVER_REGISTER_OP("LeakyReluGrad")
    .Input("gradients: T")
    .Input("features: T")
    .Output("backprops: T")
    .Attr("alpha: float = 0.2")
    .Attr("T: {half, bfloat16, float, double} = DT_FLOAT")
    .SetShapeFn(ElementwiseGradShape);

QUIVER_REGISTER_OP("SoftplusGrad")
    .Input("gradients: T")
    .Input("features: T")
    .Output("backprops: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(ElementwiseGradShape);

QUIVER_REGISTER_OP("SoftsignGrad")
    .Input("gradients: T")
    .Input("features: T")
    .Output("backprops: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(ElementwiseGradShape);

// L2Loss (TF1 weight decay): sum(t^2) / 2, a scalar.
QUIVER_REGISTER_OP("L2Loss")
    .Input("t: T")
    .Output("output: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(shape_fn::Scalar);

// Note the argument order: SigmoidGrad and TanhGrad take the forward output first.
QUIVER_REGISTER_OP("SigmoidGrad")
    .Input("y: T")
    .Input("dy: T")
    .Output("z: T")
    .Attr("T: {bfloat16, half, float, double}")
    .SetShapeFn(ElementwiseGradShape);

QUIVER_REGISTER_OP("TanhGrad")
    .Input("y: T")
    .Input("dy: T")
    .Output("z: T")
    .Attr("T: {bfloat16, half, float, double}")
    .SetShapeFn(ElementwiseGradShape);

QUIVER_REGISTER_OP("BiasAddGrad")
    .Input("out_backprop: T")
    .Output("output: T")
    .Attr(kRealNumberTypes)
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .SetShapeFn(BiasAddGradShape);

QUIVER_REGISTER_OP("Conv2DBackpropInput")
    .Input("input_sizes: int32")
    .Input("filter: T")
    .Input("out_backprop: T")
    .Output("output: T")
    .Attr("T: {half, bfloat16, float, double, int32}")
    .Attr("strides: list(int)")
    .Attr("use_cudnn_on_gpu: bool = true")
    .Attr("padding: {'SAME', 'VALID', 'EXPLICIT'}")
    .Attr("explicit_paddings: list(int) = []")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("dilations: list(int) = [1, 1, 1, 1]")
    .SetShapeFn(Conv2DBackpropInputShape);

QUIVER_REGISTER_OP("Conv2DBackpropFilter")
    .Input("input: T")
    .Input("filter_sizes: int32")
    .Input("out_backprop: T")
    .Output("output: T")
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("strides: list(int)")
    .Attr("use_cudnn_on_gpu: bool = true")
    .Attr("padding: {'SAME', 'VALID', 'EXPLICIT'}")
    .Attr("explicit_paddings: list(int) = []")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("dilations: list(int) = [1, 1, 1, 1]")
    .SetShapeFn(Conv2DBackpropFilterShape);

QUIVER_REGISTER_OP("MaxPoolGrad")
    .Attr("ksize: list(int) >= 4")
    .Attr("strides: list(int) >= 4")
    .Attr("padding: {'SAME', 'VALID', 'EXPLICIT'}")
    .Attr("explicit_paddings: list(int) = []")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Input("orig_input: T")
    .Input("orig_output: T")
    .Input("grad: T")
    .Output("output: T")
    .Attr(
        "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
        "uint64} = DT_FLOAT")
    .SetShapeFn(MaxPoolGradShape);

QUIVER_REGISTER_OP("AvgPoolGrad")
    .Input("orig_input_shape: int32")
    .Input("grad: T")
    .Output("output: T")
    .Attr("ksize: list(int) >= 4")
    .Attr("strides: list(int) >= 4")
    .Attr("padding: {'SAME', 'VALID'}")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(AvgPoolGradShape);

// The optimizers update their ref inputs in place, so they are stateful (never folded or
// merged by CSE).
QUIVER_REGISTER_OP("ApplyGradientDescent")
    .Input("var: Ref(T)")
    .Input("alpha: T")
    .Input("delta: T")
    .Output("out: Ref(T)")
    .Attr(kRealNumberTypes)
    .Attr("use_locking: bool = false")
    .SetIsStateful()
    .SetShapeFn([](InferenceContext& c) { return ApplyShape(c, 1, 2); });

QUIVER_REGISTER_OP("ApplyMomentum")
    .Input("var: Ref(T)")
    .Input("accum: Ref(T)")
    .Input("lr: T")
    .Input("grad: T")
    .Input("momentum: T")
    .Output("out: Ref(T)")
    .Attr(kRealNumberTypes)
    .Attr("use_locking: bool = false")
    .Attr("use_nesterov: bool = false")
    .SetIsStateful()
    .SetShapeFn([](InferenceContext& c) { return ApplyShape(c, 2, 3); });

QUIVER_REGISTER_OP("ApplyAdam")
    .Input("var: Ref(T)")
    .Input("m: Ref(T)")
    .Input("v: Ref(T)")
    .Input("beta1_power: T")
    .Input("beta2_power: T")
    .Input("lr: T")
    .Input("beta1: T")
    .Input("beta2: T")
    .Input("epsilon: T")
    .Input("grad: T")
    .Output("out: Ref(T)")
    .Attr(kRealNumberTypes)
    .Attr("use_locking: bool = false")
    .Attr("use_nesterov: bool = false")
    .SetIsStateful()
    .SetShapeFn([](InferenceContext& c) { return ApplyShape(c, 3, 9); });

}  // namespace quiver
