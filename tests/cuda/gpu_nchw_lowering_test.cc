// The channels-first fixtures (tests/data/nchw, tools/fixtures/make_nchw_fixtures.py) with every
// node requested on /gpu:0. The GPU kernels run NHWC only, like the CPU ones, so the same
// lowering (passes/channels_first_lowering.h, run by BuildStepGraph) must put the NHWC ops and
// their Transposes on the GPU and the int32 permutations of shape inputs on the host.
//   - placement: checked without a GPU (GPU:0 added to the device set by hand, as
//     gpu_placement_test.cc does); runs wherever quiver_gpu_tests is built.
//   - values: a Session on a real GPU:0 against TensorFlow's values (skipped without a GPU).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "devices/cuda/cuda_device.h"
#include "devices/device_set.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "passes/channels_first_lowering.h"
#include "passes/placement_report.h"
#include "runtime/session.h"
#include "runtime/step_graph.h"
#include "tests/cuda/gpu_test_harness.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> NchwCases() { return gputest::FixtureDirs("nchw"); }

TEST_CASE("GPU placement: lowered NCHW ops and their transposes land on the GPU",
          "[gpu][placement][channels_first]") {
  auto devices = gputest::CpuAndGpu0();
  REQUIRE(devices.ok());
  const std::vector<fs::path> cases = NchwCases();
  REQUIRE(cases.size() >= 6);
  for (const fs::path& dir : cases) {
    for (int level : {0, 1}) {
      const std::string what = dir.filename().string() + " level " + std::to_string(level);
      CAPTURE(what);
      auto m = fixture::ParseManifest((dir / "manifest.txt").string());
      REQUIRE(m.ok());
      auto graph_def = gputest::FixtureGraphOnGpu(dir);
      REQUIRE(graph_def.ok());
      Graph source;
      REQUIRE(ImportGraphDef(*graph_def, &source).ok());
      ExecutorSpec spec;
      for (const auto& f : m->feeds) spec.feeds.push_back(*ParseTensorName(f.first));
      for (const auto& f : m->fetches) spec.fetches.push_back(*ParseTensorName(f.first));
      StepGraphOptions step;
      step.optimizer.level = level;
      step.device_types = {"CPU", "GPU"};
      step.allow_soft_placement = true;
      step.only_step_nodes = true;
      auto built = BuildStepGraph(source, spec, step);
      REQUIRE(built.ok());
      CHECK(built->optimizer_error.empty());
      Graph& graph = *built->graph;
      auto report = gputest::PlaceSoft(&graph, *devices);
      REQUIRE(report.ok());
      int lowered = 0;
      for (const Node* n : graph.nodes()) {
        CAPTURE(n->name(), n->op(), n->assigned_device());
        const bool on_gpu = n->assigned_device().find("GPU") != std::string::npos;
        if (IsChannelsFirstLowerableOp(n->op())) {
          CHECK(*n->GetAttr<std::string>("data_format") == "NHWC");
          if (n->output_type(0) == DT_FLOAT) CHECK(on_gpu);
          ++lowered;
        }
        if (n->op() == "Transpose") CHECK(on_gpu);
        if (n->op() == "GatherV2" && n->output_type(0) == DT_INT32) CHECK_FALSE(on_gpu);
      }
      CHECK(lowered > 0);
      // Float data never comes back from device memory mid-step: only host-memory shape
      // outputs (Shape, ShapeN, ...) cross from the GPU to the CPU.
      for (const TransferReport& t : report->transfers) {
        CAPTURE(t.tensor, t.from, t.to, t.dtype);
        if (t.from.find("GPU") != std::string::npos) CHECK(t.dtype != "float");
      }
    }
  }
}

TEST_CASE("GPU: NCHW TensorFlow graphs on /gpu:0 give TensorFlow's results",
          "[gpu][channels_first]") {
  GPU_TEST_PROLOGUE();
  // In harness mode (no GPU) soft placement runs them on the CPU: a check of the harness.
  const std::vector<fs::path> cases = NchwCases();
  REQUIRE(cases.size() >= 6);  // a bundle without tests/data/nchw must fail, not pass empty
  for (const fs::path& dir : cases) {
    const std::string name = dir.filename().string();
    for (int level : {0, 1}) {
      DYNAMIC_SECTION("case " << name << " level " << level) {
        CHECK_FIXTURE_ON_GPU(dir, "nchw/" + name + " level " + std::to_string(level), level);
      }
    }
  }
}

}  // namespace
}  // namespace quiver
