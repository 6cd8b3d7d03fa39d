// LinSpace, Unique, TensorScatterUpdate/Add and SegmentSum/Mean against TensorFlow. Expected
// values were computed with TensorFlow 2.21 on the CPU through tf.raw_ops.<Op> on the inputs
// shown (LinSpace: also equal to numpy's step = (stop - start) / (num - 1) in the dtype, value
// start + step * i, last value stop), printed in shortest round-trip form: equality is exact.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tests/devices/kernel_test_util.h"
#include "tests/devices/nn_test_util.h"

using namespace quiver;
using quiver::nn_test::Contains;
using quiver::testing::InferOpShapes;
using quiver::testing::RunKernel;
using quiver::testing::ShapeInput;

namespace {

std::vector<Tensor> Run(const std::string& op, const AttrMap& attrs,
                        const std::vector<Tensor>& inputs) {
  auto out = RunKernel(op, attrs, inputs);
  INFO(op << ": " << out.status().ToString());
  REQUIRE(out.ok());
  return *std::move(out);
}

void ExpectError(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs,
                 const std::string& text) {
  auto out = RunKernel(op, attrs, inputs);
  INFO(op << " expecting '" << text << "': " << out.status().ToString());
  REQUIRE_FALSE(out.ok());
  CHECK(Contains(out.status(), "node 'op'"));
  CHECK(Contains(out.status(), text));
}

template <typename T>
std::vector<T> LinSpace(T start, T stop, int32_t num) {
  return Run("LinSpace", {},
             {Tensor::Scalar<T>(start), Tensor::Scalar<T>(stop), Tensor::Scalar<int32_t>(num)})[0]
      .template ToVector<T>();
}

const Tensor& Table() {  // np.arange(12, dtype=float32).reshape(4, 3)
  static const Tensor* t =
      new Tensor(Tensor::FromVector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {4, 3}));
  return *t;
}

}  // namespace

TEST_CASE("LinSpace matches TensorFlow exactly", "[misc_extra]") {
  // tf.raw_ops.LinSpace(start, stop, num), float32 and float64.
  CHECK(LinSpace<float>(0.1f, 1.7f, 7) == std::vector<float>{0.1f, 0.36666667f, 0.6333334f,
                                                             0.9000001f, 1.1666667f, 1.4333334f,
                                                             1.7f});
  CHECK(LinSpace<float>(1.0f, -1.0f, 4) ==
        std::vector<float>{1.0f, 0.3333333f, -0.33333337f, -1.0f});
  CHECK(LinSpace<float>(0.0f, 1.0f, 10) ==
        std::vector<float>{0.0f, 0.11111111f, 0.22222222f, 0.33333334f, 0.44444445f, 0.5555556f,
                           0.6666667f, 0.7777778f, 0.8888889f, 1.0f});
  CHECK(LinSpace<float>(5.0f, 5.0f, 1) == std::vector<float>{5.0f});
  CHECK(LinSpace<double>(0.1, 1.7, 7) ==
        std::vector<double>{0.1, 0.3666666666666667, 0.6333333333333333, 0.9, 1.1666666666666667,
                            1.4333333333333333, 1.7});
  CHECK(LinSpace<double>(1.0, -1.0, 4) ==
        std::vector<double>{1.0, 0.33333333333333337, -0.33333333333333326, -1.0});
  CHECK(LinSpace<double>(-3.0, 2.5, 12) ==
        std::vector<double>{-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5});
  ExpectError("LinSpace", {},
              {Tensor::Scalar<float>(1), Tensor::Scalar<float>(2), Tensor::Scalar<int32_t>(0)},
              "Requires num > 0: 0");
  ExpectError(
      "LinSpace", {},
      {Tensor::FromVector<float>({1}, {1}), Tensor::Scalar<float>(2), Tensor::Scalar<int32_t>(3)},
      "start must be a scalar, not shape [1]");
  auto shapes = InferOpShapes("LinSpace", {},
                              {ShapeInput::Of(DT_FLOAT, {}), ShapeInput::Of(DT_FLOAT, {}),
                               ShapeInput::Known(Tensor::Scalar<int64_t>(5))});
  REQUIRE(shapes.ok());
  CHECK((*shapes)[0] == TensorShape{5});
}

TEST_CASE("Unique keeps first-occurrence order like TensorFlow", "[misc_extra]") {
  // tf.raw_ops.Unique(x=[3, 1, 3, -2, 1, 7, 3, -2], out_idx=tf.int64).
  const std::vector<Tensor> u = Run("Unique", {{"out_idx", MakeAttr(DT_INT64)}},
                                    {Tensor::FromVector<int32_t>({3, 1, 3, -2, 1, 7, 3, -2}, {8})});
  CHECK(u[0].ToVector<int32_t>() == std::vector<int32_t>{3, 1, -2, 7});
  CHECK(u[1].ToVector<int64_t>() == std::vector<int64_t>{0, 1, 0, 2, 1, 3, 0, 2});
  // tf.raw_ops.Unique(x=[1.5, -0.0, 0.0, 2.5, 1.5, nan, nan]): y [1.5, -0., 2.5, nan, nan],
  // idx [0, 1, 1, 2, 0, 3, 4] (0.0 joins -0.0; every NaN is its own value).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Tensor> f = Run(
      "Unique", {}, {Tensor::FromVector<float>({1.5f, -0.0f, 0.0f, 2.5f, 1.5f, nan, nan}, {7})});
  const std::vector<float> y = f[0].ToVector<float>();
  REQUIRE(y.size() == 5);
  CHECK(y[0] == 1.5f);
  CHECK((y[1] == 0.0f && std::signbit(y[1])));
  CHECK(y[2] == 2.5f);
  CHECK((std::isnan(y[3]) && std::isnan(y[4])));
  CHECK(f[1].ToVector<int32_t>() == std::vector<int32_t>{0, 1, 1, 2, 0, 3, 4});
  ExpectError("Unique", {}, {Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2})},
              "unique expects a 1D vector");
}

TEST_CASE("TensorScatterUpdate and TensorScatterAdd match TensorFlow", "[misc_extra]") {
  // tensor = np.arange(12).reshape(4, 3); rows [2], [0], [2] get [10..12], [20..22], [30..32].
  const Tensor rows = Tensor::FromVector<int32_t>({2, 0, 2}, {3, 1});
  const Tensor up = Tensor::FromVector<float>({10, 11, 12, 20, 21, 22, 30, 31, 32}, {3, 3});
  CHECK(Run("TensorScatterUpdate", {}, {Table(), rows, up})[0].ToVector<float>() ==
        std::vector<float>{20, 21, 22, 3, 4, 5, 30, 31, 32, 9, 10, 11});
  CHECK(Run("TensorScatterAdd", {}, {Table(), rows, up})[0].ToVector<float>() ==
        std::vector<float>{20, 22, 24, 3, 4, 5, 46, 49, 52, 9, 10, 11});
  // Element indices [[1, 2], [3, 0], [1, 2]] (int64) with updates [100, 200, 300].
  const Tensor elems = Tensor::FromVector<int64_t>({1, 2, 3, 0, 1, 2}, {3, 2});
  const Tensor vals = Tensor::FromVector<float>({100, 200, 300}, {3});
  CHECK(Run("TensorScatterUpdate", {}, {Table(), elems, vals})[0].ToVector<float>() ==
        std::vector<float>{0, 1, 2, 3, 4, 300, 6, 7, 8, 200, 10, 11});
  CHECK(Run("TensorScatterAdd", {}, {Table(), elems, vals})[0].ToVector<float>() ==
        std::vector<float>{0, 1, 2, 3, 4, 405, 6, 7, 8, 209, 10, 11});
  // Other dtypes: int32 add, bool update.
  CHECK(
      Run("TensorScatterAdd", {},
          {Tensor::FromVector<int32_t>({1, 2, 3}, {3}), Tensor::FromVector<int32_t>({2, 2}, {2, 1}),
           Tensor::FromVector<int32_t>({5, 7}, {2})})[0]
          .ToVector<int32_t>() == std::vector<int32_t>{1, 2, 15});
  CHECK(Run("TensorScatterUpdate", {},
            {Tensor::FromVector<bool>({false, false, false}, {3}),
             Tensor::FromVector<int32_t>({1}, {1, 1}), Tensor::FromVector<bool>({true}, {1})})[0]
            .ToVector<bool>() == std::vector<bool>{false, true, false});

  const Tensor bad_row = Tensor::FromVector<int32_t>({4}, {1, 1});
  const Tensor one_up = Tensor::FromVector<float>({1, 2, 3}, {1, 3});
  ExpectError("TensorScatterUpdate", {}, {Table(), bad_row, one_up},
              "indices[0] = [4] does not index into shape [4,3]");
  ExpectError("TensorScatterAdd", {}, {Table(), bad_row, one_up},
              "indices[0] = [4] does not index into shape [4,3]");
  auto mismatch = InferOpShapes("TensorScatterUpdate", {},
                                {ShapeInput::Of(DT_FLOAT, {4, 3}), ShapeInput::Known(rows),
                                 ShapeInput::Of(DT_FLOAT, {2, 3})});
  CHECK_FALSE(mismatch.ok());
}

TEST_CASE("SegmentSum and SegmentMean match TensorFlow", "[misc_extra]") {
  // data [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]], ids [0, 0, 2, 2, 3]: segment 1 is empty.
  const Tensor data = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {5, 2});
  const Tensor ids = Tensor::FromVector<int32_t>({0, 0, 2, 2, 3}, {5});
  const Tensor sum = Run("SegmentSum", {}, {data, ids})[0];
  CHECK(sum.shape() == (TensorShape{4, 2}));
  CHECK(sum.ToVector<float>() == std::vector<float>{4, 6, 0, 0, 12, 14, 9, 10});
  CHECK(Run("SegmentMean", {}, {data, ids})[0].ToVector<float>() ==
        std::vector<float>{2, 3, 0, 0, 6, 7, 9, 10});
  // Integer mean truncates: tf.raw_ops.SegmentMean([1, 2, 4, 7], [0, 0, 1, 1]) = [1, 5].
  CHECK(Run("SegmentMean", {},
            {Tensor::FromVector<int32_t>({1, 2, 4, 7}, {4}),
             Tensor::FromVector<int64_t>({0, 0, 1, 1}, {4})})[0]
            .ToVector<int32_t>() == std::vector<int32_t>{1, 5});
  ExpectError("SegmentSum", {}, {data, Tensor::FromVector<int32_t>({0, 2, 1, 3, 3}, {5})},
              "segment ids are not increasing");
  ExpectError("SegmentSum", {}, {data, Tensor::FromVector<int32_t>({-1, 0, 1, 3, 3}, {5})},
              "Segment id -1 out of range [0, 4)");
  ExpectError("SegmentMean", {}, {data, Tensor::FromVector<int32_t>({0, 1}, {2})},
              "segment_ids should be the same size as dimension 0 of input");
}
