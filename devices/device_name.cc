#include "devices/device_name.h"

#include <cctype>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace quiver {
namespace {

bool ConsumePrefix(std::string_view* s, std::string_view prefix) {
  if (s->substr(0, prefix.size()) != prefix) return false;
  s->remove_prefix(prefix.size());
  return true;
}

// "*" (leaves *has false) or a decimal number without sign; stops at the next '/' or ':'.
bool ConsumeNumberOrStar(std::string_view* s, bool* has, int* value) {
  if (ConsumePrefix(s, "*")) {
    *has = false;
    *value = 0;
    return true;
  }
  size_t n = 0;
  int64_t v = 0;
  while (n < s->size() && std::isdigit(static_cast<unsigned char>((*s)[n]))) {
    v = v * 10 + ((*s)[n] - '0');
    if (v > 1'000'000'000) return false;  // no device index is that large
    ++n;
  }
  if (n == 0) return false;
  s->remove_prefix(n);
  *has = true;
  *value = static_cast<int>(v);
  return true;
}

// A job name or device type: a letter, then letters, digits and '_' (or "*").
bool ConsumeIdentifierOrStar(std::string_view* s, bool* has, std::string* value) {
  if (ConsumePrefix(s, "*")) {
    *has = false;
    value->clear();
    return true;
  }
  if (s->empty() || !std::isalpha(static_cast<unsigned char>((*s)[0]))) return false;
  size_t n = 1;
  while (n < s->size() && (std::isalnum(static_cast<unsigned char>((*s)[n])) || (*s)[n] == '_')) {
    ++n;
  }
  *has = true;
  *value = std::string(s->substr(0, n));
  s->remove_prefix(n);
  return true;
}

// The legacy "/cpu:N" / "/gpu:N" forms TF still accepts, in either case.
bool ConsumeLegacyDevice(std::string_view* s, ParsedDeviceName* p) {
  for (const char* type : {"cpu", "CPU", "gpu", "GPU"}) {
    if (ConsumePrefix(s, absl::StrCat("/", type, ":"))) {
      p->has_type = true;
      p->type = absl::AsciiStrToUpper(type);
      return ConsumeNumberOrStar(s, &p->has_id, &p->id);
    }
  }
  return false;
}

}  // namespace

bool ParsedDeviceName::operator==(const ParsedDeviceName& o) const {
  return has_job == o.has_job && (!has_job || job == o.job) && has_replica == o.has_replica &&
         (!has_replica || replica == o.replica) && has_task == o.has_task &&
         (!has_task || task == o.task) && has_type == o.has_type && (!has_type || type == o.type) &&
         has_id == o.has_id && (!has_id || id == o.id);
}

absl::StatusOr<ParsedDeviceName> ParseDeviceName(const std::string& name) {
  ParsedDeviceName p;
  std::string_view s = name;
  if (s.empty() || s == "/") return p;
  auto malformed = [&name]() {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed device name '", name,
                     "' (expected e.g. /gpu:0, /device:CPU:1 or "
                     "/job:localhost/replica:0/task:0/device:CPU:0)"));
  };
  while (!s.empty()) {
    bool ok = true;
    if (ConsumePrefix(&s, "/job:")) {
      ok = ConsumeIdentifierOrStar(&s, &p.has_job, &p.job);
    } else if (ConsumePrefix(&s, "/replica:")) {
      ok = ConsumeNumberOrStar(&s, &p.has_replica, &p.replica);
    } else if (ConsumePrefix(&s, "/task:")) {
      ok = ConsumeNumberOrStar(&s, &p.has_task, &p.task);
    } else if (ConsumePrefix(&s, "/device:")) {
      ok = ConsumeIdentifierOrStar(&s, &p.has_type, &p.type);
      if (ok) {
        // Types are compared upper-case: "/device:gpu:0" is the GPU.
        p.type = absl::AsciiStrToUpper(p.type);
        if (ConsumePrefix(&s, ":")) {
          ok = ConsumeNumberOrStar(&s, &p.has_id, &p.id);
        } else {
          p.has_id = false;  // "/device:GPU" = any GPU
        }
      }
    } else if (!ConsumeLegacyDevice(&s, &p)) {
      ok = false;
    }
    // Every component must end at the next '/' (or the end).
    if (!ok || (!s.empty() && s[0] != '/')) return malformed();
  }
  return p;
}

bool IsSpecification(const ParsedDeviceName& spec, const ParsedDeviceName& name) {
  if (spec.has_job && (!name.has_job || spec.job != name.job)) return false;
  if (spec.has_replica && (!name.has_replica || spec.replica != name.replica)) return false;
  if (spec.has_task && (!name.has_task || spec.task != name.task)) return false;
  if (spec.has_type && (!name.has_type || spec.type != name.type)) return false;
  if (spec.has_id && (!name.has_id || spec.id != name.id)) return false;
  return true;
}

absl::Status MergeDeviceNames(ParsedDeviceName* target, const ParsedDeviceName& other,
                              bool allow_soft) {
  auto conflict = [&](const char* what) {
    return absl::InvalidArgumentError(absl::StrCat("cannot merge devices with incompatible ", what,
                                                   ": '", DeviceNameToString(*target), "' and '",
                                                   DeviceNameToString(other), "'"));
  };
  // Jobs, replicas and tasks name other processes: soft placement cannot paper over them.
  if (other.has_job) {
    if (target->has_job && target->job != other.job) return conflict("jobs");
    target->has_job = true;
    target->job = other.job;
  }
  if (other.has_replica) {
    if (target->has_replica && target->replica != other.replica) return conflict("replicas");
    target->has_replica = true;
    target->replica = other.replica;
  }
  if (other.has_task) {
    if (target->has_task && target->task != other.task) return conflict("tasks");
    target->has_task = true;
    target->task = other.task;
  }
  if (other.has_type) {
    if (target->has_type && target->type != other.type) {
      if (!allow_soft) return conflict("types");
      target->has_type = false;
      target->type.clear();
      target->has_id = false;
      target->id = 0;
      return absl::OkStatus();
    }
    target->has_type = true;
    target->type = other.type;
  }
  if (other.has_id) {
    if (target->has_id && target->id != other.id) {
      if (!allow_soft) return conflict("ids");
      target->has_id = false;
      target->id = 0;
      return absl::OkStatus();
    }
    target->has_id = true;
    target->id = other.id;
  }
  return absl::OkStatus();
}

std::string DeviceNameToString(const ParsedDeviceName& p) {
  std::string out;
  if (p.has_job) absl::StrAppend(&out, "/job:", p.job);
  if (p.has_replica) absl::StrAppend(&out, "/replica:", p.replica);
  if (p.has_task) absl::StrAppend(&out, "/task:", p.task);
  if (p.has_type) {
    absl::StrAppend(&out, "/device:", p.type, ":", p.has_id ? std::to_string(p.id) : "*");
  } else if (p.has_id) {
    absl::StrAppend(&out, "/device:*:", p.id);
  }
  return out;
}

std::string DeviceShortName(const ParsedDeviceName& p) {
  return absl::StrCat(p.has_type ? p.type : "*", ":", p.has_id ? std::to_string(p.id) : "*");
}

std::string LocalDeviceName(const std::string& type, int id) {
  return absl::StrCat("/job:localhost/replica:0/task:0/device:", type, ":", id);
}

}  // namespace quiver
