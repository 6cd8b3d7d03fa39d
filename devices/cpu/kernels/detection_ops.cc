// CPU kernels of the detection post-processing ops (graph/ops/detection_ops.cc), following
// tensorflow/core/kernels/image/non_max_suppression_op.cc and crop_and_resize_op.cc:
//  - NonMaxSuppressionV3/V4/V5: TF's greedy selection over a priority queue (higher score first,
//    equal scores by lower box index), IoU of [y1,x1,y2,x2] boxes in any corner order, hard
//    suppression when IoU > iou_threshold, only scores > score_threshold kept; V5 with
//    soft_nms_sigma > 0 re-scores by exp(-0.5 * iou^2 / sigma) (Gaussian soft-NMS) and
//    re-queues a candidate whose score dropped but stays above score_threshold.
//  - CropAndResize: TF's sampling (align-corners style mapping of normalized box corners onto
//    [0, size-1], bilinear lerp or round-half-away nearest, extrapolation_value outside).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <queue>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

// TF's float sampling positions and IoUs are computed without fused multiply-adds; contracting
// y1 * (h - 1) + y * scale into an FMA moves samples that sit on a rounding boundary.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace quiver {
namespace {

using array_kernels::InitFactory;

// ---- NonMaxSuppression ----------------------------------------------------------------------

// IoU of boxes i and j of the [n, 4] row-major `b`; 0 when either box has no area (TF).
float Iou(const float* b, int i, int j) {
  const float* p = b + 4 * static_cast<int64_t>(i);
  const float* q = b + 4 * static_cast<int64_t>(j);
  const float ymin_i = std::min(p[0], p[2]), xmin_i = std::min(p[1], p[3]);
  const float ymax_i = std::max(p[0], p[2]), xmax_i = std::max(p[1], p[3]);
  const float ymin_j = std::min(q[0], q[2]), xmin_j = std::min(q[1], q[3]);
  const float ymax_j = std::max(q[0], q[2]), xmax_j = std::max(q[1], q[3]);
  const float area_i = (ymax_i - ymin_i) * (xmax_i - xmin_i);
  const float area_j = (ymax_j - ymin_j) * (xmax_j - xmin_j);
  if (area_i <= 0.0f || area_j <= 0.0f) return 0.0f;
  const float iy0 = std::max(ymin_i, ymin_j), ix0 = std::max(xmin_i, xmin_j);
  const float iy1 = std::min(ymax_i, ymax_j), ix1 = std::min(xmax_i, xmax_j);
  const float inter = std::max(iy1 - iy0, 0.0f) * std::max(ix1 - ix0, 0.0f);
  return inter / (area_i + area_j - inter);
}

struct NmsResult {
  std::vector<int32_t> indices;
  std::vector<float> scores;
  int32_t valid = 0;
};

// TF's DoNonMaxSuppressionOp (float boxes and scores, IoU similarity).
NmsResult RunNms(const float* boxes, const float* scores, int num_boxes, int max_output_size,
                 float iou_threshold, float score_threshold, float soft_nms_sigma, bool pad) {
  struct Candidate {
    int box_index;
    float score;
    int suppress_begin_index;
  };
  auto cmp = [](const Candidate& a, const Candidate& b) {
    return (a.score == b.score && a.box_index > b.box_index) || a.score < b.score;
  };
  std::priority_queue<Candidate, std::deque<Candidate>, decltype(cmp)> queue(cmp);
  for (int i = 0; i < num_boxes; ++i) {
    if (scores[i] > score_threshold) queue.push(Candidate{i, scores[i], 0});
  }
  const bool soft = soft_nms_sigma > 0.0f;
  const float scale = soft ? -0.5f / soft_nms_sigma : 0.0f;
  auto weight = [&](float sim) {
    const float w = std::exp(scale * sim * sim);
    return soft || sim <= iou_threshold ? w : 0.0f;
  };
  NmsResult r;
  while (static_cast<int>(r.indices.size()) < max_output_size && !queue.empty()) {
    Candidate next = queue.top();
    const float original = next.score;
    queue.pop();
    bool hard = false;
    for (int j = static_cast<int>(r.indices.size()) - 1; j >= next.suppress_begin_index; --j) {
      const float sim = Iou(boxes, next.box_index, r.indices[j]);
      next.score *= weight(sim);
      if (!soft && sim > iou_threshold) {
        hard = true;
        break;
      }
      if (next.score <= score_threshold) break;
    }
    next.suppress_begin_index = static_cast<int>(r.indices.size());
    if (hard) continue;
    if (next.score == original) {
      r.indices.push_back(next.box_index);
      r.scores.push_back(next.score);
      continue;
    }
    if (next.score > score_threshold) queue.push(next);
  }
  r.valid = static_cast<int32_t>(r.indices.size());
  if (pad) {
    r.indices.resize(max_output_size, 0);
    r.scores.resize(max_output_size, 0.0f);
  }
  return r;
}

absl::StatusOr<float> ScalarFloat(const OpKernelContext& ctx, int i, const char* what) {
  const Tensor& t = ctx.input(i);
  if (t.rank() != 0) {
    return ctx.Error(absl::StrCat(what, " must be 0-D, got shape ", t.shape().DebugString()));
  }
  return t.data<float>()[0];
}

// version 3, 4 or 5.
template <int kVersion>
class NonMaxSuppressionOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    if constexpr (kVersion >= 4) {
      ASSIGN_OR_RETURN(pad_, c.GetAttr<bool>("pad_to_max_output_size"));
    }
    return absl::OkStatus();
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& boxes = ctx.input(0);
    const Tensor& scores = ctx.input(1);
    const Tensor& max_t = ctx.input(2);
    if (max_t.rank() != 0) {
      return ctx.Error(
          absl::StrCat("max_output_size must be 0-D, got shape ", max_t.shape().DebugString()));
    }
    const int max_output_size = max_t.data<int32_t>()[0];
    if (max_output_size < 0) {
      return ctx.Error(absl::StrCat("max_output_size must be non-negative, got ", max_output_size));
    }
    ASSIGN_OR_RETURN(const float iou_threshold, ScalarFloat(ctx, 3, "iou_threshold"));
    ASSIGN_OR_RETURN(const float score_threshold, ScalarFloat(ctx, 4, "score_threshold"));
    float sigma = 0.0f;
    if constexpr (kVersion == 5) {
      ASSIGN_OR_RETURN(sigma, ScalarFloat(ctx, 5, "soft_nms_sigma"));
      if (!(sigma >= 0.0f)) return ctx.Error("soft_nms_sigma must be non-negative");
    }
    if (!(iou_threshold >= 0.0f && iou_threshold <= 1.0f)) {
      return ctx.Error(absl::StrCat("iou_threshold must be in [0, 1], got ", iou_threshold));
    }
    if (boxes.rank() != 2) {
      return ctx.Error(absl::StrCat("boxes must be 2-D, got shape ", boxes.shape().DebugString()));
    }
    if (boxes.dim(1) != 4) {
      return ctx.Error(
          absl::StrCat("boxes must have 4 columns, got shape ", boxes.shape().DebugString()));
    }
    if (scores.rank() != 1) {
      return ctx.Error(
          absl::StrCat("scores must be 1-D, got shape ", scores.shape().DebugString()));
    }
    if (scores.dim(0) != boxes.dim(0)) {
      return ctx.Error(absl::StrCat("scores has incompatible shape: boxes ",
                                    boxes.shape().DebugString(), ", scores ",
                                    scores.shape().DebugString()));
    }
    if (boxes.dim(0) > INT32_MAX) return ctx.Error("too many boxes");
    const NmsResult r =
        RunNms(boxes.data<float>(), scores.data<float>(), static_cast<int>(boxes.dim(0)),
               max_output_size, iou_threshold, score_threshold, sigma, pad_);
    const int64_t n = static_cast<int64_t>(r.indices.size());
    ASSIGN_OR_RETURN(Tensor * idx, ctx.allocate_output(0, TensorShape{n}));
    std::copy(r.indices.begin(), r.indices.end(), idx->data<int32_t>());
    int valid_output = 1;
    if constexpr (kVersion == 5) {
      ASSIGN_OR_RETURN(Tensor * sc, ctx.allocate_output(1, TensorShape{n}));
      std::copy(r.scores.begin(), r.scores.end(), sc->data<float>());
      valid_output = 2;
    }
    if constexpr (kVersion >= 4) {
      ASSIGN_OR_RETURN(Tensor * valid, ctx.allocate_output(valid_output, TensorShape{}));
      valid->data<int32_t>()[0] = r.valid;
    }
    return absl::OkStatus();
  }

 private:
  bool pad_ = false;
};

// ---- CropAndResize --------------------------------------------------------------------------

template <typename T>
class CropAndResizeOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(std::string method, c.GetAttr<std::string>("method"));
    if (method != "bilinear" && method != "nearest") {
      return absl::InvalidArgumentError(
          absl::StrCat("method must be 'bilinear' or 'nearest', got '", method, "'"));
    }
    nearest_ = method == "nearest";
    ASSIGN_OR_RETURN(extrapolation_value_, c.GetAttr<float>("extrapolation_value"));
    return absl::OkStatus();
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& image = ctx.input(0);
    const Tensor& boxes = ctx.input(1);
    const Tensor& box_ind = ctx.input(2);
    const Tensor& crop_size = ctx.input(3);
    if (image.rank() != 4) {
      return ctx.Error(
          absl::StrCat("input image must be 4-D, got shape ", image.shape().DebugString()));
    }
    const int64_t batch = image.dim(0), ih = image.dim(1), iw = image.dim(2), depth = image.dim(3);
    if (ih <= 0 || iw <= 0) return ctx.Error("image dimensions must be positive");
    int64_t num_boxes = 0;
    if (!(boxes.num_elements() == 0 && box_ind.num_elements() == 0)) {
      if (boxes.rank() != 2) {
        return ctx.Error(
            absl::StrCat("boxes must be 2-D, got shape ", boxes.shape().DebugString()));
      }
      num_boxes = boxes.dim(0);
      if (boxes.dim(1) != 4) {
        return ctx.Error(
            absl::StrCat("boxes must have 4 columns, got shape ", boxes.shape().DebugString()));
      }
      if (box_ind.rank() != 1) {
        return ctx.Error(
            absl::StrCat("box_ind must be 1-D, got shape ", box_ind.shape().DebugString()));
      }
      if (box_ind.dim(0) != num_boxes) {
        return ctx.Error(absl::StrCat("box_ind has incompatible shape: boxes ",
                                      boxes.shape().DebugString(), ", box_ind ",
                                      box_ind.shape().DebugString()));
      }
    }
    if (crop_size.rank() != 1 || crop_size.dim(0) != 2) {
      return ctx.Error(absl::StrCat("crop_size must be a 1-D tensor of length 2, got shape ",
                                    crop_size.shape().DebugString()));
    }
    const int32_t ch = crop_size.data<int32_t>()[0], cw = crop_size.data<int32_t>()[1];
    if (ch <= 0 || cw <= 0) {
      return ctx.Error(absl::StrCat("crop dimensions must be positive, got ", ch, "x", cw));
    }
    const int32_t* bi = num_boxes > 0 ? box_ind.data<int32_t>() : nullptr;
    for (int64_t b = 0; b < num_boxes; ++b) {
      if (bi[b] < 0 || bi[b] >= batch) {
        return ctx.Error(absl::StrCat("box_ind has values outside [0, batch_size): box_ind[", b,
                                      "] = ", bi[b], ", batch_size ", batch));
      }
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{num_boxes, ch, cw, depth}));
    if (num_boxes == 0 || depth == 0) return absl::OkStatus();
    const T* img = image.data<T>();
    const float* bx = boxes.data<float>();
    float* o = out->data<float>();
    const int image_height = static_cast<int>(ih), image_width = static_cast<int>(iw);
    const float ext = extrapolation_value_;
    auto at = [&](int64_t b, int64_t y, int64_t x, int64_t d) {
      return static_cast<float>(img[((b * ih + y) * iw + x) * depth + d]);
    };
    for (int64_t b = 0; b < num_boxes; ++b) {
      const float y1 = bx[b * 4], x1 = bx[b * 4 + 1], y2 = bx[b * 4 + 2], x2 = bx[b * 4 + 3];
      const int64_t src = bi[b];
      // The same expressions (and float/double mix) as TF's CropAndResizePerBox.
      const float height_scale = (ch > 1) ? (y2 - y1) * (image_height - 1) / (ch - 1) : 0;
      const float width_scale = (cw > 1) ? (x2 - x1) * (image_width - 1) / (cw - 1) : 0;
      for (int y = 0; y < ch; ++y) {
        float* row = o + ((b * ch + y) * cw) * depth;
        const float in_y = (ch > 1) ? y1 * (image_height - 1) + y * height_scale
                                    : 0.5 * (y1 + y2) * (image_height - 1);
        if (in_y < 0 || in_y > image_height - 1) {
          std::fill(row, row + cw * depth, ext);
          continue;
        }
        const int top = static_cast<int>(std::floor(in_y));
        const int bottom = static_cast<int>(std::ceil(in_y));
        const float y_lerp = in_y - top;
        const int near_y = static_cast<int>(std::round(in_y));
        for (int x = 0; x < cw; ++x) {
          float* px = row + static_cast<int64_t>(x) * depth;
          const float in_x = (cw > 1) ? x1 * (image_width - 1) + x * width_scale
                                      : 0.5 * (x1 + x2) * (image_width - 1);
          if (in_x < 0 || in_x > image_width - 1) {
            std::fill(px, px + depth, ext);
            continue;
          }
          if (nearest_) {
            const int near_x = static_cast<int>(std::round(in_x));
            for (int64_t d = 0; d < depth; ++d) px[d] = at(src, near_y, near_x, d);
            continue;
          }
          const int left = static_cast<int>(std::floor(in_x));
          const int right = static_cast<int>(std::ceil(in_x));
          const float x_lerp = in_x - left;
          for (int64_t d = 0; d < depth; ++d) {
            const float tl = at(src, top, left, d), tr = at(src, top, right, d);
            const float bl = at(src, bottom, left, d), br = at(src, bottom, right, d);
            const float t = tl + (tr - tl) * x_lerp;
            const float bo = bl + (br - bl) * x_lerp;
            px[d] = t + (bo - t) * y_lerp;
          }
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  bool nearest_ = false;
  float extrapolation_value_ = 0.0f;
};

QUIVER_REGISTER_KERNEL(KernelDef("NonMaxSuppressionV3", kCpu)
                           .TypeConstraint("T", {DT_FLOAT})
                           .TypeConstraint("T_threshold", {DT_FLOAT}),
                       InitFactory<NonMaxSuppressionOp<3>>());
QUIVER_REGISTER_KERNEL(KernelDef("NonMaxSuppressionV4", kCpu)
                           .TypeConstraint("T", {DT_FLOAT})
                           .TypeConstraint("T_threshold", {DT_FLOAT}),
                       InitFactory<NonMaxSuppressionOp<4>>());
QUIVER_REGISTER_KERNEL(KernelDef("NonMaxSuppressionV5", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       InitFactory<NonMaxSuppressionOp<5>>());

#define QUIVER_CROP_AND_RESIZE(T)                                         \
  QUIVER_REGISTER_KERNEL(KernelDef("CropAndResize", kCpu)                 \
                             .TypeConstraint("T", {DataTypeOf<T>::value}) \
                             .HostMemory("crop_size"),                    \
                         InitFactory<CropAndResizeOp<T>>())
QUIVER_CROP_AND_RESIZE(float);
QUIVER_CROP_AND_RESIZE(double);
QUIVER_CROP_AND_RESIZE(uint8_t);
QUIVER_CROP_AND_RESIZE(uint16_t);
QUIVER_CROP_AND_RESIZE(int8_t);
QUIVER_CROP_AND_RESIZE(int16_t);
QUIVER_CROP_AND_RESIZE(int32_t);
QUIVER_CROP_AND_RESIZE(int64_t);
#undef QUIVER_CROP_AND_RESIZE

}  // namespace
}  // namespace quiver
