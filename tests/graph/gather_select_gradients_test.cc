// Gradients of GatherV2, UnsortedSegmentSum, SelectV2, BroadcastTo and IdentityN: finite
// differences (tests/graph/gradient_check_util.h), hand-derived values, error messages, and
// TensorFlow's own tf.gradients results for the same graphs (tests/data/tf_grad, written by
// tools/fixtures/make_grad_fixtures.py).
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "graph/builder.h"
#include "graph/gradients.h"
#include "graph/npy.h"
#include "tests/graph/gradient_assert.h"
#include "tests/graph/gradient_check_util.h"
#include "tests/tools/fixture_util.h"

using namespace quiver;
using quiver::testing::GradBuildFn;
using quiver::testing::GradCheckOptions;
using quiver::testing::RandomDoubles;
using quiver::testing::RunGraph;

namespace {

using Outputs = std::vector<Output>;

template <typename T>
Output ConstOf(GraphBuilder& b, std::vector<T> v, TensorShape shape) {
  return b.Const(Tensor::FromVector<T>(v, shape));
}

Output Gather(GraphBuilder& b, Output params, Output indices, int64_t axis, AttrMap attrs = {}) {
  return b.Op("GatherV2",
              {params, indices, grad::ScalarConst(b, static_cast<double>(axis), DT_INT32)},
              std::move(attrs), "GatherV2");
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

// ---- GatherV2 ---------------------------------------------------------------------------------

TEST_CASE("GatherV2 gradients match finite differences", "[gradients][gather]") {
  SECTION("axis 0, 2-D params, rank-2 indices with repeats") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({5, 3}, 1)}, [](GraphBuilder& b, const Outputs& x) {
      Output idx = ConstOf<int32_t>(b, {1, 3, 1, 0, 4, 1}, {3, 2});
      return Outputs{Gather(b, x[0], idx, 0)};
    });
  }
  SECTION("axis 0, 1-D params, int64 indices") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({6}, 2)}, [](GraphBuilder& b, const Outputs& x) {
      return Outputs{Gather(b, x[0], ConstOf<int64_t>(b, {2, 2, 5}, {3}), 0)};
    });
  }
  SECTION("axis 0 with an unknown first dim (run-time shapes)") {
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{-1, 3}};
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({4, 3}, 3)},
        [](GraphBuilder& b, const Outputs& x) {
          return Outputs{Gather(b, x[0], ConstOf<int32_t>(b, {3, 3, 0, 2}, {2, 2}), 0)};
        },
        options);
  }
  SECTION("axis 1 and axis -1, repeated indices") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 5, 3}, 4)}, [](GraphBuilder& b, const Outputs& x) {
      return Outputs{Gather(b, x[0], ConstOf<int32_t>(b, {4, 1, 1, 0}, {4}), 1)};
    });
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 4}, 5)}, [](GraphBuilder& b, const Outputs& x) {
      return Outputs{Gather(b, x[0], ConstOf<int32_t>(b, {3, 3, 0, 1}, {2, 2}), -1)};
    });
  }
  SECTION("axis 2 with unknown dims") {
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{-1, 2, -1}};
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({2, 2, 4}, 6)},
        [](GraphBuilder& b, const Outputs& x) {
          return Outputs{Gather(b, x[0], ConstOf<int32_t>(b, {0, 3, 0}, {3}), 2)};
        },
        options);
  }
}

TEST_CASE("GatherV2 gradient: hand-derived values, no gradient for indices, batch_dims error",
          "[gradients][gather]") {
  Graph g;
  GraphBuilder b(&g);
  Output params = b.Placeholder(DT_FLOAT, {4, 2}, "params");
  Output ids = b.Placeholder(DT_INT32, {3}, "ids");
  Output y = Gather(b, params, ids, 0);
  auto grads = AddSymbolicGradients(b, {ReduceSumAll(y)}, {params, ids});
  REQUIRE(grads.ok());
  REQUIRE((*grads)[0].valid());
  CHECK_FALSE((*grads)[1].valid());
  // ids [3, 0, 3]: row 3 gathered twice, row 0 once, rows 1 and 2 never.
  auto out = RunGraph(g,
                      {{"params", Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2})},
                       {"ids", Tensor::FromVector<int32_t>({3, 0, 3}, {3})}},
                      {(*grads)[0].name()});
  REQUIRE(out.ok());
  CHECK((*out)[0].shape() == TensorShape{4, 2});
  CHECK((*out)[0].ToVector<float>() == std::vector<float>{1, 1, 0, 0, 0, 0, 2, 2});

  Output p2 = b.Placeholder(DT_FLOAT, {2, 3}, "p2");
  Output batched = Gather(b, p2, b.Const(Tensor::FromVector<int32_t>({0, 2}, {2, 1})), 1,
                          {{"batch_dims", MakeAttr(int64_t{1})}});
  auto bad = AddSymbolicGradients(b, {ReduceSumAll(batched)}, {p2});
  REQUIRE_FALSE(bad.ok());
  const std::string msg(bad.status().message());
  CHECK(Contains(msg, batched.node()->name()));
  CHECK(Contains(msg, "batch_dims = 1 is not supported"));
}

TEST_CASE("An embedding table trains with its GatherV2 gradient; unused rows stay put",
          "[gradients][gather][variables]") {
  Graph g;
  GraphBuilder b(&g);
  Output ids = b.Placeholder(DT_INT32, {-1, 2}, "ids");
  Output target = b.Placeholder(DT_FLOAT, {-1}, "target");
  auto table =
      b.Variable(b.Const(quiver::testing::RandomFloats({6, 3}, 4, -0.5, 0.5)), "embeddings");
  Output pred = ReduceSum(ReduceMean(Gather(b, table.value, ids, 0), {1}), {1});
  Output loss = ReduceMeanAll(Square(pred - target));
  auto grads = AddSymbolicGradients(b, {loss}, {table.value});
  REQUIRE(grads.ok());
  Node* train = AssignSub(table.ref, (*grads)[0] * 0.5).node();
  Node* init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());
  auto session = quiver::testing::SingleThreadSession(g);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());
  // Rows 0, 1, 3 and 5 are used (1 twice); rows 2 and 4 never are.
  std::vector<Session::Feed> feeds = {
      {"ids", Tensor::FromVector<int32_t>({0, 1, 1, 3, 5, 1}, {3, 2})},
      {"target", Tensor::FromVector<float>({1, -1, 2}, {3})}};
  auto before = (*session)->Run(feeds, {loss, table.value});
  REQUIRE(before.ok());
  for (int step = 0; step < 50; ++step) REQUIRE((*session)->Run(feeds, {}, {train->name()}).ok());
  auto after = (*session)->Run(feeds, {loss, table.value});
  REQUIRE(after.ok());
  CHECK(after->at(0).data<float>()[0] < 0.01f * before->at(0).data<float>()[0]);
  const float* t0 = before->at(1).data<float>();
  const float* t1 = after->at(1).data<float>();
  for (int row : {2, 4}) {
    for (int k = 0; k < 3; ++k) CHECK(t1[row * 3 + k] == t0[row * 3 + k]);
  }
  CHECK(t1[0] != t0[0]);
}

// ---- UnsortedSegmentSum -------------------------------------------------------------------

TEST_CASE("UnsortedSegmentSum gradients match finite differences", "[gradients][segment]") {
  SECTION("repeated and negative ids") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({5, 2}, 7)}, [](GraphBuilder& b, const Outputs& x) {
      return Outputs{b.Op("UnsortedSegmentSum", {x[0], ConstOf<int32_t>(b, {2, 0, 2, -1, 0}, {5}),
                                                 grad::ScalarConst(b, 4, DT_INT32)})};
    });
  }
  SECTION("rank-2 int64 ids") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3, 2}, 8)}, [](GraphBuilder& b, const Outputs& x) {
      return Outputs{
          b.Op("UnsortedSegmentSum", {x[0], ConstOf<int64_t>(b, {1, -2, 1, 0, 0, 2}, {2, 3}),
                                      b.Const(Tensor::Scalar<int64_t>(3))})};
    });
  }
}

TEST_CASE("UnsortedSegmentSum gradient gives zeros to dropped ids", "[gradients][segment]") {
  Graph g;
  GraphBuilder b(&g);
  Output data = b.Placeholder(DT_FLOAT, {4}, "data");
  Output y = b.Op("UnsortedSegmentSum", {data, ConstOf<int32_t>(b, {1, -1, 0, 1}, {4}),
                                         grad::ScalarConst(b, 2, DT_INT32)});
  Output w = b.Const(Tensor::FromVector<float>({10, 100}, {2}));
  auto grads = AddSymbolicGradients(b, {ReduceSumAll(y * w)}, {data});
  REQUIRE(grads.ok());
  auto out =
      RunGraph(g, {{"data", Tensor::FromVector<float>({1, 2, 3, 4}, {4})}}, {(*grads)[0].name()});
  REQUIRE(out.ok());
  CHECK((*out)[0].ToVector<float>() == std::vector<float>{100, 0, 10, 100});
}

// ---- SelectV2, BroadcastTo, IdentityN -------------------------------------------------------

TEST_CASE("SelectV2 gradients match finite differences", "[gradients][select]") {
  auto select = [](std::vector<bool> cond, TensorShape cond_shape) {
    return [cond, cond_shape](GraphBuilder& b, const Outputs& x) {
      std::vector<int32_t> ints(cond.begin(), cond.end());
      Output c = Cast(ConstOf<int32_t>(b, ints, cond_shape), DT_BOOL);
      return Outputs{b.Op("SelectV2", {c, x[0], x[1]})};
    };
  };
  SECTION("cond [3,1] broadcast against t [3,4] and e [4]") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 4}, 9), RandomDoubles({4}, 10)},
                            select({true, false, true}, {3, 1}));
  }
  SECTION("cond [4] broadcasting t [2,1] and a scalar e") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 1}, 11), RandomDoubles({}, 12)},
                            select({false, true, true, false}, {4}));
  }
  SECTION("same shapes, unknown dims (BroadcastGradientArgs at run time)") {
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{-1, -1}, TensorShape{-1}};
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3}, 13), RandomDoubles({3}, 14)},
                            select({true, false, false, true, true, false}, {2, 3}), options);
  }
}

TEST_CASE("SelectV2 gives no gradient to its condition", "[gradients][select]") {
  Graph g;
  GraphBuilder b(&g);
  Output c = b.Placeholder(DT_BOOL, {3}, "c");
  Output t = b.Placeholder(DT_FLOAT, {3}, "t");
  Output y = b.Op("SelectV2", {c, t, b.Scalar(0.5)});
  auto grads = AddSymbolicGradients(b, {ReduceSumAll(y)}, {c, t});
  REQUIRE(grads.ok());
  CHECK_FALSE((*grads)[0].valid());
  REQUIRE((*grads)[1].valid());
  auto out = RunGraph(g,
                      {{"c", Tensor::FromVector<bool>({true, false, true}, {3})},
                       {"t", Tensor::FromVector<float>({1, 2, 3}, {3})}},
                      {(*grads)[1].name()});
  REQUIRE(out.ok());
  CHECK((*out)[0].ToVector<float>() == std::vector<float>{1, 0, 1});
}

TEST_CASE("BroadcastTo and IdentityN gradients match finite differences",
          "[gradients][broadcast]") {
  auto broadcast = [](std::vector<int32_t> shape) {
    return [shape](GraphBuilder& b, const Outputs& x) {
      return Outputs{b.Op(
          "BroadcastTo", {x[0], ConstOf<int32_t>(b, shape, {static_cast<int64_t>(shape.size())})})};
    };
  };
  SECTION("[3,1] -> [2,3,4]") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 1}, 15)}, broadcast({2, 3, 4}));
  }
  SECTION("[] -> [2,2]") { REQUIRE_GRADIENTS_MATCH({RandomDoubles({}, 16)}, broadcast({2, 2})); }
  SECTION("[4] -> [3,4]") { REQUIRE_GRADIENTS_MATCH({RandomDoubles({4}, 17)}, broadcast({3, 4})); }
  SECTION("same shape") { REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3}, 18)}, broadcast({2, 3})); }
  SECTION("[?,1] -> [2,3,4] (run-time reduction axes)") {
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{-1, 1}};
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 1}, 19)}, broadcast({2, 3, 4}), options);
  }
  SECTION("IdentityN passes each output's gradient through") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3}, 20), RandomDoubles({3}, 21)},
                            [](GraphBuilder& b, const Outputs& x) {
                              Node* n = b.OpNode("IdentityN", {x[0], x[1]}, {}, "IdentityN");
                              Output a(&b, n, 0), c(&b, n, 1);
                              return Outputs{Square(a) * c, Exp(c)};
                            });
  }
}

// ---- TensorFlow's tf.gradients on the same graphs ------------------------------------------

namespace {

namespace fs = std::filesystem;

struct FixtureCase {
  fixture::Manifest manifest;
  std::map<std::string, Tensor> values;  // feeds and expected fetches by logical name
};

FixtureCase LoadCase(const std::string& name) {
  const fs::path dir = fs::path(QUIVER_TEST_DATA_DIR) / "tf_grad" / name;
  auto m = fixture::ParseManifest((dir / "manifest.txt").string());
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  FixtureCase c;
  c.manifest = *m;
  for (const auto& list : {m->feeds, m->fetches}) {
    for (const auto& [logical, file] : list) {
      auto t = ReadNpyFile((dir / file).string());
      INFO(file << ": " << t.status().ToString());
      REQUIRE(t.ok());
      c.values[logical] = *t;
    }
  }
  return c;
}

// Feeds the case's inputs into the placeholders of the same names, runs `grads` (named like the
// manifest's fetches) and compares each with TensorFlow's.
void CompareWithTf(const Graph& g, const FixtureCase& c,
                   const std::map<std::string, Output>& grads) {
  std::vector<Session::Feed> feeds;
  for (const auto& [logical, file] : c.manifest.feeds)
    feeds.push_back({logical, c.values.at(logical)});
  std::vector<std::string> names;
  for (const auto& [logical, file] : c.manifest.fetches) {
    REQUIRE(grads.count(logical) == 1);
    REQUIRE(grads.at(logical).valid());
    names.push_back(grads.at(logical).name());
  }
  auto out = RunGraph(g, feeds, names);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& logical = c.manifest.fetches[i].first;
    auto cmp =
        fixture::CompareTensors((*out)[i], c.values.at(logical), c.manifest.rtol, c.manifest.atol);
    INFO(logical << ": " << cmp.message);
    CHECK(cmp.ok);
  }
}

Output Feed(GraphBuilder& b, const FixtureCase& c, const std::string& name) {
  const Tensor& t = c.values.at(name);
  return b.Placeholder(t.dtype(), t.shape(), name);
}

}  // namespace

TEST_CASE("Gradients match TensorFlow's: embedding lookup (gather + reduce)", "[gradients][tf]") {
  FixtureCase c = LoadCase("embedding");
  Graph g;
  GraphBuilder b(&g);
  Output params = Feed(b, c, "params"), ids = Feed(b, c, "ids"), w = Feed(b, c, "w");
  Output table = Feed(b, c, "table"), cols = Feed(b, c, "cols");
  Output pooled = ReduceMean(Gather(b, params, ids, 0), {1});
  Output loss = ReduceSum(Tanh(pooled) * w, {0, 1});
  Output loss2 = ReduceSum(Square(Gather(b, table, cols, 1)), {0, 1, 2});
  auto g1 = AddSymbolicGradients(b, {loss}, {params, w});
  INFO((g1.ok() ? "" : g1.status().ToString()));
  REQUIRE(g1.ok());
  auto g2 = AddSymbolicGradients(b, {loss2}, {table});
  REQUIRE(g2.ok());
  CompareWithTf(g, c, {{"grad_params", (*g1)[0]}, {"grad_w", (*g1)[1]}, {"grad_table", (*g2)[0]}});
}

TEST_CASE("Gradients match TensorFlow's: tf.where (SelectV2) with a broadcast condition",
          "[gradients][tf]") {
  FixtureCase c = LoadCase("where");
  Graph g;
  GraphBuilder b(&g);
  Output cond = Feed(b, c, "cond"), x = Feed(b, c, "x"), y = Feed(b, c, "y");
  Output wout = Feed(b, c, "wout");
  Output loss = ReduceSum(b.Op("SelectV2", {cond, x, y}) * wout, {0, 1});
  auto grads = AddSymbolicGradients(b, {loss}, {x, y});
  REQUIRE(grads.ok());
  CompareWithTf(g, c, {{"grad_x", (*grads)[0]}, {"grad_y", (*grads)[1]}});
}

TEST_CASE("Gradients match TensorFlow's: tf.broadcast_to", "[gradients][tf]") {
  FixtureCase c = LoadCase("broadcast");
  Graph g;
  GraphBuilder b(&g);
  Output x = Feed(b, c, "x"), v = Feed(b, c, "v"), wb = Feed(b, c, "wb");
  Output bx = b.Op("BroadcastTo", {x, ConstOf<int32_t>(b, {2, 3, 4}, {3})});
  Output bv = b.Op("BroadcastTo", {v, ConstOf<int32_t>(b, {3, 4}, {2})});
  Output loss = ReduceSum(bx * wb, {0, 1, 2}) + ReduceSum(Square(bv), {0, 1});
  auto grads = AddSymbolicGradients(b, {loss}, {x, v});
  REQUIRE(grads.ok());
  CompareWithTf(g, c, {{"grad_x", (*grads)[0]}, {"grad_v", (*grads)[1]}});
}
