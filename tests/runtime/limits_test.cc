// Resource limits: max_tensor_bytes and max_total_bytes are checked before allocating, shape
// arithmetic that overflows is an error, and the messages name node, op, shape, bytes, limit.
#include <catch2/catch.hpp>

#include <string>

#include "graph/builder.h"
#include "graph/graphdef.h"
#include "runtime/session.h"

namespace quiver {
namespace {

bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

// Creates a session on `source` (a Graph or a GraphDef; the session must be created) and runs
// `fetch` once: the Run's status, which the limit tests expect to be an error.
template <typename Source>
absl::Status RunOnce(const Source& source, const SessionOptions& options,
                     const std::string& fetch) {
  auto session = Session::Create(source, options);
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  return (*session)->Run({}, {fetch}, {}).status();
}

// Fill(dims, 1.0f) named "huge".
std::string BuildFill(Graph* g, std::vector<int64_t> dims) {
  GraphBuilder b(g);
  auto shape = b.Const(Tensor::FromVector<int64_t>(dims, {static_cast<int64_t>(dims.size())}));
  Output out = b.Op("Fill", {shape, b.Scalar(1.0)}, {}, "huge");
  REQUIRE(b.status().ok());
  return out;
}

TEST_CASE("A huge declared shape is refused before any allocation", "[limits]") {
  Graph g;
  // 1e6 x 1e6 x 1e6 floats = 4e18 bytes: fits int64, far over the 16 GiB default.
  std::string fetch = BuildFill(&g, {1000000, 1000000, 1000000});
  for (int level : {0, 1}) {
    SessionOptions options;
    options.optimizer.level = level;
    const absl::Status s = RunOnce(g, options, fetch);
    INFO(s.ToString());
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == absl::StatusCode::kResourceExhausted);
    CHECK(Contains(s, "huge"));
    CHECK(Contains(s, "Fill"));
    CHECK(Contains(s, "[1000000,1000000,1000000]"));
    CHECK(Contains(s, "4000000000000000000"));
    CHECK(Contains(s, "17179869184"));  // 16 GiB
  }
}

TEST_CASE("A huge Fill declared in a GraphDef file is an error at Run", "[limits]") {
  const std::string pbtxt = R"pb(
    node {
      name: "dims"
      op: "Const"
      attr {
        key: "dtype"
        value { type: DT_INT32 }
      }
      attr {
        key: "value"
        value {
          tensor {
            dtype: DT_INT32
            tensor_shape { dim { size: 3 } }
            int_val: 1000000
            int_val: 1000000
            int_val: 1000000
          }
        }
      }
    }
    node {
      name: "one"
      op: "Const"
      attr {
        key: "dtype"
        value { type: DT_FLOAT }
      }
      attr {
        key: "value"
        value {
          tensor {
            dtype: DT_FLOAT
            tensor_shape {}
            float_val: 1
          }
        }
      }
    }
    node {
      name: "huge"
      op: "Fill"
      input: "dims"
      input: "one"
      attr {
        key: "T"
        value { type: DT_FLOAT }
      }
      attr {
        key: "index_type"
        value { type: DT_INT32 }
      }
    }
  )pb";
  auto def = ParseGraphDef(pbtxt, GraphDefFormat::kText);
  INFO(def.status().ToString());
  REQUIRE(def.ok());
  const absl::Status s = RunOnce(*def, SessionOptions{}, "huge");
  INFO(s.ToString());
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == absl::StatusCode::kResourceExhausted);
  CHECK(Contains(s, "'huge' (Fill)"));
  CHECK(Contains(s, "max_tensor_bytes"));
}

TEST_CASE("A shape whose byte size overflows int64 is an error, not a wrap-around", "[limits]") {
  Graph g;
  // 3e18 elements fit int64; 1.2e19 bytes do not.
  std::string fetch = BuildFill(&g, {1000000, 1000000, 3000000});
  SessionOptions options;
  options.optimizer.level = 0;
  options.max_tensor_bytes = 0;  // no size limit: the overflow check alone must catch it
  const absl::Status s = RunOnce(g, options, fetch);
  INFO(s.ToString());
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == absl::StatusCode::kResourceExhausted);
  CHECK(Contains(s, "overflow"));
  CHECK(Contains(s, "huge"));
}

TEST_CASE("max_tensor_bytes caps one output", "[limits]") {
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {-1}, "x");
  Output y = Neg(x, "y");
  REQUIRE(b.status().ok());
  SessionOptions options;
  options.max_tensor_bytes = 1000;
  auto session = Session::Create(g, options);
  REQUIRE(session.ok());
  auto small = (*session)->Run(
      {{"x", Tensor::FromVector<float>(std::vector<float>(250, 1), {250})}}, {y}, {});
  CHECK(small.ok());  // 1000 bytes: at the limit
  auto big = (*session)->Run({{"x", Tensor::FromVector<float>(std::vector<float>(251, 1), {251})}},
                             {y}, {});
  REQUIRE_FALSE(big.ok());
  CHECK(big.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(Contains(big.status(), "'y' (Neg)"));
  CHECK(Contains(big.status(), "1004 bytes"));
  CHECK(Contains(big.status(), "max_tensor_bytes = 1000"));
}

TEST_CASE("max_total_bytes limits what each device's allocator holds", "[limits]") {
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {-1, -1}, "x");
  Output y = MatMul(x, x, {}, "y");
  REQUIRE(b.status().ok());
  SessionOptions options;
  options.max_total_bytes = 1 << 20;
  auto session = Session::Create(g, options);
  REQUIRE(session.ok());
  // 512 x 512 floats = 1 MiB: the output alone fits exactly.
  Tensor ok_in = Tensor::FromVector<float>(std::vector<float>(512 * 512, 0.5f), {512, 512});
  auto ok = (*session)->Run({{"x", ok_in}}, {y}, {});
  REQUIRE(ok.ok());
  CHECK((*ok)[0].data<float>()[0] == 512 * 0.25f);
  ok = absl::StatusOr<std::vector<Tensor>>(std::vector<Tensor>{});  // give the bytes back
  Tensor big_in = Tensor::FromVector<float>(std::vector<float>(600 * 600, 0.5f), {600, 600});
  auto big = (*session)->Run({{"x", big_in}}, {y}, {});
  REQUIRE_FALSE(big.ok());
  INFO(big.status().ToString());
  CHECK(big.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(Contains(big.status(), "'y' (MatMul)"));
  CHECK(Contains(big.status(), "[600,600]"));
  CHECK(Contains(big.status(), "1440000 bytes"));
  CHECK(Contains(big.status(), "limit 1048576"));
  // Still usable.
  CHECK((*session)->Run({{"x", ok_in}}, {y}, {}).ok());
}

TEST_CASE("Negative limits are refused", "[limits]") {
  Graph g;
  GraphBuilder b(&g);
  b.Scalar(1.0);
  SessionOptions options;
  options.max_total_bytes = -1;
  auto session = Session::Create(g, options);
  REQUIRE_FALSE(session.ok());
  CHECK(session.status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quiver
