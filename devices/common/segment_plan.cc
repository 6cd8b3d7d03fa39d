#include "devices/common/segment_plan.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace quiver::segment_plans {
namespace {

absl::Status ForNode(const OpKernelContext& ctx, const absl::Status& s) {
  if (s.ok()) return s;
  return ctx.Error(std::string(s.message()));
}

// "[1,0]": the multi-index of flat position `flat` in `shape`.
std::string Position(const TensorShape& shape, int64_t flat) {
  std::vector<int64_t> idx(static_cast<size_t>(shape.rank()), 0);
  for (int d = shape.rank() - 1; d >= 0; --d) {
    const int64_t dim = shape.dim(d);
    if (dim > 0) {
      idx[d] = flat % dim;
      flat /= dim;
    }
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) absl::StrAppend(&s, d > 0 ? "," : "", idx[d]);
  return s + "]";
}

}  // namespace

absl::StatusOr<SegmentSumPlan> PlanUnsortedSegmentSum(const TensorShape& data,
                                                      const TensorShape& segment_ids,
                                                      int64_t num_segments) {
  if (num_segments < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_segments == ", num_segments, " must not be negative"));
  }
  bool prefix = segment_ids.rank() <= data.rank();
  for (int d = 0; prefix && d < segment_ids.rank(); ++d) {
    prefix = data.dim(d) == segment_ids.dim(d);
  }
  if (!prefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("data.shape = ", data.DebugString(),
                     " does not start with segment_ids.shape = ", segment_ids.DebugString()));
  }
  SegmentSumPlan p;
  p.num_segments = num_segments;
  p.n = segment_ids.num_elements();
  std::vector<int64_t> dims = {num_segments};
  for (int d = segment_ids.rank(); d < data.rank(); ++d) {
    dims.push_back(data.dim(d));
    p.inner *= data.dim(d);
  }
  p.shape = TensorShape(dims);
  return p;
}

absl::Status CheckSegmentIds(const std::vector<int64_t>& ids, const TensorShape& ids_shape,
                             int64_t num_segments) {
  for (size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] >= num_segments) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment_ids", Position(ids_shape, static_cast<int64_t>(k)), " = ", ids[k],
                       " is out of range [0, ", num_segments, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SegmentSumPlan> PlanUnsortedSegmentSum(const OpKernelContext& ctx,
                                                      int64_t num_segments) {
  auto p = PlanUnsortedSegmentSum(ctx.input(0).shape(), ctx.input(1).shape(), num_segments);
  if (!p.ok()) return ForNode(ctx, p.status());
  return p;
}

absl::Status CheckSegmentIds(const OpKernelContext& ctx, const std::vector<int64_t>& ids,
                             int64_t num_segments) {
  return ForNode(ctx, CheckSegmentIds(ids, ctx.input(1).shape(), num_segments));
}

}  // namespace quiver::segment_plans
