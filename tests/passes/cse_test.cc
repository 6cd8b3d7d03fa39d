// CsePass on hand-built graphs: duplicates merge (commutative inputs in any order);
// stateful ops, variable reads, other devices, other attrs and fetched duplicates stay.
#include <catch2/catch.hpp>

#include "graph/builder.h"
#include "passes/cse_pass.h"

namespace quiver {
namespace {

PassStats RunCse(Graph* graph, const PassContext& ctx) {
  CsePass pass;
  auto stats = pass.Run(graph, ctx);
  REQUIRE(stats.ok());
  REQUIRE(VerifyGraph(graph).ok());
  return *stats;
}

TEST_CASE("cse merges duplicates, commutative ones in either order", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto a1 = Relu(x, "a1");
  auto a2 = Relu(x, "a2");
  auto s1 = b.Op("AddV2", {a1, x}, {}, "s1");
  auto s2 = b.Op("AddV2", {x, a2}, {}, "s2");  // equal to s1 once a2 is a1
  auto d1 = b.Op("Sub", {a1, x}, {}, "d1");
  auto d2 = b.Op("Sub", {x, a1}, {}, "d2");  // not commutative: stays
  b.Op("AddN", {s1, s2, d1, d2}, {}, "out");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out"};
  PassStats stats = RunCse(&graph, ctx);
  CHECK(stats.nodes_removed == 2);
  CHECK(graph.FindNode("a2") == nullptr);
  CHECK(graph.FindNode("s2") == nullptr);
  CHECK(graph.FindNode("d2") != nullptr);
  Node* out = graph.FindNode("out");
  CHECK(out->input(0).node == graph.FindNode("s1"));
  CHECK(out->input(1).node == graph.FindNode("s1"));
}

TEST_CASE("cse leaves stateful ops, variable reads, devices and attrs apart", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto shape = b.Const(Tensor::FromVector<int32_t>({2}, {1}), "shape");
  auto r1 = b.Op("RandomUniform", {shape}, {{"dtype", MakeAttr(DT_FLOAT)}}, "r1");
  auto r2 = b.Op("RandomUniform", {shape}, {{"dtype", MakeAttr(DT_FLOAT)}}, "r2");
  auto v = b.Variable(b.Zeros({2}), "v");
  // Consumers, so that none of the candidates is an implicit output (those are kept anyway).
  Neg(Identity(v.ref, "read1"));
  Neg(Identity(v.ref, "read2"));
  Neg(Cast(Cast(r1, DT_INT32, "c1"), DT_FLOAT));
  Neg(Cast(Cast(r1, DT_DOUBLE, "c2"), DT_FLOAT));
  Output n1;
  {
    auto dev = b.device("/cpu:0");
    n1 = Neg(r2, "n1");
  }
  Neg(n1);
  Neg(Neg(r2, "n2"));
  REQUIRE(b.status().ok());
  const int before = graph.num_nodes();
  PassStats stats = RunCse(&graph, PassContext{});
  CHECK(stats.nodes_removed == 0);
  CHECK(graph.num_nodes() == before);
}

TEST_CASE("cse without fetches keeps duplicate outputs", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  Relu(x, "a1");
  Relu(x, "a2");
  REQUIRE(b.status().ok());
  PassStats stats = RunCse(&graph, PassContext{});
  CHECK(stats.nodes_removed == 0);
  CHECK(graph.num_nodes() == 3);
}

TEST_CASE("cse keeps a fetched duplicate", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto a1 = Relu(x, "a1");
  auto a2 = Relu(x, "a2");
  auto a3 = Relu(x, "a3");
  b.Op("AddN", {a1, a2, a3}, {}, "out");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out", "a2:0"};
  PassStats stats = RunCse(&graph, ctx);
  CHECK(stats.nodes_removed == 1);  // a3 merges into a1; a2 is fetched
  CHECK(graph.FindNode("a2") != nullptr);
  CHECK(graph.FindNode("a3") == nullptr);
  CHECK(stats.notes.size() == 1);
}

TEST_CASE("cse moves control consumers to the kept node", "[passes]") {
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto a1 = Relu(x, "a1");
  auto a2 = Relu(x, "a2");
  Node* g = Group(b, {a2.node()}, "g");
  b.Op("AddN", {a1, a2}, {}, "out");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out"};
  ctx.targets = {"g"};
  RunCse(&graph, ctx);
  REQUIRE(g->control_in_edges().size() == 1);
  CHECK(g->control_in_edges()[0]->src == graph.FindNode("a1"));
}

}  // namespace
}  // namespace quiver
