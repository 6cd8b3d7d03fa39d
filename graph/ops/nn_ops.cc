// Neural-network ops: MatMul and BatchMatMul (TF's math_ops), convolutions, pooling, softmax,
// BiasAdd, FusedBatchNorm and FusedBatchNormGrad (TF's nn_ops). Signatures, attr names and
// defaults follow TensorFlow so imported GraphDefs validate unchanged; dtype lists omit
// complex/quantized types Quiver cannot hold.
//
// Shape functions accept partial shapes: unknown dims (-1) and unknown ranks propagate, and
// every check that can be decided is decided here, so a bad graph fails at construction with
// the node named rather than at run time.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

constexpr int64_t kUnknown = TensorShape::kUnknownDim;

std::string BoolStr(bool b) { return b ? "true" : "false"; }

// Input i as a shape of exactly `rank` dims: unknown rank becomes `rank` unknown dims.
absl::StatusOr<TensorShape> WithRank(const InferenceContext& c, int i, int rank, const char* what) {
  const TensorShape& s = c.input_shape(i);
  if (s.unknown_rank()) return TensorShape(std::vector<int64_t>(rank, kUnknown));
  if (s.rank() != rank) {
    return c.Error(absl::StrCat(what, " must be ", rank, "-D, got shape ", s.DebugString()));
  }
  return s;
}

// Checks that input i has at least `rank` dims (when its rank is known).
absl::Status CheckRankAtLeast(const InferenceContext& c, int i, int rank, const char* what) {
  const TensorShape& s = c.input_shape(i);
  if (!s.unknown_rank() && s.rank() < rank) {
    return c.Error(
        absl::StrCat(what, " must have rank >= ", rank, ", got shape ", s.DebugString()));
  }
  return absl::OkStatus();
}

// The dim two known sizes share, or an error when they differ; unknown yields to known.
absl::StatusOr<int64_t> MergeDim(const InferenceContext& c, int64_t a, int64_t b,
                                 const std::string& what) {
  if (a == kUnknown) return b;
  if (b == kUnknown || a == b) return a;
  return c.Error(absl::StrCat(what, ": ", a, " vs ", b));
}

// ---- MatMul family --------------------------------------------------------------------------

absl::Status MatMulShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape a, WithRank(c, 0, 2, "a"));
  ASSIGN_OR_RETURN(TensorShape b, WithRank(c, 1, 2, "b"));
  ASSIGN_OR_RETURN(bool ta, c.GetAttr<bool>("transpose_a"));
  ASSIGN_OR_RETURN(bool tb, c.GetAttr<bool>("transpose_b"));
  RETURN_IF_ERROR(MergeDim(c, a.dim(ta ? 0 : 1), b.dim(tb ? 1 : 0),
                           absl::StrCat("inner dimensions of a ", a.DebugString(),
                                        " (transpose_a=", BoolStr(ta), ") and b ", b.DebugString(),
                                        " (transpose_b=", BoolStr(tb), ") must be equal"))
                      .status());
  c.set_output(0, TensorShape{a.dim(ta ? 1 : 0), b.dim(tb ? 0 : 1)});
  return absl::OkStatus();
}

// BatchMatMul (broadcast=false: batch dims must match) and BatchMatMulV2 (they broadcast).
absl::Status BatchMatMulShape(InferenceContext& c, bool broadcast) {
  RETURN_IF_ERROR(CheckRankAtLeast(c, 0, 2, "x"));
  RETURN_IF_ERROR(CheckRankAtLeast(c, 1, 2, "y"));
  ASSIGN_OR_RETURN(bool adj_x, c.GetAttr<bool>("adj_x"));
  ASSIGN_OR_RETURN(bool adj_y, c.GetAttr<bool>("adj_y"));
  const TensorShape& x = c.input_shape(0);
  const TensorShape& y = c.input_shape(1);
  if (x.unknown_rank() || y.unknown_rank()) {
    c.set_output(0, TensorShape::UnknownRank());
    return absl::OkStatus();
  }
  const int xr = x.rank(), yr = y.rank();
  RETURN_IF_ERROR(MergeDim(c, x.dim(adj_x ? xr - 2 : xr - 1), y.dim(adj_y ? yr - 1 : yr - 2),
                           absl::StrCat("inner dimensions of x ", x.DebugString(),
                                        " (adj_x=", BoolStr(adj_x), ") and y ", y.DebugString(),
                                        " (adj_y=", BoolStr(adj_y), ") must be equal"))
                      .status());
  TensorShape xb(std::vector<int64_t>(x.dims().begin(), x.dims().end() - 2));
  TensorShape yb(std::vector<int64_t>(y.dims().begin(), y.dims().end() - 2));
  TensorShape out;
  if (broadcast) {
    auto s = shape_fn::BroadcastShapes(xb, yb);
    if (!s.ok()) {
      return c.Error(absl::StrCat("batch dimensions of x ", x.DebugString(), " and y ",
                                  y.DebugString(), " are not broadcastable"));
    }
    out = *s;
  } else {
    if (xr != yr) {
      return c.Error(absl::StrCat("x ", x.DebugString(), " and y ", y.DebugString(),
                                  " must have equal rank (BatchMatMulV2 broadcasts)"));
    }
    for (int i = 0; i < xr - 2; ++i) {
      ASSIGN_OR_RETURN(int64_t d,
                       MergeDim(c, x.dim(i), y.dim(i),
                                absl::StrCat("batch dimension ", i, " of x ", x.DebugString(),
                                             " and y ", y.DebugString(), " must be equal")));
      out.AddDim(d);
    }
  }
  out.AddDim(x.dim(adj_x ? xr - 1 : xr - 2));
  out.AddDim(y.dim(adj_y ? yr - 2 : yr - 1));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

// ---- windows: convolutions and pools --------------------------------------------------------

// Dim indices of a 4-D tensor in a data_format.
struct Layout {
  int n, h, w, c;
};
absl::StatusOr<Layout> GetLayout(const InferenceContext& c) {
  // Not ASSIGN_OR_RETURN: GCC 12 then warns (falsely) that the string may be uninitialised.
  absl::StatusOr<std::string> format = c.GetAttr<std::string>("data_format");
  if (!format.ok()) return format.status();
  if (*format == "NHWC") return Layout{0, 1, 2, 3};
  if (*format == "NCHW") return Layout{0, 2, 3, 1};
  return c.Error("data_format '" + *format + "' is not supported (NHWC or NCHW)");
}

// A list(int) attr with 4 entries (one per dim of `l`) that is 1 over batch and depth; returns
// the H and W entries. Absent attrs (e.g. dilations of a pool) give {1, 1}.
absl::StatusOr<std::pair<int64_t, int64_t>> GetSpatial(const InferenceContext& c, const char* name,
                                                       const Layout& l) {
  if (c.attrs().find(name) == c.attrs().end()) return std::make_pair(int64_t{1}, int64_t{1});
  ASSIGN_OR_RETURN(std::vector<int64_t> v, c.GetAttr<std::vector<int64_t>>(name));
  if (v.size() != 4) {
    return c.Error(absl::StrCat(name, " must have 4 elements, got [", absl::StrJoin(v, ","), "]"));
  }
  if (v[l.n] != 1 || v[l.c] != 1) {
    return c.Error(absl::StrCat(name, " over the batch and depth dimensions must be 1, got [",
                                absl::StrJoin(v, ","), "]"));
  }
  if (v[l.h] < 1 || v[l.w] < 1) {
    return c.Error(absl::StrCat(name, " must be positive, got [", absl::StrJoin(v, ","), "]"));
  }
  return std::make_pair(v[l.h], v[l.w]);
}

// TF's output size for one spatial dim (unknown when `in` or `k` is). The CPU kernels use the
// same formulas (devices/cpu/onednn_util.cc, ComputeWindow): SAME gives ceil(in / stride),
// VALID ceil((in - effective_k + 1) / stride), EXPLICIT the padded VALID size.
absl::StatusOr<int64_t> WindowOutput(const InferenceContext& c, int64_t in, int64_t k,
                                     int64_t stride, int64_t dilation, const std::string& padding,
                                     int64_t pad_before, int64_t pad_after, const char* dim) {
  if (in == kUnknown) return kUnknown;
  // ceil(in / stride), without the overflow of in + stride - 1.
  if (padding == "SAME") return in / stride + (in % stride != 0 ? 1 : 0);
  if (k == kUnknown) return kUnknown;
  // Sizes, strides, dilations and paddings come from the graph file: any of them may be near
  // 2^63, so each step is checked.
  int64_t eff_k = 0, padded = in;
  if (k < 1 || __builtin_mul_overflow(k - 1, dilation, &eff_k) ||
      __builtin_add_overflow(eff_k, 1, &eff_k)) {
    return c.Error(absl::StrCat("the window (size ", k, ", dilation ", dilation, ") in ", dim,
                                " is not a positive size that fits in int64"));
  }
  if (padding == "EXPLICIT" && (__builtin_add_overflow(in, pad_before, &padded) ||
                                __builtin_add_overflow(padded, pad_after, &padded))) {
    return c.Error(absl::StrCat("the padded input ", dim, " (", in, " + ", pad_before, " + ",
                                pad_after, ") does not fit in int64"));
  }
  if (padded < eff_k) {
    return c.Error(absl::StrCat("the window (size ", k, ", dilation ", dilation,
                                ") is larger than the padded input ", dim, " (", padded,
                                ") with padding ", padding, ": the output size would be negative"));
  }
  return (padded - eff_k) / stride + 1;
}

// Spatial output dims of a conv or pool; `kh`/`kw` are the window sizes.
absl::Status SpatialOutput(const InferenceContext& c, const Layout& l, const TensorShape& input,
                           int64_t kh, int64_t kw, TensorShape* out) {
  ASSIGN_OR_RETURN(std::string padding, c.GetAttr<std::string>("padding"));
  ASSIGN_OR_RETURN(auto strides, GetSpatial(c, "strides", l));
  ASSIGN_OR_RETURN(auto dilations, GetSpatial(c, "dilations", l));
  std::vector<int64_t> pads(8, 0);
  if (padding == "EXPLICIT") {
    ASSIGN_OR_RETURN(pads, GetAttrOr<std::vector<int64_t>>(c.attrs(), "explicit_paddings", {}));
    if (pads.size() != 8 || *std::min_element(pads.begin(), pads.end()) < 0 || pads[2 * l.n] != 0 ||
        pads[2 * l.n + 1] != 0 || pads[2 * l.c] != 0 || pads[2 * l.c + 1] != 0) {
      return c.Error(
          "padding EXPLICIT needs explicit_paddings of 8 non-negative values "
          "(before/after per dim) with 0 for batch and depth, got [" +
          absl::StrJoin(pads, ",") + "]");
    }
  } else if (padding != "SAME" && padding != "VALID") {
    return c.Error("padding must be SAME, VALID or EXPLICIT, got '" + padding + "'");
  }
  ASSIGN_OR_RETURN(int64_t oh, WindowOutput(c, input.dim(l.h), kh, strides.first, dilations.first,
                                            padding, pads[2 * l.h], pads[2 * l.h + 1], "height"));
  ASSIGN_OR_RETURN(int64_t ow, WindowOutput(c, input.dim(l.w), kw, strides.second, dilations.second,
                                            padding, pads[2 * l.w], pads[2 * l.w + 1], "width"));
  out->set_dim(l.h, oh);
  out->set_dim(l.w, ow);
  return absl::OkStatus();
}

// Conv2D (grouped when the input depth is a multiple of the filter's) and
// DepthwiseConv2dNative (filter [KH, KW, C, multiplier], C*multiplier outputs).
absl::Status ConvShape(InferenceContext& c, bool depthwise) {
  ASSIGN_OR_RETURN(TensorShape input, WithRank(c, 0, 4, "input"));
  ASSIGN_OR_RETURN(TensorShape filter, WithRank(c, 1, 4, "filter"));
  ASSIGN_OR_RETURN(Layout l, GetLayout(c));
  const int64_t in_c = input.dim(l.c), f_in = filter.dim(2), f_out = filter.dim(3);
  int64_t out_c = kUnknown;
  if (depthwise) {
    ASSIGN_OR_RETURN(int64_t ch, MergeDim(c, in_c, f_in,
                                          absl::StrCat("input depth of ", input.DebugString(),
                                                       " must equal the filter's in_channels "
                                                       "(dim 2) of ",
                                                       filter.DebugString())));
    if (ch != kUnknown && f_out != kUnknown && __builtin_mul_overflow(ch, f_out, &out_c)) {
      return c.Error(absl::StrCat("output depth ", ch, " x ", f_out, " does not fit in int64"));
    }
  } else {
    if (f_in == 0) return c.Error("the filter's in_channels (dim 2) must not be 0");
    if (in_c != kUnknown && f_in != kUnknown && in_c % f_in != 0) {
      return c.Error(absl::StrCat("input depth ", in_c, " of ", input.DebugString(),
                                  " is not a multiple of the filter's in_channels ", f_in,
                                  " (filter ", filter.DebugString(), ")"));
    }
    if (in_c == 0 && f_in != kUnknown) {
      return c.Error(absl::StrCat("input ", input.DebugString(),
                                  " has depth 0; a convolution needs at least one channel"));
    }
    if (in_c != kUnknown && f_in != kUnknown && f_out != kUnknown && f_out % (in_c / f_in)) {
      return c.Error(absl::StrCat("out_channels ", f_out, " must be a multiple of the ",
                                  in_c / f_in, " groups (input depth ", in_c,
                                  " / filter in_channels ", f_in, ")"));
    }
    out_c = f_out;
  }
  TensorShape out = input;
  out.set_dim(l.c, out_c);
  RETURN_IF_ERROR(SpatialOutput(c, l, input, filter.dim(0), filter.dim(1), &out));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

absl::Status PoolShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape input, WithRank(c, 0, 4, "input"));
  ASSIGN_OR_RETURN(Layout l, GetLayout(c));
  ASSIGN_OR_RETURN(auto ksize, GetSpatial(c, "ksize", l));
  TensorShape out = input;
  RETURN_IF_ERROR(SpatialOutput(c, l, input, ksize.first, ksize.second, &out));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

// ---- Softmax, BiasAdd, FusedBatchNorm -------------------------------------------------------

absl::Status SoftmaxShape(InferenceContext& c) {
  RETURN_IF_ERROR(CheckRankAtLeast(c, 0, 1, "logits"));
  c.set_output(0, c.input_shape(0));
  return absl::OkStatus();
}

absl::Status BiasAddShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(std::string format, GetAttrOr<std::string>(c.attrs(), "data_format", "NHWC"));
  const bool nchw = format == "NCHW";
  RETURN_IF_ERROR(CheckRankAtLeast(c, 0, nchw ? 3 : 2, "value"));
  ASSIGN_OR_RETURN(TensorShape bias, WithRank(c, 1, 1, "bias"));
  TensorShape out = c.input_shape(0);
  if (out.unknown_rank()) {
    c.set_output(0, std::move(out));
    return absl::OkStatus();
  }
  const int channel = nchw ? 1 : out.rank() - 1;
  ASSIGN_OR_RETURN(int64_t ch, MergeDim(c, out.dim(channel), bias.dim(0),
                                        absl::StrCat("bias ", bias.DebugString(),
                                                     " must match the channel dimension (", format,
                                                     ") of value ", out.DebugString())));
  out.set_dim(channel, ch);
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

absl::Status FusedBatchNormShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(std::string format, c.GetAttr<std::string>("data_format"));
  const bool is_3d = format == "NDHWC" || format == "NCDHW";
  ASSIGN_OR_RETURN(TensorShape x, WithRank(c, 0, is_3d ? 5 : 4, "x"));
  ASSIGN_OR_RETURN(bool is_training, c.GetAttr<bool>("is_training"));
  ASSIGN_OR_RETURN(float factor, GetAttrOr<float>(c.attrs(), "exponential_avg_factor", 1.0f));
  const int channel = (format == "NCHW" || format == "NCDHW") ? 1 : x.rank() - 1;
  int64_t ch = x.dim(channel);
  // Training with factor 1 ignores mean and variance (they may be empty), as in TF.
  const int checked = (is_training && factor == 1.0f) ? 3 : 5;
  static const char* kNames[] = {"x", "scale", "offset", "mean", "variance"};
  for (int i = 1; i < 5; ++i) {
    ASSIGN_OR_RETURN(TensorShape v, WithRank(c, i, 1, kNames[i]));
    if (i < checked) {
      ASSIGN_OR_RETURN(ch, MergeDim(c, ch, v.dim(0),
                                    absl::StrCat(kNames[i], " ", v.DebugString(),
                                                 " must match the channel dimension (", format,
                                                 ") of x ", x.DebugString())));
    }
  }
  x.set_dim(channel, ch);
  c.set_output(0, x);
  for (int i = 1; i < 5; ++i) c.set_output(i, TensorShape{ch});
  if (c.num_outputs() > 5) c.set_output(5, TensorShape::UnknownRank());  // V3 reserve_space_3
  return absl::OkStatus();
}

// FusedBatchNormGrad / V2 / V3 (TF's FusedBatchNormGradShape): y_backprop and x of the
// layout's rank sharing the channel dim with scale and reserve_space_1/2 (1-D). x_backprop has
// y_backprop's shape; scale/offset_backprop are [C]; the two trailing reserve spaces are [0].
// V3's reserve_space_3 (input 5) is not inspected, as in TF.
absl::Status FusedBatchNormGradShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(std::string format, c.GetAttr<std::string>("data_format"));
  const bool is_3d = format == "NDHWC" || format == "NCDHW";
  const int rank = is_3d ? 5 : 4;
  ASSIGN_OR_RETURN(TensorShape dy, WithRank(c, 0, rank, "y_backprop"));
  ASSIGN_OR_RETURN(TensorShape x, WithRank(c, 1, rank, "x"));
  const int channel = (format == "NCHW" || format == "NCDHW") ? 1 : rank - 1;
  TensorShape out = dy;
  for (int d = 0; d < rank; ++d) {
    ASSIGN_OR_RETURN(int64_t m,
                     MergeDim(c, dy.dim(d), x.dim(d),
                              absl::StrCat("y_backprop ", dy.DebugString(), " and x ",
                                           x.DebugString(), " must have the same shape")));
    out.set_dim(d, m);
  }
  int64_t ch = out.dim(channel);
  static const char* kNames[] = {"y_backprop", "x", "scale", "reserve_space_1", "reserve_space_2"};
  for (int i = 2; i < 5; ++i) {
    ASSIGN_OR_RETURN(TensorShape v, WithRank(c, i, 1, kNames[i]));
    ASSIGN_OR_RETURN(ch, MergeDim(c, ch, v.dim(0),
                                  absl::StrCat(kNames[i], " ", v.DebugString(),
                                               " must match the channel dimension (", format,
                                               ") of x ", out.DebugString())));
  }
  out.set_dim(channel, ch);
  c.set_output(0, out);
  c.set_output(1, TensorShape{ch});
  c.set_output(2, TensorShape{ch});
  c.set_output(3, TensorShape{0});
  c.set_output(4, TensorShape{0});
  return absl::OkStatus();
}

}  // namespace

// ---- registrations --------------------------------------------------------------------------

QUIVER_REGISTER_OP("MatMul")
    .Input("a: T")
    .Input("b: T")
    .Output("product: T")
    .Attr("transpose_a: bool = false")
    .Attr("transpose_b: bool = false")
    .Attr("T: {bfloat16, half, float, double, int32, int64}")
    .SetShapeFn(MatMulShape);

QUIVER_REGISTER_OP("BatchMatMul")
    .Input("x: T")
    .Input("y: T")
    .Output("output: T")
    .Attr("T: {bfloat16, half, float, double, int32, int64}")
    .Attr("adj_x: bool = false")
    .Attr("adj_y: bool = false")
    .SetShapeFn([](InferenceContext& c) { return BatchMatMulShape(c, /*broadcast=*/false); });

QUIVER_REGISTER_OP("BatchMatMulV2")
    .Input("x: T")
    .Input("y: T")
    .Output("output: T")
    .Attr("T: {bfloat16, half, float, double, int16, int32, int64}")
    .Attr("adj_x: bool = false")
    .Attr("adj_y: bool = false")
    .SetShapeFn([](InferenceContext& c) { return BatchMatMulShape(c, /*broadcast=*/true); });

QUIVER_REGISTER_OP("Conv2D")
    .Input("input: T")
    .Input("filter: T")
    .Output("output: T")
    .Attr("T: {half, bfloat16, float, double, int32}")
    .Attr("strides: list(int)")
    .Attr("use_cudnn_on_gpu: bool = true")
    .Attr("padding: {'SAME', 'VALID', 'EXPLICIT'}")
    .Attr("explicit_paddings: list(int) = []")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("dilations: list(int) = [1, 1, 1, 1]")
    .SetShapeFn([](InferenceContext& c) { return ConvShape(c, /*depthwise=*/false); });

QUIVER_REGISTER_OP("DepthwiseConv2dNative")
    .Input("input: T")
    .Input("filter: T")
    .Output("output: T")
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("strides: list(int)")
    .Attr("padding: {'SAME', 'VALID', 'EXPLICIT'}")
    .Attr("explicit_paddings: list(int) = []")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("dilations: list(int) = [1, 1, 1, 1]")
    .SetShapeFn([](InferenceContext& c) { return ConvShape(c, /*depthwise=*/true); });

QUIVER_REGISTER_OP("MaxPool")
    .Attr("T: {half, bfloat16, float, double, int32, int64, uint8, int16, int8, uint16} = DT_FLOAT")
    .Attr("ksize: list(int) >= 4")
    .Attr("strides: list(int) >= 4")
    .Attr("padding: {'SAME', 'VALID', 'EXPLICIT'}")
    .Attr("explicit_paddings: list(int) = []")
    .Attr("data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'")
    .Input("input: T")
    .Output("output: T")
    .SetShapeFn(PoolShape);

QUIVER_REGISTER_OP("AvgPool")
    .Input("value: T")
    .Output("output: T")
    .Attr("ksize: list(int) >= 4")
    .Attr("strides: list(int) >= 4")
    .Attr("padding: {'SAME', 'VALID'}")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(PoolShape);

QUIVER_REGISTER_OP("Softmax")
    .Input("logits: T")
    .Output("softmax: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(SoftmaxShape);

QUIVER_REGISTER_OP("LogSoftmax")
    .Input("logits: T")
    .Output("logsoftmax: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(SoftmaxShape);

QUIVER_REGISTER_OP("BiasAdd")
    .Attr(
        "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
        "uint64}")
    .Input("value: T")
    .Input("bias: T")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Output("output: T")
    .SetShapeFn(BiasAddShape);

QUIVER_REGISTER_OP("FusedBatchNorm")
    .Input("x: T")
    .Input("scale: T")
    .Input("offset: T")
    .Input("mean: T")
    .Input("variance: T")
    .Output("y: T")
    .Output("batch_mean: T")
    .Output("batch_variance: T")
    .Output("reserve_space_1: T")
    .Output("reserve_space_2: T")
    .Attr("T: {float}")
    .Attr("epsilon: float = 0.0001")
    .Attr("exponential_avg_factor: float = 1.0")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("is_training: bool = true")
    .SetShapeFn(FusedBatchNormShape);

QUIVER_REGISTER_OP("FusedBatchNormV2")
    .Input("x: T")
    .Input("scale: U")
    .Input("offset: U")
    .Input("mean: U")
    .Input("variance: U")
    .Output("y: T")
    .Output("batch_mean: U")
    .Output("batch_variance: U")
    .Output("reserve_space_1: U")
    .Output("reserve_space_2: U")
    .Attr("T: {half, bfloat16, float}")
    .Attr("U: {float}")
    .Attr("epsilon: float = 0.0001")
    .Attr("exponential_avg_factor: float = 1.0")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("is_training: bool = true")
    .SetShapeFn(FusedBatchNormShape);

QUIVER_REGISTER_OP("FusedBatchNormV3")
    .Input("x: T")
    .Input("scale: U")
    .Input("offset: U")
    .Input("mean: U")
    .Input("variance: U")
    .Output("y: T")
    .Output("batch_mean: U")
    .Output("batch_variance: U")
    .Output("reserve_space_1: U")
    .Output("reserve_space_2: U")
    .Output("reserve_space_3: U")
    .Attr("T: {half, bfloat16, float}")
    .Attr("U: {float}")
    .Attr("epsilon: float = 0.0001")
    .Attr("exponential_avg_factor: float = 1.0")
    .Attr("data_format: {'NHWC', 'NCHW', 'NDHWC', 'NCDHW'} = 'NHWC'")
    .Attr("is_training: bool = true")
    .SetShapeFn(FusedBatchNormShape);

// The backward ops. reserve_space_1/2 are the forward op's outputs 3/4 when is_training (the
// batch mean and biased batch variance, on every Quiver device, as TF's CPU kernel), else the
// population mean and variance the forward op was given.
QUIVER_REGISTER_OP("FusedBatchNormGrad")
    .Input("y_backprop: T")
    .Input("x: T")
    .Input("scale: T")
    .Input("reserve_space_1: T")
    .Input("reserve_space_2: T")
    .Output("x_backprop: T")
    .Output("scale_backprop: T")
    .Output("offset_backprop: T")
    .Output("reserve_space_3: T")
    .Output("reserve_space_4: T")
    .Attr("T: {float}")
    .Attr("epsilon: float = 0.0001")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("is_training: bool = true")
    .SetShapeFn(FusedBatchNormGradShape);

QUIVER_REGISTER_OP("FusedBatchNormGradV2")
    .Input("y_backprop: T")
    .Input("x: T")
    .Input("scale: float")
    .Input("reserve_space_1: U")
    .Input("reserve_space_2: U")
    .Output("x_backprop: T")
    .Output("scale_backprop: U")
    .Output("offset_backprop: U")
    .Output("reserve_space_3: U")
    .Output("reserve_space_4: U")
    .Attr("T: {half, bfloat16, float}")
    .Attr("U: {float}")
    .Attr("epsilon: float = 0.0001")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("is_training: bool = true")
    .SetShapeFn(FusedBatchNormGradShape);

QUIVER_REGISTER_OP("FusedBatchNormGradV3")
    .Input("y_backprop: T")
    .Input("x: T")
    .Input("scale: float")
    .Input("reserve_space_1: U")
    .Input("reserve_space_2: U")
    .Input("reserve_space_3: U")
    .Output("x_backprop: T")
    .Output("scale_backprop: U")
    .Output("offset_backprop: U")
    .Output("reserve_space_4: U")
    .Output("reserve_space_5: U")
    .Attr("T: {half, bfloat16, float}")
    .Attr("U: {float}")
    .Attr("epsilon: float = 0.0001")
    .Attr("data_format: {'NHWC', 'NCHW', 'NDHWC', 'NCDHW'} = 'NHWC'")
    .Attr("is_training: bool = true")
    .SetShapeFn(FusedBatchNormGradShape);

}  // namespace quiver
