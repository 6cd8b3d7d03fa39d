// Gradients of Conv3D (input and filter), MaxPool3D and AvgPool3D against central finite
// differences (tests/graph/gradient_check_util.h): the registered gradients build
// Conv3DBackpropInputV2 / Conv3DBackpropFilterV2, MaxPool3DGrad and AvgPool3DGrad.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>
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
using Ints = std::vector<int64_t>;

AttrMap Window(const Ints& strides, const std::string& padding, const Ints& dilations = {}) {
  AttrMap a = {{"strides", MakeAttr(strides)}, {"padding", MakeAttr(padding)}};
  if (!dilations.empty()) a["dilations"] = MakeAttr(dilations);
  return a;
}

// Distinct values 0.01 apart (shuffled, centred on 0), so no max-pool window has a tie a
// finite-difference step could flip.
Tensor DistinctDoubles(const TensorShape& shape, uint32_t seed) {
  std::vector<double> v(static_cast<size_t>(shape.num_elements()));
  std::iota(v.begin(), v.end(), 0.0);
  std::shuffle(v.begin(), v.end(), std::mt19937(seed));
  for (double& x : v) x = (x - static_cast<double>(v.size()) / 2) * 0.01;
  return Tensor::FromVector<double>(v, shape);
}

struct ConvCase {
  const char* name;
  TensorShape input, filter;
  Ints strides;
  const char* padding;
  Ints dilations;
};

struct PoolCase {
  const char* name;
  TensorShape input;
  Ints ksize, strides;
  const char* padding;
};

const PoolCase kPoolCases[] = {
    {"SAME k2 s2 odd sizes", {1, 3, 4, 5, 2}, {1, 2, 2, 2, 1}, {1, 2, 2, 2, 1}, "SAME"},
    {"VALID k3 s1 overlapping", {2, 4, 3, 4, 1}, {1, 3, 2, 3, 1}, {1, 1, 1, 1, 1}, "VALID"},
    {"SAME k3 s2 even sizes", {1, 4, 4, 2, 2}, {1, 3, 3, 2, 1}, {1, 2, 2, 1, 1}, "SAME"},
};

}  // namespace

TEST_CASE("Gradients of Conv3D (input and filter) match finite differences", "[gradients][nn3d]") {
  const ConvCase cases[] = {
      {"SAME stride 1", {1, 3, 4, 3, 2}, {2, 3, 2, 2, 3}, {1, 1, 1, 1, 1}, "SAME", {}},
      {"SAME stride 2 even sizes", {2, 4, 4, 6, 2}, {3, 3, 3, 2, 2}, {1, 2, 2, 2, 1}, "SAME", {}},
      {"VALID mixed strides", {1, 4, 5, 4, 2}, {2, 2, 3, 2, 2}, {1, 1, 2, 1, 1}, "VALID", {}},
      {"VALID dilation",
       {1, 5, 4, 5, 1},
       {2, 2, 2, 1, 2},
       {1, 1, 1, 1, 1},
       "VALID",
       {1, 2, 1, 2, 1}},
      {"SAME dilation 2",
       {1, 4, 5, 3, 2},
       {2, 2, 2, 2, 1},
       {1, 1, 1, 1, 1},
       "SAME",
       {1, 2, 2, 2, 1}},
  };
  for (const ConvCase& c : cases) {
    DYNAMIC_SECTION(c.name) {
      REQUIRE_GRADIENTS_MATCH(
          {RandomDoubles(c.input, 1), RandomDoubles(c.filter, 2)},
          [&](GraphBuilder& b, const Outputs& x) {
            return Outputs{b.Op("Conv3D", {x[0], x[1]}, Window(c.strides, c.padding, c.dilations))};
          });
    }
  }
}

TEST_CASE("Gradients of AvgPool3D match finite differences", "[gradients][nn3d]") {
  for (const PoolCase& c : kPoolCases) {
    DYNAMIC_SECTION(c.name) {
      REQUIRE_GRADIENTS_MATCH({RandomDoubles(c.input, 3)}, [&](GraphBuilder& b, const Outputs& x) {
        AttrMap attrs = Window(c.strides, c.padding);
        attrs["ksize"] = MakeAttr(c.ksize);
        return Outputs{b.Op("AvgPool3D", {x[0]}, attrs)};
      });
    }
  }
}

TEST_CASE("Gradients of MaxPool3D match finite differences", "[gradients][nn3d]") {
  // MaxPool3D is float32-only (as in TF), so the check runs through casts: with values 0.01
  // apart and a 1e-3 step no window's maximum changes, and float32 rounding stays far below
  // the tolerance.
  GradCheckOptions options;
  options.eps = 1e-3;
  options.rtol = 1e-3;
  options.atol = 1e-3;
  for (const PoolCase& c : kPoolCases) {
    DYNAMIC_SECTION(c.name) {
      REQUIRE_GRADIENTS_MATCH(
          {DistinctDoubles(c.input, 4)},
          [&](GraphBuilder& b, const Outputs& x) {
            AttrMap attrs = Window(c.strides, c.padding);
            attrs["ksize"] = MakeAttr(c.ksize);
            Output y = b.Op("MaxPool3D", {Cast(x[0], DT_FLOAT)}, attrs);
            return Outputs{Cast(y, DT_DOUBLE)};
          },
          options);
    }
  }
}
