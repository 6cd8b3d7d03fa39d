// Element types. The numeric values are TensorFlow's DataType enum values, so that a
// DataType can be stored in (and read from) a GraphDef unchanged.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"

namespace quiver {

enum DataType : int {
  DT_INVALID = 0,
  DT_FLOAT = 1,
  DT_DOUBLE = 2,
  DT_INT32 = 3,
  DT_UINT8 = 4,
  DT_INT16 = 5,
  DT_INT8 = 6,
  DT_STRING = 7,
  DT_INT64 = 9,
  DT_BOOL = 10,
  DT_BFLOAT16 = 14,
  DT_UINT16 = 17,
  DT_HALF = 19,
  DT_UINT32 = 22,
  DT_UINT64 = 23,
};

// TF1 reference types are the base type + 100 (DT_FLOAT_REF = 101).
inline constexpr int kDataTypeRefOffset = 100;
inline bool IsRefType(int dtype) { return dtype > kDataTypeRefOffset; }
inline DataType BaseType(int dtype) {
  return static_cast<DataType>(dtype > kDataTypeRefOffset ? dtype - kDataTypeRefOffset : dtype);
}

// True for the dtypes Quiver can hold in a Tensor (strings are not supported).
bool IsSupportedDataType(int dtype);
// Bytes per element; 0 for unsupported types.
size_t DataTypeSize(DataType dtype);
// "float32", "int64", ... (NumPy-style, as users see them). Unknown values print as "dtype(N)".
std::string DataTypeName(int dtype);
// Parses NumPy-style names ("float32", "float", "int32", "bool", "bfloat16", ...) and TF enum
// names ("DT_FLOAT").
absl::StatusOr<DataType> DataTypeFromName(const std::string& name);
bool IsFloatingType(DataType dtype);
bool IsIntegerType(DataType dtype);

// 16-bit float storage types. Arithmetic converts through float.
struct Half {
  uint16_t bits = 0;
};
struct BFloat16 {
  uint16_t bits = 0;
};
float HalfToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);
inline float BFloat16ToFloat(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t FloatToBFloat16(float value);  // round to nearest even, NaN preserved

// Maps a C++ element type to its DataType.
template <typename T>
struct DataTypeOf;
#define QUIVER_DATATYPE_OF(T, DT) \
  template <>                     \
  struct DataTypeOf<T> {          \
    static constexpr DataType value = DT; \
  }
QUIVER_DATATYPE_OF(float, DT_FLOAT);
QUIVER_DATATYPE_OF(double, DT_DOUBLE);
QUIVER_DATATYPE_OF(int32_t, DT_INT32);
QUIVER_DATATYPE_OF(int64_t, DT_INT64);
QUIVER_DATATYPE_OF(int16_t, DT_INT16);
QUIVER_DATATYPE_OF(int8_t, DT_INT8);
QUIVER_DATATYPE_OF(uint8_t, DT_UINT8);
QUIVER_DATATYPE_OF(uint16_t, DT_UINT16);
QUIVER_DATATYPE_OF(uint32_t, DT_UINT32);
QUIVER_DATATYPE_OF(uint64_t, DT_UINT64);
QUIVER_DATATYPE_OF(bool, DT_BOOL);
QUIVER_DATATYPE_OF(Half, DT_HALF);
QUIVER_DATATYPE_OF(BFloat16, DT_BFLOAT16);
#undef QUIVER_DATATYPE_OF

}  // namespace quiver
