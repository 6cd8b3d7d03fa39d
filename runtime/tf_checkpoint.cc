#include "runtime/tf_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/status_macros.h"
#include "proto/tensor_bundle.pb.h"
#include "runtime/checkpoint.h"
#include "runtime/crc32c.h"

namespace quiver {
namespace {

// ---- LevelDB table format (what TF's tensor bundle index is) --------------------------------

constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;
// Metaindex and index BlockHandles (varints), zero-padded to 40 bytes, then the magic.
constexpr size_t kFooterBytes = 48;
// After each block: a compression-type byte and the masked CRC-32C of block + type byte.
constexpr size_t kBlockTrailerBytes = 5;
// TF2's object-graph entry (a serialized TrackableObjectGraph in a string tensor).
constexpr char kObjectGraphKey[] = "_CHECKPOINTABLE_OBJECT_GRAPH";
// The format version TF's bundle writer stamps (kTensorBundleVersion).
constexpr int kBundleVersion = 1;

absl::Status Corrupt(const std::string& path, const std::string& why) {
  return absl::DataLossError(absl::StrCat("TF checkpoint index '", path, "' is corrupted: ", why));
}

uint32_t DecodeFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

uint64_t DecodeFixed64(const char* p) {
  return DecodeFixed32(p) | (static_cast<uint64_t>(DecodeFixed32(p + 4)) << 32);
}

// Consumes a varint from [*p, end); false if it runs past `end` or past 64 bits.
bool GetVarint64(const char** p, const char* end, uint64_t* value) {
  uint64_t v = 0;
  for (int shift = 0; shift <= 63 && *p < end; shift += 7) {
    uint64_t byte = static_cast<uint8_t>(*(*p)++);
    v |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = v;
      return true;
    }
  }
  return false;
}

struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;
};

bool GetBlockHandle(const char** p, const char* end, BlockHandle* h) {
  return GetVarint64(p, end, &h->offset) && GetVarint64(p, end, &h->size);
}

// The index block's handle, from the footer.
absl::StatusOr<BlockHandle> ParseFooter(const std::string& file, const std::string& path) {
  if (file.size() < kFooterBytes) {
    return Corrupt(path, absl::StrCat("file has ", file.size(), " bytes, less than the ",
                                      kFooterBytes, "-byte table footer (truncated?)"));
  }
  const char* footer = file.data() + file.size() - kFooterBytes;
  if (DecodeFixed64(footer + kFooterBytes - 8) != kTableMagic) {
    return Corrupt(path,
                   "bad table magic in the footer (not a TF V2 checkpoint index, or "
                   "truncated)");
  }
  const char* end = footer + kFooterBytes - 8;
  BlockHandle metaindex, index;
  if (!GetBlockHandle(&footer, end, &metaindex) || !GetBlockHandle(&footer, end, &index)) {
    return Corrupt(path, "footer block handles run past the footer");
  }
  return index;
}

// The contents of the block at `h`, after checking its bounds, compression type and CRC.
absl::StatusOr<std::string_view> ReadBlock(const std::string& file, const BlockHandle& h,
                                           const std::string& path) {
  const uint64_t limit = file.size() - kFooterBytes;
  if (h.offset > limit || h.size > limit - h.offset ||
      limit - h.offset - h.size < kBlockTrailerBytes) {
    return Corrupt(path, absl::StrCat("block [", h.offset, ", +", h.size,
                                      ") runs past the end of the table (", limit, " bytes)"));
  }
  const char* block = file.data() + h.offset;
  const uint8_t type = static_cast<uint8_t>(block[h.size]);
  const uint32_t crc = MaskCrc32c(Crc32cExtend(Crc32c(block, h.size), &type, 1));
  if (crc != DecodeFixed32(block + h.size + 1)) {
    return Corrupt(path, absl::StrFormat("block at offset %d: CRC-32C mismatch (stored "
                                         "0x%08x, computed 0x%08x)",
                                         h.offset, DecodeFixed32(block + h.size + 1), crc));
  }
  if (type != 0) {
    return absl::UnimplementedError(
        absl::StrCat("TF checkpoint index '", path, "': block at offset ", h.offset,
                     " is compressed (type ", type, type == 1 ? ", Snappy" : "",
                     "); TensorFlow writes bundle indexes uncompressed and "
                     "only those are supported"));
  }
  return std::string_view(block, h.size);
}

using EntryFn = std::function<absl::Status(const std::string& key, std::string_view value)>;

// Calls fn for each entry of a block: prefix-compressed keys (varint shared, non-shared and
// value lengths, then the key suffix and the value), followed by the restart array.
absl::Status ForEachEntry(std::string_view block, const std::string& path, const EntryFn& fn) {
  if (block.size() < 4) return Corrupt(path, "block too small for its restart count");
  const uint64_t num_restarts = DecodeFixed32(block.data() + block.size() - 4);
  if (num_restarts > (block.size() - 4) / 4) {
    return Corrupt(path, absl::StrCat("block of ", block.size(), " bytes claims ", num_restarts,
                                      " restart points"));
  }
  const char* p = block.data();
  const char* end = block.data() + block.size() - 4 - 4 * num_restarts;
  std::string key;
  while (p < end) {
    uint64_t shared, non_shared, value_size;
    if (!GetVarint64(&p, end, &shared) || !GetVarint64(&p, end, &non_shared) ||
        !GetVarint64(&p, end, &value_size)) {
      return Corrupt(path, "entry header varint runs past the end of its block");
    }
    if (shared > key.size()) {
      return Corrupt(path, absl::StrCat("entry shares ", shared,
                                        " key bytes but the previous "
                                        "key has ",
                                        key.size()));
    }
    const uint64_t left = static_cast<uint64_t>(end - p);
    if (non_shared > left || value_size > left - non_shared) {
      return Corrupt(path, "entry key or value runs past the end of its block");
    }
    key.resize(shared);
    key.append(p, non_shared);
    p += non_shared;
    RETURN_IF_ERROR(fn(key, std::string_view(p, value_size)));
    p += value_size;
  }
  return absl::OkStatus();
}

// Every key/value of the table, in order: the index block names the data blocks.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadTable(
    const std::string& file, const std::string& path) {
  ASSIGN_OR_RETURN(BlockHandle index_handle, ParseFooter(file, path));
  ASSIGN_OR_RETURN(std::string_view index_block, ReadBlock(file, index_handle, path));
  std::vector<std::pair<std::string, std::string>> entries;
  uint64_t next_block = 0;  // data blocks are written in order and never overlap
  auto add_entry = [&](const std::string& key, std::string_view value) -> absl::Status {
    if (!entries.empty() && key <= entries.back().first) {
      return Corrupt(
          path, absl::StrCat("keys out of order: '", key, "' after '", entries.back().first, "'"));
    }
    entries.emplace_back(key, std::string(value));
    return absl::OkStatus();
  };
  auto visit_data_block = [&](const std::string&, std::string_view value) -> absl::Status {
    BlockHandle h;
    const char* p = value.data();
    if (!GetBlockHandle(&p, value.data() + value.size(), &h)) {
      return Corrupt(path, "index entry is not a block handle");
    }
    if (h.offset < next_block) {
      return Corrupt(path,
                     absl::StrCat("data block at offset ", h.offset, " overlaps the previous one"));
    }
    ASSIGN_OR_RETURN(std::string_view block, ReadBlock(file, h, path));
    next_block = h.offset + h.size + kBlockTrailerBytes;
    return ForEachEntry(block, path, add_entry);
  };
  RETURN_IF_ERROR(ForEachEntry(index_block, path, visit_data_block));
  return entries;
}

// ---- The bundle: header, entries, data shards ----------------------------------------------

absl::StatusOr<std::string> ReadIndexFile(const std::string& prefix, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string hint;
    for (std::string suffix : {".index", ".data-"}) {
      if (prefix.find(suffix) != std::string::npos) {
        hint = absl::StrCat(" (give the checkpoint prefix, without '", suffix, "...')");
      }
    }
    return absl::NotFoundError(absl::StrCat("cannot open TF checkpoint index '", path, "'", hint));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Bundle {
  std::string prefix;
  std::string index_path;
  tensorflow::BundleHeaderProto header;
  std::map<std::string, tensorflow::BundleEntryProto> entries;
};

absl::Status CheckHeader(const tensorflow::BundleHeaderProto& header, const std::string& path) {
  if (header.num_shards() <= 0) {
    return Corrupt(path, absl::StrCat("header says ", header.num_shards(), " data shards"));
  }
  if (header.endianness() != tensorflow::BundleHeaderProto::LITTLE) {
    return absl::UnimplementedError(
        absl::StrCat("TF checkpoint index '", path, "': big-endian bundles are not supported"));
  }
  if (header.version().min_consumer() > kBundleVersion) {
    return absl::UnimplementedError(absl::StrCat(
        "TF checkpoint index '", path, "': bundle format version needs a reader of version >= ",
        header.version().min_consumer(), "; this one reads version ", kBundleVersion));
  }
  return absl::OkStatus();
}

absl::StatusOr<Bundle> OpenBundle(const std::string& prefix) {
  Bundle bundle;
  bundle.prefix = prefix;
  bundle.index_path = prefix + ".index";
  const std::string& path = bundle.index_path;
  ASSIGN_OR_RETURN(std::string file, ReadIndexFile(prefix, path));
  ASSIGN_OR_RETURN(auto table, ReadTable(file, path));
  // The header sorts first: its key is the empty string.
  if (table.empty() || !table.front().first.empty()) {
    return Corrupt(path, "no bundle header (the entry under the empty key)");
  }
  if (!bundle.header.ParseFromString(table.front().second)) {
    return Corrupt(path, "the bundle header does not parse as a BundleHeaderProto");
  }
  RETURN_IF_ERROR(CheckHeader(bundle.header, path));
  for (size_t i = 1; i < table.size(); ++i) {
    tensorflow::BundleEntryProto entry;
    if (!entry.ParseFromString(table[i].second)) {
      return Corrupt(
          path, absl::StrCat("entry '", table[i].first, "' does not parse as a BundleEntryProto"));
    }
    bundle.entries.emplace(table[i].first, std::move(entry));
  }
  return bundle;
}

std::string ShardPath(const Bundle& bundle, int shard) {
  return absl::StrFormat("%s.data-%05d-of-%05d", bundle.prefix, shard, bundle.header.num_shards());
}

// offset + size for messages, without signed overflow on hostile values.
std::string RangeEnd(int64_t offset, int64_t size) {
  if (offset >= 0 && size >= 0 && size <= std::numeric_limits<int64_t>::max() - offset) {
    return absl::StrCat(offset + size);
  }
  return "beyond 2^63";
}

// Opens each data shard on first use.
class ShardReader {
 public:
  explicit ShardReader(const Bundle& bundle) : bundle_(bundle) {}

  // Whether [offset, offset + size) lies within the shard: checked before allocating.
  absl::Status Check(int shard, int64_t offset, int64_t size, const std::string& key) {
    ASSIGN_OR_RETURN(File * f, Open(shard));
    if (offset < 0 || size < 0 || offset > f->size || size > f->size - offset) {
      return absl::DataLossError(absl::StrCat("TF checkpoint '", bundle_.prefix, "': tensor '", key,
                                              "' is at bytes [", offset, ", ",
                                              RangeEnd(offset, size), ") but data shard '", f->path,
                                              "' has ", f->size, " bytes (truncated?)"));
    }
    return absl::OkStatus();
  }
  // Reads [offset, offset + size) of a shard into `out` (size bytes).
  absl::Status Read(int shard, int64_t offset, int64_t size, char* out) {
    ASSIGN_OR_RETURN(File * f, Open(shard));
    f->in.seekg(offset);
    f->in.read(out, size);
    if (!f->in) {
      return absl::DataLossError(absl::StrCat("cannot read ", size, " bytes at offset ", offset,
                                              " of data shard '", f->path, "'"));
    }
    return absl::OkStatus();
  }
  std::string path(int shard) const { return ShardPath(bundle_, shard); }

 private:
  struct File {
    std::string path;
    std::ifstream in;
    int64_t size = 0;
  };
  absl::StatusOr<File*> Open(int shard) {
    auto& slot = files_[shard];
    if (slot) return slot.get();
    auto f = std::make_unique<File>();
    f->path = path(shard);
    f->in.open(f->path, std::ios::binary | std::ios::ate);
    if (!f->in) {
      return absl::NotFoundError(absl::StrCat("cannot open data shard '", f->path,
                                              "' of TF checkpoint '", bundle_.prefix, "'"));
    }
    f->size = static_cast<int64_t>(f->in.tellg());
    slot = std::move(f);
    return slot.get();
  }
  const Bundle& bundle_;
  std::map<int, std::unique_ptr<File>> files_;
};

absl::Status EntryError(const Bundle& bundle, const std::string& key, const std::string& why,
                        absl::StatusCode code = absl::StatusCode::kDataLoss) {
  return absl::Status(
      code, absl::StrCat("TF checkpoint '", bundle.prefix, "': tensor '", key, "' ", why));
}

// The entry's dtype and shape, refusing what Quiver cannot hold.
absl::StatusOr<TensorShape> EntryShape(const Bundle& bundle, const std::string& key,
                                       const tensorflow::BundleEntryProto& entry) {
  const int dtype = entry.dtype();
  if (entry.slices_size() > 0) {
    return EntryError(bundle, key,
                      "is a partitioned (sliced) variable; only unpartitioned variables are "
                      "supported",
                      absl::StatusCode::kUnimplemented);
  }
  if (dtype == DT_STRING || !IsSupportedDataType(dtype)) {
    return EntryError(bundle, key,
                      absl::StrCat("has dtype ", DataTypeName(dtype),
                                   "; only numeric and bool tensors are supported"),
                      absl::StatusCode::kUnimplemented);
  }
  if (entry.shape().unknown_rank()) return EntryError(bundle, key, "has an unknown rank");
  std::vector<int64_t> dims;
  for (const auto& d : entry.shape().dim()) dims.push_back(d.size());
  TensorShape shape(dims);
  auto bytes = Tensor::BytesFor(static_cast<DataType>(dtype), shape);
  if (!bytes.ok())
    return EntryError(bundle, key, absl::StrCat("has a bad shape: ", bytes.status().message()));
  if (*bytes != entry.size()) {
    return EntryError(bundle, key,
                      absl::StrCat("is ", DataTypeName(dtype), shape.DebugString(), " (", *bytes,
                                   " bytes) but its entry says ", entry.size(), " bytes"));
  }
  if (entry.shard_id() < 0 || entry.shard_id() >= bundle.header.num_shards()) {
    return EntryError(bundle, key,
                      absl::StrCat("is in shard ", entry.shard_id(),
                                   " but the "
                                   "bundle has ",
                                   bundle.header.num_shards()));
  }
  return shape;
}

// Reads one tensor's bytes from its shard and checks their CRC.
absl::StatusOr<Tensor> ReadEntry(const Bundle& bundle, ShardReader& shards, const std::string& key,
                                 const tensorflow::BundleEntryProto& entry) {
  ASSIGN_OR_RETURN(TensorShape shape, EntryShape(bundle, key, entry));
  RETURN_IF_ERROR(shards.Check(entry.shard_id(), entry.offset(), entry.size(), key));
  ASSIGN_OR_RETURN(Tensor t, Tensor::Create(static_cast<DataType>(entry.dtype()), shape));
  auto* bytes = static_cast<unsigned char*>(t.raw_data());
  if (entry.size() > 0) {
    RETURN_IF_ERROR(shards.Read(entry.shard_id(), entry.offset(), entry.size(),
                                reinterpret_cast<char*>(bytes)));
  }
  const uint32_t crc = MaskCrc32c(Crc32c(bytes, entry.size()));
  if (crc != entry.crc32c()) {
    return EntryError(bundle, key,
                      absl::StrFormat("in data shard '%s': CRC-32C mismatch "
                                      "(index says 0x%08x, data gives 0x%08x)",
                                      shards.path(entry.shard_id()), entry.crc32c(), crc));
  }
  // TF stores bool as one byte; only 0 and 1 are valid C++ bools.
  if (t.dtype() == DT_BOOL) {
    for (int64_t i = 0; i < entry.size(); ++i) bytes[i] = bytes[i] != 0;
  }
  return t;
}

// ---- Restore into a session ---------------------------------------------------------------

struct GraphVariable {
  std::string node_name;
  std::string storage_name;  // what AssignVariables takes: shared_name when set
  DataType dtype = DT_INVALID;
  TensorShape shape = TensorShape::UnknownRank();
};

std::vector<GraphVariable> GraphVariables(const Graph& graph) {
  std::vector<GraphVariable> vars;
  for (const Node* n : graph.nodes()) {
    if (n->op() != "VariableV2" && n->op() != "Variable") continue;
    GraphVariable v;
    v.node_name = n->name();
    auto shared = n->GetAttr<std::string>("shared_name");
    v.storage_name = shared.ok() && !shared->empty() ? *shared : n->name();
    v.dtype = BaseType(n->output_type(0));
    if (auto shape = n->GetAttr<TensorShape>("shape"); shape.ok()) v.shape = *shape;
    vars.push_back(std::move(v));
  }
  return vars;
}

// TF keys resource variables by shared_name and ref variables by op name: try both, after a
// key the caller gave for this variable.
const tensorflow::BundleEntryProto* FindEntry(
    const Bundle& bundle, const GraphVariable& v,
    const std::map<std::string, std::string>& key_by_variable, std::string* key) {
  std::vector<std::string> candidates = {v.storage_name, v.node_name};
  if (auto given = key_by_variable.find(v.node_name); given != key_by_variable.end()) {
    candidates.insert(candidates.begin(), given->second);
  }
  for (const std::string& name : candidates) {
    auto it = bundle.entries.find(name);
    if (it != bundle.entries.end()) {
      *key = name;
      return &it->second;
    }
  }
  return nullptr;
}

absl::Status MissingKey(const Bundle& bundle, const GraphVariable& v,
                        const std::map<std::string, std::string>& key_by_variable) {
  auto given = key_by_variable.find(v.node_name);
  const std::string& wanted = given != key_by_variable.end() ? given->second : v.storage_name;
  std::string some;
  int shown = 0;
  for (const auto& [key, entry] : bundle.entries) {
    if (shown++ == 8) {
      absl::StrAppend(&some, ", ...");
      break;
    }
    absl::StrAppend(&some, shown > 1 ? ", " : "", key);
  }
  return absl::NotFoundError(absl::StrCat(
      "Key ", wanted, " not found in checkpoint '", bundle.prefix, "' (graph variable '",
      v.node_name, "'; the checkpoint has ", bundle.entries.size(), " tensors: ", some, ")"));
}

absl::Status CheckMatchesVariable(const Bundle& bundle, const std::string& key,
                                  const tensorflow::BundleEntryProto& entry,
                                  const GraphVariable& v) {
  TensorShape shape;
  for (const auto& d : entry.shape().dim()) shape.AddDim(d.size());
  if (static_cast<DataType>(entry.dtype()) != v.dtype || !v.shape.IsCompatibleWith(shape)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "variable '", v.node_name, "' is ", DataTypeName(v.dtype), v.shape.DebugString(),
        " in the graph but tensor '", key, "' of TF checkpoint '", bundle.prefix, "' is ",
        DataTypeName(entry.dtype()), shape.DebugString()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> ReadTfCheckpoint(
    const std::string& prefix) {
  ASSIGN_OR_RETURN(Bundle bundle, OpenBundle(prefix));
  ShardReader shards(bundle);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& [key, entry] : bundle.entries) {
    // TF2 checkpoints describe their object graph in one string tensor: metadata for TF's
    // object-based restore, not a value of the model.
    if (key == kObjectGraphKey) continue;
    ASSIGN_OR_RETURN(Tensor t, ReadEntry(bundle, shards, key, entry));
    tensors.emplace_back(key, std::move(t));
  }
  return tensors;
}

absl::Status RestoreTfCheckpoint(Session& session, const std::string& prefix) {
  return RestoreTfCheckpoint(session, prefix, {});
}

absl::Status RestoreTfCheckpoint(Session& session, const std::string& prefix,
                                 const std::map<std::string, std::string>& key_by_variable) {
  ASSIGN_OR_RETURN(Bundle bundle, OpenBundle(prefix));
  ShardReader shards(bundle);
  std::vector<std::pair<std::string, Tensor>> values;
  for (const GraphVariable& v : GraphVariables(session.graph())) {
    std::string key;
    const tensorflow::BundleEntryProto* entry = FindEntry(bundle, v, key_by_variable, &key);
    if (entry == nullptr) return MissingKey(bundle, v, key_by_variable);
    RETURN_IF_ERROR(CheckMatchesVariable(bundle, key, *entry, v));
    ASSIGN_OR_RETURN(Tensor t, ReadEntry(bundle, shards, key, *entry));
    values.emplace_back(v.storage_name, std::move(t));
  }
  return session.AssignVariables(values);
}

absl::Status RestoreAnyCheckpoint(Session& session, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(path + ".index", ec)) return RestoreTfCheckpoint(session, path);
  constexpr std::string_view kIndex = ".index";
  if (path.size() > kIndex.size() && path.ends_with(kIndex) && fs::is_regular_file(path, ec)) {
    return RestoreTfCheckpoint(session, path.substr(0, path.size() - kIndex.size()));
  }
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("no checkpoint at '", path,
                                            "': not a Quiver checkpoint file, and '", path,
                                            ".index' (a TF checkpoint prefix) does not exist"));
  }
  return RestoreCheckpoint(session, path).status();
}

}  // namespace quiver
