#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "graph/builder.h"
#include "graph/gradients.h"
#include "tests/graph/gradient_assert.h"
#include "tests/graph/gradient_check_util.h"

using namespace quiver;
using quiver::testing::GradBuildFn;
using quiver::testing::GradCheckOptions;
using quiver::testing::RandomDoubles;
using quiver::testing::RunGraph;

namespace {

using Outputs = std::vector<Output>;

bool HasOp(const char* op) { return OpRegistry::Global().Find(op) != nullptr; }

// Catch2 v2 has no SKIP(): print the marker CTest turns into "skipped".
bool SkipWithoutOps(const std::vector<const char*>& ops) {
  for (const char* op : ops) {
    if (!HasOp(op)) {
      std::cout << "QUIVER_SKIPPED: op " << op << " is not registered\n";
      return true;
    }
  }
  return false;
}

std::vector<double> Values(const Tensor& t) { return t.ToVector<double>(); }

std::string ErrorOf(const absl::Status& s) { return std::string(s.message()); }

Output Int32s(GraphBuilder& b, const std::vector<int32_t>& v) {
  return b.Const(Tensor::FromVector<int32_t>(v, TensorShape{static_cast<int64_t>(v.size())}));
}

}  // namespace

// ---- element-wise ----------------------------------------------------------------------------

TEST_CASE("Gradients of unary element-wise ops match finite differences", "[gradients]") {
  struct Case {
    const char* name;
    std::function<Output(Output)> fn;
    double lo, hi;
  };
  const std::vector<Case> cases = {
      {"Neg", [](Output x) { return Neg(x); }, -1, 1},
      {"Exp", [](Output x) { return Exp(x); }, -1, 1},
      {"Log", [](Output x) { return Log(x); }, 0.5, 2},
      {"Sqrt", [](Output x) { return Sqrt(x); }, 0.5, 2},
      {"Rsqrt", [](Output x) { return Rsqrt(x); }, 0.5, 2},
      {"Square", [](Output x) { return Square(x); }, -1, 1},
      {"Reciprocal", [](Output x) { return x.builder()->Op("Reciprocal", {x}); }, 0.5, 2},
      {"Abs", [](Output x) { return x.builder()->Op("Abs", {x}); }, -1, 1},
      {"Tanh", [](Output x) { return Tanh(x); }, -2, 2},
      {"Sigmoid", [](Output x) { return Sigmoid(x); }, -2, 2},
      {"Relu", [](Output x) { return Relu(x); }, -1, 1},
      {"Relu6", [](Output x) { return Relu6(x); }, -8, 8},
      {"Elu", [](Output x) { return x.builder()->Op("Elu", {x}); }, -1, 1},
      {"Identity", [](Output x) { return Identity(x); }, -1, 1},
      {"Softmax", [](Output x) { return Softmax(x); }, -2, 2},
      {"LogSoftmax", [](Output x) { return LogSoftmax(x); }, -2, 2},
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

TEST_CASE("Gradients of broadcasting binary ops match finite differences", "[gradients]") {
  struct Case {
    const char* name;
    std::function<Output(Output, Output)> fn;
    double lo, hi;  // both inputs
  };
  auto op = [](const char* name) {
    return [name](Output a, Output b) { return a.builder()->Op(name, {a, b}); };
  };
  const std::vector<Case> cases = {
      {"Add", op("Add"), -1, 1},          {"AddV2", op("AddV2"), -1, 1},
      {"Sub", op("Sub"), -1, 1},          {"Mul", op("Mul"), -1, 1},
      {"RealDiv", op("RealDiv"), 0.5, 2}, {"Div", op("Div"), 0.5, 2},
      {"Maximum", op("Maximum"), -1, 1},  {"Minimum", op("Minimum"), -1, 1},
      {"Pow", op("Pow"), 0.5, 2},         {"SquaredDifference", op("SquaredDifference"), -1, 1},
  };
  const std::vector<std::pair<TensorShape, TensorShape>> shapes = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{4, 1}, {1, 5}},
      {{}, {2, 3}},     {{2, 3}, {}},  {{3, 1, 4}, {2, 1}},
  };
  for (const Case& c : cases) {
    for (const auto& [sa, sb] : shapes) {
      DYNAMIC_SECTION(c.name << " " << sa.DebugString() << " " << sb.DebugString()) {
        REQUIRE_GRADIENTS_MATCH(
            {RandomDoubles(sa, 11, c.lo, c.hi), RandomDoubles(sb, 12, c.lo, c.hi)},
            [&](GraphBuilder&, const Outputs& x) { return Outputs{c.fn(x[0], x[1])}; });
      }
    }
  }
}

TEST_CASE("Broadcast gradients work with unknown dims (run-time reduction axes)", "[gradients]") {
  auto mul = [](GraphBuilder&, const Outputs& x) { return Outputs{x[0] * x[1]}; };
  GradCheckOptions options;
  SECTION("x[?,3] * b[3]: decided statically") {
    options.placeholder_shapes = {TensorShape{-1, 3}, TensorShape{3}};
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({4, 3}, 1), RandomDoubles({3}, 2)}, mul, options);
  }
  SECTION("x[?,?] * y[?]: BroadcastGradientArgs, y broadcast") {
    options.placeholder_shapes = {TensorShape{-1, -1}, TensorShape{-1}};
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({4, 3}, 1), RandomDoubles({3}, 2)}, mul, options);
  }
  SECTION("x[?,?] * y[?,?]: BroadcastGradientArgs, both broadcast") {
    options.placeholder_shapes = {TensorShape{-1, -1}, TensorShape{-1, -1}};
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({4, 1}, 1), RandomDoubles({1, 3}, 2)}, mul, options);
  }
  SECTION("unknown rank") {
    options.placeholder_shapes = {TensorShape::UnknownRank(), TensorShape::UnknownRank()};
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 1, 3}, 1), RandomDoubles({4, 1}, 2)}, mul, options);
  }
}

TEST_CASE("The x[?,n] + b[n] gradient needs no run-time shape logic", "[gradients]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_DOUBLE, {-1, 4}, "x");
  auto bias = b.Placeholder(DT_DOUBLE, {4}, "bias");
  auto loss = ReduceSumAll(x + bias);
  auto grads = AddSymbolicGradients(b, {loss}, {bias});
  REQUIRE(grads.ok());
  for (Node* n : g.nodes()) CHECK(n->op() != "BroadcastGradientArgs");
  REQUIRE((*grads)[0].shape() == TensorShape{4});
  auto out = RunGraph(g, {{"x", RandomDoubles({3, 4}, 5)}, {"bias", RandomDoubles({4}, 6)}},
                      {(*grads)[0].name()});
  REQUIRE(out.ok());
  CHECK(Values(out->at(0)) == std::vector<double>{3, 3, 3, 3});
}

TEST_CASE("Gradients of AddN, Cast and SquaredDifference chains", "[gradients]") {
  SECTION("AddN") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3}, 1), RandomDoubles({2, 3}, 2)},
                            [](GraphBuilder& b, const Outputs& x) {
                              return Outputs{b.Op("AddN", {x[0], x[1] * x[1], x[0] * x[1]})};
                            });
  }
  SECTION("Cast float64 -> float32 -> float64 passes the gradient through") {
    Graph g;
    GraphBuilder b(&g);
    auto x = b.Placeholder(DT_DOUBLE, {3}, "x");
    auto y = Cast(Cast(x, DT_FLOAT), DT_DOUBLE) * 2.0;
    auto grads = AddSymbolicGradients(b, {ReduceSumAll(y)}, {x});
    REQUIRE(grads.ok());
    REQUIRE((*grads)[0].dtype() == DT_DOUBLE);
    auto out = RunGraph(g, {{"x", RandomDoubles({3}, 1)}}, {(*grads)[0].name()});
    REQUIRE(out.ok());
    CHECK(Values(out->at(0)) == std::vector<double>{2, 2, 2});
  }
  SECTION("Cast to an integer type stops the gradient") {
    Graph g;
    GraphBuilder b(&g);
    auto x = b.Placeholder(DT_DOUBLE, {3}, "x");
    auto y = Cast(Cast(x, DT_INT32), DT_DOUBLE) + x;
    auto grads = AddSymbolicGradients(b, {ReduceSumAll(y)}, {x});
    REQUIRE(grads.ok());
    auto out = RunGraph(g, {{"x", RandomDoubles({3}, 1)}}, {(*grads)[0].name()});
    REQUIRE(out.ok());
    CHECK(Values(out->at(0)) == std::vector<double>{1, 1, 1});
  }
}

// ---- reductions ------------------------------------------------------------------------------

TEST_CASE("Gradients of reductions match finite differences", "[gradients]") {
  struct Case {
    const char* name;
    std::function<Output(Output, std::vector<int64_t>, bool)> fn;
    double lo, hi;
  };
  const std::vector<Case> cases = {
      {"Sum", [](Output x, std::vector<int64_t> a, bool k) { return ReduceSum(x, a, k); }, -1, 1},
      {"Mean", [](Output x, std::vector<int64_t> a, bool k) { return ReduceMean(x, a, k); }, -1, 1},
      {"Max", [](Output x, std::vector<int64_t> a, bool k) { return ReduceMax(x, a, k); }, -1, 1},
      {"Min",
       [](Output x, std::vector<int64_t> a, bool k) {
         GraphBuilder* b = x.builder();
         std::vector<int32_t> axes(a.begin(), a.end());
         return b->Op("Min", {x, Int32s(*b, axes)}, {{"keep_dims", MakeAttr(k)}});
       },
       -1, 1},
      {"Prod", [](Output x, std::vector<int64_t> a, bool k) { return ReduceProd(x, a, k); }, 0.5,
       1.5},
  };
  const std::vector<std::vector<int64_t>> axes_list = {{0}, {1}, {-1}, {0, 2}, {0, 1, 2}, {}};
  for (const Case& c : cases) {
    for (const auto& axes : axes_list) {
      for (bool keep : {false, true}) {
        DYNAMIC_SECTION(c.name << " axes=[" << absl::StrJoin(axes, ",") << "] keep_dims=" << keep) {
          REQUIRE_GRADIENTS_MATCH(
              {RandomDoubles({2, 3, 4}, 3, c.lo, c.hi)},
              [&](GraphBuilder&, const Outputs& x) { return Outputs{c.fn(x[0], axes, keep)}; });
        }
      }
    }
    DYNAMIC_SECTION(c.name << " with unknown dims") {
      GradCheckOptions options;
      options.placeholder_shapes = {TensorShape{-1, 3, -1}};
      REQUIRE_GRADIENTS_MATCH(
          {RandomDoubles({2, 3, 4}, 4, c.lo, c.hi)},
          [&](GraphBuilder&, const Outputs& x) {
            return Outputs{c.fn(x[0], {0, -1}, false)};
          },
          options);
    }
  }
}

TEST_CASE("Max splits its gradient evenly between ties", "[gradients]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_DOUBLE, {2, 3}, "x");
  auto row_max = ReduceMax(x, {1});
  auto all_max = ReduceMax(x, {0, 1});
  auto grads = AddSymbolicGradients(b, {row_max}, {x});
  auto grads_all = AddSymbolicGradients(b, {all_max}, {x});
  REQUIRE(grads.ok());
  REQUIRE(grads_all.ok());
  Tensor xv = Tensor::FromVector<double>({1, 3, 3, 2, 2, 0}, {2, 3});
  auto out = RunGraph(g, {{"x", xv}}, {(*grads)[0].name(), (*grads_all)[0].name()});
  REQUIRE(out.ok());
  CHECK(Values(out->at(0)) == std::vector<double>{0, 0.5, 0.5, 0.5, 0.5, 0});
  CHECK(Values(out->at(1)) == std::vector<double>{0, 0.5, 0.5, 0, 0, 0});
}

// ---- matrix products -------------------------------------------------------------------------

TEST_CASE("Gradients of MatMul with every transpose combination", "[gradients]") {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      DYNAMIC_SECTION("transpose_a=" << ta << " transpose_b=" << tb) {
        const TensorShape sa = ta ? TensorShape{4, 3} : TensorShape{3, 4};
        const TensorShape sb = tb ? TensorShape{2, 4} : TensorShape{4, 2};
        REQUIRE_GRADIENTS_MATCH({RandomDoubles(sa, 1), RandomDoubles(sb, 2)},
                                [&](GraphBuilder&, const Outputs& x) {
                                  return Outputs{MatMul(x[0], x[1], {ta, tb})};
                                });
      }
    }
  }
}

TEST_CASE("Gradients of BatchMatMulV2 reduce broadcast batch dims", "[gradients]") {
  struct Case {
    TensorShape a, b;
    bool adj_x, adj_y;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4}, {2, 4, 5}, false, false},    {{2, 3, 4}, {4, 5}, false, false},
      {{2, 1, 3, 4}, {3, 4, 2}, false, false}, {{2, 4, 3}, {1, 2, 4}, true, true},
      {{3, 4}, {2, 5, 4}, false, true},        {{2, 4, 3}, {2, 4, 5}, true, false},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.a.DebugString()
                    << " x " << c.b.DebugString() << " adj " << c.adj_x << c.adj_y) {
      REQUIRE_GRADIENTS_MATCH({RandomDoubles(c.a, 1), RandomDoubles(c.b, 2)},
                              [&](GraphBuilder&, const Outputs& x) {
                                return Outputs{BatchMatMul(x[0], x[1], c.adj_x, c.adj_y)};
                              });
    }
  }
  SECTION("unknown batch dims") {
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{-1, 3, 4}, TensorShape{-1, -1, 4, 2}};
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({2, 3, 4}, 1), RandomDoubles({3, 1, 4, 2}, 2)},
        [&](GraphBuilder&, const Outputs& x) { return Outputs{BatchMatMul(x[0], x[1])}; }, options);
  }
  SECTION("BatchMatMul (v1, no broadcasting)") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3, 4}, 1), RandomDoubles({2, 4, 2}, 2)},
                            [&](GraphBuilder& b, const Outputs& x) {
                              return Outputs{b.Op("BatchMatMul", {x[0], x[1]})};
                            });
  }
}

// ---- array ops -------------------------------------------------------------------------------

TEST_CASE("Gradients of array ops match finite differences", "[gradients]") {
  SECTION("Reshape, ExpandDims, Squeeze") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3, 1}, 1)}, [](GraphBuilder&, const Outputs& x) {
      return Outputs{Reshape(x[0], {3, 2}) * 2.0, ExpandDims(x[0], 1), Squeeze(x[0], {2})};
    });
  }
  SECTION("Reshape with an unknown batch dim") {
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{-1, 6}};
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({2, 6}, 1)},
        [](GraphBuilder&, const Outputs& x) {
          return Outputs{Square(Reshape(x[0], {-1, 2, 3}))};
        },
        options);
  }
  SECTION("Transpose") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3, 4}, 1)}, [](GraphBuilder&, const Outputs& x) {
      return Outputs{Transpose(x[0], {1, 2, 0})};
    });
  }
  SECTION("ConcatV2") {
    for (int64_t axis : {0, 1, -1}) {
      DYNAMIC_SECTION("axis " << axis) {
        REQUIRE_GRADIENTS_MATCH(
            {RandomDoubles({2, 3}, 1), RandomDoubles({2, 3}, 2), RandomDoubles({2, 3}, 3)},
            [&](GraphBuilder&, const Outputs& x) {
              return Outputs{Concat({x[0], x[1] * x[1], x[2]}, axis)};
            });
      }
    }
  }
  SECTION("ConcatV2 with unknown sizes along the axis") {
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{2, -1}, TensorShape{-1, -1}};
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({2, 3}, 1), RandomDoubles({2, 2}, 2)},
        [](GraphBuilder&, const Outputs& x) {
          return Outputs{Concat({x[0], x[1]}, 1)};
        },
        options);
  }
  SECTION("Concat (v1)") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3}, 1), RandomDoubles({1, 3}, 2)},
                            [](GraphBuilder& b, const Outputs& x) {
                              return Outputs{b.Op("Concat", {b.Scalar(0, DT_INT32), x[0], x[1]})};
                            });
  }
  SECTION("Pack and Unpack") {
    for (int64_t axis : {0, 1, -1}) {
      DYNAMIC_SECTION("axis " << axis) {
        REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3}, 1), RandomDoubles({2, 3}, 2)},
                                [&](GraphBuilder&, const Outputs& x) {
                                  return Outputs{Stack({x[0], x[1], x[0]}, axis)};
                                });
      }
    }
  }
  SECTION("Unpack") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 2}, 1)}, [](GraphBuilder& b, const Outputs& x) {
      Node* unpack = b.OpNode("Unpack", {x[0]}, {{"num", MakeAttr(int64_t{3})}});
      // Output 1 is unused: its gradient is zeros.
      return Outputs{Output(&b, unpack, 0) * 3.0, Output(&b, unpack, 2)};
    });
  }
  SECTION("Split") {
    for (int32_t axis : {0, 1, -1}) {
      DYNAMIC_SECTION("split_dim " << axis) {
        REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 6}, 1)}, [&](GraphBuilder& b, const Outputs& x) {
          Node* split = b.OpNode("Split", {b.Scalar(axis, DT_INT32), x[0]},
                                 {{"num_split", MakeAttr(int64_t{2})}});
          // Output 1 alone, then both.
          return Outputs{Square(Output(&b, split, 1)), Output(&b, split, 0) * 3.0};
        });
      }
    }
    // One part (no Concat), and an unused part (zeros in the Concat).
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 6}, 1)}, [](GraphBuilder& b, const Outputs& x) {
      Node* one =
          b.OpNode("Split", {b.Scalar(1, DT_INT32), x[0]}, {{"num_split", MakeAttr(int64_t{1})}});
      Node* three =
          b.OpNode("Split", {b.Scalar(1, DT_INT32), x[0]}, {{"num_split", MakeAttr(int64_t{3})}});
      return Outputs{Square(Output(&b, one, 0)), Output(&b, three, 0) * 3.0, Output(&b, three, 2)};
    });
  }
  SECTION("SplitV, with a -1 and unknown dims") {
    auto build = [](GraphBuilder& b, const Outputs& x) {
      Node* split = b.OpNode("SplitV", {x[0], Int32s(b, {1, -1, 2}), b.Scalar(-1, DT_INT32)},
                             {{"num_split", MakeAttr(int64_t{3})}});
      // Output 1 is unused: its gradient is zeros.
      return Outputs{Square(Output(&b, split, 0)), Output(&b, split, 2) * 2.0};
    };
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 5}, 1)}, build);
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{-1, -1}};
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 5}, 1)}, build, options);
  }
  SECTION("Split and SplitV, hand-derived; none for split_dim and size_splits") {
    Graph g;
    GraphBuilder b(&g);
    auto x = b.Placeholder(DT_DOUBLE, {2, 4}, "x");
    auto axis = b.Scalar(1, DT_INT32);
    auto sizes = Int32s(b, {-1, 1});
    Node* split = b.OpNode("Split", {axis, x}, {{"num_split", MakeAttr(int64_t{2})}});
    Node* splitv = b.OpNode("SplitV", {x, sizes, axis}, {{"num_split", MakeAttr(int64_t{2})}});
    // y = 2 * sum(x[:, :2]) + sum(x[:, 3:]): Split's part 1 and SplitV's part 0 are unused.
    auto y = ReduceSumAll(Output(&b, split, 0) * 2.0) + ReduceSumAll(Output(&b, splitv, 1));
    auto grads = AddSymbolicGradients(b, {y}, {x, axis, sizes});
    REQUIRE(grads.ok());
    CHECK_FALSE((*grads)[1].valid());
    CHECK_FALSE((*grads)[2].valid());
    auto out = RunGraph(g, {{"x", RandomDoubles({2, 4}, 1)}}, {(*grads)[0].name()});
    REQUIRE(out.ok());
    CHECK(Values(out->at(0)) == std::vector<double>{2, 2, 0, 1, 2, 2, 0, 1});
  }
  SECTION("Slice") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({3, 4}, 1)}, [](GraphBuilder& b, const Outputs& x) {
      return Outputs{b.Op("Slice", {x[0], Int32s(b, {1, 1}), Int32s(b, {2, -1})})};
    });
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{-1, 4}};
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({3, 4}, 1)},
        [](GraphBuilder& b, const Outputs& x) {
          return Outputs{b.Op("Slice", {x[0], Int32s(b, {1, 0}), Int32s(b, {1, 3})})};
        },
        options);
  }
  SECTION("StridedSlice") {
    // x[1:3, :, 0] and x[-1, 1:]
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({4, 3, 2}, 1)}, [](GraphBuilder& b, const Outputs& x) {
      Output a = b.Op("StridedSlice",
                      {x[0], Int32s(b, {1, 0, 0}), Int32s(b, {3, 0, 1}), Int32s(b, {1, 1, 1})},
                      {{"begin_mask", MakeAttr(int64_t{2})},
                       {"end_mask", MakeAttr(int64_t{2})},
                       {"shrink_axis_mask", MakeAttr(int64_t{4})}});
      Output c =
          b.Op("StridedSlice", {x[0], Int32s(b, {-1, 1}), Int32s(b, {0, 0}), Int32s(b, {1, 1})},
               {{"end_mask", MakeAttr(int64_t{2})}, {"shrink_axis_mask", MakeAttr(int64_t{1})}});
      return Outputs{a, c};
    });
  }
  SECTION("Pad") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3}, 1)}, [](GraphBuilder& b, const Outputs& x) {
      Output paddings = b.Const(Tensor::FromVector<int32_t>({1, 0, 2, 1}, {2, 2}));
      return Outputs{b.Op("Pad", {x[0], paddings})};
    });
  }
  SECTION("Tile") {
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3}, 1)}, [](GraphBuilder& b, const Outputs& x) {
      return Outputs{b.Op("Tile", {x[0], Int32s(b, {2, 3})})};
    });
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{-1, 3}};
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({2, 3}, 1)},
        [](GraphBuilder& b, const Outputs& x) {
          return Outputs{b.Op("Tile", {x[0], Int32s(b, {3, 1})})};
        },
        options);
  }
}

TEST_CASE("Gradients of Fill, PadV2 and Snapshot match finite differences", "[gradients]") {
  REQUIRE_GRADIENTS_MATCH({RandomDoubles({}, 1), RandomDoubles({2, 3}, 2)}, [](GraphBuilder& b,
                                                                               const Outputs& x) {
    Output filled = b.Op("Fill", {Int32s(b, {2, 3}), x[0]});
    Output padded = b.Op("PadV2", {x[1], b.Const(Tensor::FromVector<int32_t>({0, 1, 1, 0}, {2, 2})),
                                   b.Scalar(0.5, DT_DOUBLE)});
    return Outputs{filled * x[1], b.Op("Snapshot", {padded})};
  });
}

// ---- nn ops ----------------------------------------------------------------------------------

TEST_CASE("Gradients of BiasAdd match finite differences", "[gradients]") {
  REQUIRE_GRADIENTS_MATCH(
      {RandomDoubles({3, 4}, 1), RandomDoubles({4}, 2)},
      [](GraphBuilder&, const Outputs& x) { return Outputs{BiasAdd(x[0], x[1])}; });
  REQUIRE_GRADIENTS_MATCH(
      {RandomDoubles({2, 3, 3, 4}, 1), RandomDoubles({4}, 2)},
      [](GraphBuilder&, const Outputs& x) { return Outputs{BiasAdd(x[0], x[1])}; });
}

TEST_CASE("Gradients of the cross-entropy ops match finite differences", "[gradients]") {
  if (SkipWithoutOps({"SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits"})) {
    return;
  }
  // The backprop output is softmax - labels: the logits' gradient only for labels that sum to
  // 1 (as in TF), so the labels are a softmax too.
  SECTION("dense: logits and labels") {
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({3, 4}, 1, -2, 2), RandomDoubles({3, 4}, 2, -1, 1)},
        [](GraphBuilder& b, const Outputs& x) {
          Node* n = b.OpNode("SoftmaxCrossEntropyWithLogits", {x[0], Softmax(x[1])});
          return Outputs{Output(&b, n, 0)};
        });
  }
  SECTION("dense: a gradient into the backprop output too") {
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({3, 4}, 1, -2, 2), RandomDoubles({3, 4}, 2, -1, 1)},
        [](GraphBuilder& b, const Outputs& x) {
          Node* n = b.OpNode("SoftmaxCrossEntropyWithLogits", {x[0], Softmax(x[1])});
          return Outputs{Output(&b, n, 0), Output(&b, n, 1)};
        });
  }
  SECTION("sparse") {
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({3, 4}, 1, -2, 2)}, [](GraphBuilder& b, const Outputs& x) {
          Output labels = b.Const(Tensor::FromVector<int32_t>({2, 0, 3}, {3}));
          Node* n = b.OpNode("SparseSoftmaxCrossEntropyWithLogits", {x[0], labels});
          return Outputs{Output(&b, n, 0), Output(&b, n, 1)};
        });
  }
}

TEST_CASE("Gradients of Conv2D match finite differences", "[gradients]") {
  if (SkipWithoutOps({"Conv2DBackpropInput", "Conv2DBackpropFilter"})) return;
  struct Case {
    TensorShape input, filter;
    std::vector<int64_t> strides;
    const char* padding;
  };
  const std::vector<Case> cases = {
      {{1, 5, 5, 2}, {3, 3, 2, 3}, {1, 1, 1, 1}, "SAME"},
      {{2, 5, 4, 1}, {2, 3, 1, 2}, {1, 1, 1, 1}, "VALID"},
      {{1, 6, 5, 2}, {3, 3, 2, 2}, {1, 2, 2, 1}, "SAME"},
      {{1, 7, 6, 1}, {3, 2, 1, 2}, {1, 2, 3, 1}, "VALID"},
  };
  SECTION("unknown batch size") {
    GradCheckOptions options;
    options.placeholder_shapes = {TensorShape{-1, 5, 5, 2}, TensorShape{3, 3, 2, 2}};
    REQUIRE_GRADIENTS_MATCH(
        {RandomDoubles({2, 5, 5, 2}, 1), RandomDoubles({3, 3, 2, 2}, 2)},
        [](GraphBuilder&, const Outputs& x) {
          return Outputs{Conv2D(x[0], x[1], {1, 2, 2, 1}, "SAME")};
        },
        options);
  }
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.input.DebugString() << " " << c.filter.DebugString() << " " << c.padding
                                          << " stride " << c.strides[1]) {
      REQUIRE_GRADIENTS_MATCH({RandomDoubles(c.input, 1), RandomDoubles(c.filter, 2)},
                              [&](GraphBuilder&, const Outputs& x) {
                                return Outputs{Conv2D(x[0], x[1], c.strides, c.padding)};
                              });
    }
  }
}

TEST_CASE("Gradients of pooling match finite differences", "[gradients]") {
  struct Case {
    std::vector<int64_t> ksize, strides;
    const char* padding;
  };
  const std::vector<Case> cases = {
      {{1, 2, 2, 1}, {1, 2, 2, 1}, "VALID"},
      {{1, 3, 3, 1}, {1, 2, 2, 1}, "SAME"},
      {{1, 2, 3, 1}, {1, 1, 2, 1}, "VALID"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION("MaxPool " << c.padding << " k" << c.ksize[1] << c.ksize[2]) {
      if (!SkipWithoutOps({"MaxPoolGrad"})) {
        REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 5, 5, 2}, 1)},
                                [&](GraphBuilder&, const Outputs& x) {
                                  return Outputs{MaxPool(x[0], c.ksize, c.strides, c.padding)};
                                });
      }
    }
    DYNAMIC_SECTION("AvgPool " << c.padding << " k" << c.ksize[1] << c.ksize[2]) {
      if (!SkipWithoutOps({"AvgPoolGrad"})) {
        REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 5, 5, 2}, 1)},
                                [&](GraphBuilder&, const Outputs& x) {
                                  return Outputs{AvgPool(x[0], c.ksize, c.strides, c.padding)};
                                });
      }
    }
  }
}

TEST_CASE("A small network's gradients match finite differences", "[gradients]") {
  // x[?,6] -> MatMul W -> + b -> Relu -> MatMul V -> LogSoftmax, like an MNIST MLP.
  GradCheckOptions options;
  options.placeholder_shapes = {TensorShape{-1, 6}, TensorShape{6, 5}, TensorShape{5},
                                TensorShape{5, 3}};
  REQUIRE_GRADIENTS_MATCH(
      {RandomDoubles({4, 6}, 1), RandomDoubles({6, 5}, 2), RandomDoubles({5}, 3),
       RandomDoubles({5, 3}, 4)},
      [](GraphBuilder&, const Outputs& x) {
        Output h = Relu(MatMul(x[0], x[1]) + x[2]);
        return Outputs{ReduceMeanAll(LogSoftmax(MatMul(h, x[3])))};
      },
      options);
}

TEST_CASE("A float32 MLP with variables trains with its symbolic gradients",
          "[gradients][variables]") {
  if (SkipWithoutOps({"SparseSoftmaxCrossEntropyWithLogits"})) return;
  // Plain gradient descent on a separable toy problem must drive the loss down.
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_FLOAT, {-1, 4}, "x");
  auto labels = b.Placeholder(DT_INT32, {-1}, "labels");
  auto W1 = b.Variable(b.Const(quiver::testing::RandomFloats({4, 8}, 1, -0.5, 0.5)), "W1");
  auto b1 = b.Variable(b.Zeros({8}), "b1");
  auto W2 = b.Variable(b.Const(quiver::testing::RandomFloats({8, 3}, 2, -0.5, 0.5)), "W2");
  auto b2 = b.Variable(b.Zeros({3}), "b2");
  Output logits = BiasAdd(MatMul(Relu(BiasAdd(MatMul(x, W1), b1)), W2), b2);
  Node* xent = b.OpNode("SparseSoftmaxCrossEntropyWithLogits", {logits, labels});
  Output loss = ReduceMeanAll(Output(&b, xent, 0));
  std::vector<VariableHandle> vars = {W1, b1, W2, b2};
  std::vector<Output> var_values;
  for (const auto& v : vars) var_values.push_back(v.value);
  auto grads = AddSymbolicGradients(b, {loss}, var_values);
  REQUIRE(grads.ok());
  std::vector<Node*> updates;
  for (size_t i = 0; i < vars.size(); ++i) {
    REQUIRE((*grads)[i].valid());
    REQUIRE((*grads)[i].dtype() == DT_FLOAT);
    updates.push_back(AssignSub(vars[i].ref, (*grads)[i] * 0.5).node());
  }
  Node* train = Group(b, updates, "train");
  Node* init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());

  // Class = which of the first three features is largest.
  Tensor xv = quiver::testing::RandomFloats({16, 4}, 3, -1, 1);
  std::vector<int32_t> lv;
  for (int i = 0; i < 16; ++i) {
    const float* row = xv.data<float>() + 4 * i;
    lv.push_back(static_cast<int32_t>(std::max_element(row, row + 3) - row));
  }
  Tensor label_t = Tensor::FromVector<int32_t>(lv, {16});
  auto session = quiver::testing::SingleThreadSession(g);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());
  std::vector<Session::Feed> feeds = {{"x", xv}, {"labels", label_t}};
  auto first = (*session)->Run(feeds, {loss});
  REQUIRE(first.ok());
  for (int step = 0; step < 100; ++step) REQUIRE((*session)->Run(feeds, {}, {train->name()}).ok());
  auto last = (*session)->Run(feeds, {loss});
  REQUIRE(last.ok());
  CHECK(last->at(0).data<float>()[0] < 0.5f * first->at(0).data<float>()[0]);
}

// ---- the algorithm ---------------------------------------------------------------------------

TEST_CASE("Gradients along several paths are summed", "[gradients]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_DOUBLE, {3}, "x");
  auto y = x * x + x;  // dy/dx = 2x + 1
  auto grads = AddSymbolicGradients(b, {y}, {x});
  REQUIRE(grads.ok());
  auto out = RunGraph(g, {{"x", Tensor::FromVector<double>({1, -2, 0.5}, {3})}}, {(*grads)[0]});
  REQUIRE(out.ok());
  CHECK(Values(out->at(0)) == std::vector<double>{3, -3, 2});
  // And against finite differences, with a deeper diamond.
  REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3}, 1)}, [](GraphBuilder&, const Outputs& x) {
    Output a = Exp(x[0]);
    Output c = a * x[0] + Square(a) - Tanh(a * 2.0);
    return Outputs{c, a};
  });
}

TEST_CASE("StopGradient blocks its path", "[gradients]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_DOUBLE, {3}, "x");
  // d/dx sum(x * stop(x) + stop(x * x)) = stop(x) = x
  auto y = x * StopGradient(x) + StopGradient(x * x);
  auto grads = AddSymbolicGradients(b, {ReduceSumAll(y)}, {x});
  REQUIRE(grads.ok());
  auto out = RunGraph(g, {{"x", Tensor::FromVector<double>({1, -2, 0.5}, {3})}}, {(*grads)[0]});
  REQUIRE(out.ok());
  CHECK(Values(out->at(0)) == std::vector<double>{1, -2, 0.5});

  // Only a stopped path: no gradient at all (a null Output, like tf.gradients' None).
  auto stopped = AddSymbolicGradients(b, {StopGradient(x * 3.0)}, {x});
  REQUIRE(stopped.ok());
  CHECK_FALSE((*stopped)[0].valid());
}

QUIVER_REGISTER_OP("GradientsTestOpWithoutGradient")
    .Input("x: T")
    .Output("y: T")
    .Attr("T: type")
    .SetShapeFn(shape_fn::UnchangedShape);

TEST_CASE("An op without a gradient gives an error naming the op and node", "[gradients]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_DOUBLE, {3}, "x");
  auto y = b.Op("GradientsTestOpWithoutGradient", {Exp(x)}, {}, "mystery");
  auto grads = AddSymbolicGradients(b, {ReduceSumAll(y)}, {x});
  REQUIRE_FALSE(grads.ok());
  CHECK(ErrorOf(grads.status()) ==
        "no gradient defined for op 'GradientsTestOpWithoutGradient' (node 'mystery')");
  // The builder stays usable.
  CHECK(b.status().ok());

  // Declared non-differentiable ops are not errors.
  auto z = Cast(ArgMax(x, 0), DT_DOUBLE) + ReduceSumAll(x);
  auto ok = AddSymbolicGradients(b, {z}, {x});
  REQUIRE(ok.ok());
  REQUIRE((*ok)[0].valid());
}

TEST_CASE("Gradients with respect to a variable", "[gradients][variables]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_DOUBLE, {-1, 3}, "x");
  auto W = b.Variable(b.Const(RandomDoubles({3, 2}, 9)), "W");
  auto V = b.Variable(b.Const(RandomDoubles({3, 2}, 10)), "V");
  // W through its read Identity, V through a MatMul that reads the ref directly.
  auto loss = ReduceSumAll(MatMul(x, W) * MatMul(x, V.ref));
  auto grads = AddSymbolicGradients(b, {loss}, {W.value, W.ref, V.ref, x});
  REQUIRE(grads.ok());
  for (const Output& gr : *grads) REQUIRE(gr.valid());
  auto init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());

  auto session = quiver::testing::SingleThreadSession(g);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());
  Tensor xv = RandomDoubles({4, 3}, 11);
  auto out =
      (*session)->Run({{"x", xv}}, {(*grads)[0], (*grads)[1], (*grads)[2], W.value, V.value});
  REQUIRE(out.ok());
  // dL/dW = x^T (x V), dL/dV = x^T (x W).
  auto expected = [&](const Tensor& other) {
    std::vector<double> xw(4 * 2, 0.0), r(3 * 2, 0.0);
    const double* xp = xv.data<double>();
    const double* op = other.data<double>();
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 2; ++j)
        for (int k = 0; k < 3; ++k) xw[i * 2 + j] += xp[i * 3 + k] * op[k * 2 + j];
    for (int k = 0; k < 3; ++k)
      for (int j = 0; j < 2; ++j)
        for (int i = 0; i < 4; ++i) r[k * 2 + j] += xp[i * 3 + k] * xw[i * 2 + j];
    return r;
  };
  const std::vector<double> dW = expected(out->at(4)), dV = expected(out->at(3));
  for (int i = 0; i < 6; ++i) {
    CHECK(Values(out->at(0))[i] == Approx(dW[i]).epsilon(1e-12));
    CHECK(Values(out->at(1))[i] == Approx(dW[i]).epsilon(1e-12));
    CHECK(Values(out->at(2))[i] == Approx(dV[i]).epsilon(1e-12));
  }
}

TEST_CASE("AddSymbolicGradients API details", "[gradients]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_DOUBLE, {2}, "x");
  auto unrelated = b.Placeholder(DT_DOUBLE, {2}, "u");
  auto y1 = x * 3.0;
  auto y2 = Square(x);

  SECTION("grad_ys weight each y; several ys sum") {
    auto gy1 = b.Const(Tensor::FromVector<double>({1, 2}, {2}));
    auto gy2 = b.Const(Tensor::FromVector<double>({10, 100}, {2}));
    auto grads = AddSymbolicGradients(b, {y1, y2}, {x, unrelated}, {gy1, gy2});
    REQUIRE(grads.ok());
    CHECK_FALSE((*grads)[1].valid());  // u does not reach any y
    auto out = RunGraph(g, {{"x", Tensor::FromVector<double>({1, 2}, {2})}}, {(*grads)[0]});
    REQUIRE(out.ok());
    // 3 * gy1 + 2x * gy2
    CHECK(Values(out->at(0)) == std::vector<double>{3 + 20, 6 + 400});
  }
  SECTION("gradient nodes live under the 'gradients' scope") {
    auto grads = AddSymbolicGradients(b, {y2}, {x});
    REQUIRE(grads.ok());
    CHECK((*grads)[0].node()->name().rfind("gradients/", 0) == 0);
  }
  SECTION("errors") {
    auto wrong = AddSymbolicGradients(b, {y1}, {x}, {b.Scalar(1.0, DT_FLOAT)});
    REQUIRE_FALSE(wrong.ok());
    CHECK_THAT(ErrorOf(wrong.status()), Catch::Contains("grad_ys[0]"));
    auto count = AddSymbolicGradients(b, {y1, y2}, {x}, {y1});
    REQUIRE_FALSE(count.ok());
    auto null_x = AddSymbolicGradients(b, {y1}, {Output()});
    REQUIRE_FALSE(null_x.ok());
    CHECK_THAT(ErrorOf(null_x.status()), Catch::Contains("xs[0]"));
  }
  SECTION("a gradient function's error names the forward node") {
    auto axes = b.Placeholder(DT_INT32, {1}, "axes");
    auto sum = b.Op("Sum", {x, axes}, {}, "dynamic_sum");
    auto grads = AddSymbolicGradients(b, {sum}, {x});
    REQUIRE_FALSE(grads.ok());
    CHECK_THAT(ErrorOf(grads.status()),
               Catch::Contains("node 'dynamic_sum' (Sum)") && Catch::Contains("reduction_indices"));
  }
  SECTION("Gradient() records errors in the builder") {
    Output bad = b.Op("GradientsTestOpWithoutGradient", {x});
    CHECK_FALSE(Gradient(b, bad, x).valid());
    CHECK_THAT(ErrorOf(b.status()), Catch::Contains("no gradient defined"));
  }
}
