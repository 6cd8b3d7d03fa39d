// UnsortedSegmentSum: CPU kernel against hand-derived sums (repeated, negative and out-of-range
// ids, every dtype, rank-2 ids, empty inputs) and its shape function.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "graph/tensor.h"
#include "tests/devices/kernel_test_util.h"

using namespace quiver;
using quiver::testing::InferOpShapes;
using quiver::testing::RunKernel;
using quiver::testing::ShapeInput;

namespace {

std::vector<Tensor> Run(const std::vector<Tensor>& inputs) {
  auto out = RunKernel("UnsortedSegmentSum", {}, inputs);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  return *std::move(out);
}

std::string RunError(const std::vector<Tensor>& inputs) {
  auto out = RunKernel("UnsortedSegmentSum", {}, inputs);
  REQUIRE_FALSE(out.ok());
  return std::string(out.status().message());
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

template <typename T>
Tensor Mat(std::vector<T> v, int64_t rows, int64_t cols) {
  return Tensor::FromVector<T>(v, TensorShape{rows, cols});
}

Tensor I32(std::vector<int32_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<int32_t>(v, TensorShape{n});
}

}  // namespace

TEST_CASE("UnsortedSegmentSum sums rows by id; repeated ids add up, negative ids are dropped",
          "[segment]") {
  // data rows r0..r4 = [1,2], [10,20], [100,200], [1000,2000], [5,6]; ids [2, 0, 2, -1, 0].
  // out[0] = r1 + r4 = [15, 26]; out[1] = 0; out[2] = r0 + r2 = [101, 202]; out[3] = 0;
  // r3 (id -1) is dropped.
  Tensor data = Mat<float>({1, 2, 10, 20, 100, 200, 1000, 2000, 5, 6}, 5, 2);
  auto out = Run({data, I32({2, 0, 2, -1, 0}), Tensor::Scalar<int32_t>(4)});
  REQUIRE(out[0].shape() == TensorShape{4, 2});
  REQUIRE(out[0].ToVector<float>() == std::vector<float>{15, 26, 0, 0, 101, 202, 0, 0});

  SECTION("every dtype, int64 ids and num_segments") {
    Tensor ids = Tensor::FromVector<int64_t>({1, 1, -3, 0}, TensorShape{4});
    Tensor num = Tensor::Scalar<int64_t>(2);
    // [3, 4, 5, 6] -> out[0] = 6, out[1] = 3 + 4 = 7.
    auto d = Run({Tensor::FromVector<double>({3, 4, 5, 6}, TensorShape{4}), ids, num});
    REQUIRE(d[0].ToVector<double>() == std::vector<double>{6, 7});
    auto i32 = Run({Tensor::FromVector<int32_t>({3, 4, 5, 6}, TensorShape{4}), ids, num});
    REQUIRE(i32[0].ToVector<int32_t>() == std::vector<int32_t>{6, 7});
    auto i64 = Run({Tensor::FromVector<int64_t>({3, 4, 5, 6}, TensorShape{4}), ids, num});
    REQUIRE(i64[0].dtype() == DT_INT64);
    REQUIRE(i64[0].ToVector<int64_t>() == std::vector<int64_t>{6, 7});
  }

  SECTION("rank-2 ids: data.shape starts with ids.shape") {
    // data [2, 2, 3] = 0..11, ids [[1, 0], [1, -1]]: out[0] = data[0,1] = [3,4,5];
    // out[1] = data[0,0] + data[1,0] = [0+6, 1+7, 2+8]; data[1,1] dropped.
    std::vector<float> v(12);
    for (int i = 0; i < 12; ++i) v[i] = static_cast<float>(i);
    auto o = Run({Tensor::FromVector<float>(v, TensorShape{2, 2, 3}),
                  Tensor::FromVector<int32_t>({1, 0, 1, -1}, TensorShape{2, 2}),
                  Tensor::Scalar<int32_t>(3)});
    REQUIRE(o[0].shape() == TensorShape{3, 3});
    REQUIRE(o[0].ToVector<float>() == std::vector<float>{3, 4, 5, 6, 8, 10, 0, 0, 0});
    // ids of the same shape as data: a per-element sum into a vector.
    auto flat = Run(
        {Tensor::FromVector<float>(v, TensorShape{2, 2, 3}),
         Tensor::FromVector<int32_t>({0, 1, 0, 1, 0, 1, 2, 2, 2, -1, -1, 0}, TensorShape{2, 2, 3}),
         Tensor::Scalar<int32_t>(3)});
    // out[0] = 0 + 2 + 4 + 11 = 17; out[1] = 1 + 3 + 5 = 9; out[2] = 6 + 7 + 8 = 21.
    REQUIRE(flat[0].shape() == TensorShape{3});
    REQUIRE(flat[0].ToVector<float>() == std::vector<float>{17, 9, 21});
  }

  SECTION("empty ids give zeros; zero segments give an empty output") {
    auto z = Run(
        {Tensor::FromVector<float>({}, TensorShape{0, 2}), I32({}), Tensor::Scalar<int32_t>(2)});
    REQUIRE(z[0].shape() == TensorShape{2, 2});
    REQUIRE(z[0].ToVector<float>() == std::vector<float>{0, 0, 0, 0});
    auto e = Run({Tensor::FromVector<float>({1, 2}, TensorShape{2}), I32({-1, -2}),
                  Tensor::Scalar<int32_t>(0)});
    REQUIRE(e[0].shape() == TensorShape{0});
  }
}

TEST_CASE("UnsortedSegmentSum rejects out-of-range ids and mismatched shapes", "[segment]") {
  Tensor data = Mat<float>({1, 2, 3, 4, 5, 6}, 3, 2);
  std::string msg = RunError({data, I32({0, 4, 1}), Tensor::Scalar<int32_t>(4)});
  REQUIRE(Contains(msg, "node 'op' (UnsortedSegmentSum)"));
  REQUIRE(Contains(msg, "segment_ids[1] = 4 is out of range [0, 4)"));
  msg = RunError({Tensor::FromVector<float>({1, 2, 3, 4}, TensorShape{2, 2}),
                  Tensor::FromVector<int32_t>({0, 1, 9, 0}, TensorShape{2, 2}),
                  Tensor::Scalar<int32_t>(2)});
  REQUIRE(Contains(msg, "segment_ids[1,0] = 9 is out of range [0, 2)"));
  msg = RunError({data, I32({0, 1}), Tensor::Scalar<int32_t>(2)});
  REQUIRE(Contains(msg, "does not start with segment_ids.shape"));
  msg = RunError({data, I32({0, 1, 0}), Tensor::Scalar<int32_t>(-1)});
  REQUIRE(Contains(msg, "must not be negative"));
}

TEST_CASE("UnsortedSegmentSum shape function", "[segment]") {
  auto shapes = [](std::vector<ShapeInput> in) {
    auto out = InferOpShapes("UnsortedSegmentSum", {}, in);
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    return (*out)[0];
  };
  auto F = [](TensorShape s) { return ShapeInput::Of(DT_FLOAT, std::move(s)); };
  auto Ids = [](TensorShape s) { return ShapeInput::Of(DT_INT32, std::move(s)); };
  REQUIRE(shapes({F({5, 3, 2}), Ids({5}), ShapeInput::Known(Tensor::Scalar<int32_t>(7))}) ==
          TensorShape{7, 3, 2});
  REQUIRE(shapes({F({-1, 4, 2}), Ids({-1, 4}), ShapeInput::Known(Tensor::Scalar<int64_t>(3))}) ==
          TensorShape{3, 2});
  REQUIRE(shapes({F({5, 3}), Ids({5}), ShapeInput::Of(DT_INT32, TensorShape{})}) ==
          TensorShape{-1, 3});
  auto bad = InferOpShapes("UnsortedSegmentSum", {},
                           {F({5, 3}), Ids({4}), ShapeInput::Known(Tensor::Scalar<int32_t>(2))});
  REQUIRE_FALSE(bad.ok());
  REQUIRE(Contains(std::string(bad.status().message()), "does not start with"));
}
