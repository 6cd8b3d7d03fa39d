// TensorFlow device names: parsing, matching and merging (DeviceNameUtils semantics).
//
//   /job:localhost/replica:0/task:0/device:CPU:0   full name (what placement assigns)
//   /device:GPU:0, /gpu:0, /GPU:0, /cpu:1          what users write in NodeDef.device
//   /gpu:*, /device:GPU, /job:localhost, ""        partial specifications
//
// A ParsedDeviceName keeps a has_x flag per field: an unset field matches anything. Device
// types are upper-cased ("/device:gpu:0" and "/gpu:0" both mean type "GPU").
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quiver {

struct ParsedDeviceName {
  bool has_job = false;
  std::string job;
  bool has_replica = false;
  int replica = 0;
  bool has_task = false;
  int task = 0;
  bool has_type = false;
  std::string type;
  bool has_id = false;
  int id = 0;

  // True when no field is set (the empty spec "" matches every device).
  bool empty() const { return !has_job && !has_replica && !has_task && !has_type && !has_id; }
  bool operator==(const ParsedDeviceName& o) const;
  bool operator!=(const ParsedDeviceName& o) const { return !(*this == o); }
};

// Parses a full or partial device name. "" and "/" give the empty spec. Errors:
// InvalidArgument "malformed device name '/gpu:x' (expected ...)".
absl::StatusOr<ParsedDeviceName> ParseDeviceName(const std::string& name);

// True when every field set in `spec` is also set in `name` with the same value.
bool IsSpecification(const ParsedDeviceName& spec, const ParsedDeviceName& name);

// Merges `other` into `target` (TF MergeDevNames): a job/replica/task conflict is an error; a
// type or id conflict is an error unless `allow_soft`, in which case the conflicting type
// and id (or only the id) are cleared so that any device may satisfy the result.
absl::Status MergeDeviceNames(ParsedDeviceName* target, const ParsedDeviceName& other,
                              bool allow_soft);

// Canonical form of the fields that are set: "/job:J/replica:R/task:T/device:TYPE:ID", with
// "*" for an unset id of a set type. The empty spec prints as "".
std::string DeviceNameToString(const ParsedDeviceName& name);
// "CPU:0", "GPU:*" ("*:*" without a type): the short form for tables.
std::string DeviceShortName(const ParsedDeviceName& name);
// "/job:localhost/replica:0/task:0/device:<type>:<id>": the name of a local device.
std::string LocalDeviceName(const std::string& type, int id);

}  // namespace quiver
