// Gradients of the image resizes and the space/batch/depth rearrangements against central
// finite differences (tests/graph/gradient_check_util.h), for every resize attr combination.
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

Output Int32s(GraphBuilder& b, const std::vector<int32_t>& v, const TensorShape& shape) {
  return b.Const(Tensor::FromVector<int32_t>(v, shape));
}

AttrMap ResizeAttrs(bool align_corners, bool half_pixel_centers) {
  return {{"align_corners", MakeAttr(align_corners)},
          {"half_pixel_centers", MakeAttr(half_pixel_centers)}};
}

struct AttrCombo {
  bool align_corners, half_pixel_centers;
};
const AttrCombo kCombos[] = {{false, false}, {true, false}, {false, true}};

}  // namespace

TEST_CASE("Gradients of ResizeBilinear match finite differences", "[gradients][image]") {
  // ResizeBilinear outputs float32 whatever the input type, so the check runs through a cast:
  // the op is linear in its input, and a large step keeps float32 rounding below the tolerance.
  GradCheckOptions options;
  options.eps = 1e-2;
  options.rtol = 1e-3;
  options.atol = 1e-4;
  for (const AttrCombo& a : kCombos) {
    for (const std::vector<int32_t>& size :
         std::vector<std::vector<int32_t>>{{5, 7}, {2, 3}, {4, 2}}) {
      DYNAMIC_SECTION("align_corners " << a.align_corners << " half_pixel_centers "
                                       << a.half_pixel_centers << " size " << size[0] << "x"
                                       << size[1]) {
        REQUIRE_GRADIENTS_MATCH(
            {RandomDoubles({2, 3, 4, 2}, 1)},
            [&](GraphBuilder& b, const Outputs& x) {
              Output y = b.Op("ResizeBilinear", {x[0], Int32s(b, size, {2})},
                              ResizeAttrs(a.align_corners, a.half_pixel_centers));
              return Outputs{Cast(y, DT_DOUBLE)};
            },
            options);
      }
    }
  }
}

TEST_CASE("Gradients of ResizeNearestNeighbor match finite differences", "[gradients][image]") {
  for (const AttrCombo& a : kCombos) {
    for (const std::vector<int32_t>& size :
         std::vector<std::vector<int32_t>>{{5, 7}, {2, 3}, {4, 2}}) {
      DYNAMIC_SECTION("align_corners " << a.align_corners << " half_pixel_centers "
                                       << a.half_pixel_centers << " size " << size[0] << "x"
                                       << size[1]) {
        auto build = [&](GraphBuilder& b, const Outputs& x) {
          return Outputs{b.Op("ResizeNearestNeighbor", {x[0], Int32s(b, size, {2})},
                              ResizeAttrs(a.align_corners, a.half_pixel_centers))};
        };
        REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3, 4, 2}, 2)}, build);
        // Unknown height and width: the gradient reads the original size at run time.
        GradCheckOptions dynamic;
        dynamic.placeholder_shapes = {TensorShape{-1, -1, -1, 2}};
        REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3, 4, 2}, 3)}, build, dynamic);
      }
    }
  }
}

TEST_CASE("Gradients of DepthToSpace and SpaceToDepth match finite differences",
          "[gradients][image]") {
  REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 2, 3, 8}, 4)}, [](GraphBuilder& b, const Outputs& x) {
    return Outputs{b.Op("DepthToSpace", {x[0]}, {{"block_size", MakeAttr(2)}})};
  });
  REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 6, 3, 2}, 5)}, [](GraphBuilder& b, const Outputs& x) {
    return Outputs{b.Op("SpaceToDepth", {x[0]}, {{"block_size", MakeAttr(3)}})};
  });
}

TEST_CASE("Gradients of SpaceToBatchND and BatchToSpaceND match finite differences",
          "[gradients][image]") {
  REQUIRE_GRADIENTS_MATCH({RandomDoubles({2, 3, 5, 2}, 6)}, [](GraphBuilder& b, const Outputs& x) {
    return Outputs{
        b.Op("SpaceToBatchND", {x[0], Int32s(b, {2, 2}, {2}), Int32s(b, {1, 0, 1, 2}, {2, 2})})};
  });
  REQUIRE_GRADIENTS_MATCH({RandomDoubles({8, 2, 3, 2}, 7)}, [](GraphBuilder& b, const Outputs& x) {
    return Outputs{
        b.Op("BatchToSpaceND", {x[0], Int32s(b, {2, 2}, {2}), Int32s(b, {1, 0, 0, 3}, {2, 2})})};
  });
  // A dilated convolution as TF writes it: SpaceToBatchND -> Conv2D -> BatchToSpaceND.
  REQUIRE_GRADIENTS_MATCH(
      {RandomDoubles({1, 6, 6, 2}, 8), RandomDoubles({2, 2, 2, 3}, 9)},
      [](GraphBuilder& b, const Outputs& x) {
        Output blocks = Int32s(b, {2, 2}, {2});
        Output s2b = b.Op("SpaceToBatchND", {x[0], blocks, Int32s(b, {0, 0, 0, 0}, {2, 2})});
        Output conv = Conv2D(s2b, x[1], {1, 1, 1, 1}, "VALID");
        return Outputs{b.Op("BatchToSpaceND", {conv, blocks, Int32s(b, {0, 0, 0, 0}, {2, 2})})};
      });
}
