// VariableUpdateOrderingPass: reads of a variable run before its updates within a step, never
// creating a cycle and never touching nodes the step does not run; in a Session the fetched
// read is the value from the start of the step (hand-derived).
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "graph/builder.h"
#include "passes/variable_update_ordering_pass.h"
#include "runtime/session.h"
#include "tests/passes/pass_test_util.h"

namespace quiver {
namespace {

using pass_test::HasNote;

// Whether `dst` has a control input from `src`.
bool HasControlEdge(const Graph& graph, const std::string& src, const std::string& dst) {
  const Node* d = graph.FindNode(dst);
  REQUIRE(d != nullptr);
  for (const Edge* e : d->control_in_edges()) {
    if (e->src->name() == src) return true;
  }
  return false;
}

// w [2,1] = [[1],[2]]; y = x . w (a read of w); `step` subtracts 0.5 * [[1],[1]] from w with
// no data dependency on y: the order of y and step is open in the graph.
struct Model {
  Graph graph;
  VariableHandle w;
  Output y;
  Node* init = nullptr;
};

void Build(Model* m) {
  GraphBuilder b(&m->graph);
  m->w = b.Variable(b.Const(Tensor::FromVector<float>({1, 2}, {2, 1})), "w");
  auto x = b.Placeholder(DT_FLOAT, {1, 2}, "x");
  m->y = MatMul(x, m->w.value, {}, "y");
  b.Op("ApplyGradientDescent",
       {m->w.ref, b.Scalar(0.5), b.Const(Tensor::FromVector<float>({1, 1}, {2, 1}))}, {}, "step");
  m->init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());
}

PassStats RunOrdering(Graph* graph, const PassContext& ctx) {
  return pass_test::RunPassAndVerify<VariableUpdateOrderingPass>(graph, ctx);
}

TEST_CASE("variable_update_ordering: a read runs before an independent update of the variable",
          "[passes][variables]") {
  Model m;
  Build(&m);
  PassContext ctx;
  ctx.feeds = {"x"};
  ctx.fetches = {"y"};
  ctx.targets = {"step"};
  PassStats stats = RunOrdering(&m.graph, ctx);
  // The read itself (w/read dereferences the variable) and its consumer (y holds its bytes).
  CHECK(HasControlEdge(m.graph, "w/read", "step"));
  CHECK(HasControlEdge(m.graph, "y", "step"));
  CHECK(stats.nodes_changed == 1);
  REQUIRE(stats.changes.size() == 1);
  CHECK(stats.changes[0] == "step runs after 2 read(s) of w (first: w/read)");
  // The initializer is not part of this step: it gains nothing (else `init` would need x).
  CHECK_FALSE(HasControlEdge(m.graph, "y", "w/Assign"));
  CHECK(m.graph.FindNode("w/Assign")->control_in_edges().empty());
}

TEST_CASE("variable_update_ordering: reads already ordered either way are left alone",
          "[passes][variables]") {
  PassContext ctx;
  ctx.feeds = {"x"};
  SECTION("a read after the update (a control dependency on it) keeps reading the new value") {
    Graph graph;
    GraphBuilder b(&graph);
    auto w = b.Variable(b.Const(Tensor::FromVector<float>({1, 2}, {2, 1})), "w");
    auto x = b.Placeholder(DT_FLOAT, {1, 2}, "x");
    Node* step = b.OpNode("AssignAdd", {w.ref, b.Const(Tensor::FromVector<float>({1, 1}, {2, 1}))},
                          {}, "step");
    Output after;
    {
      auto deps = b.control_dependencies({step});
      after = MatMul(x, Identity(w.ref, "fresh_read"), {}, "after");
    }
    REQUIRE(b.status().ok());
    ctx.fetches = {"after"};
    PassStats stats = RunOrdering(&graph, ctx);
    CHECK(stats.changes.empty());  // adding after -> step would be a cycle
  }
  SECTION("a read the update depends on needs no edge") {
    Graph graph;
    GraphBuilder b(&graph);
    auto w = b.Variable(b.Const(Tensor::FromVector<float>({1, 2}, {2, 1})), "w");
    auto x = b.Placeholder(DT_FLOAT, {1, 2}, "x");
    auto y = MatMul(x, w.value, {}, "y");
    auto grad = MatMul(x, y, {true, false}, "grad");  // [2,1], computed from the read
    b.Op("ApplyGradientDescent", {w.ref, b.Scalar(0.1), grad}, {}, "step");
    REQUIRE(b.status().ok());
    ctx.targets = {"step"};
    PassStats stats = RunOrdering(&graph, ctx);
    CHECK(stats.changes.empty());
  }
  SECTION("without fetches or targets nothing is known about steps") {
    Model m;
    Build(&m);
    PassContext none;
    PassStats stats = RunOrdering(&m.graph, none);
    CHECK(stats.changes.empty());
    CHECK(HasNote(stats, "no fetches or targets"));
  }
}

TEST_CASE(
    "variable_update_ordering: a step that reads and updates fetches the value it started with",
    "[passes][variables][session]") {
  // y = x . w with x = [1, 1]: 1 + 2 = 3 before the update, 0.5 + 1.5 = 2 after it. Every
  // step must fetch the start-of-step value: 3, then 2, then 1.
  Model m;
  Build(&m);
  SessionOptions options;
  options.inter_op_threads = 4;  // room for the update to overtake the read if unordered
  auto session = Session::Create(m.graph, options);
  REQUIRE(session.ok());
  const Tensor x = Tensor::FromVector<float>({1, 1}, {1, 2});
  for (int trial = 0; trial < 20; ++trial) {
    REQUIRE((*session)->Run({}, {}, {m.init->name()}).ok());
    for (float want : {3.0f, 2.0f, 1.0f}) {
      auto out = (*session)->Run({{"x", x}}, {"y"}, {"step"});
      REQUIRE(out.ok());
      REQUIRE((*out)[0].data<float>()[0] == want);
    }
  }
}

TEST_CASE("variable_update_ordering: a read on a conditional's branch never holds an update",
          "[passes][variables][conditional]") {
  // y_t = (x . w) on the true branch only (its read w_t waits on the pivot); `step` updates w
  // outside the conditional. An edge y_t -> step would make step dead whenever pred is false; the
  // pass must not add it, and in a Session step runs for both predicates (w: [[1],[2]] ->
  // [[0.5],[1.5]] -> [[0],[1]]).
  Graph g;
  GraphBuilder b(&g);
  VariableHandle w = b.Variable(b.Const(Tensor::FromVector<float>({1, 2}, {2, 1})), "w");
  Output x = b.Placeholder(DT_FLOAT, {1, 2}, "x");
  Output pred = b.Placeholder(DT_BOOL, {}, "pred");
  // The true branch's pivot, and a read of w waiting on it (as a hand-built cond would).
  Node* sw = b.OpNode("Switch", {pred, pred}, {}, "sw");
  Output pivot = Identity(Output(&b, sw, 1), "pivot_t");
  {
    auto deps = b.control_dependencies({pivot.node()});
    MatMul(x, Identity(w.ref, "w_t"), {}, "y_t");
  }
  b.Op("ApplyGradientDescent",
       {w.ref, b.Scalar(0.5), b.Const(Tensor::FromVector<float>({1, 1}, {2, 1}))}, {}, "step");
  Node* init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.feeds = {"x", "pred"};
  ctx.targets = {"step", "y_t"};
  RunOrdering(&g, ctx);
  CHECK_FALSE(HasControlEdge(g, "w_t", "step"));
  CHECK_FALSE(HasControlEdge(g, "y_t", "step"));

  auto session = Session::Create(g);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());
  const Tensor xv = Tensor::FromVector<float>({1, 1}, {1, 2});
  for (bool p : {false, true}) {
    auto r = (*session)->Run({{"x", xv}, {"pred", Tensor::Scalar<bool>(p)}}, {}, {"step", "y_t"});
    INFO(r.status().ToString());
    REQUIRE(r.ok());
  }
  auto wv = (*session)->Run({}, {w.value});
  REQUIRE(wv.ok());
  CHECK(wv->at(0).data<float>()[0] == 0.0f);
  CHECK(wv->at(0).data<float>()[1] == 1.0f);
}

}  // namespace
}  // namespace quiver
