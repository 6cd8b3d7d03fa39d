// The libFuzzer entry point of every target in tests/fuzz/CMakeLists.txt, which defines
// QUIVER_FUZZ_TARGET to the target's number below. Without that definition this file compiles
// to nothing (the CPU suite's glob in tests/CMakeLists.txt also leaves tests/fuzz out).
#ifdef QUIVER_FUZZ_TARGET
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "graph/tensor_proto.h"
#include "tests/fuzz/fuzz_targets.h"

// The fuzzers run under -rss_limit_mb=2048: constants past 64 MiB are refused (a clean
// ResourceExhausted), as a memory-tight server would configure it.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  quiver::SetMaxProtoTensorBytes(int64_t{64} << 20);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
#if QUIVER_FUZZ_TARGET == 1  // graphdef_fuzzer
  const auto outcome = quiver::fuzz::GraphDefImport(bytes, quiver::GraphDefFormat::kBinary);
#elif QUIVER_FUZZ_TARGET == 2  // graphdef_text_fuzzer
  const auto outcome = quiver::fuzz::GraphDefImport(bytes, quiver::GraphDefFormat::kText);
#elif QUIVER_FUZZ_TARGET == 3  // optimize_fuzzer
  const auto outcome = quiver::fuzz::ImportAndOptimize(bytes);
#elif QUIVER_FUZZ_TARGET == 4  // npy_fuzzer
  const auto outcome = quiver::fuzz::NpyParse(bytes);
#elif QUIVER_FUZZ_TARGET == 5  // tf_checkpoint_fuzzer
  const auto outcome = quiver::fuzz::TfCheckpointRead(bytes);
#elif QUIVER_FUZZ_TARGET == 6  // saved_model_fuzzer
  const auto outcome = quiver::fuzz::SavedModelLoad(bytes, QUIVER_FUZZ_VARIABLES_DIR);
#else
#error "QUIVER_FUZZ_TARGET must be 1-6"
#endif
  if (!outcome.violation.empty()) {
    std::fprintf(stderr, "fuzz invariant failed: %s\n", outcome.violation.c_str());
    std::abort();
  }
  return 0;
}
#endif  // QUIVER_FUZZ_TARGET
