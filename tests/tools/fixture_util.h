// Helpers for tests that run TensorFlow-generated fixtures: manifest parsing, reading a fixture
// folder's graph file and feeds, and tolerance-aware tensor comparison. Header-only (tests are one
// executable; keep functions inline).
//
// manifest.txt format (one directive per line; '#' starts a comment line):
//   graph <file>              (realworld manifests: the graph file in the realworld folder)
//   feed <tensor_name> <file.npy>
//   fetch <tensor_name> <file.npy>
//   rtol <float>              (default 1e-5)
//   atol <float>              (default 1e-6)
//   accuracy_min <float>      (classifiers: min fraction of argmax(first fetch) == labels.npy)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/npy.h"
#include "graph/tensor.h"
#include "graph/types.h"

namespace quiver {
namespace fixture {

struct Manifest {
  std::string graph;                                         // "graph" directive (may be empty)
  std::vector<std::pair<std::string, std::string>> feeds;    // tensor name, .npy file
  std::vector<std::pair<std::string, std::string>> fetches;  // tensor name, .npy file
  double rtol = 1e-5;
  double atol = 1e-6;
  std::optional<double> accuracy_min;
};

inline absl::StatusOr<Manifest> ParseManifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open manifest " + path);
  Manifest m;
  std::string line;
  int line_no = 0;
  auto error = [&](const std::string& what) {
    return absl::InvalidArgumentError(path + ":" + std::to_string(line_no) + ": " + what +
                                      " in line '" + line + "'");
  };
  auto parse_double = [&](std::istringstream& ss, double* out) {
    std::string word;
    if (!(ss >> word)) return false;
    char* end = nullptr;
    *out = std::strtod(word.c_str(), &end);
    return end != word.c_str() && *end == '\0';
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream ss(line);
    std::string key;
    if (!(ss >> key) || key[0] == '#') continue;
    std::string rest;
    if (key == "feed" || key == "fetch") {
      std::string name, file;
      if (!(ss >> name >> file)) return error("expected '" + key + " <tensor> <file.npy>'");
      (key == "feed" ? m.feeds : m.fetches).emplace_back(name, file);
    } else if (key == "graph") {
      if (!(ss >> m.graph)) return error("expected 'graph <file>'");
    } else if (key == "rtol" || key == "atol" || key == "accuracy_min") {
      double v = 0;
      if (!parse_double(ss, &v) || v < 0) return error("expected a non-negative number");
      if (key == "rtol") m.rtol = v;
      if (key == "atol") m.atol = v;
      if (key == "accuracy_min") m.accuracy_min = v;
    } else {
      return error("unknown directive '" + key + "'");
    }
    if (ss >> rest) return error("trailing text '" + rest + "'");
  }
  if (m.fetches.empty()) return absl::InvalidArgumentError(path + ": no fetch lines");
  return m;
}

// ---- A fixture folder: manifest.txt, graph.pb or graph.pbtxt, the .npy files it names ----

// The folder's graph file: graph.pb, or graph.pbtxt where there is no graph.pb.
inline std::filesystem::path GraphFile(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / "graph.pb";
  if (!std::filesystem::exists(path)) path = dir / "graph.pbtxt";
  return path;
}

// The manifest's fetch tensor names, in manifest order.
inline std::vector<std::string> FetchNames(const Manifest& m) {
  std::vector<std::string> names;
  for (const auto& f : m.fetches) names.push_back(f.first);
  return names;
}

// The manifest's feeds (tensor name, value; Session::Feed's shape), each read from its .npy file
// in `dir`. The first file that cannot be read is the error, naming the feed and the file.
inline absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> ReadFeeds(
    const Manifest& m, const std::filesystem::path& dir) {
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (const auto& [name, file] : m.feeds) {
    const std::string path = (dir / file).string();
    auto t = ReadNpyFile(path);
    if (!t.ok()) {
      return absl::Status(t.status().code(),
                          "feed " + name + ": cannot read " + path + ": " + t.status().ToString());
    }
    feeds.emplace_back(name, *std::move(t));
  }
  return feeds;
}

// Element i of a numeric tensor as double (NaN for unsupported dtypes).
inline double ElementValue(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DT_FLOAT:
      return t.data<float>()[i];
    case DT_DOUBLE:
      return t.data<double>()[i];
    case DT_INT32:
      return t.data<int32_t>()[i];
    case DT_INT64:
      return static_cast<double>(t.data<int64_t>()[i]);
    case DT_INT16:
      return t.data<int16_t>()[i];
    case DT_INT8:
      return t.data<int8_t>()[i];
    case DT_UINT8:
      return t.data<uint8_t>()[i];
    case DT_UINT16:
      return t.data<uint16_t>()[i];
    case DT_UINT32:
      return t.data<uint32_t>()[i];
    case DT_UINT64:
      return static_cast<double>(t.data<uint64_t>()[i]);
    case DT_BOOL:
      return t.data<bool>()[i] ? 1.0 : 0.0;
    case DT_HALF:
      return HalfToFloat(t.data<Half>()[i].bits);
    case DT_BFLOAT16:
      return BFloat16ToFloat(t.data<BFloat16>()[i].bits);
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

// Exact integer view (ints and bool); used so that int64 values beyond 2^53 compare exactly.
inline int64_t ElementInt(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DT_INT32:
      return t.data<int32_t>()[i];
    case DT_INT64:
      return t.data<int64_t>()[i];
    case DT_INT16:
      return t.data<int16_t>()[i];
    case DT_INT8:
      return t.data<int8_t>()[i];
    case DT_UINT8:
      return t.data<uint8_t>()[i];
    case DT_UINT16:
      return t.data<uint16_t>()[i];
    case DT_UINT32:
      return t.data<uint32_t>()[i];
    case DT_UINT64:
      return static_cast<int64_t>(t.data<uint64_t>()[i]);
    case DT_BOOL:
      return t.data<bool>()[i] ? 1 : 0;
    default:
      return 0;
  }
}

inline bool IsExactType(DataType dtype) { return IsIntegerType(dtype) || dtype == DT_BOOL; }

// "[1,2,0]" for flat index `flat` of `shape`.
inline std::string MultiIndex(const TensorShape& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.rank(), 0);
  for (int d = shape.rank() - 1; d >= 0; --d) {
    int64_t n = shape.dim(d);
    if (n > 0) {
      idx[d] = flat % n;
      flat /= n;
    }
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) {
    if (d) s += ',';
    s += std::to_string(idx[d]);
  }
  return s + "]";
}

inline std::string FormatValue(double v) {
  std::ostringstream os;
  os.precision(9);
  os << v;
  return os.str();
}

struct Comparison {
  bool ok = true;
  std::string message;  // empty when ok
  int64_t mismatches = 0;
  double max_abs_diff = 0;
};

// Checks dtype, shape and |a - b| <= atol + rtol * |b| elementwise (exact for ints and bools;
// NaN matches NaN, infinities must match exactly). On failure the message names the worst
// element (largest |a - b| / (atol + rtol * |b|)).
inline Comparison CompareTensors(const Tensor& actual, const Tensor& expected, double rtol,
                                 double atol) {
  Comparison c;
  if (actual.dtype() != expected.dtype()) {
    c.ok = false;
    c.message =
        "dtype " + DataTypeName(actual.dtype()) + ", expected " + DataTypeName(expected.dtype());
    return c;
  }
  if (actual.shape() != expected.shape()) {
    c.ok = false;
    c.message =
        "shape " + actual.shape().DebugString() + ", expected " + expected.shape().DebugString();
    return c;
  }
  const int64_t n = expected.num_elements();
  const bool exact = IsExactType(expected.dtype());
  int64_t worst = -1;
  double worst_score = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool bad;
    double score;
    if (exact) {
      int64_t a = ElementInt(actual, i), b = ElementInt(expected, i);
      bad = a != b;
      score = bad ? std::fabs(static_cast<double>(a) - static_cast<double>(b)) + 1 : 0;
      if (bad) c.max_abs_diff = std::max(c.max_abs_diff, score - 1);
    } else {
      double a = ElementValue(actual, i), b = ElementValue(expected, i);
      if (std::isnan(b) || std::isnan(a)) {
        bad = std::isnan(a) != std::isnan(b);
        score = bad ? std::numeric_limits<double>::infinity() : 0;
      } else if (std::isinf(b) || std::isinf(a)) {
        bad = a != b;
        score = bad ? std::numeric_limits<double>::infinity() : 0;
      } else {
        double diff = std::fabs(a - b);
        double tol = atol + rtol * std::fabs(b);
        c.max_abs_diff = std::max(c.max_abs_diff, diff);
        bad = diff > tol;
        score = tol > 0 ? diff / tol : (diff > 0 ? std::numeric_limits<double>::infinity() : 0);
      }
    }
    if (bad) {
      ++c.mismatches;
      if (worst < 0 || score > worst_score) {
        worst = i;
        worst_score = score;
      }
    }
  }
  if (c.mismatches > 0) {
    c.ok = false;
    double a = ElementValue(actual, worst), b = ElementValue(expected, worst);
    std::ostringstream os;
    os << c.mismatches << " of " << n << " elements differ (" << DataTypeName(expected.dtype())
       << expected.shape().DebugString() << ", rtol " << rtol << ", atol " << atol << "); worst at "
       << MultiIndex(expected.shape(), worst) << " (flat " << worst << "): got "
       << (exact ? std::to_string(ElementInt(actual, worst)) : FormatValue(a)) << ", expected "
       << (exact ? std::to_string(ElementInt(expected, worst)) : FormatValue(b)) << ", |diff| "
       << FormatValue(std::fabs(a - b)) << " > tol " << FormatValue(atol + rtol * std::fabs(b))
       << "; max |diff| " << FormatValue(c.max_abs_diff);
    c.message = os.str();
  }
  return c;
}

// Fraction of rows where argmax over the last axis of `scores` equals `labels` (any integer
// dtype). Returns an error on a shape mismatch.
inline absl::StatusOr<double> ArgmaxAccuracy(const Tensor& scores, const Tensor& labels) {
  if (scores.rank() < 1 || scores.dim(scores.rank() - 1) <= 0)
    return absl::InvalidArgumentError("scores need a non-empty last axis");
  const int64_t classes = scores.dim(scores.rank() - 1);
  const int64_t rows = scores.num_elements() / classes;
  if (labels.num_elements() != rows || !IsIntegerType(labels.dtype()))
    return absl::InvalidArgumentError("labels: expected " + std::to_string(rows) +
                                      " integer labels, got " + labels.DebugString());
  int64_t correct = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    double best_v = ElementValue(scores, r * classes);
    for (int64_t k = 1; k < classes; ++k) {
      double v = ElementValue(scores, r * classes + k);
      if (v > best_v) {
        best_v = v;
        best = k;
      }
    }
    if (best == ElementInt(labels, r)) ++correct;
  }
  return rows ? static_cast<double>(correct) / static_cast<double>(rows) : 0.0;
}

}  // namespace fixture
}  // namespace quiver
