// A reference-counted, typed, dense, row-major tensor. Buffers are 64-byte aligned (a cache
// line and a full AVX-512 vector), come from an Allocator (a device's, or the process-wide host
// allocator by default) and are shared between Tensor copies: copying a Tensor is cheap and
// aliases the same bytes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/allocator.h"
#include "graph/tensor_shape.h"
#include "graph/types.h"

namespace quiver {

class BufferRef;

// An owned, aligned block of bytes that remembers the allocator it came from. Shared by
// Tensors through BufferRef (an intrusive count, see there).
class Buffer {
 public:
  static constexpr size_t kAlignment = Allocator::kDefaultAlignment;
  // A buffer from `allocator` (nullptr: ProcessCpuAllocator()), or ResourceExhausted naming
  // the allocator, the size and its limit. The allocator must outlive the buffer.
  static absl::StatusOr<BufferRef> Allocate(size_t bytes, Allocator* allocator = nullptr);
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  Allocator* allocator() const { return allocator_; }

 private:
  friend class BufferRef;
  Buffer(void* data, size_t size, Allocator* allocator)
      : data_(data), size_(size), allocator_(allocator) {}
  ~Buffer();
  void* data_;
  size_t size_;
  Allocator* allocator_;
  std::atomic<int64_t> refs_{1};
};

// A counted reference to a Buffer. Unlike std::shared_ptr, whose use_count() is a relaxed
// load, IsUnique() is an acquire load paired with the release of every other owner's drop: a
// kernel that finds itself the only owner also sees every earlier reader's last access to the
// bytes finish before it writes them in place (input forwarding, variable copy-on-write).
class BufferRef {
 public:
  BufferRef() = default;
  BufferRef(const BufferRef& other) : buffer_(other.buffer_) { Ref(); }
  BufferRef(BufferRef&& other) noexcept : buffer_(other.buffer_) { other.buffer_ = nullptr; }
  BufferRef& operator=(const BufferRef& other) {
    if (buffer_ != other.buffer_) {
      BufferRef copy(other);
      std::swap(buffer_, copy.buffer_);
    }
    return *this;
  }
  BufferRef& operator=(BufferRef&& other) noexcept {
    if (this != &other) {
      Unref();
      buffer_ = other.buffer_;
      other.buffer_ = nullptr;
    }
    return *this;
  }
  ~BufferRef() { Unref(); }

  Buffer* get() const { return buffer_; }
  Buffer* operator->() const { return buffer_; }
  explicit operator bool() const { return buffer_ != nullptr; }
  bool operator==(const BufferRef& other) const { return buffer_ == other.buffer_; }
  // True when this is the only reference (acquire: see the class comment).
  bool IsUnique() const {
    return buffer_ != nullptr && buffer_->refs_.load(std::memory_order_acquire) == 1;
  }

 private:
  friend class Buffer;
  explicit BufferRef(Buffer* adopted) : buffer_(adopted) {}
  void Ref() {
    if (buffer_ != nullptr) buffer_->refs_.fetch_add(1, std::memory_order_relaxed);
  }
  void Unref() {
    if (buffer_ != nullptr && buffer_->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete buffer_;
    }
    buffer_ = nullptr;
  }
  Buffer* buffer_ = nullptr;
};

// Process-wide tensor memory: bytes currently held by Buffers of every allocator (all
// sessions' devices included) and the peak since the last reset. Per-device figures come from
// each Allocator's GetStats (RunMetadata::device_memory).
struct TensorMemoryStats {
  int64_t current_bytes = 0;
  int64_t peak_bytes = 0;
};
TensorMemoryStats GetTensorMemoryStats();
void ResetTensorMemoryPeak();

class Tensor {
 public:
  Tensor() = default;  // an empty (invalid) tensor: dtype DT_INVALID
  // Allocates an uninitialised tensor from `allocator` (nullptr: the process-wide host
  // allocator). Fails on negative dims, overflow, or allocation failure (ResourceExhausted).
  static absl::StatusOr<Tensor> Create(DataType dtype, const TensorShape& shape,
                                       Allocator* allocator = nullptr);
  // Allocates a zero-filled tensor (host-accessible allocators only).
  static absl::StatusOr<Tensor> Zeros(DataType dtype, const TensorShape& shape,
                                      Allocator* allocator = nullptr);
  // Bytes a tensor of this dtype and shape needs, or InvalidArgument on negative or unknown
  // dims and ResourceExhausted when the product overflows int64 (checked before allocating).
  static absl::StatusOr<int64_t> BytesFor(DataType dtype, const TensorShape& shape);
  // Convenience for tests and small constants. Aborts-free: returns an empty tensor on misuse.
  template <typename T>
  static Tensor FromVector(const std::vector<T>& values, const TensorShape& shape);
  template <typename T>
  static Tensor Scalar(T value) {
    return FromVector<T>({value}, TensorShape{});
  }

  bool valid() const { return dtype_ != DT_INVALID; }
  DataType dtype() const { return dtype_; }
  const TensorShape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_.dim(i); }
  int64_t num_elements() const { return num_elements_; }
  size_t num_bytes() const { return static_cast<size_t>(num_elements_) * DataTypeSize(dtype_); }

  void* raw_data() { return buffer_ ? buffer_->data() : nullptr; }
  const void* raw_data() const { return buffer_ ? buffer_->data() : nullptr; }
  template <typename T>
  T* data() {
    return static_cast<T*>(raw_data());
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(raw_data());
  }
  // Copies out as a vector (tests and small host-side tensors).
  template <typename T>
  std::vector<T> ToVector() const {
    const T* p = data<T>();
    return std::vector<T>(p, p + num_elements_);
  }

  // A tensor with the same bytes and a new shape of the same element count.
  absl::StatusOr<Tensor> Reshaped(const TensorShape& shape) const;
  // A deep copy with its own buffer from `allocator` (nullptr: the process-wide host
  // allocator). Both allocators must be host-accessible; devices copy with CopyTensor.
  absl::StatusOr<Tensor> Clone(Allocator* allocator = nullptr) const;
  // The allocator that owns the bytes (nullptr for an empty tensor).
  Allocator* allocator() const { return buffer_ ? buffer_->allocator() : nullptr; }
  // Bytes of the buffer behind this tensor: num_bytes(), or more for a view of a larger buffer.
  size_t buffer_bytes() const { return buffer_ ? buffer_->size() : 0; }
  // A tensor of `shape` over this tensor's buffer (sharing it, from its start): for lists that
  // grow and shrink within one allocation (graph/ops/tensor_list_ops.cc). InvalidArgument when
  // the buffer holds fewer bytes than `shape` needs.
  absl::StatusOr<Tensor> ViewOfBuffer(const TensorShape& shape) const;
  // True if this tensor is the only owner of its buffer (safe to write in place).
  bool RefCountIsOne() const { return buffer_.IsUnique(); }
  bool SharesBufferWith(const Tensor& other) const { return buffer_ && buffer_ == other.buffer_; }

  // Element i converted to double (any numeric dtype); handy for small host-side reads.
  double ElementAsDouble(int64_t i) const;
  // Reads an integer tensor (int32 or int64) as int64 values, e.g. shapes and axes.
  absl::StatusOr<std::vector<int64_t>> AsInt64Vector() const;

  // "float32[2,3]"; with values when small.
  std::string DebugString(int max_values = 8) const;

 private:
  DataType dtype_ = DT_INVALID;
  TensorShape shape_;
  int64_t num_elements_ = 0;
  BufferRef buffer_;
};

template <typename T>
Tensor Tensor::FromVector(const std::vector<T>& values, const TensorShape& shape) {
  auto t = Create(DataTypeOf<T>::value, shape);
  if (!t.ok() || static_cast<int64_t>(values.size()) != t->num_elements()) return Tensor();
  T* out = t->template data<T>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return *std::move(t);
}

// std::vector<bool> is bit-packed; store bools byte-wise.
template <>
inline Tensor Tensor::FromVector<bool>(const std::vector<bool>& values, const TensorShape& shape) {
  auto t = Create(DT_BOOL, shape);
  if (!t.ok() || static_cast<int64_t>(values.size()) != t->num_elements()) return Tensor();
  bool* out = t->data<bool>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return *std::move(t);
}

}  // namespace quiver
