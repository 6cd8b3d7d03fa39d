// PlanMemory / MemoryPlanningPass on hand graphs whose byte counts are worked out by hand
// in the comments (float32: 4 bytes per element).
#include <catch2/catch.hpp>

#include "graph/builder.h"
#include "passes/memory_planning_pass.h"
#include "tests/devices/nn_test_util.h"

namespace quiver {
namespace {

using nn_test::MakeTensor;

TEST_CASE("memory planning: a unary chain runs in one buffer", "[passes][memory_planning]") {
  // x (fed, 4000 B) -> a = Exp -> b = Relu -> c = Neg (fetched); a, b, c are 4000 B each.
  //   no reuse: 12000. liveness: a 4000; b 8000, then a dies; c 8000, then b dies -> 8000.
  //   in place: b reuses a, c reuses b -> 4000.
  Graph graph;
  GraphBuilder b(&graph);
  Output x = b.Placeholder(DT_FLOAT, {1000}, "x");
  Neg(Relu(Exp(x, "a"), "b"), "c");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"c"};
  ctx.feeds = {"x"};
  auto plan = PlanMemory(&graph, ctx);
  REQUIRE(plan.ok());
  CHECK(plan->num_tensors == 3);
  CHECK(plan->no_reuse_bytes == 12000);
  CHECK(plan->liveness_peak_bytes == 8000);
  CHECK(plan->planned_peak_bytes == 4000);
  CHECK(plan->fed_bytes == 4000);
  CHECK(plan->constant_bytes == 0);
  CHECK(!plan->lower_bound);
  CHECK(plan->in_place ==
        std::vector<std::string>{"b <- a:0 (4000 bytes)", "c <- b:0 (4000 bytes)"});
}

TEST_CASE("memory planning: shared, fetched and constant inputs block in-place forwarding",
          "[passes][memory_planning]") {
  // x fed [250] (1000 B), k Const [250] (1000 B).
  //   a = Exp(x)      alloc 1000
  //   b = Mul(a, a)   a is read twice (and later by d): alloc 1000
  //   c = Add(b, k)   b dies here, read once: in place on b (k is a constant: never)
  //   d = Sub(c, a)   c dies here: in place on c; a dies here too
  // no reuse: 4000. liveness: a 1000, b 2000, c 3000 (b dies -> 2000), d 3000 -> peak 3000.
  // in place: a 1000, b 2000, c 2000, d 2000 -> peak 2000.
  // With c fetched too, d cannot take c's buffer: d allocates, peak 3000.
  for (bool fetch_c : {false, true}) {
    CAPTURE(fetch_c);
    Graph graph;
    GraphBuilder b(&graph);
    Output x = b.Placeholder(DT_FLOAT, {250}, "x");
    Output k = b.Const(MakeTensor<float>(std::vector<double>(250, 1.0), {250}), "k");
    Output a = Exp(x, "a");
    Output bb = b.Op("Mul", {a, a}, {}, "b");
    Output c = b.Op("AddV2", {bb, k}, {}, "c");
    b.Op("Sub", {c, a}, {}, "d");
    REQUIRE(b.status().ok());
    PassContext ctx;
    ctx.fetches = {"d"};
    if (fetch_c) ctx.fetches.push_back("c");
    auto plan = PlanMemory(&graph, ctx);
    REQUIRE(plan.ok());
    CHECK(plan->no_reuse_bytes == 4000);
    CHECK(plan->constant_bytes == 1000);
    CHECK(plan->fed_bytes == 1000);
    CHECK(plan->liveness_peak_bytes == 3000);
    if (fetch_c) {
      CHECK(plan->planned_peak_bytes == 3000);
      CHECK(plan->in_place == std::vector<std::string>{"c <- b:0 (1000 bytes)"});
    } else {
      CHECK(plan->planned_peak_bytes == 2000);
      CHECK(plan->in_place ==
            std::vector<std::string>{"c <- b:0 (1000 bytes)", "d <- c:0 (1000 bytes)"});
    }
  }
}

TEST_CASE("memory planning: aliases share a buffer; unknown dims make a lower bound",
          "[passes][memory_planning]") {
  // x fed [-1, 10]; a = Relu(x): 40 B with the batch counted as 1; r = Reshape(a, [-1]) and
  // i = Identity(r) alias a's buffer; s = Square(i) is in place on it (i dies there and no
  // other alias is alive). s's own shape is [-1]: 4 B as a lower bound.
  //   no reuse: a 40 + s 4 = 44; liveness: 44 at s; in place: 40. All lower bounds.
  Graph graph;
  GraphBuilder b(&graph);
  Output x = b.Placeholder(DT_FLOAT, {-1, 10}, "x");
  Output a = Relu(x, "a");
  Output shape = b.Const(Tensor::FromVector<int32_t>({-1}, {1}), "shape");
  Output r = b.Op("Reshape", {a, shape}, {}, "r");
  Square(Identity(r, "i"), "s");
  REQUIRE(b.status().ok());
  PassContext ctx;
  ctx.fetches = {"s"};
  auto plan = PlanMemory(&graph, ctx);
  REQUIRE(plan.ok());
  CHECK(plan->lower_bound);
  CHECK(plan->num_tensors == 2);
  CHECK(plan->no_reuse_bytes == 44);
  CHECK(plan->liveness_peak_bytes == 44);
  CHECK(plan->planned_peak_bytes == 40);
  CHECK(plan->constant_bytes == 4);
  CHECK(plan->in_place == std::vector<std::string>{"s <- i:0 (40 bytes)"});
  CHECK(std::find(plan->unknown_shapes.begin(), plan->unknown_shapes.end(), "a") !=
        plan->unknown_shapes.end());
  const std::vector<std::string> lines = plan->ToLines();
  REQUIRE(!lines.empty());
  CHECK(lines[0].find("lower bound") != std::string::npos);

  // The pass reports the same lines and leaves the graph alone.
  const int before = graph.num_nodes();
  MemoryPlanningPass pass;
  auto stats = pass.Run(&graph, ctx);
  REQUIRE(stats.ok());
  CHECK(stats->notes == lines);
  CHECK(graph.num_nodes() == before);
}

}  // namespace
}  // namespace quiver
