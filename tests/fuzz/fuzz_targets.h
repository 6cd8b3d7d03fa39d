// What each libFuzzer target does with one input, shared by the fuzzers (fuzz_entry.cc) and
// by tests/tools/fuzz_regression_test.cc, which replays every input the fuzzers ever crashed
// on. Every input must end in a value or a clean error Status; `violation` is set when an
// invariant that must hold for every accepted input fails (the fuzzer then aborts).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "passes/channels_first_lowering.h"
#include "passes/pass_manager.h"
#include "proto/tensor_bundle.pb.h"
#include "runtime/crc32c.h"
#include "runtime/saved_model.h"
#include "runtime/tf_checkpoint.h"

namespace quiver::fuzz {

struct Outcome {
  absl::Status status;    // the first error on the way, or OK when everything accepted it
  std::string violation;  // non-empty: a broken invariant (a bug even if nothing crashed)
};

// GraphDef bytes -> ParseGraphDef -> ImportGraphDef (with shape inference). An imported graph
// must export and import again with the same node count (the round trip `quiver optimize`
// relies on).
inline Outcome GraphDefImport(const std::string& bytes, GraphDefFormat format) {
  auto gd = ParseGraphDef(bytes, format);
  if (!gd.ok()) return {gd.status(), ""};
  Graph graph;
  if (absl::Status s = ImportGraphDef(*gd, &graph); !s.ok()) return {s, ""};
  tensorflow::GraphDef exported;
  ExportGraphDef(graph, &exported);
  Graph again;
  if (absl::Status s = ImportGraphDef(exported, &again); !s.ok()) {
    return {absl::OkStatus(),
            absl::StrCat("re-import of the exported graph failed: ", s.ToString())};
  }
  if (again.num_nodes() != graph.num_nodes()) {
    return {absl::OkStatus(), absl::StrCat("round trip changed the node count from ",
                                           graph.num_nodes(), " to ", again.num_nodes())};
  }
  return {absl::OkStatus(), ""};
}

// Byte 0 picks the pass context (bit 0: fetch the GraphDef's last node, otherwise every sink
// is preserved; bit 1: feed the first Placeholder); the rest is a GraphDef, binary or text.
// Import, the channels-first lowering, then the default pipeline (prune, constant folding, CSE,
// arithmetic simplification, fusion) with verification after each pass; a graph they accept
// must still verify.
inline Outcome ImportAndOptimize(const std::string& input) {
  if (input.empty()) return {absl::InvalidArgumentError("empty input"), ""};
  const auto mode = static_cast<uint8_t>(input[0]);
  auto gd = ParseGraphDef(input.substr(1), GraphDefFormat::kAuto);
  if (!gd.ok()) return {gd.status(), ""};
  Graph graph;
  if (absl::Status s = ImportGraphDef(*gd, &graph); !s.ok()) return {s, ""};
  PassContext ctx;
  if ((mode & 1) && gd->node_size() > 0) {
    ctx.fetches.push_back(gd->node(gd->node_size() - 1).name());
  }
  if (mode & 2) {
    for (const auto& node : gd->node()) {
      if (node.op() == "Placeholder") {
        ctx.feeds.push_back(node.name());
        break;
      }
    }
  }
  // As a Session and `quiver optimize` do: the mandatory NCHW lowering, then the pipeline.
  auto lowered = LowerChannelsFirst(&graph, ctx);
  if (!lowered.ok()) return {lowered.status(), ""};
  if (absl::Status s = VerifyGraph(&graph); !s.ok()) {
    return {absl::OkStatus(), absl::StrCat("graph invalid after lowering: ", s.ToString())};
  }
  PassManagerOptions options;
  options.verify = true;
  auto report = PassManager::Default(options).Run(&graph, ctx);
  if (!report.ok()) return {report.status(), ""};
  if (absl::Status s = VerifyGraph(&graph); !s.ok()) {
    return {absl::OkStatus(), absl::StrCat("graph invalid after the pipeline: ", s.ToString())};
  }
  return {absl::OkStatus(), ""};
}

// .npy bytes -> ParseNpy; a parsed tensor must serialize and parse back to the same dtype,
// shape and bytes.
inline Outcome NpyParse(const std::string& bytes) {
  auto t = ParseNpy(bytes);
  if (!t.ok()) return {t.status(), ""};
  auto back = ParseNpy(SerializeNpy(*t));
  if (!back.ok()) {
    return {absl::OkStatus(), absl::StrCat("re-parse failed: ", back.status().ToString())};
  }
  const bool same =
      back->dtype() == t->dtype() && back->shape() == t->shape() &&
      back->num_bytes() == t->num_bytes() &&
      (t->num_bytes() == 0 || std::memcmp(back->raw_data(), t->raw_data(), t->num_bytes()) == 0);
  if (!same) return {absl::OkStatus(), "npy round trip changed dtype, shape or bytes"};
  return {absl::OkStatus(), ""};
}

// ---- TF V2 checkpoint bundles (runtime/tf_checkpoint.h) ------------------------------------
//
// Input: byte 0 = flags, then the files of a bundle.
//   flags bit 0: repair every checksum before writing (see RepairTfCheckpoint), so that
//                mutations reach the block, entry and tensor parsing past the CRC-32C checks;
//   flags bits 1-2: number of data shards - 1 (1 to 4).
//   Then a little-endian uint16 length for the index and for every shard but the last, then
//   the index bytes, then each shard's bytes; the last shard takes the rest. Lengths past the
//   end of the input are clamped.
// The files are written as PREFIX.index and PREFIX.data-0000K-of-0000N (N = the shard count)
// in a per-process temporary directory.

namespace tf_checkpoint_detail {

inline uint32_t Fixed32(const std::string& s, size_t pos) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(s[pos + i])) << (8 * i);
  return v;
}

inline void PutFixed32(std::string* s, size_t pos, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[pos + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Reads a varint at *pos (< end); false if it runs past end or 64 bits.
inline bool Varint(const std::string& s, size_t* pos, size_t end, uint64_t* value) {
  uint64_t v = 0;
  for (int shift = 0; shift <= 63 && *pos < end; shift += 7) {
    const uint64_t byte = static_cast<uint8_t>(s[(*pos)++]);
    v |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = v;
      return true;
    }
  }
  return false;
}

struct Span {
  size_t offset = 0;
  size_t size = 0;
};

// A block handle at [pos, end) naming a block (plus its 5-byte trailer) inside the table
// (before the 48-byte footer), as runtime/tf_checkpoint.cc checks it.
inline bool BlockAt(const std::string& table, size_t* pos, size_t end, Span* block) {
  uint64_t offset = 0, size = 0;
  if (!Varint(table, pos, end, &offset) || !Varint(table, pos, end, &size)) return false;
  const uint64_t limit = table.size() - 48;
  if (offset > limit || size > limit - offset || limit - offset - size < 5) return false;
  *block = {static_cast<size_t>(offset), static_cast<size_t>(size)};
  return true;
}

// The values of a LevelDB block's entries, as far as they parse.
inline std::vector<Span> BlockValues(const std::string& table, const Span& block) {
  std::vector<Span> values;
  if (block.size < 4) return values;
  const uint64_t restarts = Fixed32(table, block.offset + block.size - 4);
  if (restarts > (block.size - 4) / 4) return values;
  size_t pos = block.offset;
  const size_t end = block.offset + block.size - 4 - 4 * restarts;
  while (pos < end) {
    uint64_t shared, non_shared, value_size;
    if (!Varint(table, &pos, end, &shared) || !Varint(table, &pos, end, &non_shared) ||
        !Varint(table, &pos, end, &value_size)) {
      break;
    }
    if (non_shared > end - pos || value_size > end - pos - non_shared) break;
    pos += non_shared;
    values.push_back({pos, static_cast<size_t>(value_size)});
    pos += value_size;
  }
  return values;
}

// Where the 4 bytes of the last `field` (wire type 5, fixed32) of a serialized message are;
// npos when absent or when the message does not walk.
inline size_t Fixed32Field(const std::string& s, const Span& msg, uint64_t field) {
  size_t pos = msg.offset, found = std::string::npos;
  const size_t end = msg.offset + msg.size;
  while (pos < end) {
    uint64_t tag, skip;
    if (!Varint(s, &pos, end, &tag)) return std::string::npos;
    switch (tag & 7) {
      case 0:
        if (!Varint(s, &pos, end, &skip)) return std::string::npos;
        continue;
      case 1:
        skip = 8;
        break;
      case 2:
        if (!Varint(s, &pos, end, &skip)) return std::string::npos;
        break;
      case 5:
        skip = 4;
        if ((tag >> 3) == field && end - pos >= 4) found = pos;
        break;
      default:
        return std::string::npos;
    }
    if (skip > end - pos) return std::string::npos;
    pos += skip;
  }
  return found;
}

inline void RepairBlockCrc(std::string* table, const Span& block) {
  const uint8_t type = static_cast<uint8_t>((*table)[block.offset + block.size]);
  PutFixed32(table, block.offset + block.size + 1,
             MaskCrc32c(Crc32cExtend(Crc32c(table->data() + block.offset, block.size), &type, 1)));
}

}  // namespace tf_checkpoint_detail

// Makes every checksum of a bundle index valid, wherever its structure can be followed: the
// crc32c of each BundleEntryProto whose bytes lie in a shard (patched in place), then the
// trailer CRC of each data block the index block names, then the index block's own.
inline void RepairTfCheckpoint(std::string* index, const std::vector<std::string>& shards) {
  namespace d = tf_checkpoint_detail;
  if (index->size() < 48) return;
  size_t pos = index->size() - 48;
  const size_t footer_end = index->size() - 8;
  d::Span metaindex, index_block;
  if (!d::BlockAt(*index, &pos, footer_end, &metaindex) ||
      !d::BlockAt(*index, &pos, footer_end, &index_block)) {
    return;
  }
  for (const d::Span& handle : d::BlockValues(*index, index_block)) {
    size_t p = handle.offset;
    d::Span data_block;
    if (!d::BlockAt(*index, &p, handle.offset + handle.size, &data_block)) continue;
    for (const d::Span& value : d::BlockValues(*index, data_block)) {
      tensorflow::BundleEntryProto entry;
      if (!entry.ParseFromArray(index->data() + value.offset, static_cast<int>(value.size))) {
        continue;
      }
      const size_t crc_at = d::Fixed32Field(*index, value, 6);
      if (crc_at == std::string::npos || entry.shard_id() < 0 ||
          static_cast<size_t>(entry.shard_id()) >= shards.size()) {
        continue;
      }
      const std::string& shard = shards[entry.shard_id()];
      if (entry.offset() < 0 || entry.size() < 0 ||
          static_cast<uint64_t>(entry.offset()) > shard.size() ||
          static_cast<uint64_t>(entry.size()) > shard.size() - entry.offset()) {
        continue;
      }
      d::PutFixed32(index, crc_at, MaskCrc32c(Crc32c(shard.data() + entry.offset(), entry.size())));
    }
    d::RepairBlockCrc(index, data_block);
  }
  d::RepairBlockCrc(index, index_block);
}

// Encodes bundle files (index, then shards) as a TfCheckpointRead input (the inverse of its
// split), for seeds and tests.
inline std::string TfCheckpointInput(bool repair, const std::vector<std::string>& files) {
  std::string input(1, static_cast<char>((repair ? 1 : 0) | ((files.size() - 2) << 1)));
  for (size_t i = 0; i + 1 < files.size(); ++i) {
    input.push_back(static_cast<char>(files[i].size() & 0xff));
    input.push_back(static_cast<char>((files[i].size() >> 8) & 0xff));
  }
  for (const std::string& f : files) input += f;
  return input;
}

// A temporary directory for this process (`stem` + pid), removed at exit.
inline std::filesystem::path ProcessScratchDir(const std::string& stem) {
  namespace fs = std::filesystem;
  fs::path d = fs::temp_directory_path() / (stem + std::to_string(getpid()));
  fs::create_directories(d);
  static std::vector<std::string>* to_remove = new std::vector<std::string>;
  if (to_remove->empty()) {
    std::atexit([] {
      std::error_code ec;
      for (const std::string& p : *to_remove) fs::remove_all(p, ec);
    });
  }
  to_remove->push_back(d.string());
  return d;
}

// The bundle of `input` written to a per-process temporary directory; its prefix. Files of the
// previous input are removed first.
inline std::string WriteTfCheckpoint(const std::string& input) {
  namespace fs = std::filesystem;
  static const fs::path dir = ProcessScratchDir("quiver_tf_ckpt_fuzz_");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) fs::remove(entry.path(), ec);

  const auto flags = input.empty() ? uint8_t{0} : static_cast<uint8_t>(input[0]);
  const size_t num_shards = ((flags >> 1) & 3) + 1;
  size_t pos = input.empty() ? 0 : 1;
  std::vector<size_t> lengths;
  for (size_t i = 0; i < num_shards; ++i) {  // the index and every shard but the last
    size_t len = 0;
    if (input.size() - pos >= 2) {
      len = static_cast<uint8_t>(input[pos]) |
            (static_cast<size_t>(static_cast<uint8_t>(input[pos + 1])) << 8);
      pos += 2;
    } else {
      pos = input.size();
    }
    lengths.push_back(len);
  }
  std::vector<std::string> files;  // index, shard 0, ..., shard num_shards - 1
  for (size_t len : lengths) {
    len = std::min(len, input.size() - pos);
    files.push_back(input.substr(pos, len));
    pos += len;
  }
  files.push_back(input.substr(pos));
  std::string& index = files[0];
  if (flags & 1) {
    RepairTfCheckpoint(&index, std::vector<std::string>(files.begin() + 1, files.end()));
  }
  const std::string prefix = (dir / "ckpt").string();
  std::ofstream(prefix + ".index", std::ios::binary | std::ios::trunc) << index;
  for (size_t k = 0; k < num_shards; ++k) {
    char name[32];
    std::snprintf(name, sizeof(name), ".data-%05zu-of-%05zu", k, num_shards);
    std::ofstream(prefix + name, std::ios::binary | std::ios::trunc) << files[k + 1];
  }
  return prefix;
}

// A bundle -> ReadTfCheckpoint. Read tensors must come sorted by unique name, bools must hold
// 0 or 1, and every error must name the checkpoint's files (runtime/tf_checkpoint.h promises
// an error naming the file and what is wrong).
inline Outcome TfCheckpointRead(const std::string& input) {
  const std::string prefix = WriteTfCheckpoint(input);
  auto tensors = ReadTfCheckpoint(prefix);
  if (!tensors.ok()) {
    if (tensors.status().message().find(prefix) == std::string_view::npos) {
      return {tensors.status(), absl::StrCat("the error does not name the checkpoint: ",
                                             tensors.status().ToString())};
    }
    return {tensors.status(), ""};
  }
  for (size_t i = 0; i < tensors->size(); ++i) {
    const auto& [name, t] = (*tensors)[i];
    if (i > 0 && !((*tensors)[i - 1].first < name)) {
      return {absl::OkStatus(),
              absl::StrCat("tensor names not sorted or repeated at '", name, "'")};
    }
    if (t.dtype() == DT_BOOL) {
      const auto* b = static_cast<const uint8_t*>(t.raw_data());
      for (size_t j = 0; j < t.num_bytes(); ++j) {
        if (b[j] > 1)
          return {absl::OkStatus(),
                  absl::StrCat("bool tensor '", name, "' holds ", static_cast<int>(b[j]))};
      }
    }
  }
  return {absl::OkStatus(), ""};
}

// saved_model.pb bytes -> LoadSavedModel, in a per-process directory with the variables of
// the TF1 ref-variable fixture copied in when `variables_dir` is given (so loads get past the
// restore). A loaded model must list no signature whose tensors its session cannot find.
inline Outcome SavedModelLoad(const std::string& bytes, const std::string& variables_dir = "") {
  namespace fs = std::filesystem;
  static const fs::path dir = ProcessScratchDir("quiver_saved_model_fuzz_");
  std::error_code ec;
  std::ofstream(dir / "saved_model.pb", std::ios::binary | std::ios::trunc) << bytes;
  if (!variables_dir.empty() && !fs::exists(dir / "variables", ec)) {
    fs::copy(variables_dir, dir / "variables", fs::copy_options::recursive, ec);
  }
  auto model = LoadSavedModel(dir.string());
  if (!model.ok()) return {model.status(), ""};
  for (const Signature& s : (*model)->signatures()) {
    for (const auto* list : {&s.inputs, &s.outputs}) {
      for (const SignatureTensor& t : *list) {
        const std::string node = t.tensor.substr(0, t.tensor.find(':'));
        if ((*model)->session().graph().FindNode(node) == nullptr) {
          return {absl::OkStatus(), absl::StrCat("signature ", s.name, " names ", t.tensor,
                                                 ", which the loaded graph lacks")};
        }
      }
    }
  }
  return {absl::OkStatus(), ""};
}

}  // namespace quiver::fuzz
