// The CPU kernel of "_While" (graph/while_loop.h): TF's While, run as its functional form.
//
// At creation the cond and body GraphDefs are imported into two Sessions of their own (so
// each is optimized, placed and cached like any graph, nested loops and conditionals
// included); every step then runs cond on the loop variables and, while it says true, the
// body, whose results become the next variables. Iterations run one after another (TF's
// parallel_iterations only overlaps independent iterations; the results are the same). The
// loop stops early, with the step's status, when the step is cancelled or past its deadline.
// Loops run on the CPU (the sessions have no accelerators); on a GPU graph the loop's inputs
// come to the host and its results go back, once per step. Variables (TF1 refs, TF2 resources)
// cannot be read inside the loop: the sessions share none with the outer graph.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"
#include "graph/while_loop.h"
#include "runtime/run_options.h"
#include "runtime/session.h"

namespace quiver {
namespace {

// Loops nest by running sessions inside a kernel, on the same thread: a GraphDef nesting
// loops thousands deep (a malformed or hostile file) would overflow the stack.
constexpr int kMaxLoopNesting = 64;
thread_local int loop_nesting = 0;

class WhileOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(dtypes_, c.GetAttr<std::vector<DataType>>("T"));
    for (int i = 0; i < static_cast<int>(dtypes_.size()); ++i) {
      args_.push_back(WhileArgName(i));
      results_.push_back(WhileResultName(i));
    }
    ASSIGN_OR_RETURN(cond_, MakeSession(c, "cond_graph"));
    ASSIGN_OR_RETURN(body_, MakeSession(c, "body_graph"));
    // Prepared signatures: an iteration pays no name lookups.
    // The loop never writes a buffer it fed: results may share them.
    auto cond_call = cond_->MakeCallable(args_, {WhileResultName(0)}, {}, true);
    if (!cond_call.ok()) return c.Error(absl::StrCat("cond: ", cond_call.status().message()));
    auto body_call = body_->MakeCallable(args_, results_, {}, true);
    if (!body_call.ok()) return c.Error(absl::StrCat("body: ", body_call.status().message()));
    cond_call_ = *cond_call;
    body_call_ = *body_call;
    return absl::OkStatus();
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    if (loop_nesting >= kMaxLoopNesting) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "node '", ctx.node().name(), "' (_While): loops nest deeper than ", kMaxLoopNesting));
    }
    ++loop_nesting;
    absl::Status s = Iterate(ctx);
    --loop_nesting;
    return s;
  }

 private:
  absl::Status Iterate(OpKernelContext& ctx) const {
    std::vector<Tensor> vars(args_.size());
    for (size_t i = 0; i < args_.size(); ++i) {
      if (ctx.ref_input(static_cast<int>(i)) != nullptr) {
        return ctx.Error(absl::StrCat("loop variable ", i, " is a variable reference"));
      }
      vars[i] = ctx.input(static_cast<int>(i));
    }
    const StepResources& step = ctx.resources();
    RunOptions iteration_options;  // the outer step's thread budget holds inside the loop
    iteration_options.intra_op_threads = ctx.intra_op_threads();
    for (int64_t iteration = 0;; ++iteration) {
      if (step.cancellation != nullptr && step.cancellation->cancelled()) {
        return absl::CancelledError("the step was cancelled");
      }
      if (step.deadline && std::chrono::steady_clock::now() > *step.deadline) {
        return absl::DeadlineExceededError("the step ran past its RunOptions deadline");
      }
      auto go = cond_->RunCallable(cond_call_, vars, iteration_options);
      if (!go.ok()) return IterationError(ctx, "cond", iteration, go.status());
      const Tensor& pred = (*go)[0];
      if (pred.dtype() != DT_BOOL || pred.num_elements() != 1) {
        return ctx.Error(absl::StrCat("cond must compute a bool scalar; iteration ", iteration,
                                      " gave ", DataTypeName(pred.dtype()), " ",
                                      pred.shape().DebugString()));
      }
      if (!*pred.data<bool>()) break;
      // The body takes the values over, so a value only it holds (a list written every
      // iteration) is updated in place instead of copied.
      auto next = body_->RunCallable(body_call_, std::move(vars), iteration_options);
      if (!next.ok()) return IterationError(ctx, "body", iteration, next.status());
      vars.resize(args_.size());
      for (size_t i = 0; i < vars.size(); ++i) {
        if ((*next)[i].dtype() != dtypes_[i]) {
          return ctx.Error(absl::StrCat("body turned loop variable ", i, " from ",
                                        DataTypeName(dtypes_[i]), " into ",
                                        DataTypeName((*next)[i].dtype())));
        }
        vars[i] = std::move((*next)[i]);
      }
    }
    for (size_t i = 0; i < vars.size(); ++i) {
      ctx.set_output(static_cast<int>(i), std::move(vars[i]));
    }
    return absl::OkStatus();
  }

  static absl::StatusOr<std::unique_ptr<Session>> MakeSession(OpKernelConstruction& c,
                                                              const std::string& attr) {
    ASSIGN_OR_RETURN(std::string bytes, c.GetAttr<std::string>(attr));
    tensorflow::GraphDef graph_def;
    if (!graph_def.ParseFromString(bytes)) return c.Error(absl::StrCat(attr, " is malformed"));
    SessionOptions options;
    options.inter_op_threads = 1;  // the outer step already runs nodes in parallel
    // The kernel is the CPU's, and so are the loop's values: its body runs there too (with
    // devices of its own it would copy every variable in and out at every iteration).
    options.use_accelerators = false;
    auto session = Session::Create(graph_def, options);
    if (!session.ok()) {
      return c.Error(
          absl::StrCat("cannot load the loop's ", attr, ": ", session.status().message()));
    }
    return session;
  }

  static absl::Status IterationError(const OpKernelContext& ctx, const char* part,
                                     int64_t iteration, const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("node '", ctx.node().name(), "' (_While): ", part,
                                               " of iteration ", iteration, ": ", s.message()));
  }

  std::vector<DataType> dtypes_;
  std::vector<std::string> args_, results_;
  std::unique_ptr<Session> cond_, body_;
  Session::CallableHandle cond_call_ = -1, body_call_ = -1;
};

KernelFactory WhileFactory() {
  return [](OpKernelConstruction& c) -> KernelOrError {
    auto k = std::make_unique<WhileOp>();
    RETURN_IF_ERROR(k->Init(c));
    return std::unique_ptr<OpKernel>(std::move(k));
  };
}

QUIVER_REGISTER_KERNEL(KernelDef(kWhileOp, kCpu), WhileFactory());

}  // namespace
}  // namespace quiver
