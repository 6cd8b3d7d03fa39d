// Gradients of Einsum (TF's _EinsumGrad in math_grad.py) and MatrixBandPart (linalg_grad.py).
//
// For z = einsum("X,Y->Z", x, y) the gradient of x is einsum("Z,Y->X'", dz, y), where X' is X
// without the labels only x has ("reduced" labels); those are restored by broadcasting (or, when
// X' is not Z's order or a label repeats, by one more Einsum "RZ->X" of the broadcast gradient).
// When the output has "...", the gradient is summed back over the dims x broadcast along.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/einsum_equation.h"
#include "graph/gradients.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using grad::Input;
using GradOutputs = std::vector<Output>;

bool IsLetter(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }

// The letters of `subs` that are not in `keep`.
std::set<char> ReducedLabels(const std::string& subs, const std::string& keep) {
  std::set<char> out;
  for (char ch : subs) {
    if (IsLetter(ch) && keep.find(ch) == std::string::npos) out.insert(ch);
  }
  return out;
}

std::string Without(const std::string& subs, const std::set<char>& drop) {
  std::string out;
  for (char ch : subs) {
    if (!drop.count(ch)) out.push_back(ch);
  }
  return out;
}

bool HasRepeatedLabel(const std::string& subs) {
  std::set<char> seen;
  for (char ch : subs) {
    if (IsLetter(ch) && !seen.insert(ch).second) return true;
  }
  return false;
}

Output EinsumOf(GraphBuilder& b, const std::vector<Output>& inputs, const std::string& equation) {
  return b.Op("Einsum", inputs, {{"equation", MakeAttr(equation)}}, "Einsum");
}

// The rank of x: its static rank, or the number of its labels when it has no ellipsis.
absl::StatusOr<int> RankOf(const Node& op, const Output& x, const std::string& subs) {
  if (!x.shape().unknown_rank()) return x.shape().rank();
  if (!einsum::HasEllipsis(subs)) return static_cast<int>(subs.size());
  return grad::Error(op, "the gradient of an Einsum with '...' needs inputs of known rank");
}

// TF's _GetAxisFromLabel, made non-negative with the rank.
int AxisOf(const std::string& subs, char label, int rank) {
  const size_t e = subs.find("...");
  const std::string before = e == std::string::npos ? subs : subs.substr(0, e);
  const size_t i = before.find(label);
  if (i != std::string::npos) return static_cast<int>(i);
  const std::string after = subs.substr(e + 3);
  return rank - static_cast<int>(after.size()) + static_cast<int>(after.find(label));
}

// TF's _GetGradReduced: the gradient of x for "input_subs->output_subs" whose labels `reduced`
// appear only in the input, given the gradient `g` of the output.
absl::StatusOr<Output> GradReduced(GraphBuilder& b, const Node& op, const Output& g,
                                   const std::string& output_subs, const std::string& input_subs,
                                   const Output& x, const std::set<char>& reduced) {
  ASSIGN_OR_RETURN(int rank, RankOf(op, x, input_subs));
  std::vector<int64_t> axes;
  std::string reduced_subs;
  for (char ch : reduced) {
    reduced_subs.push_back(ch);
    axes.push_back(AxisOf(input_subs, ch, rank));
  }
  Output x_shape = grad::ShapeOf(b, x);
  if (!HasRepeatedLabel(input_subs) && !HasRepeatedLabel(output_subs) &&
      Without(input_subs, reduced) == output_subs) {
    // A plain reduction: reshape the gradient to x's shape with 1 on the reduced axes
    // (keep_dims) and broadcast it back.
    Output kept;
    if (x.shape().IsFullyDefined()) {
      std::vector<int64_t> dims = x.shape().dims();
      for (int64_t a : axes) dims[a] = 1;
      kept = grad::IntConst(b, dims, "reduced_shape");
    } else {
      std::vector<int64_t> keep(rank, 1), drop(rank, 0);
      for (int64_t a : axes) {
        keep[a] = 0;
        drop[a] = 1;
      }
      kept = b.Op(
          "AddV2",
          {b.Op("Mul", {x_shape, grad::IntConst(b, keep)}, {}, "Mul"), grad::IntConst(b, drop)}, {},
          "reduced_shape");
    }
    return b.Op("BroadcastTo", {b.Op("Reshape", {g, kept}, {}, "Reshape"), x_shape}, {},
                "BroadcastTo");
  }
  // Otherwise broadcast the gradient to [reduced dims..., output dims...] and take the
  // gradient of "reduced_subs + output_subs -> input_subs", a unary Einsum without reductions.
  Output reduced_dims;
  if (x.shape().IsFullyDefined()) {
    std::vector<int64_t> dims;
    for (int64_t a : axes) dims.push_back(x.shape().dim(static_cast<int>(a)));
    reduced_dims = grad::IntConst(b, dims, "reduced_dims");
  } else {
    reduced_dims = b.Op("GatherV2", {x_shape, grad::IntConst(b, axes), b.Scalar(0, DT_INT32)}, {},
                        "reduced_dims");
  }
  Output target = Concat({reduced_dims, grad::ShapeOf(b, g)}, 0);
  Output broadcast = b.Op("BroadcastTo", {g, target}, {}, "BroadcastTo");
  return EinsumOf(b, {broadcast}, absl::StrCat(reduced_subs, output_subs, "->", input_subs));
}

// TF's _GetGradWrt: the gradient of the operand with subscripts `input_subs` of a binary Einsum.
absl::StatusOr<Output> GradWrt(GraphBuilder& b, const Node& op, const Output& g,
                               const Output& other, const Output& x, const std::string& input_subs,
                               const std::string& other_subs, const std::string& output_subs) {
  const std::set<char> reduced = ReducedLabels(input_subs, output_subs + other_subs);
  const std::string left_subs = Without(input_subs, reduced);
  Output grad_reduced =
      EinsumOf(b, {g, other}, absl::StrCat(output_subs, ",", other_subs, "->", left_subs));
  if (reduced.empty()) return grad_reduced;
  return GradReduced(b, op, grad_reduced, left_subs, input_subs, x, reduced);
}

// The [start, end) axes of x that its "..." stands for.
void BroadcastRange(const std::string& subs, int rank, int* start, int* end) {
  const size_t e = subs.find("...");
  *start = static_cast<int>(e);
  *end = rank - static_cast<int>(subs.size() - (e + 3));
}

// Sums `gx` over the broadcast dims x's "..." (axes [start, end)) was broadcast along against
// y's, and reshapes it to x's shape.
absl::StatusOr<Output> Unbroadcast(GraphBuilder& b, const Output& gx, const Output& x, int xs,
                                   int xe, const Output& y, int ys, int ye) {
  const TensorShape& sx = x.shape();
  const TensorShape& sy = y.shape();
  std::vector<int64_t> bx(sx.dims().begin() + xs, sx.dims().begin() + xe);
  std::vector<int64_t> by(sy.dims().begin() + ys, sy.dims().begin() + ye);
  std::optional<std::vector<int64_t>> axes =
      grad::StaticReduceAxes(TensorShape(bx), TensorShape(by));
  if (axes.has_value()) {
    if (axes->empty()) return grad::ReshapeLike(b, gx, x);
    for (int64_t& a : *axes) a += xs;
    return grad::ReshapeLike(b, grad::SumOver(b, gx, grad::IntConst(b, *axes, "axes"), false), x);
  }
  auto slice = [&](const Output& t, int start, int end) {
    return b.Op("Slice",
                {grad::ShapeOf(b, t), grad::IntConst(b, {start}), grad::IntConst(b, {end - start})},
                {}, "Slice");
  };
  Node* args = b.OpNode("BroadcastGradientArgs", {slice(x, xs, xe), slice(y, ys, ye)}, {},
                        "BroadcastGradientArgs");
  if (args == nullptr) return b.status();
  Output shifted = b.Op("AddV2", {Output(&b, args, 0), b.Scalar(xs, DT_INT32)}, {}, "axes");
  return grad::ReshapeLike(b, grad::SumOver(b, gx, shifted, false), x);
}

absl::Status EinsumGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  ASSIGN_OR_RETURN(std::string equation, op.GetAttr<std::string>("equation"));
  absl::StatusOr<einsum::Equation> eq = einsum::ParseEquation(equation, op.num_inputs());
  if (!eq.ok()) return grad::Error(op, std::string(eq.status().message()));
  const std::string& output_subs = eq->output;

  if (op.num_inputs() == 1) {
    const std::string& input_subs = eq->inputs[0];
    Output x = Input(b, op, 0);
    const std::set<char> reduced = ReducedLabels(input_subs, output_subs);
    if (reduced.empty()) {
      (*gi)[0] = EinsumOf(b, {g[0]}, absl::StrCat(output_subs, "->", input_subs));
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN((*gi)[0], GradReduced(b, op, g[0], output_subs, input_subs, x, reduced));
    return absl::OkStatus();
  }

  std::string x_subs = eq->inputs[0], y_subs = eq->inputs[1];
  // "...ij,jk->...ik" is valid, but its gradient "...ik,...ij->jk..." needs y's ellipsis.
  const bool out_ellipsis = einsum::HasEllipsis(output_subs);
  if (out_ellipsis) {
    if (!einsum::HasEllipsis(x_subs)) x_subs += "...";
    if (!einsum::HasEllipsis(y_subs)) y_subs += "...";
  }
  Output x = Input(b, op, 0), y = Input(b, op, 1);
  ASSIGN_OR_RETURN(Output gx, GradWrt(b, op, g[0], y, x, x_subs, y_subs, output_subs));
  ASSIGN_OR_RETURN(Output gy, GradWrt(b, op, g[0], x, y, y_subs, x_subs, output_subs));
  if (!out_ellipsis) {
    (*gi)[0] = gx;
    (*gi)[1] = gy;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(int rx, RankOf(op, x, x_subs));
  ASSIGN_OR_RETURN(int ry, RankOf(op, y, y_subs));
  if (x.shape().unknown_rank() || y.shape().unknown_rank()) {
    return grad::Error(op, "the gradient of an Einsum with '...' needs inputs of known rank");
  }
  int xs, xe, ys, ye;
  BroadcastRange(x_subs, rx, &xs, &xe);
  BroadcastRange(y_subs, ry, &ys, &ye);
  const TensorShape& sx = x.shape();
  const TensorShape& sy = y.shape();
  if (sx.IsFullyDefined() && sy.IsFullyDefined() &&
      std::vector<int64_t>(sx.dims().begin() + xs, sx.dims().begin() + xe) ==
          std::vector<int64_t>(sy.dims().begin() + ys, sy.dims().begin() + ye)) {
    (*gi)[0] = gx;
    (*gi)[1] = gy;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN((*gi)[0], Unbroadcast(b, gx, x, xs, xe, y, ys, ye));
  ASSIGN_OR_RETURN((*gi)[1], Unbroadcast(b, gy, y, ys, ye, x, xs, xe));
  return absl::OkStatus();
}

// The band's gradient is the band of the incoming gradient; the band limits get none.
absl::Status MatrixBandPartGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                GradOutputs* gi) {
  (*gi)[0] = b.Op("MatrixBandPart", {g[0], Input(b, op, 1), Input(b, op, 2)}, {}, "MatrixBandPart");
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_GRADIENT("Einsum", EinsumGrad);
QUIVER_REGISTER_GRADIENT("MatrixBandPart", MatrixBandPartGrad);

}  // namespace quiver
