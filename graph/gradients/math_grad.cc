// Gradients of the element-wise math ops, casts, reductions and matrix products (TF's
// math_grad.py). Broadcasting binary ops sum their gradient back to each input's shape.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/gradients.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using grad::Input;
using grad::OutputOf;
using grad::SumToShapeOf;
using GradOutputs = std::vector<Output>;

bool HasOp(const char* op) { return OpRegistry::Global().Find(op) != nullptr; }

// A float mask (1 where `cond` holds) in dtype `t`.
Output Mask(GraphBuilder& b, const Output& cond, DataType t) {
  return b.Op("Cast", {cond}, {{"SrcT", MakeAttr(DT_BOOL)}, {"DstT", MakeAttr(t)}}, "Cast");
}

// ---- element-wise ------------------------------------------------------------------------

absl::Status AddGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0), y = Input(b, op, 1);
  (*gi)[0] = SumToShapeOf(b, g[0], x, y);
  (*gi)[1] = SumToShapeOf(b, g[0], y, x);
  return absl::OkStatus();
}

absl::Status SubGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0), y = Input(b, op, 1);
  (*gi)[0] = SumToShapeOf(b, g[0], x, y);
  (*gi)[1] = SumToShapeOf(b, Neg(g[0]), y, x);
  return absl::OkStatus();
}

absl::Status MulGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0), y = Input(b, op, 1);
  (*gi)[0] = SumToShapeOf(b, g[0] * y, x, y);
  (*gi)[1] = SumToShapeOf(b, x * g[0], y, x);
  return absl::OkStatus();
}

// Div (on floats) and RealDiv: d(x/y) = dx/y - x dy/y^2.
absl::Status DivGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0), y = Input(b, op, 1);
  (*gi)[0] = SumToShapeOf(b, g[0] / y, x, y);
  (*gi)[1] = SumToShapeOf(b, g[0] * (Neg(x) / y / y), y, x);
  return absl::OkStatus();
}

absl::Status SquaredDifferenceGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                   GradOutputs* gi) {
  Output x = Input(b, op, 0), y = Input(b, op, 1);
  Output d = g[0] * ((x - y) * 2.0);
  (*gi)[0] = SumToShapeOf(b, d, x, y);
  (*gi)[1] = SumToShapeOf(b, Neg(d), y, x);
  return absl::OkStatus();
}

// Ties go to x for Maximum (x >= y) and Minimum (x <= y), like TF.
absl::Status MaxMinGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi,
                        const char* compare) {
  Output x = Input(b, op, 0), y = Input(b, op, 1);
  Output m = Mask(b, b.Op(compare, {x, y}, {}, compare), x.dtype());
  (*gi)[0] = SumToShapeOf(b, g[0] * m, x, y);
  (*gi)[1] = SumToShapeOf(b, g[0] * (1.0 - m), y, x);
  return absl::OkStatus();
}

absl::Status MaximumGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  return MaxMinGrad(b, op, g, gi, "GreaterEqual");
}

absl::Status MinimumGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  return MaxMinGrad(b, op, g, gi, "LessEqual");
}

// z = x^y: dz/dx = y x^(y-1); dz/dy = z log(x), taken as 0 where x <= 0 (TF does the same).
absl::Status PowGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0), y = Input(b, op, 1), z = OutputOf(b, op, 0);
  (*gi)[0] = SumToShapeOf(b, g[0] * y * Pow(x, y - 1.0), x, y);
  Output positive = Mask(b, Greater(x, grad::ScalarConst(b, 0, x.dtype())), x.dtype());
  Output safe_x = x * positive + (1.0 - positive);  // log(1) = 0 where x <= 0
  (*gi)[1] = SumToShapeOf(b, g[0] * z * Log(safe_x), y, x);
  return absl::OkStatus();
}

// SelectV2 (TF's _SelectGradV2): the gradient masked by the condition for each branch, summed
// back to that branch's shape (the condition, t and e broadcast against each other). No
// gradient for the condition.
absl::Status SelectV2Grad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output c = Input(b, op, 0), t = Input(b, op, 1), e = Input(b, op, 2), out = OutputOf(b, op, 0);
  Output zero = grad::ScalarConst(b, 0, g[0].dtype());
  Output gt = b.Op("SelectV2", {c, g[0], zero}, {}, "SelectV2");
  Output ge = b.Op("SelectV2", {c, zero, g[0]}, {}, "SelectV2");
  (*gi)[1] = SumToShapeOf(b, gt, t, out);
  (*gi)[2] = SumToShapeOf(b, ge, e, out);
  return absl::OkStatus();
}

// Select (TF's _SelectGrad): then and else have the output's shape; a row-selecting vector
// condition works as is because Select takes the same condition. No gradient for it.
absl::Status SelectGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output c = Input(b, op, 0), t = Input(b, op, 1);
  Output zeros = ZerosLike(t);
  (*gi)[1] = b.Op("Select", {c, g[0], zeros}, {}, "Select");
  (*gi)[2] = b.Op("Select", {c, zeros, g[0]}, {}, "Select");
  return absl::OkStatus();
}

// z = atan2(y, x): dz/dy = x / (x^2 + y^2), dz/dx = -y / (x^2 + y^2) (TF's _Atan2Grad).
absl::Status Atan2Grad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output y = Input(b, op, 0), x = Input(b, op, 1);
  Output grad_inv = g[0] / (Square(x) + Square(y));
  (*gi)[0] = SumToShapeOf(b, x * grad_inv, y, x);
  (*gi)[1] = SumToShapeOf(b, Neg(y) * grad_inv, x, y);
  return absl::OkStatus();
}

// ClipByValue (TF's _ClipByValueGrad): t gets the gradient where it was not clipped; a bound
// gets it where it clipped t (t < min, t > max), summed back to the bound's shape.
absl::Status ClipByValueGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                             GradOutputs* gi) {
  Output x = Input(b, op, 0), lo = Input(b, op, 1), hi = Input(b, op, 2);
  Output zeros = ZerosLike(g[0]);
  Output below = Less(x, lo), above = Greater(x, hi);
  Output clipped = b.Op("LogicalOr", {below, above}, {}, "LogicalOr");
  (*gi)[0] = b.Op("Select", {clipped, zeros, g[0]}, {}, "Select");
  (*gi)[1] = SumToShapeOf(b, b.Op("Select", {below, g[0], zeros}, {}, "Select"), lo, x);
  (*gi)[2] = SumToShapeOf(b, b.Op("Select", {above, g[0], zeros}, {}, "Select"), hi, x);
  return absl::OkStatus();
}

// erf'(x) = 2 / sqrt(pi) * exp(-x^2).
absl::Status ErfGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0);
  (*gi)[0] = g[0] * (Exp(Neg(Square(x))) * 1.1283791670955126);
  return absl::OkStatus();
}

// erfc'(x) = -2 / sqrt(pi) * exp(-x^2).
absl::Status ErfcGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0);
  (*gi)[0] = g[0] * (Exp(Neg(Square(x))) * -1.1283791670955126);
  return absl::OkStatus();
}

absl::Status CosGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0);
  (*gi)[0] = Neg(g[0] * b.Op("Sin", {x}, {}, "Sin"));
  return absl::OkStatus();
}

absl::Status SinGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output x = Input(b, op, 0);
  (*gi)[0] = g[0] * b.Op("Cos", {x}, {}, "Cos");
  return absl::OkStatus();
}

absl::Status NegGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = Neg(g[0]);
  return absl::OkStatus();
}

absl::Status ExpGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = g[0] * OutputOf(b, op, 0);
  return absl::OkStatus();
}

absl::Status LogGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = g[0] / Input(b, op, 0);
  return absl::OkStatus();
}

absl::Status SqrtGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = g[0] / OutputOf(b, op, 0) * 0.5;
  return absl::OkStatus();
}

// y = x^-1/2: dy/dx = -y^3 / 2.
absl::Status RsqrtGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output y = OutputOf(b, op, 0);
  (*gi)[0] = g[0] * (y * y * y * -0.5);
  return absl::OkStatus();
}

absl::Status SquareGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = g[0] * (Input(b, op, 0) * 2.0);
  return absl::OkStatus();
}

absl::Status ReciprocalGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                            GradOutputs* gi) {
  Output y = OutputOf(b, op, 0);
  (*gi)[0] = Neg(g[0] * y * y);
  return absl::OkStatus();
}

absl::Status AbsGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = g[0] * b.Op("Sign", {Input(b, op, 0)}, {}, "Sign");
  return absl::OkStatus();
}

// The *Grad helper ops (TanhGrad(y, dy), SigmoidGrad(y, dy)) when registered, else the same
// formula from primitive ops.
absl::Status TanhGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output y = OutputOf(b, op, 0);
  (*gi)[0] = HasOp("TanhGrad") ? b.Op("TanhGrad", {y, g[0]}, {}, "TanhGrad") : g[0] * (1.0 - y * y);
  return absl::OkStatus();
}

absl::Status SigmoidGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  Output y = OutputOf(b, op, 0);
  (*gi)[0] = HasOp("SigmoidGrad") ? b.Op("SigmoidGrad", {y, g[0]}, {}, "SigmoidGrad")
                                  : g[0] * (y * (1.0 - y));
  return absl::OkStatus();
}

absl::Status IdentityGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  (*gi)[0] = g[0];
  return absl::OkStatus();
}

absl::Status AddNGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  for (int i = 0; i < op.num_inputs(); ++i) (*gi)[i] = g[0];
  return absl::OkStatus();
}

bool IsFloat(DataType t) {
  return t == DT_FLOAT || t == DT_DOUBLE || t == DT_HALF || t == DT_BFLOAT16;
}

// Only float-to-float casts carry a gradient (an integer result is piecewise constant).
absl::Status CastGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  const DataType src = op.input_type(0), dst = op.output_type(0);
  if (!IsFloat(src) || !IsFloat(dst)) return absl::OkStatus();
  (*gi)[0] = src == dst ? g[0] : Cast(g[0], src);
  return absl::OkStatus();
}

// ---- reductions --------------------------------------------------------------------------

// What the reduction gradients share: the input, its rank, which axes were reduced, the
// incoming gradient reshaped to the keep_dims shape, and how to tile it back to x's shape.
struct Reduction {
  Output x;
  int rank = 0;
  std::vector<bool> reduced;
  bool keep_dims = false;

  // `t` (the op's output or its gradient) reshaped to the keep_dims shape.
  Output Kept(GraphBuilder& b, const Output& t) const {
    if (keep_dims || !AnyReduced()) return t;
    const TensorShape& s = x.shape();
    if (s.IsFullyDefined()) {
      std::vector<int64_t> dims;
      for (int d = 0; d < rank; ++d) dims.push_back(reduced[d] ? 1 : s.dim(d));
      return b.Op("Reshape", {t, grad::IntConst(b, dims, "kept_shape")}, {}, "Reshape");
    }
    // shape(x) * keep + reduce: reduced dims become 1.
    Output shape =
        b.Op("AddV2", {grad::ShapeOf(b, x) * Mask01(b, false), Mask01(b, true)}, {}, "kept_shape");
    return b.Op("Reshape", {t, shape}, {}, "Reshape");
  }

  // A keep_dims-shaped tensor tiled to x's shape.
  Output Tiled(GraphBuilder& b, const Output& kept) const {
    if (!AnyReduced()) return kept;
    const TensorShape& s = x.shape();
    bool static_multiples = true;
    std::vector<int64_t> multiples;
    for (int d = 0; d < rank; ++d) {
      if (reduced[d] && s.dim(d) < 0) static_multiples = false;
      multiples.push_back(reduced[d] ? s.dim(d) : 1);
    }
    Output m = static_multiples
                   ? grad::IntConst(b, multiples, "multiples")
                   : b.Op("AddV2", {grad::ShapeOf(b, x) * Mask01(b, true), Mask01(b, false)}, {},
                          "multiples");
    return b.Op("Tile", {kept, m}, {}, "Tile");
  }

  bool AnyReduced() const {
    return std::find(reduced.begin(), reduced.end(), true) != reduced.end();
  }

  // int32 vector with 1 on the reduced axes (or on the kept ones when !on_reduced).
  Output Mask01(GraphBuilder& b, bool on_reduced) const {
    std::vector<int64_t> v;
    for (int d = 0; d < rank; ++d) v.push_back(reduced[d] == on_reduced ? 1 : 0);
    return grad::IntConst(b, v, on_reduced ? "reduced_mask" : "kept_mask");
  }

  int64_t ReducedCount() const {  // -1 when not static
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) {
      if (!reduced[d]) continue;
      if (x.shape().dim(d) < 0) return -1;
      n *= x.shape().dim(d);
    }
    return n;
  }

  Output Axes(GraphBuilder& b) const {
    std::vector<int64_t> axes;
    for (int d = 0; d < rank; ++d) {
      if (reduced[d]) axes.push_back(d);
    }
    return grad::IntConst(b, axes, "reduction_indices");
  }
};

absl::StatusOr<Reduction> AnalyzeReduction(GraphBuilder& b, const Node& op) {
  Reduction r;
  r.x = Input(b, op, 0);
  if (r.x.shape().unknown_rank()) {
    return grad::Error(op, "the gradient needs the input's rank to be known");
  }
  r.rank = r.x.shape().rank();
  ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                   grad::ConstInts(Input(b, op, 1), op, "reduction_indices"));
  r.reduced.assign(r.rank, false);
  for (int64_t a : axes) {
    if (a < -r.rank || a >= r.rank) {
      return grad::Error(op, absl::StrCat("reduction axis ", a, " out of range for rank ", r.rank));
    }
    r.reduced[a < 0 ? a + r.rank : a] = true;
  }
  ASSIGN_OR_RETURN(r.keep_dims, op.GetAttr<bool>("keep_dims"));
  return r;
}

absl::Status SumGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(Reduction r, AnalyzeReduction(b, op));
  (*gi)[0] = r.Tiled(b, r.Kept(b, g[0]));
  return absl::OkStatus();
}

absl::Status MeanGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(Reduction r, AnalyzeReduction(b, op));
  const DataType t = r.x.dtype();
  const int64_t count = r.ReducedCount();
  Output divisor;
  if (count >= 0) {
    divisor = grad::ScalarConst(b, static_cast<double>(std::max<int64_t>(count, 1)), t);
  } else {
    // size(x) / max(size(y), 1), computed at run time.
    auto size = [&](const Output& v) {
      return b.Op("Size", {v}, {{"out_type", MakeAttr(DT_INT32)}}, "Size");
    };
    Output out_size =
        b.Op("Maximum", {size(OutputOf(b, op, 0)), b.Scalar(1, DT_INT32, "one")}, {}, "Maximum");
    divisor = Cast(size(r.x), t) / Cast(out_size, t);
  }
  (*gi)[0] = r.Tiled(b, r.Kept(b, g[0]) / divisor);
  return absl::OkStatus();
}

// Max/Min: the gradient goes to the positions equal to the result, split evenly between ties.
absl::Status MaxMinReduceGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                              GradOutputs* gi) {
  ASSIGN_OR_RETURN(Reduction r, AnalyzeReduction(b, op));
  const DataType t = r.x.dtype();
  Output y_kept = r.Kept(b, OutputOf(b, op, 0));
  Output indicators = Mask(b, Equal(y_kept, r.x), t);
  Output num_selected = grad::SumOver(b, indicators, r.Axes(b), /*keep_dims=*/true);
  (*gi)[0] = indicators / num_selected * r.Kept(b, g[0]);
  return absl::OkStatus();
}

// Prod: d(prod)/dx_i = prod / x_i (inputs must be nonzero; TF's exclusive cumprods are not
// needed for that case).
absl::Status ProdGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(Reduction r, AnalyzeReduction(b, op));
  Output scaled = r.Kept(b, g[0]) * r.Kept(b, OutputOf(b, op, 0));
  (*gi)[0] = r.Tiled(b, scaled) / r.x;
  return absl::OkStatus();
}

// ---- matrix products ---------------------------------------------------------------------

Output MatMulOp(GraphBuilder& b, const char* op, const Output& x, const Output& y, bool tx,
                bool ty) {
  const bool batch = std::string(op) != "MatMul";
  AttrMap attrs = batch ? AttrMap{{"adj_x", MakeAttr(tx)}, {"adj_y", MakeAttr(ty)}}
                        : AttrMap{{"transpose_a", MakeAttr(tx)}, {"transpose_b", MakeAttr(ty)}};
  return b.Op(op, {x, y}, std::move(attrs), op);
}

// The four transpose combinations of TF's _MatMulGrad, for MatMul and BatchMatMul*.
void MatMulGrads(GraphBuilder& b, const char* op, const Output& x, const Output& y, const Output& g,
                 bool tx, bool ty, Output* gx, Output* gy) {
  if (!tx && !ty) {
    *gx = MatMulOp(b, op, g, y, false, true);
    *gy = MatMulOp(b, op, x, g, true, false);
  } else if (!tx && ty) {
    *gx = MatMulOp(b, op, g, y, false, false);
    *gy = MatMulOp(b, op, g, x, true, false);
  } else if (tx && !ty) {
    *gx = MatMulOp(b, op, y, g, false, true);
    *gy = MatMulOp(b, op, x, g, false, false);
  } else {
    *gx = MatMulOp(b, op, y, g, true, true);
    *gy = MatMulOp(b, op, g, x, true, true);
  }
}

absl::Status MatMulGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(bool ta, op.GetAttr<bool>("transpose_a"));
  ASSIGN_OR_RETURN(bool tb, op.GetAttr<bool>("transpose_b"));
  MatMulGrads(b, "MatMul", Input(b, op, 0), Input(b, op, 1), g[0], ta, tb, &(*gi)[0], &(*gi)[1]);
  return absl::OkStatus();
}

// Sums a batch matmul gradient `grad` (batch dims of the broadcast output) back to x's batch
// dims, given the other operand y.
absl::StatusOr<Output> SumBatchDims(GraphBuilder& b, const Node& op, const Output& grad,
                                    const Output& x, const Output& y) {
  const TensorShape& sx = x.shape();
  const TensorShape& sy = y.shape();
  if (sx.unknown_rank() || sy.unknown_rank()) {
    return grad::Error(op, "the gradient of a broadcasting batch matmul needs known ranks");
  }
  std::vector<int64_t> bx(sx.dims().begin(), sx.dims().end() - 2);
  std::vector<int64_t> by(sy.dims().begin(), sy.dims().end() - 2);
  std::optional<std::vector<int64_t>> axes =
      grad::StaticReduceAxes(TensorShape(bx), TensorShape(by));
  if (axes.has_value()) {
    if (axes->empty()) return grad;
    return grad::ReshapeLike(b, grad::SumOver(b, grad, grad::IntConst(b, *axes, "axes"), false), x);
  }
  auto batch_shape = [&](const Output& v, int64_t batch_rank) {
    Output shape = b.Op("Shape", {v}, {{"out_type", MakeAttr(DT_INT32)}}, "Shape");
    return b.Op("Slice", {shape, grad::IntConst(b, {0}), grad::IntConst(b, {batch_rank})}, {},
                "batch_shape");
  };
  Node* args = b.OpNode("BroadcastGradientArgs",
                        {batch_shape(x, static_cast<int64_t>(bx.size())),
                         batch_shape(y, static_cast<int64_t>(by.size()))},
                        {}, "BroadcastGradientArgs");
  if (args == nullptr) return b.status();
  return grad::ReshapeLike(b, grad::SumOver(b, grad, Output(&b, args, 0), false), x);
}

absl::Status BatchMatMulGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                             GradOutputs* gi) {
  ASSIGN_OR_RETURN(bool adj_x, op.GetAttr<bool>("adj_x"));
  ASSIGN_OR_RETURN(bool adj_y, op.GetAttr<bool>("adj_y"));
  Output x = Input(b, op, 0), y = Input(b, op, 1);
  Output gx, gy;
  MatMulGrads(b, "BatchMatMulV2", x, y, g[0], adj_x, adj_y, &gx, &gy);
  if (op.op() == "BatchMatMul") {  // no broadcasting: the batch dims already match
    (*gi)[0] = gx;
    (*gi)[1] = gy;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN((*gi)[0], SumBatchDims(b, op, gx, x, y));
  ASSIGN_OR_RETURN((*gi)[1], SumBatchDims(b, op, gy, y, x));
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_GRADIENT("Add", AddGrad);
QUIVER_REGISTER_GRADIENT("AddV2", AddGrad);
QUIVER_REGISTER_GRADIENT("Sub", SubGrad);
QUIVER_REGISTER_GRADIENT("Mul", MulGrad);
QUIVER_REGISTER_GRADIENT("RealDiv", DivGrad);
QUIVER_REGISTER_GRADIENT("Div", DivGrad);
QUIVER_REGISTER_GRADIENT("SquaredDifference", SquaredDifferenceGrad);
QUIVER_REGISTER_GRADIENT("Maximum", MaximumGrad);
QUIVER_REGISTER_GRADIENT("Minimum", MinimumGrad);
QUIVER_REGISTER_GRADIENT("Pow", PowGrad);
QUIVER_REGISTER_GRADIENT("SelectV2", SelectV2Grad);
QUIVER_REGISTER_GRADIENT("Select", SelectGrad);
QUIVER_REGISTER_GRADIENT("Atan2", Atan2Grad);
QUIVER_REGISTER_GRADIENT("ClipByValue", ClipByValueGrad);
QUIVER_REGISTER_GRADIENT("Erf", ErfGrad);
QUIVER_REGISTER_GRADIENT("Erfc", ErfcGrad);
QUIVER_REGISTER_GRADIENT("Cos", CosGrad);
QUIVER_REGISTER_GRADIENT("Sin", SinGrad);
QUIVER_REGISTER_GRADIENT("Neg", NegGrad);
QUIVER_REGISTER_GRADIENT("Exp", ExpGrad);
QUIVER_REGISTER_GRADIENT("Log", LogGrad);
QUIVER_REGISTER_GRADIENT("Sqrt", SqrtGrad);
QUIVER_REGISTER_GRADIENT("Rsqrt", RsqrtGrad);
QUIVER_REGISTER_GRADIENT("Square", SquareGrad);
QUIVER_REGISTER_GRADIENT("Reciprocal", ReciprocalGrad);
QUIVER_REGISTER_GRADIENT("Abs", AbsGrad);
QUIVER_REGISTER_GRADIENT("Tanh", TanhGrad);
QUIVER_REGISTER_GRADIENT("Sigmoid", SigmoidGrad);
QUIVER_REGISTER_GRADIENT("Identity", IdentityGrad);
QUIVER_REGISTER_GRADIENT("Snapshot", IdentityGrad);
QUIVER_REGISTER_GRADIENT("PlaceholderWithDefault", IdentityGrad);
QUIVER_REGISTER_GRADIENT("AddN", AddNGrad);
QUIVER_REGISTER_GRADIENT("Cast", CastGrad);
QUIVER_REGISTER_GRADIENT("Sum", SumGrad);
QUIVER_REGISTER_GRADIENT("Mean", MeanGrad);
QUIVER_REGISTER_GRADIENT("Max", MaxMinReduceGrad);
QUIVER_REGISTER_GRADIENT("Min", MaxMinReduceGrad);
QUIVER_REGISTER_GRADIENT("Prod", ProdGrad);
QUIVER_REGISTER_GRADIENT("MatMul", MatMulGrad);
QUIVER_REGISTER_GRADIENT("BatchMatMul", BatchMatMulGrad);
QUIVER_REGISTER_GRADIENT("BatchMatMulV2", BatchMatMulGrad);

// Piecewise-constant or boolean results: no gradient flows (not an error).
QUIVER_NO_GRADIENT("ArgMax");
QUIVER_NO_GRADIENT("ArgMin");
QUIVER_NO_GRADIENT("Equal");
QUIVER_NO_GRADIENT("NotEqual");
QUIVER_NO_GRADIENT("Less");
QUIVER_NO_GRADIENT("LessEqual");
QUIVER_NO_GRADIENT("Greater");
QUIVER_NO_GRADIENT("GreaterEqual");
QUIVER_NO_GRADIENT("LogicalAnd");
QUIVER_NO_GRADIENT("LogicalOr");
QUIVER_NO_GRADIENT("LogicalNot");
QUIVER_NO_GRADIENT("Floor");
QUIVER_NO_GRADIENT("Ceil");
QUIVER_NO_GRADIENT("Sign");
QUIVER_NO_GRADIENT("Round");  // TF's _RoundGrad returns None
QUIVER_NO_GRADIENT("IsNan");
QUIVER_NO_GRADIENT("IsInf");
QUIVER_NO_GRADIENT("IsFinite");
QUIVER_NO_GRADIENT("FloorDiv");
QUIVER_NO_GRADIENT("Range");

}  // namespace quiver
