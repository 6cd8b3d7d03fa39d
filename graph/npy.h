// NumPy .npy files (format versions 1.0-3.0): little-endian, C order, the dtypes of types.h.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "graph/tensor.h"

namespace quiver {

absl::StatusOr<Tensor> ParseNpy(const std::string& bytes);
absl::StatusOr<Tensor> ReadNpyFile(const std::string& path);
std::string SerializeNpy(const Tensor& tensor);
absl::Status WriteNpyFile(const Tensor& tensor, const std::string& path);

}  // namespace quiver
