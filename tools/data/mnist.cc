#include "tools/data/mnist.h"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace quiver::data {

absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string raw = ss.str();
  if (raw.size() < 2 || static_cast<uint8_t>(raw[0]) != 0x1f || static_cast<uint8_t>(raw[1]) != 0x8b) {
    return raw;
  }
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return absl::InternalError("zlib init failed");
  zs.next_in = reinterpret_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  std::string out;
  char buf[1 << 16];
  int ret;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    ret = inflate(&zs, Z_NO_FLUSH);
    if (ret != Z_OK && ret != Z_STREAM_END) {
      inflateEnd(&zs);
      return absl::DataLossError(absl::StrCat("'", path, "' is not valid gzip data"));
    }
    out.append(buf, sizeof(buf) - zs.avail_out);
  } while (ret != Z_STREAM_END);
  inflateEnd(&zs);
  return out;
}

namespace {

uint32_t BigEndian32(const std::string& s, size_t offset) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[offset + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

absl::StatusOr<std::string> ReadIdx(const std::string& dir, const std::string& name) {
  std::string path = absl::StrCat(dir, "/", name);
  if (std::filesystem::exists(path + ".gz")) return ReadMaybeGzipped(path + ".gz");
  return ReadMaybeGzipped(path);
}

}  // namespace

absl::StatusOr<MnistSet> LoadMnist(const std::string& dir, const std::string& prefix) {
  auto images = ReadIdx(dir, prefix + "-images-idx3-ubyte");
  if (!images.ok()) return images.status();
  auto labels = ReadIdx(dir, prefix + "-labels-idx1-ubyte");
  if (!labels.ok()) return labels.status();
  if (images->size() < 16 || BigEndian32(*images, 0) != 0x00000803) {
    return absl::DataLossError(absl::StrCat(prefix, " images: bad IDX header (magic must be 0x803)"));
  }
  if (labels->size() < 8 || BigEndian32(*labels, 0) != 0x00000801) {
    return absl::DataLossError(absl::StrCat(prefix, " labels: bad IDX header (magic must be 0x801)"));
  }
  MnistSet set;
  set.count = BigEndian32(*images, 4);
  set.rows = static_cast<int>(BigEndian32(*images, 8));
  set.cols = static_cast<int>(BigEndian32(*images, 12));
  int64_t pixels = static_cast<int64_t>(set.rows) * set.cols;
  if (set.rows <= 0 || set.cols <= 0 || set.rows > 4096 || set.cols > 4096 ||
      images->size() != 16 + static_cast<size_t>(set.count * pixels)) {
    return absl::DataLossError(absl::StrCat(prefix, " images: header says ", set.count, "x", set.rows,
                                            "x", set.cols, " but the file has ", images->size(), " bytes"));
  }
  if (BigEndian32(*labels, 4) != set.count || labels->size() != 8 + static_cast<size_t>(set.count)) {
    return absl::DataLossError(absl::StrCat(prefix, " labels do not match the ", set.count, " images"));
  }
  set.images.resize(set.count * pixels);
  for (int64_t i = 0; i < set.count * pixels; ++i) {
    set.images[i] = static_cast<uint8_t>((*images)[16 + i]) / 255.0f;
  }
  set.labels.assign(labels->begin() + 8, labels->end());
  for (uint8_t l : set.labels) {
    if (l > 9) return absl::DataLossError(absl::StrCat(prefix, " labels: value ", int(l), " out of range"));
  }
  return set;
}

MnistBatcher::MnistBatcher(const MnistSet& set, uint64_t seed) : set_(set), state_(seed) {
  order_.resize(set.count);
  for (int64_t i = 0; i < set.count; ++i) order_[i] = i;
  Shuffle();
}

void MnistBatcher::Shuffle() {
  // splitmix64-driven Fisher-Yates: deterministic across platforms, unlike std::shuffle.
  auto next = [this] {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  for (int64_t i = static_cast<int64_t>(order_.size()) - 1; i > 0; --i) {
    std::swap(order_[i], order_[next() % static_cast<uint64_t>(i + 1)]);
  }
}

void MnistBatcher::NextBatch(int n, std::vector<float>* x, std::vector<float>* y) {
  const int64_t pixels = static_cast<int64_t>(set_.rows) * set_.cols;
  x->resize(static_cast<size_t>(n) * pixels);
  y->assign(static_cast<size_t>(n) * 10, 0.0f);
  for (int i = 0; i < n; ++i) {
    if (position_ == set_.count) {
      ++epochs_completed_;
      position_ = 0;
      Shuffle();
    }
    int64_t idx = order_[position_++];
    std::copy_n(set_.images.begin() + idx * pixels, pixels, x->begin() + i * pixels);
    (*y)[i * 10 + set_.labels[idx]] = 1.0f;
  }
}

}  // namespace quiver::data
