// The quiver CLI's subcommands and exit codes.
#pragma once

#include <string>
#include <vector>

namespace quiver::cli {

// Exit codes (documented in the README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;      // bad flags or arguments
inline constexpr int kExitBadGraph = 3;   // unreadable or invalid graph file
inline constexpr int kExitBadInput = 4;   // bad feed file, feed dtype/shape, missing feed/fetch
inline constexpr int kExitRunFailed = 5;  // a kernel failed while running
inline constexpr int kExitIoError = 6;    // cannot write outputs
inline constexpr int kExitResourceExhausted = 7;  // a memory limit, or a tensor too big to exist
inline constexpr int kExitTimeout = 8;            // --timeout-ms passed (or the step was cancelled)

inline constexpr char kUsage[] =
    "usage: quiver <command> [options]\n"
    "\n"
    "commands:\n"
    "  run GRAPH --fetch NAME[:i] [--fetch ...] [--feed NAME=FILE.npy ...] [--target NODE ...]\n"
    "            [--out DIR] [--format text|json] [--virtual-devices N] [--log-device-placement]\n"
    "            [--optimize-level 0|1] [--disable PASS ...] [--timeout-ms N]\n"
    "            [--restore CHECKPOINT] [--init NODE ...] [--save PREFIX]\n"
    "      Runs a GraphDef (.pb binary or .pbtxt text) on the CPU and prints each fetched\n"
    "      tensor's summary; with --out writes DIR/<name with / and : as _>.npy. --restore sets\n"
    "      the variables first, from a TF Saver checkpoint PREFIX or a Quiver checkpoint file.\n"
    "      --disable skips one optimization pass (names as `optimize --disable`). --init runs\n"
    "      targets once first (a variable initializer); --save PREFIX writes every variable\n"
    "      afterwards as a TF Saver checkpoint (PREFIX.index, PREFIX.data-00000-of-00001).\n"
    "  run SAVED_MODEL_DIR [--tags serve] [--signature NAME] [--feed KEY=FILE.npy ...] [...]\n"
    "      Serves a TF1 SavedModel's signature (default serving_default), its variables\n"
    "      restored; feeds and prints by the signature's keys (--fetch NAME still works).\n"
    "  inspect GRAPH|SAVED_MODEL_DIR [--format text|json]\n"
    "      Inputs (dtype, shape), outputs, op histogram, parameter count and bytes; for a\n"
    "      SavedModel, each MetaGraph's tags and signatures.\n"
    "      (place, optimize and bench also take a SAVED_MODEL_DIR, with --tags a,b.)\n"
    "  place GRAPH [--virtual-devices N] [--gpus N] [--soft] [--log] [--format text|json|dot|svg]\n"
    "        [--fetch NAME ... --target NODE ... --feed NAME[=DIMS] ... --optimize-level 0|1]\n"
    "      Placement analysis: every node's device and why, per-device op counts and FLOPs,\n"
    "      and every cross-device transfer (tensor, dtype, shape, bytes). --gpus N plans for a\n"
    "      machine with N GPUs; --fetch/--target report on one step as a Session compiles it\n"
    "      (pruned, optimized, specialised to --feed x=100x784 shapes): its exact transfers.\n"
    "  optimize GRAPH -o OUT.pb [--fetch NAME ...] [--feed NAME[=DIMS] ...] [--disable PASS ...]\n"
    "           [--level 0|1] [--dump-after PASS --dump-dir DIR] [--report]\n"
    "      Runs the pass pipeline (prune, control-only prune, constant folding, CSE,\n"
    "      arithmetic simplification, batch-norm folding, MatMul/Conv2D fusion, element-wise\n"
    "      fusion, variable update ordering, memory planning)\n"
    "      and writes a portable GraphDef; --report lists every rewrite and skipped candidate;\n"
    "      --feed x=1x784 specialises the graph to that input shape.\n"
    "  bench GRAPH --fetch NAME [--feed NAME=FILE.npy ...] [--target NODE ...] [--init NODE ...]\n"
    "        [--iters N] [--warmup N] [--profile-iters N] [--max-seconds S] [--top K]\n"
    "        [--inter-op-threads N] [--intra-op-threads N] [--optimize-level 0|1]\n"
    "        [--disable PASS ...] [--restore CHECKPOINT] [--format text|json]\n"
    "      Latency percentiles, per-op kernel time table and peak tensor memory. GRAPH may be a\n"
    "      SavedModel directory: its signature runs (--tags, --signature as for run).\n"
    "  ops [--op NAME ...] [--device cpu|gpu [--missing]] [--format text|json]\n"
    "      The ops this build knows: each device's kernel dtypes and whether it has a gradient;\n"
    "      --missing lists the ops without a kernel on --device.\n"
    "\n"
    "exit codes: 0 ok, 2 usage, 3 bad graph file, 4 bad feed/fetch, 5 run failed, 6 I/O error,\n"
    "            7 resource limit, 8 timeout or cancelled\n";

int RunCommand(const std::string& command, const std::vector<std::string>& args);
int RunMain(const std::vector<std::string>& args);
int InspectMain(const std::vector<std::string>& args);
int PlaceMain(const std::vector<std::string>& args);
int OptimizeMain(const std::vector<std::string>& args);
int BenchMain(const std::vector<std::string>& args);
int OpsMain(const std::vector<std::string>& args);

}  // namespace quiver::cli
