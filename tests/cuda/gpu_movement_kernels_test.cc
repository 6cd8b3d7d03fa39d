// The GPU data-movement kernels (devices/cuda/kernels/gpu_movement_ops.cc and
// gpu_movement_index_ops.cc) against the CPU kernels (the reference, itself tested), on small
// inputs covering broadcasting, negative axes, empty tensors, every `movable` dtype and bad
// input. Like gpu_kernels_test.cc: label `gpu`, QUIVER_SKIPPED without a GPU, and
// QUIVER_GPU_HARNESS_CHECK=1 runs the CPU references and constructs every GPU kernel. In harness
// mode the cases that need no device (errors found before the first CUDA call, and the kernels
// that only alias or write host memory) also run the GPU kernel on the host and compare.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "devices/cuda/cuda_device.h"
#include "devices/device.h"
#include "devices/device_set.h"
#include "tests/cuda/gpu_test_harness.h"
#include "tests/devices/kernel_test_util.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

using namespace gputest;  // NOLINT: the shared harness (gpu_test_harness.h)

template <typename T>
Tensor Mat(std::vector<T> v, int64_t rows, int64_t cols) {
  return Tensor::FromVector<T>(v, TensorShape{rows, cols});
}

const std::vector<DataType> kMovable = {DT_FLOAT, DT_INT64, DT_DOUBLE, DT_BOOL};

// CPU vs GPU (resident and staged) for one op, exactly (data movement is exact). `host_only`:
// the GPU kernel does no device work (aliases or host outputs), so harness mode runs it on the
// host and compares too.
bool MatchesCpu(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs,
                const std::vector<int>& host_inputs = {}, bool host_only = false) {
  MatchOptions options;
  options.rtol = 0;
  options.atol = 0;
  options.host_inputs = host_inputs;
  options.host_only = host_only;
  return gputest::MatchesCpu(op, attrs, inputs, options);
}

// Bad input: the CPU kernel fails, and the GPU kernel fails with the same message (in harness
// mode on the host: every check runs before the first CUDA call).
void FailsLikeCpu(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs,
                  const std::vector<int>& host_inputs = {}) {
  CAPTURE(op);
  auto cpu = testing::RunKernel(op, attrs, inputs);
  if (cpu.ok()) {
    FAIL_CHECK("the CPU reference accepted the input");
    return;
  }
  const std::string want(cpu.status().message());
  CAPTURE(want);
  if (HarnessMode()) {
    auto host = RunGpu(nullptr, op, attrs, inputs, false, host_inputs);
    CHECK_FALSE(host.ok());
    if (!host.ok()) CHECK(std::string(host.status().message()) == want);
    return;
  }
  for (bool resident : {true, false}) {
    CAPTURE(resident);
    auto gpu = RunGpu(op, attrs, inputs, resident, host_inputs);
    CHECK_FALSE(gpu.ok());
    if (!gpu.ok()) CHECK(std::string(gpu.status().message()) == want);
  }
}
// Asserts (CHECK inside) that the GPU kernel rejects the input with the CPU kernel's message.
#define CHECK_FAILS_LIKE_CPU(...) FailsLikeCpu(__VA_ARGS__)

AttrMap Axis(int64_t axis) { return {{"axis", MakeAttr(axis)}}; }

// ---- cases ----------------------------------------------------------------------------------

TEST_CASE("GPU movement: Pack, Unpack and Concat match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(21);
  for (DataType dt : kMovable) {
    CAPTURE(dt);
    Tensor a = Random({2, 3, 4}, &rng, dt), b = Random({2, 3, 4}, &rng, dt),
           c = Random({2, 3, 4}, &rng, dt);
    for (int64_t axis : {0, 1, 3, -1, -4}) {
      CAPTURE(axis);
      CHECK(MatchesCpu("Pack", Axis(axis), {a, b, c}));
    }
    CHECK(MatchesCpu("Pack", {}, {a}));
    CHECK(MatchesCpu("Pack", {}, {Random({}, &rng, dt), Random({}, &rng, dt)}));  // scalars
    CHECK(MatchesCpu("Pack", Axis(1), {Random({0, 3}, &rng, dt), Random({0, 3}, &rng, dt)}));
    for (int64_t axis : {0, 1, 2, -1}) {
      CAPTURE(axis);
      AttrMap attrs = Axis(axis);
      attrs["num"] = MakeAttr(a.dim(static_cast<int>(axis < 0 ? axis + 3 : axis)));
      CHECK(MatchesCpu("Unpack", attrs, {a}));
    }
    AttrMap empty_rows = Axis(1);
    empty_rows["num"] = MakeAttr(int64_t{2});
    CHECK(MatchesCpu("Unpack", empty_rows, {Random({0, 2}, &rng, dt)}));
    Tensor d = Random({2, 5, 4}, &rng, dt), e = Random({2, 0, 4}, &rng, dt);
    CHECK(MatchesCpu("Concat", {}, {Tensor::Scalar<int32_t>(1), a, d, e}, {0}));
    CHECK(MatchesCpu("Concat", {}, {Tensor::Scalar<int32_t>(-3), a, b}, {0}));
    CHECK(MatchesCpu("Concat", {}, {Tensor::Scalar<int32_t>(-1), a, c, b}, {0}));
  }
}

TEST_CASE("GPU movement: Split and SplitV match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(22);
  const AttrMap two = {{"num_split", MakeAttr(int64_t{2})}};
  const AttrMap three = {{"num_split", MakeAttr(int64_t{3})}};
  for (DataType dt : kMovable) {
    CAPTURE(dt);
    Tensor a = Random({4, 6, 2}, &rng, dt);
    for (int32_t axis : {0, 1, 2, -1, -3}) {
      CAPTURE(axis);
      CHECK(MatchesCpu("Split", two, {Tensor::Scalar<int32_t>(axis), a}, {0}));
    }
    CHECK(MatchesCpu("Split", three, {Tensor::Scalar<int32_t>(1), a}, {0}));
    CHECK(MatchesCpu("Split", two, {Tensor::Scalar<int32_t>(1), Random({0, 4}, &rng, dt)}, {0}));
    // One part is the value itself: no device work.
    CHECK(MatchesCpu("Split", {{"num_split", MakeAttr(int64_t{1})}},
                     {Tensor::Scalar<int32_t>(0), a}, {0}, true));
    CHECK(MatchesCpu("SplitV", three, {a, Vec<int32_t>({1, -1, 2}), Tensor::Scalar<int32_t>(1)},
                     {1, 2}));
    CHECK(
        MatchesCpu("SplitV", two, {a, Vec<int64_t>({3, 1}), Tensor::Scalar<int32_t>(-3)}, {1, 2}));
    CHECK(MatchesCpu("SplitV", three, {a, Vec<int32_t>({0, 2, 0}), Tensor::Scalar<int32_t>(-1)},
                     {1, 2}));
  }
}

TEST_CASE("GPU movement: Pad, PadV2 and BroadcastTo match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(22);
  for (DataType dt : kMovable) {
    CAPTURE(dt);
    Tensor x = Random({2, 3, 4}, &rng, dt);
    Tensor pads = Mat<int32_t>({1, 0, 0, 2, 1, 1}, 3, 2);
    CHECK(MatchesCpu("Pad", {}, {x, pads}, {1}));
    CHECK(MatchesCpu("Pad", {}, {x, Mat<int64_t>({0, 0, 2, 1, 0, 0}, 3, 2)}, {1}));
    CHECK(MatchesCpu("Pad", {}, {x, Mat<int32_t>({0, 0, 0, 0, 0, 0}, 3, 2)}, {1},
                     /*host_only=*/true));  // nothing to pad: an alias
    CHECK(MatchesCpu("Pad", {}, {Random({0, 3}, &rng, dt), Mat<int32_t>({1, 1, 0, 1}, 2, 2)}, {1}));
    CHECK(MatchesCpu("Pad", {}, {Random({}, &rng, dt), Tensor::FromVector<int32_t>({}, {0, 2})},
                     {1}, true));
    Tensor value = Random({}, &rng, dt);
    CHECK(MatchesCpu("PadV2", {}, {x, pads, value}, {1}));
    CHECK(MatchesCpu("PadV2", {}, {Random({5}, &rng, dt), Mat<int32_t>({3, 2}, 1, 2), value}, {1}));

    CHECK(MatchesCpu("BroadcastTo", {}, {Random({3}, &rng, dt), Vec<int32_t>({2, 3})}, {1}));
    CHECK(MatchesCpu("BroadcastTo", {}, {Random({2, 1}, &rng, dt), Vec<int64_t>({3, 2, 4})}, {1}));
    CHECK(MatchesCpu("BroadcastTo", {}, {Random({}, &rng, dt), Vec<int32_t>({2, 2})}, {1}));
    CHECK(MatchesCpu("BroadcastTo", {}, {Random({1, 3}, &rng, dt), Vec<int32_t>({0, 3})}, {1}));
    CHECK(MatchesCpu("BroadcastTo", {}, {x, Vec<int32_t>({2, 3, 4})}, {1}, true));  // alias
  }
}

TEST_CASE("GPU movement: Snapshot, IdentityN and ShapeN match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(23);
  for (DataType dt : kMovable) {
    CAPTURE(dt);
    CHECK(MatchesCpu("Snapshot", {}, {Random({3, 5}, &rng, dt)}));
    CHECK(MatchesCpu("Snapshot", {}, {Random({0, 5}, &rng, dt)}));
  }
  Tensor f = Random({2, 3}, &rng), i = Random({4}, &rng, DT_INT64), s = Random({}, &rng, DT_BOOL);
  CHECK(MatchesCpu("IdentityN", {}, {f, i, s}, {}, true));
  CHECK(MatchesCpu("ShapeN", {}, {f, Random({}, &rng), Random({4, 1, 2, 3}, &rng)}, {}, true));
  CHECK(MatchesCpu("ShapeN", {{"out_type", MakeAttr(DT_INT64)}},
                   {i, Random({0, 7, 1}, &rng, DT_INT64)}, {}, true));
}

TEST_CASE("GPU movement: SelectV2 and logical ops with broadcasting match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(24);
  const std::vector<std::vector<std::vector<int64_t>>> shapes = {
      {{2, 3}, {2, 3}, {2, 3}}, {{3}, {2, 3}, {}},        {{}, {2, 2}, {2, 2}},
      {{}, {2, 2}, {1}},        {{2, 1, 4}, {3, 1}, {1}}, {{1, 5, 1}, {4, 1, 6}, {5, 6}},
      {{0, 3}, {3}, {1, 3}},    {{2, 3}, {}, {}}};
  for (DataType dt : kMovable) {
    for (const auto& sh : shapes) {
      CAPTURE(dt, sh);
      CHECK(MatchesCpu(
          "SelectV2", {},
          {Random(sh[0], &rng, DT_BOOL), Random(sh[1], &rng, dt), Random(sh[2], &rng, dt)}));
    }
  }
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> pairs = {
      {{4, 5}, {4, 5}}, {{4, 5}, {5}},       {{4, 1}, {1, 5}},
      {{}, {3, 2}},     {{2, 1, 3}, {4, 1}}, {{0, 2}, {2}}};
  for (const auto& [xs, ys] : pairs) {
    CAPTURE(xs, ys);
    Tensor x = Random(xs, &rng, DT_BOOL), y = Random(ys, &rng, DT_BOOL);
    CHECK(MatchesCpu("LogicalAnd", {}, {x, y}));
    CHECK(MatchesCpu("LogicalOr", {}, {x, y}));
    CHECK(MatchesCpu("LogicalNot", {}, {x}));
  }
}

TEST_CASE("GPU movement: GatherV2 and OneHot match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(25);
  for (DataType dt : kMovable) {
    CAPTURE(dt);
    Tensor p = Random({5, 4, 3}, &rng, dt);
    CHECK(MatchesCpu("GatherV2", {}, {p, Vec<int32_t>({4, 0, 2, 2}), Tensor::Scalar<int32_t>(0)},
                     {2}));
    CHECK(MatchesCpu("GatherV2", {},
                     {p, Mat<int64_t>({3, 0, 1, 1, 2, 3}, 2, 3), Tensor::Scalar<int64_t>(1)}, {2}));
    CHECK(MatchesCpu("GatherV2", {}, {p, Vec<int32_t>({2, 0}), Tensor::Scalar<int32_t>(-1)}, {2}));
    CHECK(MatchesCpu("GatherV2", {}, {p, Tensor::Scalar<int32_t>(3), Tensor::Scalar<int32_t>(0)},
                     {2}));
    CHECK(MatchesCpu("GatherV2", {},
                     {p, Tensor::FromVector<int32_t>({}, {0}), Tensor::Scalar<int32_t>(1)}, {2}));
    // batch_dims = 1: params [2, 5, 3], indices [2, 4], axis 1 (= -2); and batch_dims = -1.
    AttrMap batch = {{"batch_dims", MakeAttr(int64_t{1})}};
    Tensor bp = Random({2, 5, 3}, &rng, dt);
    Tensor bi = Mat<int32_t>({4, 0, 1, 1, 2, 3, 0, 4}, 2, 4);
    CHECK(MatchesCpu("GatherV2", batch, {bp, bi, Tensor::Scalar<int32_t>(1)}, {2}));
    CHECK(MatchesCpu("GatherV2", batch, {bp, bi, Tensor::Scalar<int32_t>(-2)}, {2}));
    CHECK(MatchesCpu("GatherV2", {{"batch_dims", MakeAttr(int64_t{-1})}},
                     {bp, bi, Tensor::Scalar<int32_t>(1)}, {2}));

    Tensor on = Random({}, &rng, dt), off = Random({}, &rng, dt);
    Tensor idx = Mat<int32_t>({0, 4, 2, -1, 5, 1}, 2, 3);  // -1 and 5 (= depth): all-off rows
    for (int64_t axis : {-1, 0, 1, 2}) {
      CAPTURE(axis);
      CHECK(MatchesCpu("OneHot", Axis(axis), {idx, Tensor::Scalar<int32_t>(5), on, off}, {1}));
    }
    CHECK(MatchesCpu("OneHot", {},
                     {Vec<int64_t>({3, 0, 7, -2}), Tensor::Scalar<int32_t>(4), on, off}, {1}));
    CHECK(MatchesCpu("OneHot", {},
                     {Tensor::FromVector<int64_t>({}, {0}), Tensor::Scalar<int32_t>(3), on, off},
                     {1}));
    CHECK(
        MatchesCpu("OneHot", {}, {Vec<int64_t>({1, 0}), Tensor::Scalar<int32_t>(0), on, off}, {1}));
  }
}

TEST_CASE("GPU movement: DynamicStitch and ParallelDynamicStitch match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(26);
  for (const char* op : {"DynamicStitch", "ParallelDynamicStitch"}) {
    for (DataType dt : kMovable) {
      CAPTURE(op, dt);
      auto attrs = [dt](int64_t n) { return AttrMap{{"N", MakeAttr(n)}, {"T", MakeAttr(dt)}}; };
      // Interleaved rows.
      CHECK(MatchesCpu(op, attrs(2),
                       {Vec<int32_t>({0, 2}), Vec<int32_t>({1, 3}), Random({2, 3}, &rng, dt),
                        Random({2, 3}, &rng, dt)},
                       {0, 1}));
      // Duplicates (the later index wins), a gap (row 4 is zero), 2-D indices.
      CHECK(MatchesCpu(op, attrs(2),
                       {Mat<int32_t>({0, 1, 5, 1}, 2, 2), Vec<int32_t>({1, 2}),
                        Random({2, 2, 2}, &rng, dt), Random({2, 2}, &rng, dt)},
                       {0, 1}));
      // A scalar index (one row) and an empty indices tensor.
      CHECK(MatchesCpu(
          op, attrs(3),
          {Tensor::Scalar<int32_t>(1), Vec<int32_t>({0}), Tensor::FromVector<int32_t>({}, {0}),
           Random({3}, &rng, dt), Random({1, 3}, &rng, dt), Random({0, 3}, &rng, dt)},
          {0, 1, 2}));
      // Scalar rows.
      CHECK(MatchesCpu(op, attrs(1), {Vec<int32_t>({2, 0, 1}), Random({3}, &rng, dt)}, {0}));
    }
  }
}

TEST_CASE("GPU movement: Tile of any rank, index dtypes and grid-stride sizes match the CPU",
          "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(28);
  for (DataType dt : kMovable) {
    CAPTURE(dt);
    // Rank 5 and 6 (collapsed below 8 dims), zero multiples, a scalar, an empty input.
    CHECK(MatchesCpu("Tile", {}, {Random({2, 1, 3, 2, 2}, &rng, dt), Vec<int32_t>({2, 3, 1, 1, 2})},
                     {1}));
    CHECK(MatchesCpu(
        "Tile", {}, {Random({1, 2, 1, 2, 1, 3}, &rng, dt), Vec<int64_t>({2, 1, 2, 1, 2, 1})}, {1}));
    CHECK(MatchesCpu("Tile", {}, {Random({2, 3}, &rng, dt), Vec<int32_t>({0, 2})}, {1}));
    CHECK(
        MatchesCpu("Tile", {}, {Random({}, &rng, dt), Tensor::FromVector<int32_t>({}, {0})}, {1}));
    CHECK(MatchesCpu("Tile", {}, {Random({0, 3}, &rng, dt), Vec<int32_t>({2, 2})}, {1}));
    CHECK(MatchesCpu("Tile", {}, {Random({2, 3}, &rng, dt), Vec<int32_t>({1, 1})}, {1}));
    // int16 gather indices; uint8 / int8 one-hot indices (in device memory when resident).
    Tensor p = Random({5, 4}, &rng, dt);
    CHECK(MatchesCpu("GatherV2", {}, {p, Vec<int16_t>({4, 0, 3, 3}), Tensor::Scalar<int32_t>(0)},
                     {2}));
    Tensor on = Random({}, &rng, dt), off = Random({}, &rng, dt);
    CHECK(MatchesCpu("OneHot", {},
                     {Vec<uint8_t>({0, 3, 255, 2}), Tensor::Scalar<int32_t>(4), on, off}, {1}));
    CHECK(MatchesCpu("OneHot", Axis(0),
                     {Vec<int8_t>({-1, 3, 1, 2}), Tensor::Scalar<int32_t>(4), on, off}, {1}));
  }
  // More than 65536 blocks of 256 threads: the grid-stride loops go round more than once.
  const int64_t rows = 4097, cols = 4099;  // 16,793,603 > 65536 * 256 outputs
  CHECK(MatchesCpu("BroadcastTo", {}, {Random({1, cols}, &rng), Vec<int32_t>({rows, cols})}, {1}));
  Tensor wide = Random({rows, cols}, &rng);
  std::vector<int64_t> picks(rows);
  for (int64_t i = 0; i < rows; ++i) picks[i] = (i * 7919) % rows;
  CHECK(MatchesCpu("GatherV2", {}, {wide, Vec<int64_t>(picks), Tensor::Scalar<int32_t>(0)}, {2}));
  // Equal / NotEqual with incompatible_shape_error=false: a scalar, as on the CPU; AddN of one
  // empty tensor.
  for (const char* op : {"Equal", "NotEqual"}) {
    CAPTURE(op);
    CHECK(MatchesCpu(op, {{"incompatible_shape_error", MakeAttr(false)}},
                     {Random({2, 3}, &rng), Random({4}, &rng)}));
    CHECK(MatchesCpu(op, {{"incompatible_shape_error", MakeAttr(false)}},
                     {Random({2, 3}, &rng), Random({3}, &rng)}));
  }
  CHECK(MatchesCpu("AddN", {}, {Random({0, 4}, &rng)}));
}

TEST_CASE("GPU movement: bad input fails like the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(27);
  Tensor x = Random({2, 3}, &rng);
  CHECK_FAILS_LIKE_CPU("Pack", {}, {x, Random({3, 2}, &rng)});
  CHECK_FAILS_LIKE_CPU("Pack", Axis(3), {x, x});
  AttrMap unpack = Axis(0);
  unpack["num"] = MakeAttr(int64_t{3});
  CHECK_FAILS_LIKE_CPU("Unpack", unpack, {x});
  CHECK_FAILS_LIKE_CPU("Concat", {}, {Tensor::Scalar<int32_t>(0), x, Random({2, 4}, &rng)}, {0});
  const AttrMap split2 = {{"num_split", MakeAttr(int64_t{2})}};
  CHECK_FAILS_LIKE_CPU("Split", split2, {Tensor::Scalar<int32_t>(1), x}, {0});
  CHECK_FAILS_LIKE_CPU("Split", split2, {Tensor::Scalar<int32_t>(2), x}, {0});
  CHECK_FAILS_LIKE_CPU("SplitV", split2, {x, Vec<int32_t>({1, 1}), Tensor::Scalar<int32_t>(1)},
                       {1, 2});
  CHECK_FAILS_LIKE_CPU("SplitV", split2, {x, Vec<int32_t>({-1, -1}), Tensor::Scalar<int32_t>(1)},
                       {1, 2});
  CHECK_FAILS_LIKE_CPU("SplitV", split2, {x, Vec<int64_t>({1, 1}), Tensor::Scalar<int32_t>(-3)},
                       {1, 2});
  CHECK_FAILS_LIKE_CPU("Concat", {}, {Tensor::Scalar<int32_t>(2), x, x}, {0});
  CHECK_FAILS_LIKE_CPU("Pad", {}, {x, Mat<int32_t>({1, -1, 0, 0}, 2, 2)}, {1});
  CHECK_FAILS_LIKE_CPU("Pad", {}, {x, Mat<int32_t>({1, 1}, 1, 2)}, {1});
  CHECK_FAILS_LIKE_CPU("PadV2", {}, {x, Mat<int32_t>({1, 1, 0, 0}, 2, 2), Vec<float>({1.f, 2.f})},
                       {1});
  CHECK_FAILS_LIKE_CPU("BroadcastTo", {}, {x, Vec<int32_t>({2, 4})}, {1});
  CHECK_FAILS_LIKE_CPU("SelectV2", {}, {Random({4}, &rng, DT_BOOL), x, x});
  CHECK_FAILS_LIKE_CPU("SelectV2", {}, {Random({3}, &rng, DT_BOOL), x, Random({4}, &rng)});
  CHECK_FAILS_LIKE_CPU("LogicalAnd", {},
                       {Random({2, 3}, &rng, DT_BOOL), Random({2}, &rng, DT_BOOL)});
  Tensor p = Random({5, 4}, &rng);
  CHECK_FAILS_LIKE_CPU("GatherV2", {}, {p, Vec<int32_t>({1, 5}), Tensor::Scalar<int32_t>(0)}, {2});
  CHECK_FAILS_LIKE_CPU("GatherV2", {}, {p, Vec<int64_t>({-1}), Tensor::Scalar<int32_t>(1)}, {2});
  CHECK_FAILS_LIKE_CPU("GatherV2", {}, {p, Vec<int32_t>({0}), Tensor::Scalar<int32_t>(2)}, {2});
  Tensor on = Tensor::Scalar(1.f), off = Tensor::Scalar(0.f);
  CHECK_FAILS_LIKE_CPU("OneHot", {}, {Vec<int32_t>({1}), Tensor::Scalar<int32_t>(-1), on, off},
                       {1});
  CHECK_FAILS_LIKE_CPU(
      "OneHot", {}, {Vec<int32_t>({1}), Tensor::Scalar<int32_t>(3), Vec<float>({1, 2}), off}, {1});
  CHECK_FAILS_LIKE_CPU("OneHot", Axis(2), {Vec<int32_t>({1}), Tensor::Scalar<int32_t>(3), on, off},
                       {1});
  CHECK_FAILS_LIKE_CPU("Tile", {}, {x, Vec<int32_t>({2, -1})}, {1});
  CHECK_FAILS_LIKE_CPU("Tile", {}, {x, Vec<int32_t>({2, 1, 1})}, {1});
  CHECK_FAILS_LIKE_CPU("Equal", {}, {x, Random({4}, &rng)});
  AttrMap stitch = {{"N", MakeAttr(int64_t{1})}, {"T", MakeAttr(DT_FLOAT)}};
  CHECK_FAILS_LIKE_CPU("DynamicStitch", stitch, {Vec<int32_t>({0, -1}), Random({2}, &rng)}, {0});
  CHECK_FAILS_LIKE_CPU("DynamicStitch", stitch, {Vec<int32_t>({0, 1}), Random({3, 2}, &rng)}, {0});
}

}  // namespace
}  // namespace quiver
