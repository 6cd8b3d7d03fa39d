// MNIST in IDX format (optionally gzipped), as published by LeCun et al.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quiver::data {

struct MnistSet {
  int64_t count = 0;
  int rows = 0, cols = 0;
  std::vector<float> images;   // count x rows*cols, scaled to [0, 1]
  std::vector<uint8_t> labels;  // count
};

// Reads "<dir>/<prefix>-images-idx3-ubyte[.gz]" and the matching labels, checking the magic
// numbers, sizes and that images and labels agree. prefix is "train" or "t10k".
absl::StatusOr<MnistSet> LoadMnist(const std::string& dir, const std::string& prefix);

// Reads a whole file, gunzipping it if it starts with the gzip magic.
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path);

}  // namespace quiver::data
