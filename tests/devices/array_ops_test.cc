// Array-op kernels and shape functions. Expected values are hand-derived or computed here by
// naive index arithmetic (row-major multi-index loops, CPython's slice rules), independent of
// the strided-copy engine under test.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
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
                        const std::vector<Tensor>& inputs, int intra_op_threads = 1) {
  auto out = RunKernel(op, attrs, inputs, intra_op_threads);
  INFO(op << ": " << out.status().ToString());
  REQUIRE(out.ok());
  return *std::move(out);
}

// Runs and expects failure; returns the message.
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

int64_t NumElements(const Dims& d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

// 0, 1, 2, ... as T (values wrap for narrow types, which is fine for layout tests).
template <typename T>
Tensor Iota(const Dims& dims) {
  std::vector<T> v(NumElements(dims));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(i);
  return Tensor::FromVector<T>(v, TensorShape(dims));
}

Tensor IotaHalf(const Dims& dims) {
  std::vector<Half> v(NumElements(dims));
  for (size_t i = 0; i < v.size(); ++i) v[i] = Half{static_cast<uint16_t>(i * 7 + 1)};
  return Tensor::FromVector<Half>(v, TensorShape(dims));
}

Tensor I32(std::vector<int32_t> v) {
  int64_t n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<int32_t>(v, TensorShape{n});
}
Tensor I64(std::vector<int64_t> v) {
  int64_t n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<int64_t>(v, TensorShape{n});
}

// Row-major multi-index helpers for the naive references.
Dims Unflatten(int64_t flat, const Dims& dims) {
  Dims idx(dims.size());
  for (size_t k = dims.size(); k-- > 0;) {
    idx[k] = flat % dims[k];
    flat /= dims[k];
  }
  return idx;
}
int64_t Flatten(const Dims& idx, const Dims& dims) {
  int64_t flat = 0;
  for (size_t k = 0; k < dims.size(); ++k) flat = flat * dims[k] + idx[k];
  return flat;
}

template <typename T>
std::vector<T> NaiveTranspose(const std::vector<T>& in, const Dims& dims, const Dims& perm) {
  Dims out_dims(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) out_dims[k] = dims[perm[k]];
  std::vector<T> out(in.size());
  for (int64_t f = 0; f < static_cast<int64_t>(out.size()); ++f) {
    Dims o = Unflatten(f, out_dims);
    Dims i(dims.size());
    for (size_t k = 0; k < perm.size(); ++k) i[perm[k]] = o[k];
    out[f] = in[Flatten(i, dims)];
  }
  return out;
}

// CPython's slice.indices(): the indices x[start:stop:step] visits in a dim of length len.
std::vector<int64_t> PySlice(int64_t len, std::optional<int64_t> start, std::optional<int64_t> stop,
                             int64_t step) {
  int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? len : len - 1;
  auto fix = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v < 0 ? *v + len : *v;
    return x < lower ? lower : (x > upper ? upper : x);
  };
  int64_t b = fix(start, step > 0 ? lower : upper);
  int64_t e = fix(stop, step > 0 ? upper : lower);
  std::vector<int64_t> out;
  for (int64_t i = b; step > 0 ? i < e : i > e; i += step) out.push_back(i);
  return out;
}
std::vector<int64_t> All(int64_t len) { return PySlice(len, {}, {}, 1); }

// Values of an iota tensor of shape `dims` at the cartesian product of per-dim index lists.
std::vector<float> IotaAt(const Dims& dims, const std::vector<std::vector<int64_t>>& lists) {
  std::vector<float> out;
  std::function<void(size_t, Dims&)> rec = [&](size_t k, Dims& idx) {
    if (k == lists.size()) {
      out.push_back(static_cast<float>(Flatten(idx, dims)));
      return;
    }
    for (int64_t i : lists[k]) {
      idx[k] = i;
      rec(k + 1, idx);
    }
  };
  Dims idx(dims.size());
  rec(0, idx);
  return out;
}

AttrMap Masks(int64_t begin, int64_t end, int64_t ellipsis = 0, int64_t new_axis = 0,
              int64_t shrink = 0) {
  return {{"begin_mask", MakeAttr(begin)},
          {"end_mask", MakeAttr(end)},
          {"ellipsis_mask", MakeAttr(ellipsis)},
          {"new_axis_mask", MakeAttr(new_axis)},
          {"shrink_axis_mask", MakeAttr(shrink)}};
}

// Runs the kernel of a freshly built node on caller-owned inputs (no copies), so tests can
// check which outputs alias which inputs.
std::vector<Tensor> RunOnValues(const std::string& op, const AttrMap& attrs,
                                const std::vector<Tensor>& inputs) {
  Graph graph;
  std::vector<Node*> nodes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto n = quiver::testing::AddConst(graph, "in" + std::to_string(i), inputs[i]);
    REQUIRE(n.ok());
    nodes.push_back(*n);
  }
  auto node = quiver::testing::AddOpNode(graph, op, attrs, nodes);
  INFO(node.status().ToString());
  REQUIRE(node.ok());
  auto kernel = KernelRegistry::Global().CreateKernel(**node, kCpu);
  REQUIRE(kernel.ok());
  std::vector<TensorValue> in(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) in[i].tensor = inputs[i];
  std::vector<TensorValue> out((*node)->num_outputs());
  StepResources resources;
  OpKernelContext ctx(**node, &in, &out, &resources);
  absl::Status s = (*kernel)->Compute(ctx);
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::vector<Tensor> result;
  for (auto& v : out) result.push_back(v.tensor);
  return result;
}

}  // namespace

// ---- identities, sources ------------------------------------------------------------------

TEST_CASE("Identity, StopGradient, Reshape, Squeeze, ExpandDims alias their input", "[array]") {
  Tensor x = Iota<float>({2, 1, 3});
  for (const char* op : {"Identity", "StopGradient"}) {
    auto out = RunOnValues(op, {}, {x});
    REQUIRE(out[0].SharesBufferWith(x));
    REQUIRE(out[0].shape() == x.shape());
  }
  auto r = RunOnValues("Reshape", {}, {x, I32({3, -1})});
  REQUIRE(r[0].SharesBufferWith(x));
  REQUIRE(r[0].shape() == TensorShape{3, 2});
  auto s = RunOnValues("Squeeze", {}, {x});
  REQUIRE(s[0].SharesBufferWith(x));
  REQUIRE(s[0].shape() == TensorShape{2, 3});
  auto e = RunOnValues("ExpandDims", {}, {x, Tensor::Scalar<int32_t>(-1)});
  REQUIRE(e[0].SharesBufferWith(x));
  REQUIRE(e[0].shape() == TensorShape{2, 1, 3, 1});
  // A transpose that only moves a size-1 dim keeps the byte order: also an alias.
  auto t = RunOnValues("Transpose", {}, {x, I32({1, 0, 2})});
  REQUIRE(t[0].SharesBufferWith(x));
  REQUIRE(t[0].shape() == TensorShape{1, 2, 3});
  // Snapshot must copy: it exists to freeze a value that may change later.
  auto snap = RunOnValues("Snapshot", {}, {x});
  REQUIRE_FALSE(snap[0].SharesBufferWith(x));
  REQUIRE(snap[0].ToVector<float>() == x.ToVector<float>());
}

TEST_CASE("IdentityN forwards each input; NoOp has no outputs", "[array]") {
  Tensor a = Iota<int32_t>({2}), b = Tensor::Scalar<bool>(true);
  auto out = RunOnValues("IdentityN", {}, {a, b});
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].SharesBufferWith(a));
  REQUIRE(out[1].SharesBufferWith(b));
  REQUIRE(Run("NoOp", {}, {}).empty());
}

TEST_CASE("Const outputs its value; Placeholder without a feed names itself", "[array]") {
  Tensor v = Tensor::FromVector<int64_t>({5, -6, 7}, TensorShape{3});
  auto out = Run("Const", {{"dtype", MakeAttr(DT_INT64)}, {"value", MakeAttr(v)}}, {});
  REQUIRE(out[0].ToVector<int64_t>() == std::vector<int64_t>{5, -6, 7});

  std::string msg =
      RunError("Placeholder",
               {{"dtype", MakeAttr(DT_FLOAT)}, {"shape", MakeAttr(TensorShape{-1, 784})}}, {});
  REQUIRE(msg ==
          "You must feed a value for placeholder tensor 'op' with dtype float32 and shape "
          "[?,784]");
  msg = RunError("Placeholder", {{"dtype", MakeAttr(DT_INT32)}}, {});
  REQUIRE(msg == "You must feed a value for placeholder tensor 'op' with dtype int32");

  // Const whose value's dtype disagrees with its dtype attr is rejected at graph construction.
  auto bad = InferOpShapes("Const", {{"dtype", MakeAttr(DT_FLOAT)}, {"value", MakeAttr(v)}}, {});
  REQUIRE_FALSE(bad.ok());
  REQUIRE(Contains(std::string(bad.status().message()), "Type mismatch"));
}

TEST_CASE("PlaceholderWithDefault forwards its input and checks the declared shape", "[array]") {
  Tensor x = Iota<float>({2, 3});
  auto out = RunOnValues("PlaceholderWithDefault", {{"shape", MakeAttr(TensorShape{-1, 3})}}, {x});
  REQUIRE(out[0].SharesBufferWith(x));
  auto shapes = Shapes("PlaceholderWithDefault", {{"shape", MakeAttr(TensorShape{-1, 3})}},
                       {ShapeInput::Of(DT_FLOAT, TensorShape{2, 3})});
  REQUIRE(shapes[0] == TensorShape{-1, 3});
  std::string msg = ShapeError("PlaceholderWithDefault", {{"shape", MakeAttr(TensorShape{-1, 4})}},
                               {ShapeInput::Of(DT_FLOAT, TensorShape{2, 3})});
  REQUIRE(Contains(msg, "node 'op'"));
}

// ---- reshape family -----------------------------------------------------------------------

TEST_CASE("Reshape resolves -1 and rejects impossible shapes", "[array]") {
  Tensor x = Iota<int32_t>({2, 3, 4});
  auto out = Run("Reshape", {}, {x, I64({-1, 6})});
  REQUIRE(out[0].shape() == TensorShape{4, 6});
  REQUIRE(out[0].ToVector<int32_t>() == x.ToVector<int32_t>());
  REQUIRE(Run("Reshape", {}, {x, I32({24})})[0].shape() == TensorShape{24});
  REQUIRE(Run("Reshape", {}, {Iota<float>({1}), I32({})})[0].shape() == TensorShape{});

  std::string msg = RunError("Reshape", {}, {x, I32({5, 5})});
  REQUIRE(Contains(msg, "node 'op' (Reshape)"));
  REQUIRE(Contains(msg, "tensor with 24 values"));
  REQUIRE(Contains(msg, "has 25"));
  msg = RunError("Reshape", {}, {x, I32({-1, 5})});
  REQUIRE(Contains(msg, "multiple of 5"));
  msg = RunError("Reshape", {}, {x, I32({-1, -1})});
  REQUIRE(Contains(msg, "only one dimension"));
  msg = RunError("Reshape", {}, {x, I32({-2, 12})});
  REQUIRE(Contains(msg, "non-negative"));
  msg = RunError("Reshape", {}, {x, I32({0, -1})});
  REQUIRE(Contains(msg, "cannot infer"));
}

TEST_CASE("Squeeze and ExpandDims", "[array]") {
  Tensor x = Iota<float>({1, 2, 1, 3});
  REQUIRE(Run("Squeeze", {}, {x})[0].shape() == TensorShape{2, 3});
  auto sq = [&](Dims dims) {
    return Run("Squeeze", {{"squeeze_dims", MakeAttr(dims)}}, {x})[0].shape();
  };
  REQUIRE(sq({2}) == TensorShape{1, 2, 3});
  REQUIRE(sq({-4}) == TensorShape{2, 1, 3});
  std::string msg = RunError("Squeeze", {{"squeeze_dims", MakeAttr(Dims{1})}}, {x});
  REQUIRE(Contains(msg, "Can not squeeze dim[1], expected a dimension of 1, got 2"));
  msg = RunError("Squeeze", {{"squeeze_dims", MakeAttr(Dims{4})}}, {x});
  REQUIRE(Contains(msg, "squeeze dim index 4"));

  Tensor y = Iota<int8_t>({2, 3});
  auto ed = [&](int32_t d) {
    return Run("ExpandDims", {}, {y, Tensor::Scalar<int32_t>(d)})[0].shape();
  };
  REQUIRE(ed(0) == TensorShape{1, 2, 3});
  REQUIRE(ed(2) == TensorShape{2, 3, 1});
  REQUIRE(ed(-1) == TensorShape{2, 3, 1});
  REQUIRE(ed(-3) == TensorShape{1, 2, 3});
  msg = RunError("ExpandDims", {}, {y, Tensor::Scalar<int32_t>(3)});
  REQUIRE(Contains(msg, "expand dim index 3"));
}

// ---- transpose ----------------------------------------------------------------------------

TEST_CASE("Transpose matches naive index arithmetic for 2-D, 3-D and 4-D", "[array]") {
  constexpr int kThreads = 3;
  struct Case {
    Dims dims;
    Dims perm;
  };
  std::vector<Case> cases = {
      {{3, 5}, {1, 0}},
      {{67, 129}, {1, 0}},   // large enough for the tiled path, odd sizes for ragged tiles
      {{300, 170}, {1, 0}},  // parallel chunks
  };
  // Every permutation of a 3-D tensor.
  for (Dims p :
       {Dims{0, 1, 2}, Dims{0, 2, 1}, Dims{1, 0, 2}, Dims{1, 2, 0}, Dims{2, 0, 1}, Dims{2, 1, 0}}) {
    cases.push_back({{4, 5, 6}, p});
    cases.push_back({{7, 40, 33}, p});
  }
  for (Dims p :
       {Dims{0, 2, 3, 1}, Dims{0, 3, 1, 2}, Dims{3, 2, 1, 0}, Dims{1, 0, 3, 2}, Dims{2, 0, 3, 1}}) {
    cases.push_back({{2, 3, 4, 5}, p});
    cases.push_back({{2, 33, 17, 40}, p});
  }
  for (const Case& c : cases) {
    INFO("dims " << TensorShape(c.dims).DebugString() << " perm "
                 << TensorShape(c.perm).DebugString());
    Tensor xf = Iota<float>(c.dims);
    auto out = Run("Transpose", {}, {xf, I32(std::vector<int32_t>(c.perm.begin(), c.perm.end()))},
                   kThreads);
    Dims out_dims;
    for (int64_t p : c.perm) out_dims.push_back(c.dims[p]);
    REQUIRE(out[0].shape() == TensorShape(out_dims));
    REQUIRE(out[0].ToVector<float>() == NaiveTranspose(xf.ToVector<float>(), c.dims, c.perm));
    // Other element sizes take the same path with different copy widths.
    Tensor x8 = Iota<int8_t>(c.dims);
    REQUIRE(Run("Transpose", {}, {x8, I64(c.perm)})[0].ToVector<int8_t>() ==
            NaiveTranspose(x8.ToVector<int8_t>(), c.dims, c.perm));
    Tensor x64 = Iota<int64_t>(c.dims);
    REQUIRE(Run("Transpose", {}, {x64, I64(c.perm)}, kThreads)[0].ToVector<int64_t>() ==
            NaiveTranspose(x64.ToVector<int64_t>(), c.dims, c.perm));
  }
  // 16-bit floats are moved as bits.
  Tensor h = IotaHalf({3, 4, 5});
  auto out = Run("Transpose", {}, {h, I32({2, 0, 1})});
  std::vector<uint16_t> bits(h.num_elements()), got(h.num_elements());
  for (int64_t i = 0; i < h.num_elements(); ++i) bits[i] = h.data<Half>()[i].bits;
  for (int64_t i = 0; i < h.num_elements(); ++i) got[i] = out[0].data<Half>()[i].bits;
  REQUIRE(got == NaiveTranspose(bits, {3, 4, 5}, {2, 0, 1}));
  REQUIRE(out[0].dtype() == DT_HALF);
}

TEST_CASE("Transpose of a 2x3 matrix, by hand", "[array]") {
  Tensor x = Tensor::FromVector<bool>({true, false, false, true, true, false}, TensorShape{2, 3});
  auto out = Run("Transpose", {}, {x, I32({1, 0})});
  REQUIRE(out[0].shape() == TensorShape{3, 2});
  std::vector<bool> expect = {true, true, false, true, false, false};
  for (int i = 0; i < 6; ++i) REQUIRE(out[0].data<bool>()[i] == expect[i]);
}

TEST_CASE("Transpose rejects bad permutations", "[array]") {
  Tensor x = Iota<float>({2, 3});
  std::string msg = RunError("Transpose", {}, {x, I32({0, 0})});
  REQUIRE(Contains(msg, "node 'op' (Transpose)"));
  REQUIRE(Contains(msg, "not a permutation"));
  msg = RunError("Transpose", {}, {x, I32({0, 2})});
  REQUIRE(Contains(msg, "out of range"));
  msg = RunError("Transpose", {}, {x, I32({0, 1, 2})});
  REQUIRE(Contains(msg, "perm of size 2"));
  msg = RunError("Transpose", {}, {x, I32({-1, 0})});
  REQUIRE(Contains(msg, "out of range"));
}

// ---- concat / pack ------------------------------------------------------------------------

TEST_CASE("ConcatV2 and Concat along each axis match naive loops", "[array]") {
  for (int axis = 0; axis < 3; ++axis) {
    Dims da = {2, 3, 4}, db = {2, 3, 4};
    da[axis] = 2;
    db[axis] = 3;
    Tensor a = Iota<float>(da);
    std::vector<float> bv(NumElements(db));
    for (size_t i = 0; i < bv.size(); ++i) bv[i] = 1000.f + static_cast<float>(i);
    Tensor b = Tensor::FromVector<float>(bv, TensorShape(db));
    Dims dout = da;
    dout[axis] = 5;
    std::vector<float> expect;
    for (int64_t i = 0; i < dout[0]; ++i) {
      for (int64_t j = 0; j < dout[1]; ++j) {
        for (int64_t k = 0; k < dout[2]; ++k) {
          Dims idx = {i, j, k};
          if (idx[axis] < 2) {
            expect.push_back(a.data<float>()[Flatten(idx, da)]);
          } else {
            idx[axis] -= 2;
            expect.push_back(b.data<float>()[Flatten(idx, db)]);
          }
        }
      }
    }
    for (int32_t ax : {axis, axis - 3}) {  // positive and negative axis
      auto v2 = Run("ConcatV2", {}, {a, b, Tensor::Scalar<int32_t>(ax)});
      REQUIRE(v2[0].shape() == TensorShape(dout));
      REQUIRE(v2[0].ToVector<float>() == expect);
      auto v1 = Run("Concat", {}, {Tensor::Scalar<int32_t>(ax), a, b});
      REQUIRE(v1[0].ToVector<float>() == expect);
    }
  }
  // Three inputs, one empty.
  auto out = Run("ConcatV2", {},
                 {I32({1, 2}), Tensor::FromVector<int32_t>({}, TensorShape{0}), I32({3}),
                  Tensor::Scalar<int64_t>(0)});
  REQUIRE(out[0].ToVector<int32_t>() == std::vector<int32_t>{1, 2, 3});
}

TEST_CASE("Concat errors name the node and the mismatch", "[array]") {
  std::string msg =
      RunError("ConcatV2", {}, {Iota<float>({2, 3}), Iota<float>({3}), Tensor::Scalar<int32_t>(0)});
  REQUIRE(Contains(msg, "node 'op' (ConcatV2)"));
  REQUIRE(Contains(msg, "Ranks of all input tensors should match"));
  msg = RunError("ConcatV2", {},
                 {Iota<float>({2, 3}), Iota<float>({2, 4}), Tensor::Scalar<int32_t>(0)});
  REQUIRE(Contains(msg, "Dimension 1 in both shapes must be equal"));
  msg = RunError("ConcatV2", {},
                 {Iota<float>({2, 3}), Iota<float>({2, 3}), Tensor::Scalar<int32_t>(2)});
  REQUIRE(Contains(msg, "out of range"));
  msg = RunError("ConcatV2", {},
                 {Tensor::Scalar<float>(1), Tensor::Scalar<float>(2), Tensor::Scalar<int32_t>(0)});
  REQUIRE(Contains(msg, "scalars"));
}

TEST_CASE("Pack and Unpack along each axis", "[array]") {
  Tensor a = Iota<int32_t>({2, 3});
  Tensor b = Tensor::FromVector<int32_t>({10, 11, 12, 13, 14, 15}, TensorShape{2, 3});
  // Hand-derived.
  auto p0 = Run("Pack", {{"axis", MakeAttr(0)}}, {a, b});
  REQUIRE(p0[0].shape() == TensorShape{2, 2, 3});
  REQUIRE(p0[0].ToVector<int32_t>() ==
          std::vector<int32_t>{0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15});
  auto p1 = Run("Pack", {{"axis", MakeAttr(1)}}, {a, b});
  REQUIRE(p1[0].shape() == TensorShape{2, 2, 3});
  REQUIRE(p1[0].ToVector<int32_t>() ==
          std::vector<int32_t>{0, 1, 2, 10, 11, 12, 3, 4, 5, 13, 14, 15});
  auto p2 = Run("Pack", {{"axis", MakeAttr(-1)}}, {a, b});
  REQUIRE(p2[0].shape() == TensorShape{2, 3, 2});
  REQUIRE(p2[0].ToVector<int32_t>() ==
          std::vector<int32_t>{0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15});
  std::string msg = RunError("Pack", {}, {a, Iota<int32_t>({3, 2})});
  REQUIRE(Contains(msg, "Shapes of all inputs must match"));

  // Unpack inverts Pack for each axis.
  for (int axis : {0, 1, 2, -1}) {
    auto packed = Run("Pack", {{"axis", MakeAttr(axis)}}, {a, b});
    auto parts = Run("Unpack", {{"num", MakeAttr(2)}, {"axis", MakeAttr(axis)}}, {packed[0]});
    REQUIRE(parts.size() == 2);
    REQUIRE(parts[0].shape() == TensorShape{2, 3});
    REQUIRE(parts[0].ToVector<int32_t>() == a.ToVector<int32_t>());
    REQUIRE(parts[1].ToVector<int32_t>() == b.ToVector<int32_t>());
  }
  auto cols = Run("Unpack", {{"num", MakeAttr(3)}, {"axis", MakeAttr(1)}}, {a});
  REQUIRE(cols[2].ToVector<int32_t>() == std::vector<int32_t>{2, 5});
  msg = RunError("Unpack", {{"num", MakeAttr(3)}}, {a});
  REQUIRE(Contains(msg, "num = 3"));
}

// ---- Split, SplitV ------------------------------------------------------------------------

namespace {

// Naive reference for Split/SplitV: part k of `dims` along `axis` (sizes[k] wide, starting at
// the sum of the sizes before it), as flat input indices in row-major order.
std::vector<int64_t> SplitPartIndices(const Dims& dims, int axis, const Dims& sizes, size_t k) {
  int64_t begin = 0;
  for (size_t j = 0; j < k; ++j) begin += sizes[j];
  Dims part = dims;
  part[axis] = sizes[k];
  std::vector<int64_t> idx;
  for (int64_t f = 0; f < NumElements(part); ++f) {
    Dims i = Unflatten(f, part);
    i[axis] += begin;
    idx.push_back(Flatten(i, dims));
  }
  return idx;
}

// Every dtype the CPU Split/SplitV kernels register.
const std::vector<DataType> kSplitTypes = {DT_FLOAT, DT_DOUBLE, DT_INT32,   DT_INT64,  DT_INT8,
                                           DT_UINT8, DT_INT16,  DT_UINT16,  DT_UINT32, DT_UINT64,
                                           DT_BOOL,  DT_HALF,   DT_BFLOAT16};

// A tensor of `dtype` whose elements have distinct byte patterns (bool: 0/1).
Tensor Distinct(DataType dtype, const Dims& dims) {
  auto t = Tensor::Zeros(dtype, TensorShape(dims));
  REQUIRE(t.ok());
  auto* bytes = static_cast<uint8_t*>(t->raw_data());
  for (size_t b = 0; b < t->num_bytes(); ++b) {
    bytes[b] =
        dtype == DT_BOOL ? static_cast<uint8_t>(b % 3 == 0) : static_cast<uint8_t>(b * 7 + 1);
  }
  return *std::move(t);
}

// Output k of a split of `x` along `axis` holds exactly the elements of part k, byte for byte.
void CheckSplitParts(const Tensor& x, const std::vector<Tensor>& parts, int axis,
                     const Dims& sizes) {
  REQUIRE(parts.size() == sizes.size());
  const size_t esize = DataTypeSize(x.dtype());
  const auto* in = static_cast<const uint8_t*>(x.raw_data());
  for (size_t k = 0; k < parts.size(); ++k) {
    CAPTURE(k);
    Dims want_dims = x.shape().dims();
    want_dims[axis] = sizes[k];
    REQUIRE(parts[k].dtype() == x.dtype());
    REQUIRE(parts[k].shape() == TensorShape(want_dims));
    const auto* out = static_cast<const uint8_t*>(parts[k].raw_data());
    std::vector<int64_t> idx = SplitPartIndices(x.shape().dims(), axis, sizes, k);
    for (size_t e = 0; e < idx.size(); ++e) {
      REQUIRE(std::equal(out + e * esize, out + (e + 1) * esize, in + idx[e] * esize));
    }
  }
}

}  // namespace

TEST_CASE("Split into equal parts along each axis", "[array][split]") {
  // Hand-derived (numpy.split(np.arange(12).reshape(2, 6), 3, axis=1)).
  Tensor a = Iota<int32_t>({2, 6});
  auto cols = Run("Split", {{"num_split", MakeAttr(3)}}, {Tensor::Scalar<int32_t>(1), a});
  REQUIRE(cols.size() == 3);
  REQUIRE(cols[0].shape() == TensorShape{2, 2});
  REQUIRE(cols[0].ToVector<int32_t>() == std::vector<int32_t>{0, 1, 6, 7});
  REQUIRE(cols[1].ToVector<int32_t>() == std::vector<int32_t>{2, 3, 8, 9});
  REQUIRE(cols[2].ToVector<int32_t>() == std::vector<int32_t>{4, 5, 10, 11});
  auto rows = Run("Split", {{"num_split", MakeAttr(2)}}, {Tensor::Scalar<int32_t>(-2), a});
  REQUIRE(rows[0].shape() == TensorShape{1, 6});
  REQUIRE(rows[1].ToVector<int32_t>() == std::vector<int32_t>{6, 7, 8, 9, 10, 11});
  auto last = Run("Split", {{"num_split", MakeAttr(2)}}, {Tensor::Scalar<int32_t>(-1), a});
  REQUIRE(last[0].ToVector<int32_t>() == std::vector<int32_t>{0, 1, 2, 6, 7, 8});
  REQUIRE(last[1].ToVector<int32_t>() == std::vector<int32_t>{3, 4, 5, 9, 10, 11});

  // Every dtype and axis of a 3-D tensor, against the naive reference; threaded too.
  for (DataType dt : kSplitTypes) {
    CAPTURE(DataTypeName(dt));
    Tensor x = Distinct(dt, {4, 6, 2});
    for (int axis : {0, 1, 2, -1, -3}) {
      CAPTURE(axis);
      const int ax = axis < 0 ? axis + 3 : axis;
      const int64_t n = 2;
      auto parts = Run("Split", {{"num_split", MakeAttr(n)}}, {Tensor::Scalar<int32_t>(axis), x},
                       /*intra_op_threads=*/2);
      CheckSplitParts(x, parts, ax, Dims(n, x.dim(ax) / n));
    }
  }
  // Empty tensors, and one part (the value itself, as in TF).
  auto empty =
      Run("Split", {{"num_split", MakeAttr(3)}}, {Tensor::Scalar<int32_t>(1), Iota<float>({0, 3})});
  REQUIRE(empty.size() == 3);
  REQUIRE(empty[2].shape() == TensorShape{0, 1});
  auto one = RunOnValues("Split", {{"num_split", MakeAttr(1)}}, {Tensor::Scalar<int32_t>(0), a});
  REQUIRE(one[0].SharesBufferWith(a));

  // Errors: not divisible, split_dim out of range or not a scalar.
  std::string msg =
      RunError("Split", {{"num_split", MakeAttr(4)}}, {Tensor::Scalar<int32_t>(1), a});
  REQUIRE(Contains(msg, "node 'op' (Split)"));
  REQUIRE(Contains(msg, "evenly divide"));
  REQUIRE(Contains(msg, "(size = 6) and num_split 4"));
  msg = RunError("Split", {{"num_split", MakeAttr(2)}}, {Tensor::Scalar<int32_t>(2), a});
  REQUIRE(Contains(msg, "split_dim = 2 is out of range [-2, 2)"));
  msg = RunError("Split", {{"num_split", MakeAttr(2)}}, {Tensor::Scalar<int32_t>(-3), a});
  REQUIRE(Contains(msg, "split_dim = -3"));
  msg = RunError("Split", {{"num_split", MakeAttr(1)}},
                 {Tensor::Scalar<int32_t>(0), Tensor::Scalar<float>(1)});
  REQUIRE(Contains(msg, "out of range"));
  msg = RunError("Split", {{"num_split", MakeAttr(2)}}, {I32({0, 1}), a});
  REQUIRE(Contains(msg, "'split_dim' must be a scalar"));
}

TEST_CASE("SplitV with sizes, a -1 and negative axes", "[array][split]") {
  // numpy.split(np.arange(12).reshape(2, 6), [1, 4], axis=-1): sizes [1, -1, 2] resolve to
  // [1, 3, 2].
  Tensor a = Iota<int32_t>({2, 6});
  auto parts = Run("SplitV", {{"num_split", MakeAttr(3)}},
                   {a, I32({1, -1, 2}), Tensor::Scalar<int32_t>(-1)});
  REQUIRE(parts.size() == 3);
  REQUIRE(parts[0].shape() == TensorShape{2, 1});
  REQUIRE(parts[0].ToVector<int32_t>() == std::vector<int32_t>{0, 6});
  REQUIRE(parts[1].shape() == TensorShape{2, 3});
  REQUIRE(parts[1].ToVector<int32_t>() == std::vector<int32_t>{1, 2, 3, 7, 8, 9});
  REQUIRE(parts[2].shape() == TensorShape{2, 2});
  REQUIRE(parts[2].ToVector<int32_t>() == std::vector<int32_t>{4, 5, 10, 11});
  // int64 sizes, an empty part, axis 0.
  auto rows =
      Run("SplitV", {{"num_split", MakeAttr(2)}}, {a, I64({0, 2}), Tensor::Scalar<int32_t>(0)});
  REQUIRE(rows[0].shape() == TensorShape{0, 6});
  REQUIRE(rows[1].ToVector<int32_t>() == a.ToVector<int32_t>());

  // Every dtype and axis of a 3-D tensor with uneven sizes, against the naive reference.
  for (DataType dt : kSplitTypes) {
    CAPTURE(DataTypeName(dt));
    Tensor x = Distinct(dt, {3, 5, 4});
    struct Case {
      int axis;
      std::vector<int32_t> sizes;
      Dims resolved;
    };
    for (const Case& c :
         {Case{0, {2, 1}, {2, 1}}, Case{1, {1, -1, 3}, {1, 1, 3}}, Case{-1, {-1, 3}, {1, 3}},
          Case{-2, {0, 5, 0}, {0, 5, 0}}, Case{2, {4}, {4}}}) {
      CAPTURE(c.axis);
      auto out = Run("SplitV", {{"num_split", MakeAttr(static_cast<int64_t>(c.sizes.size()))}},
                     {x, I32(c.sizes), Tensor::Scalar<int32_t>(c.axis)}, /*intra_op_threads=*/2);
      CheckSplitParts(x, out, c.axis < 0 ? c.axis + 3 : c.axis, c.resolved);
    }
  }

  // Errors (the shape function reports the same ones; see the partial-shape test).
  auto attrs2 = AttrMap{{"num_split", MakeAttr(2)}};
  auto attrs3 = AttrMap{{"num_split", MakeAttr(3)}};
  std::string msg = RunError("SplitV", attrs2, {a, I32({2, 3}), Tensor::Scalar<int32_t>(1)});
  REQUIRE(Contains(msg, "node 'op' (SplitV)"));
  REQUIRE(Contains(msg, "sum to 5, but the input of shape [2,6] has size 6 along split_dim 1"));
  msg = RunError("SplitV", attrs3, {a, I32({-1, 2, -1}), Tensor::Scalar<int32_t>(1)});
  REQUIRE(Contains(msg, "only one -1"));
  msg = RunError("SplitV", attrs2, {a, I32({-1, 7}), Tensor::Scalar<int32_t>(1)});
  REQUIRE(Contains(msg, "sum to 7, more than the size 6"));
  msg = RunError("SplitV", attrs2, {a, I32({-2, 8}), Tensor::Scalar<int32_t>(1)});
  REQUIRE(Contains(msg, "non-negative or -1"));
  msg = RunError("SplitV", attrs3, {a, I32({3, 3}), Tensor::Scalar<int32_t>(1)});
  REQUIRE(Contains(msg, "has 2 entries, but num_split = 3"));
  msg = RunError("SplitV", attrs2, {a, I32({3, 3}), Tensor::Scalar<int32_t>(-3)});
  REQUIRE(Contains(msg, "split_dim = -3 is out of range [-2, 2)"));
  msg = RunError("SplitV", attrs3, {a, I64({-1, 2, -1}), Tensor::Scalar<int32_t>(1)});
  REQUIRE(Contains(msg, "only one -1"));
  msg = RunError("SplitV", attrs2, {a, Tensor::Scalar<int32_t>(3), Tensor::Scalar<int32_t>(1)});
  REQUIRE(Contains(msg, "'size_splits' must be 1-D"));
}

// ---- slicing ------------------------------------------------------------------------------

TEST_CASE("Slice, with -1 sizes and range checks", "[array]") {
  Tensor x = Iota<float>({3, 4});
  auto out = Run("Slice", {}, {x, I32({1, 1}), I32({2, -1})});
  REQUIRE(out[0].shape() == TensorShape{2, 3});
  REQUIRE(out[0].ToVector<float>() == std::vector<float>{5, 6, 7, 9, 10, 11});
  out = Run("Slice", {}, {Iota<int64_t>({2, 3, 4}), I64({0, 2, 1}), I64({2, 1, 2})});
  REQUIRE(out[0].ToVector<int64_t>() == std::vector<int64_t>{9, 10, 21, 22});
  // The whole tensor aliases.
  auto whole = RunOnValues("Slice", {}, {x, I32({0, 0}), I32({-1, 4})});
  REQUIRE(whole[0].SharesBufferWith(x));

  std::string msg = RunError("Slice", {}, {x, I32({2, 0}), I32({2, 4})});
  REQUIRE(Contains(msg, "node 'op' (Slice)"));
  REQUIRE(Contains(msg, "size[0]"));
  msg = RunError("Slice", {}, {x, I32({4, 0}), I32({0, 4})});
  REQUIRE(Contains(msg, "begin[0]"));
  msg = RunError("Slice", {}, {x, I32({-1, 0}), I32({1, 4})});
  REQUIRE(Contains(msg, "begin[0]"));
  msg = RunError("Slice", {}, {x, I32({0}), I32({1})});
  REQUIRE(Contains(msg, "size 2"));
}

TEST_CASE("StridedSlice follows NumPy indexing with every mask kind", "[array]") {
  const Dims d = {4, 5, 6};
  Tensor x = Iota<float>(d);
  struct Case {
    const char* what;
    std::vector<int32_t> begin, end, strides;
    AttrMap masks;
    Dims out_shape;
    std::vector<std::vector<int64_t>> lists;  // per input dim, the indices taken
  };
  std::vector<Case> cases = {
      {"x[1:]", {1}, {0}, {1}, Masks(0, 1), {3, 5, 6}, {PySlice(4, 1, {}, 1), All(5), All(6)}},
      {"x[:, 0]", {0, 0}, {0, 1}, {1, 1}, Masks(1, 1, 0, 0, 2), {4, 6}, {All(4), {0}, All(6)}},
      {"x[..., 1:3]", {0, 1}, {0, 3}, {1, 1}, Masks(0, 0, 1), {4, 5, 2}, {All(4), All(5), {1, 2}}},
      {"x[::-1]", {0}, {0}, {-1}, Masks(1, 1), {4, 5, 6}, {PySlice(4, {}, {}, -1), All(5), All(6)}},
      {"x[-1]", {-1}, {0}, {1}, Masks(0, 0, 0, 0, 1), {5, 6}, {{3}, All(5), All(6)}},
      {"x[1:-1:2, ::-2, 4:0:-3]",
       {1, 0, 4},
       {-1, 0, 0},
       {2, -2, -3},
       Masks(2, 2),
       {1, 3, 2},
       {PySlice(4, 1, -1, 2), PySlice(5, {}, {}, -2), PySlice(6, 4, 0, -3)}},
      {"x[None, ..., 0]",
       {0, 0, 0},
       {0, 0, 1},
       {1, 1, 1},
       Masks(0, 0, 2, 1, 4),
       {1, 4, 5},
       {All(4), All(5), {0}}},
      {"x[:, None, 2:-1, -2]",
       {0, 0, 2, -2},
       {0, 0, -1, -1},
       {1, 1, 1, 1},
       Masks(1, 1, 0, 2, 8),
       {4, 1, 2},
       {All(4), PySlice(5, 2, -1, 1), {4}}},
      {"x[2:100, -100:2]",
       {2, -100},
       {100, 2},
       {1, 1},
       Masks(0, 0),
       {2, 2, 6},
       {PySlice(4, 2, 100, 1), PySlice(5, -100, 2, 1), All(6)}},
      {"x[3:1]", {3}, {1}, {1}, Masks(0, 0), {0, 5, 6}, {{}, All(5), All(6)}},
      {"x[::-1, ..., ::2]",
       {0, 0, 0},
       {0, 0, 0},
       {-1, 1, 2},
       Masks(5, 5, 2),
       {4, 5, 3},
       {PySlice(4, {}, {}, -1), All(5), PySlice(6, {}, {}, 2)}},
      {"x[-2:-5:-1, 1, -1:]",
       {-2, 1, -1},
       {-5, 2, 0},
       {-1, 1, 1},
       Masks(0, 4, 0, 0, 2),
       {3, 1},
       {PySlice(4, -2, -5, -1), {1}, PySlice(6, -1, {}, 1)}},
      {"x[..., None]",
       {0, 0},
       {0, 0},
       {1, 1},
       Masks(0, 0, 1, 2),
       {4, 5, 6, 1},
       {All(4), All(5), All(6)}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    auto out = Run("StridedSlice", c.masks, {x, I32(c.begin), I32(c.end), I32(c.strides)});
    REQUIRE(out[0].shape() == TensorShape(c.out_shape));
    REQUIRE(out[0].ToVector<float>() == IotaAt(d, c.lists));
    // int64 spec and 1-byte elements must agree.
    std::vector<int64_t> b(c.begin.begin(), c.begin.end()), e(c.end.begin(), c.end.end()),
        s(c.strides.begin(), c.strides.end());
    auto out8 = Run("StridedSlice", c.masks, {Iota<uint8_t>(d), I64(b), I64(e), I64(s)});
    std::vector<float> expect = IotaAt(d, c.lists);
    REQUIRE(out8[0].num_elements() == static_cast<int64_t>(expect.size()));
    for (size_t i = 0; i < expect.size(); ++i) {
      REQUIRE(out8[0].data<uint8_t>()[i] == static_cast<uint8_t>(expect[i]));
    }
    // The shape function agrees with the kernel when the spec is constant.
    auto shapes = Shapes("StridedSlice", c.masks,
                         {ShapeInput::Of(DT_FLOAT, TensorShape(d)), ShapeInput::Known(I32(c.begin)),
                          ShapeInput::Known(I32(c.end)), ShapeInput::Known(I32(c.strides))});
    REQUIRE(shapes[0] == TensorShape(c.out_shape));
  }
  // x[None] and x[...] take everything: the output aliases the input.
  auto none = RunOnValues("StridedSlice", Masks(0, 0, 0, 1), {x, I32({0}), I32({0}), I32({1})});
  REQUIRE(none[0].shape() == TensorShape{1, 4, 5, 6});
  REQUIRE(none[0].SharesBufferWith(x));
}

TEST_CASE("StridedSlice errors", "[array]") {
  Tensor x = Iota<float>({4, 5});
  std::string msg =
      RunError("StridedSlice", Masks(0, 0, 0, 0, 1), {x, I32({4}), I32({5}), I32({1})});
  REQUIRE(Contains(msg, "node 'op' (StridedSlice)"));
  REQUIRE(Contains(msg, "slice index 4 of dimension 0 out of bounds"));
  msg = RunError("StridedSlice", Masks(0, 0, 0, 0, 1), {x, I32({-5}), I32({0}), I32({1})});
  REQUIRE(Contains(msg, "out of bounds"));
  msg = RunError("StridedSlice", Masks(0, 0), {x, I32({0}), I32({2}), I32({0})});
  REQUIRE(Contains(msg, "strides[0] must be non-zero"));
  msg = RunError("StridedSlice", Masks(0, 0), {x, I32({0, 0, 0}), I32({1, 1, 1}), I32({1, 1, 1})});
  REQUIRE(Contains(msg, "Index out of range"));
  msg = RunError("StridedSlice", Masks(0, 0, 3), {x, I32({0, 0}), I32({1, 1}), I32({1, 1})});
  REQUIRE(Contains(msg, "Multiple ellipses"));
  msg = RunError("StridedSlice", Masks(0, 0), {x, I32({0, 0}), I32({1}), I32({1, 1})});
  REQUIRE(Contains(msg, "equal size"));
}

// ---- shape queries, creation --------------------------------------------------------------

TEST_CASE("Shape, ShapeN, Size, Rank", "[array]") {
  Tensor x = Iota<bool>({2, 3, 4});
  REQUIRE(Run("Shape", {}, {x})[0].ToVector<int32_t>() == std::vector<int32_t>{2, 3, 4});
  auto s64 = Run("Shape", {{"out_type", MakeAttr(DT_INT64)}}, {x});
  REQUIRE(s64[0].ToVector<int64_t>() == std::vector<int64_t>{2, 3, 4});
  auto sn = Run("ShapeN", {}, {x, Tensor::Scalar<bool>(false)});
  REQUIRE(sn[0].ToVector<int32_t>() == std::vector<int32_t>{2, 3, 4});
  REQUIRE(sn[1].shape() == TensorShape{0});
  REQUIRE(Run("Size", {}, {x})[0].ToVector<int32_t>() == std::vector<int32_t>{24});
  REQUIRE(Run("Size", {{"out_type", MakeAttr(DT_INT64)}}, {x})[0].ToVector<int64_t>() ==
          std::vector<int64_t>{24});
  REQUIRE(Run("Rank", {}, {x})[0].ToVector<int32_t>() == std::vector<int32_t>{3});
}

TEST_CASE("Fill, ZerosLike, OnesLike for every storage width", "[array]") {
  auto f = Run("Fill", {}, {I32({2, 3}), Tensor::Scalar<float>(1.5f)});
  REQUIRE(f[0].shape() == TensorShape{2, 3});
  REQUIRE(f[0].ToVector<float>() == std::vector<float>(6, 1.5f));
  auto fb =
      Run("Fill", {{"index_type", MakeAttr(DT_INT64)}}, {I64({3}), Tensor::Scalar<bool>(true)});
  for (int i = 0; i < 3; ++i) REQUIRE(fb[0].data<bool>()[i]);
  auto fh = Run("Fill", {}, {I32({2}), Tensor::Scalar<Half>(Half{0x3c00})});
  REQUIRE(fh[0].data<Half>()[1].bits == 0x3c00);
  REQUIRE(Run("Fill", {}, {I32({0, 4}), Tensor::Scalar<int8_t>(3)})[0].num_elements() == 0);
  std::string msg = RunError("Fill", {}, {I32({2, -1}), Tensor::Scalar<float>(0)});
  REQUIRE(Contains(msg, "node 'op' (Fill)"));
  REQUIRE(Contains(msg, "dims[1] = -1"));
  msg = RunError("Fill", {}, {I32({2}), I32({1, 2})});
  REQUIRE(Contains(msg, "scalar"));

  auto zf = Run("ZerosLike", {}, {Iota<double>({2, 2})});
  REQUIRE(zf[0].ToVector<double>() == std::vector<double>(4, 0.0));
  REQUIRE(Run("OnesLike", {}, {Iota<float>({3})})[0].ToVector<float>() ==
          std::vector<float>(3, 1.f));
  REQUIRE(Run("OnesLike", {}, {Iota<double>({2})})[0].ToVector<double>() ==
          std::vector<double>(2, 1.0));
  REQUIRE(Run("OnesLike", {}, {Iota<int64_t>({2})})[0].ToVector<int64_t>() ==
          std::vector<int64_t>(2, 1));
  REQUIRE(Run("OnesLike", {}, {Iota<int16_t>({2})})[0].ToVector<int16_t>() ==
          std::vector<int16_t>(2, 1));
  auto ob = Run("OnesLike", {}, {Iota<bool>({2})});
  REQUIRE((ob[0].data<bool>()[0] && ob[0].data<bool>()[1]));
  // 1.0 is 0x3c00 in half and 0x3f80 in bfloat16.
  REQUIRE(Run("OnesLike", {}, {IotaHalf({2})})[0].data<Half>()[1].bits == 0x3c00);
  auto obf = Run("OnesLike", {}, {Tensor::FromVector<BFloat16>({BFloat16{7}}, TensorShape{1})});
  REQUIRE(obf[0].data<BFloat16>()[0].bits == 0x3f80);
}

TEST_CASE("Range for integers and floats", "[array]") {
  auto r =
      Run("Range", {},
          {Tensor::Scalar<int32_t>(3), Tensor::Scalar<int32_t>(18), Tensor::Scalar<int32_t>(3)});
  REQUIRE(r[0].ToVector<int32_t>() == std::vector<int32_t>{3, 6, 9, 12, 15});
  r = Run("Range", {},
          {Tensor::Scalar<int64_t>(5), Tensor::Scalar<int64_t>(0), Tensor::Scalar<int64_t>(-2)});
  REQUIRE(r[0].ToVector<int64_t>() == std::vector<int64_t>{5, 3, 1});
  r = Run("Range", {},
          {Tensor::Scalar<float>(0), Tensor::Scalar<float>(1), Tensor::Scalar<float>(0.25f)});
  REQUIRE(r[0].ToVector<float>() == std::vector<float>{0, 0.25f, 0.5f, 0.75f});
  r = Run("Range", {},
          {Tensor::Scalar<double>(1), Tensor::Scalar<double>(2), Tensor::Scalar<double>(0.3)});
  REQUIRE(r[0].num_elements() == 4);  // 1, 1.3, 1.6, 1.9
  REQUIRE(r[0].ToVector<double>()[3] == Approx(1.9));
  REQUIRE(
      Run("Range", {},
          {Tensor::Scalar<int32_t>(4), Tensor::Scalar<int32_t>(4), Tensor::Scalar<int32_t>(1)})[0]
          .num_elements() == 0);
  std::string msg = RunError(
      "Range", {},
      {Tensor::Scalar<int32_t>(0), Tensor::Scalar<int32_t>(5), Tensor::Scalar<int32_t>(0)});
  REQUIRE(Contains(msg, "delta != 0"));
  msg = RunError(
      "Range", {},
      {Tensor::Scalar<int32_t>(5), Tensor::Scalar<int32_t>(0), Tensor::Scalar<int32_t>(1)});
  REQUIRE(Contains(msg, "start <= limit"));
  auto shapes = Shapes("Range", {},
                       {ShapeInput::Known(Tensor::Scalar<int32_t>(0)),
                        ShapeInput::Known(Tensor::Scalar<int32_t>(10)),
                        ShapeInput::Known(Tensor::Scalar<int32_t>(3))});
  REQUIRE(shapes[0] == TensorShape{4});
  shapes = Shapes("Range", {},
                  {ShapeInput::Of(DT_INT32, TensorShape{}), ShapeInput::Of(DT_INT32, TensorShape{}),
                   ShapeInput::Of(DT_INT32, TensorShape{})});
  REQUIRE(shapes[0] == TensorShape{-1});
}

// ---- tile, pad, gather, one-hot -----------------------------------------------------------

TEST_CASE("Tile matches naive modular indexing", "[array]") {
  constexpr int kThreads = 3;
  struct Case {
    Dims dims, multiples;
  };
  for (const Case& c : std::vector<Case>{{{2, 3}, {2, 2}},
                                         {{3}, {4}},
                                         {{1, 4}, {5, 1}},
                                         {{2, 1, 3}, {1, 6, 2}},
                                         {{2, 3}, {0, 2}},
                                         {{64, 33}, {3, 9}}}) {
    Tensor x = Iota<int32_t>(c.dims);
    auto out = Run("Tile", {}, {x, I64(c.multiples)}, kThreads);
    Dims od;
    for (size_t k = 0; k < c.dims.size(); ++k) od.push_back(c.dims[k] * c.multiples[k]);
    REQUIRE(out[0].shape() == TensorShape(od));
    for (int64_t f = 0; f < out[0].num_elements(); ++f) {
      Dims o = Unflatten(f, od);
      for (size_t k = 0; k < o.size(); ++k) o[k] %= c.dims[k];
      REQUIRE(out[0].data<int32_t>()[f] == x.data<int32_t>()[Flatten(o, c.dims)]);
    }
  }
  REQUIRE(
      Run("Tile", {}, {Iota<float>({2, 3}), I32({2, 2})})[0].ToVector<float>() ==
      std::vector<float>{0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5, 0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
  std::string msg = RunError("Tile", {}, {Iota<float>({2, 3}), I32({2})});
  REQUIRE(Contains(msg, "node 'op' (Tile)"));
  REQUIRE(Contains(msg, "length 2"));
  msg = RunError("Tile", {}, {Iota<float>({2, 3}), I32({1, -1})});
  REQUIRE(Contains(msg, "multiples[1] >= 0"));
}

TEST_CASE("Pad and PadV2 with constant values", "[array]") {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, TensorShape{2, 3});
  Tensor paddings = Tensor::FromVector<int32_t>({1, 0, 2, 1}, TensorShape{2, 2});
  auto out = Run("Pad", {}, {x, paddings});
  REQUIRE(out[0].shape() == TensorShape{3, 6});
  REQUIRE(out[0].ToVector<float>() == std::vector<float>{0, 0, 0, 0, 0, 0,  //
                                                         0, 0, 1, 2, 3, 0,  //
                                                         0, 0, 4, 5, 6, 0});
  auto v2 = Run("PadV2", {}, {x, paddings, Tensor::Scalar<float>(9)});
  REQUIRE(v2[0].ToVector<float>() == std::vector<float>{9, 9, 9, 9, 9, 9,  //
                                                        9, 9, 1, 2, 3, 9,  //
                                                        9, 9, 4, 5, 6, 9});
  // 3-D against naive placement.
  Tensor y = Iota<int16_t>({2, 3, 4});
  Tensor p3 = Tensor::FromVector<int64_t>({0, 1, 2, 0, 1, 1}, TensorShape{3, 2});
  auto o3 = Run("Pad", {}, {y, p3});
  Dims od = {3, 5, 6};
  REQUIRE(o3[0].shape() == TensorShape(od));
  for (int64_t f = 0; f < o3[0].num_elements(); ++f) {
    Dims o = Unflatten(f, od);
    bool inside = o[0] < 2 && o[1] >= 2 && o[2] >= 1 && o[2] < 5;
    int16_t expect = inside ? y.data<int16_t>()[Flatten({o[0], o[1] - 2, o[2] - 1}, {2, 3, 4})] : 0;
    REQUIRE(o3[0].data<int16_t>()[f] == expect);
  }
  std::string msg =
      RunError("Pad", {}, {x, Tensor::FromVector<int32_t>({0, -1, 0, 0}, TensorShape{2, 2})});
  REQUIRE(Contains(msg, "node 'op' (Pad)"));
  REQUIRE(Contains(msg, "non-negative"));
  msg = RunError("Pad", {}, {x, Tensor::FromVector<int32_t>({0, 0}, TensorShape{1, 2})});
  REQUIRE(Contains(msg, "rank"));
}

TEST_CASE("GatherV2 along axes, with batch_dims, and bad indices", "[array]") {
  Tensor params = Iota<float>({4, 3});
  auto rows = Run("GatherV2", {}, {params, I32({2, 0, 3}), Tensor::Scalar<int32_t>(0)});
  REQUIRE(rows[0].shape() == TensorShape{3, 3});
  REQUIRE(rows[0].ToVector<float>() == std::vector<float>{6, 7, 8, 0, 1, 2, 9, 10, 11});
  auto cols = Run("GatherV2", {},
                  {params, Tensor::FromVector<int64_t>({2, 2, 0, 1}, TensorShape{2, 2}),
                   Tensor::Scalar<int64_t>(-1)});
  REQUIRE(cols[0].shape() == TensorShape{4, 2, 2});
  for (int64_t r = 0; r < 4; ++r) {
    std::vector<int64_t> idx = {2, 2, 0, 1};
    for (int j = 0; j < 4; ++j) REQUIRE(cols[0].data<float>()[r * 4 + j] == r * 3 + idx[j]);
  }
  // batch_dims = 1: out[b, j] = params[b, idx[b, j]].
  auto batched =
      Run("GatherV2", {{"batch_dims", MakeAttr(1)}},
          {params, Tensor::FromVector<int32_t>({0, 2, 1, 1, 2, 0, 0, 0}, TensorShape{4, 2}),
           Tensor::Scalar<int32_t>(1)});
  REQUIRE(batched[0].shape() == TensorShape{4, 2});
  REQUIRE(batched[0].ToVector<float>() == std::vector<float>{0, 2, 4, 4, 8, 6, 9, 9});
  std::string msg = RunError("GatherV2", {}, {params, I32({1, 4}), Tensor::Scalar<int32_t>(0)});
  REQUIRE(Contains(msg, "node 'op' (GatherV2)"));
  REQUIRE(Contains(msg, "indices[1] = 4 is not in [0, 4)"));
  msg = RunError("GatherV2", {}, {params, I32({-1}), Tensor::Scalar<int32_t>(0)});
  REQUIRE(Contains(msg, "is not in [0, 4)"));
  msg = RunError("GatherV2", {}, {params, I32({0}), Tensor::Scalar<int32_t>(2)});
  REQUIRE(Contains(msg, "axis = 2"));
}

TEST_CASE("OneHot on the last and first axis", "[array]") {
  Tensor idx = Tensor::FromVector<int64_t>({0, 2, -1, 1}, TensorShape{4});
  auto out =
      Run("OneHot", {},
          {idx, Tensor::Scalar<int32_t>(3), Tensor::Scalar<float>(5), Tensor::Scalar<float>(-1)});
  REQUIRE(out[0].shape() == TensorShape{4, 3});
  REQUIRE(out[0].ToVector<float>() ==
          std::vector<float>{5, -1, -1, -1, -1, 5, -1, -1, -1, -1, 5, -1});
  auto ax0 = Run("OneHot", {{"axis", MakeAttr(0)}},
                 {Tensor::FromVector<int32_t>({1, 0}, TensorShape{2}), Tensor::Scalar<int32_t>(2),
                  Tensor::Scalar<int32_t>(1), Tensor::Scalar<int32_t>(0)});
  REQUIRE(ax0[0].shape() == TensorShape{2, 2});
  REQUIRE(ax0[0].ToVector<int32_t>() == std::vector<int32_t>{0, 1, 1, 0});
  std::string msg = RunError(
      "OneHot", {},
      {idx, Tensor::Scalar<int32_t>(-2), Tensor::Scalar<float>(1), Tensor::Scalar<float>(0)});
  REQUIRE(Contains(msg, "depth must be non-negative"));
}

// ---- shape functions with partial shapes --------------------------------------------------

TEST_CASE("Shape functions propagate partial shapes", "[array]") {
  const TensorShape unknown = TensorShape::UnknownRank();
  auto F = [](TensorShape s) { return ShapeInput::Of(DT_FLOAT, std::move(s)); };
  auto K = [](Tensor t) { return ShapeInput::Known(t); };

  // Reshape: a constant shape with -1 over a partial input stays unknown in that dim.
  REQUIRE(Shapes("Reshape", {}, {F({-1, 28, 28}), K(I32({-1, 784}))})[0] == TensorShape{-1, 784});
  REQUIRE(Shapes("Reshape", {}, {F({2, 3}), K(I32({-1}))})[0] == TensorShape{6});
  REQUIRE(Shapes("Reshape", {}, {F({2, 3}), ShapeInput::Of(DT_INT32, TensorShape{3})})[0] ==
          TensorShape{-1, -1, -1});
  REQUIRE(Shapes("Reshape", {}, {F(unknown), K(I32({4, 5}))})[0] == TensorShape{4, 5});
  std::string msg = ShapeError("Reshape", {}, {F({2, 3}), K(I32({4}))});
  REQUIRE(Contains(msg, "node 'op' (Reshape)"));
  REQUIRE(Contains(msg, "6 values"));
  msg = ShapeError("Reshape", {}, {F({-1, 3}), K(I32({4}))});
  REQUIRE(Contains(msg, "multiple of 3"));

  // Transpose: known perm permutes partial dims; unknown perm keeps the rank.
  REQUIRE(Shapes("Transpose", {}, {F({-1, 3, 5}), K(I32({2, 0, 1}))})[0] == TensorShape{5, -1, 3});
  REQUIRE(Shapes("Transpose", {}, {F({-1, 3}), ShapeInput::Of(DT_INT32, TensorShape{2})})[0] ==
          TensorShape{-1, -1});
  REQUIRE(Shapes("Transpose", {}, {F(unknown), K(I32({1, 0}))})[0] == TensorShape{-1, -1});
  msg = ShapeError("Transpose", {}, {F({2, 3}), K(I32({1, 1}))});
  REQUIRE(Contains(msg, "not a permutation"));

  // Concat: partial dims merge; the axis dim sums when all known.
  REQUIRE(Shapes("ConcatV2", {}, {F({-1, 3}), F({2, -1}), K(Tensor::Scalar<int32_t>(0))})[0] ==
          TensorShape{-1, 3});
  REQUIRE(Shapes("ConcatV2", {}, {F({2, 3}), F({4, -1}), K(Tensor::Scalar<int32_t>(0))})[0] ==
          TensorShape{6, 3});
  REQUIRE(Shapes("ConcatV2", {}, {F({2, 3}), F(unknown), K(Tensor::Scalar<int32_t>(1))})[0] ==
          TensorShape{2, -1});
  REQUIRE(
      Shapes("ConcatV2", {}, {F({2, 3}), F({2, 3}), ShapeInput::Of(DT_INT32, TensorShape{})})[0] ==
      TensorShape{-1, -1});
  msg = ShapeError("ConcatV2", {}, {F({2, 3}), F({2}), K(Tensor::Scalar<int32_t>(0))});
  REQUIRE(Contains(msg, "Ranks of all input tensors should match"));
  msg = ShapeError("Concat", {}, {K(Tensor::Scalar<int32_t>(1)), F({2, 3}), F({3, 3})});
  REQUIRE(Contains(msg, "Dimension 0 in both shapes must be equal"));

  // Pack/Unpack, Squeeze, ExpandDims.
  REQUIRE(Shapes("Pack", {{"axis", MakeAttr(1)}}, {F({-1, 3}), F({2, -1})})[0] ==
          TensorShape{2, 2, 3});
  auto un = Shapes("Unpack", {{"num", MakeAttr(2)}, {"axis", MakeAttr(1)}}, {F({-1, 2, 5})});
  REQUIRE(un.size() == 2);
  REQUIRE(un[1] == TensorShape{-1, 5});
  // Split/SplitV: exact with constant split_dim (and sizes); unknown dims and values flow.
  auto sp =
      Shapes("Split", {{"num_split", MakeAttr(3)}}, {K(Tensor::Scalar<int32_t>(-1)), F({-1, 12})});
  REQUIRE(sp.size() == 3);
  REQUIRE(sp[2] == TensorShape{-1, 4});
  REQUIRE(Shapes("Split", {{"num_split", MakeAttr(2)}},
                 {K(Tensor::Scalar<int32_t>(0)), F({-1, 12})})[1] == TensorShape{-1, 12});
  REQUIRE(Shapes("Split", {{"num_split", MakeAttr(2)}},
                 {ShapeInput::Of(DT_INT32, TensorShape{}), F({4, 12})})[0] == TensorShape{-1, -1});
  REQUIRE(Shapes("Split", {{"num_split", MakeAttr(2)}},
                 {K(Tensor::Scalar<int32_t>(0)), F(unknown)})[0] == unknown);
  msg = ShapeError("Split", {{"num_split", MakeAttr(5)}},
                   {K(Tensor::Scalar<int32_t>(1)), F({-1, 12})});
  REQUIRE(Contains(msg, "evenly divide"));
  msg = ShapeError("Split", {{"num_split", MakeAttr(2)}}, {K(I32({0})), F({4, 12})});
  REQUIRE(Contains(msg, "'split_dim' must be a scalar"));
  auto sv = Shapes("SplitV", {{"num_split", MakeAttr(3)}},
                   {F({-1, 10}), K(I32({2, -1, 3})), K(Tensor::Scalar<int32_t>(1))});
  REQUIRE(sv.size() == 3);
  REQUIRE(sv[0] == TensorShape{-1, 2});
  REQUIRE(sv[1] == TensorShape{-1, 5});
  REQUIRE(sv[2] == TensorShape{-1, 3});
  sv = Shapes("SplitV", {{"num_split", MakeAttr(2)}},
              {F({4, -1}), K(I64({-1, 3})), K(Tensor::Scalar<int32_t>(-1))});
  REQUIRE(sv[0] == TensorShape{4, -1});  // the rest of an unknown dim
  REQUIRE(sv[1] == TensorShape{4, 3});
  sv = Shapes("SplitV", {{"num_split", MakeAttr(2)}},
              {F({4, 6}), ShapeInput::Of(DT_INT32, TensorShape{2}), K(Tensor::Scalar<int32_t>(0))});
  REQUIRE(sv[1] == TensorShape{-1, 6});
  sv = Shapes("SplitV", {{"num_split", MakeAttr(2)}},
              {F({4, 6}), K(I32({1, 3})), ShapeInput::Of(DT_INT32, TensorShape{})});
  REQUIRE(sv[0] == TensorShape{-1, -1});
  msg = ShapeError(
      "SplitV", {{"num_split", MakeAttr(3)}},
      {F({4, 6}), ShapeInput::Of(DT_INT32, TensorShape{2}), K(Tensor::Scalar<int32_t>(0))});
  REQUIRE(Contains(msg, "size_splits has 2 entries, but num_split = 3"));
  msg = ShapeError("SplitV", {{"num_split", MakeAttr(2)}},
                   {F({4, 6}), K(I32({1, 2})), K(Tensor::Scalar<int32_t>(0))});
  REQUIRE(Contains(msg, "sum to 3"));
  msg = ShapeError("SplitV", {{"num_split", MakeAttr(2)}},
                   {F({-1, 6}), K(I32({-1, -1})), K(Tensor::Scalar<int32_t>(0))});
  REQUIRE(Contains(msg, "only one -1"));
  msg = ShapeError("SplitV", {{"num_split", MakeAttr(2)}},
                   {F({-1, 6}), K(I32({3, 3})), K(Tensor::Scalar<int32_t>(2))});
  REQUIRE(Contains(msg, "split_dim = 2 is out of range [-2, 2)"));
  REQUIRE(Shapes("Squeeze", {}, {F({1, -1, 3})})[0] == unknown);  // is ? a 1? cannot tell
  REQUIRE(Shapes("Squeeze", {{"squeeze_dims", MakeAttr(Dims{0})}}, {F({1, -1, 3})})[0] ==
          TensorShape{-1, 3});
  REQUIRE(Shapes("ExpandDims", {}, {F({-1, 3}), K(Tensor::Scalar<int32_t>(1))})[0] ==
          TensorShape{-1, 1, 3});
  REQUIRE(Shapes("ExpandDims", {}, {F({-1, 3}), ShapeInput::Of(DT_INT32, TensorShape{})})[0] ==
          TensorShape{-1, -1, -1});

  // Slice / StridedSlice with partial inputs and unknown specs.
  REQUIRE(Shapes("Slice", {}, {F({-1, 10}), K(I32({0, 2})), K(I32({3, -1}))})[0] ==
          TensorShape{3, 8});
  REQUIRE(Shapes("Slice", {}, {F({-1, 10}), K(I32({1, 2})), K(I32({-1, 4}))})[0] ==
          TensorShape{-1, 4});
  msg = ShapeError("Slice", {}, {F({5, 10}), K(I32({0, 8})), K(I32({1, 4}))});
  REQUIRE(Contains(msg, "size[1]"));
  auto ss = [&](TensorShape in, std::vector<int32_t> b, std::vector<int32_t> e,
                std::vector<int32_t> s, AttrMap masks) {
    return Shapes("StridedSlice", masks, {F(std::move(in)), K(I32(b)), K(I32(e)), K(I32(s))})[0];
  };
  REQUIRE(ss({-1, 5, 6}, {0, 0}, {0, 1}, {1, 1}, Masks(1, 1, 0, 0, 2)) == TensorShape{-1, 6});
  REQUIRE(ss({-1, 5, 6}, {0, 1}, {0, 3}, {1, 1}, Masks(0, 0, 1)) == TensorShape{-1, 5, 2});
  REQUIRE(ss({-1, 5}, {0}, {0}, {1}, Masks(0, 0, 0, 1)) == TensorShape{1, -1, 5});
  REQUIRE(ss(unknown, {0}, {0}, {1}, Masks(0, 0, 0, 1)) == unknown);
  auto dyn =
      Shapes("StridedSlice", Masks(1, 1, 0, 0, 2),
             {F({-1, 5, 6}), ShapeInput::Of(DT_INT32, TensorShape{2}),
              ShapeInput::Of(DT_INT32, TensorShape{2}), ShapeInput::Of(DT_INT32, TensorShape{2})});
  REQUIRE(dyn[0] == TensorShape{-1, 6});  // x[:, i]: rank known, sizes not
  msg = ShapeError("StridedSlice", Masks(0, 0, 0, 0, 1),
                   {F({3, 4}), K(I32({3})), K(I32({4})), K(I32({1}))});
  REQUIRE(Contains(msg, "out of bounds"));

  // Creation and queries.
  REQUIRE(Shapes("Fill", {}, {K(I32({2, 3})), F({})})[0] == TensorShape{2, 3});
  REQUIRE(Shapes("Fill", {}, {ShapeInput::Of(DT_INT32, TensorShape{2}), F({})})[0] ==
          TensorShape{-1, -1});
  REQUIRE(Shapes("Shape", {}, {F({-1, 3})})[0] == TensorShape{2});
  REQUIRE(Shapes("Shape", {}, {F(unknown)})[0] == TensorShape{-1});
  REQUIRE(Shapes("Size", {}, {F(unknown)})[0] == TensorShape{});
  REQUIRE(Shapes("Rank", {}, {F({2})})[0] == TensorShape{});
  REQUIRE(Shapes("ZerosLike", {}, {F({-1, 2})})[0] == TensorShape{-1, 2});

  // Tile, Pad, GatherV2, OneHot.
  REQUIRE(Shapes("Tile", {}, {F({-1, 3}), K(I32({2, 2}))})[0] == TensorShape{-1, 6});
  REQUIRE(Shapes("Tile", {}, {F({-1, 3}), ShapeInput::Of(DT_INT32, TensorShape{2})})[0] ==
          TensorShape{-1, -1});
  REQUIRE(Shapes("Pad", {},
                 {F({-1, 3}), K(Tensor::FromVector<int32_t>(
                                  {1, 1, 2, 0}, TensorShape{2, 2}))})[0] == TensorShape{-1, 5});
  REQUIRE(Shapes("GatherV2", {},
                 {F({10, -1, 4}), ShapeInput::Of(DT_INT32, TensorShape{-1, 7}),
                  K(Tensor::Scalar<int32_t>(1))})[0] == TensorShape{10, -1, 7, 4});
  REQUIRE(Shapes("OneHot", {},
                 {ShapeInput::Of(DT_INT64, TensorShape{-1}), K(Tensor::Scalar<int32_t>(10)), F({}),
                  F({})})[0] == TensorShape{-1, 10});
  REQUIRE(Shapes("Placeholder", {{"dtype", MakeAttr(DT_FLOAT)}}, {})[0] == unknown);
}

TEST_CASE("Hostile sizes and indices fail cleanly instead of crashing", "[array]") {
  const int64_t big = int64_t{1} << 62;
  Tensor x = Iota<float>({2, 3});
  // Overflowing products.
  REQUIRE(Contains(RunError("Reshape", {}, {x, I64({big, big})}), "node 'op'"));
  REQUIRE_FALSE(RunKernel("Fill", {}, {I64({big, big}), Tensor::Scalar<float>(0)}).ok());
  REQUIRE_FALSE(RunKernel("Tile", {}, {x, I64({big, big})}).ok());
  REQUIRE_FALSE(
      RunKernel("Pad", {}, {x, Tensor::FromVector<int64_t>({big, big, 0, 0}, TensorShape{2, 2})})
          .ok());
  REQUIRE_FALSE(RunKernel("Range", {},
                          {Tensor::Scalar<int64_t>(INT64_MIN), Tensor::Scalar<int64_t>(INT64_MAX),
                           Tensor::Scalar<int64_t>(1)})
                    .ok());
  REQUIRE_FALSE(RunKernel("Range", {},
                          {Tensor::Scalar<float>(0), Tensor::Scalar<float>(INFINITY),
                           Tensor::Scalar<float>(1)})
                    .ok());
  // Extreme slice bounds clamp like NumPy.
  auto ss = Run("StridedSlice", Masks(0, 0),
                {x, I64({INT64_MIN, INT64_MIN}), I64({INT64_MAX, INT64_MAX}), I64({1, INT64_MAX})});
  REQUIRE(ss[0].shape() == TensorShape{2, 1});
  REQUIRE(ss[0].ToVector<float>() == std::vector<float>{0, 3});
  ss = Run("StridedSlice", Masks(0, 0),
           {x, I64({INT64_MAX, INT64_MAX}), I64({INT64_MIN, INT64_MIN}), I64({-1, INT64_MIN})});
  REQUIRE(ss[0].shape() == TensorShape{2, 1});
  REQUIRE(ss[0].ToVector<float>() == std::vector<float>{5, 2});
  REQUIRE_FALSE(RunKernel("Slice", {}, {x, I64({big, 0}), I64({1, 1})}).ok());
  REQUIRE_FALSE(RunKernel("Slice", {}, {x, I64({1, 0}), I64({big, 1})}).ok());
  REQUIRE_FALSE(RunKernel("ExpandDims", {}, {x, Tensor::Scalar<int64_t>(INT64_MIN)}).ok());
  REQUIRE_FALSE(RunKernel("Transpose", {}, {x, I64({INT64_MIN, 0})}).ok());
  REQUIRE_FALSE(RunKernel("GatherV2", {}, {x, I64({INT64_MAX}), Tensor::Scalar<int64_t>(0)}).ok());
  REQUIRE_FALSE(RunKernel("ConcatV2", {}, {x, x, Tensor::Scalar<int64_t>(INT64_MIN)}).ok());
  REQUIRE_FALSE(RunKernel("Squeeze", {{"squeeze_dims", MakeAttr(Dims{INT64_MIN})}}, {x}).ok());
  // Spec tensors of the wrong rank.
  REQUIRE(Contains(
      RunError("Reshape", {}, {x, Tensor::FromVector<int32_t>({6}, TensorShape{1, 1})}), "1-D"));
  REQUIRE(Contains(RunError("ExpandDims", {}, {x, I32({0, 1})}), "scalar"));
}

TEST_CASE("ConcatOffset: each shape's offset along concat_dim, zero elsewhere (TF's values)",
          "[array]") {
  const AttrMap attrs = {{"N", MakeAttr(int64_t{3})}, {"shape_type", MakeAttr(DT_INT32)}};
  auto shape = [](std::vector<int32_t> v) {
    const int64_t n = static_cast<int64_t>(v.size());
    return Tensor::FromVector<int32_t>(v, TensorShape({n}));
  };
  // Concatenating [2,3,5], [2,4,5], [2,1,5] along axis 1 (and -2): offsets 0, 3, 7.
  for (int32_t axis : {1, -2}) {
    auto out =
        Run("ConcatOffset", attrs,
            {Tensor::Scalar<int32_t>(axis), shape({2, 3, 5}), shape({2, 4, 5}), shape({2, 1, 5})});
    REQUIRE(out.size() == 3);
    CHECK(out[0].ToVector<int32_t>() == std::vector<int32_t>{0, 0, 0});
    CHECK(out[1].ToVector<int32_t>() == std::vector<int32_t>{0, 3, 0});
    CHECK(out[2].ToVector<int32_t>() == std::vector<int32_t>{0, 7, 0});
  }
  CHECK(
      Contains(RunError("ConcatOffset", attrs,
                        {Tensor::Scalar<int32_t>(0), shape({2, 3}), shape({2, 4}), shape({2, 1})}),
               "shape 1 differs from shape 0 in dim 1: 4 vs 3"));
  CHECK(
      Contains(RunError("ConcatOffset", attrs,
                        {Tensor::Scalar<int32_t>(2), shape({2, 3}), shape({2, 4}), shape({2, 1})}),
               "concat_dim 2 is out of range for rank 2"));
}
