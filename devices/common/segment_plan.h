// The plan shared by the CPU and GPU UnsortedSegmentSum kernels
// (devices/cpu/kernels/segment_ops.cc, devices/cuda/kernels/gpu_segment_ops.cc): validation,
// output shape and loop geometry, so both devices check identically and report the same
// messages. Host code only (never included by a .cu file). Like array_plans.h: the plain
// overloads return InvalidArgument without a node prefix; the OpKernelContext ones add it.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devices/kernel.h"
#include "graph/tensor_shape.h"

namespace quiver::segment_plans {

// UnsortedSegmentSum: data viewed as [n, inner] (n = segment_ids' element count); the output
// is [num_segments] + data.shape[segment_ids.rank:], viewed as [num_segments, inner].
struct SegmentSumPlan {
  TensorShape shape;
  int64_t num_segments = 0;
  int64_t n = 0;
  int64_t inner = 1;
};
absl::StatusOr<SegmentSumPlan> PlanUnsortedSegmentSum(const TensorShape& data,
                                                      const TensorShape& segment_ids,
                                                      int64_t num_segments);

// Every id < num_segments (negative ids are allowed: they are dropped, as in TF). The error
// names the first bad id by its position in segment_ids (TF's wording):
//   "segment_ids[1,0] = 7 is out of range [0, 4)".
absl::Status CheckSegmentIds(const std::vector<int64_t>& ids, const TensorShape& ids_shape,
                             int64_t num_segments);

// From a kernel's inputs (data, segment_ids), with num_segments already read.
absl::StatusOr<SegmentSumPlan> PlanUnsortedSegmentSum(const OpKernelContext& ctx,
                                                      int64_t num_segments);
// The ids (host values) checked against num_segments, with the node prefix on errors.
absl::Status CheckSegmentIds(const OpKernelContext& ctx, const std::vector<int64_t>& ids,
                             int64_t num_segments);

}  // namespace quiver::segment_plans
