// Conditionals (Switch/Merge, TF1's tf.cond): only the taken branch runs, dead tensors
// propagate through nodes, control edges and partitions, Merge forwards the live input, and
// the optimizer keeps each branch's nodes (constants included) on their branch. Expected
// values are computed by hand from the branch formulas.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "graph/builder.h"
#include "graph/cond.h"
#include "graph/gradients.h"
#include "runtime/session.h"

namespace quiver {
namespace {

Tensor Floats(std::vector<float> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<float>(v, {n});
}

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.num_elements());
}

SessionOptions Options(int optimizer_level, int virtual_cpus = 0) {
  SessionOptions options;
  options.optimizer.level = optimizer_level;
  options.virtual_cpu_devices = virtual_cpus;
  return options;
}

// then: 2x + 1; else: x + p, where p is a placeholder nobody feeds (it fails if it runs).
struct GuardedCond {
  Graph g;
  std::string out, index;
  GuardedCond() {
    GraphBuilder b(&g);
    Output x = b.Placeholder(DT_FLOAT, {3}, "x");
    Output pred = b.Placeholder(DT_BOOL, {}, "pred");
    std::vector<Output> r = Cond(
        b, pred, {x},
        [](GraphBuilder&, const std::vector<Output>& in) {
          return std::vector<Output>{in[0] * 2.0 + 1.0};
        },
        [](GraphBuilder& b, const std::vector<Output>& in) {
          return std::vector<Output>{in[0] + b.Placeholder(DT_FLOAT, {3}, "never_fed")};
        });
    REQUIRE(b.status().ok());
    REQUIRE(r.size() == 1);
    out = r[0].name();
    index = Output(&b, r[0].node(), 1).name();
  }
};

TEST_CASE("Cond runs only the taken branch", "[conditional]") {
  GuardedCond c;
  for (int level : {0, 1}) {
    INFO("optimizer level " << level);
    auto session = Session::Create(c.g, Options(level));
    REQUIRE(session.ok());
    const Tensor x = Floats({1, -2, 3});
    auto taken =
        (*session)->Run({{"x", x}, {"pred", Tensor::Scalar<bool>(true)}}, {c.out, c.index});
    INFO(taken.status().ToString());
    REQUIRE(taken.ok());
    CHECK(Values((*taken)[0]) == std::vector<float>{3, -3, 7});
    CHECK(*(*taken)[1].data<int32_t>() == 1);  // Merge's value_index: the true branch's input

    // The else branch reads the unfed placeholder: it runs now, and fails as TF does.
    auto other = (*session)->Run({{"x", x}, {"pred", Tensor::Scalar<bool>(false)}}, {c.out});
    REQUIRE_FALSE(other.ok());
    CHECK_THAT(std::string(other.status().message()),
               Catch::Contains("You must feed a value for placeholder tensor 'cond/never_fed'"));
    auto fed = (*session)->Run(
        {{"x", x}, {"pred", Tensor::Scalar<bool>(false)}, {"cond/never_fed", Floats({10, 20, 30})}},
        {c.out, c.index});
    REQUIRE(fed.ok());
    CHECK(Values((*fed)[0]) == std::vector<float>{11, 18, 33});
    CHECK(*(*fed)[1].data<int32_t>() == 0);
  }
}

TEST_CASE("Fetching a tensor of the untaken branch is an error naming it", "[conditional]") {
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {2}, "x");
  Output pred = b.Placeholder(DT_BOOL, {}, "pred");
  Node* sw = b.OpNode("Switch", {x, pred}, {}, "sw");
  Output neg = Neg(Output(&b, sw, 0), "neg");   // false side
  Output sq = Square(Output(&b, sw, 1), "sq");  // true side
  REQUIRE(b.status().ok());
  auto session = Session::Create(g, Options(0));
  REQUIRE(session.ok());
  const std::vector<Session::Feed> feeds = {{"x", Floats({2, 3})},
                                            {"pred", Tensor::Scalar<bool>(true)}};
  auto ok = (*session)->Run(feeds, {sq});
  REQUIRE(ok.ok());
  CHECK(Values((*ok)[0]) == std::vector<float>{4, 9});
  auto dead = (*session)->Run(feeds, {neg});
  REQUIRE_FALSE(dead.ok());
  CHECK_THAT(std::string(dead.status().message()),
             Catch::Contains("fetch 'neg:0' has no value") &&
                 Catch::Contains("untaken branch of a conditional"));
  // As a target (not fetched), a dead node is simply skipped.
  auto target = (*session)->Run(feeds, {sq}, {"neg"});
  CHECK(target.ok());
}

TEST_CASE("A dead control input skips a node; Merge ignores it", "[conditional]") {
  // after_f waits (control) on the false side; merge joins both sides.
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {1}, "x");
  Output pred = b.Placeholder(DT_BOOL, {}, "pred");
  Node* sw = b.OpNode("Switch", {x, pred}, {}, "sw");
  Output f = Identity(Output(&b, sw, 0), "f");
  Output t = Identity(Output(&b, sw, 1), "t");
  Output after_f;
  {
    auto deps = b.control_dependencies({f.node()});
    after_f = b.Const(Floats({5}), "after_f");
  }
  Output merged;
  {
    auto deps = b.control_dependencies({f.node()});
    merged = b.Op("Merge", {f, t}, {}, "merge");
  }
  REQUIRE(b.status().ok());
  auto session = Session::Create(g, Options(0));
  REQUIRE(session.ok());
  auto run = [&](bool p, const std::string& fetch) {
    return (*session)->Run({{"x", Floats({7})}, {"pred", Tensor::Scalar<bool>(p)}}, {fetch});
  };
  auto live = run(false, after_f.name());
  REQUIRE(live.ok());
  CHECK(Values((*live)[0]) == std::vector<float>{5});
  CHECK_FALSE(run(true, after_f.name()).ok());  // its control input is dead
  auto m = run(true, merged.name());
  REQUIRE(m.ok());  // a dead control input does not kill a Merge
  CHECK(Values((*m)[0]) == std::vector<float>{7});
}

TEST_CASE("Deadness crosses devices through the rendezvous", "[conditional][partition]") {
  // The predicate's Switch on CPU:0, the branches on CPU:1, the Merge back on CPU:0.
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {2}, "x");
  Output pred = b.Placeholder(DT_BOOL, {}, "pred");
  Node* sw = b.OpNode("Switch", {x, pred}, {}, "sw");
  Output f, t;
  {
    auto d = b.device("/cpu:1");
    f = Neg(Output(&b, sw, 0), "f");
    t = Exp(Output(&b, sw, 1), "t") * 0.0 + b.Const(Floats({1, 2}), "t_const");
  }
  Output merged = b.Op("Merge", {f, t}, {}, "merge");
  REQUIRE(b.status().ok());
  auto session = Session::Create(g, Options(0, /*virtual_cpus=*/1));
  REQUIRE(session.ok());
  for (bool p : {false, true}) {
    auto r = (*session)->Run({{"x", Floats({1, 2})}, {"pred", Tensor::Scalar<bool>(p)}},
                             {merged.name()});
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    CHECK(Values((*r)[0]) == (p ? std::vector<float>{1, 2} : std::vector<float>{-1, -2}));
  }
}

TEST_CASE("The optimizer keeps constant branches on their side", "[conditional][passes]") {
  // The false branch is constants only: folded, they must still wait on the false pivot, or
  // the Merge would see two live inputs and pick input 0 (the false side) for pred=true.
  // The true branch measures its input's shape, which constant folding must not hoist out.
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
  Output pred = b.Placeholder(DT_BOOL, {}, "pred");
  std::vector<Output> r = Cond(
      b, pred, {x},
      [](GraphBuilder& b, const std::vector<Output>& in) {
        Output size = b.Op("Cast", {b.Op("Size", {in[0]})}, {{"DstT", MakeAttr(DT_FLOAT)}});
        return std::vector<Output>{ReduceSumAll(in[0]) + size};
      },
      [](GraphBuilder& b, const std::vector<Output>&) {
        return std::vector<Output>{b.Scalar(10) * b.Scalar(4) + b.Scalar(2)};
      });
  REQUIRE(b.status().ok());
  const Tensor xv = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  for (int level : {0, 1}) {
    auto session = Session::Create(g, Options(level));
    REQUIRE(session.ok());
    for (bool p : {false, true}) {
      INFO("optimizer level " << level << ", pred " << p);
      auto out = (*session)->Run({{"x", xv}, {"pred", Tensor::Scalar<bool>(p)}}, {r[0].name()});
      INFO(out.status().ToString());
      REQUIRE(out.ok());
      CHECK(*(*out)[0].data<float>() == (p ? 21.0f + 6.0f : 42.0f));
    }
  }
}

TEST_CASE("Cond rejects mismatched branches and a non-bool predicate", "[conditional]") {
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {2}, "x");
  Output pred = b.Placeholder(DT_BOOL, {}, "pred");
  auto one = [](GraphBuilder&, const std::vector<Output>& in) {
    return std::vector<Output>{in[0]};
  };
  auto two = [](GraphBuilder&, const std::vector<Output>& in) {
    return std::vector<Output>{in[0], in[0]};
  };
  CHECK(Cond(b, pred, {x}, one, two).empty());
  CHECK_THAT(std::string(b.status().message()),
             Catch::Contains("the true branch returns 1 tensors, the false branch 2"));

  Graph g2;
  GraphBuilder b2(&g2);
  Output x2 = b2.Placeholder(DT_FLOAT, {2}, "x");
  CHECK(Cond(b2, x2, {x2}, one, one).empty());
  CHECK_THAT(std::string(b2.status().message()), Catch::Contains("pred must be a bool tensor"));
}

}  // namespace
}  // namespace quiver

namespace quiver {
namespace {

TEST_CASE("Gradients flow through Cond into the taken branch only", "[conditional][gradients]") {
  // then: tanh(x * w); else: 3 x^2 (w unused). y = sum(cond). Derived by hand:
  //   then: dy/dx = (1 - tanh^2(xw)) w, dy/dw = (1 - tanh^2(xw)) x;  else: dy/dx = 6x, dy/dw = 0.
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {3}, "x");
  Output w = b.Placeholder(DT_FLOAT, {3}, "w");
  Output pred = b.Placeholder(DT_BOOL, {}, "pred");
  std::vector<Output> r = Cond(
      b, pred, {x, w},
      [](GraphBuilder&, const std::vector<Output>& in) {
        return std::vector<Output>{Tanh(in[0] * in[1])};
      },
      [](GraphBuilder&, const std::vector<Output>& in) {
        return std::vector<Output>{in[0] * in[0] * 3.0};
      });
  Output y = ReduceSumAll(r[0]);
  auto grads = AddSymbolicGradients(b, {y}, {x, w});
  INFO(grads.status().ToString());
  REQUIRE(grads.ok());
  REQUIRE(b.status().ok());
  const std::vector<float> xv = {0.5f, -1.0f, 2.0f}, wv = {1.5f, 0.25f, -0.75f};
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  for (bool p : {true, false}) {
    INFO("pred " << p);
    auto out =
        (*session)->Run({{"x", Floats(xv)}, {"w", Floats(wv)}, {"pred", Tensor::Scalar<bool>(p)}},
                        {(*grads)[0].name(), (*grads)[1].name()});
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    for (int i = 0; i < 3; ++i) {
      const float t = std::tanh(xv[i] * wv[i]);
      const float dx = p ? (1 - t * t) * wv[i] : 6 * xv[i];
      const float dw = p ? (1 - t * t) * xv[i] : 0.0f;
      CHECK((*out)[0].data<float>()[i] == Approx(dx).epsilon(1e-5));
      CHECK((*out)[1].data<float>()[i] == Approx(dw).margin(1e-6));
    }
  }
}

TEST_CASE("_SwitchN routes to one of N branches (out of range: the last), with gradients",
          "[conditional][gradients]") {
  // y = Merge(2 s_0, 3 s_1, 4 s_2) where s = _SwitchN(x, index): y = c x, dy/dx = c, with
  // c = 2, 3, 4 for index 0, 1, 2 and c = 4 for an index out of range (-1, 7).
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {2}, "x");
  Output index = b.Placeholder(DT_INT32, {}, "index");
  Node* sw = b.OpNode("_SwitchN", {x, index}, {{"num_outs", MakeAttr(int64_t{3})}}, "sw");
  REQUIRE(sw != nullptr);
  Output y =
      b.Op("Merge", {Output(&b, sw, 0) * 2.0, Output(&b, sw, 1) * 3.0, Output(&b, sw, 2) * 4.0}, {},
           "y");
  auto grads = AddSymbolicGradients(b, {ReduceSumAll(y)}, {x});
  INFO(grads.status().ToString());
  REQUIRE(grads.ok());
  REQUIRE(b.status().ok());
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  for (int i : {0, 1, 2, -1, 7}) {
    INFO("index " << i);
    const float c = i == 0 ? 2.0f : i == 1 ? 3.0f : 4.0f;
    auto out = (*session)->Run({{"x", Floats({1, -2})}, {"index", Tensor::Scalar<int32_t>(i)}},
                               {y.name(), (*grads)[0].name()});
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    CHECK(Values((*out)[0]) == std::vector<float>{c, -2 * c});
    CHECK(Values((*out)[1]) == std::vector<float>{c, c});
  }
}

}  // namespace
}  // namespace quiver
