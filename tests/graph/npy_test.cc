#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "graph/npy.h"
#include "graph/tensor.h"

using namespace quiver;

namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string Fixture(const std::string& name) {
  return std::string(QUIVER_TEST_DATA_DIR) + "/npy/" + name;
}

// The NPY spec, by hand: magic, version, little-endian header length, the dict text padded
// with spaces and a newline so that the data starts at a multiple of 64, then the data.
std::string NpyV1(const std::string& dict, size_t spaces, const std::string& data) {
  std::string header = dict + std::string(spaces, ' ') + "\n";
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  return out + header + data;
}

std::string NpyV2(int major, const std::string& dict, const std::string& data) {
  std::string header = dict + "\n";
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  uint32_t len = static_cast<uint32_t>(header.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  return out + header + data;
}

template <typename T>
std::string Raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("quiver_npy_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST_CASE("SerializeNpy matches NumPy's bytes, built by hand from the spec", "[npy]") {
  // np.save of float32 [[0, .5, 1], [1.5, 2, 2.5]]: the dict is followed by 21 - len("2")
  // growth spaces plus alignment padding, 58 spaces in all, so that 10 + 118 = 128 bytes.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const std::vector<float> values = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f};
  const std::string expected = NpyV1(dict, 58, Raw(values));
  REQUIRE(expected.size() == 128 + 24);
  Tensor t = Tensor::FromVector<float>(values, TensorShape{2, 3});
  CHECK(SerializeNpy(t) == expected);

  // A scalar gets no growth padding, only alignment: the header still ends at byte 128.
  const std::string scalar_dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (), }";
  CHECK(SerializeNpy(Tensor::Scalar<int64_t>(5)) ==
        NpyV1(scalar_dict, 128 - 10 - scalar_dict.size() - 1, Raw<int64_t>({5})));

  // A 1-D shape is written "(3,)".
  const std::string vec_dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }";
  CHECK(SerializeNpy(Tensor::FromVector<int32_t>({0, 1, 2}, TensorShape{3})) ==
        NpyV1(vec_dict, 128 - 10 - vec_dict.size() - 1, Raw<int32_t>({0, 1, 2})));
}

TEST_CASE("SerializeNpy is byte-identical to NumPy-written fixtures", "[npy]") {
  Tensor f32 = Tensor::FromVector<float>({0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f}, TensorShape{2, 3});
  CHECK(SerializeNpy(f32) == ReadBytes(Fixture("f32_2x3.npy")));
  CHECK(SerializeNpy(Tensor::Scalar<int64_t>(-7)) == ReadBytes(Fixture("i64_scalar.npy")));
  CHECK(SerializeNpy(Tensor::FromVector<bool>({true, false, true}, TensorShape{3})) ==
        ReadBytes(Fixture("bool_3.npy")));
  CHECK(SerializeNpy(Tensor::FromVector<int8_t>({-128, -1, 0, 127}, TensorShape{4})) ==
        ReadBytes(Fixture("i8_4.npy")));
  auto empty = Tensor::Create(DT_UINT8, TensorShape{0});
  REQUIRE(empty.ok());
  CHECK(SerializeNpy(*empty) == ReadBytes(Fixture("u8_empty.npy")));
}

TEST_CASE("ReadNpyFile reads NumPy-written fixtures", "[npy]") {
  auto f32 = ReadNpyFile(Fixture("f32_2x3.npy"));
  REQUIRE(f32.ok());
  CHECK(f32->dtype() == DT_FLOAT);
  CHECK(f32->shape() == TensorShape{2, 3});
  CHECK(f32->ToVector<float>() == std::vector<float>{0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f});

  auto scalar = ReadNpyFile(Fixture("i64_scalar.npy"));
  REQUIRE(scalar.ok());
  CHECK(scalar->dtype() == DT_INT64);
  CHECK(scalar->rank() == 0);
  CHECK(scalar->data<int64_t>()[0] == -7);

  auto b = ReadNpyFile(Fixture("bool_3.npy"));
  REQUIRE(b.ok());
  CHECK(b->dtype() == DT_BOOL);
  CHECK(b->data<bool>()[0]);
  CHECK_FALSE(b->data<bool>()[1]);
  CHECK(b->data<bool>()[2]);

  auto h = ReadNpyFile(Fixture("f16_2x2.npy"));
  REQUIRE(h.ok());
  CHECK(h->dtype() == DT_HALF);
  CHECK(h->shape() == TensorShape{2, 2});
  CHECK(h->ToVector<uint16_t>() == std::vector<uint16_t>{0x3c00, 0xc000, 0x3800, 0x7bff});

  auto u8 = ReadNpyFile(Fixture("u8_empty.npy"));
  REQUIRE(u8.ok());
  CHECK(u8->dtype() == DT_UINT8);
  CHECK(u8->shape() == TensorShape{0});

  auto i8 = ReadNpyFile(Fixture("i8_4.npy"));
  REQUIRE(i8.ok());
  CHECK(i8->ToVector<int8_t>() == std::vector<int8_t>{-128, -1, 0, 127});

  for (const char* name : {"f64_3_v2.npy", "f64_3_v3.npy"}) {
    INFO(name);
    auto d = ReadNpyFile(Fixture(name));
    REQUIRE(d.ok());
    CHECK(d->dtype() == DT_DOUBLE);
    CHECK(d->ToVector<double>() == std::vector<double>{1.0, 2.0, 3.0});
  }

  auto fortran = ReadNpyFile(Fixture("i32_fortran.npy"));
  REQUIRE_FALSE(fortran.ok());
  CHECK_THAT(Message(fortran.status()), Catch::Contains("fortran_order"));
  CHECK_THAT(Message(fortran.status()), Catch::Contains("i32_fortran.npy"));

  auto big = ReadNpyFile(Fixture("f32_big_endian.npy"));
  REQUIRE_FALSE(big.ok());
  CHECK_THAT(Message(big.status()), Catch::Contains("big-endian"));
  CHECK_THAT(Message(big.status()), Catch::Contains(">f4"));
}

TEST_CASE("ParseNpy accepts every supported descr and header spelling", "[npy]") {
  struct Case {
    const char* descr;
    DataType dtype;
  };
  const Case cases[] = {
      {"<f4", DT_FLOAT},  {"<f8", DT_DOUBLE}, {"<i4", DT_INT32},  {"<i8", DT_INT64},
      {"|b1", DT_BOOL},   {"|u1", DT_UINT8},  {"|i1", DT_INT8},   {"<i2", DT_INT16},
      {"<u2", DT_UINT16}, {"<f2", DT_HALF},   {"<u4", DT_UINT32}, {"<u8", DT_UINT64},
      {"=f4", DT_FLOAT},  {">u1", DT_UINT8},
  };
  for (const Case& c : cases) {
    INFO(c.descr);
    const std::string dict =
        std::string("{'descr': '") + c.descr + "', 'fortran_order': False, 'shape': (2,), }";
    const size_t elem = DataTypeSize(c.dtype);
    auto t = ParseNpy(NpyV1(dict, 3, std::string(2 * elem, '\x01')));
    REQUIRE(t.ok());
    CHECK(t->dtype() == c.dtype);
    CHECK(t->shape() == TensorShape{2});
  }

  // Double quotes, any key order, no trailing comma, Python 2 longs, versions 2.0 and 3.0.
  const std::string dict = "{\"shape\": (2L, 1L), \"fortran_order\": False, \"descr\": \"<i2\"}";
  for (int major : {2, 3}) {
    auto t = ParseNpy(NpyV2(major, dict, Raw<int16_t>({-3, 300})));
    REQUIRE(t.ok());
    CHECK(t->shape() == TensorShape{2, 1});
    CHECK(t->ToVector<int16_t>() == std::vector<int16_t>{-3, 300});
  }

  // fortran_order=True is harmless for rank <= 1: the layouts coincide.
  auto f1 = ParseNpy(
      NpyV1("{'descr': '<i4', 'fortran_order': True, 'shape': (2,), }", 0, Raw<int32_t>({4, 5})));
  REQUIRE(f1.ok());
  CHECK(f1->ToVector<int32_t>() == std::vector<int32_t>{4, 5});

  // Bool bytes other than 0/1 are normalised.
  auto b = ParseNpy(NpyV1("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", 0,
                          std::string("\0\x07", 2)));
  REQUIRE(b.ok());
  CHECK(static_cast<int>(reinterpret_cast<const uint8_t*>(b->raw_data())[1]) == 1);
}

TEST_CASE("ParseNpy rejects bad input with clear errors", "[npy]") {
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  auto error_of = [](const std::string& bytes) {
    auto t = ParseNpy(bytes);
    return t.ok() ? std::string("<ok>") : Message(t.status());
  };

  SECTION("truncated data names expected and actual bytes") {
    std::string msg = error_of(NpyV1(good_dict, 0, std::string(10, '\0')));
    CHECK_THAT(msg, Catch::Contains("16 bytes"));
    CHECK_THAT(msg, Catch::Contains("10"));
    CHECK_THAT(msg, Catch::Contains("truncated"));
  }
  SECTION("trailing bytes") {
    CHECK_THAT(error_of(NpyV1(good_dict, 0, std::string(20, '\0'))),
               Catch::Contains("4 trailing bytes"));
  }
  SECTION("big-endian") {
    CHECK_THAT(error_of(NpyV1("{'descr': '>i8', 'fortran_order': False, 'shape': (), }", 0,
                              std::string(8, '\0'))),
               Catch::Contains("big-endian"));
  }
  SECTION("fortran order for rank 2") {
    CHECK_THAT(error_of(NpyV1("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 0,
                              std::string(16, '\0'))),
               Catch::Contains("fortran_order"));
  }
  SECTION("unsupported descrs") {
    CHECK_THAT(error_of(NpyV1("{'descr': '<c8', 'fortran_order': False, 'shape': (), }", 0,
                              std::string(8, '\0'))),
               Catch::Contains("<c8"));
    CHECK_THAT(error_of(NpyV1("{'descr': '<U3', 'fortran_order': False, 'shape': (), }", 0, "")),
               Catch::Contains("<U3"));
    CHECK_THAT(
        error_of(NpyV1("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (), }", 0, "")),
        Catch::Contains("structured"));
  }
  SECTION("bad magic, version, header") {
    CHECK_THAT(error_of(""), Catch::Contains("magic"));
    CHECK_THAT(error_of("PK\x03\x04 this is a zip"), Catch::Contains("magic"));
    CHECK_THAT(error_of(std::string("\x93NUMPY\x04\x00", 8)), Catch::Contains("version 4.0"));
    CHECK_THAT(error_of(std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17)),
               Catch::Contains("truncated header"));
    CHECK_THAT(error_of(NpyV1("{'descr': '<f4', 'shape': (2,), }", 0, std::string(8, '\0'))),
               Catch::Contains("fortran_order"));
    CHECK_THAT(error_of(NpyV1("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 0, "")),
               Catch::Contains("integer"));
    CHECK_THAT(error_of(NpyV1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", 0, "")),
               Catch::Contains("invalid .npy"));
    CHECK_THAT(error_of(NpyV1("not a dict", 0, "")), Catch::Contains("'{'"));
  }
  SECTION("shapes whose byte count overflows") {
    std::string msg = error_of(NpyV1(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 2), }", 0, ""));
    CHECK(msg != "<ok>");
    msg = error_of(NpyV1(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0, ""));
    CHECK_THAT(msg, Catch::Contains("64 bits"));
  }
}

TEST_CASE("ParseNpy never crashes on mutated or truncated input", "[npy]") {
  Tensor t = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, TensorShape{2, 3});
  const std::string good = SerializeNpy(t);
  for (size_t len = 0; len < good.size(); ++len) {
    CHECK_FALSE(ParseNpy(good.substr(0, len)).ok());
  }
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string bytes = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    (void)ParseNpy(bytes);  // any status is fine; it must return
  }
  for (int iter = 0; iter < 200; ++iter) {
    std::string bytes(rng() % 300, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    CHECK_FALSE(ParseNpy(bytes).ok());
  }
}

TEST_CASE("WriteNpyFile and ReadNpyFile round-trip every NumPy dtype", "[npy]") {
  const std::string path = TempPath("roundtrip.npy");
  std::vector<Tensor> tensors = {
      Tensor::FromVector<float>({1.5f, -2.0f}, TensorShape{2, 1}),
      Tensor::FromVector<double>({3.25}, TensorShape{}),
      Tensor::FromVector<int32_t>({1, -2, 3}, TensorShape{3}),
      Tensor::FromVector<int64_t>({INT64_MIN, INT64_MAX}, TensorShape{1, 2}),
      Tensor::FromVector<int16_t>({-5}, TensorShape{1, 1, 1}),
      Tensor::FromVector<uint16_t>({65535}, TensorShape{1}),
      Tensor::FromVector<uint32_t>({4000000000u}, TensorShape{1}),
      Tensor::FromVector<uint64_t>({18000000000000000000ull}, TensorShape{1}),
      Tensor::FromVector<uint8_t>({0, 255}, TensorShape{2}),
      Tensor::FromVector<Half>({Half{0x3c00}}, TensorShape{1}),
  };
  for (const Tensor& t : tensors) {
    INFO(t.DebugString());
    REQUIRE(WriteNpyFile(t, path).ok());
    auto back = ReadNpyFile(path);
    REQUIRE(back.ok());
    CHECK(back->dtype() == t.dtype());
    CHECK(back->shape() == t.shape());
    REQUIRE(back->num_bytes() == t.num_bytes());
    CHECK(std::memcmp(back->raw_data(), t.raw_data(), t.num_bytes()) == 0);
    // The data starts on a 64-byte boundary, as NumPy's writer guarantees.
    CHECK((ReadBytes(path).size() - t.num_bytes()) % 64 == 0);
  }
  std::filesystem::remove(path);
}

TEST_CASE("WriteNpyFile refuses what NumPy cannot hold and ReadNpyFile names missing files",
          "[npy]") {
  Tensor bf = Tensor::FromVector<BFloat16>({BFloat16{0x3f80}}, TensorShape{1});
  absl::Status s = WriteNpyFile(bf, TempPath("bf16.npy"));
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(Message(s), Catch::Contains("bfloat16"));
  CHECK(SerializeNpy(bf).empty());
  CHECK_FALSE(WriteNpyFile(Tensor(), TempPath("empty.npy")).ok());

  auto missing = ReadNpyFile("/nonexistent/quiver/x.npy");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(Message(missing.status()), Catch::Contains("/nonexistent/quiver/x.npy"));

  auto dir = ReadNpyFile(std::filesystem::temp_directory_path().string());
  REQUIRE_FALSE(dir.ok());
  CHECK_THAT(Message(dir.status()), Catch::Contains("directory"));
}
