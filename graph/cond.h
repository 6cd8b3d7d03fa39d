// tf.cond for the C++ builder (TF1's control flow v1):
//
//   std::vector<Output> y = Cond(b, pred, {x},
//       [](GraphBuilder& b, const std::vector<Output>& in) { return std::vector{Relu(in[0])}; },
//       [](GraphBuilder& b, const std::vector<Output>& in) { return std::vector{Neg(in[0])}; });
//
// Each input enters each branch through a Switch on `pred`; the branch's results meet in one
// Merge per output; every node a branch creates also waits on its pivot (an Identity of the
// predicate's Switch), so even a branch of constants runs only when taken. Only the taken
// branch runs. Branches must read outer tensors through `inputs` (a tensor captured directly
// would run on both sides), and return as many results as each other, with the same dtypes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "graph/builder.h"

namespace quiver {

using CondBranch =
    std::function<std::vector<Output>(GraphBuilder& b, const std::vector<Output>& inputs)>;

// The Merge outputs, one per branch result; empty (and b.status() set) on error.
std::vector<Output> Cond(GraphBuilder& b, Output pred, const std::vector<Output>& inputs,
                         const CondBranch& then_branch, const CondBranch& else_branch,
                         const std::string& name = "cond");

}  // namespace quiver
