#include "graph/npy.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quiver {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// NumPy aligns the end of the header to 64 bytes (ARRAY_ALIGN) and leaves room for the first
// dim to grow to 21 digits (GROWTH_AXIS_MAX_DIGITS); we match it byte for byte.
constexpr size_t kArrayAlign = 64;
constexpr size_t kGrowthAxisMaxDigits = 21;

absl::Status NpyError(const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("invalid .npy: ", message));
}

// The dtypes that have a NumPy descr; bfloat16 has none in NumPy itself.
struct DescrEntry {
  char kind;
  int size;
  DataType dtype;
};
constexpr DescrEntry kDescrs[] = {
    {'f', 2, DT_HALF},   {'f', 4, DT_FLOAT},  {'f', 8, DT_DOUBLE}, {'i', 1, DT_INT8},
    {'i', 2, DT_INT16},  {'i', 4, DT_INT32},  {'i', 8, DT_INT64},  {'u', 1, DT_UINT8},
    {'u', 2, DT_UINT16}, {'u', 4, DT_UINT32}, {'u', 8, DT_UINT64}, {'b', 1, DT_BOOL},
};

absl::StatusOr<DataType> DtypeFromDescr(const std::string& descr) {
  if (descr.size() < 3) return NpyError(absl::StrCat("unsupported descr '", descr, "'"));
  const char order = descr[0];
  const char kind = descr[1];
  const std::string size_str = descr.substr(2);
  int size = 0;
  for (char c : size_str) {
    if (c < '0' || c > '9' || size > 1000) {
      return NpyError(absl::StrCat("unsupported descr '", descr, "'"));
    }
    size = size * 10 + (c - '0');
  }
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    return NpyError(absl::StrCat("unsupported descr '", descr, "'"));
  }
  for (const DescrEntry& e : kDescrs) {
    if (e.kind != kind || e.size != size) continue;
    // Byte order is meaningless for 1-byte types; '=' is native, which is little here.
    if (order == '>' && size > 1) {
      return NpyError(absl::StrCat("big-endian descr '", descr,
                                   "' is not supported; save the array as little-endian "
                                   "(arr.astype(arr.dtype.newbyteorder('<')))"));
    }
    return e.dtype;
  }
  return NpyError(absl::StrCat("unsupported descr '", descr,
                               "' (supported: float16/32/64, int8/16/32/64, uint8/16/32/64, "
                               "bool)"));
}

const char* DescrFor(DataType dtype) {
  switch (dtype) {
    case DT_HALF:
      return "<f2";
    case DT_FLOAT:
      return "<f4";
    case DT_DOUBLE:
      return "<f8";
    case DT_INT8:
      return "|i1";
    case DT_INT16:
      return "<i2";
    case DT_INT32:
      return "<i4";
    case DT_INT64:
      return "<i8";
    case DT_UINT8:
      return "|u1";
    case DT_UINT16:
      return "<u2";
    case DT_UINT32:
      return "<u4";
    case DT_UINT64:
      return "<u8";
    case DT_BOOL:
      return "|b1";
    default:
      return nullptr;
  }
}

// A value of the Python-literal header dict: a string, a bool, or a tuple of ints.
struct PyValue {
  enum Kind { kString, kBool, kTuple, kOther } kind = kOther;
  std::string str;
  bool boolean = false;
  std::vector<int64_t> ints;
};

// A tiny parser for the header dict NumPy writes with repr():
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// It accepts either quote style, Python 2 'L' suffixes and trailing commas, and rejects
// anything else (structured dtypes, nested containers) with a message.
class HeaderParser {
 public:
  explicit HeaderParser(const std::string& text) : s_(text) {}

  absl::Status ParseDict(std::map<std::string, PyValue>* out) {
    SkipSpace();
    if (!Consume('{')) return Error("header does not start with '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      std::string key;
      if (auto st = ParseString(&key); !st.ok()) return st;
      SkipSpace();
      if (!Consume(':')) return Error(absl::StrCat("expected ':' after key '", key, "'"));
      SkipSpace();
      PyValue value;
      if (auto st = ParseValue(key, &value); !st.ok()) return st;
      if (out->count(key)) return Error(absl::StrCat("duplicate key '", key, "'"));
      (*out)[key] = std::move(value);
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume('}')) break;
      return Error("expected ',' or '}' in header dict");
    }
    SkipSpace();
    if (pos_ != s_.size()) return Error("unexpected text after the header dict");
    return absl::OkStatus();
  }

 private:
  absl::Status Error(const std::string& what) const {
    return NpyError(absl::StrCat(what, " at header offset ", pos_));
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ConsumeWord(const char* w) {
    size_t n = std::strlen(w);
    if (s_.compare(pos_, n, w) == 0) {
      pos_ += n;
      return true;
    }
    return false;
  }
  absl::Status ParseString(std::string* out) {
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) {
      return Error("expected a quoted string");
    }
    const char quote = s_[pos_++];
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') return Error("escape sequences are not supported in the header");
      out->push_back(s_[pos_++]);
    }
    if (!Consume(quote)) return Error("unterminated string");
    return absl::OkStatus();
  }
  absl::Status ParseInt(int64_t* out) {
    size_t start = pos_;
    int64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      int digit = s_[pos_] - '0';
      if (v > (INT64_MAX - digit) / 10) return Error("dimension does not fit in 64 bits");
      v = v * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) return Error("expected a non-negative integer dimension");
    Consume('L');  // Python 2 long suffix
    *out = v;
    return absl::OkStatus();
  }
  absl::Status ParseValue(const std::string& key, PyValue* v) {
    if (pos_ >= s_.size()) return Error("unexpected end of header");
    const char c = s_[pos_];
    if (c == '\'' || c == '"') {
      v->kind = PyValue::kString;
      return ParseString(&v->str);
    }
    if (ConsumeWord("True")) {
      v->kind = PyValue::kBool;
      v->boolean = true;
      return absl::OkStatus();
    }
    if (ConsumeWord("False")) {
      v->kind = PyValue::kBool;
      v->boolean = false;
      return absl::OkStatus();
    }
    if (c == '(') {
      ++pos_;
      v->kind = PyValue::kTuple;
      while (true) {
        SkipSpace();
        if (Consume(')')) return absl::OkStatus();
        int64_t d = 0;
        if (auto st = ParseInt(&d); !st.ok()) return st;
        v->ints.push_back(d);
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume(')')) return absl::OkStatus();
        return Error("expected ',' or ')' in the shape tuple");
      }
    }
    if (c == '[') {
      return Error(
          absl::StrCat("'", key, "' is a list: structured (record) dtypes are not supported"));
    }
    return Error(absl::StrCat("unsupported value for '", key, "'"));
  }

  const std::string& s_;
  size_t pos_ = 0;
};

uint32_t ReadLE(const std::string& bytes, size_t offset, int width) {
  uint32_t v = 0;
  for (int i = width - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(bytes[offset + i]);
  }
  return v;
}

}  // namespace

absl::StatusOr<Tensor> ParseNpy(const std::string& bytes) {
  if (bytes.size() < kMagicLen + 2 || bytes.compare(0, kMagicLen, kMagic, kMagicLen) != 0) {
    return NpyError("missing the \\x93NUMPY magic string");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0) {
    return NpyError(absl::StrCat("unsupported format version ", major, ".", minor,
                                 " (supported: 1.0, 2.0, 3.0)"));
  }
  // Version 1.0 stores the header length in 2 bytes, 2.0 and 3.0 in 4.
  const int len_width = major == 1 ? 2 : 4;
  const size_t len_offset = kMagicLen + 2;
  if (bytes.size() < len_offset + len_width) return NpyError("truncated before the header length");
  const size_t header_len = ReadLE(bytes, len_offset, len_width);
  const size_t header_start = len_offset + len_width;
  if (bytes.size() - header_start < header_len) {
    return NpyError(absl::StrCat("truncated header: expected ", header_len, " bytes, got ",
                                 bytes.size() - header_start));
  }
  // 3.0 differs from 2.0 only in allowing UTF-8 in the header; our keys and values are ASCII.
  const std::string header = bytes.substr(header_start, header_len);
  std::map<std::string, PyValue> dict;
  HeaderParser parser(header);
  if (auto st = parser.ParseDict(&dict); !st.ok()) return st;

  auto descr_it = dict.find("descr");
  auto fortran_it = dict.find("fortran_order");
  auto shape_it = dict.find("shape");
  if (descr_it == dict.end() || fortran_it == dict.end() || shape_it == dict.end()) {
    return NpyError("header must have the keys 'descr', 'fortran_order' and 'shape'");
  }
  if (descr_it->second.kind != PyValue::kString) return NpyError("'descr' is not a string");
  if (fortran_it->second.kind != PyValue::kBool) return NpyError("'fortran_order' is not a bool");
  if (shape_it->second.kind != PyValue::kTuple) return NpyError("'shape' is not a tuple");

  auto dtype = DtypeFromDescr(descr_it->second.str);
  if (!dtype.ok()) return dtype.status();
  const std::vector<int64_t>& dims = shape_it->second.ints;
  // Column-major and row-major layouts coincide for rank <= 1.
  if (fortran_it->second.boolean && dims.size() > 1) {
    return NpyError(
        "fortran_order=True arrays are not supported; save np.ascontiguousarray(arr) instead");
  }
  auto n = TensorShape::ValidatedNumElements(dims);
  if (!n.ok()) return NpyError(std::string(n.status().message()));
  const size_t elem = DataTypeSize(*dtype);
  const size_t data_start = header_start + header_len;
  const size_t available = bytes.size() - data_start;
  if (*n > static_cast<int64_t>(available / elem)) {
    // n * elem may not fit in size_t for a hostile shape; say so rather than overflow.
    const std::string needed = static_cast<uint64_t>(*n) <= SIZE_MAX / elem
                                   ? absl::StrCat(static_cast<size_t>(*n) * elem, " bytes")
                                   : absl::StrCat(*n, " elements (over 2^64 bytes)");
    return NpyError(absl::StrCat("truncated data: shape (", absl::StrJoin(dims, ", "), ") of ",
                                 DataTypeName(*dtype), " needs ", needed, ", file has ", available,
                                 " bytes of data"));
  }
  const size_t data_bytes = static_cast<size_t>(*n) * elem;
  if (available != data_bytes) {
    return NpyError(absl::StrCat("expected ", data_bytes, " bytes of data, found ", available, " (",
                                 available - data_bytes, " trailing bytes)"));
  }
  auto t = Tensor::Create(*dtype, TensorShape(dims));
  if (!t.ok()) return t.status();
  if (*dtype == DT_BOOL) {
    // Normalise so that every stored bool is a valid 0/1 byte.
    bool* out = t->data<bool>();
    for (int64_t i = 0; i < *n; ++i) out[i] = bytes[data_start + i] != 0;
  } else if (data_bytes > 0) {
    std::memcpy(t->raw_data(), bytes.data() + data_start, data_bytes);
  }
  return t;
}

absl::StatusOr<Tensor> ReadNpyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // ENOENT -> NotFound, EACCES -> PermissionDenied, ...
    const int err = errno != 0 ? errno : ENOENT;
    return absl::ErrnoToStatus(err, absl::StrCat("cannot open '", path, "'"));
  }
  // Opening a directory succeeds and then reads as empty; say what it is instead.
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is a directory"));
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto t = ParseNpy(bytes);
  if (!t.ok()) {
    return absl::Status(t.status().code(), absl::StrCat("'", path, "': ", t.status().message()));
  }
  return t;
}

// Returns "" for tensors NumPy cannot represent (bfloat16, invalid); WriteNpyFile reports it.
std::string SerializeNpy(const Tensor& tensor) {
  const char* descr = tensor.valid() ? DescrFor(tensor.dtype()) : nullptr;
  if (descr == nullptr) return "";
  const auto& dims = tensor.shape().dims();
  std::string shape = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    absl::StrAppend(&shape, i ? ", " : "", dims[i]);
  }
  if (dims.size() == 1) shape += ",";
  shape += ")";
  std::string header =
      absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': ", shape, ", }");
  if (!dims.empty()) {
    const size_t digits = absl::StrCat(dims[0]).size();
    if (digits < kGrowthAxisMaxDigits) header.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  // Like NumPy: 1.0 unless the padded header length does not fit its 16-bit field, then 2.0.
  const size_t hlen = header.size() + 1;  // + '\n'
  auto padding = [&](size_t prefix) { return kArrayAlign - (prefix + hlen) % kArrayAlign; };
  const bool v1 = hlen + padding(kMagicLen + 4) <= 0xffff;
  const size_t padlen = padding(kMagicLen + (v1 ? 4 : 6));
  const size_t total_header = hlen + padlen;

  std::string out(kMagic, kMagicLen);
  out.push_back(v1 ? '\x01' : '\x02');
  out.push_back('\x00');
  for (int i = 0; i < (v1 ? 2 : 4); ++i) {
    out.push_back(static_cast<char>((total_header >> (8 * i)) & 0xff));
  }
  out += header;
  out.append(padlen, ' ');
  out.push_back('\n');
  out.append(static_cast<const char*>(tensor.raw_data()), tensor.num_bytes());
  return out;
}

absl::Status WriteNpyFile(const Tensor& tensor, const std::string& path) {
  if (!tensor.valid())
    return absl::InvalidArgumentError(
        "cannot write an invalid (default-constructed) tensor to .npy");
  if (DescrFor(tensor.dtype()) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write ", DataTypeName(tensor.dtype()),
                     " to .npy: NumPy has no such dtype (convert to float32 first)"));
  }
  const std::string bytes = SerializeNpy(tensor);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    const int err = errno != 0 ? errno : EIO;
    return absl::ErrnoToStatus(err, absl::StrCat("cannot open '", path, "' for writing"));
  }
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("error writing '", path, "'"));
  return absl::OkStatus();
}

}  // namespace quiver
