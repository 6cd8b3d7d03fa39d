// FusionPass on hand-built graphs (what fuses, what does not and the note saying why; fused
// graphs compute what the unfused ones do in a Session), and the _FusedMatMul/_FusedConv2D
// CPU kernels against the unfused ops for every activation.
#include <catch2/catch.hpp>

#include <set>

#include "graph/builder.h"
#include "passes/fusion_pass.h"
#include "runtime/session.h"
#include "tests/devices/nn_test_util.h"
#include "tests/passes/pass_test_util.h"

namespace quiver {
namespace {

using namespace pass_test;  // NOLINT: the shared pass-test helpers (pass_test_util.h)

PassStats RunFusion(Graph* graph, const PassContext& ctx) {
  return RunPassAndVerify<FusionPass>(graph, ctx);
}

// x[4,3] -> MatMul(W[3,5]) -> BiasAdd(b[5]) -> Relu: a dense layer.
struct Mlp {
  Graph graph;
  Output x, mm, ba, act;
};

void BuildMlp(Mlp* m, DataType dtype = DT_FLOAT) {
  GraphBuilder b(&m->graph);
  m->x = b.Placeholder(dtype, {4, 3}, "x");
  Output w = b.Const(dtype == DT_FLOAT ? MakeTensor<float>(RandomValues(15, 1), {3, 5})
                                       : MakeTensor<double>(RandomValues(15, 1), {3, 5}),
                     "w");
  Output bias = b.Const(dtype == DT_FLOAT ? MakeTensor<float>(RandomValues(5, 2), {5})
                                          : MakeTensor<double>(RandomValues(5, 2), {5}),
                        "b");
  m->mm = MatMul(m->x, w, {}, "MatMul");
  m->ba = BiasAdd(m->mm, bias, "BiasAdd");
  m->act = Relu(m->ba, "Relu");
  REQUIRE(b.status().ok());
}

TEST_CASE("fusion: MatMul+BiasAdd+Relu becomes one _FusedMatMul", "[passes][fusion]") {
  Mlp m;
  BuildMlp(&m);
  Graph unfused;
  REQUIRE(unfused.CopyFrom(m.graph).ok());
  PassContext ctx;
  ctx.fetches = {"Relu"};
  PassStats stats = RunFusion(&m.graph, ctx);
  CHECK(stats.notes.empty());
  CHECK(stats.nodes_removed == 3);
  CHECK(stats.nodes_added == 1);
  CHECK(m.graph.num_nodes() == unfused.num_nodes() - 2);
  Node* fused = m.graph.FindNode("Relu");  // the last node's name carries over
  REQUIRE(fused != nullptr);
  CHECK(fused->op() == "_FusedMatMul");
  CHECK(*fused->GetAttr<std::vector<std::string>>("fused_ops") ==
        std::vector<std::string>{"BiasAdd", "Relu"});
  CHECK(CountOp(m.graph, "MatMul") == 0);
  CHECK(CountOp(m.graph, "BiasAdd") == 0);

  const Tensor x = MakeTensor<float>(RandomValues(12, 3), {4, 3});
  CHECK(MaxError(RunGraph(m.graph, {{"x", x}}, "Relu"), RunGraph(unfused, {{"x", x}}, "Relu")) <
        1e-5);
}

TEST_CASE("fusion: a /gpu:0 request fuses only where soft placement will put it on the CPU",
          "[passes][fusion]") {
  auto build = [](Mlp* m) {
    BuildMlp(m);
    for (Node* n : m->graph.nodes()) n->set_requested_device("/device:GPU:0");
  };
  PassContext ctx;
  ctx.fetches = {"Relu"};
  SECTION("offline (devices unknown): the request is taken at its word") {
    Mlp m;
    build(&m);
    PassStats stats = RunFusion(&m.graph, ctx);
    CHECK(HasNote(stats, "has no _FusedMatMul kernel"));  // no GPU kernels registered here
    CHECK(CountOp(m.graph, "_FusedMatMul") == 0);
  }
  SECTION("a CPU-only session with soft placement: the layer runs on the CPU, so it fuses") {
    Mlp m;
    build(&m);
    ctx.device_types = {"CPU"};
    ctx.allow_soft_placement = true;
    RunFusion(&m.graph, ctx);
    CHECK(CountOp(m.graph, "_FusedMatMul") == 1);
    CHECK(m.graph.FindNode("Relu")->requested_device() == "/device:GPU:0");  // request kept
  }
  SECTION("without soft placement, or with a GPU present, nothing fuses") {
    for (const std::set<std::string>& types :
         {std::set<std::string>{"CPU"}, std::set<std::string>{"CPU", "GPU"}}) {
      Mlp m;
      build(&m);
      ctx.device_types = types;
      ctx.allow_soft_placement = types.count("GPU") > 0;
      RunFusion(&m.graph, ctx);
      CHECK(CountOp(m.graph, "_FusedMatMul") == 0);
    }
  }
}

TEST_CASE("fusion: a Session on a CPU-only machine fuses a model built under /gpu:0",
          "[passes][fusion][session]") {
  Mlp m;
  BuildMlp(&m);
  for (Node* n : m.graph.nodes()) n->set_requested_device("/gpu:0");
  SessionOptions options;
  options.allow_soft_placement = true;
  auto session = Session::Create(m.graph, options);
  REQUIRE(session.ok());
  RunMetadata metadata;
  metadata.collect_node_stats = true;
  const Tensor x = MakeTensor<float>(RandomValues(12, 3), {4, 3});
  auto out = (*session)->Run({{"x", x}}, {"Relu"}, {}, &metadata);
  REQUIRE(out.ok());
  int fused = 0, matmul = 0;
  for (const auto& s : metadata.node_stats) {
    fused += s.op == "_FusedMatMul";
    matmul += s.op == "MatMul";
  }
  CHECK(fused == 1);
  CHECK(matmul == 0);
  Mlp reference;
  BuildMlp(&reference);
  CHECK(MaxError(ToDoubles<float>((*out)[0]), RunGraph(reference.graph, {{"x", x}}, "Relu")) <
        1e-5);
}

TEST_CASE("fusion: MatMul + AddV2 of a [N] bias is a BiasAdd; consumers are rewired",
          "[passes][fusion]") {
  Graph graph;
  GraphBuilder b(&graph);
  Output x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
  Output w = b.Const(MakeTensor<float>(RandomValues(12, 4), {3, 4}), "w");
  Output bias = b.Const(MakeTensor<float>(RandomValues(4, 5), {4}), "bias");
  Output y = b.Op("AddV2", {bias, MatMul(x, w, {}, "mm")}, {}, "y");  // bias first
  Output z = Sigmoid(y, "z");
  b.Op("Neg", {z}, {}, "out");
  REQUIRE(b.status().ok());
  Graph unfused;
  REQUIRE(unfused.CopyFrom(graph).ok());
  PassContext ctx;
  ctx.fetches = {"out"};
  PassStats stats = RunFusion(&graph, ctx);
  CHECK(stats.notes.empty());
  Node* fused = graph.FindNode("z");
  REQUIRE(fused != nullptr);
  CHECK(fused->op() == "_FusedMatMul");
  CHECK(fused->input(2).node->name() == "bias");
  CHECK(graph.FindNode("out")->input(0).node == fused);
  const Tensor xv = MakeTensor<float>(RandomValues(6, 6), {2, 3});
  CHECK(MaxError(RunGraph(graph, {{"x", xv}}, "out"), RunGraph(unfused, {{"x", xv}}, "out")) <
        1e-5);
}

TEST_CASE("fusion: Conv2D+BiasAdd+Relu becomes one _FusedConv2D", "[passes][fusion]") {
  Graph graph;
  GraphBuilder b(&graph);
  Output x = b.Placeholder(DT_FLOAT, {2, 6, 6, 3}, "x");
  Output f = b.Const(MakeTensor<float>(RandomValues(3 * 3 * 3 * 4, 7), {3, 3, 3, 4}), "f");
  Output bias = b.Const(MakeTensor<float>(RandomValues(4, 8), {4}), "bias");
  Output conv = Conv2D(x, f, {1, 2, 2, 1}, "SAME", "conv");
  Relu(BiasAdd(conv, bias, "ba"), "act");
  REQUIRE(b.status().ok());
  Graph unfused;
  REQUIRE(unfused.CopyFrom(graph).ok());
  PassContext ctx;
  ctx.fetches = {"act:0"};
  PassStats stats = RunFusion(&graph, ctx);
  CHECK(stats.notes.empty());
  CHECK(graph.num_nodes() == 4);  // x, f, bias, act
  Node* fused = graph.FindNode("act");
  REQUIRE(fused != nullptr);
  CHECK(fused->op() == "_FusedConv2D");
  CHECK(fused->output_shape(0) == TensorShape{2, 3, 3, 4});
  const Tensor xv = MakeTensor<float>(RandomValues(2 * 6 * 6 * 3, 9), {2, 6, 6, 3});
  CHECK(MaxError(RunGraph(graph, {{"x", xv}}, "act"), RunGraph(unfused, {{"x", xv}}, "act")) <
        1e-5);
}

TEST_CASE("fusion: a BiasAdd with two consumers fuses without the activation", "[passes][fusion]") {
  Mlp m;
  BuildMlp(&m);
  GraphBuilder b(&m.graph);
  b.Op("Neg", {m.ba}, {}, "other");
  PassContext ctx;
  ctx.fetches = {"Relu", "other"};
  PassStats stats = RunFusion(&m.graph, ctx);
  CHECK(HasNote(stats, "MatMul+BiasAdd+Relu: BiasAdd has 2 consumers"));
  CHECK(m.graph.FindNode("BiasAdd")->op() == "_FusedMatMul");
  CHECK(m.graph.FindNode("Relu")->op() == "Relu");
}

TEST_CASE("fusion: each reason not to fuse is noted and nothing changes", "[passes][fusion]") {
  PassContext ctx;
  ctx.fetches = {"Relu"};
  SECTION("second consumer") {
    Mlp m;
    BuildMlp(&m);
    GraphBuilder b(&m.graph);
    b.Op("Neg", {m.mm}, {}, "other");
    ctx.fetches.push_back("other");
    const int before = m.graph.num_nodes();
    PassStats stats = RunFusion(&m.graph, ctx);
    CHECK(HasNote(stats, "MatMul+BiasAdd+Relu: MatMul has 2 consumers"));
    CHECK(m.graph.num_nodes() == before);
    CHECK(CountOp(m.graph, "_FusedMatMul") == 0);
  }
  SECTION("fetched intermediate") {
    Mlp m;
    BuildMlp(&m);
    ctx.fetches.push_back("MatMul:0");
    PassStats stats = RunFusion(&m.graph, ctx);
    CHECK(HasNote(stats, "MatMul+BiasAdd+Relu: MatMul is fetched or targeted"));
    CHECK(CountOp(m.graph, "_FusedMatMul") == 0);
  }
  SECTION("control edge") {
    Mlp m;
    BuildMlp(&m);
    GraphBuilder b(&m.graph);
    Node* noop = b.OpNode("NoOp", {}, {}, "dep");
    m.graph.AddControlEdge(noop, m.mm.node());
    PassStats stats = RunFusion(&m.graph, ctx);
    CHECK(HasNote(stats, "MatMul+BiasAdd+Relu: MatMul has control inputs"));
    CHECK(CountOp(m.graph, "_FusedMatMul") == 0);
  }
  SECTION("float64 has no fused kernel") {
    Mlp m;
    BuildMlp(&m, DT_DOUBLE);
    const int before = m.graph.num_nodes();
    PassStats stats = RunFusion(&m.graph, ctx);
    CHECK(HasNote(stats, "MatMul+BiasAdd+Relu: no CPU kernel for _FusedMatMul with T=float64"));
    CHECK(m.graph.num_nodes() == before);
    CHECK(CountOp(m.graph, "_FusedMatMul") == 0);
  }
  SECTION("another device") {
    Mlp m;
    BuildMlp(&m);
    m.graph.FindNode("Relu")->set_requested_device("/device:CPU:1");
    PassStats stats = RunFusion(&m.graph, ctx);
    CHECK(HasNote(stats, "Relu is on another device than MatMul"));
    CHECK(CountOp(m.graph, "_FusedMatMul") == 0);
  }
}

// ---- kernels ----------------------------------------------------------------------------

const char* const kActivations[] = {"", "Relu", "Relu6", "Elu", "Tanh", "Sigmoid"};

// The unfused reference: BiasAdd then the activation, through their own kernels.
std::vector<double> Unfused(Tensor value, const Tensor& bias, const std::string& act) {
  auto biased = nn_test::RunKernel("BiasAdd", {}, {value, bias});
  REQUIRE(biased.ok());
  if (act.empty()) return ToDoubles<float>((*biased)[0]);
  auto out = nn_test::RunKernel(act, {}, {(*biased)[0]});
  REQUIRE(out.ok());
  return ToDoubles<float>((*out)[0]);
}

AttrMap FusedAttrs(const std::string& act) {
  AttrMap a;
  a["num_args"] = MakeAttr(int64_t{1});
  std::vector<std::string> ops = {"BiasAdd"};
  if (!act.empty()) ops.push_back(act);
  a["fused_ops"] = MakeAttr(ops);
  return a;
}

TEST_CASE("_FusedMatMul equals MatMul, BiasAdd and each activation", "[passes][fusion]") {
  for (bool tb : {false, true}) {
    const Tensor a = MakeTensor<float>(RandomValues(5 * 7, 21, -3, 3), {5, 7});
    const Tensor w = MakeTensor<float>(RandomValues(7 * 6, 22, -3, 3),
                                       tb ? TensorShape{6, 7} : TensorShape{7, 6});
    const Tensor bias = MakeTensor<float>(RandomValues(6, 23, -3, 3), {6});
    AttrMap mm_attrs;
    mm_attrs["transpose_b"] = MakeAttr(tb);
    auto product = nn_test::RunKernel("MatMul", mm_attrs, {a, w});
    REQUIRE(product.ok());
    for (const char* act : kActivations) {
      CAPTURE(act, tb);
      AttrMap attrs = FusedAttrs(act);
      attrs["transpose_b"] = MakeAttr(tb);
      auto fused = nn_test::RunKernel("_FusedMatMul", attrs, {a, w, bias});
      REQUIRE(fused.ok());
      CHECK(MaxError(ToDoubles<float>((*fused)[0]), Unfused((*product)[0], bias, act)) < 1e-5);
    }
  }
}

TEST_CASE("_FusedConv2D equals Conv2D, BiasAdd and each activation", "[passes][fusion]") {
  const Tensor x = MakeTensor<float>(RandomValues(2 * 5 * 5 * 4, 31, -2, 2), {2, 5, 5, 4});
  const Tensor f = MakeTensor<float>(RandomValues(3 * 3 * 4 * 8, 32, -2, 2), {3, 3, 4, 8});
  const Tensor bias = MakeTensor<float>(RandomValues(8, 33, -2, 2), {8});
  AttrMap conv_attrs;
  conv_attrs["strides"] = MakeAttr(std::vector<int64_t>{1, 1, 1, 1});
  conv_attrs["padding"] = MakeAttr("SAME");
  auto conv = nn_test::RunKernel("Conv2D", conv_attrs, {x, f});
  REQUIRE(conv.ok());
  for (const char* act : kActivations) {
    CAPTURE(act);
    AttrMap attrs = FusedAttrs(act);
    attrs["strides"] = conv_attrs["strides"];
    attrs["padding"] = conv_attrs["padding"];
    auto fused = nn_test::RunKernel("_FusedConv2D", attrs, {x, f, bias});
    REQUIRE(fused.ok());
    CHECK(MaxError(ToDoubles<float>((*fused)[0]), Unfused((*conv)[0], bias, act)) < 1e-5);
  }
}

TEST_CASE("_FusedMatMul rejects unsupported fused_ops", "[passes][fusion]") {
  const Tensor a = MakeTensor<float>(RandomValues(4, 41), {2, 2});
  const Tensor bias = MakeTensor<float>(RandomValues(2, 42), {2});
  auto out = nn_test::RunKernel("_FusedMatMul", FusedAttrs("Softplus"), {a, a, bias});
  REQUIRE(!out.ok());
  CHECK(nn_test::Contains(out.status(), "unsupported fused activation 'Softplus'"));
}

}  // namespace
}  // namespace quiver
