// DeferredChecks (devices/deferred_checks.h): the checks an accelerator kernel leaves for the
// end of the step.
#include <catch2/catch.hpp>

#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "devices/deferred_checks.h"

namespace quiver {
namespace {

TEST_CASE("DeferredChecks: empty list", "[devices]") {
  DeferredChecks checks;
  CHECK(checks.empty());
  CHECK(checks.RunAll().ok());
  CHECK(checks.empty());
}

TEST_CASE("DeferredChecks: insertion order, first error wins, all run", "[devices]") {
  DeferredChecks checks;
  std::vector<int> order;
  checks.Add([&] {
    order.push_back(0);
    return absl::OkStatus();
  });
  checks.Add([&] {
    order.push_back(1);
    return absl::InvalidArgumentError("first");
  });
  checks.Add([&] {
    order.push_back(2);
    return absl::InvalidArgumentError("second");
  });
  CHECK_FALSE(checks.empty());
  absl::Status s = checks.RunAll();
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message() == "first");
  CHECK(order == std::vector<int>{0, 1, 2});
  // Consumed: a second RunAll runs nothing.
  CHECK(checks.empty());
  CHECK(checks.RunAll().ok());
  CHECK(order.size() == 3);
}

TEST_CASE("DeferredChecks: dropped checks release what they own", "[devices]") {
  auto owned = std::make_shared<int>(7);
  {
    DeferredChecks checks;
    checks.Add([owned] { return absl::OkStatus(); });
    CHECK(owned.use_count() == 2);
  }
  CHECK(owned.use_count() == 1);
}

TEST_CASE("DeferredChecks: Add from several threads", "[devices]") {
  DeferredChecks checks;
  constexpr int kThreads = 8, kPerThread = 200;
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        checks.Add([&ran] {
          ran++;
          return absl::OkStatus();
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK_FALSE(checks.empty());
  CHECK(checks.RunAll().ok());
  CHECK(ran.load() == kThreads * kPerThread);
}

}  // namespace
}  // namespace quiver
