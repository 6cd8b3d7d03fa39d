// The device-independent kernel plans (devices/common/array_plans.h) that the CPU and GPU
// kernels share: geometry checked against values derived by hand, and the messages of the
// checks the plans own.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "devices/common/array_plans.h"
#include "graph/tensor.h"

using namespace quiver;
namespace ap = quiver::array_plans;

namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

}  // namespace

TEST_CASE("Pack and Unpack plans view the tensor as [outer, n, inner]", "[array_plans]") {
  // Three [2, 5] inputs stacked at axis -2 (= 1): [2, 3, 5], outer 2, inner 5.
  auto p = ap::PlanPack({TensorShape{2, 5}, TensorShape{2, 5}, TensorShape{2, 5}}, -2);
  REQUIRE(p.ok());
  CHECK(p->axis == 1);
  CHECK(p->outer == 2);
  CHECK(p->inner == 5);
  CHECK(p->shape == TensorShape({2, 3, 5}));

  // [4, 3, 2] unstacked at axis -1 (= 2): two [4, 3] outputs, outer 12, inner 1.
  auto u = ap::PlanUnpack(TensorShape{4, 3, 2}, 2, -1);
  REQUIRE(u.ok());
  CHECK(u->axis == 2);
  CHECK(u->outer == 12);
  CHECK(u->inner == 1);
  CHECK(u->shape == TensorShape({4, 3}));

  CHECK_FALSE(ap::PlanPack({TensorShape{2}, TensorShape{3}}, 0).ok());
}

TEST_CASE("Concat plan: per-input column chunks and offsets", "[array_plans]") {
  // [2, 3, 4] ++ [2, 1, 4] along axis 1: [2, 4, 4]; rows of 16, chunks 12 and 4.
  auto c = ap::PlanConcat({TensorShape{2, 3, 4}, TensorShape{2, 1, 4}}, -2);
  REQUIRE(c.ok());
  CHECK(c->axis == 1);
  CHECK(c->outer == 2);
  CHECK(c->out_chunk == 16);
  CHECK(c->chunks == std::vector<int64_t>{12, 4});
  CHECK(c->offsets == std::vector<int64_t>{0, 12});
  CHECK(c->shape == TensorShape({2, 4, 4}));
}

TEST_CASE("Pad plan: shape, identity and the checks it owns", "[array_plans]") {
  auto p = ap::PlanPad(TensorShape{2, 3}, TensorShape{2, 2}, {1, 0, 0, 2}, nullptr);
  REQUIRE(p.ok());
  CHECK_FALSE(p->identity);
  CHECK(p->shape == TensorShape({3, 5}));
  CHECK(p->paddings == std::vector<int64_t>{1, 0, 0, 2});

  // No padding: the input is the output, and constant_values is not looked at.
  const TensorShape vector3{3};
  auto id = ap::PlanPad(TensorShape{2, 3}, TensorShape{2, 2}, {0, 0, 0, 0}, &vector3);
  REQUIRE(id.ok());
  CHECK(id->identity);

  auto bad_values = ap::PlanPad(TensorShape{2, 3}, TensorShape{2, 2}, {1, 0, 0, 0}, &vector3);
  REQUIRE_FALSE(bad_values.ok());
  CHECK(Message(bad_values.status()) == "constant_values must be a scalar");

  auto bad_matrix = ap::PlanPad(TensorShape{2}, TensorShape{1, 3}, {0, 0, 0}, nullptr);
  REQUIRE_FALSE(bad_matrix.ok());
  CHECK(Message(bad_matrix.status()) == "paddings must be a [rank, 2] matrix");
}

TEST_CASE("BroadcastTo and SelectV2 plans", "[array_plans]") {
  auto b = ap::PlanBroadcastTo(TensorShape{3, 1}, {2, 3, 4});
  REQUIRE(b.ok());
  CHECK(*b == TensorShape({2, 3, 4}));
  CHECK_FALSE(ap::PlanBroadcastTo(TensorShape{3}, {4}).ok());

  auto s = ap::PlanSelectV2(DT_BOOL, TensorShape{2, 1}, TensorShape{3}, TensorShape{});
  REQUIRE(s.ok());
  CHECK(*s == TensorShape({2, 3}));
  auto not_bool = ap::PlanSelectV2(DT_FLOAT, TensorShape{}, TensorShape{}, TensorShape{});
  REQUIRE_FALSE(not_bool.ok());
  CHECK(Message(not_bool.status()) == "condition must be bool, got float32");
}

TEST_CASE("Gather plan views params as [batch, outer, limit, inner]", "[array_plans]") {
  // params [2, 3, 5, 7], indices [2, 4], axis 2, batch_dims 1:
  // batch 2, outer 3, limit 5, inner 7, n 4; output [2, 3, 4, 7].
  auto g = ap::PlanGather(TensorShape{2, 3, 5, 7}, TensorShape{2, 4}, -2, 1);
  REQUIRE(g.ok());
  CHECK(g->batch == 2);
  CHECK(g->outer == 3);
  CHECK(g->limit == 5);
  CHECK(g->inner == 7);
  CHECK(g->n == 4);
  CHECK(g->shape == TensorShape({2, 3, 4, 7}));
}

TEST_CASE("Indices as int64 and their range check", "[array_plans]") {
  const int16_t i16[] = {-1, 2, 300};
  auto v = ap::IndicesAsInt64(DT_INT16, i16, 3);
  REQUIRE(v.ok());
  CHECK(*v == std::vector<int64_t>{-1, 2, 300});
  const uint8_t u8[] = {200, 7};
  auto u = ap::IndicesAsInt64(DT_UINT8, u8, 2);
  REQUIRE(u.ok());
  CHECK(*u == std::vector<int64_t>{200, 7});
  const float f[] = {1.f};
  auto bad = ap::IndicesAsInt64(DT_FLOAT, f, 1);
  REQUIRE_FALSE(bad.ok());
  CHECK(Message(bad.status()) == "indices must be an integer tensor, got float32");

  CHECK(ap::CheckIndicesInRange({0, 4, 2}, 5).ok());
  CHECK(Message(ap::CheckIndicesInRange({0, 5}, 5)) == "indices[1] = 5 is not in [0, 5)");
  CHECK(Message(ap::CheckIndicesInRange({-1}, 5)) == "indices[0] = -1 is not in [0, 5)");
}

TEST_CASE("OneHot plan views the output as [prefix, depth, suffix]", "[array_plans]") {
  // indices [2, 3], depth 4 at axis 1: output [2, 4, 3], prefix 2, suffix 3.
  auto o = ap::PlanOneHot(TensorShape{2, 3}, 4, 1, TensorShape{}, TensorShape{});
  REQUIRE(o.ok());
  CHECK(o->prefix == 2);
  CHECK(o->depth == 4);
  CHECK(o->suffix == 3);
  CHECK(o->shape == TensorShape({2, 4, 3}));
  // axis -1: last, suffix 1.
  auto last = ap::PlanOneHot(TensorShape{2, 3}, 4, -1, TensorShape{}, TensorShape{});
  REQUIRE(last.ok());
  CHECK(last->prefix == 6);
  CHECK(last->suffix == 1);
  auto bad = ap::PlanOneHot(TensorShape{2}, 4, -1, TensorShape{2}, TensorShape{});
  REQUIRE_FALSE(bad.ok());
  CHECK(Message(bad.status()) == "on_value and off_value must be scalars");
}

TEST_CASE("DynamicStitch plan: output rows and the checks it owns", "[array_plans]") {
  // indices {[0, 2]}, {[[5], [1]]}: first_dim 6; data [2, 3] and [2, 1, 3]: rows of 3.
  Tensor a = Tensor::FromVector<int32_t>({0, 2}, TensorShape{2});
  Tensor b = Tensor::FromVector<int32_t>({5, 1}, TensorShape{2, 1});
  auto p = ap::PlanDynamicStitch({&a, &b}, {TensorShape{2, 3}, TensorShape{2, 1, 3}});
  REQUIRE(p.ok());
  CHECK(p->first_dim == 6);
  CHECK(p->row == 3);
  CHECK(p->shape == TensorShape({6, 3}));

  Tensor neg = Tensor::FromVector<int32_t>({1, -3}, TensorShape{2});
  auto bad = ap::PlanDynamicStitch({&a, &neg}, {TensorShape{2}, TensorShape{2}});
  REQUIRE_FALSE(bad.ok());
  CHECK(Message(bad.status()) == "indices[1] holds -3, but indices must be >= 0");

  Tensor wide = Tensor::FromVector<int64_t>({0}, TensorShape{1});
  auto not_int32 = ap::PlanDynamicStitch({&wide}, {TensorShape{1}});
  REQUIRE_FALSE(not_int32.ok());
  CHECK(Message(not_int32.status()) == "indices[0] must be int32, got int64");

  // An empty stitch: no rows.
  Tensor none = Tensor::FromVector<int32_t>({}, TensorShape{0});
  auto empty = ap::PlanDynamicStitch({&none}, {TensorShape{0, 4}});
  REQUIRE(empty.ok());
  CHECK(empty->first_dim == 0);
  CHECK(empty->row == 0);
}

TEST_CASE("SparseSoftmaxCrossEntropyWithLogits plan and label check", "[array_plans]") {
  auto p = ap::PlanSparseXent(TensorShape{4, 3}, TensorShape{4});
  REQUIRE(p.ok());
  CHECK(p->batch == 4);
  CHECK(p->classes == 3);
  CHECK(Message(ap::PlanSparseXent(TensorShape{4}, TensorShape{4}).status()) ==
        "logits must be 2-D, but got shape [4]");
  CHECK(Message(ap::PlanSparseXent(TensorShape{4, 3}, TensorShape{2}).status()) ==
        "logits and labels must have the same first dimension, got logits shape [4,3] and "
        "labels shape [2]");
  CHECK(Message(ap::PlanSparseXent(TensorShape{2, 0}, TensorShape{2}).status()) ==
        "Must have at least one class, but got logits shape [2,0]");

  const int32_t ok[] = {0, 2, 1};
  CHECK(ap::CheckSparseLabels(ok, 3, 3).ok());
  const int64_t bad[] = {0, 3, 1};
  CHECK(Message(ap::CheckSparseLabels(bad, 3, 3)) ==
        "Received a label value of 3 which is outside the valid range of [0, 3).  Label values: "
        "0 3 1");
  std::vector<int32_t> many(12, 0);
  many[11] = -1;
  CHECK(Message(ap::CheckSparseLabels(many.data(), 12, 3)) ==
        "Received a label value of -1 which is outside the valid range of [0, 3).  Label values: "
        "0 0 0 0 0 0 0 0 0 0 ...");
}
