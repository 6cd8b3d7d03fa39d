// Einsum equations (TF's Einsum op, tf.einsum / numpy.einsum notation), shared by the op's
// shape function, the CPU kernel and the gradient.
//
//   "ij,jk->ik"          matrix product            "bij,bjk->bik"   batched
//   "ij->ji"             transpose                 "ij->"           sum of everything
//   "...ij,...jk->...ik" broadcasting batch dims   "ij,jk"          implicit output ("ik")
//   "ii->i"              diagonal (a label repeated within one operand)
//
// Labels are letters; each operand may hold one "..." standing for any number of leading,
// middle or trailing dims, which broadcast NumPy-style across operands (named labels must
// agree exactly, as in TF).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/tensor_shape.h"

namespace quiver {
namespace einsum {

// An equation with an explicit output. Subscripts are kept as written ("..." included),
// whitespace removed. An implicit output ("ij,jk") is resolved as NumPy and tf.einsum do: "..."
// when some input has one, then the labels that appear exactly once overall, in ASCII order.
struct Equation {
  std::vector<std::string> inputs;
  std::string output;
  std::string ToString() const;  // "ij,jk->ik"
};

// Parses `equation` for `num_inputs` operands. Errors (no node prefix; callers add it) say what
// is wrong: a character that is not a letter, a misplaced '.', a wrong number of operands, an
// output label that no input has.
absl::StatusOr<Equation> ParseEquation(const std::string& equation, int num_inputs);

// Label ids: a named label is its character code (< 128); the j-th of the B broadcast dims
// that the ellipses stand for is kBroadcastLabel + j. Inputs with fewer broadcast dims take the
// last ones (right-aligned, as in NumPy).
inline constexpr int kBroadcastLabel = 128;

// An equation applied to input shapes of known rank.
struct Resolved {
  std::vector<std::vector<int>> input_labels;  // per input, one label id per axis
  std::vector<int> output_labels;              // one label id per output axis
  std::vector<int64_t> label_dim;              // by label id; -1 unknown (or unused id)
  int num_broadcast = 0;                       // B
  std::vector<int64_t> OutputDims() const;
};

// Expands the ellipses for `shapes` (known ranks; dims may be -1) and gives every label its
// dim: the occurrences of a named label must have equal dims; broadcast dims broadcast (1 against
// n). Errors (no node prefix) name the input, the label and the dims that disagree.
absl::StatusOr<Resolved> Resolve(const Equation& eq, const std::vector<TensorShape>& shapes);

// Whether `subscripts` contains "...".
bool HasEllipsis(const std::string& subscripts);
// The number of named labels in `subscripts` (letters; "..." not counted).
int NumNamedLabels(const std::string& subscripts);

}  // namespace einsum
}  // namespace quiver
