#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for SECONDS_PER_TARGET
# (default 60), one after the other, then prints executions and coverage per target.
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   targets: graphdef_fuzzer graphdef_text_fuzzer optimize_fuzzer npy_fuzzer tf_checkpoint_fuzzer
#            saved_model_fuzzer
#            (default: all)
#
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_NICE (default 10), FUZZ_JOBS (build
# parallelism, default 2), FUZZ_NO_BUILD=1 (run the fuzzers already built). The corpus grows in $FUZZ_BUILD_DIR/fuzz-corpus/<target> and is
# reused by the next run, so short runs add up. Seeds come from tests/data (GraphDef fixtures,
# .npy files, the TF checkpoints under tests/data/tf_checkpoint, every input under
# tests/data/fuzz_regressions/<target>/). A crash, leak or
# timeout leaves its input in $FUZZ_BUILD_DIR/fuzz-artifacts/<target>/ and makes the script
# exit 1: fix it, then copy the input to tests/data/fuzz_regressions/<target>/, where
# tests/tools/fuzz_regression_test.cc replays it in the normal test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(graphdef_fuzzer graphdef_text_fuzzer optimize_fuzzer npy_fuzzer tf_checkpoint_fuzzer
           saved_model_fuzzer)
fi
build=${FUZZ_BUILD_DIR:-build-fuzz}
nice_level=${FUZZ_NICE:-10}

if [ ! -f "$build/build.ninja" ]; then
  launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" -DQUIVER_FUZZ=ON -DQUIVER_BUILD_TESTS=OFF \
    -DQUIVER_CUDA=OFF "${launcher[@]}"
fi
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  nice -n "$nice_level" cmake --build "$build" --target quiver_fuzzers -j"${FUZZ_JOBS:-2}"
fi

# The byte $1 (0-255); the little-endian uint16 $1.
byte() { printf '%b' "\\x$(printf %02x $(($1 & 255)))"; }
le16() { byte "$1" && byte $(($1 >> 8)); }

# A tf_checkpoint_fuzzer input (tests/fuzz/fuzz_targets.h, TfCheckpointRead): a flags byte
# (bit 0: repair the checksums; bits 1-2: shard count - 1), uint16 lengths of the index and of
# every shard but the last, then the files. Args: repair(0/1) index shard...
checkpoint_seed() {
  local repair=$1 index=$2
  shift 2
  local shards=("$@") n=$#
  byte $((repair | ((n - 1) << 1)))
  le16 "$(stat -c %s "$index")"
  local k
  for ((k = 0; k < n - 1; k++)); do le16 "$(stat -c %s "${shards[k]}")"; done
  cat "$index" "${shards[@]}"
}

# Seeds: copied into one directory per target (libFuzzer reads directories).
seeds_for() {
  local target=$1 dir=$2
  rm -rf "$dir" && mkdir -p "$dir"
  local graphs=() texts=()
  for f in tests/data/tf/*/graph.pb ../shared/data/realworld/*.pb; do
    # Seeds over 64 KiB (the mlp weights) only slow the mutator down.
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 65536 ] && graphs+=("$f")
  done
  for f in tests/data/tf/*/graph.pbtxt ../shared/data/realworld/*.pbtxt; do
    [ -f "$f" ] && texts+=("$f")
  done
  local i=0
  case $target in
    graphdef_fuzzer)
      for f in "${graphs[@]}"; do cp "$f" "$dir/seed$((i++)).pb"; done ;;
    graphdef_text_fuzzer|optimize_fuzzer)
      for f in "${texts[@]}"; do cp "$f" "$dir/seed$((i++)).pbtxt"; done
      for f in "${graphs[@]}"; do
        # (The name is taken first: an arithmetic side effect inside the redirection of an
        # external command is lost, and every graph would overwrite the same seed.)
        local out="$dir/seed$((i++)).pbtxt"
        protoc -I. --decode=tensorflow.GraphDef proto/graph.proto <"$f" >"$out" || rm -f "$out"
      done
      if [ "$target" = optimize_fuzzer ]; then
        # optimize_fuzzer's first byte picks fetches/feeds; give each seed two modes, and the
        # binary graphs too.
        for f in "${graphs[@]}"; do cp "$f" "$dir/seed$((i++)).pb"; done
        for f in "$dir"/seed*; do
          { printf '\x00'; cat "$f"; } >"$f.m0"
          { printf '\x03'; cat "$f"; } >"$f.m3"
          rm "$f"
        done
      fi ;;
    npy_fuzzer)
      for f in tests/data/npy/*.npy; do cp "$f" "$dir/seed$((i++)).npy"; done ;;
    tf_checkpoint_fuzzer)
      # Each TF-written bundle (one shard; two shards), with and without the checksum repair.
      local ckpt=tests/data/tf_checkpoint repair
      for repair in 0 1; do
        checkpoint_seed $repair $ckpt/model.ckpt.index $ckpt/model.ckpt.data-00000-of-00001 \
          >"$dir/single_repair$repair.ckpt"
        checkpoint_seed $repair $ckpt/sharded/model.ckpt.index \
          $ckpt/sharded/model.ckpt.data-00000-of-00002 \
          $ckpt/sharded/model.ckpt.data-00001-of-00002 >"$dir/sharded_repair$repair.ckpt"
      done ;;
    saved_model_fuzzer)
      # The TF1 and TF2 SavedModels (TF2: function libraries, object-path checkpoint keys).
      for f in tests/data/saved_model/*/model/saved_model.pb; do
        cp "$f" "$dir/seed$((i++)).pb"
      done ;;
  esac
  if [ -d "tests/data/fuzz_regressions/$target" ]; then
    cp tests/data/fuzz_regressions/"$target"/* "$dir"/ 2>/dev/null || true
  fi
}

declare -A max_len=([graphdef_fuzzer]=65536 [graphdef_text_fuzzer]=65536
                    [optimize_fuzzer]=65536 [npy_fuzzer]=4096 [tf_checkpoint_fuzzer]=4096
                    [saved_model_fuzzer]=65536)
declare -A dict=([graphdef_fuzzer]=graphdef.dict [graphdef_text_fuzzer]=graphdef.dict
                 [optimize_fuzzer]=graphdef.dict [npy_fuzzer]=npy.dict
                 [tf_checkpoint_fuzzer]=tf_checkpoint.dict [saved_model_fuzzer]=graphdef.dict)
status=0
summary=()
for target in "${targets[@]}"; do
  corpus=$build/fuzz-corpus/$target
  seeds=$build/fuzz-seeds/$target
  artifacts=$build/fuzz-artifacts/$target
  log=$build/fuzz-logs/$target.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  seeds_for "$target" "$seeds"
  echo "== $target: ${secs}s (log: $log)"
  # -rss_limit_mb: a graph that asks for gigabytes must get an error, not an allocation.
  # -timeout: no single input may take 10 s. detect_leaks: libFuzzer's leak check after runs.
  rc=0
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  OMP_NUM_THREADS=1 \
    nice -n "$nice_level" "$build/tests/fuzz/$target" -max_total_time="$secs" \
      -max_len="${max_len[$target]}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -dict="$root/tests/fuzz/${dict[$target]}" -artifact_prefix="$artifacts/" \
      "$corpus" "$seeds" >"$log" 2>&1 || rc=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
  files=$(find "$corpus" -type f | wc -l)
  line="$target: ${secs}s, ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}, corpus $files files"
  if [ $rc -ne 0 ]; then
    line="$line -- FAILED (rc $rc): $(ls -t "$artifacts" | head -1)"
    grep -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|fuzz invariant' \
      "$log" | head -3 >&2 || true
    status=1
  fi
  echo "$line"
  summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
