// ControlOnlyPrunePass on hand-built graphs: TF1's tf.tuple pattern loses the gradient nobody
// reads, orderings survive the removal, and what a caller asked for (fetches, feeds, targets,
// tf.group members) or what is run for its effect stays.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "graph/builder.h"
#include "passes/control_only_prune_pass.h"
#include "passes/prune_pass.h"
#include "tests/passes/pass_test_util.h"

namespace quiver {
namespace {

using pass_test::RunPassAndVerify;

bool WaitsFor(const Graph& graph, const std::string& dst, const std::string& src) {
  const Node* d = graph.FindNode(dst);
  REQUIRE(d != nullptr);
  const auto& in = d->control_in_edges();
  return std::any_of(in.begin(), in.end(), [&](const Edge* e) { return e->src->name() == src; });
}

// What tf.gradients writes for one op with two inputs, as in the first layer of a TF1 model:
// dy (the incoming gradient), dx = Neg(dy) then Square (the input's gradient, two nodes),
// dw = Relu(dy) (the weight's gradient), a NoOp group_deps after both, and an Identity of
// each after group_deps. Only dw's Identity feeds the update of v (v += dw): dx's Identity
// has no consumer, so prune removes it and only group_deps still waits for dx.
struct TupleGraph {
  Graph graph;
  GraphBuilder b{&graph};
  VariableHandle v;
  TupleGraph() {
    auto x = b.Placeholder(DT_FLOAT, {3}, "x");
    v = b.Variable(b.Zeros({3}), "v");
    auto dy = Tanh(x, "dy");
    auto dx = Square(Neg(dy, "dx"), "dx2");
    auto dw = Relu(dy, "dw");
    Node* group = Group(b, {dx.node(), dw.node()}, "group_deps");
    Output dw_id;
    {
      auto guard = b.control_dependencies({group});
      dw_id = Identity(dw, "dw_id");
      Identity(dx, "dx_id");
    }
    AssignAdd(v.ref, dw_id, "update");
  }
};

PassContext TrainContext() {
  PassContext ctx;
  ctx.feeds = {"x:0"};
  ctx.targets = {"update"};
  return ctx;
}

TEST_CASE("control_only_prune drops the gradient TF1's tf.tuple keeps alive", "[passes]") {
  TupleGraph g;
  REQUIRE(g.b.status().ok());
  RunPassAndVerify<PrunePass>(&g.graph, TrainContext());
  REQUIRE(g.graph.FindNode("dx_id") == nullptr);  // prune's part
  REQUIRE(g.graph.FindNode("dx2") != nullptr);    // kept by group_deps alone
  PassStats stats = RunPassAndVerify<ControlOnlyPrunePass>(&g.graph, TrainContext());
  // dx2, then dx (read only by dx2, so only waited for once dx2 is gone).
  CHECK(stats.nodes_removed == 2);
  CHECK(stats.changes.size() == 2);
  CHECK(g.graph.FindNode("dx2") == nullptr);
  CHECK(g.graph.FindNode("dx") == nullptr);
  // group_deps now waits for what dx waited for; the rest is untouched.
  CHECK(WaitsFor(g.graph, "group_deps", "dy"));
  CHECK(WaitsFor(g.graph, "group_deps", "dw"));
  CHECK(WaitsFor(g.graph, "dw_id", "group_deps"));
  for (const char* kept : {"x", "v", "dy", "dw", "group_deps", "dw_id", "update"}) {
    CHECK(g.graph.FindNode(kept) != nullptr);
  }
}

TEST_CASE("control_only_prune leaves the training step's results unchanged", "[passes]") {
  const std::vector<float> x = {-1.5f, 0.25f, 2.0f};
  std::vector<double> expected(3);  // v = 0 + 2 steps of relu(tanh(x))
  for (int i = 0; i < 3; ++i) expected[i] = 2 * std::max(0.0, std::tanh(double{x[i]}));
  for (bool enabled : {true, false}) {
    CAPTURE(enabled);
    TupleGraph g;
    REQUIRE(g.b.status().ok());
    SessionOptions options;
    if (!enabled) options.optimizer.disabled_passes = {"control_only_prune"};
    auto session = Session::Create(g.graph, options);
    REQUIRE(session.ok());
    REQUIRE((*session)->Run({}, {}, {"v/Assign"}).ok());
    const Tensor xt = Tensor::FromVector<float>(x, {3});
    for (int step = 0; step < 2; ++step) {
      REQUIRE((*session)->Run({{"x", xt}}, {}, {"update"}).ok());
    }
    auto v = (*session)->Run({}, {"v/read"});
    REQUIRE(v.ok());
    const std::vector<float> got = (*v)[0].ToVector<float>();
    for (int i = 0; i < 3; ++i) CHECK(got[i] == Approx(expected[i]).epsilon(1e-6));
  }
}

TEST_CASE("control_only_prune keeps the orderings a removed node carried", "[passes]") {
  // reset runs, then pure `after_reset` (waits for reset), then `y` waits for after_reset: y
  // must still come after reset once after_reset is gone.
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto v = b.Variable(b.Zeros({2}), "v");
  auto reset = Assign(v.ref, b.Ones({2}), "reset");
  Output after_reset;
  {
    auto guard = b.control_dependencies({reset.node()});
    after_reset = Neg(x, "after_reset");
  }
  Output y;
  {
    auto guard = b.control_dependencies({after_reset.node()});
    y = Identity(x, "y_read");
  }
  Neg(y, "y");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"y"};
  PassStats stats = RunPassAndVerify<ControlOnlyPrunePass>(&graph, ctx);
  CHECK(stats.nodes_removed == 1);
  CHECK(graph.FindNode("after_reset") == nullptr);
  CHECK(WaitsFor(graph, "y_read", "reset"));
  // x already feeds y_read: no control edge repeats a data edge.
  CHECK_FALSE(WaitsFor(graph, "y_read", "x"));
}

TEST_CASE("control_only_prune keeps what was asked for or runs for its effect", "[passes]") {
  // Each candidate below has no data consumer; only `waiter` (not a NoOp, not fetched) waits
  // for the ones that are not asked for, and `out` = Neg(waiter) is fetched.
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto fetched = Tanh(x, "fetched");
  auto grouped = Tanh(x, "grouped");
  auto nested = Tanh(x, "nested");
  Group(b, {grouped.node()}, "group");
  Node* inner = Group(b, {nested.node()}, "inner_group");
  Group(b, {inner}, "outer_group");
  auto before_out = Tanh(x, "before_out");
  auto shape = b.Const(Tensor::FromVector<int32_t>({2}, {1}), "shape");
  auto random = b.Op("RandomUniform", {shape}, {{"dtype", MakeAttr(DT_FLOAT)}}, "random");
  auto unfed = b.Placeholder(DT_FLOAT, {2}, "unfed");
  auto dropped = Tanh(x, "dropped");
  Output waiter;
  {
    auto guard = b.control_dependencies(
        {fetched.node(), random.node(), unfed.node(), dropped.node(), grouped.node()});
    waiter = Identity(x, "waiter");
  }
  Output out;
  {
    auto guard = b.control_dependencies({before_out.node()});
    out = Neg(waiter, "out");
  }
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"out", "fetched"};
  ctx.targets = {"group", "outer_group"};
  PassStats stats = RunPassAndVerify<ControlOnlyPrunePass>(&graph, ctx);
  CHECK(stats.nodes_removed == 1);
  CHECK(graph.FindNode("dropped") == nullptr);
  // fetched; a member of a targeted tf.group, directly or nested; a control input of a fetch;
  // stateful; a Placeholder (running it unfed must fail as in TF); a NoOp.
  for (const char* kept :
       {"fetched", "grouped", "nested", "before_out", "random", "unfed", "inner_group", "waiter"}) {
    CHECK(graph.FindNode(kept) != nullptr);
  }
}

}  // namespace
}  // namespace quiver
