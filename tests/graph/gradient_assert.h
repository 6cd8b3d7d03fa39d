// REQUIRE_GRADIENTS_MATCH(xs, build[, options]): asserts (REQUIRE/CHECK inside) that the
// symbolic gradients of `build` agree with central differences (gradient_check_util.h).
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/graph/gradient_check_util.h"

namespace quiver {
namespace testing {

inline void ExpectGradientsMatchImpl(const std::vector<Tensor>& xs, const GradBuildFn& build,
                                     const GradCheckOptions& options = {}) {
  auto report = CheckGradients(xs, build, options);
  INFO((report.ok() ? report->ToString() : std::string(report.status().message())));
  REQUIRE(report.ok());
  CHECK(report->passed);
}

}  // namespace testing
}  // namespace quiver

#define REQUIRE_GRADIENTS_MATCH(...) ::quiver::testing::ExpectGradientsMatchImpl(__VA_ARGS__)
