// BatchNormFoldingPass: a hand-derived 1x1 convolution case (folded filter and bias checked
// against values worked out on paper), Conv2D/DepthwiseConv2dNative/MatMul graphs whose
// folded (and then fused) versions must compute what the unfolded graphs compute in a
// Session, and every reason not to fold noted.
#include <catch2/catch.hpp>

#include "graph/builder.h"
#include "passes/batch_norm_folding_pass.h"
#include "runtime/session.h"
#include "tests/devices/nn_test_util.h"
#include "tests/passes/pass_test_util.h"

namespace quiver {
namespace {

using namespace pass_test;  // NOLINT: the shared pass-test helpers (pass_test_util.h)

PassStats RunPass(Graph* graph, const PassContext& ctx) {
  return RunPassAndVerify<BatchNormFoldingPass>(graph, ctx);
}

AttrMap BnAttrs(bool training = false, float eps = 1e-3f) {
  AttrMap a;
  a["epsilon"] = MakeAttr(eps);
  a["is_training"] = MakeAttr(training);
  return a;
}

std::vector<double> ConstValues(const Node* n) {
  auto t = n->GetAttr<Tensor>("value");
  REQUIRE(t.ok());
  return ToDoubles<float>(*t);
}

TEST_CASE("batch norm folding: a 1x1 convolution worked out by hand", "[passes][bn_folding]") {
  // x = [1, 2]; W (ci x co) = [[1, 2], [3, 4]]: conv = [7, 10].
  // scale [2, 0.5], offset [1, 0], mean [5, 2], variance [3.999, 0.999], eps 0.001:
  //   s = scale / sqrt(var + eps) = [1, 0.5]; y = (conv - mean) * s + offset = [3, 4].
  //   W' = W * s per output channel = [[1, 1], [3, 2]]; bias' = (0 - mean) * s + offset
  //   = [-4, -1].
  Graph graph;
  GraphBuilder b(&graph);
  Output x = b.Placeholder(DT_FLOAT, {1, 1, 1, 2}, "x");
  Output w = b.Const(MakeTensor<float>({1, 2, 3, 4}, {1, 1, 2, 2}), "w");
  Output conv = Conv2D(x, w, {1, 1, 1, 1}, "VALID", "conv");
  auto vec = [&](std::vector<double> v, const std::string& name) {
    return b.Const(MakeTensor<float>(v, {2}), name);
  };
  b.Op("FusedBatchNormV3",
       {conv, vec({2, 0.5}, "scale"), vec({1, 0}, "offset"), vec({5, 2}, "mean"),
        vec({3.999, 0.999}, "var")},
       BnAttrs(), "bn");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"bn"};
  PassStats stats = RunPass(&graph, ctx);
  CHECK(stats.notes.empty());
  REQUIRE(stats.changes.size() == 1);
  Node* bn = graph.FindNode("bn");
  REQUIRE(bn->op() == "BiasAdd");
  CHECK(bn->input(0).node->name() == "conv");
  CHECK(MaxError(ConstValues(bn->input(1).node), {-4, -1}) < 1e-6);
  CHECK(MaxError(ConstValues(graph.FindNode("conv")->input(1).node), {1, 1, 3, 2}) < 1e-6);
  CHECK(CountOp(graph, "FusedBatchNormV3") == 0);
  CHECK(graph.FindNode("scale") == nullptr);  // the parameters are gone
  CHECK(graph.FindNode("w") == nullptr);
  CHECK(MaxError(RunGraph(graph, {{"x", MakeTensor<float>({1, 2}, {1, 1, 1, 2})}}, "bn"), {3, 4}) <
        1e-5);
}

// x[2,7,7,3] -> conv (3x3 or depthwise) [-> BiasAdd] -> batch norm -> Relu.
struct ConvBn {
  Graph graph;
  Output conv, bias_add, bn, act;
};

void BuildConvBn(ConvBn* g, const std::string& conv_op, bool with_bias, const std::string& bn_op,
                 bool training = false) {
  GraphBuilder b(&g->graph);
  Output x = b.Placeholder(DT_FLOAT, {2, 7, 7, 3}, "x");
  const int64_t co = conv_op == "Conv2D" ? 5 : 6;  // depthwise: 3 channels x multiplier 2
  Output w = b.Const(MakeTensor<float>(RandomValues(3 * 3 * 3 * (co == 5 ? 5 : 2), 11),
                                       {3, 3, 3, co == 5 ? 5 : 2}),
                     "w");
  AttrMap conv_attrs;
  conv_attrs["strides"] = MakeAttr(std::vector<int64_t>{1, 1, 1, 1});
  conv_attrs["padding"] = MakeAttr("SAME");
  g->conv = b.Op(conv_op, {x, w}, conv_attrs, "conv");
  Output t = g->conv;
  if (with_bias) {
    t = g->bias_add = BiasAdd(t, b.Const(MakeTensor<float>(RandomValues(co, 12), {co}), "b"), "ba");
  }
  auto param = [&](uint32_t seed, double lo, double hi, const std::string& name) {
    return b.Const(MakeTensor<float>(RandomValues(co, seed, lo, hi), {co}), name);
  };
  g->bn = b.Op(bn_op,
               {t, param(13, 0.5, 2, "scale"), param(14, -1, 1, "offset"),
                param(15, -0.5, 0.5, "mean"), param(16, 0.1, 2, "var")},
               BnAttrs(training), "bn");
  g->act = Relu(g->bn, "act");
  REQUIRE(b.status().ok());
}

TEST_CASE("batch norm folding: folded and fused graphs match the Session's unfolded results",
          "[passes][bn_folding]") {
  const Tensor x = MakeTensor<float>(RandomValues(2 * 7 * 7 * 3, 17, -2, 2), {2, 7, 7, 3});
  for (const char* conv_op : {"Conv2D", "DepthwiseConv2dNative"}) {
    for (bool with_bias : {false, true}) {
      for (const char* bn_op : {"FusedBatchNorm", "FusedBatchNormV3"}) {
        CAPTURE(conv_op, with_bias, bn_op);
        ConvBn g;
        BuildConvBn(&g, conv_op, with_bias, bn_op);
        Graph unfolded;
        REQUIRE(unfolded.CopyFrom(g.graph).ok());
        const std::vector<double> want = RunGraph(unfolded, {{"x", x}}, "act");
        PassContext ctx;
        ctx.fetches = {"act"};
        auto report = PassManager::Default().Run(&g.graph, ctx);
        REQUIRE(report.ok());
        CHECK(CountOp(g.graph, bn_op) == 0);
        if (std::string(conv_op) == "Conv2D") {
          // conv + bias + relu: one fused node (and x, its filter and bias).
          CHECK(g.graph.FindNode("act")->op() == "_FusedConv2D");
          CHECK(g.graph.num_nodes() == 4);
        }
        CHECK(MaxError(RunGraph(g.graph, {{"x", x}}, "act"), want) < 1e-5);
      }
    }
  }
}

TEST_CASE("batch norm folding: TF's decomposed form (Mul, Add by constants) after MatMul",
          "[passes][bn_folding]") {
  // y = relu((x W + b) * s + t) with s, t per column: folds to x W' + b', then _FusedMatMul.
  for (bool with_bias : {false, true}) {
    CAPTURE(with_bias);
    Graph graph;
    GraphBuilder b(&graph);
    Output x = b.Placeholder(DT_FLOAT, {3, 4}, "x");
    Output t = MatMul(x, b.Const(MakeTensor<float>(RandomValues(20, 21), {4, 5}), "w"), {}, "mm");
    if (with_bias) t = BiasAdd(t, b.Const(MakeTensor<float>(RandomValues(5, 22), {5}), "b"), "ba");
    t = b.Op("Mul", {t, b.Const(MakeTensor<float>(RandomValues(5, 23, 0.5, 2), {5}), "s")}, {},
             "mul");
    t = b.Op("AddV2", {t, b.Const(MakeTensor<float>(RandomValues(5, 24), {5}), "t")}, {}, "add");
    Relu(t, "out");
    REQUIRE(b.status().ok());
    Graph unfolded;
    REQUIRE(unfolded.CopyFrom(graph).ok());
    const Tensor xv = MakeTensor<float>(RandomValues(12, 25, -2, 2), {3, 4});
    PassContext ctx;
    ctx.fetches = {"out"};
    auto report = PassManager::Default().Run(&graph, ctx);
    REQUIRE(report.ok());
    CAPTURE(report->ToString());
    CHECK(graph.FindNode("mul") == nullptr);
    CHECK(graph.FindNode("out")->op() == "_FusedMatMul");
    CHECK(graph.num_nodes() == 4);  // x, W', bias, out
    CHECK(MaxError(RunGraph(graph, {{"x", xv}}, "out"), RunGraph(unfolded, {{"x", xv}}, "out")) <
          1e-5);
  }
}

TEST_CASE("batch norm folding: each reason not to fold is noted", "[passes][bn_folding]") {
  PassContext ctx;
  ctx.fetches = {"act"};
  SECTION("training") {
    ConvBn g;
    BuildConvBn(&g, "Conv2D", false, "FusedBatchNormV3", /*training=*/true);
    PassStats stats = RunPass(&g.graph, ctx);
    CHECK(HasNote(stats, "bn (FusedBatchNormV3): not folded: is_training=true"));
    CHECK(g.graph.FindNode("bn")->op() == "FusedBatchNormV3");
  }
  SECTION("the convolution has a second consumer") {
    ConvBn g;
    BuildConvBn(&g, "Conv2D", false, "FusedBatchNormV3");
    GraphBuilder b(&g.graph);
    b.Op("Neg", {g.conv}, {}, "other");
    ctx.fetches.push_back("other");
    PassStats stats = RunPass(&g.graph, ctx);
    CHECK(HasNote(stats, "bn (FusedBatchNormV3): not folded: conv has another consumer (other)"));
    CHECK(g.graph.FindNode("bn")->op() == "FusedBatchNormV3");
  }
  SECTION("the bias add is fetched") {
    ConvBn g;
    BuildConvBn(&g, "Conv2D", true, "FusedBatchNorm");
    ctx.fetches.push_back("ba");
    PassStats stats = RunPass(&g.graph, ctx);
    CHECK(HasNote(stats, "bn (FusedBatchNorm): not folded: ba is fetched or targeted"));
  }
  SECTION("a statistic is not a constant") {
    ConvBn g;
    BuildConvBn(&g, "Conv2D", false, "FusedBatchNormV3");
    ctx.feeds = {"mean"};
    PassStats stats = RunPass(&g.graph, ctx);
    CHECK(HasNote(stats, "bn (FusedBatchNormV3): not folded: mean (mean) is not a constant"));
  }
  SECTION("a batch statistic output is used") {
    ConvBn g;
    BuildConvBn(&g, "Conv2D", false, "FusedBatchNormV3");
    GraphBuilder b(&g.graph);
    Neg(Output(&b, g.bn.node(), 1), "stat");
    ctx.fetches.push_back("stat");
    PassStats stats = RunPass(&g.graph, ctx);
    CHECK(HasNote(stats, "bn (FusedBatchNormV3): not folded: its output 1 is used by stat"));
  }
}

}  // namespace
}  // namespace quiver
