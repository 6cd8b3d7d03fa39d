#include "graph/types.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace quiver {

bool IsSupportedDataType(int dtype) { return DataTypeSize(static_cast<DataType>(dtype)) != 0; }

size_t DataTypeSize(DataType dtype) {
  switch (dtype) {
    case DT_FLOAT: return 4;
    case DT_DOUBLE: return 8;
    case DT_INT32: return 4;
    case DT_UINT8: return 1;
    case DT_INT16: return 2;
    case DT_INT8: return 1;
    case DT_INT64: return 8;
    case DT_BOOL: return 1;
    case DT_BFLOAT16: return 2;
    case DT_UINT16: return 2;
    case DT_HALF: return 2;
    case DT_UINT32: return 4;
    case DT_UINT64: return 8;
    default: return 0;
  }
}

std::string DataTypeName(int dtype) {
  std::string ref = IsRefType(dtype) ? "_ref" : "";
  switch (BaseType(dtype)) {
    case DT_FLOAT: return "float32" + ref;
    case DT_DOUBLE: return "float64" + ref;
    case DT_INT32: return "int32" + ref;
    case DT_UINT8: return "uint8" + ref;
    case DT_INT16: return "int16" + ref;
    case DT_INT8: return "int8" + ref;
    case DT_STRING: return "string" + ref;
    case DT_INT64: return "int64" + ref;
    case DT_BOOL: return "bool" + ref;
    case DT_BFLOAT16: return "bfloat16" + ref;
    case DT_UINT16: return "uint16" + ref;
    case DT_HALF: return "float16" + ref;
    case DT_UINT32: return "uint32" + ref;
    case DT_UINT64: return "uint64" + ref;
    case DT_INVALID: return "invalid";
    default: return absl::StrCat("dtype(", dtype, ")");
  }
}

absl::StatusOr<DataType> DataTypeFromName(const std::string& raw) {
  std::string name = absl::AsciiStrToLower(raw);
  if (name.rfind("dt_", 0) == 0) name = name.substr(3);
  struct Entry {
    const char* name;
    DataType type;
  };
  static const Entry kNames[] = {
      {"float32", DT_FLOAT}, {"float", DT_FLOAT},     {"float64", DT_DOUBLE},
      {"double", DT_DOUBLE}, {"int32", DT_INT32},     {"int64", DT_INT64},
      {"int16", DT_INT16},   {"int8", DT_INT8},       {"uint8", DT_UINT8},
      {"uint16", DT_UINT16}, {"uint32", DT_UINT32},   {"uint64", DT_UINT64},
      {"bool", DT_BOOL},     {"float16", DT_HALF},    {"half", DT_HALF},
      {"bfloat16", DT_BFLOAT16},
  };
  for (const Entry& e : kNames) {
    if (name == e.name) return e.type;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype name '", raw, "'"));
}

bool IsFloatingType(DataType dtype) {
  return dtype == DT_FLOAT || dtype == DT_DOUBLE || dtype == DT_HALF || dtype == DT_BFLOAT16;
}

bool IsIntegerType(DataType dtype) {
  switch (dtype) {
    case DT_INT8: case DT_INT16: case DT_INT32: case DT_INT64:
    case DT_UINT8: case DT_UINT16: case DT_UINT32: case DT_UINT64:
      return true;
    default:
      return false;
  }
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        e++;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t abs = x & 0x7fffffff;
  if (abs >= 0x7f800000u) return sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0);  // inf/nan
  if (abs >= 0x477ff000u) return sign | 0x7c00;  // overflow to inf
  if (abs < 0x38800000u) {                       // subnormal or zero in half
    float f;
    std::memcpy(&f, &abs, 4);
    return sign | static_cast<uint16_t>(std::nearbyint(f * 16777216.0f));  // 2^24
  }
  uint32_t mant_odd = (abs >> 13) & 1;
  abs += 0xc8000fffu + mant_odd;  // rebias exponent and round to nearest even
  return sign | static_cast<uint16_t>(abs >> 13);
}

uint16_t FloatToBFloat16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  if ((x & 0x7fffffff) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);
  uint32_t rounding = 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

}  // namespace quiver
