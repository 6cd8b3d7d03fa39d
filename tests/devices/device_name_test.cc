// Device-name parsing and matching, checked against TF's DeviceNameUtils behaviour.
#include <catch2/catch.hpp>

#include "devices/device_name.h"
#include "devices/device_set.h"

namespace quiver {
namespace {

ParsedDeviceName P(const std::string& s) {
  auto p = ParseDeviceName(s);
  REQUIRE(p.ok());
  return *p;
}

}  // namespace

TEST_CASE("ParseDeviceName accepts full, legacy and partial names", "[placement]") {
  ParsedDeviceName full = P("/job:localhost/replica:0/task:0/device:CPU:0");
  CHECK(full.has_job);
  CHECK(full.job == "localhost");
  CHECK((full.has_replica && full.replica == 0 && full.has_task && full.task == 0));
  CHECK((full.has_type && full.type == "CPU" && full.has_id && full.id == 0));

  // Legacy forms, either case, normalise to upper-case types.
  for (const char* s : {"/gpu:1", "/GPU:1", "/device:GPU:1", "/device:gpu:1"}) {
    ParsedDeviceName p = P(s);
    INFO(s);
    CHECK((p.has_type && p.type == "GPU" && p.has_id && p.id == 1));
    CHECK_FALSE(p.has_job);
    CHECK(DeviceNameToString(p) == "/device:GPU:1");
  }
  CHECK(P("/cpu:0") == P("/device:CPU:0"));

  // Partial specs: '*' and missing fields are unset.
  ParsedDeviceName any_gpu = P("/gpu:*");
  CHECK((any_gpu.has_type && !any_gpu.has_id));
  CHECK(P("/device:GPU") == any_gpu);
  CHECK(DeviceNameToString(any_gpu) == "/device:GPU:*");
  CHECK(DeviceShortName(any_gpu) == "GPU:*");
  ParsedDeviceName job = P("/job:localhost");
  CHECK((job.has_job && !job.has_type && !job.has_task));
  CHECK(P("").empty());
  CHECK(P("/").empty());
  CHECK(P("/job:*/replica:*/task:*/device:*:*").empty());
  CHECK(DeviceNameToString(P("")) == "");
  CHECK(DeviceShortName(full) == "CPU:0");
  CHECK(DeviceNameToString(P("/job:worker/task:3/gpu:2")) == "/job:worker/task:3/device:GPU:2");
  CHECK(LocalDeviceName("CPU", 2) == "/job:localhost/replica:0/task:0/device:CPU:2");
}

TEST_CASE("ParseDeviceName rejects malformed names with the name in the message", "[placement]") {
  for (const char* s : {"/gpu:x", "gpu:0", "/gpu", "/device:", "/job:1abc", "/replica:a", "/cpu:0x",
                        "/device:GPU:0/", "/tpu:0", "/gpu:-1", "//gpu:0"}) {
    INFO(s);
    auto p = ParseDeviceName(s);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(
        std::string(p.status().message()).find(std::string("malformed device name '") + s + "'") !=
        std::string::npos);
  }
}

TEST_CASE("IsSpecification: every field set in the spec must match", "[placement]") {
  ParsedDeviceName cpu0 = P("/job:localhost/replica:0/task:0/device:CPU:0");
  ParsedDeviceName cpu1 = P("/job:localhost/replica:0/task:0/device:CPU:1");
  CHECK(IsSpecification(P(""), cpu0));
  CHECK(IsSpecification(P("/cpu:0"), cpu0));
  CHECK_FALSE(IsSpecification(P("/cpu:0"), cpu1));
  CHECK(IsSpecification(P("/cpu:*"), cpu1));
  CHECK(IsSpecification(P("/job:localhost"), cpu1));
  CHECK_FALSE(IsSpecification(P("/job:worker"), cpu1));
  CHECK_FALSE(IsSpecification(P("/gpu:0"), cpu0));
  // A spec that sets a field the name lacks does not match.
  CHECK_FALSE(IsSpecification(P("/cpu:0"), P("/device:CPU")));
}

TEST_CASE("MergeDeviceNames follows TF MergeDevNames", "[placement]") {
  ParsedDeviceName a = P("/job:localhost");
  REQUIRE(MergeDeviceNames(&a, P("/gpu:0"), false).ok());
  CHECK(DeviceNameToString(a) == "/job:localhost/device:GPU:0");

  // Type conflict: error without soft placement; with it, type and id are cleared.
  ParsedDeviceName b = P("/gpu:0");
  absl::Status s = MergeDeviceNames(&b, P("/cpu:0"), false);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("incompatible types") != std::string::npos);
  b = P("/job:localhost/gpu:0");
  REQUIRE(MergeDeviceNames(&b, P("/cpu:0"), true).ok());
  CHECK(b == P("/job:localhost"));

  // Id conflict: soft placement clears only the id.
  ParsedDeviceName c = P("/cpu:0");
  CHECK_FALSE(MergeDeviceNames(&c, P("/cpu:1"), false).ok());
  c = P("/cpu:0");
  REQUIRE(MergeDeviceNames(&c, P("/cpu:1"), true).ok());
  CHECK(c == P("/cpu:*"));

  // Jobs are other processes: even soft placement cannot merge them.
  ParsedDeviceName d = P("/job:a");
  CHECK_FALSE(MergeDeviceNames(&d, P("/job:b"), true).ok());
}

TEST_CASE("DeviceSet: CPU:0, virtual CPUs and added GPUs in priority order", "[placement]") {
  auto set = DeviceSet::Create({/*num_virtual_cpus=*/2});
  REQUIRE(set.ok());
  REQUIRE(set->devices().size() == 3);
  CHECK(set->devices()[0].short_name() == "CPU:0");
  CHECK(set->devices()[2].name == "/job:localhost/replica:0/task:0/device:CPU:2");
  CHECK(set->host().short_name() == "CPU:0");
  CHECK(set->Find("/cpu:1") == &set->devices()[1]);
  CHECK(set->Find("CPU:1") == &set->devices()[1]);
  CHECK(set->Find("/cpu:*") == nullptr);  // ambiguous
  CHECK(set->Find("/gpu:0") == nullptr);
  CHECK(set->Matching(P("/cpu:*")).size() == 3);

  // The CUDA backend's hook: a GPU outranks the CPUs (priority 210 > 100).
  REQUIRE(set->AddDevice("GPU", 0).ok());
  CHECK(set->devices()[0].short_name() == "GPU:0");
  CHECK(set->devices()[0].priority == 210);
  CHECK(set->devices()[1].priority == 100);
  CHECK(set->AddDevice("GPU", 0).code() == absl::StatusCode::kAlreadyExists);
  CHECK_FALSE(DeviceSet::Create({-1}).ok());
}

}  // namespace quiver
