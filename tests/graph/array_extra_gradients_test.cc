// Gradients of ReverseV2, ReverseSequence, Cumsum, Cumprod, GatherNd, ScatterNd and MirrorPad
// (graph/gradients/array_extra_grad.cc) against central finite differences
// (tests/graph/gradient_check_util.h), plus the ops that carry no gradient.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "graph/builder.h"
#include "graph/gradients.h"
#include "tests/graph/gradient_assert.h"
#include "tests/graph/gradient_check_util.h"

using namespace quiver;
using quiver::testing::GradCheckOptions;
using quiver::testing::RandomDoubles;

namespace {

using Outputs = std::vector<Output>;

template <typename T>
Output ConstOf(GraphBuilder& b, std::vector<T> v, TensorShape shape) {
  return b.Const(Tensor::FromVector<T>(v, shape));
}

Output Scan(GraphBuilder& b, const char* op, Output x, int32_t axis, bool exclusive, bool reverse) {
  return b.Op(op, {x, ConstOf<int32_t>(b, {axis}, {})},
              {{"exclusive", MakeAttr(exclusive)}, {"reverse", MakeAttr(reverse)}}, op);
}

}  // namespace

TEST_CASE("ReverseV2 gradients match finite differences", "[gradients][reverse]") {
  REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3, 4}, 1)}, [](GraphBuilder& b, const Outputs& x) {
    return Outputs{b.Op("ReverseV2", {x[0], ConstOf<int32_t>(b, {0, -1}, {2})}, {}, "ReverseV2")};
  });
  GradCheckOptions options;
  options.placeholder_shapes = {TensorShape{-1, 3}};
  REQUIRE_GRADIENTS_MATCH(
      {RandomDoubles({4, 3}, 2)},
      [](GraphBuilder& b, const Outputs& x) {
        return Outputs{b.Op("ReverseV2", {x[0], ConstOf<int64_t>(b, {1}, {1})}, {}, "ReverseV2")};
      },
      options);
}

TEST_CASE("ReverseSequence gradients match finite differences", "[gradients][reverse]") {
  REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 4, 2}, 3)}, [](GraphBuilder& b, const Outputs& x) {
    return Outputs{b.Op("ReverseSequence", {x[0], ConstOf<int64_t>(b, {4, 0, 2}, {3})},
                        {{"seq_dim", MakeAttr(int64_t{1})}, {"batch_dim", MakeAttr(int64_t{0})}},
                        "ReverseSequence")};
  });
}

TEST_CASE("Cumsum and Cumprod gradients match finite differences", "[gradients][scan]") {
  for (bool exclusive : {false, true}) {
    for (bool reverse : {false, true}) {
      CAPTURE(exclusive, reverse);
      REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 4}, 4)}, [&](GraphBuilder& b, const Outputs& x) {
        return Outputs{Scan(b, "Cumsum", x[0], 1, exclusive, reverse),
                       Scan(b, "Cumsum", x[0], -2, exclusive, reverse)};
      });
      // Away from zero: TF's Cumprod gradient divides by x.
      REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 5}, 5, 0.5, 1.5)},
                              [&](GraphBuilder& b, const Outputs& x) {
                                return Outputs{Scan(b, "Cumprod", x[0], 1, exclusive, reverse)};
                              });
    }
  }
}

TEST_CASE("GatherNd and ScatterNd gradients match finite differences", "[gradients][gather]") {
  SECTION("GatherNd: full-index rows with a repeat, and row slices") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 4}, 6)}, [](GraphBuilder& b, const Outputs& x) {
      Output full = ConstOf<int32_t>(b, {0, 1, 2, 3, 0, 1}, {3, 2});
      Output rows = ConstOf<int64_t>(b, {2, 0, 2}, {3, 1});
      return Outputs{b.Op("GatherNd", {x[0], full}, {}, "GatherNd"),
                     b.Op("GatherNd", {x[0], rows}, {}, "GatherNd")};
    });
  }
  SECTION("ScatterNd: the gradient of the updates") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 2}, 7)}, [](GraphBuilder& b, const Outputs& x) {
      Output idx = ConstOf<int32_t>(b, {1, 3, 1}, {3, 1});
      return Outputs{
          b.Op("ScatterNd", {idx, x[0], ConstOf<int32_t>(b, {4, 2}, {2})}, {}, "ScatterNd")};
    });
  }
}

TEST_CASE("MirrorPad gradients match finite differences", "[gradients][pad]") {
  for (const char* mode : {"REFLECT", "SYMMETRIC"}) {
    CAPTURE(mode);
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 4}, 8)}, [&](GraphBuilder& b, const Outputs& x) {
      Output p = ConstOf<int32_t>(b, {2, 1, 0, 2}, {2, 2});
      return Outputs{
          b.Op("MirrorPad", {x[0], p}, {{"mode", MakeAttr(std::string(mode))}}, "MirrorPad")};
    });
  }
}

TEST_CASE("Where, Any and All carry no gradient", "[gradients]") {
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_DOUBLE, TensorShape{3}, "x");
  Output positive = Greater(x, grad::ScalarConst(b, 0, DT_DOUBLE));
  Output any = b.Op("Any", {positive, ConstOf<int32_t>(b, {0}, {1})}, {}, "Any");
  Output where = b.Op("Where", {positive}, {}, "Where");
  // y depends on x directly and through the bool ops; only the direct path has a gradient.
  Output y = ReduceSumAll(x * Cast(any, DT_DOUBLE) + x +
                          Cast(b.Op("Size", {where}, {}, "Size"), DT_DOUBLE));
  auto grads = AddSymbolicGradients(b, {y}, {x});
  INFO(grads.status().ToString());
  REQUIRE(grads.ok());
  REQUIRE((*grads)[0].valid());
}
