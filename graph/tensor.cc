#include "graph/tensor.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "devices/cpu/cpu_allocator.h"
#include "graph/status_macros.h"

namespace quiver {

namespace {
std::atomic<int64_t> g_current_bytes{0};
std::atomic<int64_t> g_peak_bytes{0};

void TrackAllocation(int64_t bytes) {
  int64_t now = g_current_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  int64_t peak = g_peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !g_peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
}  // namespace

TensorMemoryStats GetTensorMemoryStats() {
  return {g_current_bytes.load(std::memory_order_relaxed),
          g_peak_bytes.load(std::memory_order_relaxed)};
}

void ResetTensorMemoryPeak() {
  g_peak_bytes.store(g_current_bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

absl::StatusOr<BufferRef> Buffer::Allocate(size_t bytes, Allocator* allocator) {
  if (allocator == nullptr) allocator = ProcessCpuAllocator();
  void* p = allocator->AllocateRaw(kAlignment, bytes);
  if (p == nullptr) {
    AllocatorStats stats = allocator->GetStats();
    return absl::ResourceExhaustedError(absl::StrCat(
        "out of memory allocating ", bytes, " bytes on allocator '", allocator->Name(), "' (",
        stats.bytes_in_use, " bytes in use",
        stats.bytes_limit > 0 ? absl::StrCat(", limit ", stats.bytes_limit) : std::string(), ")"));
  }
  TrackAllocation(static_cast<int64_t>(bytes));
  return BufferRef(new Buffer(p, bytes, allocator));
}

Buffer::~Buffer() {
  allocator_->DeallocateRaw(data_);
  g_current_bytes.fetch_sub(static_cast<int64_t>(size_), std::memory_order_relaxed);
}

absl::StatusOr<int64_t> Tensor::BytesFor(DataType dtype, const TensorShape& shape) {
  if (!IsSupportedDataType(dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create a tensor of dtype ", DataTypeName(dtype)));
  }
  if (shape.unknown_rank()) {
    return absl::InvalidArgumentError("cannot create a tensor of unknown rank");
  }
  auto n = TensorShape::ValidatedNumElements(shape.dims());
  if (!n.ok()) return n.status();
  auto elem = static_cast<int64_t>(DataTypeSize(dtype));
  if (*n > INT64_MAX / elem) {
    return absl::ResourceExhaustedError(absl::StrCat("tensor of ", DataTypeName(dtype), " shape ",
                                                     shape.DebugString(),
                                                     " is too large: its byte size overflows"));
  }
  return *n * elem;
}

absl::StatusOr<Tensor> Tensor::Create(DataType dtype, const TensorShape& shape,
                                      Allocator* allocator) {
  auto bytes = BytesFor(dtype, shape);
  if (!bytes.ok()) return bytes.status();
  auto buffer = Buffer::Allocate(static_cast<size_t>(*bytes), allocator);
  if (!buffer.ok()) return buffer.status();
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.num_elements_ = *bytes / static_cast<int64_t>(DataTypeSize(dtype));
  t.buffer_ = *std::move(buffer);
  return t;
}

absl::StatusOr<Tensor> Tensor::Zeros(DataType dtype, const TensorShape& shape,
                                     Allocator* allocator) {
  auto t = Create(dtype, shape, allocator);
  if (t.ok() && t->num_bytes() > 0) std::memset(t->raw_data(), 0, t->num_bytes());
  return t;
}

absl::StatusOr<Tensor> Tensor::Reshaped(const TensorShape& shape) const {
  auto n = TensorShape::ValidatedNumElements(shape.dims());
  if (!n.ok()) return n.status();
  if (*n != num_elements_) {
    return absl::InvalidArgumentError(absl::StrCat("cannot reshape a tensor with ", num_elements_,
                                                   " elements to shape ", shape.DebugString()));
  }
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

absl::StatusOr<Tensor> Tensor::ViewOfBuffer(const TensorShape& shape) const {
  ASSIGN_OR_RETURN(int64_t bytes, BytesFor(dtype_, shape));
  if (static_cast<size_t>(bytes) > buffer_bytes()) {
    return absl::InvalidArgumentError(absl::StrCat("a view of shape ", shape.DebugString(),
                                                   " needs ", bytes, " bytes; the buffer has ",
                                                   buffer_bytes()));
  }
  Tensor t = *this;
  t.shape_ = shape;
  t.num_elements_ = shape.num_elements();
  return t;
}

absl::StatusOr<Tensor> Tensor::Clone(Allocator* allocator) const {
  auto t = Create(dtype_, shape_, allocator);
  if (t.ok() && num_bytes() > 0) std::memcpy(t->raw_data(), raw_data(), num_bytes());
  return t;
}

double Tensor::ElementAsDouble(int64_t i) const {
  switch (dtype_) {
    case DT_FLOAT:
      return data<float>()[i];
    case DT_DOUBLE:
      return data<double>()[i];
    case DT_INT32:
      return data<int32_t>()[i];
    case DT_INT64:
      return static_cast<double>(data<int64_t>()[i]);
    case DT_INT16:
      return data<int16_t>()[i];
    case DT_INT8:
      return data<int8_t>()[i];
    case DT_UINT8:
      return data<uint8_t>()[i];
    case DT_UINT16:
      return data<uint16_t>()[i];
    case DT_UINT32:
      return data<uint32_t>()[i];
    case DT_UINT64:
      return static_cast<double>(data<uint64_t>()[i]);
    case DT_BOOL:
      return data<bool>()[i] ? 1.0 : 0.0;
    case DT_HALF:
      return HalfToFloat(data<uint16_t>()[i]);
    case DT_BFLOAT16:
      return BFloat16ToFloat(data<uint16_t>()[i]);
    default:
      return 0.0;
  }
}

absl::StatusOr<std::vector<int64_t>> Tensor::AsInt64Vector() const {
  std::vector<int64_t> out(num_elements_);
  if (dtype_ == DT_INT32) {
    for (int64_t i = 0; i < num_elements_; ++i) out[i] = data<int32_t>()[i];
  } else if (dtype_ == DT_INT64) {
    for (int64_t i = 0; i < num_elements_; ++i) out[i] = data<int64_t>()[i];
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("expected an int32 or int64 tensor, got ", DataTypeName(dtype_)));
  }
  return out;
}

std::string Tensor::DebugString(int max_values) const {
  if (!valid()) return "<empty tensor>";
  std::string s = absl::StrCat(DataTypeName(dtype_), shape_.DebugString());
  if (num_elements_ <= max_values) {
    s += " {";
    for (int64_t i = 0; i < num_elements_; ++i) {
      if (i) s += ", ";
      absl::StrAppend(&s, ElementAsDouble(i));
    }
    s += "}";
  }
  return s;
}

}  // namespace quiver
