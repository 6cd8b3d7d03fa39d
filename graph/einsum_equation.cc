#include "graph/einsum_equation.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quiver {
namespace einsum {
namespace {

constexpr char kEllipsis[] = "...";

bool IsLabel(char ch) { return std::isalpha(static_cast<unsigned char>(ch)) != 0; }

// Checks one operand's (or the output's) subscripts: letters and at most one "...".
absl::Status CheckSubscripts(const std::string& s, const std::string& what) {
  bool seen_ellipsis = false;
  for (size_t i = 0; i < s.size();) {
    if (IsLabel(s[i])) {
      ++i;
      continue;
    }
    if (s[i] == '.') {
      if (s.compare(i, 3, kEllipsis) != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("einsum ", what, " subscripts '", s, "' have a '.' outside an ellipsis"));
      }
      if (seen_ellipsis) {
        return absl::InvalidArgumentError(
            absl::StrCat("einsum ", what, " subscripts '", s, "' have more than one ellipsis"));
      }
      seen_ellipsis = true;
      i += 3;
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat("einsum ", what, " subscripts '", s, "' hold '",
                                                   std::string(1, s[i]),
                                                   "': labels must be letters"));
  }
  return absl::OkStatus();
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

}  // namespace

bool HasEllipsis(const std::string& subscripts) {
  return subscripts.find(kEllipsis) != std::string::npos;
}

int NumNamedLabels(const std::string& subscripts) {
  return static_cast<int>(std::count_if(subscripts.begin(), subscripts.end(), IsLabel));
}

std::string Equation::ToString() const {
  return absl::StrCat(absl::StrJoin(inputs, ","), "->", output);
}

absl::StatusOr<Equation> ParseEquation(const std::string& equation, int num_inputs) {
  std::string eq;
  for (char ch : equation) {
    if (!std::isspace(static_cast<unsigned char>(ch))) eq.push_back(ch);
  }
  const std::string quoted = absl::StrCat("'", equation, "'");
  Equation out;
  const size_t arrow = eq.find("->");
  const bool explicit_output = arrow != std::string::npos;
  if (explicit_output && eq.find("->", arrow + 2) != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("einsum equation ", quoted, " has more than one '->'"));
  }
  out.inputs = Split(explicit_output ? eq.substr(0, arrow) : eq, ',');
  if (static_cast<int>(out.inputs.size()) != num_inputs) {
    return absl::InvalidArgumentError(
        absl::StrCat("einsum equation ", quoted, " has subscripts for ", out.inputs.size(),
                     " operand(s) but the node has ", num_inputs, " input(s)"));
  }
  if (num_inputs > 2) {
    return absl::UnimplementedError(
        absl::StrCat("einsum equation ", quoted, ": more than 2 operands are not supported"));
  }
  for (size_t i = 0; i < out.inputs.size(); ++i) {
    absl::Status s = CheckSubscripts(out.inputs[i], absl::StrCat("input ", i));
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(s.message(), " in ", quoted));
  }
  if (explicit_output) {
    out.output = eq.substr(arrow + 2);
    absl::Status s = CheckSubscripts(out.output, "output");
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(s.message(), " in ", quoted));
    for (char ch : out.output) {
      if (!IsLabel(ch)) continue;
      bool found = false;
      for (const std::string& in : out.inputs) found = found || in.find(ch) != std::string::npos;
      if (!found) {
        return absl::InvalidArgumentError(absl::StrCat("einsum equation ", quoted,
                                                       ": output label '", std::string(1, ch),
                                                       "' appears in no input"));
      }
    }
  } else {
    std::map<char, int> counts;  // ordered: ASCII order, like NumPy and tf.einsum
    bool ellipsis = false;
    for (const std::string& in : out.inputs) {
      ellipsis = ellipsis || HasEllipsis(in);
      for (char ch : in) {
        if (IsLabel(ch)) ++counts[ch];
      }
    }
    if (ellipsis) out.output = kEllipsis;
    for (const auto& [ch, n] : counts) {
      if (n == 1) out.output.push_back(ch);
    }
  }
  return out;
}

std::vector<int64_t> Resolved::OutputDims() const {
  std::vector<int64_t> dims;
  for (int l : output_labels) dims.push_back(label_dim[l]);
  return dims;
}

absl::StatusOr<Resolved> Resolve(const Equation& eq, const std::vector<TensorShape>& shapes) {
  Resolved r;
  const int n = static_cast<int>(eq.inputs.size());
  std::vector<int> bcast(n, 0);
  for (int i = 0; i < n; ++i) {
    const std::string& subs = eq.inputs[i];
    const int named = NumNamedLabels(subs);
    const int rank = shapes[i].rank();
    if (rank < named || (rank > named && !HasEllipsis(subs))) {
      return absl::InvalidArgumentError(
          absl::StrCat("einsum input ", i, " has shape ", shapes[i].DebugString(), " (rank ", rank,
                       ") but its subscripts '", subs, "' name ", named, " dim(s)",
                       HasEllipsis(subs) ? " plus an ellipsis" : ""));
    }
    bcast[i] = rank - named;
    r.num_broadcast = std::max(r.num_broadcast, bcast[i]);
  }
  const int nb = r.num_broadcast;
  if (nb > 0 && !HasEllipsis(eq.output)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "einsum equation '", eq.ToString(), "': the inputs have ", nb,
        " broadcasting dimension(s) but the output subscripts have no ellipsis (...)"));
  }
  r.label_dim.assign(kBroadcastLabel + nb, -1);
  // Broadcast dims: the largest known dim other than 1; -1 if one is unknown; else 1.
  std::vector<int64_t> bdim(nb, 1);
  std::vector<bool> bunknown(nb, false);
  std::vector<int> first_input(kBroadcastLabel, -1);

  auto expand = [&](const std::string& subs, int nbcast) {
    std::vector<int> labels;
    for (size_t p = 0; p < subs.size();) {
      if (subs[p] == '.') {
        for (int j = nb - nbcast; j < nb; ++j) labels.push_back(kBroadcastLabel + j);
        p += 3;
      } else {
        labels.push_back(static_cast<unsigned char>(subs[p]));
        ++p;
      }
    }
    return labels;
  };

  for (int i = 0; i < n; ++i) {
    std::vector<int> labels = expand(eq.inputs[i], bcast[i]);
    for (size_t a = 0; a < labels.size(); ++a) {
      const int l = labels[a];
      const int64_t d = shapes[i].dim(static_cast<int>(a));
      if (l >= kBroadcastLabel) {
        const int j = l - kBroadcastLabel;
        if (d < 0) {
          bunknown[j] = true;
        } else if (d != 1) {
          if (bdim[j] != 1 && bdim[j] != d) {
            return absl::InvalidArgumentError(absl::StrCat(
                "einsum equation '", eq.ToString(), "': the broadcasting dims (...) of the inputs ",
                "do not broadcast: dim ", bdim[j], " against dim ", d, " of input ", i, " shaped ",
                shapes[i].DebugString()));
          }
          bdim[j] = d;
        }
        continue;
      }
      if (d < 0) continue;
      if (r.label_dim[l] >= 0 && r.label_dim[l] != d) {
        return absl::InvalidArgumentError(absl::StrCat(
            "einsum equation '", eq.ToString(), "': label '", std::string(1, static_cast<char>(l)),
            "' has dim ", r.label_dim[l], " in input ", first_input[l], " but dim ", d, " at axis ",
            a, " of input ", i, " shaped ", shapes[i].DebugString()));
      }
      r.label_dim[l] = d;
      first_input[l] = i;
    }
    r.input_labels.push_back(std::move(labels));
  }
  for (int j = 0; j < nb; ++j) {
    r.label_dim[kBroadcastLabel + j] = bdim[j] != 1 ? bdim[j] : (bunknown[j] ? -1 : 1);
  }
  r.output_labels = expand(eq.output, nb);
  return r;
}

}  // namespace einsum
}  // namespace quiver
