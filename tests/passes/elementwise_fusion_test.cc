// ElementwiseFusionPass and the _FusedElementwise program/kernel: hand-built graphs fused and
// run through a Session, checked against values computed here with plain double math (the
// formulas spelt out independently) and against the unfused graph; every reason not to fuse
// shows up as a note.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>

#include "devices/common/elementwise_program.h"
#include "graph/builder.h"
#include "passes/elementwise_fusion_pass.h"
#include "runtime/session.h"
#include "tests/devices/nn_test_util.h"
#include "tests/passes/pass_test_util.h"

namespace quiver {
namespace {

using namespace pass_test;  // NOLINT: the shared pass-test helpers (pass_test_util.h)

PassStats RunPass(Graph* graph, const PassContext& ctx) {
  return RunPassAndVerify<ElementwiseFusionPass>(graph, ctx);
}

double Sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }
double Relu(double v) { return v < 0 ? 0 : v; }

// ---- the program format ----------------------------------------------------------------

TEST_CASE("elementwise program: parse, print, C source and scalar evaluation",
          "[passes][elementwise_fusion]") {
  // relu(i0 * i1 + i2) - i0
  const std::vector<std::string> text = {"Mul i0 i1", "AddV2 r0 i2", "Relu r1", "Sub r2 i0"};
  auto p = elementwise::Parse(3, text);
  REQUIRE(p.ok());
  CHECK(p->num_instructions == 4);
  CHECK(p->output_register() == 6);
  CHECK(elementwise::ToStrings(*p) ==
        std::vector<std::string>{"Mul i0 i1", "Add r0 i2", "Relu r1", "Sub r2 i0"});
  CHECK(elementwise::ToCSource(*p, "float") ==
        "const float r0 = (in0 * in1);\n"
        "const float r1 = (r0 + in2);\n"
        "const float r2 = (r1 < 0.0f ? 0.0f : r1);\n"
        "const float r3 = (r2 - in0);\n"
        "return r3;\n");
  const float a[3] = {2.f, 3.f, -1.f};  // relu(6 - 1) - 2 = 3
  CHECK(elementwise::EvalElement<float>(*p, a) == 3.f);
  const float b[3] = {2.f, -3.f, 1.f};  // relu(-6 + 1) - 2 = -2
  CHECK(elementwise::EvalElement<float>(*p, b) == -2.f);
  auto q = elementwise::Parse(1, {"Sigmoid i0", "Mul i0 r0"});  // swish
  REQUIRE(q.ok());
  const double x = 0.5;
  CHECK(std::abs(elementwise::EvalElement<double>(*q, &x) - 0.5 * Sigmoid(0.5)) < 1e-15);
  CHECK(elementwise::ToCSource(*q, "double") ==
        "const double r0 = (1.0 / (1.0 + exp(-in0)));\n"
        "const double r1 = (in0 * r0);\nreturn r1;\n");

  CHECK(!elementwise::Parse(1, {}).ok());
  CHECK(!elementwise::Parse(1, {"Softplus i0"}).ok());
  CHECK(!elementwise::Parse(1, {"Add i0"}).ok());
  CHECK(!elementwise::Parse(1, {"Neg i1"}).ok());  // no such input
  CHECK(!elementwise::Parse(1, {"Neg r0"}).ok());  // not defined yet
  CHECK(!elementwise::Parse(0, {"Neg i0"}).ok());
}

TEST_CASE("elementwise program: N-input broadcast layout", "[passes][elementwise_fusion]") {
  std::vector<int64_t> out;
  elementwise::BroadcastLayout l;
  REQUIRE(elementwise::PlanBroadcast({{4, 1}, {1, 5}, {}}, &out, &l).ok());
  CHECK(out == std::vector<int64_t>{4, 5});
  CHECK(l.rank == 2);
  CHECK(l.num_elements == 20);
  CHECK(l.strides[0][0] == 1);  // [4,1]: moves along dim 0 only
  CHECK(l.strides[0][1] == 0);
  CHECK(l.strides[1][0] == 0);  // [1,5]
  CHECK(l.strides[1][1] == 1);
  CHECK(l.strides[2][0] == 0);  // scalar
  CHECK(l.strides[2][1] == 0);
  // Same shapes collapse to one dim.
  REQUIRE(elementwise::PlanBroadcast({{2, 3, 4}, {2, 3, 4}}, &out, &l).ok());
  CHECK(l.rank == 1);
  CHECK(l.out_dims[0] == 24);
  // [2,3,4] + [4]: dims 0 and 1 merge (the bias is broadcast along both).
  REQUIRE(elementwise::PlanBroadcast({{2, 3, 4}, {4}}, &out, &l).ok());
  CHECK(l.rank == 2);
  CHECK(l.out_dims[0] == 6);
  CHECK(l.strides[1][0] == 0);
  absl::Status bad = elementwise::PlanBroadcast({{2, 3}, {4}}, &out, &l);
  CHECK(!bad.ok());
  CHECK(std::string(bad.message()) == "incompatible shapes for broadcasting: [2,3] vs [4]");
}

// ---- the pass --------------------------------------------------------------------------

// x[n] -> *2 -> +c -> Relu -> Sigmoid -> Square -> -1 -> Tanh -> Neg: eight ops.
struct Chain {
  Graph graph;
  std::vector<double> x, c;
  int64_t n;
};

void BuildChain(Chain* ch, int64_t n) {
  ch->n = n;
  ch->x = RandomValues(n, 1, -2, 2);
  ch->c = RandomValues(n, 2, -1, 1);
  GraphBuilder b(&ch->graph);
  Output x = b.Placeholder(DT_FLOAT, {n}, "x");
  Output c = b.Const(MakeTensor<float>(ch->c, {n}), "c");
  Output two = b.Scalar(2.0, DT_FLOAT, "two");
  Output one = b.Scalar(1.0, DT_FLOAT, "one");
  Output t = b.Op("Mul", {x, two}, {}, "mul");
  t = b.Op("AddV2", {t, c}, {}, "add");
  t = Relu(t, "relu");
  t = Sigmoid(t, "sigmoid");
  t = Square(t, "square");
  t = b.Op("Sub", {t, one}, {}, "sub");
  t = Tanh(t, "tanh");
  Neg(t, "out");
  REQUIRE(b.status().ok());
}

std::vector<double> ChainReference(const Chain& ch) {
  std::vector<double> y(ch.n);
  for (int64_t i = 0; i < ch.n; ++i) {
    const double s = Sigmoid(Relu(ch.x[i] * 2 + ch.c[i]));
    y[i] = -std::tanh(s * s - 1);
  }
  return y;
}

TEST_CASE("elementwise fusion: an 8-op chain becomes one node with the same results",
          "[passes][elementwise_fusion]") {
  for (int64_t n : {1, 7, 513, 300001}) {  // one element, a tail, block edges, threads
    CAPTURE(n);
    Chain ch;
    BuildChain(&ch, n);
    Graph unfused;
    REQUIRE(unfused.CopyFrom(ch.graph).ok());
    PassContext ctx;
    ctx.fetches = {"out"};
    PassStats stats = RunPass(&ch.graph, ctx);
    CHECK(stats.notes.empty());
    CHECK(stats.nodes_removed == 8);
    CHECK(stats.nodes_added == 1);
    CHECK(stats.changes.size() == 1);
    CHECK(ch.graph.num_nodes() == 5);  // x, c, two, one, out
    Node* fused = ch.graph.FindNode("out");
    REQUIRE(fused != nullptr);
    CHECK(fused->op() == "_FusedElementwise");
    CHECK(fused->num_inputs() == 4);
    CHECK(fused->output_shape(0) == TensorShape{n});
    CHECK(*fused->GetAttr<std::vector<std::string>>("program") ==
          std::vector<std::string>{"Mul i0 i1", "Add r0 i2", "Relu r1", "Sigmoid r2", "Square r3",
                                   "Sub r4 i3", "Tanh r5", "Neg r6"});
    const Tensor x = MakeTensor<float>(ch.x, {n});
    const auto got = RunGraphFetches(ch.graph, {{"x", x}}, {"out"})[0];
    CHECK(MaxError(got, ChainReference(ch)) < 1e-6);
    CHECK(MaxError(got, RunGraphFetches(unfused, {{"x", x}}, {"out"})[0]) < 1e-6);
  }
}

TEST_CASE("elementwise fusion: [N,1] x [1,M] broadcasting and scalars",
          "[passes][elementwise_fusion]") {
  // M = 3 takes the gather path, M = 100 the row path (pointer and splat inputs).
  for (int64_t m : {3, 100}) {
    CAPTURE(m);
    const int64_t n = 37;
    Graph graph;
    GraphBuilder b(&graph);
    Output col = b.Placeholder(DT_FLOAT, {n, 1}, "col");
    Output row = b.Placeholder(DT_FLOAT, {1, m}, "row");
    Output s = b.Scalar(0.5, DT_FLOAT, "s");
    Output t = b.Op("Sub", {col, row}, {}, "diff");                       // [n, m]
    t = b.Op("Maximum", {t, b.Op("Neg", {row}, {}, "nrow")}, {}, "max");  // nrow stays out
    t = b.Op("Mul", {t, s}, {}, "scaled");
    t = b.Op("RealDiv", {t, col}, {}, "div");
    Relu6(t, "out");
    REQUIRE(b.status().ok());
    Graph unfused;
    REQUIRE(unfused.CopyFrom(graph).ok());
    PassContext ctx;
    ctx.fetches = {"out"};
    PassStats stats = RunPass(&graph, ctx);
    // Neg(row) is [1,m]: joining would recompute it n times, so it stays a separate input.
    CHECK(HasNote(stats, "nrow (Neg) not fused into out: its output [1," + std::to_string(m) +
                             "] is not the fused output [37," + std::to_string(m) + "]"));
    Node* fused = graph.FindNode("out");
    REQUIRE(fused->op() == "_FusedElementwise");
    CHECK(fused->num_inputs() == 4);  // col, row, nrow, s
    CHECK(CountOp(graph, "_FusedElementwise") == 1);
    CHECK(fused->output_shape(0) == (TensorShape{n, m}));

    const auto cv = RandomValues(n, 3, 0.5, 2.0), rv = RandomValues(m, 4, -3, 3);
    std::vector<double> want(n * m);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < m; ++j) {
        const double v = std::max(cv[i] - rv[j], -rv[j]) * 0.5 / cv[i];
        want[i * m + j] = std::min(std::max(v, 0.0), 6.0);
      }
    }
    const std::vector<Session::Feed> feeds = {{"col", MakeTensor<float>(cv, {n, 1})},
                                              {"row", MakeTensor<float>(rv, {1, m})}};
    const auto got = RunGraphFetches(graph, feeds, {"out"})[0];
    CHECK(MaxError(got, want) < 1e-6);
    CHECK(MaxError(got, RunGraphFetches(unfused, feeds, {"out"})[0]) < 1e-6);
  }
}

TEST_CASE("elementwise fusion: an intermediate used twice inside the group is computed once",
          "[passes][elementwise_fusion]") {
  // swish(a + b) = (a + b) * sigmoid(a + b), then + b (b is one input, used twice).
  Graph graph;
  GraphBuilder b(&graph);
  Output a = b.Placeholder(DT_FLOAT, {2, 3}, "a");
  Output bb = b.Placeholder(DT_FLOAT, {3}, "b");
  Output sum = b.Op("AddV2", {a, bb}, {}, "sum");
  Output sw = b.Op("Mul", {sum, Sigmoid(sum, "sig")}, {}, "swish");
  b.Op("BiasAdd", {sw, bb}, {}, "out");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out"};
  PassStats stats = RunPass(&graph, ctx);
  CHECK(stats.notes.empty());
  Node* fused = graph.FindNode("out");
  REQUIRE(fused->op() == "_FusedElementwise");
  CHECK(graph.num_nodes() == 3);
  CHECK(fused->num_inputs() == 2);
  CHECK(*fused->GetAttr<std::vector<std::string>>("program") ==
        std::vector<std::string>{"Add i0 i1", "Sigmoid r0", "Mul r0 r1", "Add r2 i1"});
  const std::vector<double> av = {-2, -0.5, 0, 0.5, 1, 3}, bv = {0.25, -1, 2};
  std::vector<double> want(6);
  for (int i = 0; i < 6; ++i) {
    const double s = av[i] + bv[i % 3];
    want[i] = s * Sigmoid(s) + bv[i % 3];
  }
  const auto got = RunGraphFetches(
      graph, {{"a", MakeTensor<float>(av, {2, 3})}, {"b", MakeTensor<float>(bv, {3})}}, {"out"})[0];
  CHECK(MaxError(got, want) < 1e-6);
}

TEST_CASE("elementwise fusion: what ends a group is noted, and results stay right",
          "[passes][elementwise_fusion]") {
  // x -> Exp (e) -> Mul 3 (m) -> Relu (r) -> Neg (out)
  Graph graph;
  GraphBuilder b(&graph);
  Output x = b.Placeholder(DT_FLOAT, {4}, "x");
  Output e = Exp(x, "e");
  Output m = b.Op("Mul", {e, b.Scalar(3.0, DT_FLOAT, "three")}, {}, "m");
  Output r = Relu(m, "r");
  Neg(r, "out");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out"};
  const std::vector<double> xv = {-1, 0, 0.5, 2};
  std::vector<double> want_out, want_m;
  for (double v : xv) {
    want_m.push_back(std::exp(v) * 3);
    want_out.push_back(-Relu(std::exp(v) * 3));
  }
  const std::vector<Session::Feed> feeds = {{"x", MakeTensor<float>(xv, {4})}};

  SECTION("second consumer outside the group") {
    b.Op("Sub", {m, b.Scalar(1.0, DT_FLOAT, "one")}, {}, "other");
    ctx.fetches.push_back("other");
    PassStats stats = RunPass(&graph, ctx);
    CHECK(HasNote(stats, "m (Mul) not fused into out: it has another consumer outside the group"));
    CHECK(graph.FindNode("out")->op() == "_FusedElementwise");  // r + out
    CHECK(graph.FindNode("m")->op() == "_FusedElementwise");    // e + m
    CHECK(graph.FindNode("other")->op() == "Sub");              // alone: nothing to fuse with
    auto got = RunGraphFetches(graph, feeds, {"out", "other"});
    CHECK(MaxError(got[0], want_out) < 1e-6);
    std::vector<double> want_other;
    for (double v : want_m) want_other.push_back(v - 1);
    CHECK(MaxError(got[1], want_other) < 1e-6);
  }
  SECTION("fetched intermediate") {
    ctx.fetches.push_back("m:0");
    PassStats stats = RunPass(&graph, ctx);
    CHECK(HasNote(stats, "m (Mul) not fused into out: it is fetched or targeted"));
    CHECK(graph.FindNode("m")->op() == "_FusedElementwise");
    CHECK(graph.FindNode("e") == nullptr);
    auto got = RunGraphFetches(graph, feeds, {"out", "m"});
    CHECK(MaxError(got[0], want_out) < 1e-6);
    CHECK(MaxError(got[1], want_m) < 1e-6);
  }
  SECTION("control edge") {
    Node* dep = b.OpNode("NoOp", {}, {}, "dep");
    graph.AddControlEdge(dep, m.node());
    PassStats stats = RunPass(&graph, ctx);
    CHECK(HasNote(stats, "m (Mul) not fused into out: it has control inputs"));
    CHECK(graph.FindNode("out")->op() == "_FusedElementwise");
    CHECK(graph.FindNode("m")->op() == "_FusedElementwise");  // m is a root: it keeps the edge
    CHECK(graph.FindNode("m")->control_in_edges().size() == 1);
    CHECK(MaxError(RunGraphFetches(graph, feeds, {"out"})[0], want_out) < 1e-6);
  }
  SECTION("another device") {
    r.node()->set_requested_device("/device:CPU:1");
    PassStats stats = RunPass(&graph, ctx);
    CHECK(HasNote(stats, "r (Relu) not fused into out: it is on another device"));
  }
  SECTION("a device without the kernel") {
    for (Node* n : graph.nodes()) n->set_requested_device("/device:GPU:0");
    const int before = graph.num_nodes();
    PassStats stats = RunPass(&graph, ctx);
    CHECK(HasNote(
        stats, "out (Neg): not fused: no _FusedElementwise kernel for T=float32 on /device:GPU:0"));
    CHECK(graph.num_nodes() == before);
  }
}

TEST_CASE("elementwise fusion: dtypes without a fused kernel are noted",
          "[passes][elementwise_fusion]") {
  Graph graph;
  GraphBuilder b(&graph);
  Output x = b.Placeholder(DT_INT32, {4}, "x");
  Output y = b.Op("Mul", {x, x}, {}, "sq");
  b.Op("Neg", {y}, {}, "out");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out"};
  const int before = graph.num_nodes();
  PassStats stats = RunPass(&graph, ctx);
  CHECK(HasNote(stats, "out (Neg): not fused: no _FusedElementwise kernel for T=int32 on CPU"));
  CHECK(graph.num_nodes() == before);
}

TEST_CASE("elementwise fusion runs in the default pipeline and can be switched off",
          "[passes][elementwise_fusion]") {
  for (bool disabled : {false, true}) {
    Chain ch;
    BuildChain(&ch, 16);
    PassManagerOptions options;
    if (disabled) options.disabled.insert("elementwise_fusion");
    PassContext ctx;
    ctx.fetches = {"out"};
    auto report = PassManager::Default(options).Run(&ch.graph, ctx);
    REQUIRE(report.ok());
    CHECK(CountOp(ch.graph, "_FusedElementwise") == (disabled ? 0 : 1));
    CHECK((report->ToString().find("did: out: 8 ops") != std::string::npos) == !disabled);
    const auto got = RunGraphFetches(ch.graph, {{"x", MakeTensor<float>(ch.x, {16})}}, {"out"})[0];
    CHECK(MaxError(got, ChainReference(ch)) < 1e-6);
  }
}

TEST_CASE("_FusedElementwise kernel: float64, every op against the scalar reference",
          "[passes][elementwise_fusion]") {
  // One instruction per op over inputs chosen inside every op's domain (positive for log and
  // sqrt), evaluated by the kernel on 1000 elements and by std:: math here.
  struct Case {
    std::string op;
    std::function<double(double, double)> f;
  };
  const std::vector<Case> cases = {
      {"Neg", [](double a, double) { return -a; }},
      {"Abs", [](double a, double) { return std::abs(a); }},
      {"Square", [](double a, double) { return a * a; }},
      {"Sqrt", [](double a, double) { return std::sqrt(a); }},
      {"Rsqrt", [](double a, double) { return 1 / std::sqrt(a); }},
      {"Exp", [](double a, double) { return std::exp(a); }},
      {"Log", [](double a, double) { return std::log(a); }},
      {"Tanh", [](double a, double) { return std::tanh(a); }},
      {"Sigmoid", [](double a, double) { return Sigmoid(a); }},
      {"Relu", [](double a, double) { return Relu(a - 1); }},
      {"Relu6", [](double a, double) { return std::min(std::max(a * 4 - 1, 0.0), 6.0); }},
      {"Elu", [](double a, double) { return a - 1 < 0 ? std::expm1(a - 1) : a - 1; }},
      {"Reciprocal", [](double a, double) { return 1 / a; }},
      {"Floor", [](double a, double) { return std::floor(a * 3); }},
      {"Ceil", [](double a, double) { return std::ceil(a * 3); }},
      {"Add", [](double a, double b) { return a + b; }},
      {"Sub", [](double a, double b) { return a - b; }},
      {"Mul", [](double a, double b) { return a * b; }},
      {"RealDiv", [](double a, double b) { return a / b; }},
      {"Maximum", [](double a, double b) { return std::max(a, b); }},
      {"Minimum", [](double a, double b) { return std::min(a, b); }},
      {"SquaredDifference", [](double a, double b) { return (a - b) * (a - b); }},
  };
  const auto av = RandomValues(1000, 5, 0.1, 2.0), bv = RandomValues(1000, 6, 0.1, 2.0);
  for (const Case& c : cases) {
    CAPTURE(c.op);
    elementwise::OpCode code;
    REQUIRE(elementwise::OpCodeForTfOp(c.op, &code));
    std::vector<std::string> program;
    // Shift/scale the input for ops whose interesting region is elsewhere (see the lambdas).
    if (c.op == "Relu" || c.op == "Elu") {
      program = {"Sub i0 i1", c.op + " r0"};
    } else if (c.op == "Relu6") {
      program = {"Mul i0 i1", "Sub r0 i2", c.op + " r1"};
    } else if (c.op == "Floor" || c.op == "Ceil") {
      program = {"Mul i0 i1", c.op + " r0"};
    } else {
      program = {elementwise::IsBinary(code) ? c.op + " i0 i1" : c.op + " i0"};
    }
    std::vector<Tensor> inputs = {MakeTensor<double>(av, {1000})};
    std::vector<double> want(1000);
    for (int i = 0; i < 1000; ++i) want[i] = c.f(av[i], bv[i]);
    if (c.op == "Relu" || c.op == "Elu") {
      inputs.push_back(MakeTensor<double>({1.0}, {}));
    } else if (c.op == "Relu6") {
      inputs.push_back(MakeTensor<double>({4.0}, {}));
      inputs.push_back(MakeTensor<double>({1.0}, {}));
    } else if (c.op == "Floor" || c.op == "Ceil") {
      inputs.push_back(MakeTensor<double>({3.0}, {}));
    } else if (elementwise::IsBinary(code)) {
      inputs.push_back(MakeTensor<double>(bv, {1000}));
    }
    AttrMap attrs;
    attrs["N"] = MakeAttr(static_cast<int64_t>(inputs.size()));
    attrs["program"] = MakeAttr(program);
    auto out = nn_test::RunKernel("_FusedElementwise", attrs, inputs);
    REQUIRE(out.ok());
    CHECK(MaxError(ToDoubles<double>((*out)[0]), want) < 1e-12);
  }
}

TEST_CASE("_FusedElementwise kernel: fused instruction pairs", "[passes][elementwise_fusion]") {
  // Neg+Square run as one loop, then Neg alone: -((-a)^2) = -a^2; Sub+Abs as the last pair
  // writing the output; two binary ops in one loop. 3000 elements: several blocks and a tail.
  const auto av = RandomValues(3000, 7, -3, 3), bv = RandomValues(3000, 8, -3, 3);
  struct Case {
    std::vector<std::string> program;
    std::function<double(double, double)> f;
  };
  const std::vector<Case> cases = {
      {{"Neg i0", "Square r0", "Neg r1"}, [](double a, double) { return -a * a; }},
      {{"Mul i0 i0", "Sub r0 i1", "Abs r1"},
       [](double a, double b) { return std::abs(a * a - b); }},
      {{"Mul i0 i1", "Add r0 i0", "Relu r1"},  // binary pair, then a unary
       [](double a, double b) { return std::max(a * b + a, 0.0); }},
      {{"Sub i0 i1", "Maximum i1 r0"},  // binary pair, the result as the second operand
       [](double a, double b) { return std::max(b, a - b); }},
      {{"Maximum i0 i1", "Relu6 r0", "Reciprocal r1", "Neg r2"},
       [](double a, double b) { return -1 / std::min(std::max(std::max(a, b), 0.0), 6.0); }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.program);
    AttrMap attrs;
    attrs["N"] = MakeAttr(int64_t{2});
    attrs["program"] = MakeAttr(c.program);
    auto out =
        nn_test::RunKernel("_FusedElementwise", attrs,
                           {MakeTensor<float>(av, {3, 1000}), MakeTensor<float>(bv, {3, 1000})});
    REQUIRE(out.ok());
    std::vector<double> want(3000);
    for (int i = 0; i < 3000; ++i)
      want[i] = c.f(static_cast<float>(av[i]), static_cast<float>(bv[i]));
    CHECK(MaxError(ToDoubles<float>((*out)[0]), want) < 1e-6);
  }
}

TEST_CASE("_FusedElementwise kernel: errors name the node", "[passes][elementwise_fusion]") {
  AttrMap attrs;
  attrs["N"] = MakeAttr(int64_t{2});
  attrs["program"] = MakeAttr(std::vector<std::string>{"Add i0 i1"});
  auto out = nn_test::RunKernel(
      "_FusedElementwise", attrs,
      {MakeTensor<float>(RandomValues(6, 1), {2, 3}), MakeTensor<float>(RandomValues(4, 1), {4})});
  REQUIRE(!out.ok());
  CHECK(nn_test::Contains(out.status(), "incompatible shapes for broadcasting: [2,3] vs [4]"));
  attrs["program"] = MakeAttr(std::vector<std::string>{"Add i0 i2"});
  out = nn_test::RunKernel("_FusedElementwise", attrs,
                           {MakeTensor<float>({1}, {1}), MakeTensor<float>({1}, {1})});
  REQUIRE(!out.ok());
  CHECK(nn_test::Contains(out.status(), "bad operand 'i2'"));
}

}  // namespace
}  // namespace quiver
