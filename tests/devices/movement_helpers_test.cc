// The index maps behind the GPU data-movement kernels (devices/common/movement_helpers.h),
// checked on the host against naive loops over multi-indices (tests/devices/index_test_util.h), and
// against hand-derived values.
#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <numeric>
#include <vector>

#include "devices/common/movement_helpers.h"
#include "tests/devices/index_test_util.h"

using namespace quiver;
using index_test::Product;
using index_test::Ravel;
using index_test::Unravel;
using movement::GatherIndexer;
using movement::MultiBroadcastIndexer;
using movement::OneHotIndexer;
using movement::PadIndexer;

namespace {

bool MakeBroadcast(const std::vector<int64_t>& out, const std::vector<std::vector<int64_t>>& ins,
                   MultiBroadcastIndexer* ix) {
  std::vector<int> ranks;
  std::vector<const int64_t*> dims;
  for (const auto& in : ins) {
    ranks.push_back(static_cast<int>(in.size()));
    dims.push_back(in.data());
  }
  return movement::MakeMultiBroadcastIndexer(static_cast<int>(out.size()), out.data(),
                                             static_cast<int>(ins.size()), ranks.data(),
                                             dims.data(), ix);
}

// NumPy broadcasting by the definition: input dim j (right-aligned) of size 1 reads index 0.
void CheckBroadcast(const std::vector<int64_t>& out, const std::vector<std::vector<int64_t>>& ins) {
  CAPTURE(out, ins);
  MultiBroadcastIndexer ix;
  REQUIRE(MakeBroadcast(out, ins, &ix));
  REQUIRE(ix.NumElements() == Product(out));
  for (int64_t i = 0; i < Product(out); ++i) {
    const std::vector<int64_t> o = Unravel(i, out);
    int64_t offsets[movement::kMaxInputs];
    ix.Offsets(i, offsets);
    for (size_t k = 0; k < ins.size(); ++k) {
      const std::vector<int64_t>& in = ins[k];
      std::vector<int64_t> idx(in.size());
      for (size_t j = 0; j < in.size(); ++j) {
        idx[j] = in[j] == 1 ? 0 : o[out.size() - in.size() + j];
      }
      const int64_t want = Ravel(idx, in);
      CHECK(offsets[k] == want);
      CHECK(ix.Offset(static_cast<int>(k), i) == want);
    }
  }
}
// Asserts (CHECK inside) the indexer against a naive NumPy-rule walk.
#define CHECK_BROADCAST(...) CheckBroadcast(__VA_ARGS__)

}  // namespace

TEST_CASE("Movement helpers: multi-input broadcasting matches NumPy's rule", "[movement_helpers]") {
  CHECK_BROADCAST({2, 3, 4}, {{3, 1}, {1}, {2, 1, 4}});
  CHECK_BROADCAST({2, 3, 4}, {{2, 3, 4}, {4}, {}});
  CHECK_BROADCAST({5, 1, 3}, {{5, 1, 1}, {1, 3}, {5, 1, 3}});
  CHECK_BROADCAST({6, 1, 7, 2}, {{1, 1, 7, 1}, {6, 1, 1, 2}});
  CHECK_BROADCAST({3, 4}, {{3, 4}});
  CHECK_BROADCAST({}, {{}, {}, {}});
  CHECK_BROADCAST({1, 1}, {{1}, {1, 1}});
  // Rank 11 with one pattern everywhere collapses to one dim; alternating patterns do not.
  CHECK_BROADCAST({2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}, {{2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}});
  CHECK_BROADCAST({2, 2, 2, 2, 2, 2, 2, 2}, {{2, 1, 2, 1, 2, 1, 2, 1}, {1, 2, 1, 2, 1, 2, 1, 2}});
}

TEST_CASE("Movement helpers: broadcasting by hand, collapsing, empty and bad shapes",
          "[movement_helpers]") {
  MultiBroadcastIndexer ix;
  // out [2, 3] from x [3] and y [2, 1]: x strides (0, 1), y strides (1, 0).
  REQUIRE(MakeBroadcast({2, 3}, {{3}, {2, 1}}, &ix));
  REQUIRE(ix.rank == 2);
  CHECK(ix.dims[0] == 2);
  CHECK(ix.dims[1] == 3);
  CHECK(ix.strides[0][0] == 0);
  CHECK(ix.strides[0][1] == 1);
  CHECK(ix.strides[1][0] == 1);
  CHECK(ix.strides[1][1] == 0);
  int64_t off[movement::kMaxInputs];
  ix.Offsets(5, off);  // (1, 2)
  CHECK(off[0] == 2);
  CHECK(off[1] == 1);
  // Same shapes collapse to one dim of stride 1.
  REQUIRE(MakeBroadcast({4, 5, 6}, {{4, 5, 6}, {4, 5, 6}}, &ix));
  CHECK(ix.rank == 1);
  CHECK(ix.dims[0] == 120);
  CHECK(ix.strides[0][0] == 1);
  CHECK(ix.strides[1][0] == 1);
  // A scalar output (or all size-1 dims) has rank 0 and one element at offset 0.
  REQUIRE(MakeBroadcast({1, 1}, {{1}, {}}, &ix));
  CHECK(ix.rank == 0);
  CHECK(ix.NumElements() == 1);
  ix.Offsets(0, off);
  CHECK(off[0] == 0);
  CHECK(off[1] == 0);
  // Empty outputs: rank 1, no elements.
  REQUIRE(MakeBroadcast({3, 0, 2}, {{0, 1}, {3, 1, 2}}, &ix));
  CHECK(ix.rank == 1);
  CHECK(ix.NumElements() == 0);
  // Inconsistent dims, an input of higher rank, too many inputs, too many groups.
  CHECK_FALSE(MakeBroadcast({2, 3}, {{2}}, &ix));
  CHECK_FALSE(MakeBroadcast({3}, {{1, 3}}, &ix));
  CHECK_FALSE(MakeBroadcast({3}, {{3}, {3}, {3}, {3}}, &ix));
  CHECK_FALSE(MakeBroadcast({2, 2, 2, 2, 2, 2, 2, 2, 2}, {{2, 1, 2, 1, 2, 1, 2, 1, 2}}, &ix));
}

namespace {

// Pad by the definition: output multi-index o is input o - before when inside, else padding.
void CheckPad(const std::vector<int64_t>& in, const std::vector<int64_t>& paddings) {
  CAPTURE(in, paddings);
  std::vector<int64_t> out(in.size());
  for (size_t d = 0; d < in.size(); ++d) out[d] = paddings[2 * d] + in[d] + paddings[2 * d + 1];
  PadIndexer ix;
  REQUIRE(movement::MakePadIndexer(static_cast<int>(in.size()), in.data(), paddings.data(), &ix));
  REQUIRE(ix.NumOutputs() == Product(out));
  for (int64_t i = 0; i < Product(out); ++i) {
    std::vector<int64_t> o = Unravel(i, out);
    bool inside = true;
    for (size_t d = 0; d < in.size(); ++d) {
      o[d] -= paddings[2 * d];
      inside = inside && o[d] >= 0 && o[d] < in[d];
    }
    CHECK(ix.SourceOffset(i) == (inside ? Ravel(o, in) : -1));
  }
}

}  // namespace

TEST_CASE("Movement helpers: Pad maps outputs to inputs or padding", "[movement_helpers]") {
  CheckPad({2, 3}, {1, 0, 0, 2});
  CheckPad({2, 3, 4}, {0, 0, 1, 1, 0, 0});
  CheckPad({2, 3, 4}, {1, 2, 0, 0, 0, 0});
  CheckPad({3}, {0, 0});
  CheckPad({}, {});
  CheckPad({2, 0, 3}, {1, 1, 1, 0, 0, 1});  // empty input: all padding
  CheckPad(
      {1, 2, 1, 2, 1, 2, 1, 2, 1, 2},
      {0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0});  // rank 10, three padded dims

  // By hand: [2, 3] padded by [[1, 0], [0, 2]] is [3, 5].
  PadIndexer ix;
  const int64_t in[] = {2, 3};
  const int64_t pads[] = {1, 0, 0, 2};
  REQUIRE(movement::MakePadIndexer(2, in, pads, &ix));
  CHECK(ix.NumOutputs() == 15);
  CHECK(ix.SourceOffset(0) == -1);   // (0, 0): top padding
  CHECK(ix.SourceOffset(5) == 0);    // (1, 0)
  CHECK(ix.SourceOffset(7) == 2);    // (1, 2)
  CHECK(ix.SourceOffset(8) == -1);   // (1, 3): right padding
  CHECK(ix.SourceOffset(11) == 4);   // (2, 1)
  CHECK(ix.SourceOffset(14) == -1);  // (2, 4)
  // Unpadded trailing dims fold into the padded dim before them.
  const int64_t in3[] = {2, 3, 4};
  const int64_t pads3[] = {1, 1, 0, 0, 0, 0};
  REQUIRE(movement::MakePadIndexer(3, in3, pads3, &ix));
  CHECK(ix.rank == 1);
  CHECK(ix.in_dims[0] == 24);
  CHECK(ix.out_dims[0] == 48);
  CHECK(ix.before[0] == 12);
  // Negative paddings and more than 8 padded dims are refused.
  const int64_t neg[] = {-1, 0, 0, 0};
  CHECK_FALSE(movement::MakePadIndexer(2, in, neg, &ix));
  std::vector<int64_t> nine(9, 1), nine_pads(18, 1);
  CHECK_FALSE(movement::MakePadIndexer(9, nine.data(), nine_pads.data(), &ix));
}

TEST_CASE("Movement helpers: GatherV2 positions and offsets", "[movement_helpers]") {
  // params [B, O, L, I] = [2, 3, 5, 4], indices [B, N] = [2, 3] (batch_dims 1, axis 2).
  GatherIndexer ix;
  ix.batch = 2;
  ix.outer = 3;
  ix.limit = 5;
  ix.inner = 4;
  ix.n = 3;
  const std::vector<int64_t> indices = {4, 0, 2, 1, 1, 3};
  REQUIRE(ix.NumOutputs() == 2 * 3 * 3 * 4);
  int64_t i = 0;
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t o = 0; o < 3; ++o) {
      for (int64_t j = 0; j < 3; ++j) {
        for (int64_t e = 0; e < 4; ++e, ++i) {
          CAPTURE(b, o, j, e);
          const int64_t pos = ix.IndexPosition(i);
          CHECK(pos == b * 3 + j);
          CHECK(ix.SourceOffset(i, indices[pos]) ==
                Ravel({b, o, indices[b * 3 + j], e}, {2, 3, 5, 4}));
        }
      }
    }
  }
  // By hand: params [3, 4], axis 0, indices [2, 0]: output (1, 1) reads params (0, 1) = 1.
  GatherIndexer h;
  h.limit = 3;
  h.inner = 4;
  h.n = 2;
  CHECK(h.IndexPosition(5) == 1);
  CHECK(h.SourceOffset(5, 0) == 1);
  CHECK(h.SourceOffset(2, 2) == 10);  // output (0, 2) reads params (2, 2)
}

TEST_CASE("Movement helpers: OneHot positions and depth slots", "[movement_helpers]") {
  OneHotIndexer ix;
  ix.prefix = 2;
  ix.depth = 3;
  ix.suffix = 4;
  REQUIRE(ix.NumOutputs() == 24);
  int64_t i = 0;
  for (int64_t p = 0; p < 2; ++p) {
    for (int64_t d = 0; d < 3; ++d) {
      for (int64_t s = 0; s < 4; ++s, ++i) {
        CHECK(ix.IndexPosition(i) == p * 4 + s);
        CHECK(ix.DepthSlot(i) == d);
      }
    }
  }
  CHECK(ix.IndexPosition(23) == 7);  // (1, 2, 3)
  CHECK(ix.DepthSlot(23) == 2);
}
