// Gradients of TensorScatterUpdate/Add and SegmentSum/Mean (graph/gradients/misc_extra_grad.cc)
// against central finite differences (tests/graph/gradient_check_util.h).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "graph/builder.h"
#include "graph/gradients.h"
#include "tests/graph/gradient_assert.h"
#include "tests/graph/gradient_check_util.h"

using namespace quiver;
using quiver::testing::RandomDoubles;

namespace {

using Outputs = std::vector<Output>;

template <typename T>
Output ConstOf(GraphBuilder& b, std::vector<T> v, TensorShape shape) {
  return b.Const(Tensor::FromVector<T>(v, shape));
}

}  // namespace

TEST_CASE("TensorScatterUpdate/Add gradients match finite differences", "[gradients][misc_extra]") {
  // Add: rows 2, 0, 2 of a [4, 3] tensor (a repeat accumulates). Update: rows 2, 0 (with a
  // repeat only the last write counts, while TF's gradient, GatherNd, gives every update the
  // slice's gradient; finite differences would disagree there by design).
  for (const char* op : {"TensorScatterUpdate", "TensorScatterAdd"}) {
    INFO(op);
    const bool add = std::string(op) == "TensorScatterAdd";
    const int64_t rows = add ? 3 : 2;
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({4, 3}, 11), RandomDoubles({rows, 3}, 12)},
                            [op, add, rows](GraphBuilder& b, const Outputs& x) {
                              Output idx = add ? ConstOf<int32_t>(b, {2, 0, 2}, {3, 1})
                                               : ConstOf<int64_t>(b, {2, 0}, {rows, 1});
                              return Outputs{b.Op(op, {x[0], idx, x[1]}, {}, op)};
                            });
  }
}

TEST_CASE("SegmentSum/Mean gradients match finite differences", "[gradients][misc_extra]") {
  for (const char* op : {"SegmentSum", "SegmentMean"}) {
    INFO(op);
    REQUIRE_GRADIENTS_MATCH({RandomDoubles({5, 2}, 13)}, [op](GraphBuilder& b, const Outputs& x) {
      Output ids = ConstOf<int32_t>(b, {0, 0, 2, 2, 3}, {5});
      return Outputs{b.Op(op, {x[0], ids}, {}, op)};
    });
  }
}
