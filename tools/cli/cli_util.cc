#include "tools/cli/cli_util.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "passes/pass_manager.h"
#include "tools/cli/commands.h"

namespace quiver::cli {

const std::vector<std::string>& Args::All(const std::string& f) const {
  static const std::vector<std::string> kEmpty;
  auto it = flags.find(f);
  return it == flags.end() ? kEmpty : it->second;
}

absl::Status ParseArgs(const std::vector<std::string>& argv,
                       const std::vector<std::string>& value_flags,
                       const std::vector<std::string>& bool_flags, Args* out) {
  auto is = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 2 || a.compare(0, 2, "--") != 0) {
      out->positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (is(bool_flags, name)) {
      if (has_value)
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " takes no value"));
      out->flags[name].push_back("true");
    } else if (is(value_flags, name)) {
      if (!has_value) {
        if (i + 1 >= argv.size()) {
          return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
        }
        value = argv[++i];
      }
      out->flags[name].push_back(value);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
  }
  return absl::OkStatus();
}

int Fail(const std::string& command, int code, const std::string& message) {
  std::string one_line = message;
  std::replace(one_line.begin(), one_line.end(), '\n', ' ');
  std::fprintf(stderr, "quiver %s: %s\n", command.c_str(), one_line.c_str());
  return code;
}

int Fail(const std::string& command, int code, const absl::Status& status) {
  return Fail(command, code, std::string(status.message()));
}

int RunFailureExitCode(const absl::Status& status, int otherwise) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      return kExitResourceExhausted;
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
      return kExitTimeout;
    default:
      return otherwise;
  }
}

std::string TensorFileName(const std::string& tensor_name) {
  std::string out = tensor_name;
  for (char& c : out) {
    if (c == '/' || c == ':') c = '_';
  }
  return out;
}

// "x=100x784" -> (x, [100, 784]); "keep_prob=" or "keep_prob=scalar" -> a scalar; "x" -> no
// shape (the declared one).
absl::Status ParseFeedSpec(const std::string& spec, std::string* name,
                           std::optional<TensorShape>* shape) {
  const size_t eq = spec.find('=');
  *name = spec.substr(0, eq);
  if (name->empty())
    return absl::InvalidArgumentError(absl::StrCat("--feed '", spec, "': no name"));
  if (eq == std::string::npos) return absl::OkStatus();
  const std::string dims = spec.substr(eq + 1);
  if (dims.empty() || dims == "scalar") {
    *shape = TensorShape{};
    return absl::OkStatus();
  }
  std::vector<int64_t> d;
  for (absl::string_view part : absl::StrSplit(dims, 'x')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--feed '", spec,
                       "': the shape must be dims joined by 'x' (e.g. 100x784), got '", dims, "'"));
    }
    d.push_back(v);
  }
  *shape = TensorShape(d);
  return absl::OkStatus();
}

absl::Status ParseDisabledPasses(const Args& args, std::vector<std::string>* passes) {
  const std::vector<std::string> known = PassManager::DefaultPassNames();
  for (const std::string& p : args.All("disable")) {
    if (std::find(known.begin(), known.end(), p) == known.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown pass '", p, "' (passes: ", absl::StrJoin(known, ", "), ")"));
    }
    passes->push_back(p);
  }
  return absl::OkStatus();
}

}  // namespace quiver::cli
