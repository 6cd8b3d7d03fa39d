// InFlightStaging: the FIFO of staging buffers an asynchronous host-to-device copy still
// reads. Checked with fake markers whose completion the test controls: buffers are released
// oldest first, never while their copy is pending, and exactly once.
#include <catch2/catch.hpp>

#include <cstdint>
#include <set>
#include <vector>

#include "devices/common/in_flight_staging.h"

using namespace quiver;

namespace {

// Markers are indices into `done`; Release records what it was given.
struct FakeStream {
  std::vector<bool> done;
  std::vector<void*> released_buffers;
  std::vector<void*> released_markers;

  void* NewMarker() {
    done.push_back(false);
    return reinterpret_cast<void*>(static_cast<uintptr_t>(done.size()));  // 1-based: never null
  }
  bool IsDoneNow(void* m) const { return done[reinterpret_cast<uintptr_t>(m) - 1]; }
  InFlightStaging::IsDone is_done() {
    return [this](void* m) -> absl::StatusOr<bool> { return IsDoneNow(m); };
  }
  InFlightStaging::Release release() {
    return [this](const InFlightStaging::Entry& e) {
      released_buffers.push_back(e.buffer);
      released_markers.push_back(e.marker);
    };
  }
};

void* Buf(int i) { return reinterpret_cast<void*>(static_cast<uintptr_t>(0x1000 * (i + 1))); }

}  // namespace

TEST_CASE("InFlightStaging releases completed copies oldest first") {
  FakeStream fs;
  InFlightStaging staging;
  std::vector<void*> markers;
  for (int i = 0; i < 4; ++i) {
    markers.push_back(fs.NewMarker());
    staging.Add({markers.back(), Buf(i), size_t(100 + i)});
  }
  CHECK(staging.size() == 4);
  CHECK(staging.bytes() == 100 + 101 + 102 + 103);

  // Nothing done yet: nothing released.
  auto n = staging.Reclaim(fs.is_done(), fs.release());
  REQUIRE(n.ok());
  CHECK(*n == 0);
  CHECK(fs.released_buffers.empty());

  // The first two copies finish: exactly those two go, in order.
  fs.done[0] = fs.done[1] = true;
  n = staging.Reclaim(fs.is_done(), fs.release());
  REQUIRE(n.ok());
  CHECK(*n == 2);
  CHECK(fs.released_buffers == std::vector<void*>{Buf(0), Buf(1)});
  CHECK(fs.released_markers == std::vector<void*>{markers[0], markers[1]});
  CHECK(staging.bytes() == 102 + 103);
  CHECK(staging.oldest().buffer == Buf(2));

  // A later marker reporting done does not release past a pending earlier one (stream order).
  fs.done[3] = true;
  n = staging.Reclaim(fs.is_done(), fs.release());
  REQUIRE(n.ok());
  CHECK(*n == 0);
  CHECK(staging.size() == 2);

  // ReleaseAll (after a stream synchronise) empties it; each buffer was released once.
  staging.ReleaseAll(fs.release());
  CHECK(staging.empty());
  CHECK(staging.bytes() == 0);
  CHECK(fs.released_buffers.size() == 4);
  CHECK(std::set<void*>(fs.released_buffers.begin(), fs.released_buffers.end()).size() == 4);
}

TEST_CASE("InFlightStaging stops and keeps its entries when a marker query fails") {
  FakeStream fs;
  InFlightStaging staging;
  void* m0 = fs.NewMarker();
  staging.Add({m0, Buf(0), 8});
  fs.done[0] = true;
  void* m1 = fs.NewMarker();
  staging.Add({m1, Buf(1), 16});
  auto failing = [&](void* m) -> absl::StatusOr<bool> {
    if (m == m1) return absl::InternalError("cudaEventQuery: device lost");
    return fs.IsDoneNow(m);
  };
  auto n = staging.Reclaim(failing, fs.release());
  REQUIRE_FALSE(n.ok());
  CHECK(n.status().message() == "cudaEventQuery: device lost");
  // The completed first entry was released; the failing one is still held, not leaked twice.
  CHECK(fs.released_buffers == std::vector<void*>{Buf(0)});
  CHECK(staging.size() == 1);
  CHECK(staging.bytes() == 16);
}
