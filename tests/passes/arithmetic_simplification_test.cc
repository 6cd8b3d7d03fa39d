// ArithmeticSimplificationPass on hand-built graphs: no-ops disappear; shape-changing
// broadcasts, variable reads and fetched nodes stay.
#include <catch2/catch.hpp>

#include "graph/builder.h"
#include "passes/arithmetic_simplification_pass.h"

namespace quiver {
namespace {

PassStats RunSimplify(Graph* graph, const PassContext& ctx) {
  ArithmeticSimplificationPass pass;
  auto stats = pass.Run(graph, ctx);
  REQUIRE(stats.ok());
  REQUIRE(VerifyGraph(graph).ok());
  return *stats;
}

TEST_CASE("x*1, 0+x and x-0 become x when the shape is unchanged", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
  auto y = b.Op("Mul", {x, b.Scalar(1.0, DT_FLOAT, "one")}, {}, "y");
  auto z = b.Op("AddV2", {b.Scalar(0.0, DT_FLOAT, "zero"), y}, {}, "z");
  auto w = b.Op("Sub", {z, b.Scalar(0.0, DT_FLOAT, "zero2")}, {}, "w");
  Neg(w, "out");
  REQUIRE(b.status().ok());
  REQUIRE(graph.num_nodes() == 8);
  PassContext ctx;
  ctx.fetches = {"out"};
  PassStats stats = RunSimplify(&graph, ctx);
  CHECK(stats.nodes_removed == 6);  // y, z, w and their three constants
  CHECK(graph.num_nodes() == 2);
  CHECK(graph.FindNode("out")->input(0).node == graph.FindNode("x"));
}

TEST_CASE("x*1 that broadcasts or has unknown shape, and 0-x, stay", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {3}, "x");
  auto ones = b.Const(Tensor::FromVector<float>({1, 1, 1, 1, 1, 1}, {2, 3}), "ones");
  b.Op("Mul", {x, ones}, {}, "broadcast");  // [2,3], not x's [3]
  auto u = b.Placeholder(DT_FLOAT, {-1, 3}, "u");
  b.Op("Mul", {u, b.Scalar(1.0, DT_FLOAT, "one")}, {}, "unknown");
  b.Op("Sub", {b.Scalar(0.0, DT_FLOAT, "zero"), x}, {}, "negate");
  REQUIRE(b.status().ok());
  const int before = graph.num_nodes();
  PassStats stats = RunSimplify(&graph, PassContext{});
  CHECK(stats.nodes_removed == 0);
  CHECK(graph.num_nodes() == before);
}

TEST_CASE("identity chains are bypassed, variable reads and fetched identities are not",
          "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto i1 = Identity(x, "i1");
  auto i2 = Identity(i1, "i2");
  Neg(i2, "out");
  auto v = b.Variable(b.Zeros({2}), "v");
  Neg(v.value, "out_v");
  auto kept = Identity(x, "kept");
  Neg(kept, "out_kept");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out", "out_v", "out_kept", "kept"};
  PassStats stats = RunSimplify(&graph, ctx);
  CHECK(stats.nodes_removed == 2);
  CHECK(graph.FindNode("out")->input(0).node == graph.FindNode("x"));
  CHECK(graph.FindNode("v/read") != nullptr);
  CHECK(graph.FindNode("kept") != nullptr);
}

TEST_CASE("without fetches an unconsumed identity is an output and stays", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  Identity(Identity(x, "inner"), "result");
  REQUIRE(b.status().ok());
  PassStats stats = RunSimplify(&graph, PassContext{});
  CHECK(stats.nodes_removed == 1);  // inner
  CHECK(graph.FindNode("result")->input(0).node == graph.FindNode("x"));
}

TEST_CASE("bypassing keeps control edges", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto dep = Relu(x, "dep");
  Output i;
  {
    auto deps = b.control_dependencies({dep.node()});
    i = Identity(x, "i");
  }
  Neg(i, "out");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out"};
  RunSimplify(&graph, ctx);
  Node* out = graph.FindNode("out");
  CHECK(graph.FindNode("i") == nullptr);
  REQUIRE(out->control_in_edges().size() == 1);
  CHECK(out->control_in_edges()[0]->src == graph.FindNode("dep"));
}

TEST_CASE("inverse transposes, same-dtype casts and same-shape reshapes vanish", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2, 3, 4}, "x");
  auto t = Transpose(Transpose(x, {1, 2, 0}, "t1"), {2, 0, 1}, "t2");  // inverse: x
  Transpose(Transpose(x, {1, 2, 0}, "k1"), {1, 2, 0}, "k2");           // not inverse
  auto c = Cast(t, DT_FLOAT, "c");
  auto r = Reshape(c, {2, 3, 4}, "r");
  Reshape(x, {6, 4}, "r2");
  Cast(x, DT_INT32, "c2");
  b.Op("AddN", {r, x}, {}, "out");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out", "k2", "r2", "c2"};
  PassStats stats = RunSimplify(&graph, ctx);
  // t1, t2 with their perms, c, r with its shape.
  CHECK(stats.nodes_removed == 7);
  CHECK(graph.FindNode("out")->input(0).node == graph.FindNode("x"));
  for (const char* name : {"k1", "k2", "r2", "c2"}) CHECK(graph.FindNode(name) != nullptr);
}

TEST_CASE("Mul(x, x) becomes Square(x) under the same name", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto sq = b.Op("Mul", {x, x}, {}, "sq");
  Neg(sq, "out");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out", "sq"};
  PassStats stats = RunSimplify(&graph, ctx);
  CHECK(stats.nodes_changed == 1);
  Node* n = graph.FindNode("sq");
  REQUIRE(n != nullptr);
  CHECK(n->op() == "Square");
  CHECK(graph.FindNode("out")->input(0).node == n);
}

}  // namespace
}  // namespace quiver
