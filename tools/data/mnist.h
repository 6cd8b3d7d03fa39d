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

// Mini-batches like the TF tutorial's DataSet.next_batch: the order is reshuffled at every
// epoch (deterministically for a given seed), and a batch that crosses an epoch boundary takes
// the rest of the old epoch plus the start of the new one.
class MnistBatcher {
 public:
  MnistBatcher(const MnistSet& set, uint64_t seed);
  // Fills x [n, rows*cols] float32 and one-hot y [n, 10] float32.
  void NextBatch(int n, std::vector<float>* x, std::vector<float>* y);
  int epochs_completed() const { return epochs_completed_; }

 private:
  void Shuffle();
  const MnistSet& set_;
  std::vector<int64_t> order_;
  int64_t position_ = 0;
  int epochs_completed_ = 0;
  uint64_t state_;
};

// Reads a whole file, gunzipping it if it starts with the gzip magic.
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path);

}  // namespace quiver::data
