// CPU kernels and shape functions of NonMaxSuppressionV3/V4/V5 and CropAndResize. Expected
// values were computed with TensorFlow 2.21 (CPU) through tf.raw_ops and pasted here; the call
// that produced each is in the comment above it.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
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

using Dims = std::vector<int64_t>;

std::vector<Tensor> Run(const std::string& op, const AttrMap& attrs,
                        const std::vector<Tensor>& inputs) {
  auto out = RunKernel(op, attrs, inputs);
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

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

template <typename T>
Tensor T_(std::vector<T> v, const Dims& dims) {
  return Tensor::FromVector<T>(v, TensorShape(dims));
}

Tensor F(float v) { return T_<float>({v}, {}); }
Tensor I(int32_t v) { return T_<int32_t>({v}, {}); }

void ExpectInts(const Tensor& t, const std::vector<int32_t>& want) {
  REQUIRE(t.dtype() == DT_INT32);
  REQUIRE(t.shape() == TensorShape{static_cast<int64_t>(want.size())});
  CHECK(std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.num_elements()) == want);
}

void ExpectFloats(const Tensor& t, const Dims& dims, const std::vector<float>& want) {
  REQUIRE(t.dtype() == DT_FLOAT);
  REQUIRE(t.shape() == TensorShape(dims));
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    CAPTURE(i);
    CHECK(t.data<float>()[i] == Approx(want[i]).epsilon(1e-6).margin(1e-6));
  }
}

// Two clusters of three overlapping unit boxes (boxes 1 and 4 with flipped corners) and one
// lone box:
//   boxes = [[0,0,1,1],[1,1.1,0,0.1],[0,-0.1,1,0.9],[0,10,1,11],[1,10.1,0,11.1],[0,100,1,101]]
//   scores = [.9,.75,.6,.95,.5,.3]
const Tensor kBoxes = T_<float>({0, 0,  1, 1,  1, 1.1f,  0, 0.1f,  0, -0.1f, 1, 0.9f,
                                 0, 10, 1, 11, 1, 10.1f, 0, 11.1f, 0, 100,   1, 101},
                                {6, 4});
const Tensor kScores = T_<float>({.9f, .75f, .6f, .95f, .5f, .3f}, {6});

}  // namespace

TEST_CASE("NonMaxSuppressionV3 matches tf.raw_ops.NonMaxSuppressionV3", "[detection][nms]") {
  // max_output_size=3, iou_threshold=0.5, score_threshold=-inf -> [3, 0, 5]
  ExpectInts(Run("NonMaxSuppressionV3", {},
                 {kBoxes, kScores, I(3), F(0.5f), F(-std::numeric_limits<float>::infinity())})[0],
             {3, 0, 5});
  // max_output_size=6, iou_threshold=0.5, score_threshold=0 -> [3, 0, 5]
  ExpectInts(Run("NonMaxSuppressionV3", {}, {kBoxes, kScores, I(6), F(0.5f), F(0.0f)})[0],
             {3, 0, 5});
  // iou_threshold=0.9 (no pair overlaps that much), score_threshold=0 -> [3, 0, 1, 2, 4, 5]
  ExpectInts(Run("NonMaxSuppressionV3", {}, {kBoxes, kScores, I(6), F(0.9f), F(0.0f)})[0],
             {3, 0, 1, 2, 4, 5});
  // score_threshold=0.5 is strict: box 4 (score 0.5) is dropped -> [3, 0, 1, 2]
  ExpectInts(Run("NonMaxSuppressionV3", {}, {kBoxes, kScores, I(6), F(0.9f), F(0.5f)})[0],
             {3, 0, 1, 2});
  // max_output_size=2 of six candidates -> [3, 0]
  ExpectInts(Run("NonMaxSuppressionV3", {}, {kBoxes, kScores, I(2), F(0.9f), F(0.0f)})[0], {3, 0});
  // max_output_size=0 -> []
  ExpectInts(Run("NonMaxSuppressionV3", {}, {kBoxes, kScores, I(0), F(0.5f), F(0.0f)})[0], {});
  // Ties keep the lower index first: boxes [[0,0,1,1],[2,2,3,3],[0,0,1,1],[5,5,6,6],
  // [0,0.05,1,1.05]], scores [.5,.5,.5,.7,.5], max 5, iou 0.5, score_threshold 0 -> [3, 0, 1]
  ExpectInts(
      Run("NonMaxSuppressionV3", {},
          {T_<float>({0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 1, 1, 5, 5, 6, 6, 0, .05f, 1, 1.05f}, {5, 4}),
           T_<float>({.5f, .5f, .5f, .7f, .5f}, {5}), I(5), F(0.5f), F(0.0f)})[0],
      {3, 0, 1});
  // No boxes at all.
  ExpectInts(Run("NonMaxSuppressionV3", {},
                 {T_<float>({}, {0, 4}), T_<float>({}, {0}), I(4), F(0.5f), F(0.0f)})[0],
             {});
}

TEST_CASE("NonMaxSuppressionV4 pads to max_output_size like TF", "[detection][nms]") {
  // max 6, iou 0.5, score_threshold 0.4, pad_to_max_output_size=True -> [3,0,0,0,0,0], 2
  auto padded = Run("NonMaxSuppressionV4", {{"pad_to_max_output_size", MakeAttr(true)}},
                    {kBoxes, kScores, I(6), F(0.5f), F(0.4f)});
  ExpectInts(padded[0], {3, 0, 0, 0, 0, 0});
  REQUIRE(padded[1].shape() == TensorShape{});
  CHECK(padded[1].data<int32_t>()[0] == 2);
  // the same with pad_to_max_output_size=False -> [3, 0], 2
  auto plain = Run("NonMaxSuppressionV4", {}, {kBoxes, kScores, I(6), F(0.5f), F(0.4f)});
  ExpectInts(plain[0], {3, 0});
  CHECK(plain[1].data<int32_t>()[0] == 2);
}

TEST_CASE("NonMaxSuppressionV5 soft-NMS matches TF's Gaussian re-scoring", "[detection][nms]") {
  // max 6, iou 0.5, score_threshold 0, soft_nms_sigma 0.5
  auto soft = Run("NonMaxSuppressionV5", {}, {kBoxes, kScores, I(6), F(0.5f), F(0.0f), F(0.5f)});
  ExpectInts(soft[0], {3, 0, 1, 5, 4, 2});
  ExpectFloats(soft[1], {6},
               {0.949999988079071f, 0.8999999761581421f, 0.38400354981422424f, 0.30000001192092896f,
                0.25600260496139526f, 0.19697244465351105f});
  CHECK(soft[2].data<int32_t>()[0] == 6);
  // score_threshold 0.3 (re-scored boxes fall under it), pad_to_max_output_size=True
  auto padded = Run("NonMaxSuppressionV5", {{"pad_to_max_output_size", MakeAttr(true)}},
                    {kBoxes, kScores, I(6), F(0.5f), F(0.3f), F(0.5f)});
  ExpectInts(padded[0], {3, 0, 1, 0, 0, 0});
  ExpectFloats(padded[1], {6},
               {0.949999988079071f, 0.8999999761581421f, 0.38400354981422424f, 0, 0, 0});
  CHECK(padded[2].data<int32_t>()[0] == 3);
  // soft_nms_sigma 0 is plain NMS -> [3, 0, 5], scores [.95, .9, .3], 3
  auto hard = Run("NonMaxSuppressionV5", {}, {kBoxes, kScores, I(6), F(0.5f), F(0.0f), F(0.0f)});
  ExpectInts(hard[0], {3, 0, 5});
  ExpectFloats(hard[1], {3}, {0.95f, 0.9f, 0.3f});
  CHECK(hard[2].data<int32_t>()[0] == 3);
}

TEST_CASE("NonMaxSuppression errors name the node", "[detection][nms]") {
  const std::string neg =
      RunError("NonMaxSuppressionV3", {}, {kBoxes, kScores, I(-1), F(0.5f), F(0.0f)});
  CHECK(Contains(neg, "'op'"));
  CHECK(Contains(neg, "max_output_size must be non-negative"));
  CHECK(Contains(
      RunError("NonMaxSuppressionV3", {},
               {T_<float>({0, 0, 1}, {1, 3}), T_<float>({1}, {1}), I(1), F(0.5f), F(0.0f)}),
      "boxes must have 4 columns"));
  CHECK(Contains(
      RunError("NonMaxSuppressionV4", {}, {kBoxes, T_<float>({1, 2}, {2}), I(1), F(0.5f), F(0.0f)}),
      "scores has incompatible shape"));
  CHECK(Contains(RunError("NonMaxSuppressionV3", {}, {kBoxes, kScores, I(1), F(1.5f), F(0.0f)}),
                 "iou_threshold must be in [0, 1]"));
  CHECK(Contains(
      RunError("NonMaxSuppressionV5", {}, {kBoxes, kScores, I(1), F(0.5f), F(0.0f), F(-1.0f)}),
      "soft_nms_sigma must be non-negative"));
  CHECK(Contains(RunError("NonMaxSuppressionV3", {},
                          {kBoxes, kScores, T_<int32_t>({1, 2}, {2}), F(0.5f), F(0.0f)}),
                 "max_output_size must be 0-D"));
}

TEST_CASE("NonMaxSuppression shape functions", "[detection][nms]") {
  auto v4 = InferOpShapes(
      "NonMaxSuppressionV4", {{"pad_to_max_output_size", MakeAttr(true)}},
      {ShapeInput::Of(DT_FLOAT, TensorShape{-1, 4}), ShapeInput::Of(DT_FLOAT, TensorShape{-1}),
       ShapeInput::Known(I(7)), ShapeInput::Of(DT_FLOAT, TensorShape{}),
       ShapeInput::Of(DT_FLOAT, TensorShape{})});
  REQUIRE(v4.ok());
  CHECK((*v4)[0] == TensorShape{7});
  CHECK((*v4)[1] == TensorShape{});
  auto v5 = InferOpShapes(
      "NonMaxSuppressionV5", {},
      {ShapeInput::Of(DT_FLOAT, TensorShape{10, 4}), ShapeInput::Of(DT_FLOAT, TensorShape{10}),
       ShapeInput::Known(I(7)), ShapeInput::Of(DT_FLOAT, TensorShape{}),
       ShapeInput::Of(DT_FLOAT, TensorShape{}), ShapeInput::Of(DT_FLOAT, TensorShape{})});
  REQUIRE(v5.ok());
  CHECK((*v5)[0] == TensorShape{-1});
  CHECK((*v5)[1] == TensorShape{-1});
  auto bad = InferOpShapes(
      "NonMaxSuppressionV3", {},
      {ShapeInput::Of(DT_FLOAT, TensorShape{10, 3}), ShapeInput::Of(DT_FLOAT, TensorShape{10}),
       ShapeInput::Known(I(7)), ShapeInput::Of(DT_FLOAT, TensorShape{}),
       ShapeInput::Of(DT_FLOAT, TensorShape{})});
  CHECK_FALSE(bad.ok());
}

namespace {

// img = (np.arange(80, dtype=np.float32).reshape(2,4,5,2) * 1.5 - 7) % 23
Tensor CropImage() {
  std::vector<float> v(80);
  for (int i = 0; i < 80; ++i) {
    float x = std::fmod(i * 1.5f - 7.0f, 23.0f);
    v[i] = x < 0 ? x + 23.0f : x;
  }
  return T_<float>(v, {2, 4, 5, 2});
}

// Partly outside the image, flipped (y1 > y2, x1 > x2), inside, and wholly outside in x.
const Tensor kCropBoxes = T_<float>({-0.2f, -0.1f, 0.7f, 1.2f, 0.9f, 0.8f, 0.1f, 0.2f, 0.25f, 0.4f,
                                     0.6f, 0.65f, 0.5f, 1.3f, 0.9f, 1.1f},
                                    {4, 4});
const Tensor kCropInd = T_<int32_t>({1, 0, 1, 0}, {4});

AttrMap CropAttrs(const char* method) {
  return {{"method", MakeAttr(std::string(method))}, {"extrapolation_value", MakeAttr(-1.5f)}};
}

}  // namespace

TEST_CASE("CropAndResize bilinear matches TF, with extrapolation and flipped boxes",
          "[detection][crop]") {
  // tf.raw_ops.CropAndResize(image=img, boxes=kCropBoxes, box_ind=[1,0,1,0], crop_size=[3,4],
  //                          method='bilinear', extrapolation_value=-1.5)
  auto out = Run("CropAndResize", CropAttrs("bilinear"),
                 {CropImage(), kCropBoxes, kCropInd, T_<int32_t>({3, 4}, {2})});
  ExpectFloats(
      out[0], {4, 3, 4, 2},
      {-1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f,
       -1.5f,       -1.5f,       -1.5f,       5.00000143f, 6.50000143f, 10.2000017f, 11.7000017f,
       -1.5f,       -1.5f,       -1.5f,       -1.5f,       17.2000008f, 18.7000008f, 1.69999909f,
       3.19999909f, -1.5f,       -1.5f,       4.00000191f, 5.50000191f, 11.2599983f, 12.7599983f,
       15.2999964f, 16.7999954f, 12.8999968f, 14.3999968f, 13.6000013f, 15.1000013f, 11.2000017f,
       12.7000017f, 8.80000114f, 10.3000011f, 6.40000057f, 7.90000057f, 7.09999943f, 8.59999943f,
       14.3599987f, 6.19999933f, 18.3999996f, 10.2399998f, 16.0f,       17.5f,       5.80000019f,
       7.30000019f, 6.79999971f, 8.29999924f, 7.80000019f, 9.30000019f, 8.79999924f, 10.2999992f,
       7.92500114f, 9.42500114f, 8.92500114f, 10.4250011f, 8.23833466f, 9.73833466f, 7.13000059f,
       8.63000011f, 15.8000002f, 17.2999992f, 16.8000011f, 18.3000011f, 12.8933344f, 14.3933353f,
       7.76000166f, 9.26000118f, -1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f,
       -1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f,
       -1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f,
       -1.5f,       -1.5f,       -1.5f,       -1.5f,       -1.5f});
  // the same with crop_size=[1,1] (samples the box centre)
  auto one = Run("CropAndResize", CropAttrs("bilinear"),
                 {CropImage(), kCropBoxes, kCropInd, T_<int32_t>({1, 1}, {2})});
  ExpectFloats(one[0], {4, 1, 1, 2},
               {7.60000038f, 9.10000038f, 10.0f, 11.5f, 8.79250145f, 10.2925015f, -1.5f, -1.5f});
  // tf.raw_ops.CropAndResize(image=np.arange(12,dtype=np.uint8).reshape(1,3,4,1),
  //                          boxes=[[0.1,0.9,0.8,0.2]], box_ind=[0], crop_size=[2,3])
  std::vector<uint8_t> u8(12);
  for (int i = 0; i < 12; ++i) u8[i] = static_cast<uint8_t>(i);
  auto q = Run("CropAndResize", {},
               {T_<uint8_t>(u8, {1, 3, 4, 1}), T_<float>({0.1f, 0.9f, 0.8f, 0.2f}, {1, 4}),
                T_<int32_t>({0}, {1}), T_<int32_t>({2, 3}, {2})});
  ExpectFloats(q[0], {1, 2, 3, 1},
               {3.49999976f, 2.44999981f, 1.39999986f, 9.10000038f, 8.04999924f, 7.0f});
}

TEST_CASE("CropAndResize nearest matches TF", "[detection][crop]") {
  // as above with method='nearest'
  auto out = Run("CropAndResize", CropAttrs("nearest"),
                 {CropImage(), kCropBoxes, kCropInd, T_<int32_t>({3, 4}, {2})});
  ExpectFloats(
      out[0], {4, 3, 4, 2},
      {-1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, 2.0f,  3.5f,
       8.0f,  9.5f,  -1.5f, -1.5f, -1.5f, -1.5f, 17.0f, 18.5f, 0.0f,  1.5f,  -1.5f, -1.5f,
       1.0f,  2.5f,  21.0f, 22.5f, 21.0f, 22.5f, 18.0f, 19.5f, 17.0f, 18.5f, 14.0f, 15.5f,
       14.0f, 15.5f, 11.0f, 12.5f, 2.0f,  3.5f,  22.0f, 0.5f,  22.0f, 0.5f,  19.0f, 20.5f,
       5.0f,  6.5f,  5.0f,  6.5f,  5.0f,  6.5f,  8.0f,  9.5f,  5.0f,  6.5f,  5.0f,  6.5f,
       5.0f,  6.5f,  8.0f,  9.5f,  20.0f, 21.5f, 20.0f, 21.5f, 20.0f, 21.5f, 0.0f,  1.5f,
       -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f,
       -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f, -1.5f});
  auto one = Run("CropAndResize", CropAttrs("nearest"),
                 {CropImage(), kCropBoxes, kCropInd, T_<int32_t>({1, 1}, {2})});
  ExpectFloats(one[0], {4, 1, 1, 2}, {5.0f, 6.5f, 6.0f, 7.5f, 5.0f, 6.5f, -1.5f, -1.5f});
}

TEST_CASE("CropAndResize errors name the node; shape function", "[detection][crop]") {
  const std::string range =
      RunError("CropAndResize", {},
               {CropImage(), kCropBoxes, T_<int32_t>({1, 0, 2, 0}, {4}), T_<int32_t>({3, 4}, {2})});
  CHECK(Contains(range, "'op'"));
  CHECK(Contains(range, "box_ind has values outside [0, batch_size)"));
  CHECK(Contains(RunError("CropAndResize", {},
                          {CropImage(), kCropBoxes, T_<int32_t>({1, 0, -1, 0}, {4}),
                           T_<int32_t>({3, 4}, {2})}),
                 "box_ind has values outside [0, batch_size)"));
  CHECK(Contains(
      RunError("CropAndResize", {},
               {T_<float>({1, 2}, {1, 2}), kCropBoxes, kCropInd, T_<int32_t>({3, 4}, {2})}),
      "input image must be 4-D"));
  CHECK(Contains(
      RunError("CropAndResize", {},
               {CropImage(), kCropBoxes, T_<int32_t>({0, 0}, {2}), T_<int32_t>({3, 4}, {2})}),
      "box_ind has incompatible shape"));
  CHECK(Contains(
      RunError("CropAndResize", {}, {CropImage(), kCropBoxes, kCropInd, T_<int32_t>({0, 4}, {2})}),
      "crop dimensions must be positive"));
  CHECK(Contains(RunError("CropAndResize", {},
                          {CropImage(), kCropBoxes, kCropInd, T_<int32_t>({3, 4, 5}, {3})}),
                 "crop_size must be a 1-D tensor of length 2"));
  auto shapes = InferOpShapes(
      "CropAndResize", {},
      {ShapeInput::Of(DT_FLOAT, TensorShape{-1, -1, -1, 3}),
       ShapeInput::Of(DT_FLOAT, TensorShape{-1, 4}), ShapeInput::Of(DT_INT32, TensorShape{5}),
       ShapeInput::Known(T_<int32_t>({7, 9}, {2}))});
  REQUIRE(shapes.ok());
  CHECK((*shapes)[0] == TensorShape{5, 7, 9, 3});
}
