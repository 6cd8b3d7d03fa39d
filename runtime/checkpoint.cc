#include "runtime/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"
#include "graph/tensor_proto.h"
#include "proto/checkpoint.pb.h"

namespace quiver {
namespace {

constexpr char kMagic[8] = {'Q', 'V', 'R', 'C', 'K', 'P', 'T', '1'};
constexpr size_t kHeaderBytes = 8 + 8 + 4;

void PutLE(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetLE(const std::string& s, size_t offset, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(s[offset + i])) << (8 * i);
  return v;
}

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " '", path, "': ", std::strerror(errno)));
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return ErrnoError("cannot create", tmp);
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status s = ErrnoError("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    absl::Status s = ErrnoError("cannot flush", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status s = ErrnoError("cannot rename over", path);
    ::unlink(tmp.c_str());
    return s;
  }
  // Make the rename itself durable.
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SaveCheckpoint(Session& session, const std::string& path, int64_t global_step) {
  ASSIGN_OR_RETURN(auto variables, session.ReadVariables());
  CheckpointProto proto;
  proto.set_global_step(global_step);
  for (const auto& [name, value] : variables) {
    auto* v = proto.add_variables();
    v->set_name(name);
    TensorToProto(value, v->mutable_tensor());
  }
  std::string payload;
  if (!proto.SerializeToString(&payload)) return absl::InternalError("cannot serialize checkpoint");
  std::string file(kMagic, sizeof(kMagic));
  PutLE(&file, payload.size(), 8);
  PutLE(
      &file,
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())),
      4);
  file += payload;
  return WriteFileAtomically(path, file);
}

absl::StatusOr<int64_t> RestoreCheckpoint(Session& session, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open checkpoint '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string file = ss.str();
  auto corrupt = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat("checkpoint '", path, "' is corrupted: ", why));
  };
  if (file.size() < kHeaderBytes || std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    return corrupt("not a Quiver checkpoint (bad magic)");
  }
  uint64_t length = GetLE(file, 8, 8);
  if (length != file.size() - kHeaderBytes) {
    return corrupt(absl::StrCat("header says ", length, " payload bytes but the file has ",
                                file.size() - kHeaderBytes, " (truncated?)"));
  }
  uint32_t expected_crc = static_cast<uint32_t>(GetLE(file, 16, 4));
  uint32_t crc = crc32(0L, reinterpret_cast<const Bytef*>(file.data() + kHeaderBytes),
                       static_cast<uInt>(length));
  if (crc != expected_crc) return corrupt("checksum mismatch");
  CheckpointProto proto;
  if (!proto.ParseFromArray(file.data() + kHeaderBytes, static_cast<int>(length))) {
    return corrupt("payload does not parse");
  }
  std::vector<std::pair<std::string, Tensor>> values;
  for (const auto& v : proto.variables()) {
    auto t = TensorFromProto(v.tensor());
    if (!t.ok()) return corrupt(absl::StrCat("variable '", v.name(), "': ", t.status().message()));
    values.emplace_back(v.name(), *std::move(t));
  }
  RETURN_IF_ERROR(session.AssignVariables(values));
  return proto.global_step();
}

}  // namespace quiver
