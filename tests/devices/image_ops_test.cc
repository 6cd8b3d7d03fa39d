// Image resizes and space/batch/depth rearrangements: kernels and shape functions. Expected
// values were computed with TensorFlow 2.21 (CPU) at authoring time, by
// tf.raw_ops.ResizeBilinear / ResizeNearestNeighbor / ResizeBilinearGrad /
// ResizeNearestNeighborGrad, tf.nn.depth_to_space / space_to_depth and
// tf.raw_ops.SpaceToBatchND / BatchToSpaceND on the inputs below, printed with "%.9g" (which
// round-trips float32), and are compared exactly: the kernels follow TF's float32 index and
// lerp arithmetic bit for bit.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "devices/kernel.h"
#include "graph/graph.h"
#include "tests/devices/kernel_test_util.h"

using namespace quiver;
using quiver::testing::InferOpShapes;
using quiver::testing::RunKernel;
using quiver::testing::ShapeInput;

namespace {

std::vector<Tensor> Run(const std::string& op, const AttrMap& attrs,
                        const std::vector<Tensor>& inputs, int intra_op_threads = 1) {
  auto out = RunKernel(op, attrs, inputs, intra_op_threads);
  INFO(op << ": " << out.status().ToString());
  REQUIRE(out.ok());
  return *std::move(out);
}

std::string RunError(const std::string& op, const AttrMap& attrs,
                     const std::vector<Tensor>& inputs) {
  auto out = RunKernel(op, attrs, inputs);
  REQUIRE_FALSE(out.ok());
  return std::string(out.status().message());
}

std::vector<TensorShape> Shapes(const std::string& op, const AttrMap& attrs,
                                const std::vector<ShapeInput>& inputs) {
  auto out = InferOpShapes(op, attrs, inputs);
  INFO(op << ": " << out.status().ToString());
  REQUIRE(out.ok());
  return *std::move(out);
}

std::string ShapeError(const std::string& op, const AttrMap& attrs,
                       const std::vector<ShapeInput>& inputs) {
  auto out = InferOpShapes(op, attrs, inputs);
  REQUIRE_FALSE(out.ok());
  return std::string(out.status().message());
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

Tensor Ints(const std::vector<int32_t>& v, const TensorShape& shape) {
  return Tensor::FromVector<int32_t>(v, shape);
}
Tensor Size(int32_t h, int32_t w) { return Ints({h, w}, TensorShape{2}); }

// ((i * mult) % mod - off) / 8 for i = 0.. (exact in float32): the Python side used the same.
Tensor Pattern(const TensorShape& shape, int mult, int mod, int off) {
  std::vector<float> v(static_cast<size_t>(shape.num_elements()));
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<float>(static_cast<int>((i * mult) % mod) - off) * 0.125f;
  }
  return Tensor::FromVector<float>(v, shape);
}

Tensor Iota(const TensorShape& shape) {
  std::vector<float> v(static_cast<size_t>(shape.num_elements()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::FromVector<float>(v, shape);
}

void CheckExact(const Tensor& got, const TensorShape& shape, const std::vector<float>& want) {
  REQUIRE(got.shape() == shape);
  const std::vector<float> g = got.ToVector<float>();
  REQUIRE(g.size() == want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i);
    CHECK(g[i] == want[i]);
  }
}

AttrMap ResizeAttrs(bool align_corners, bool half_pixel_centers) {
  return {{"align_corners", MakeAttr(align_corners)},
          {"half_pixel_centers", MakeAttr(half_pixel_centers)}};
}

struct ResizeCase {
  int h, w;
  bool align_corners, half_pixel_centers;
  std::vector<float> bilinear, nearest, bilinear_grad, nearest_grad;
};

// Input: Pattern([1, 3, 4, 2], 37, 17, 8); resized to [h, w]. The gradient ops get
// grads = Pattern([1, h, w, 2], 29, 13, 6) and the original [3, 4] image / size.
const std::vector<ResizeCase>& ResizeCases() {
  static const auto* cases = new std::vector<ResizeCase>{
      {5,
       3,
       false,
       false,
       {-1,
        -0.625,
        2.98023224e-08,
        0.37500003,
        -0.416666746,
        -0.0416667461,
        -0.474999964,
        -0.0999999642,
        0.099999994,
        0.474999994,
        -0.316666663,
        0.0583333448,
        0.0500000417,
        -5.96046448e-08,
        0.0583332777,
        0.433333278,
        -0.0749998987,
        0.0166666731,
        0.575000048,
        -0.750000119,
        -0.26666671,
        0.10833329,
        0.450000107,
        -0.308333427,
        0.75,
        -1,
        -0.37499997,
        2.98023224e-08,
        0.62500006,
        -0.416666746},
       {-1,    -0.625, -0.25,  0.125,  0.5,   0.875, -1,     -0.625, -0.25,  0.125,
        0.5,   0.875,  -0.125, 0.25,   0.625, 1,     -0.75,  -0.375, -0.125, 0.25,
        0.625, 1,      -0.75,  -0.375, 0.75,  -1,    -0.625, -0.25,  0.125,  0.5},
       {-0.800000012, -0.275000006, 0.166666642,  0.0833333433, 0.299999952,  -0.10833329,
        0.433333397,  -0.300000042, 0.225000024,  -0.474999964, 0.0833333284, -0.166666687,
        0.0500000119, 0.124999918,  0.016666688,  0.416666716,  -0.175000012, 0.24999994,
        -0.416666627, 0.0833333656, -0.350000024, 0.149999991,  -0.283333391, 0.216666713},
       {-0.875, -0.125, 0.625, -0.25, 0.5,   -0.375, 0,     0,      0, -0.875, -0.125, 0.625,
        -0.25,  0.5,    0,     0,     0.125, 0.5,    -0.75, -0.375, 0, 0.375,  0,      0}},
      {5,
       3,
       true,
       false,
       {-1,       -0.625,  0.125,  0.5,   -0.875,  -0.5,   -0.5625, -0.1875, 0.03125, 0.40625,
        -0.4375,  -0.0625, -0.125, 0.25,  -0.0625, 0.3125, 0,       0.375,   0.3125,  -0.375,
        -0.15625, 0.21875, 0.4375, -0.25, 0.75,    -1,     -0.25,   0.125,   0.875,   -0.875},
       {-1,    -0.625, 0.5,    0.875,  -0.875, -0.5,   -0.125, 0.25,  -0.75, -0.375,
        0,     0.375,  -0.125, 0.25,   -0.75,  -0.375, 0,      0.375, 0.75,  -1,
        0.125, 0.5,    0.875,  -0.875, 0.75,   -1,     0.125,  0.5,   0.875, -0.875},
       {-0.8125, -0.25,   0.15625, 0.03125,  0.15625, 0.03125,  0.625,   -0.4375,
        0.1875,  -0.6875, 0.03125, 0,        0.03125, 0,        -0.0625, 0.6875,
        -0.125,  0.4375,  -0.3125, -0.03125, -0.3125, -0.03125, -0.3125, 0.25},
       {-0.75, -0.375, 0,     0,     0,      0.375, 0.75, -0.5, 0.375, -0.5, 0,      0,
        0.25,  -0.625, 0.125, 0.875, -0.375, 0.375, 0,    0,    -0.5,  0.25, -0.625, 0.125}},
      {5,
       3,
       false,
       true,
       {-0.875,         -0.5,         0.125,        0.5,         -0.645833492, -0.270833492,
        -0.524999976,   -0.149999976, 0.049999997,  0.425000012, -0.43750003,  -0.0625000298,
        1.49011612e-08, 0.375,        -0.0625,      0.3125,      -0.124999881, 0.250000119,
        0.31250006,     -0.375000179, -0.175000027, 0.199999973, 0.400000215,  -0.287500203,
        0.520833313,    -0.875,       -0.25,        0.125,       0.750000119,  -0.645833492},
       {-1,     -0.625, 0.5,    0.875,  -0.875, -0.5,   -1,    -0.625, 0.5,   0.875,
        -0.875, -0.5,   -0.125, 0.25,   -0.75,  -0.375, 0,     0.375,  0.75,  -1,
        0.125,  0.5,    0.875,  -0.875, 0.75,   -1,     0.125, 0.5,    0.875, -0.875},
       {-0.6875,        -0.1875,      0.0499999672, -0.0374999791, 0.287499905,  -0.0708332509,
        0.500000119,    -0.354166746, 0.208333403,  -0.583333313,  0.0291666761, -0.116666734,
        -0.00833332539, 0.116666503,  0.0208334029, 0.583333492,   -0.145833388, 0.354166657,
        -0.329166681,   0.070833385,  -0.362499923, 0.0375000089,  -0.312500149, 0.1875},
       {-0.875, -0.125, 0,     0,    0.625,  -0.25, 0.5, -0.375, 0.5,  -0.75, 0,      0,
        -0.375, 0,      0.375, 0.75, -0.375, 0.375, 0,   0,      -0.5, 0.25,  -0.625, 0.125}},
      {2,
       7,
       false,
       false,
       {-1,           -0.625,       -0.571428537,  -0.196428537,  -0.142857105,
        0.232142895,  0.285714388,  0.660714388,   0.107142717,   0.482142717,
        -0.678571463, -0.303571463, -0.875,        -0.5,          0.3125,
        -0.375,       0.133928567,  0.0535714626,  -0.0446428657, 0.330357134,
        -0.223214328, 0.151785672,  -0.0982142091, -0.0267857462, 0.330357194,
        -0.205357134, 0.4375,       -0.25},
       {-1,    -0.625, -1,     -0.625, -0.25,  0.125,  -0.25,  0.125, 0.5,   0.875,
        0.5,   0.875,  -0.875, -0.5,   -0.125, 0.25,   -0.125, 0.25,  0.625, 1,
        0.625, 1,      -0.75,  -0.375, -0.75,  -0.375, 0,      0.375},
       {-0.75,         -0.214285731, 0.607142806,  -0.142857134,   0.428571403,   -0.321428508,
        0.464285761,   -0.821428657, -0.107142866, 0.160714269,    -0.0714285672, 0.24999997,
        -0.160714254,  0.160714328,  -0.410714328, -0.00892856717, -0.107142866,  0.160714269,
        -0.0714285672, 0.24999997,   -0.160714254, 0.160714328,    -0.410714328,  -0.00892856717},
       {-0.75, 0,    0.625, -0.25,  0.375, -0.5, 0.5, -0.75, 0, 0.75, -0.25, 0.5,
        -0.5,  0.25, -0.75, -0.375, 0,     0,    0,   0,     0, 0,    0,     0}},
      {2,
       7,
       true,
       false,
       {-1,      -0.625, -0.625, -0.25, -0.25, 0.125,   0.125,  0.5,    0.5,    0.875,
        -0.1875, 0.1875, -0.875, -0.5,  0.75,  -1,      0.0625, -0.625, -0.625, -0.25,
        -0.25,   0.125,  0.125,  0.5,   0.5,   -0.1875, 0.875,  -0.875},
       {-1,     -0.625, -0.25,  0.125, -0.25, 0.125,  0.5,    0.875, 0.5,    0.875,
        -0.875, -0.5,   -0.875, -0.5,  0.75,  -1,     -0.625, -0.25, -0.625, -0.25,
        0.125,  0.5,    0.125,  0.5,   0.875, -0.875, 0.875,  -0.875},
       {-0.75, -0.1875, 0.6875, -0.1875, 0.4375, -0.4375, 0.375,  -0.6875, 0,     0, 0, 0, 0, 0, 0,
        0,     -0.1875, 0.375,  -0.1875, 0.5625, -0.4375, 0.3125, -0.6875, -0.125},
       {-0.75, -0.375, 0.75, -0.125, 0.5,    -0.375, 0.25,   -0.625, 0,      0,     0,      0,
        0,     0,      0,    0,      -0.375, 0,      -0.125, 0.625,  -0.375, 0.375, -0.625, 0.125}},
      {2,
       7,
       false,
       true,
       {-0.78125, -0.40625,      -0.513392806, -0.138392806, -0.084821403, 0.290178597,   0.078125,
        0.453125, 0.127231956,   0.502231956,  -0.354910851, 0.0200891644, -0.65625,      -0.28125,
        0.53125,  -0.6875,       0.229910657,  -0.419642806, -0.252232194, 0.00892859697, -0.203125,
        0.171875, -0.0401784182, 0.220981956,  0.388392985,  -0.261160851, 0.65625,       -0.5625},
       {-1,     -0.625, -1,     -0.625, -0.25, 0.125,  0.5,   0.875, 0.5,    0.875,
        -0.875, -0.5,   -0.875, -0.5,   0.75,  -1,     0.75,  -1,    -0.625, -0.25,
        0.125,  0.5,    0.125,  0.5,    0.875, -0.875, 0.875, -0.875},
       {-0.522321463,  -0.127232149,  0.475446463,  -0.154017851, 0.321428478,  -0.308035612,
        0.287946492,   -0.535714388,  -0.216517851, 0.0758928433, 0.107142866,  0.0647321567,
        0.00446429104, -0.0379464105, -0.082589291, -0.196428597, -0.127232149, 0.354910672,
        -0.154017851,  0.348214328,   -0.308035612, 0.194196403,  -0.535714388, -0.053571403},
       {-0.75, 0, 0.75, -0.5, 0.5, -0.375, 0.25, -0.625, 0,      0,     0,      0,
        0,     0, 0,    0,    0,   0.75,   -0.5, -0.125, -0.375, 0.375, -0.625, 0.125}},
  };
  return *cases;
}

}  // namespace

// ---- resizes -------------------------------------------------------------------------------

TEST_CASE("Resize ops match TensorFlow bit for bit for every attr combination", "[image]") {
  const Tensor images = Pattern({1, 3, 4, 2}, 37, 17, 8);
  for (const ResizeCase& c : ResizeCases()) {
    DYNAMIC_SECTION("size " << c.h << "x" << c.w << " align_corners " << c.align_corners
                            << " half_pixel_centers " << c.half_pixel_centers) {
      const AttrMap attrs = ResizeAttrs(c.align_corners, c.half_pixel_centers);
      const TensorShape resized{1, c.h, c.w, 2};
      for (int threads : {1, 2}) {
        CheckExact(Run("ResizeBilinear", attrs, {images, Size(c.h, c.w)}, threads)[0], resized,
                   c.bilinear);
        CheckExact(Run("ResizeNearestNeighbor", attrs, {images, Size(c.h, c.w)}, threads)[0],
                   resized, c.nearest);
        const Tensor grads = Pattern(resized, 29, 13, 6);
        CheckExact(Run("ResizeBilinearGrad", attrs, {grads, images}, threads)[0], images.shape(),
                   c.bilinear_grad);
        CheckExact(Run("ResizeNearestNeighborGrad", attrs, {grads, Size(3, 4)}, threads)[0],
                   images.shape(), c.nearest_grad);
      }
      // Nearest moves bytes: an int32 image picks the same pixels.
      std::vector<int32_t> as_ints;
      for (float v : images.ToVector<float>()) as_ints.push_back(static_cast<int32_t>(v * 8));
      const Tensor nn =
          Run("ResizeNearestNeighbor", attrs, {Ints(as_ints, images.shape()), Size(c.h, c.w)})[0];
      REQUIRE(nn.dtype() == DT_INT32);
      const std::vector<int32_t> got = nn.ToVector<int32_t>();
      for (size_t i = 0; i < got.size(); ++i)
        CHECK(got[i] == static_cast<int32_t>(c.nearest[i] * 8));
    }
  }
}

TEST_CASE("ResizeBilinear of a uint8 image outputs float32 like TF", "[image]") {
  // (i * 23) % 251 as uint8, [2, 3, 3, 1] -> [4, 5] with half_pixel_centers (TF 2.21).
  std::vector<uint8_t> v;
  for (int i = 0; i < 18; ++i) v.push_back(static_cast<uint8_t>((i * 23) % 251));
  const Tensor out = Run("ResizeBilinear", ResizeAttrs(false, true),
                         {Tensor::FromVector<uint8_t>(v, TensorShape{2, 3, 3, 1}), Size(4, 5)})[0];
  REQUIRE(out.dtype() == DT_FLOAT);
  CheckExact(out, TensorShape{2, 4, 5, 1},
             {0,          9.20000076, 23,         36.8000031, 46,         43.125,     52.3250008,
              66.125,     79.9250031, 89.125,     94.875,     104.074997, 117.875,    131.675003,
              140.875,    138,        147.199997, 161,        174.800003, 184,        207,
              216.199997, 230,        93.1999664, 2,          93.25,      102.449997, 116.25,
              73.5749893, 45.125,     50.875,     60.0750008, 73.875,     87.6750031, 96.875,
              94,         103.199997, 117,        130.800003, 140});
}

TEST_CASE("ResizeBilinear to the input size is a cast", "[image]") {
  const Tensor images = Pattern({2, 3, 4, 1}, 37, 17, 8);
  for (bool align : {false, true}) {
    CheckExact(Run("ResizeBilinear", ResizeAttrs(align, false), {images, Size(3, 4)})[0],
               images.shape(), images.ToVector<float>());
  }
}

TEST_CASE("Resize ops reject bad sizes and attrs with the node named", "[image]") {
  const Tensor images = Pattern({1, 3, 4, 2}, 37, 17, 8);
  for (const char* op : {"ResizeBilinear", "ResizeNearestNeighbor"}) {
    CAPTURE(op);
    std::string e = RunError(op, ResizeAttrs(false, false), {images, Size(0, 3)});
    CHECK(Contains(e, "'op'"));
    CHECK(Contains(e, "must be positive"));
    e = RunError(op, ResizeAttrs(true, true), {images, Size(2, 3)});
    CHECK(Contains(e, "'op'"));
    CHECK(Contains(e, "align_corners must be False"));
    e = RunError(op, ResizeAttrs(false, false), {Pattern({3, 4, 2}, 1, 7, 0), Size(2, 3)});
    CHECK(Contains(e, "'op'"));
    CHECK(Contains(e, "4-dimensional"));
    e = RunError(op, ResizeAttrs(false, false), {images, Ints({2, 3, 4}, TensorShape{3})});
    CHECK(Contains(e, "'op'"));
    e = RunError(op, ResizeAttrs(false, false), {Pattern({1, 0, 4, 2}, 1, 7, 0), Size(2, 3)});
    CHECK(Contains(e, "non-zero size"));
  }
  std::string e = RunError("ResizeNearestNeighborGrad", ResizeAttrs(false, false),
                           {Pattern({1, 2, 2, 1}, 1, 7, 0), Size(-1, 3)});
  CHECK(Contains(e, "'op'"));
  e = RunError("ResizeBilinearGrad", ResizeAttrs(false, false),
               {Pattern({1, 2, 2, 1}, 1, 7, 0), Pattern({1, 0, 3, 1}, 1, 7, 0)});
  CHECK(Contains(e, "'op'"));
  CHECK(Contains(e, "original dimensions must be positive"));
}

TEST_CASE("Resize shape functions", "[image]") {
  const AttrMap attrs = ResizeAttrs(false, false);
  auto s = Shapes("ResizeBilinear", attrs,
                  {ShapeInput::Of(DT_UINT8, {-1, 7, 9, 3}), ShapeInput::Known(Size(4, 5))});
  CHECK(s[0] == TensorShape{-1, 4, 5, 3});
  s = Shapes("ResizeNearestNeighbor", attrs,
             {ShapeInput::Of(DT_FLOAT, {2, 7, 9, 3}), ShapeInput::Of(DT_INT32, {2})});
  CHECK(s[0] == TensorShape{2, -1, -1, 3});
  s = Shapes("ResizeBilinearGrad", attrs,
             {ShapeInput::Of(DT_FLOAT, {2, 4, 5, 3}), ShapeInput::Of(DT_DOUBLE, {2, 7, 9, 3})});
  CHECK(s[0] == TensorShape{2, 7, 9, 3});
  s = Shapes("ResizeNearestNeighborGrad", attrs,
             {ShapeInput::Of(DT_FLOAT, {2, 4, 5, 3}), ShapeInput::Known(Size(7, 9))});
  CHECK(s[0] == TensorShape{2, 7, 9, 3});
  std::string e = ShapeError("ResizeBilinear", attrs,
                             {ShapeInput::Of(DT_FLOAT, {2, 7, 3}), ShapeInput::Known(Size(4, 5))});
  CHECK(Contains(e, "'op'"));
  e = ShapeError("ResizeBilinear", attrs,
                 {ShapeInput::Of(DT_FLOAT, {2, 7, 9, 3}), ShapeInput::Known(Size(4, 0))});
  CHECK(Contains(e, "'op'"));
  CHECK(Contains(e, "positive"));
}

// ---- depth <-> space -------------------------------------------------------------------------

TEST_CASE("DepthToSpace and SpaceToDepth match TensorFlow", "[image]") {
  const AttrMap bs2 = {{"block_size", MakeAttr(2)}};
  // tf.nn.depth_to_space(iota [1, 2, 3, 8], 2).
  CheckExact(Run("DepthToSpace", bs2, {Iota({1, 2, 3, 8})})[0], TensorShape{1, 4, 6, 2},
             {0,  1,  2,  3,  8,  9,  10, 11, 16, 17, 18, 19, 4,  5,  6,  7,
              12, 13, 14, 15, 20, 21, 22, 23, 24, 25, 26, 27, 32, 33, 34, 35,
              40, 41, 42, 43, 28, 29, 30, 31, 36, 37, 38, 39, 44, 45, 46, 47});
  // tf.nn.space_to_depth(iota [2, 4, 6, 1], 2).
  CheckExact(Run("SpaceToDepth", bs2, {Iota({2, 4, 6, 1})})[0], TensorShape{2, 2, 3, 4},
             {0,  1,  6,  7,  2,  3,  8,  9,  4,  5,  10, 11, 12, 13, 18, 19,
              14, 15, 20, 21, 16, 17, 22, 23, 24, 25, 30, 31, 26, 27, 32, 33,
              28, 29, 34, 35, 36, 37, 42, 43, 38, 39, 44, 45, 40, 41, 46, 47});
  // Round trip with block 3 on int64 (any dtype), several threads.
  std::vector<int64_t> v(2 * 6 * 9 * 5);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(i) * 7 - 11;
  const Tensor x = Tensor::FromVector<int64_t>(v, TensorShape{2, 6, 9, 5});
  const AttrMap bs3 = {{"block_size", MakeAttr(3)}};
  const Tensor d = Run("SpaceToDepth", bs3, {x}, 2)[0];
  REQUIRE(d.shape() == TensorShape{2, 2, 3, 45});
  const Tensor back = Run("DepthToSpace", bs3, {d}, 2)[0];
  CHECK(back.ToVector<int64_t>() == v);
}

TEST_CASE("DepthToSpace and SpaceToDepth errors name the node", "[image]") {
  const AttrMap bs2 = {{"block_size", MakeAttr(2)}};
  std::string e = RunError("DepthToSpace", bs2, {Iota({1, 2, 3, 6})});
  CHECK(Contains(e, "'op'"));
  CHECK(Contains(e, "not divisible"));
  e = RunError("SpaceToDepth", bs2, {Iota({1, 3, 4, 2})});
  CHECK(Contains(e, "'op'"));
  CHECK(Contains(e, "divisible by block_size 2"));
  e = RunError("SpaceToDepth", bs2, {Iota({3, 4, 2})});
  CHECK(Contains(e, "4-D"));
  for (const char* op : {"DepthToSpace", "SpaceToDepth"}) {
    e = RunError(op, {{"block_size", MakeAttr(2)}, {"data_format", MakeAttr("NCHW")}},
                 {Iota({1, 4, 2, 2})});
    CHECK(Contains(e, "'op'"));
    CHECK(Contains(e, "NHWC only"));
  }
  auto s = Shapes("DepthToSpace", bs2, {ShapeInput::Of(DT_FLOAT, {-1, 3, -1, 12})});
  CHECK(s[0] == TensorShape{-1, 6, -1, 3});
  s = Shapes("SpaceToDepth", bs2, {ShapeInput::Of(DT_FLOAT, {5, 4, 6, -1})});
  CHECK(s[0] == TensorShape{5, 2, 3, -1});
}

// ---- space <-> batch -------------------------------------------------------------------------

TEST_CASE("SpaceToBatchND and BatchToSpaceND match TensorFlow", "[image]") {
  const Tensor block2 = Ints({2, 2}, TensorShape{2});
  // SpaceToBatchND(iota [2, 3, 5, 1], [2, 2], [[1, 0], [1, 2]]).
  CheckExact(Run("SpaceToBatchND", {},
                 {Iota({2, 3, 5, 1}), block2, Ints({1, 0, 1, 2}, TensorShape{2, 2})})[0],
             TensorShape{8, 2, 4, 1},
             {0, 0,  0,  0, 0, 6, 8,  0,  0,  0,  0,  0, 0,  21, 23, 0,  0,  0,  0,  0,  5,  7,
              9, 0,  0,  0, 0, 0, 20, 22, 24, 0,  0,  1, 3,  0,  0,  11, 13, 0,  0,  16, 18, 0,
              0, 26, 28, 0, 0, 2, 4,  0,  10, 12, 14, 0, 15, 17, 19, 0,  25, 27, 29, 0});
  // SpaceToBatchND(iota [2, 5, 3], [3], [[1, 0]]): one block dim, a remaining dim.
  CheckExact(Run("SpaceToBatchND", {},
                 {Iota({2, 5, 3}), Ints({3}, TensorShape{1}), Ints({1, 0}, TensorShape{1, 2})})[0],
             TensorShape{6, 2, 3},
             {0,  0,  0,  6,  7,  8,  0, 0, 0, 21, 22, 23, 0,  1,  2,  9,  10, 11,
              15, 16, 17, 24, 25, 26, 3, 4, 5, 12, 13, 14, 18, 19, 20, 27, 28, 29});
  // BatchToSpaceND(iota [8, 2, 3, 2], [2, 2], [[1, 0], [0, 3]]).
  CheckExact(Run("BatchToSpaceND", {},
                 {Iota({8, 2, 3, 2}), block2, Ints({1, 0, 0, 3}, TensorShape{2, 2})})[0],
             TensorShape{2, 3, 3, 2},
             {48, 49, 72, 73, 50, 51, 6,  7,  30, 31, 8,  9,  54, 55, 78, 79, 56, 57,
              60, 61, 84, 85, 62, 63, 18, 19, 42, 43, 20, 21, 66, 67, 90, 91, 68, 69});
  // BatchToSpaceND(iota [6, 2, 3], [3], [[1, 2]]), int64 block and crops.
  CheckExact(Run("BatchToSpaceND", {},
                 {Iota({6, 2, 3}), Tensor::FromVector<int64_t>({3}, {1}),
                  Tensor::FromVector<int64_t>({1, 2}, {1, 2})})[0],
             TensorShape{2, 3, 3},
             {12, 13, 14, 24, 25, 26, 3, 4, 5, 18, 19, 20, 30, 31, 32, 9, 10, 11});
  // Without padding they are inverses (a dilated convolution's wrapping), on doubles, 2 threads.
  std::vector<double> v(3 * 8 * 6 * 2);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5 * static_cast<double>(i);
  const Tensor x = Tensor::FromVector<double>(v, TensorShape{3, 8, 6, 2});
  const Tensor none = Ints({0, 0, 0, 0}, TensorShape{2, 2});
  const Tensor blocks = Ints({4, 3}, TensorShape{2});
  const Tensor b = Run("SpaceToBatchND", {}, {x, blocks, none}, 2)[0];
  REQUIRE(b.shape() == TensorShape{36, 2, 2, 2});
  CHECK(Run("BatchToSpaceND", {}, {b, blocks, none}, 2)[0].ToVector<double>() == v);
}

TEST_CASE("SpaceToBatchND and BatchToSpaceND errors name the node", "[image]") {
  const Tensor block2 = Ints({2, 2}, TensorShape{2});
  std::string e = RunError("SpaceToBatchND", {},
                           {Iota({1, 3, 4, 1}), block2, Ints({0, 0, 0, 0}, TensorShape{2, 2})});
  CHECK(Contains(e, "'op'"));
  CHECK(Contains(e, "not divisible by block_shape[0] = 2"));
  e = RunError("SpaceToBatchND", {},
               {Iota({1, 4, 4, 1}), block2, Ints({-1, 1, 0, 0}, TensorShape{2, 2})});
  CHECK(Contains(e, "'op'"));
  CHECK(Contains(e, "non-negative"));
  e = RunError(
      "SpaceToBatchND", {},
      {Iota({1, 4, 4, 1}), Ints({2, 0}, TensorShape{2}), Ints({0, 0, 0, 0}, TensorShape{2, 2})});
  CHECK(Contains(e, "must be positive"));
  e = RunError("SpaceToBatchND", {},
               {Iota({1, 4, 4, 1}), block2, Ints({0, 0, 0, 0, 0, 0}, TensorShape{3, 2})});
  CHECK(Contains(e, "'op'"));
  e = RunError("BatchToSpaceND", {},
               {Iota({6, 2, 2, 1}), block2, Ints({0, 0, 0, 0}, TensorShape{2, 2})});
  CHECK(Contains(e, "'op'"));
  CHECK(Contains(e, "not divisible by the product of block_shape (4)"));
  e = RunError("BatchToSpaceND", {},
               {Iota({4, 2, 2, 1}), block2, Ints({3, 2, 0, 0}, TensorShape{2, 2})});
  CHECK(Contains(e, "'op'"));
  CHECK(Contains(e, "exceed"));
  e = RunError("BatchToSpaceND", {},
               {Iota({4, 2, 2, 1}), block2, Ints({0, -1, 0, 0}, TensorShape{2, 2})});
  CHECK(Contains(e, "non-negative"));
}

TEST_CASE("SpaceToBatchND and BatchToSpaceND shape functions", "[image]") {
  const Tensor block2 = Ints({2, 2}, TensorShape{2});
  auto s = Shapes("SpaceToBatchND", {},
                  {ShapeInput::Of(DT_FLOAT, {-1, 5, 6, 3}), ShapeInput::Known(block2),
                   ShapeInput::Known(Ints({1, 0, 1, 1}, TensorShape{2, 2}))});
  CHECK(s[0] == TensorShape{-1, 3, 4, 3});
  s = Shapes("SpaceToBatchND", {},
             {ShapeInput::Of(DT_FLOAT, {2, 5, 6, 3}), ShapeInput::Of(DT_INT32, {2}),
              ShapeInput::Of(DT_INT32, {2, 2})});
  CHECK(s[0] == TensorShape{-1, -1, -1, 3});
  s = Shapes("BatchToSpaceND", {},
             {ShapeInput::Of(DT_FLOAT, {8, 3, -1, 3}), ShapeInput::Known(block2),
              ShapeInput::Known(Ints({1, 0, 0, 0}, TensorShape{2, 2}))});
  CHECK(s[0] == TensorShape{2, 5, -1, 3});
  std::string e = ShapeError("BatchToSpaceND", {},
                             {ShapeInput::Of(DT_FLOAT, {6, 3, 3, 3}), ShapeInput::Known(block2),
                              ShapeInput::Known(Ints({0, 0, 0, 0}, TensorShape{2, 2}))});
  CHECK(Contains(e, "'op'"));
  CHECK(Contains(e, "not divisible"));
}
