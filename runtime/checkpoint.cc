#include "runtime/checkpoint.h"

#include <zlib.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"
#include "graph/tensor_proto.h"
#include "proto/checkpoint.pb.h"
#include "runtime/atomic_file.h"

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
