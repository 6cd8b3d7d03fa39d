// Gradients of the element-wise ops added for TF1/Keras graphs (Erf, Softplus, Softsign, Cos,
// Sin, LeakyRelu, Selu, Atan2, ClipByValue, L2Loss, Select) against central differences, in the
// style of gradients_test.cc; Round and IsNan/IsInf/IsFinite carry no gradient, as in TF.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "graph/builder.h"
#include "graph/gradients.h"
#include "tests/graph/gradient_assert.h"
#include "tests/graph/gradient_check_util.h"

using namespace quiver;
using quiver::testing::GradCheckOptions;
using quiver::testing::RandomDoubles;
using quiver::testing::RunGraph;

namespace {

using Outputs = std::vector<Output>;

}  // namespace

TEST_CASE("Gradients of the new unary ops match finite differences", "[gradients][cwise_extra]") {
  struct Case {
    const char* name;
    std::function<Output(Output)> fn;
    double lo, hi;
  };
  auto op = [](const char* name, AttrMap attrs = {}) {
    return [name, attrs](Output x) { return x.builder()->Op(name, {x}, attrs); };
  };
  const std::vector<Case> cases = {
      {"Erf", op("Erf"), -2, 2},
      {"Erfc", op("Erfc"), -2, 2},
      {"Softplus", op("Softplus"), -4, 4},
      {"Softsign", op("Softsign"), -3, 3},
      {"Cos", op("Cos"), -3, 3},
      {"Sin", op("Sin"), -3, 3},
      {"Selu", op("Selu"), -2, 2},
      {"LeakyRelu", op("LeakyRelu"), -2, 2},
      {"LeakyRelu alpha=0.3", op("LeakyRelu", {{"alpha", MakeAttr(0.3f)}}), -2, 2},
      {"L2Loss", op("L2Loss"), -2, 2},
  };
  for (const Case& c : cases) {
    for (const TensorShape& shape : {TensorShape{2, 3}, TensorShape{3, 2, 2}}) {
      DYNAMIC_SECTION(c.name << " " << shape.DebugString()) {
        REQUIRE_GRADIENTS_MATCH(
            {RandomDoubles(shape, 7, c.lo, c.hi)},
            [&](GraphBuilder&, const Outputs& x) { return Outputs{c.fn(x[0])}; });
      }
    }
  }
}

TEST_CASE("Gradients of Atan2 with broadcasting match finite differences",
          "[gradients][cwise_extra]") {
  const std::vector<std::pair<TensorShape, TensorShape>> shapes = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{4, 1}, {1, 5}}, {{}, {2, 3}}, {{2, 3}, {}}};
  for (const auto& [sy, sx] : shapes) {
    DYNAMIC_SECTION(sy.DebugString() << " " << sx.DebugString()) {
      REQUIRE_GRADIENTS_MATCH({RandomDoubles(sy, 11, -2, 2), RandomDoubles(sx, 12, -2, 2)},
                              [](GraphBuilder& b, const Outputs& x) {
                                return Outputs{b.Op("Atan2", {x[0], x[1]})};
                              });
    }
  }
}

TEST_CASE("Gradients of ClipByValue reach t and both bounds", "[gradients][cwise_extra]") {
  // t in [-2, 2] against bounds near +-0.8: some elements are clipped below, some above.
  SECTION("scalar bounds") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 4}, 3, -2, 2), RandomDoubles({}, 4, -0.9, -0.7),
                             RandomDoubles({}, 5, 0.7, 0.9)},
                            [](GraphBuilder& b, const Outputs& x) {
                              return Outputs{b.Op("ClipByValue", {x[0], x[1], x[2]})};
                            });
  }
  SECTION("same-shape bounds") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 4}, 3, -2, 2), RandomDoubles({3, 4}, 4, -0.9, -0.7),
                             RandomDoubles({3, 4}, 5, 0.7, 0.9)},
                            [](GraphBuilder& b, const Outputs& x) {
                              return Outputs{b.Op("ClipByValue", {x[0], x[1], x[2]})};
                            });
  }
}

TEST_CASE("Gradients of Select match finite differences", "[gradients][cwise_extra]") {
  SECTION("same-shape condition") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3}, 1), RandomDoubles({2, 3}, 2)}, [](GraphBuilder&
                                                                                         b,
                                                                                     const Outputs&
                                                                                         x) {
      Output c = b.Const(Tensor::FromVector<bool>({true, false, false, true, true, false}, {2, 3}));
      return Outputs{b.Op("Select", {c, x[0], x[1] * x[1]})};
    });
  }
  SECTION("vector condition selects rows") {
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({3, 2, 2}, 1), RandomDoubles({3, 2, 2}, 2)},
        [](GraphBuilder& b, const Outputs& x) {
          Output c = b.Const(Tensor::FromVector<bool>({false, true, true}, {3}));
          return Outputs{b.Op("Select", {c, x[0], Exp(x[1])})};
        });
  }
}

TEST_CASE("Round, IsNan, IsInf and IsFinite pass no gradient (like TF)",
          "[gradients][cwise_extra]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_DOUBLE, {3}, "x");
  // Only paths through Round: no gradient at all (tf.gradients gives None).
  auto round = AddSymbolicGradients(b, {ReduceSumAll(b.Op("Round", {x * 3.0}))}, {x});
  REQUIRE(round.ok());
  CHECK_FALSE((*round)[0].valid());
  // A predicate on the side does not block the other path.
  auto nan_mask = Cast(b.Op("IsNan", {x}), DT_DOUBLE);
  auto inf_mask = Cast(b.Op("IsInf", {x}), DT_DOUBLE);
  auto fin_mask = Cast(b.Op("IsFinite", {x}), DT_DOUBLE);
  auto y = ReduceSumAll(x * 2.0 + nan_mask + inf_mask + fin_mask);
  auto grads = AddSymbolicGradients(b, {y}, {x});
  REQUIRE(grads.ok());
  REQUIRE((*grads)[0].valid());
  auto out = RunGraph(g, {{"x", Tensor::FromVector<double>({1, -2, 0.5}, {3})}}, {(*grads)[0]});
  REQUIRE(out.ok());
  CHECK(out->at(0).ToVector<double>() == std::vector<double>{2, 2, 2});
}
