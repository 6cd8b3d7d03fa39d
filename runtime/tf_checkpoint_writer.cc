// Writes TF V2 tensor bundles the way TensorFlow's BundleWriter does (tensor_bundle.cc, on
// TSL's LevelDB-format table builder), so that tf.train.Saver.restore, tf.train.load_checkpoint
// and Quiver's own reader load them. Layout choices copied from TF, so the files come out
// byte-identical to TF's for the same tensors: tensors in key order in one data shard with no
// padding; index data blocks of 256 KiB with a restart point every 16 keys; index-block keys
// shortened as TF's bytewise comparator shortens them; no compression.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/status_macros.h"
#include "proto/tensor_bundle.pb.h"
#include "runtime/atomic_file.h"
#include "runtime/crc32c.h"
#include "runtime/tf_checkpoint.h"

namespace quiver {
namespace {

constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;
constexpr size_t kMaxBlockHandleBytes = 20;  // two varint64s
constexpr int kDataRestartInterval = 16;
constexpr int kIndexRestartInterval = 1;

void PutFixed32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;
  void EncodeTo(std::string* out) const {
    PutVarint64(out, offset);
    PutVarint64(out, size);
  }
};

// One block: prefix-compressed entries, then the restart offsets and their count.
class BlockBuilder {
 public:
  explicit BlockBuilder(int restart_interval) : restart_interval_(restart_interval) {}

  void Add(const std::string& key, const std::string& value) {
    size_t shared = 0;
    if (counter_ < restart_interval_) {
      const size_t limit = std::min(last_key_.size(), key.size());
      while (shared < limit && last_key_[shared] == key[shared]) ++shared;
    } else {
      restarts_.push_back(static_cast<uint32_t>(buffer_.size()));
      counter_ = 0;
    }
    PutVarint64(&buffer_, shared);
    PutVarint64(&buffer_, key.size() - shared);
    PutVarint64(&buffer_, value.size());
    buffer_.append(key, shared, std::string::npos);
    buffer_ += value;
    last_key_ = key;
    ++counter_;
  }
  // What Finish would return, in bytes (TF's CurrentSizeEstimate).
  size_t SizeEstimate() const { return buffer_.size() + 4 * restarts_.size() + 4; }
  bool empty() const { return buffer_.empty(); }
  std::string Finish() {
    std::string out = std::move(buffer_);
    for (uint32_t r : restarts_) PutFixed32(&out, r);
    PutFixed32(&out, static_cast<uint32_t>(restarts_.size()));
    buffer_.clear();
    restarts_ = {0};
    counter_ = 0;
    last_key_.clear();
    return out;
  }

 private:
  int restart_interval_;
  std::string buffer_;
  std::vector<uint32_t> restarts_ = {0};
  int counter_ = 0;
  std::string last_key_;
};

// The shortest key k with start <= k < limit (LevelDB's BytewiseComparator).
void ShortenSeparator(std::string* start, const std::string& limit) {
  const size_t min_length = std::min(start->size(), limit.size());
  size_t diff = 0;
  while (diff < min_length && (*start)[diff] == limit[diff]) ++diff;
  if (diff >= min_length) return;  // one is a prefix of the other
  const auto byte = static_cast<uint8_t>((*start)[diff]);
  if (byte < 0xff && byte + 1 < static_cast<uint8_t>(limit[diff])) {
    (*start)[diff] = static_cast<char>(byte + 1);
    start->resize(diff + 1);
  }
}

// The shortest key >= key.
void ShortSuccessor(std::string* key) {
  for (size_t i = 0; i < key->size(); ++i) {
    const auto byte = static_cast<uint8_t>((*key)[i]);
    if (byte != 0xff) {
      (*key)[i] = static_cast<char>(byte + 1);
      key->resize(i + 1);
      return;
    }
  }
}

// A LevelDB-format table of sorted keys (TSL's TableBuilder, uncompressed).
class TableBuilder {
 public:
  explicit TableBuilder(size_t block_bytes) : block_bytes_(block_bytes) {}

  void Add(const std::string& key, const std::string& value) {
    if (pending_index_entry_) {
      ShortenSeparator(&last_key_, key);
      AddIndexEntry();
    }
    data_block_.Add(key, value);
    last_key_ = key;
    if (data_block_.SizeEstimate() >= block_bytes_) Flush();
  }

  std::string Finish() {
    Flush();
    const BlockHandle meta = WriteBlock(BlockBuilder(kDataRestartInterval).Finish());
    if (pending_index_entry_) {
      ShortSuccessor(&last_key_);
      AddIndexEntry();
    }
    const BlockHandle index = WriteBlock(index_block_.Finish());
    std::string footer;
    meta.EncodeTo(&footer);
    index.EncodeTo(&footer);
    footer.resize(2 * kMaxBlockHandleBytes, '\0');
    PutFixed32(&footer, static_cast<uint32_t>(kTableMagic & 0xffffffffu));
    PutFixed32(&footer, static_cast<uint32_t>(kTableMagic >> 32));
    file_ += footer;
    return std::move(file_);
  }

 private:
  void Flush() {
    if (data_block_.empty()) return;
    pending_handle_ = WriteBlock(data_block_.Finish());
    pending_index_entry_ = true;
  }
  void AddIndexEntry() {
    std::string handle;
    pending_handle_.EncodeTo(&handle);
    index_block_.Add(last_key_, handle);
    pending_index_entry_ = false;
  }
  // Appends a block and its trailer (type 0 = uncompressed, masked CRC-32C of block + type).
  BlockHandle WriteBlock(const std::string& contents) {
    BlockHandle h{file_.size(), contents.size()};
    file_ += contents;
    const char type = 0;
    uint32_t crc = Crc32cExtend(Crc32c(contents.data(), contents.size()), &type, 1);
    file_.push_back(type);
    PutFixed32(&file_, MaskCrc32c(crc));
    return h;
  }

  size_t block_bytes_;
  std::string file_;
  BlockBuilder data_block_{kDataRestartInterval};
  BlockBuilder index_block_{kIndexRestartInterval};
  std::string last_key_;
  bool pending_index_entry_ = false;
  BlockHandle pending_handle_;
};

std::string Serialized(const google::protobuf::MessageLite& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

absl::Status WriteError(const std::string& prefix, const std::string& key, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("cannot write TF checkpoint '", prefix, "': tensor '", key, "' ", why));
}

// TF's CheckpointState text proto: the newest prefix and every one saved in this directory,
// oldest first, with paths relative to the directory when they are inside it.
absl::Status UpdateCheckpointState(const std::string& prefix) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(prefix).parent_path();
  const fs::path state = dir / "checkpoint";
  const std::string name = fs::path(prefix).filename().string();
  std::vector<std::string> all;
  if (std::ifstream in(state); in) {
    std::string line;
    const std::string field = "all_model_checkpoint_paths: \"";
    while (std::getline(in, line)) {
      if (line.rfind(field, 0) == 0 && line.size() > field.size() + 1 && line.back() == '"') {
        all.push_back(line.substr(field.size(), line.size() - field.size() - 1));
      }
    }
  }
  all.erase(std::remove(all.begin(), all.end(), name), all.end());
  all.push_back(name);
  std::string text = absl::StrCat("model_checkpoint_path: \"", name, "\"\n");
  for (const std::string& p : all)
    absl::StrAppend(&text, "all_model_checkpoint_paths: \"", p, "\"\n");
  return WriteFileAtomically(state.string(), text);
}

}  // namespace

absl::Status WriteTfCheckpoint(const std::string& prefix,
                               const std::vector<std::pair<std::string, Tensor>>& tensors,
                               const TfCheckpointWriteOptions& options) {
  if (prefix.empty()) return absl::InvalidArgumentError("empty TF checkpoint prefix");
  std::map<std::string, const Tensor*> sorted;
  for (const auto& [key, t] : tensors) {
    if (key.empty()) return WriteError(prefix, key, "has an empty name (the header's key)");
    if (!t.valid()) return WriteError(prefix, key, "is empty (no dtype)");
    if (t.dtype() == DT_STRING) return WriteError(prefix, key, "is a string tensor");
    if (!sorted.emplace(key, &t).second) return WriteError(prefix, key, "is given twice");
  }
  // Data shard and index entries, in key order as TF writes them.
  std::string data;
  TableBuilder table(options.index_block_bytes);
  tensorflow::BundleHeaderProto header;
  header.set_num_shards(1);
  header.mutable_version()->set_producer(1);
  table.Add("", Serialized(header));
  for (const auto& [key, t] : sorted) {
    const char* bytes = static_cast<const char*>(t->raw_data());
    const size_t size = t->num_bytes();
    tensorflow::BundleEntryProto entry;
    entry.set_dtype(static_cast<tensorflow::DataType>(t->dtype()));
    auto* shape = entry.mutable_shape();  // present even for a scalar, as TF writes it
    for (int64_t d : t->shape().dims()) shape->add_dim()->set_size(d);
    entry.set_offset(static_cast<int64_t>(data.size()));
    entry.set_size(static_cast<int64_t>(size));
    entry.set_crc32c(MaskCrc32c(Crc32c(bytes, size)));
    if (size > 0) data.append(bytes, size);
    table.Add(key, Serialized(entry));
  }
  // The data first: the index is what makes a checkpoint visible at this prefix. Each file is
  // replaced atomically; a crash between the two leaves the old index, whose CRCs then refuse
  // the new data instead of reading it wrongly.
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrFormat("%s.data-%05d-of-%05d", prefix, 0, 1), data));
  RETURN_IF_ERROR(WriteFileAtomically(prefix + ".index", table.Finish()));
  if (options.update_checkpoint_state) RETURN_IF_ERROR(UpdateCheckpointState(prefix));
  return absl::OkStatus();
}

absl::Status SaveTfCheckpoint(Session& session, const std::string& prefix,
                              const TfCheckpointWriteOptions& options) {
  ASSIGN_OR_RETURN(auto values, session.ReadVariables());
  std::set<std::string> initialized;
  for (const auto& [name, t] : values) initialized.insert(name);
  // TF's Saver refuses to save a variable that holds no value yet.
  for (const Node* n : session.graph().nodes()) {
    if (n->op() != "VariableV2" && n->op() != "Variable") continue;
    auto shared = n->GetAttr<std::string>("shared_name");
    const std::string name = shared.ok() && !shared->empty() ? *shared : n->name();
    if (!initialized.count(name)) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot save TF checkpoint '", prefix, "': variable '", name,
                       "' is not initialized (run its initializer first)"));
    }
  }
  return WriteTfCheckpoint(prefix, values, options);
}

}  // namespace quiver
