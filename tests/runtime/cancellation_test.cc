// Cancellation: a RunOptions deadline or a CancellationToken stops a running step between
// nodes, the step's memory is freed, and the session stays usable.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "graph/builder.h"
#include "runtime/session.h"

namespace quiver {
namespace {

constexpr int kChain = 2000;  // 2000 MatMuls of 256 x 256: >= 0.6 s even at this CPU's peak

// y_{i+1} = y_i * w (w = identity keeps the values at 1); returns the last and the first.
std::pair<std::string, std::string> BuildChain(Graph* g) {
  GraphBuilder b(g);
  std::vector<float> w(256 * 256, 0.0f);
  for (int i = 0; i < 256; ++i) w[i * 256 + i] = 1.0f;
  Output wc = b.Const(Tensor::FromVector<float>(w, {256, 256}), "w");
  Output x = b.Placeholder(DT_FLOAT, {256, 256}, "x");
  Output y = x, first;
  for (int i = 0; i < kChain; ++i) {
    y = MatMul(y, wc);
    if (i == 0) first = y;
  }
  REQUIRE(b.status().ok());
  return {y, first};
}

int64_t BytesInUse(Session& session, const std::string& fetch, const Tensor& x) {
  RunMetadata md;
  auto out = session.Run({{"x", x}}, {fetch}, {}, &md);
  REQUIRE(out.ok());
  int64_t total = 0;
  for (const auto& d : md.device_memory) total += d.bytes_in_use;
  return total - static_cast<int64_t>((*out)[0].num_bytes());  // not counting the fetch
}

SessionOptions Options(int inter_op) {
  SessionOptions options;
  options.inter_op_threads = inter_op;
  options.optimizer.level = 0;  // keep the chain as built
  return options;
}

TEST_CASE("A deadline stops a long step; memory is freed; the session stays usable",
          "[cancellation]") {
  Graph g;
  auto [last, first] = BuildChain(&g);
  Tensor x = Tensor::FromVector<float>(std::vector<float>(256 * 256, 1.0f), {256, 256});
  for (int inter_op : {1, 2}) {
    auto session = Session::Create(g, Options(inter_op));
    REQUIRE(session.ok());
    const int64_t before = BytesInUse(**session, first, x);
    RunOptions run;
    run.timeout_ms = 20;
    RunMetadata md;
    auto start = std::chrono::steady_clock::now();
    auto out = (*session)->Run(run, {{"x", x}}, {last}, {}, &md);
    auto elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(out.ok());
    CHECK(out.status().code() == absl::StatusCode::kDeadlineExceeded);
    // Stopped between nodes, long before the chain could have finished.
    CHECK(elapsed < std::chrono::milliseconds(1000));
    CHECK(BytesInUse(**session, first, x) == before);
    auto again = (*session)->Run({{"x", x}}, {first}, {});
    REQUIRE(again.ok());
    CHECK((*again)[0].data<float>()[0] == 1.0f);
  }
}

TEST_CASE("Another thread cancels a running step", "[cancellation]") {
  Graph g;
  auto [last, first] = BuildChain(&g);
  Tensor x = Tensor::FromVector<float>(std::vector<float>(256 * 256, 1.0f), {256, 256});
  auto session = Session::Create(g, Options(1));
  REQUIRE(session.ok());
  const int64_t before = BytesInUse(**session, first, x);
  CancellationToken token;
  RunOptions run;
  run.cancellation = &token;
  absl::Status status;
  std::thread runner([&] {
    status = (*session)->Run(run, {{"x", x}}, {last}, {}, nullptr).status();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  token.Cancel();
  runner.join();
  CHECK(status.code() == absl::StatusCode::kCancelled);
  CHECK(BytesInUse(**session, first, x) == before);
  // A cancelled token cancels at once; reset, it lets the next step run.
  CHECK((*session)->Run(run, {{"x", x}}, {first}, {}, nullptr).status().code() ==
        absl::StatusCode::kCancelled);
  token.Reset();
  CHECK((*session)->Run(run, {{"x", x}}, {first}, {}, nullptr).ok());
}

TEST_CASE("Cancellation stops every partition of a step", "[cancellation]") {
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {128, 128}, "x");
  Output a = x, c = x;
  {
    auto d = b.device("/cpu:0");
    for (int i = 0; i < 400; ++i) a = MatMul(a, x);
  }
  {
    auto d = b.device("/cpu:1");
    for (int i = 0; i < 400; ++i) c = MatMul(c, x);
  }
  REQUIRE(b.status().ok());
  SessionOptions options = Options(2);
  options.virtual_cpu_devices = 1;
  auto session = Session::Create(g, options);
  REQUIRE(session.ok());
  Tensor xv = Tensor::FromVector<float>(std::vector<float>(128 * 128, 0.0f), {128, 128});
  RunOptions run;
  run.timeout_ms = 10;
  auto out = (*session)->Run(run, {{"x", xv}}, {a, c}, {}, nullptr);
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace quiver
