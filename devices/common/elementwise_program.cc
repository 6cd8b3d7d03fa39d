#include "devices/common/elementwise_program.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace quiver {
namespace elementwise {
namespace {

struct OpInfo {
  OpCode op;
  const char* name;
  int cost;
};

constexpr OpInfo kOps[] = {
    {OpCode::kNeg, "Neg", 1},
    {OpCode::kAbs, "Abs", 1},
    {OpCode::kSquare, "Square", 1},
    {OpCode::kSqrt, "Sqrt", 4},
    {OpCode::kRsqrt, "Rsqrt", 4},
    {OpCode::kExp, "Exp", 8},
    {OpCode::kLog, "Log", 8},
    {OpCode::kTanh, "Tanh", 8},
    {OpCode::kSigmoid, "Sigmoid", 8},
    {OpCode::kRelu, "Relu", 1},
    {OpCode::kRelu6, "Relu6", 1},
    {OpCode::kElu, "Elu", 8},
    {OpCode::kReciprocal, "Reciprocal", 1},
    {OpCode::kFloor, "Floor", 1},
    {OpCode::kCeil, "Ceil", 1},
    {OpCode::kAdd, "Add", 1},
    {OpCode::kSub, "Sub", 1},
    {OpCode::kMul, "Mul", 1},
    {OpCode::kDiv, "RealDiv", 2},
    {OpCode::kMaximum, "Maximum", 1},
    {OpCode::kMinimum, "Minimum", 1},
    {OpCode::kSquaredDifference, "SquaredDifference", 1},
};
static_assert(sizeof(kOps) / sizeof(kOps[0]) == static_cast<size_t>(OpCode::kNumOpCodes));

const OpInfo* Info(OpCode op) {
  for (const OpInfo& i : kOps) {
    if (i.op == op) return &i;
  }
  return nullptr;
}

std::string RegName(const Program& p, int r) {
  return r < p.num_inputs ? absl::StrCat("i", r) : absl::StrCat("r", r - p.num_inputs);
}

// "i3" -> 3, "r2" -> num_inputs + 2.
bool ParseRegister(const std::string& s, int num_inputs, int* reg) {
  if (s.size() < 2 || (s[0] != 'i' && s[0] != 'r')) return false;
  int v;
  if (!absl::SimpleAtoi(s.substr(1), &v) || v < 0) return false;
  *reg = s[0] == 'i' ? v : num_inputs + v;
  return s[0] == 'i' ? v < num_inputs : true;
}

}  // namespace

bool OpCodeForTfOp(const std::string& tf_op, OpCode* op) {
  if (tf_op == "AddV2" || tf_op == "BiasAdd") {
    *op = OpCode::kAdd;
    return true;
  }
  if (tf_op == "Div") {
    *op = OpCode::kDiv;
    return true;
  }
  for (const OpInfo& i : kOps) {
    if (tf_op == i.name) {
      *op = i.op;
      return true;
    }
  }
  return false;
}

const char* OpCodeName(OpCode op) {
  const OpInfo* i = Info(op);
  return i ? i->name : "?";
}

int OpCodeCost(OpCode op) {
  const OpInfo* i = Info(op);
  return i ? i->cost : 1;
}

absl::StatusOr<Program> Parse(int num_inputs, const std::vector<std::string>& text) {
  Program p;
  if (num_inputs < 1 || num_inputs > kMaxInputs) {
    return absl::InvalidArgumentError(absl::StrCat("a fused element-wise program needs 1..",
                                                   kMaxInputs, " inputs, got ", num_inputs));
  }
  if (text.empty() || text.size() > static_cast<size_t>(kMaxInstructions)) {
    return absl::InvalidArgumentError(absl::StrCat("a fused element-wise program needs 1..",
                                                   kMaxInstructions, " instructions, got ",
                                                   text.size()));
  }
  p.num_inputs = num_inputs;
  for (size_t k = 0; k < text.size(); ++k) {
    std::vector<std::string> parts = absl::StrSplit(text[k], ' ', absl::SkipEmpty());
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat("program instruction ", k, " '", text[k], "': ", why));
    };
    if (parts.empty()) return bad("empty");
    Instruction in;
    if (!OpCodeForTfOp(parts[0], &in.op)) return bad("unknown op");
    const size_t arity = IsBinary(in.op) ? 2 : 1;
    if (parts.size() != arity + 1) return bad(absl::StrCat("expected ", arity, " operand(s)"));
    int regs[2] = {0, 0};
    for (size_t j = 0; j < arity; ++j) {
      if (!ParseRegister(parts[j + 1], num_inputs, &regs[j])) {
        return bad(absl::StrCat("bad operand '", parts[j + 1], "'"));
      }
      if (regs[j] >= num_inputs + static_cast<int>(k)) {
        return bad(absl::StrCat("operand '", parts[j + 1], "' is not defined yet"));
      }
    }
    in.a = static_cast<uint8_t>(regs[0]);
    in.b = static_cast<uint8_t>(regs[1]);
    p.code[k] = in;
  }
  p.num_instructions = static_cast<int>(text.size());
  return p;
}

std::vector<std::string> ToStrings(const Program& p) {
  std::vector<std::string> out;
  for (int k = 0; k < p.num_instructions; ++k) {
    const Instruction& in = p.code[k];
    std::string s = absl::StrCat(OpCodeName(in.op), " ", RegName(p, in.a));
    if (IsBinary(in.op)) absl::StrAppend(&s, " ", RegName(p, in.b));
    out.push_back(std::move(s));
  }
  return out;
}

std::string ToCSource(const Program& p, const std::string& type) {
  const bool is_float = type == "float";
  const std::string f = is_float ? "f" : "";                                       // expf vs exp
  auto lit = [&](const char* v) { return absl::StrCat(v, is_float ? "f" : ""); };  // 0.0f
  auto reg = [&](int r) {
    return r < p.num_inputs ? absl::StrCat("in", r) : absl::StrCat("r", r - p.num_inputs);
  };
  std::string s;
  for (int k = 0; k < p.num_instructions; ++k) {
    const Instruction& in = p.code[k];
    const std::string a = reg(in.a), b = reg(in.b);
    std::string e;
    switch (in.op) {
      case OpCode::kNeg:
        e = absl::StrCat("(-", a, ")");
        break;
      case OpCode::kAbs:
        e = absl::StrCat("fabs", f, "(", a, ")");
        break;
      case OpCode::kSquare:
        e = absl::StrCat("(", a, " * ", a, ")");
        break;
      case OpCode::kSqrt:
        e = absl::StrCat("sqrt", f, "(", a, ")");
        break;
      case OpCode::kRsqrt:
        e = absl::StrCat("(", lit("1.0"), " / sqrt", f, "(", a, "))");
        break;
      case OpCode::kExp:
        e = absl::StrCat("exp", f, "(", a, ")");
        break;
      case OpCode::kLog:
        e = absl::StrCat("log", f, "(", a, ")");
        break;
      case OpCode::kTanh:
        e = absl::StrCat("tanh", f, "(", a, ")");
        break;
      case OpCode::kSigmoid:
        e = absl::StrCat("(", lit("1.0"), " / (", lit("1.0"), " + exp", f, "(-", a, ")))");
        break;
      case OpCode::kRelu:
        e = absl::StrCat("(", a, " < ", lit("0.0"), " ? ", lit("0.0"), " : ", a, ")");
        break;
      case OpCode::kRelu6:
        e = absl::StrCat("(", a, " < ", lit("0.0"), " ? ", lit("0.0"), " : (", a, " > ", lit("6.0"),
                         " ? ", lit("6.0"), " : ", a, "))");
        break;
      case OpCode::kElu:
        e = absl::StrCat("(", a, " < ", lit("0.0"), " ? expm1", f, "(", a, ") : ", a, ")");
        break;
      case OpCode::kReciprocal:
        e = absl::StrCat("(", lit("1.0"), " / ", a, ")");
        break;
      case OpCode::kFloor:
        e = absl::StrCat("floor", f, "(", a, ")");
        break;
      case OpCode::kCeil:
        e = absl::StrCat("ceil", f, "(", a, ")");
        break;
      case OpCode::kAdd:
        e = absl::StrCat("(", a, " + ", b, ")");
        break;
      case OpCode::kSub:
        e = absl::StrCat("(", a, " - ", b, ")");
        break;
      case OpCode::kMul:
        e = absl::StrCat("(", a, " * ", b, ")");
        break;
      case OpCode::kDiv:
        e = absl::StrCat("(", a, " / ", b, ")");
        break;
      case OpCode::kMaximum:  // NaN from either side propagates, as in TensorFlow
        e = absl::StrCat("((", a, " > ", b, " || ", a, " != ", a, ") ? ", a, " : ", b, ")");
        break;
      case OpCode::kMinimum:
        e = absl::StrCat("((", a, " < ", b, " || ", a, " != ", a, ") ? ", a, " : ", b, ")");
        break;
      case OpCode::kSquaredDifference:
        e = absl::StrCat("((", a, " - ", b, ") * (", a, " - ", b, "))");
        break;
      default:
        e = a;
        break;
    }
    absl::StrAppend(&s, "const ", type, " r", k, " = ", e, ";\n");
  }
  absl::StrAppend(&s, "return ", reg(p.output_register()), ";\n");
  return s;
}

absl::Status PlanBroadcast(const std::vector<std::vector<int64_t>>& shapes,
                           std::vector<int64_t>* output_dims, BroadcastLayout* layout) {
  const int n = static_cast<int>(shapes.size());
  if (n < 1 || n > kMaxInputs) return absl::InvalidArgumentError("bad number of inputs");
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  // Right-aligned dims, padded with 1.
  std::vector<std::vector<int64_t>> in(n, std::vector<int64_t>(rank, 1));
  for (int i = 0; i < n; ++i) {
    std::copy(shapes[i].begin(), shapes[i].end(), in[i].begin() + (rank - shapes[i].size()));
  }
  std::vector<int64_t> out(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    for (int i = 0; i < n; ++i) {
      const int64_t v = in[i][d];
      if (v == 1) continue;
      if (out[d] == 1) {
        out[d] = v;
      } else if (out[d] != v) {
        std::vector<std::string> names;
        for (const auto& s : shapes) names.push_back(absl::StrCat("[", absl::StrJoin(s, ","), "]"));
        return absl::InvalidArgumentError(
            absl::StrCat("incompatible shapes for broadcasting: ", absl::StrJoin(names, " vs ")));
      }
    }
  }
  *output_dims = out;
  // A 0 in the output means no elements (an input dim of 0 broadcasts only against 1).
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  // Collapse: drop output dims of size 1, merge adjacent dims where every input is either
  // full along both or broadcast along both.
  std::vector<int64_t> cdims;
  std::vector<std::vector<bool>> cfull(n);  // per input: full (true) or broadcast
  for (size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    bool merge = !cdims.empty();
    for (int i = 0; i < n && merge; ++i) merge = cfull[i].back() == (in[i][d] != 1);
    if (merge) {
      cdims.back() *= out[d];
    } else {
      cdims.push_back(out[d]);
      for (int i = 0; i < n; ++i) cfull[i].push_back(in[i][d] != 1);
    }
  }
  if (cdims.size() > static_cast<size_t>(BroadcastLayout::kMaxRank)) {
    return absl::UnimplementedError(absl::StrCat("broadcast needs ", cdims.size(),
                                                 " dims after collapsing; at most ",
                                                 BroadcastLayout::kMaxRank, " are supported"));
  }
  *layout = BroadcastLayout();
  layout->rank = static_cast<int>(cdims.size());
  layout->num_inputs = n;
  layout->num_elements = total;
  for (int d = layout->rank - 1; d >= 0; --d) layout->out_dims[d] = cdims[d];
  for (int i = 0; i < n; ++i) {
    int64_t stride = 1;
    for (int d = layout->rank - 1; d >= 0; --d) {
      layout->strides[i][d] = cfull[i][d] ? stride : 0;
      if (cfull[i][d]) stride *= cdims[d];
    }
  }
  return absl::OkStatus();
}

}  // namespace elementwise
}  // namespace quiver
