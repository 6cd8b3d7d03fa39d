// ConstantFoldingPass on hand-built graphs: chains fold to one Const with the same name;
// stateful ops, placeholders, fed constants and oversized outputs stay.
#include <catch2/catch.hpp>

#include "graph/builder.h"
#include "passes/constant_folding_pass.h"

namespace quiver {
namespace {

PassStats RunFolding(Graph* graph, const PassContext& ctx) {
  ConstantFoldingPass pass;
  auto stats = pass.Run(graph, ctx);
  REQUIRE(stats.ok());
  REQUIRE(VerifyGraph(graph).ok());
  return *stats;
}

std::vector<float> ConstValue(const Graph& graph, const std::string& name) {
  Node* n = graph.FindNode(name);
  REQUIRE(n != nullptr);
  REQUIRE(n->op() == "Const");
  auto t = n->GetAttr<Tensor>("value");
  REQUIRE(t.ok());
  return t->ToVector<float>();
}

TEST_CASE("constant folding folds a chain into one Const of the same name", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto c1 = b.Const(Tensor::FromVector<float>({1, 2}, {2}), "c1");
  auto c2 = b.Const(Tensor::FromVector<float>({3, 4}, {2}), "c2");
  auto c3 = b.Scalar(2.0, DT_FLOAT, "c3");
  auto s = b.Op("AddV2", {c1, c2}, {}, "s");
  auto m = b.Op("Mul", {s, c3}, {}, "m");
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  b.Op("AddV2", {x, m}, {}, "y");
  REQUIRE(b.status().ok());
  REQUIRE(graph.num_nodes() == 7);
  PassContext ctx;
  ctx.fetches = {"y"};
  PassStats stats = RunFolding(&graph, ctx);
  CHECK(stats.nodes_changed == 2);  // s, then m
  CHECK(stats.nodes_removed == 4);  // c1, c2, c3, and the folded s once m no longer reads it
  CHECK(graph.num_nodes() == 3);    // m, x, y
  CHECK(ConstValue(graph, "m") == std::vector<float>{8, 12});
  CHECK(graph.FindNode("y")->input(1).node == graph.FindNode("m"));
}

TEST_CASE("constant folding keeps control inputs and fetched constants", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto a = Relu(x, "a");
  auto c1 = b.Const(Tensor::FromVector<float>({1, 2}, {2}), "c1");
  auto c2 = b.Const(Tensor::FromVector<float>({3, 4}, {2}), "c2");
  Output s;
  {
    auto deps = b.control_dependencies({a.node()});
    s = b.Op("AddV2", {c1, c2}, {}, "s");
  }
  b.Op("AddV2", {x, s}, {}, "y");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"y", "c1"};  // c1 is fetched: it must survive even when unused
  PassStats stats = RunFolding(&graph, ctx);
  CHECK(stats.nodes_changed == 1);
  CHECK(stats.nodes_removed == 1);  // c2
  CHECK(graph.FindNode("c1") != nullptr);
  Node* folded = graph.FindNode("s");
  REQUIRE(folded->op() == "Const");
  REQUIRE(folded->control_in_edges().size() == 1);
  CHECK(folded->control_in_edges()[0]->src == graph.FindNode("a"));
}

TEST_CASE("constant folding leaves stateful ops, placeholders and fed constants", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto shape = b.Const(Tensor::FromVector<int32_t>({2}, {1}), "shape");
  auto r = b.Op("RandomUniform", {shape}, {{"dtype", MakeAttr(DT_FLOAT)}}, "r");
  auto c = b.Const(Tensor::FromVector<float>({1, 1}, {2}), "c");
  b.Op("AddV2", {r, c}, {}, "noisy");
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  b.Op("AddV2", {x, c}, {}, "from_x");
  auto fed = b.Const(Tensor::FromVector<float>({5, 5}, {2}), "fed");
  b.Op("AddV2", {fed, c}, {}, "from_fed");
  auto v = b.Variable(b.Zeros({2}), "v");
  b.Op("AddV2", {v.value, c}, {}, "from_var");
  REQUIRE(b.status().ok());
  const int before = graph.num_nodes();
  PassContext ctx;
  ctx.feeds = {"fed"};
  PassStats stats = RunFolding(&graph, ctx);
  CHECK(stats.nodes_changed == 0);
  CHECK(graph.num_nodes() == before);
  for (const char* name : {"r", "noisy", "from_x", "from_fed", "from_var", "v/read"}) {
    CHECK(graph.FindNode(name)->op() != "Const");
  }
}

TEST_CASE("constant folding respects the size limit and says so", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto c1 = b.Const(Tensor::FromVector<float>({1, 2, 3, 4}, {4}), "c1");
  auto c2 = b.Const(Tensor::FromVector<float>({1, 2, 3, 4}, {4}), "c2");
  b.Op("AddV2", {c1, c2}, {}, "big");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.max_constant_bytes = 8;  // 4 floats are 16 bytes
  PassStats stats = RunFolding(&graph, ctx);
  CHECK(stats.nodes_changed == 0);
  CHECK(graph.FindNode("big")->op() == "AddV2");
  REQUIRE(stats.notes.size() == 1);
  CHECK(stats.notes[0].find("big") != std::string::npos);
}

}  // namespace
}  // namespace quiver

namespace quiver {
namespace {

// Shape, Size and Rank of statically known shapes (TF Grappler's MaterializeShapes).
TEST_CASE("constant folding materialises Shape, Size and Rank of known shapes", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {4, 3, 2}, "x");
  auto u = b.Placeholder(DT_FLOAT, {-1, 3}, "u");  // batch unknown
  auto r = Relu(x, "r");
  b.Op("Shape", {r}, {}, "shape32");
  b.Op("Shape", {r}, {{"out_type", MakeAttr(DT_INT64)}}, "shape64");
  b.Op("Size", {r}, {}, "size");
  b.Op("Rank", {u}, {}, "rank_u");    // the rank is known even if a dim is not
  b.Op("Shape", {u}, {}, "shape_u");  // not known: stays
  b.Op("Size", {u}, {}, "size_u");    // not known: stays
  REQUIRE(b.status().ok());
  REQUIRE(graph.InferShapes().ok());
  PassContext ctx;
  ctx.fetches = {"shape32", "shape64", "size", "rank_u", "shape_u", "size_u"};
  ctx.feeds = {"x", "u"};
  PassStats stats = RunFolding(&graph, ctx);
  CHECK(stats.nodes_changed == 4);
  auto value = [&](const std::string& name) {
    Node* n = graph.FindNode(name);
    REQUIRE(n != nullptr);
    REQUIRE(n->op() == "Const");
    return *n->GetAttr<Tensor>("value");
  };
  CHECK(value("shape32").ToVector<int32_t>() == std::vector<int32_t>{4, 3, 2});
  CHECK(value("shape64").ToVector<int64_t>() == std::vector<int64_t>{4, 3, 2});
  CHECK(value("size").ToVector<int32_t>() == std::vector<int32_t>{24});
  CHECK(value("size").shape().rank() == 0);
  CHECK(value("rank_u").ToVector<int32_t>() == std::vector<int32_t>{2});
  CHECK(graph.FindNode("shape_u")->op() == "Shape");
  CHECK(graph.FindNode("size_u")->op() == "Size");
  // r feeds nothing now but it is not fetched: removed; the fed placeholders stay.
  CHECK(graph.FindNode("r") == nullptr);
  CHECK(graph.FindNode("x") != nullptr);
}

TEST_CASE("constant folding trusts no static shape when an intermediate tensor is fed",
          "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {4, 3}, "x");
  auto r = Relu(x, "r");  // fed below: its value, and so its shape, may not be the graph's
  b.Op("Shape", {r}, {}, "shape");
  REQUIRE(b.status().ok());
  REQUIRE(graph.InferShapes().ok());
  PassContext ctx;
  ctx.fetches = {"shape"};
  ctx.feeds = {"r"};
  PassStats stats = RunFolding(&graph, ctx);
  CHECK(stats.nodes_changed == 0);
  CHECK(graph.FindNode("shape")->op() == "Shape");
}

}  // namespace
}  // namespace quiver

namespace quiver {
namespace {

TEST_CASE("constant folding folds a multi-output node into one Const per output", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto s0 = b.Const(Tensor::FromVector<int32_t>({2, 3, 4}, {3}), "s0");
  auto s1 = b.Const(Tensor::FromVector<int32_t>({3, 1}, {2}), "s1");
  Node* bga = b.OpNode("BroadcastGradientArgs", {s0, s1}, {}, "bga");
  auto x = b.Placeholder(DT_FLOAT, {2, 3, 4}, "x");
  b.Op("Sum", {x, Output(&b, bga, 0)}, {{"keep_dims", MakeAttr(false)}}, "r0");
  b.Op("Sum", {x, Output(&b, bga, 1)}, {{"keep_dims", MakeAttr(false)}}, "r1");
  REQUIRE(b.status().ok());
  REQUIRE(graph.InferShapes().ok());
  PassContext ctx;
  ctx.fetches = {"r0", "r1"};
  ctx.feeds = {"x"};
  PassStats stats = RunFolding(&graph, ctx);
  CHECK(stats.nodes_changed == 1);
  CHECK(graph.FindNode("bga") == nullptr);
  // Hand-derived: broadcasting [2,3,4] with [3,1] reduces nothing of the first operand and
  // axes 0 and 2 of the second (its missing leading dim and its size-1 dim).
  auto reduced = [&](const std::string& consumer) {
    const Node* c = graph.FindNode(consumer)->input(1).node;
    REQUIRE(c->op() == "Const");
    return c->GetAttr<Tensor>("value")->ToVector<int32_t>();
  };
  CHECK(reduced("r0").empty());
  CHECK(reduced("r1") == std::vector<int32_t>{0, 2});
}

TEST_CASE("constant folding keeps a fetched multi-output node", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto s0 = b.Const(Tensor::FromVector<int32_t>({2, 3}, {2}), "s0");
  auto s1 = b.Const(Tensor::FromVector<int32_t>({3}, {1}), "s1");
  b.OpNode("BroadcastGradientArgs", {s0, s1}, {}, "bga");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"bga:1"};  // fetched by name: its outputs cannot be renamed
  PassStats stats = RunFolding(&graph, ctx);
  CHECK(stats.nodes_changed == 0);
  CHECK(graph.FindNode("bga")->op() == "BroadcastGradientArgs");
}

}  // namespace
}  // namespace quiver
