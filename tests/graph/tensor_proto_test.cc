#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "graph/tensor_proto.h"

using namespace quiver;

namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

tensorflow::TensorProto Proto(tensorflow::DataType dtype, std::vector<int64_t> dims) {
  tensorflow::TensorProto p;
  p.set_dtype(dtype);
  for (int64_t d : dims) p.mutable_tensor_shape()->add_dim()->set_size(d);
  return p;
}

template <typename T>
std::string Raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

}  // namespace

TEST_CASE("tensor_content is read as raw little-endian bytes", "[tensor_proto]") {
  auto p = Proto(tensorflow::DT_FLOAT, {2, 2});
  p.set_tensor_content(Raw<float>({1.0f, -2.0f, 3.5f, 0.25f}));
  auto t = TensorFromProto(p);
  REQUIRE(t.ok());
  CHECK(t->dtype() == DT_FLOAT);
  CHECK(t->shape() == TensorShape{2, 2});
  CHECK(t->ToVector<float>() == std::vector<float>{1.0f, -2.0f, 3.5f, 0.25f});

  // Hand-written little-endian bytes, independent of the host's integer layout.
  auto q = Proto(tensorflow::DT_INT32, {2});
  q.set_tensor_content(std::string("\x01\x00\x00\x00\xfe\xff\xff\xff", 8));
  auto ti = TensorFromProto(q);
  REQUIRE(ti.ok());
  CHECK(ti->ToVector<int32_t>() == std::vector<int32_t>{1, -2});

  // tensor_content wins over typed values, as in TensorFlow.
  q.add_int_val(99);
  CHECK(TensorFromProto(q)->ToVector<int32_t>() == std::vector<int32_t>{1, -2});
}

TEST_CASE("tensor_content of the wrong size names both byte counts", "[tensor_proto]") {
  auto p = Proto(tensorflow::DT_FLOAT, {2, 2});
  p.set_tensor_content(std::string(12, '\0'));
  auto t = TensorFromProto(p);
  REQUIRE_FALSE(t.ok());
  CHECK(Message(t.status()) ==
        "tensor_content has 12 bytes but dtype float32 x shape [2,2] needs 16");
}

TEST_CASE("typed fields zero-fill when empty and repeat the last value when short",
          "[tensor_proto]") {
  auto p = Proto(tensorflow::DT_FLOAT, {2, 3});
  auto zeros = TensorFromProto(p);
  REQUIRE(zeros.ok());
  CHECK(zeros->ToVector<float>() == std::vector<float>(6, 0.0f));

  p.add_float_val(1.5f);
  CHECK(TensorFromProto(p)->ToVector<float>() == std::vector<float>(6, 1.5f));
  p.add_float_val(-4.0f);
  CHECK(TensorFromProto(p)->ToVector<float>() ==
        std::vector<float>{1.5f, -4.0f, -4.0f, -4.0f, -4.0f, -4.0f});

  auto d = Proto(tensorflow::DT_DOUBLE, {3});
  d.add_double_val(0.1);
  d.add_double_val(0.2);
  d.add_double_val(0.3);
  CHECK(TensorFromProto(d)->ToVector<double>() == std::vector<double>{0.1, 0.2, 0.3});

  auto scalar = Proto(tensorflow::DT_INT64, {});
  scalar.add_int64_val(-9000000000LL);
  auto s = TensorFromProto(scalar);
  REQUIRE(s.ok());
  CHECK(s->rank() == 0);
  CHECK(s->ToVector<int64_t>() == std::vector<int64_t>{-9000000000LL});

  auto b = Proto(tensorflow::DT_BOOL, {3});
  b.add_bool_val(false);
  b.add_bool_val(true);
  auto tb = TensorFromProto(b);
  REQUIRE(tb.ok());
  CHECK_FALSE(tb->data<bool>()[0]);
  CHECK(tb->data<bool>()[1]);
  CHECK(tb->data<bool>()[2]);

  auto u32 = Proto(tensorflow::DT_UINT32, {2});
  u32.add_uint32_val(4000000000u);
  CHECK(TensorFromProto(u32)->ToVector<uint32_t>() ==
        std::vector<uint32_t>{4000000000u, 4000000000u});
  auto u64 = Proto(tensorflow::DT_UINT64, {1});
  u64.add_uint64_val(18000000000000000000ull);
  CHECK(TensorFromProto(u64)->ToVector<uint64_t>() ==
        std::vector<uint64_t>{18000000000000000000ull});
}

TEST_CASE("narrow integers come from int_val", "[tensor_proto]") {
  auto i8 = Proto(tensorflow::DT_INT8, {4});
  for (int v : {-128, -1, 0, 127}) i8.add_int_val(v);
  CHECK(TensorFromProto(i8)->ToVector<int8_t>() == std::vector<int8_t>{-128, -1, 0, 127});

  auto u8 = Proto(tensorflow::DT_UINT8, {3});
  u8.add_int_val(255);
  u8.add_int_val(7);
  CHECK(TensorFromProto(u8)->ToVector<uint8_t>() == std::vector<uint8_t>{255, 7, 7});

  auto i16 = Proto(tensorflow::DT_INT16, {2});
  i16.add_int_val(-32768);
  i16.add_int_val(32767);
  CHECK(TensorFromProto(i16)->ToVector<int16_t>() == std::vector<int16_t>{-32768, 32767});

  auto u16 = Proto(tensorflow::DT_UINT16, {1});
  u16.add_int_val(65535);
  CHECK(TensorFromProto(u16)->ToVector<uint16_t>() == std::vector<uint16_t>{65535});

  auto i32 = Proto(tensorflow::DT_INT32, {2});
  i32.add_int_val(-5);
  CHECK(TensorFromProto(i32)->ToVector<int32_t>() == std::vector<int32_t>{-5, -5});
}

TEST_CASE("half and bfloat16 bit patterns come from half_val's low 16 bits", "[tensor_proto]") {
  auto h = Proto(tensorflow::DT_HALF, {3});
  h.add_half_val(0x3c00);  // 1.0
  h.add_half_val(0xc000);  // -2.0, zero-extended as TF writes it
  auto th = TensorFromProto(h);
  REQUIRE(th.ok());
  CHECK(th->dtype() == DT_HALF);
  CHECK(th->ToVector<uint16_t>() == std::vector<uint16_t>{0x3c00, 0xc000, 0xc000});
  CHECK(th->ElementAsDouble(0) == 1.0);
  CHECK(th->ElementAsDouble(1) == -2.0);

  // A sign-extended int32 still yields the right bits.
  auto h2 = Proto(tensorflow::DT_HALF, {1});
  h2.add_half_val(-16384);  // 0xffffc000
  CHECK(TensorFromProto(h2)->ToVector<uint16_t>() == std::vector<uint16_t>{0xc000});

  auto bf = Proto(tensorflow::DT_BFLOAT16, {2});
  bf.add_half_val(0x3f80);  // 1.0
  bf.add_half_val(0x4049);  // 3.140625
  auto tbf = TensorFromProto(bf);
  REQUIRE(tbf.ok());
  CHECK(tbf->dtype() == DT_BFLOAT16);
  CHECK(tbf->ElementAsDouble(0) == 1.0);
  CHECK(tbf->ElementAsDouble(1) == 3.140625);
}

TEST_CASE("TensorFromProto errors name the problem", "[tensor_proto]") {
  auto error_of = [](const tensorflow::TensorProto& p) {
    auto t = TensorFromProto(p);
    return t.ok() ? std::string("<ok>") : Message(t.status());
  };
  auto many = Proto(tensorflow::DT_FLOAT, {2});
  for (float v : {1.0f, 2.0f, 3.0f}) many.add_float_val(v);
  CHECK_THAT(error_of(many), Catch::Contains("float_val has 3 values"));
  CHECK_THAT(error_of(many), Catch::Contains("2 elements"));

  auto empty_with_value = Proto(tensorflow::DT_INT32, {0});
  empty_with_value.add_int_val(1);
  CHECK_THAT(error_of(empty_with_value), Catch::Contains("int_val has 1 values"));

  auto str = Proto(tensorflow::DT_STRING, {1});
  str.add_string_val("hello");
  CHECK_THAT(error_of(str), Catch::Contains("string"));

  auto ref = Proto(tensorflow::DT_FLOAT_REF, {1});
  CHECK_THAT(error_of(ref), Catch::Contains("float32_ref"));

  CHECK_THAT(error_of(tensorflow::TensorProto()), Catch::Contains("invalid"));

  auto unknown_enum = Proto(static_cast<tensorflow::DataType>(8), {1});  // DT_COMPLEX64
  CHECK_THAT(error_of(unknown_enum), Catch::Contains("dtype(8)"));

  CHECK_THAT(error_of(Proto(tensorflow::DT_FLOAT, {2, -1})), Catch::Contains("negative"));
  CHECK_THAT(error_of(Proto(tensorflow::DT_FLOAT, {1LL << 40, 1LL << 40})),
             Catch::Contains("64 bits"));

  // A content size check must not overflow either.
  auto huge = Proto(tensorflow::DT_DOUBLE, {1LL << 62});
  huge.set_tensor_content(std::string(8, '\0'));
  CHECK_THAT(error_of(huge), Catch::Contains("tensor_content has 8 bytes"));

  tensorflow::TensorProto unknown_rank;
  unknown_rank.set_dtype(tensorflow::DT_FLOAT);
  unknown_rank.mutable_tensor_shape()->set_unknown_rank(true);
  CHECK_THAT(error_of(unknown_rank), Catch::Contains("unknown rank"));
}

TEST_CASE("bool tensor_content is normalised to 0/1", "[tensor_proto]") {
  auto p = Proto(tensorflow::DT_BOOL, {2});
  p.set_tensor_content(std::string("\x00\x05", 2));
  auto t = TensorFromProto(p);
  REQUIRE(t.ok());
  CHECK(reinterpret_cast<const uint8_t*>(t->raw_data())[0] == 0);
  CHECK(reinterpret_cast<const uint8_t*>(t->raw_data())[1] == 1);
}

TEST_CASE("TensorToProto writes exact tensor_content and round-trips", "[tensor_proto]") {
  Tensor f = Tensor::FromVector<float>({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, TensorShape{3, 2});
  tensorflow::TensorProto p;
  p.add_float_val(42.0f);  // stale content must be cleared
  TensorToProto(f, &p);
  CHECK(p.dtype() == tensorflow::DT_FLOAT);
  REQUIRE(p.tensor_shape().dim_size() == 2);
  CHECK(p.tensor_shape().dim(0).size() == 3);
  CHECK(p.tensor_shape().dim(1).size() == 2);
  CHECK(p.float_val_size() == 0);
  CHECK(p.tensor_content() == Raw<float>({1, 2, 3, 4, 5, 6}));

  std::vector<Tensor> tensors = {
      f,
      Tensor::Scalar<int64_t>(-3),
      Tensor::FromVector<int8_t>({-1, 2}, TensorShape{2}),
      Tensor::FromVector<bool>({true, false}, TensorShape{1, 2}),
      Tensor::FromVector<Half>({Half{0x3c00}}, TensorShape{1}),
      Tensor::FromVector<BFloat16>({BFloat16{0x3f80}}, TensorShape{1}),
      Tensor::FromVector<uint64_t>({1, 2, 3}, TensorShape{3}),
      *Tensor::Zeros(DT_DOUBLE, TensorShape{0, 4}),
  };
  for (const Tensor& t : tensors) {
    INFO(t.DebugString());
    tensorflow::TensorProto q;
    TensorToProto(t, &q);
    auto back = TensorFromProto(q);
    REQUIRE(back.ok());
    CHECK(back->dtype() == t.dtype());
    CHECK(back->shape() == t.shape());
    REQUIRE(back->num_bytes() == t.num_bytes());
    CHECK(std::memcmp(back->raw_data(), t.raw_data(), t.num_bytes()) == 0);
  }
}

TEST_CASE("A splat past the tensor size limit is refused before allocating", "[tensor_proto]") {
  // 10^6 x 10^6 floats from one float_val: 4 TB, refused under the default 2 GiB limit.
  auto p = Proto(tensorflow::DT_FLOAT, {1000000, 1000000});
  p.add_float_val(1.0f);
  auto t = TensorFromProto(p);
  REQUIRE_FALSE(t.ok());
  CHECK(t.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(Message(t.status()), Catch::Contains("1000000000000 elements"));

  // The limit is in bytes: 1024 doubles (8 KiB) pass at 8 KiB and fail at 8 KiB - 1.
  const int64_t saved = MaxProtoTensorBytes();
  CHECK(saved == kDefaultMaxProtoTensorBytes);
  auto q = Proto(tensorflow::DT_DOUBLE, {32, 32});
  q.add_double_val(2.5);
  SetMaxProtoTensorBytes(8192);
  auto ok = TensorFromProto(q);
  SetMaxProtoTensorBytes(8191);
  auto refused = TensorFromProto(q);
  SetMaxProtoTensorBytes(saved);
  REQUIRE(ok.ok());
  CHECK(ok->data<double>()[1023] == 2.5);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("TensorShape::num_elements reports an overflowing product as unknown", "[tensor]") {
  // 2^32 * 2^32 = 2^64 does not fit in int64.
  const TensorShape huge{int64_t{1} << 32, int64_t{1} << 32};
  CHECK(huge.num_elements() == -1);
  CHECK_FALSE(TensorShape::ValidatedNumElements(huge.dims()).ok());
  // 2^31 * 2^31 = 2^62 fits.
  CHECK(TensorShape({int64_t{1} << 31, int64_t{1} << 31}).num_elements() == int64_t{1} << 62);
  // As in ValidatedNumElements (and TensorFlow's TensorShape), the running product must fit,
  // even when a later dim is 0; a leading 0 keeps it 0.
  CHECK(TensorShape({int64_t{1} << 62, 4, 0}).num_elements() == -1);
  CHECK_FALSE(TensorShape::ValidatedNumElements({int64_t{1} << 62, 4, 0}).ok());
  CHECK(TensorShape({0, int64_t{1} << 62, 4}).num_elements() == 0);
}
