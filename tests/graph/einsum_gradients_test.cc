// Gradients of Einsum (TF's _EinsumGrad) and MatrixBandPart against central finite differences
// (tests/graph/gradient_check_util.h), with static and partial placeholder shapes (the latter
// exercise the run-time shape paths: Shape/GatherV2/BroadcastGradientArgs).
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

struct GradCase {
  const char* equation;
  std::vector<TensorShape> shapes;
  std::vector<TensorShape> partial;  // placeholder shapes for the dynamic run ({}: none)
};

testing::GradBuildFn EinsumBuild(const std::string& equation) {
  return [equation](GraphBuilder& b, const Outputs& x) {
    return Outputs{b.Op("Einsum", x, {{"equation", MakeAttr(equation)}})};
  };
}

}  // namespace

TEST_CASE("Gradients of Einsum match finite differences", "[gradients][einsum]") {
  const std::vector<GradCase> cases = {
      {"ij,jk->ik", {{3, 4}, {4, 5}}, {{-1, 4}, {4, -1}}},
      {"bij,bjk->bik", {{2, 3, 4}, {2, 4, 5}}, {{-1, 3, 4}, {-1, 4, 5}}},
      {"abc,cd->abd", {{2, 3, 4}, {4, 5}}, {{-1, -1, 4}, {4, 5}}},
      {"BTNH,BFNH->BNFT", {{2, 3, 2, 4}, {2, 5, 2, 4}}, {{-1, 3, 2, 4}, {-1, 5, 2, 4}}},
      {"BNFT,BTNH->BFNH", {{2, 2, 5, 3}, {2, 3, 2, 4}}, {}},
      {"ij->ji", {{3, 4}}, {{-1, -1}}},
      {"ij->", {{3, 4}}, {{-1, -1}}},
      {"ij->j", {{3, 4}}, {{-1, -1}}},
      {"abc->ca", {{2, 3, 4}}, {{-1, -1, -1}}},
      {"ii->i", {{3, 3}}, {}},
      {"ii->", {{3, 3}}, {}},
      {"ij", {{3, 4}}, {}},
      {"...ij,...jk->...ik", {{2, 1, 3, 4}, {3, 4, 2}}, {{-1, -1, 3, 4}, {-1, 4, 2}}},
      {"...ij,jk->...ik", {{2, 3, 4}, {4, 5}}, {}},
      {"ij,...jk->...ik", {{3, 4}, {2, 4, 5}}, {}},
      {"i,i->", {{5}, {5}}, {}},
      {"i,j->ij", {{3}, {4}}, {}},
      {"ij,jk", {{3, 4}, {4, 2}}, {}},
      {"abc,bd->ad", {{2, 3, 4}, {3, 5}}, {{-1, -1, -1}, {-1, 5}}},
      {"abc,dc->", {{2, 3, 4}, {5, 4}}, {}},
      {"bi,bi->b", {{3, 4}, {3, 4}}, {}},
      {"iaj,jbk->abik", {{2, 3, 4}, {4, 2, 3}}, {}},
      {"iij,jk->ik", {{3, 3, 4}, {4, 2}}, {}},
  };
  uint32_t seed = 1;
  for (const GradCase& c : cases) {
    DYNAMIC_SECTION(c.equation) {
      std::vector<Tensor> xs;
      for (const TensorShape& s : c.shapes) xs.push_back(RandomDoubles(s, seed++));
      REQUIRE_GRADIENTS_MATCH(xs, EinsumBuild(c.equation));
      if (!c.partial.empty()) {
        GradCheckOptions dynamic;
        dynamic.placeholder_shapes = c.partial;
        REQUIRE_GRADIENTS_MATCH(xs, EinsumBuild(c.equation), dynamic);
      }
    }
  }
}

TEST_CASE("Gradients of MatrixBandPart match finite differences", "[gradients][matrix_band_part]") {
  for (const auto& [lower, upper] :
       std::vector<std::pair<int, int>>{{0, -1}, {-1, 0}, {1, 2}, {-1, -1}, {0, 0}}) {
    DYNAMIC_SECTION("lower " << lower << " upper " << upper) {
      REQUIRE_GRADIENTS_MATCH(
          {RandomDoubles({2, 3, 4}, 7)},
          [lower = lower, upper = upper](GraphBuilder& b, const Outputs& x) {
            return Outputs{b.Op("MatrixBandPart",
                                {x[0], b.Scalar(lower, DT_INT64), b.Scalar(upper, DT_INT64)})};
          });
    }
  }
}
