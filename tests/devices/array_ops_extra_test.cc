// CPU kernels and shape functions of ReverseV2, ReverseSequence, Cumsum, Cumprod, GatherNd,
// ScatterNd, Where, TopKV2, MirrorPad, MirrorPadGrad, Any and All. Expected values were computed
// with NumPy 2 / TensorFlow 2.21 (CPU) and pasted here; the expression that produced each is
// in the comment above it.
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

using Dims = std::vector<int64_t>;

std::vector<Tensor> Run(const std::string& op, const AttrMap& attrs,
                        const std::vector<Tensor>& inputs, int threads = 1) {
  auto out = RunKernel(op, attrs, inputs, threads);
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
Tensor Iota(const Dims& dims, T start = T(0)) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<T> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<T>(start + static_cast<T>(i));
  return Tensor::FromVector<T>(v, TensorShape(dims));
}

template <typename T>
Tensor T_(std::vector<T> v, const Dims& dims) {
  return Tensor::FromVector<T>(v, TensorShape(dims));
}

template <typename T>
void ExpectTensor(const Tensor& t, const Dims& dims, const std::vector<T>& want) {
  REQUIRE(t.dtype() == DataTypeOf<T>::value);
  REQUIRE(t.shape() == TensorShape(dims));
  std::vector<T> got(t.data<T>(), t.data<T>() + t.num_elements());
  CHECK(got == want);
}

void ExpectBools(const Tensor& t, const Dims& dims, const std::vector<int>& want) {
  REQUIRE(t.dtype() == DT_BOOL);
  REQUIRE(t.shape() == TensorShape(dims));
  std::vector<int> got;
  for (int64_t i = 0; i < t.num_elements(); ++i) got.push_back(t.data<bool>()[i] ? 1 : 0);
  CHECK(got == want);
}

AttrMap ScanAttrs(bool exclusive, bool reverse) {
  return {{"exclusive", MakeAttr(exclusive)}, {"reverse", MakeAttr(reverse)}};
}

}  // namespace

// ---- ReverseV2 ----------------------------------------------------------------------------

TEST_CASE("ReverseV2 matches NumPy flips, negative axes, empty and no-op cases",
          "[array][reverse]") {
  // np.arange(24, dtype=np.float32).reshape(2,3,4)[::-1, :, ::-1]
  const std::vector<float> want = {15, 14, 13, 12, 19, 18, 17, 16, 23, 22, 21, 20,
                                   3,  2,  1,  0,  7,  6,  5,  4,  11, 10, 9,  8};
  for (int threads : {1, 4}) {
    auto out = Run("ReverseV2", {}, {Iota<float>({2, 3, 4}), T_<int32_t>({0, -1}, {2})}, threads);
    ExpectTensor<float>(out[0], {2, 3, 4}, want);
  }
  // int64 axis, a bool tensor (bytes move, any dtype).
  auto b = Run("ReverseV2", {}, {T_<bool>({true, false, false}, {3}), T_<int64_t>({0}, {1})});
  ExpectBools(b[0], {3}, {0, 0, 1});
  // No axes: the input unchanged; an empty tensor stays empty.
  auto same = Run("ReverseV2", {}, {Iota<int32_t>({2, 2}), T_<int32_t>({}, {0})});
  ExpectTensor<int32_t>(same[0], {2, 2}, {0, 1, 2, 3});
  auto empty = Run("ReverseV2", {}, {Iota<float>({0, 3}), T_<int32_t>({1}, {1})});
  CHECK(empty[0].shape() == TensorShape{0, 3});
  // TF: "axis 0 specified more than once." and out-of-range axes.
  CHECK(Contains(RunError("ReverseV2", {}, {Iota<float>({2, 3}), T_<int32_t>({0, -2}, {2})}),
                 "specified more than once"));
  CHECK(Contains(RunError("ReverseV2", {}, {Iota<float>({2, 3}), T_<int32_t>({2}, {1})}),
                 "out of valid range"));
}

// ---- ReverseSequence ----------------------------------------------------------------------

TEST_CASE("ReverseSequence matches tf.reverse_sequence", "[array][reverse]") {
  const AttrMap attrs = {{"seq_dim", MakeAttr(int64_t{1})}, {"batch_dim", MakeAttr(int64_t{0})}};
  // tf.reverse_sequence(np.arange(12.).reshape(3,4), [2,0,4], seq_axis=1, batch_axis=0)
  auto out = Run("ReverseSequence", attrs, {Iota<float>({3, 4}), T_<int64_t>({2, 0, 4}, {3})});
  ExpectTensor<float>(out[0], {3, 4}, {1, 0, 2, 3, 4, 5, 6, 7, 11, 10, 9, 8});
  // Batch after seq: tf.reverse_sequence(np.arange(12.).reshape(3,4).T, [2,0,4], seq_axis=0,
  // batch_axis=1); int32 lengths.
  const std::vector<float> t = {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11};
  const AttrMap swapped = {{"seq_dim", MakeAttr(int64_t{0})}, {"batch_dim", MakeAttr(int64_t{1})}};
  auto out2 = Run("ReverseSequence", swapped, {T_<float>(t, {4, 3}), T_<int32_t>({2, 0, 4}, {3})});
  ExpectTensor<float>(out2[0], {4, 3}, {1, 4, 11, 0, 5, 10, 2, 6, 9, 3, 7, 8});
  // TF: "seq_lens(2) > input.dims(1)"; seq_dim == batch_dim; wrong length.
  CHECK(Contains(
      RunError("ReverseSequence", attrs, {Iota<float>({3, 4}), T_<int64_t>({1, 2, 5}, {3})}),
      "> input.dims(1)"));
  CHECK(Contains(RunError("ReverseSequence",
                          {{"seq_dim", MakeAttr(int64_t{0})}, {"batch_dim", MakeAttr(int64_t{0})}},
                          {Iota<float>({3, 4}), T_<int64_t>({1, 2, 3}, {3})}),
                 "must not be equal"));
  CHECK(
      Contains(RunError("ReverseSequence", attrs, {Iota<float>({3, 4}), T_<int64_t>({1, 2}, {2})}),
               "Length of seq_lengths"));
}

// ---- Cumsum / Cumprod ---------------------------------------------------------------------

TEST_CASE("Cumsum and Cumprod match tf.math.cumsum/cumprod with exclusive and reverse",
          "[array][scan]") {
  const Tensor c = T_<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor ax1 = T_<int32_t>({1}, {}), ax0 = T_<int32_t>({0}, {});
  // np.cumsum(c, axis=1)
  ExpectTensor<float>(Run("Cumsum", ScanAttrs(false, false), {c, ax1})[0], {2, 3},
                      {1, 3, 6, 4, 9, 15});
  // tf.math.cumsum(c, axis=1, exclusive=True)
  ExpectTensor<float>(Run("Cumsum", ScanAttrs(true, false), {c, ax1})[0], {2, 3},
                      {0, 1, 3, 0, 4, 9});
  // tf.math.cumsum(c, axis=1, reverse=True)
  ExpectTensor<float>(Run("Cumsum", ScanAttrs(false, true), {c, ax1})[0], {2, 3},
                      {6, 5, 3, 15, 11, 6});
  // tf.math.cumsum(c, axis=0, exclusive=True, reverse=True)
  ExpectTensor<float>(Run("Cumsum", ScanAttrs(true, true), {c, ax0})[0], {2, 3},
                      {4, 5, 6, 0, 0, 0});
  // tf.math.cumsum(c, axis=-2), int64 axis, 4 threads
  ExpectTensor<float>(Run("Cumsum", ScanAttrs(false, false), {c, T_<int64_t>({-2}, {})}, 4)[0],
                      {2, 3}, {1, 2, 3, 5, 7, 9});
  // np.cumprod(c, axis=1); tf.math.cumprod(c, axis=1, exclusive=True, reverse=True)
  ExpectTensor<float>(Run("Cumprod", ScanAttrs(false, false), {c, ax1})[0], {2, 3},
                      {1, 2, 6, 4, 20, 120});
  ExpectTensor<float>(Run("Cumprod", ScanAttrs(true, true), {c, ax1})[0], {2, 3},
                      {6, 3, 1, 30, 6, 1});
  // tf.math.cumsum(np.array([5,-2,7], np.int32), exclusive=True)
  ExpectTensor<int32_t>(
      Run("Cumsum", ScanAttrs(true, false), {T_<int32_t>({5, -2, 7}, {3}), ax0})[0], {3},
      {0, 5, 3});
  // Empty input: empty output.
  CHECK(Run("Cumsum", ScanAttrs(false, false), {Iota<float>({0, 3}), ax1})[0].shape() ==
        TensorShape{0, 3});
  // TF: "ScanOp: Expected scan axis in the range [-2, 2), but got 2"
  CHECK(Contains(RunError("Cumsum", ScanAttrs(false, false), {c, T_<int32_t>({2}, {})}),
                 "Expected scan axis in the range [-2, 2), but got 2"));
}

// ---- GatherNd / ScatterNd -----------------------------------------------------------------

TEST_CASE("GatherNd matches tf.gather_nd and names the node on a bad index", "[array][gather]") {
  const Tensor g = Iota<float>({3, 4});
  // tf.gather_nd(np.arange(12.).reshape(3,4), [[0,1],[2,3],[1,0]])
  ExpectTensor<float>(Run("GatherNd", {}, {g, T_<int32_t>({0, 1, 2, 3, 1, 0}, {3, 2})})[0], {3},
                      {1, 11, 4});
  // tf.gather_nd(g, [[[2]],[[0]]]) (slices, int64 indices)
  ExpectTensor<float>(Run("GatherNd", {}, {g, T_<int64_t>({2, 0}, {2, 1, 1})})[0], {2, 1, 4},
                      {8, 9, 10, 11, 0, 1, 2, 3});
  // int16 indices
  ExpectTensor<float>(Run("GatherNd", {}, {g, T_<int16_t>({1, 2}, {1, 2})})[0], {1}, {6});
  // Empty indices on empty params: tf.gather_nd(tf.zeros([0,3]), tf.zeros([0,1],tf.int32))
  CHECK(Run("GatherNd", {}, {Iota<float>({0, 3}), T_<int32_t>({}, {0, 1})})[0].shape() ==
        TensorShape{0, 3});
  // TF: "indices[1] = [3, 0] does not index into param shape [3,4], node name: GatherNd"
  const std::string err = RunError("GatherNd", {}, {g, T_<int32_t>({0, 1, 3, 0}, {2, 2})});
  CHECK(Contains(err, "indices[1] = [3, 0] does not index into param shape [3,4]"));
  CHECK(Contains(err, "node 'op' (GatherNd)"));  // kernel_test_util names the node "op"
  CHECK(Contains(RunError("GatherNd", {}, {g, T_<int32_t>({-1, 0}, {1, 2})}),
                 "indices[0] = [-1, 0]"));
  CHECK(Contains(RunError("GatherNd", {}, {Iota<float>({0, 3}), T_<int32_t>({0}, {1, 1})}),
                 "params is empty"));
  CHECK(Contains(RunError("GatherNd", {}, {g, T_<int32_t>({0, 0, 0}, {1, 3})}),
                 "must be <= params rank"));
  // bad_indices_policy IGNORE gathers zeros for the bad row.
  ExpectTensor<float>(Run("GatherNd", {{"bad_indices_policy", MakeAttr("IGNORE")}},
                          {g, T_<int32_t>({0, 1, 3, 0}, {2, 2})})[0],
                      {2}, {1, 0});
}

TEST_CASE("ScatterNd matches tf.scatter_nd, summing duplicates", "[array][gather]") {
  // tf.scatter_nd([[1],[3],[1]], [[1,2],[3,4],[5,6]], [4,2])
  ExpectTensor<float>(Run("ScatterNd", {},
                          {T_<int32_t>({1, 3, 1}, {3, 1}), T_<float>({1, 2, 3, 4, 5, 6}, {3, 2}),
                           T_<int32_t>({4, 2}, {2})})[0],
                      {4, 2}, {0, 0, 6, 8, 0, 0, 3, 4});
  // tf.scatter_nd([[0,1],[1,0]], [7,8], [2,2]) with int64 indices and values
  ExpectTensor<int64_t>(Run("ScatterNd", {},
                            {T_<int64_t>({0, 1, 1, 0}, {2, 2}), T_<int64_t>({7, 8}, {2}),
                             T_<int64_t>({2, 2}, {2})})[0],
                        {2, 2}, {0, 7, 8, 0});
  // TF: "indices[0] = [5] does not index into shape [4]"
  CHECK(Contains(RunError("ScatterNd", {},
                          {T_<int32_t>({5}, {1, 1}), T_<float>({1}, {1}), T_<int32_t>({4}, {1})}),
                 "indices[0] = [5] does not index into shape [4]"));
  CHECK(
      Contains(RunError("ScatterNd", {},
                        {T_<int32_t>({1}, {1, 1}), T_<float>({1, 2}, {2}), T_<int32_t>({4}, {1})}),
               "updates must have shape"));
}

// ---- Where --------------------------------------------------------------------------------

TEST_CASE("Where returns the coordinates of non-zero elements", "[array][where]") {
  // tf.where([[0., 1.5, 0.], [-0.0, 0., 2.]]) -> [[0,1],[1,2]] (-0.0 counts as zero)
  auto out = Run("Where", {}, {T_<float>({0, 1.5f, 0, -0.0f, 0, 2}, {2, 3})});
  ExpectTensor<int64_t>(out[0], {2, 2}, {0, 1, 1, 2});
  // tf.where([True, False, True]) -> [[0],[2]]
  ExpectTensor<int64_t>(Run("Where", {}, {T_<bool>({true, false, true}, {3})})[0], {2, 1}, {0, 2});
  // No true element / an empty input / a scalar.
  CHECK(Run("Where", {}, {T_<int32_t>({0, 0}, {2})})[0].shape() == TensorShape{0, 1});
  CHECK(Run("Where", {}, {Iota<float>({0, 2, 3})})[0].shape() == TensorShape{0, 3});
  CHECK(Run("Where", {}, {T_<bool>({true}, {})})[0].shape() == TensorShape{1, 0});
  auto shapes = InferOpShapes("Where", {}, {ShapeInput::Of(DT_BOOL, TensorShape{-1, 3})});
  REQUIRE(shapes.ok());
  CHECK((*shapes)[0] == TensorShape{-1, 2});
}

// ---- TopKV2 -------------------------------------------------------------------------------

TEST_CASE("TopKV2 matches tf.math.top_k, ties by lower index", "[array][topk]") {
  const Tensor t = T_<float>({3, 1, 3, 2, 5, 0, 0, -1, 0, 4}, {2, 5});
  // tf.math.top_k(t, k=3): values [[5,3,3],[4,0,0]], indices [[4,0,2],[4,0,1]]
  for (int threads : {1, 2}) {
    auto out = Run("TopKV2", {}, {t, T_<int32_t>({3}, {})}, threads);
    ExpectTensor<float>(out[0], {2, 3}, {5, 3, 3, 4, 0, 0});
    ExpectTensor<int32_t>(out[1], {2, 3}, {4, 0, 2, 4, 0, 1});
  }
  // index_type int64, k = all columns, int32 input.
  auto all = Run("TopKV2", {{"index_type", MakeAttr(DT_INT64)}},
                 {T_<int32_t>({2, 7, 2}, {3}), T_<int32_t>({3}, {})});
  ExpectTensor<int32_t>(all[0], {3}, {7, 2, 2});
  ExpectTensor<int64_t>(all[1], {3}, {1, 0, 2});
  // k = 0 and an empty batch.
  CHECK(Run("TopKV2", {}, {t, T_<int32_t>({0}, {})})[0].shape() == TensorShape{2, 0});
  CHECK(Run("TopKV2", {}, {Iota<float>({0, 4}), T_<int32_t>({2}, {})})[1].shape() ==
        TensorShape{0, 2});
  // TF: "input must have at least k columns. Had 5, needed 6"
  CHECK(Contains(RunError("TopKV2", {}, {t, T_<int32_t>({6}, {})}),
                 "input must have at least k columns. Had 5, needed 6"));
  CHECK(Contains(RunError("TopKV2", {}, {t, T_<int32_t>({-1}, {})}), "Need k >= 0"));
}

// ---- MirrorPad ----------------------------------------------------------------------------

TEST_CASE("MirrorPad and MirrorPadGrad match NumPy / TF", "[array][pad]") {
  const Tensor m = Iota<float>({2, 3}, 1.0f);
  // np.pad(m, [[1,1],[2,1]], mode='reflect') == tf.pad(m, ..., mode='REFLECT')
  auto r =
      Run("MirrorPad", {{"mode", MakeAttr("REFLECT")}}, {m, T_<int32_t>({1, 1, 2, 1}, {2, 2})});
  ExpectTensor<float>(r[0], {4, 6},
                      {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2});
  // np.pad(m, [[1,2],[2,3]], mode='symmetric') == tf.pad(m, ..., mode='SYMMETRIC')
  auto s =
      Run("MirrorPad", {{"mode", MakeAttr("SYMMETRIC")}}, {m, T_<int64_t>({1, 2, 2, 3}, {2, 2})});
  ExpectTensor<float>(s[0], {5, 8}, {2, 1, 1, 2, 3, 3, 2, 1, 2, 1, 1, 2, 3, 3, 2, 1, 5, 4, 4, 5,
                                     6, 6, 5, 4, 5, 4, 4, 5, 6, 6, 5, 4, 2, 1, 1, 2, 3, 3, 2, 1});
  // TF: "paddings must be less than the dimension size: 3, 0 not less than 3" (REFLECT), while
  // SYMMETRIC allows a pad equal to the dim.
  CHECK(Contains(RunError("MirrorPad", {{"mode", MakeAttr("REFLECT")}},
                          {Iota<float>({3, 4}), T_<int32_t>({3, 0, 0, 0}, {2, 2})}),
                 "paddings must be less than the dimension size"));
  CHECK(Run("MirrorPad", {{"mode", MakeAttr("SYMMETRIC")}},
            {Iota<float>({3, 4}), T_<int32_t>({3, 0, 0, 0}, {2, 2})})[0]
            .shape() == TensorShape{6, 4});
  // tf.raw_ops.MirrorPadGrad(input=np.arange(1,31.).reshape(5,6), paddings=[[1,2],[2,1]],
  // mode='SYMMETRIC')
  auto gs = Run("MirrorPadGrad", {{"mode", MakeAttr("SYMMETRIC")}},
                {Iota<float>({5, 6}, 1.0f), T_<int32_t>({1, 2, 2, 1}, {2, 2})});
  ExpectTensor<float>(gs[0], {2, 3}, {75, 75, 93, 70, 70, 82});
  // the same with mode='REFLECT' on the first 4 rows and paddings [[1,1],[2,1]]
  auto gr = Run("MirrorPadGrad", {{"mode", MakeAttr("REFLECT")}},
                {Iota<float>({4, 6}, 1.0f), T_<int32_t>({1, 1, 2, 1}, {2, 2})});
  ExpectTensor<float>(gr[0], {2, 3}, {30, 96, 60, 18, 60, 36});
}

// ---- Any / All ----------------------------------------------------------------------------

TEST_CASE("Any and All reduce bools like np.any / np.all", "[array][reduction]") {
  const Tensor b = T_<bool>({true, false, true, false, false, true}, {2, 3});
  // np.any(b, axis=1), np.all(b, axis=0)
  ExpectBools(Run("Any", {}, {b, T_<int32_t>({1}, {1})})[0], {2}, {1, 1});
  ExpectBools(Run("All", {}, {b, T_<int32_t>({0}, {1})})[0], {3}, {0, 0, 1});
  // np.any(b, axis=(0,1), keepdims=True), np.all(b) (negative axes, int64)
  ExpectBools(Run("Any", {{"keep_dims", MakeAttr(true)}}, {b, T_<int32_t>({0, -1}, {2})})[0],
              {1, 1}, {1});
  ExpectBools(Run("All", {}, {b, T_<int64_t>({-2, 1}, {2})})[0], {}, {0});
  // Empty reductions give the identities: any -> false, all -> true.
  const Tensor e = T_<bool>({}, {0, 2});
  ExpectBools(Run("Any", {}, {e, T_<int32_t>({0}, {1})})[0], {2}, {0, 0});
  ExpectBools(Run("All", {}, {e, T_<int32_t>({0}, {1})})[0], {2}, {1, 1});
  // Longer rows (the 16-lane path) with 4 threads.
  std::vector<bool> many(100, true);
  many[77] = false;
  Tensor big = Tensor::FromVector<bool>(many, TensorShape{100});
  ExpectBools(Run("All", {}, {big, T_<int32_t>({0}, {1})}, 4)[0], {}, {0});
  ExpectBools(Run("Any", {}, {big, T_<int32_t>({0}, {1})}, 4)[0], {}, {1});
}

// ---- shape functions ----------------------------------------------------------------------

TEST_CASE("Shape functions of the extra array ops", "[array][shape]") {
  auto shapes = [](const std::string& op, const AttrMap& attrs, const std::vector<ShapeInput>& in) {
    auto s = InferOpShapes(op, attrs, in);
    INFO(op << ": " << s.status().ToString());
    REQUIRE(s.ok());
    return *s;
  };
  CHECK(shapes("GatherNd", {},
               {ShapeInput::Of(DT_FLOAT, TensorShape{5, -1, 7}),
                ShapeInput::Of(DT_INT32, TensorShape{2, 3, 1})})[0] == TensorShape{2, 3, -1, 7});
  CHECK(shapes("ScatterNd", {},
               {ShapeInput::Of(DT_INT32, TensorShape{3, 1}),
                ShapeInput::Of(DT_FLOAT, TensorShape{3, 2}),
                ShapeInput::Known(T_<int32_t>({4, 2}, {2}))})[0] == TensorShape{4, 2});
  CHECK(shapes("TopKV2", {},
               {ShapeInput::Of(DT_FLOAT, TensorShape{-1, 9}),
                ShapeInput::Known(T_<int32_t>({4}, {}))})[1] == TensorShape{-1, 4});
  CHECK(shapes("MirrorPad", {{"mode", MakeAttr("REFLECT")}},
               {ShapeInput::Of(DT_FLOAT, TensorShape{3, -1}),
                ShapeInput::Known(T_<int32_t>({1, 2, 1, 1}, {2, 2}))})[0] == TensorShape{6, -1});
  CHECK(shapes("MirrorPadGrad", {{"mode", MakeAttr("SYMMETRIC")}},
               {ShapeInput::Of(DT_FLOAT, TensorShape{6, 5}),
                ShapeInput::Known(T_<int32_t>({1, 2, 1, 1}, {2, 2}))})[0] == TensorShape{3, 3});
  CHECK(shapes("All", {{"keep_dims", MakeAttr(true)}},
               {ShapeInput::Of(DT_BOOL, TensorShape{2, 3}),
                ShapeInput::Known(T_<int32_t>({1}, {1}))})[0] == TensorShape{2, 1});
  auto bad = InferOpShapes(
      "ReverseV2", {},
      {ShapeInput::Of(DT_FLOAT, TensorShape{2, 3}), ShapeInput::Known(T_<int32_t>({1, 1}, {2}))});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(std::string(bad.status().message()), "specified more than once"));
  auto topk = InferOpShapes(
      "TopKV2", {},
      {ShapeInput::Of(DT_FLOAT, TensorShape{2, 3}), ShapeInput::Known(T_<int32_t>({4}, {}))});
  REQUIRE_FALSE(topk.ok());
  CHECK(Contains(std::string(topk.status().message()), "at least k columns"));
}
