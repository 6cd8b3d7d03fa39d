// Einsum (1 or 2 operands) and MatrixBandPart on the CPU.
//
// Einsum works like TF's EinsumOp: every label is a batch label (in both operands and the
// output, and every broadcasting "..." dim), a free label (one operand and the output), a
// contracted label (both operands, not the output) or a reduced label (one operand only). Each
// operand is laid out as [batch, free, contracted] (one strided copy, which also reads the
// diagonal of a repeated label, then a sum over its reduced labels; no copy at all when its
// dims are already in that order, or in [batch, contracted, free], which the matmul takes as a
// transpose), then one batched matmul through BatchMatMul's oneDNN path (broadcasting the
// "..." dims) gives [batch, free0, free1], which a last strided copy puts in the output's
// order (writing only the diagonal of a label the output repeats).
#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/einsum_equation.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::CopyDim;
using Labels = std::vector<int>;

bool Contains(const Labels& v, int l) { return std::find(v.begin(), v.end(), l) != v.end(); }

Labels Unique(const Labels& v) {
  Labels u;
  for (int l : v) {
    if (!Contains(u, l)) u.push_back(l);
  }
  return u;
}

// One operand's labels with their dims and (summed, for a repeated label) strides.
struct Operand {
  const Tensor* tensor;
  Labels labels;  // per axis
  std::vector<int64_t> strides;

  int64_t Dim(int l) const {
    for (size_t a = 0; a < labels.size(); ++a) {
      if (labels[a] == l) return tensor->dim(static_cast<int>(a));
    }
    return 1;  // a broadcast dim this operand does not have
  }
  int64_t Stride(int l) const {
    int64_t s = 0;
    for (size_t a = 0; a < labels.size(); ++a) {
      if (labels[a] == l) s += strides[a];
    }
    return s;
  }
  // Whether the operand already is [order...] (labels it lacks have size 1).
  bool InPlace(const Labels& order, const Labels& reduce) const {
    if (!reduce.empty() || Unique(labels).size() != labels.size()) return false;
    Labels present;
    for (int l : order) {
      if (Contains(labels, l)) present.push_back(l);
    }
    return present == labels;
  }
};

int64_t Product(const Operand& op, const Labels& ls) {
  int64_t p = 1;
  for (int l : ls) p *= op.Dim(l);
  return p;
}

// The operand laid out contiguously as [order...], summed over `reduce`: the input itself when
// it already is, else `buf`.
template <typename T>
const T* Prepare(const Operand& op, const Labels& order, const Labels& reduce, int threads,
                 std::vector<T>* buf) {
  if (op.InPlace(order, reduce)) return op.tensor->data<T>();
  const int64_t p = Product(op, order), r = Product(op, reduce);
  buf->assign(static_cast<size_t>(p * r), T(0));
  if (p * r > 0) {
    std::vector<CopyDim> dims;
    Labels all = order;
    all.insert(all.end(), reduce.begin(), reduce.end());
    std::vector<int64_t> sizes;
    for (int l : all) sizes.push_back(op.Dim(l));
    std::vector<int64_t> dst = array_kernels::RowMajorStrides(sizes);
    for (size_t i = 0; i < all.size(); ++i) dims.push_back({sizes[i], op.Stride(all[i]), dst[i]});
    array_kernels::StridedCopy(op.tensor->raw_data(), buf->data(), sizeof(T), 0, 0, std::move(dims),
                               threads);
  }
  if (!reduce.empty()) {
    T* d = buf->data();
    for (int64_t i = 0; i < p; ++i) {  // in place: element i is read from i*r >= i
      T sum = T(0);
      const T* row = d + i * r;
      for (int64_t j = 0; j < r; ++j) sum += row[j];
      d[i] = sum;
    }
    buf->resize(static_cast<size_t>(p), T(0));
  }
  return buf->data();
}

// Writes `res` (contiguous, [res_order...] with `dims` by label) into `out` whose axes carry
// `out_labels` (a repeated label: only its diagonal is written, the rest is zero).
template <typename T>
void Place(const T* res, const Labels& res_order, const std::vector<int64_t>& label_dim,
           const Labels& out_labels, Tensor* out, int threads) {
  T* o = out->data<T>();
  if (Unique(out_labels).size() != out_labels.size()) {
    std::fill(o, o + out->num_elements(), T(0));
  }
  if (res == o) return;
  std::vector<int64_t> sizes;
  for (int l : res_order) sizes.push_back(label_dim[l]);
  const std::vector<int64_t> src = array_kernels::RowMajorStrides(sizes);
  const std::vector<int64_t> ostr = array_kernels::RowMajorStrides(out->shape().dims());
  std::vector<CopyDim> dims;
  for (size_t i = 0; i < res_order.size(); ++i) {
    int64_t dst = 0;
    for (size_t a = 0; a < out_labels.size(); ++a) {
      if (out_labels[a] == res_order[i]) dst += ostr[a];
    }
    dims.push_back({sizes[i], src[i], dst});
  }
  array_kernels::StridedCopy(res, o, sizeof(T), 0, 0, std::move(dims), threads);
}

template <typename T>
class EinsumOp : public OpKernel {
 public:
  explicit EinsumOp(einsum::Equation eq) : eq_(std::move(eq)) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    std::vector<TensorShape> shapes;
    for (int i = 0; i < n; ++i) shapes.push_back(ctx.input(i).shape());
    absl::StatusOr<einsum::Resolved> r = einsum::Resolve(eq_, shapes);
    if (!r.ok()) return ctx.Error(std::string(r.status().message()));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape(r->OutputDims())));
    if (out->num_elements() == 0) return absl::OkStatus();
    const int threads = ctx.intra_op_threads();
    std::vector<Operand> ops;
    for (int i = 0; i < n; ++i) {
      ops.push_back({&ctx.input(i), r->input_labels[i],
                     array_kernels::RowMajorStrides(ctx.input(i).shape().dims())});
    }
    const Labels out_unique = Unique(r->output_labels);

    if (n == 1) {
      Labels reduce;
      for (int l : Unique(ops[0].labels)) {
        if (!Contains(out_unique, l)) reduce.push_back(l);
      }
      std::vector<T> buf;
      const T* res = Prepare<T>(ops[0], out_unique, reduce, threads, &buf);
      Place<T>(res, out_unique, r->label_dim, r->output_labels, out, threads);
      return absl::OkStatus();
    }

    // Two operands: classify the labels.
    Labels batch, free0, free1, contract, reduce0, reduce1;
    for (int l : out_unique) {
      const bool in0 = Contains(ops[0].labels, l), in1 = Contains(ops[1].labels, l);
      if (l >= einsum::kBroadcastLabel || (in0 && in1)) {
        batch.push_back(l);
      } else if (in0) {
        free0.push_back(l);
      } else {
        free1.push_back(l);
      }
    }
    for (int l : Unique(ops[0].labels)) {
      if (Contains(out_unique, l)) continue;
      (Contains(ops[1].labels, l) ? contract : reduce0).push_back(l);
    }
    for (int l : Unique(ops[1].labels)) {
      if (!Contains(out_unique, l) && !Contains(ops[0].labels, l)) reduce1.push_back(l);
    }
    auto concat = [](Labels a, const Labels& b, const Labels& c) {
      a.insert(a.end(), b.begin(), b.end());
      a.insert(a.end(), c.begin(), c.end());
      return a;
    };
    // An output ordered [batch, free1, free0] ("BTNH,BFNH->BNFT") is the product with the
    // operands swapped, written in place instead of transposed afterwards.
    if (concat(batch, free0, free1) != r->output_labels &&
        concat(batch, free1, free0) == r->output_labels) {
      std::swap(ops[0], ops[1]);
      std::swap(free0, free1);
      std::swap(reduce0, reduce1);
    }

    onednn::BatchMatMulDims d;
    for (int l : batch) {
      d.a_batch.push_back(ops[0].Dim(l));
      d.b_batch.push_back(ops[1].Dim(l));
      d.out_batch.push_back(r->label_dim[l]);
    }
    d.m = Product(ops[0], free0);
    d.k = Product(ops[0], contract);
    d.n = Product(ops[1], free1);
    // [batch, M, K] or, when the operand is already laid out so, [batch, K, M] transposed.
    Labels a_order = concat(batch, free0, contract);
    const Labels a_trans = concat(batch, contract, free0);
    if (!ops[0].InPlace(a_order, reduce0) && ops[0].InPlace(a_trans, reduce0)) {
      a_order = a_trans;
      d.transpose_a = true;
    }
    Labels b_order = concat(batch, contract, free1);
    const Labels b_trans = concat(batch, free1, contract);
    if (!ops[1].InPlace(b_order, reduce1) && ops[1].InPlace(b_trans, reduce1)) {
      b_order = b_trans;
      d.transpose_b = true;
    }
    std::vector<T> abuf, bbuf, cbuf;
    const T* a = Prepare<T>(ops[0], a_order, reduce0, threads, &abuf);
    const T* b = Prepare<T>(ops[1], b_order, reduce1, threads, &bbuf);

    const Labels res_order = concat(batch, free0, free1);
    int64_t res_total = d.m * d.n;
    for (int64_t x : d.out_batch) res_total *= x;
    T* c = out->data<T>();
    if (res_order != r->output_labels) {
      cbuf.resize(static_cast<size_t>(res_total));
      c = cbuf.data();
    }
    if (d.k == 0) {  // an empty sum; oneDNN rejects zero-sized dims
      std::fill(c, c + res_total, T(0));
    } else if constexpr (std::is_same_v<T, float>) {
      RETURN_IF_ERROR(onednn::MatMulF32(ctx, d, a, b, c));
    } else {
      onednn::MatMulGeneric<T>(d, a, b, c);
    }
    Place<T>(c, res_order, r->label_dim, r->output_labels, out, threads);
    return absl::OkStatus();
  }

 private:
  const einsum::Equation eq_;
};

template <typename T>
KernelOrError CreateEinsum(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(std::string equation, c.GetAttr<std::string>("equation"));
  ASSIGN_OR_RETURN(int64_t n, c.GetAttr<int64_t>("N"));
  absl::StatusOr<einsum::Equation> eq = einsum::ParseEquation(equation, static_cast<int>(n));
  if (!eq.ok()) return c.Error(std::string(eq.status().message()));
  return std::unique_ptr<OpKernel>(new EinsumOp<T>(*std::move(eq)));
}

QUIVER_REGISTER_KERNEL(KernelDef("Einsum", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       CreateEinsum<float>);
QUIVER_REGISTER_KERNEL(KernelDef("Einsum", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       CreateEinsum<double>);

// MatrixBandPart: keeps element (i, j) of each innermost matrix where
// (num_lower < 0 || i - j <= num_lower) && (num_upper < 0 || j - i <= num_upper), zero elsewhere.
// Works on bytes, so every dtype shares one kernel.
class MatrixBandPartOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    if (in.rank() < 2) {
      return ctx.Error(absl::StrCat("input must be at least 2-D (a batch of matrices), got shape ",
                                    in.shape().DebugString()));
    }
    ASSIGN_OR_RETURN(int64_t lower, array_kernels::HostScalar(ctx, 1, "num_lower"));
    ASSIGN_OR_RETURN(int64_t upper, array_kernels::HostScalar(ctx, 2, "num_upper"));
    const int64_t rows = in.dim(in.rank() - 2), cols = in.dim(in.rank() - 1);
    if (lower > rows) {
      return ctx.Error(absl::StrCat("num_lower must be negative or less or equal to number of ",
                                    "rows (", rows, ") got: ", lower));
    }
    if (upper > cols) {
      return ctx.Error(absl::StrCat("num_upper must be negative or less or equal to number of ",
                                    "columns (", cols, ") got: ", upper));
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, in.shape()));
    const int64_t total = in.num_elements();
    if (total == 0) return absl::OkStatus();
    const size_t es = DataTypeSize(in.dtype());
    const char* src = static_cast<const char*>(in.raw_data());
    char* dst = static_cast<char*>(out->raw_data());
    std::memset(dst, 0, static_cast<size_t>(total) * es);
    const int64_t batches = total / (rows * cols);
    for (int64_t b = 0; b < batches; ++b) {
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t j0 = lower < 0 ? 0 : std::max<int64_t>(0, i - lower);
        const int64_t j1 = upper < 0 ? cols : std::min<int64_t>(cols, i + upper + 1);
        if (j1 <= j0) continue;
        const int64_t off = (b * rows + i) * cols + j0;
        std::memcpy(dst + off * es, src + off * es, static_cast<size_t>(j1 - j0) * es);
      }
    }
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(KernelDef("MatrixBandPart", kCpu)
                           .TypeConstraint("T", array_kernels::AllTypes())
                           .HostMemory("num_lower")
                           .HostMemory("num_upper"),
                       [](OpKernelConstruction&) -> KernelOrError {
                         return std::unique_ptr<OpKernel>(new MatrixBandPartOp());
                       });

}  // namespace
}  // namespace quiver
