// PrunePass on hand-built graphs: what fetches, targets, feeds and stateful ops keep alive.
#include <catch2/catch.hpp>

#include "graph/builder.h"
#include "passes/prune_pass.h"

namespace quiver {
namespace {

// x -> a -> y (fetched), x -> unused -> unused2 (dead), and a variable v = zeros with its
// initializer v/Assign and read v/read (nothing reads v/read). 9 nodes.
struct PruneGraph {
  Graph graph;
  GraphBuilder b{&graph};
  Output x, a, y, unused, unused2;
  VariableHandle v;
  PruneGraph() {
    x = b.Placeholder(DT_FLOAT, {2}, "x");
    a = Relu(x, "a");
    y = Neg(a, "y");
    unused = Tanh(x, "unused");
    unused2 = Neg(unused, "unused2");
    v = b.Variable(b.Zeros({2}), "v");
  }
};

PassStats RunPrune(Graph* graph, const PassContext& ctx) {
  PrunePass pass;
  auto stats = pass.Run(graph, ctx);
  REQUIRE(stats.ok());
  REQUIRE(VerifyGraph(graph).ok());
  return *stats;
}

TEST_CASE("prune removes what the fetches and stateful ops do not need", "[passes]") {
  PruneGraph g;
  REQUIRE(g.b.status().ok());
  REQUIRE(g.graph.num_nodes() == 9);
  PassContext ctx;
  ctx.fetches = {"y:0"};
  PassStats stats = RunPrune(&g.graph, ctx);
  // unused, unused2 and v/read; the variable and its initializer are stateful roots.
  CHECK(stats.nodes_removed == 3);
  CHECK(g.graph.num_nodes() == 6);
  CHECK(g.graph.FindNode("unused") == nullptr);
  CHECK(g.graph.FindNode("unused2") == nullptr);
  CHECK(g.graph.FindNode("v/read") == nullptr);
  for (const char* kept : {"x", "a", "y", "v", "v/Assign", "zeros"}) {
    CHECK(g.graph.FindNode(kept) != nullptr);
  }
}

TEST_CASE("prune without fetches keeps every output", "[passes]") {
  PruneGraph g;
  PassStats stats = RunPrune(&g.graph, PassContext{});
  CHECK(stats.nodes_removed == 0);
  CHECK(g.graph.num_nodes() == 9);
}

TEST_CASE("prune keeps what targets reach through control edges", "[passes]") {
  PruneGraph g;
  Group(g.b, {g.unused2.node()}, "g");
  REQUIRE(g.b.status().ok());
  PassContext ctx;
  ctx.fetches = {"y"};
  ctx.targets = {"g"};
  PassStats stats = RunPrune(&g.graph, ctx);
  CHECK(stats.nodes_removed == 1);  // only v/read
  CHECK(g.graph.FindNode("unused2") != nullptr);
  CHECK(g.graph.FindNode("g") != nullptr);
}

TEST_CASE("prune never removes a fed node", "[passes]") {
  PruneGraph g;
  PassContext ctx;
  ctx.fetches = {"y"};
  ctx.feeds = {"unused:0"};
  PassStats stats = RunPrune(&g.graph, ctx);
  CHECK(stats.nodes_removed == 2);  // unused2 and v/read
  CHECK(g.graph.FindNode("unused") != nullptr);
}

}  // namespace
}  // namespace quiver
