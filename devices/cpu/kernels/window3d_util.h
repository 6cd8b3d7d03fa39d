// The window of the 3-D convolutions and pools on the CPU (NDHWC): attr parsing shared by
// Conv3D, its gradients, MaxPool3D, AvgPool3D and theirs, and the output size and padding of
// each spatial dim from onednn::ComputeWindow, the 2-D ops' TF arithmetic (SAME pads
// (out-1)*stride + effective_k - in in total, the smaller half before).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace window3d {

// Spatial entries (depth, height, width) of the window attrs.
struct Attrs {
  int64_t ksize[3] = {1, 1, 1};  // pools only; convs take it from the filter
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  std::string padding;
};

// Reads and checks data_format (NDHWC only on the CPU), strides, padding (SAME or VALID) and,
// when the op has them, dilations and ksize.
inline absl::Status ParseAttrs(const OpKernelConstruction& c, Attrs* w) {
  const AttrMap& attrs = c.node().attrs();
  if (attrs.count("data_format")) {
    ASSIGN_OR_RETURN(std::string format, c.GetAttr<std::string>("data_format"));
    if (format != "NDHWC") {
      return c.Error("data_format '" + format +
                     "' is not supported on the CPU: only NDHWC (transpose the input to NDHWC)");
    }
  }
  auto get5 = [&](const char* name, int64_t* out) -> absl::Status {
    if (attrs.find(name) == attrs.end()) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::vector<int64_t> v, c.GetAttr<std::vector<int64_t>>(name));
    if (v.size() != 5) {
      return c.Error(absl::StrCat(name, " must have 5 elements (NDHWC), got ", v.size()));
    }
    if (v[0] != 1 || v[4] != 1) {
      return c.Error(absl::StrCat(name, " over the batch and depth dimensions must be 1, got [",
                                  absl::StrJoin(v, ","), "]"));
    }
    for (int i = 1; i <= 3; ++i) {
      if (v[i] < 1) {
        return c.Error(absl::StrCat(name, " must be positive, got [", absl::StrJoin(v, ","), "]"));
      }
      out[i - 1] = v[i];
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(get5("strides", w->stride));
  RETURN_IF_ERROR(get5("dilations", w->dilation));
  RETURN_IF_ERROR(get5("ksize", w->ksize));
  ASSIGN_OR_RETURN(w->padding, c.GetAttr<std::string>("padding"));
  if (w->padding != "SAME" && w->padding != "VALID") {
    return c.Error("padding must be SAME or VALID, got '" + w->padding + "'");
  }
  return absl::OkStatus();
}

// One 3-D window over an NDHWC input: sizes, output sizes and TF's padding per spatial dim.
struct Geometry {
  int64_t n = 0, c = 0;  // batch and input depth
  int64_t in[3] = {0, 0, 0}, k[3] = {1, 1, 1}, out[3] = {0, 0, 0};
  int64_t stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1};
  int64_t pad_before[3] = {0, 0, 0}, pad_after[3] = {0, 0, 0};

  int64_t InSpatial() const { return in[0] * in[1] * in[2]; }
  int64_t OutSpatial() const { return out[0] * out[1] * out[2]; }
};

// Fills the output sizes and padding of `g` (n, c, in, k set) from `w`; an error names the node
// when the window does not fit.
inline absl::Status ComputeOutput(const OpKernelContext& ctx, const Attrs& w, Geometry* g) {
  for (int i = 0; i < 3; ++i) {
    g->stride[i] = w.stride[i];
    g->dilation[i] = w.dilation[i];
    if (g->in[i] < 0 || g->k[i] < 0) return ctx.Error("sizes must be non-negative");
    if (!onednn::ComputeWindow(g->in[i], g->k[i], w.stride[i], w.dilation[i], w.padding, &g->out[i],
                               &g->pad_before[i], &g->pad_after[i])) {
      return ctx.Error(absl::StrCat(
          "the ", g->k[0], "x", g->k[1], "x", g->k[2], " window (dilations ", w.dilation[0], ",",
          w.dilation[1], ",", w.dilation[2], ") does not fit the ", g->in[0], "x", g->in[1], "x",
          g->in[2], " input with padding ", w.padding, ": the output size would be negative"));
    }
  }
  return absl::OkStatus();
}

}  // namespace window3d
}  // namespace quiver
