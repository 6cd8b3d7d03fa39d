// The executor runs the checks kernels defer (StepResources::deferred_checks) after the step's
// work, and a failing one fails the step: a test-only CPU op that adds one.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "devices/kernel.h"
#include "graph/builder.h"
#include "graph/mutex.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"
#include "runtime/session.h"
#include "tests/devices/kernel_test_util.h"

namespace quiver {
namespace {

Mutex g_log_mu;
std::vector<std::string> g_log;

void Log(const std::string& s) {
  MutexLock lock(&g_log_mu);
  g_log.push_back(s);
}

std::vector<std::string> TakeLog() {
  MutexLock lock(&g_log_mu);
  std::vector<std::string> out;
  out.swap(g_log);
  return out;
}

QUIVER_REGISTER_OP("DeferredCheckTest")
    .Input("x: float")
    .Output("y: float")
    .Attr("tag: string")
    .Attr("fail_check: bool = false")
    .Attr("fail_compute: bool = false")
    .SetShapeFn(shape_fn::UnchangedShape);

// y = x; adds a deferred check (failing when fail_check) or, without an executor, checks now.
class DeferredCheckTestOp : public OpKernel {
 public:
  explicit DeferredCheckTestOp(OpKernelConstruction& c) {
    tag_ = c.GetAttr<std::string>("tag").value_or("");
    fail_check_ = c.GetAttr<bool>("fail_check").value_or(false);
    fail_compute_ = c.GetAttr<bool>("fail_compute").value_or(false);
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    Log("compute:" + tag_);
    if (fail_compute_) return ctx.Error("compute failed");
    const std::string tag = tag_;
    const bool fail = fail_check_;
    const std::string prefix(ctx.Error("").message());
    auto check = [tag, fail, prefix]() -> absl::Status {
      Log("check:" + tag);
      return fail ? absl::InvalidArgumentError(prefix + "deferred check failed") : absl::OkStatus();
    };
    if (DeferredChecks* checks = ctx.deferred_checks()) {
      checks->Add(check);
    } else {
      RETURN_IF_ERROR(check());
    }
    ctx.set_output(0, ctx.input(0));
    return absl::OkStatus();
  }

 private:
  std::string tag_;
  bool fail_check_ = false;
  bool fail_compute_ = false;
};

QUIVER_REGISTER_KERNEL(KernelDef("DeferredCheckTest", kCpu), MakeFactory<DeferredCheckTestOp>());

// x -> a -> b -> (fetched) b, a chain so the computes run in order.
std::unique_ptr<Session> MakeSession(bool b_fails_check, bool b_fails_compute) {
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {2}, "x");
  Output a = b.Op("DeferredCheckTest", {x}, {{"tag", MakeAttr(std::string("a"))}}, "a");
  b.Op("DeferredCheckTest", {a},
       {{"tag", MakeAttr(std::string("b"))},
        {"fail_check", MakeAttr(b_fails_check)},
        {"fail_compute", MakeAttr(b_fails_compute)}},
       "b");
  REQUIRE(b.status().ok());
  SessionOptions options;
  options.optimizer.level = 0;
  auto session = Session::Create(g, options);
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  return *std::move(session);
}

TEST_CASE("The executor runs deferred checks after the step's kernels", "[runtime]") {
  auto session = MakeSession(false, false);
  TakeLog();
  auto out = session->Run({{"x", Tensor::FromVector<float>({1, 2}, {2})}}, {"b"}, {});
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  CHECK((*out)[0].ToVector<float>() == std::vector<float>{1, 2});
  CHECK(TakeLog() == std::vector<std::string>{"compute:a", "compute:b", "check:a", "check:b"});
  // Every step has its own list: a second run runs its own checks once.
  REQUIRE(session->Run({{"x", Tensor::FromVector<float>({1, 2}, {2})}}, {"b"}, {}).ok());
  CHECK(TakeLog() == std::vector<std::string>{"compute:a", "compute:b", "check:a", "check:b"});
}

TEST_CASE("A failing deferred check fails the step and returns no fetches", "[runtime]") {
  auto session = MakeSession(true, false);
  TakeLog();
  auto out = session->Run({{"x", Tensor::FromVector<float>({1, 2}, {2})}}, {"b"}, {});
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == absl::StatusCode::kInvalidArgument);
  INFO(out.status().ToString());
  CHECK(std::string(out.status().message()).find("'b'") != std::string::npos);
  CHECK(std::string(out.status().message()).find("deferred check failed") != std::string::npos);
  CHECK(TakeLog() == std::vector<std::string>{"compute:a", "compute:b", "check:a", "check:b"});
  // A target-only run fails the same way.
  auto target = session->Run({{"x", Tensor::FromVector<float>({1, 2}, {2})}}, {}, {"b"});
  CHECK_FALSE(target.ok());
}

TEST_CASE("A step that fails in a kernel drops its deferred checks unrun", "[runtime]") {
  auto session = MakeSession(false, true);
  TakeLog();
  auto out = session->Run({{"x", Tensor::FromVector<float>({1, 2}, {2})}}, {"b"}, {});
  REQUIRE_FALSE(out.ok());
  CHECK(std::string(out.status().message()).find("compute failed") != std::string::npos);
  CHECK(TakeLog() == std::vector<std::string>{"compute:a", "compute:b"});
}

TEST_CASE("Outside an executor a kernel has no deferred checks and checks at once", "[runtime]") {
  TakeLog();
  auto out = testing::RunKernel(
      "DeferredCheckTest", {{"tag", MakeAttr(std::string("k"))}, {"fail_check", MakeAttr(true)}},
      {Tensor::FromVector<float>({1, 2}, {2})});
  REQUIRE_FALSE(out.ok());
  CHECK(std::string(out.status().message()).find("deferred check failed") != std::string::npos);
  CHECK(TakeLog() == std::vector<std::string>{"compute:k", "check:k"});
}

}  // namespace
}  // namespace quiver
