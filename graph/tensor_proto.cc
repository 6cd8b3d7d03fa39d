#include "graph/tensor_proto.h"

#include <atomic>
#include <bit>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace quiver {
namespace {

// tensor_content holds raw little-endian bytes, which we memcpy into host buffers.
static_assert(std::endian::native == std::endian::little, "Quiver assumes a little-endian host");

// Copies `n_in` typed values into `out` (n elements), TensorFlow's way: zero values
// zero-fill, fewer values repeat the last one, more values than elements is an error.
template <typename Out, typename In, typename Convert>
absl::Status FillFromField(const char* field, int n_in, const In* in, int64_t n, Out* out,
                           const std::string& what, Convert convert) {
  if (n_in > n) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", n_in, " values but ", what, " has only ", n, " elements"));
  }
  if (n_in == 0) {
    if (n > 0) std::memset(out, 0, static_cast<size_t>(n) * sizeof(Out));
    return absl::OkStatus();
  }
  for (int i = 0; i < n_in; ++i) out[i] = convert(in[i]);
  const Out last = out[n_in - 1];
  for (int64_t i = n_in; i < n; ++i) out[i] = last;
  return absl::OkStatus();
}

template <typename Out, typename Field>
absl::Status FillCast(const char* field_name, const Field& field, int64_t n, Out* out,
                      const std::string& what) {
  using In = typename Field::value_type;
  return FillFromField(field_name, field.size(), field.data(), n, out, what,
                       [](In v) { return static_cast<Out>(v); });
}

std::atomic<int64_t> g_max_proto_tensor_bytes{kDefaultMaxProtoTensorBytes};

}  // namespace

void SetMaxProtoTensorBytes(int64_t bytes) {
  g_max_proto_tensor_bytes.store(bytes, std::memory_order_relaxed);
}

int64_t MaxProtoTensorBytes() { return g_max_proto_tensor_bytes.load(std::memory_order_relaxed); }

absl::StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& proto) {
  const int dtype_int = static_cast<int>(proto.dtype());
  if (IsRefType(dtype_int) || !IsSupportedDataType(dtype_int)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported tensor dtype ", DataTypeName(dtype_int)));
  }
  const DataType dtype = static_cast<DataType>(dtype_int);
  const tensorflow::TensorShapeProto& shape_proto = proto.tensor_shape();
  if (shape_proto.unknown_rank()) {
    return absl::InvalidArgumentError("tensor_shape has unknown rank; a constant needs a shape");
  }
  std::vector<int64_t> dims;
  dims.reserve(shape_proto.dim_size());
  for (const auto& d : shape_proto.dim()) dims.push_back(d.size());
  // Validates negative dims and overflow before anything is allocated.
  auto n_or = TensorShape::ValidatedNumElements(dims);
  if (!n_or.ok()) return n_or.status();
  const int64_t n = *n_or;
  const TensorShape shape(dims);
  const size_t elem = DataTypeSize(dtype);
  const std::string what =
      absl::StrCat("dtype ", DataTypeName(dtype), " x shape ", shape.DebugString());

  if (!proto.tensor_content().empty()) {
    const std::string& content = proto.tensor_content();
    // Compare in the element domain first so that n * elem cannot overflow.
    const bool fits = static_cast<uint64_t>(n) <= SIZE_MAX / elem;
    if (!fits || content.size() != static_cast<size_t>(n) * elem) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor_content has ", content.size(), " bytes but ", what, " needs ",
          fits ? absl::StrCat(static_cast<size_t>(n) * elem) : std::string("more than 2^64")));
    }
    auto t = Tensor::Create(dtype, shape);
    if (!t.ok()) return t.status();
    if (dtype == DT_BOOL) {
      // A bool byte other than 0/1 is undefined behaviour when read; normalise.
      bool* out = t->data<bool>();
      for (int64_t i = 0; i < n; ++i) out[i] = content[i] != 0;
    } else if (n > 0) {
      std::memcpy(t->raw_data(), content.data(), content.size());
    }
    return t;
  }

  // The typed fields can describe any number of elements with a few values: bound what they
  // make us allocate (checked in the element domain so that n * elem cannot overflow).
  const int64_t max_bytes = MaxProtoTensorBytes();
  if (n > max_bytes / static_cast<int64_t>(elem)) {
    return absl::ResourceExhaustedError(absl::StrCat(what, " has ", n,
                                                     " elements, over the limit of ", max_bytes,
                                                     " bytes for a tensor in a GraphDef"));
  }
  auto t = Tensor::Create(dtype, shape);
  if (!t.ok()) return t.status();
  absl::Status s;
  switch (dtype) {
    case DT_FLOAT:
      s = FillCast("float_val", proto.float_val(), n, t->data<float>(), what);
      break;
    case DT_DOUBLE:
      s = FillCast("double_val", proto.double_val(), n, t->data<double>(), what);
      break;
    // The narrow integer types are stored widened in int_val; TF truncates them back.
    case DT_INT32:
      s = FillCast("int_val", proto.int_val(), n, t->data<int32_t>(), what);
      break;
    case DT_INT16:
      s = FillCast("int_val", proto.int_val(), n, t->data<int16_t>(), what);
      break;
    case DT_INT8:
      s = FillCast("int_val", proto.int_val(), n, t->data<int8_t>(), what);
      break;
    case DT_UINT8:
      s = FillCast("int_val", proto.int_val(), n, t->data<uint8_t>(), what);
      break;
    case DT_UINT16:
      s = FillCast("int_val", proto.int_val(), n, t->data<uint16_t>(), what);
      break;
    case DT_INT64:
      s = FillCast("int64_val", proto.int64_val(), n, t->data<int64_t>(), what);
      break;
    case DT_UINT32:
      s = FillCast("uint32_val", proto.uint32_val(), n, t->data<uint32_t>(), what);
      break;
    case DT_UINT64:
      s = FillCast("uint64_val", proto.uint64_val(), n, t->data<uint64_t>(), what);
      break;
    case DT_BOOL:
      s = FillCast("bool_val", proto.bool_val(), n, t->data<bool>(), what);
      break;
    case DT_HALF:
    case DT_BFLOAT16:
      // Both 16-bit float types keep their bit pattern in the low 16 bits of an int32.
      s = FillFromField("half_val", proto.half_val_size(), proto.half_val().data(), n,
                        t->data<uint16_t>(), what,
                        [](int32_t v) { return static_cast<uint16_t>(v & 0xffff); });
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported tensor dtype ", DataTypeName(dtype)));
  }
  if (!s.ok()) return s;
  return t;
}

void TensorToProto(const Tensor& tensor, tensorflow::TensorProto* proto) {
  proto->Clear();
  proto->set_dtype(static_cast<tensorflow::DataType>(tensor.dtype()));
  if (!tensor.valid()) return;
  auto* shape = proto->mutable_tensor_shape();
  for (int64_t d : tensor.shape().dims()) shape->add_dim()->set_size(d);
  if (tensor.num_bytes() > 0) {
    proto->set_tensor_content(static_cast<const char*>(tensor.raw_data()), tensor.num_bytes());
  }
}

}  // namespace quiver
