#include <catch2/catch.hpp>

#include "graph/tensor.h"
#include "graph/types.h"

using namespace quiver;

TEST_CASE("Tensor buffers are 64-byte aligned and shared on copy", "[tensor]") {
  auto t = Tensor::Create(DT_FLOAT, TensorShape{3, 5});
  REQUIRE(t.ok());
  REQUIRE(reinterpret_cast<uintptr_t>(t->raw_data()) % 64 == 0);
  REQUIRE(t->num_elements() == 15);
  REQUIRE(t->num_bytes() == 60);
  Tensor copy = *t;
  REQUIRE(copy.SharesBufferWith(*t));
  REQUIRE_FALSE(t->RefCountIsOne());
  auto clone = t->Clone();
  REQUIRE(clone.ok());
  REQUIRE_FALSE(clone->SharesBufferWith(*t));
}

TEST_CASE("Tensor creation rejects bad shapes instead of allocating", "[tensor]") {
  REQUIRE_FALSE(Tensor::Create(DT_FLOAT, TensorShape{-1, 3}).ok());
  auto huge = Tensor::Create(DT_FLOAT, TensorShape{1LL << 40, 1LL << 40});
  REQUIRE_FALSE(huge.ok());
  REQUIRE(std::string(huge.status().message()).find("64 bits") != std::string::npos);
  REQUIRE_FALSE(Tensor::Create(DT_STRING, TensorShape{2}).ok());
}

TEST_CASE("Reshaped aliases and checks element counts", "[tensor]") {
  Tensor t = Tensor::FromVector<int32_t>({1, 2, 3, 4, 5, 6}, TensorShape{2, 3});
  auto r = t.Reshaped(TensorShape{3, 2});
  REQUIRE(r.ok());
  REQUIRE(r->SharesBufferWith(t));
  REQUIRE(r->data<int32_t>()[5] == 6);
  REQUIRE_FALSE(t.Reshaped(TensorShape{4}).ok());
}

TEST_CASE("Half and bfloat16 conversions match IEEE bit patterns", "[types]") {
  // Hand-derived: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff (max half), 2^-24 = 0x0001.
  REQUIRE(FloatToHalf(1.0f) == 0x3c00);
  REQUIRE(FloatToHalf(-2.0f) == 0xc000);
  REQUIRE(FloatToHalf(65504.0f) == 0x7bff);
  REQUIRE(FloatToHalf(1e6f) == 0x7c00);
  REQUIRE(HalfToFloat(0x0001) == Approx(5.960464477539063e-08));
  REQUIRE(HalfToFloat(0x3555) == Approx(0.333251953125));
  REQUIRE(FloatToBFloat16(1.0f) == 0x3f80);
  REQUIRE(BFloat16ToFloat(0x4049) == Approx(3.140625));
  // Round to nearest even: 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125 -> 1.0.
  REQUIRE(FloatToBFloat16(1.00390625f) == 0x3f80);
}

TEST_CASE("DataType names round-trip", "[types]") {
  for (DataType t : {DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_BOOL, DT_HALF, DT_BFLOAT16,
                     DT_INT8, DT_UINT8, DT_INT16}) {
    auto parsed = DataTypeFromName(DataTypeName(t));
    REQUIRE(parsed.ok());
    REQUIRE(*parsed == t);
  }
  REQUIRE(DataTypeName(101) == "float32_ref");
  REQUIRE_FALSE(DataTypeFromName("complex256").ok());
}

TEST_CASE("TensorShape compatibility with partial shapes", "[tensor]") {
  TensorShape partial{-1, 784};
  REQUIRE(partial.IsCompatibleWith(TensorShape{100, 784}));
  REQUIRE_FALSE(partial.IsCompatibleWith(TensorShape{100, 785}));
  REQUIRE_FALSE(partial.IsCompatibleWith(TensorShape{784}));
  REQUIRE(TensorShape::UnknownRank().IsCompatibleWith(TensorShape{1, 2, 3}));
  REQUIRE(partial.DebugString() == "[?,784]");
}
