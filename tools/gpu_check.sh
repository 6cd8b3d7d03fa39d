#!/usr/bin/env bash
# The one GPU check for Quiver (issue 5). Two halves:
#
#   Here (Debian dev/CI machine: CUDA toolkit, our Debian libs, no GPU):
#     tools/gpu_check.sh --pack OUT.tar.xz [--build-dir DIR]
#       builds a Release tree with CUDA (QUIVER_CUDA=ON, sm_90) in DIR (default build-gpucheck;
#       an existing configured tree is reused incrementally), then packs into one .tar.xz
#       (< 64 MiB): the binaries (quiver_gpu_tests, quiver CLI, mnist_softmax, mnist_cnn),
#       libquiver.so, every non-system shared library `ldd` lists (libdnnl, libprotobuf,
#       libabsl_*, libgomp, ...; CUDA libraries excepted: the GPU machine brings its own),
#       the TF fixtures and MNIST.
#
#   There (H100/H200: CUDA 13 driver, PyTorch with nvidia/* wheels, no registry, none of our
#   Debian libs):
#     tools/gpu_check.sh --run ARCHIVE [--workdir DIR]
#       unpacks, puts the bundle's libs and the CUDA libs found in python3's site-packages
#       (nvidia/*/lib, nvidia/cu13/lib) and /usr/local/cuda on LD_LIBRARY_PATH, prints the card
#       and driver, runs the gpu-labelled tests (GPU kernels vs CPU kernels, every TF fixture on
#       /gpu:0), trains mnist_softmax and mnist_cnn for fixed steps on the GPU, times a few
#       graphs GPU vs CPU (CPU = the same binary with CUDA_VISIBLE_DEVICES=''), and prints a
#       short table last. Budget: under 8 minutes. Exit status 0 only if everything passed.
#
#   Without a GPU, --run degrades: the tests report skipped and the table says so (exit 2).
#
#   --run options: --deadline S (default 480) bounds stages 1-3: each stage's timeout is cut
#   to the time left, and a stage with no time left is reported NOT RUN (exit 3), so the
#   summary always prints. --logs DIR (default $OUT, set by the device tool) receives every
#   stage's full log and summary.txt, written line by line as results arrive. --jobs N
#   (default 4): the gpu test cases run N at a time, each in its own process with
#   CUDA_LAUNCH_BLOCKING=1, so a device fault is reported by the kernel that caused it and
#   cannot poison the CUDA context of the other cases.
#
#   Comparison with PyTorch and JAX (issue 7, tools/gpu_compare/):
#     --pack also writes the tools/bench cases (GraphDefs + feeds + TF reference values, made
#       with TensorFlow here: python3 must import tensorflow, else they are left out with a
#       warning) into the bundle's compare/; --no-compare leaves them out.
#     --run ... --compare adds a last stage: gpu_compare.py runs every case in Quiver
#       (`quiver bench`), PyTorch eager, torch.compile and jax.jit on the GPU (the CPU without
#       one), checks their outputs agree, and adds one summary line per case. About 2-4 min on
#       the GPU (torch.compile's compiles dominate); --compare-only skips stages 1-3.
#       --compare-timeout S (default 300) bounds it; its JSON is WORKDIR/compare.json.
set -uo pipefail

usage() {
  awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"
  exit 64
}

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
MODE="${1:-}"
ORIG_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
[ $# -ge 2 ] || usage
TARGET="$2"
shift 2
BUILD_DIR="$REPO/build-gpucheck"
WORKDIR="/tmp/quiver-gpu-check"
COMPARE=0          # --run: 1 adds the PyTorch/JAX stage, 2 runs only it
COMPARE_TIMEOUT=300
PACK_COMPARE=1
DEADLINE=480       # --run: seconds for stages 1-3 (the device tool allows 600 per command)
JOBS=4             # --run: gpu test cases run in parallel, each in its own process
LOG_DIR="${OUT:-}" # --run: where logs and summary.txt go ($OUT on the device tool)
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR="$(cd "$REPO" && realpath -m "$2")"; shift 2 ;;
    --workdir) WORKDIR="$(realpath -m "$2")"; shift 2 ;;
    --compare) [ "$COMPARE" = 2 ] || COMPARE=1; shift ;;
    --compare-only) COMPARE=2; shift ;;
    --compare-timeout) COMPARE_TIMEOUT="$2"; shift 2 ;;
    --no-compare) PACK_COMPARE=0; shift ;;
    --deadline) DEADLINE="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --logs) LOG_DIR="$(realpath -m "$2")"; shift 2 ;;
    *) usage ;;
  esac
done

log() { printf '[gpu_check %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# ---------------------------------------------------------------------------------------------
pack() {
  local out
  out="$(realpath -m "$TARGET")"
  command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || {
    echo "gpu_check --pack: no nvcc here; pack on a machine with the CUDA toolkit" >&2
    exit 1
  }
  export PATH="$PATH:/usr/local/cuda/bin"
  log "configuring $BUILD_DIR (Release, QUIVER_CUDA=ON, sm_90)"
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
                                            -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  CCACHE_BASEDIR="$REPO" cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DQUIVER_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 "${launcher[@]}" >/dev/null || exit 1
  log "building (this is the slow part on 2 cores)"
  CCACHE_BASEDIR="$REPO" cmake --build "$BUILD_DIR" -j"$(nproc)" \
    --target quiver quiver_cli quiver_gpu_tests mnist_softmax mnist_cnn || exit 1

  local stage
  stage="$(mktemp -d)/quiver-gpu-bundle"
  mkdir -p "$stage/bin" "$stage/lib" "$stage/data/mnist" "$stage/data/tests"
  local bins=(quiver_gpu_tests quiver mnist_softmax mnist_cnn)
  for b in "${bins[@]}"; do
    local f
    f="$(find "$BUILD_DIR" -maxdepth 3 -type f -name "$b" -perm -u+x | head -1)"
    [ -n "$f" ] || { echo "gpu_check --pack: $b not built in $BUILD_DIR" >&2; exit 1; }
    cp "$f" "$stage/bin/"
    strip --strip-unneeded "$stage/bin/$b" 2>/dev/null || true
  done
  cp "$BUILD_DIR/libquiver.so" "$stage/lib/"
  strip --strip-unneeded "$stage/lib/libquiver.so" 2>/dev/null || true

  # Non-system libraries: everything ldd resolves except glibc's own, libstdc++/libgcc (newer
  # on the GPU machine), and CUDA's (the GPU machine's driver-matched ones are used there).
  local skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|librt\.|libpthread\.|libstdc\+\+\.|libgcc_s\.|libcuda\.|libcudart\.|libcublas|libcublasLt\.|libcudnn|libnvrtc|libnvJitLink)'
  local libs
  libs="$(for f in "$stage"/bin/* "$stage/lib/libquiver.so"; do ldd "$f"; done |
          awk '/=> \// {print $1" "$3}' | sort -u)"
  while read -r name path; do
    [ -n "$name" ] || continue
    if [[ "$name" =~ $skip ]]; then continue; fi
    cp -L "$path" "$stage/lib/$name"
    strip --strip-unneeded "$stage/lib/$name" 2>/dev/null || true
  done <<<"$libs"
  # libstdc++/libgcc_s as a fallback only: --run puts lib/compat first when the GPU machine's
  # libstdc++ is older than ours (it lacks our newest GLIBCXX version).
  mkdir -p "$stage/lib/compat"
  for f in "$stage"/bin/* "$stage/lib/libquiver.so"; do ldd "$f"; done |
    awk '/=> \// && ($1 ~ /^libstdc\+\+\./ || $1 ~ /^libgcc_s\./) {print $1" "$3}' | sort -u |
    while read -r name path; do cp -L "$path" "$stage/lib/compat/$name"; done
  objdump -T "$stage/lib/libquiver.so" "$stage"/bin/* 2>/dev/null |
    grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1 >"$stage/lib/compat/NEEDS_GLIBCXX"
  # What the CUDA libraries must provide there (sonames), for the run half to check.
  for f in "$stage"/bin/* "$stage/lib/libquiver.so"; do ldd "$f"; done |
    awk '{print $1}' | grep -E '^lib(cudart|cublas|cublasLt|cudnn|nvrtc)' | sort -u \
    >"$stage/lib/CUDA_SONAMES"

  # All of tests/data (~3 MB): the gpu-labelled tests read QUIVER_TEST_DATA_DIR/<folder>
  # (tf, nchw, ...), and a folder left out fails its test on the GPU machine.
  cp -r "$REPO/tests/data/." "$stage/data/tests/"
  local mnist="$REPO/../shared/data/mnist"
  if [ -d "$mnist" ]; then
    cp "$mnist"/*.gz "$stage/data/mnist/" 2>/dev/null || true
    cp "$mnist"/SHA256SUMS.raw "$stage/data/mnist/" 2>/dev/null || true
  else
    log "warning: no MNIST at $mnist; the training steps will be skipped there"
  fi
  cp "$SCRIPT_DIR/gpu_check.sh" "$stage/gpu_check.sh"
  # The PyTorch/JAX comparison: the GPU machine has no TensorFlow, so the cases are written
  # here, as their own archive with a dictionary large enough to share cnn_b1's and cnn_b256's
  # weights (the two frozen graphs differ in a few bytes).
  if [ "$PACK_COMPARE" = 1 ]; then
    if python3 -c 'import tensorflow' >/dev/null 2>&1; then
      log "writing the PyTorch/JAX comparison cases (TensorFlow)"
      mkdir -p "$stage/compare"
      local cases
      cases="$(mktemp -d)/cases"
      if TF_CPP_MIN_LOG_LEVEL=3 python3 "$SCRIPT_DIR/gpu_compare/export_cases.py" --out "$cases" \
           >"$stage/compare/export.log" 2>&1; then
        tar -C "$(dirname "$cases")" --sort=name -cf - cases |
          xz -T1 --lzma2=preset=6,dict=32MiB >"$stage/compare/cases.tar.xz" || exit 1
        cp "$SCRIPT_DIR/gpu_compare/gpu_compare.py" "$stage/compare/"
        log "comparison cases: $(du -sh "$cases" | cut -f1) -> $(du -h "$stage/compare/cases.tar.xz" | cut -f1)"
      else
        log "warning: export_cases.py failed (see below); no comparison cases in the bundle"
        tail -5 "$stage/compare/export.log" >&2
        rm -rf "$stage/compare"
      fi
      rm -rf "$(dirname "$cases")"
    else
      log "warning: python3 has no tensorflow; no PyTorch/JAX comparison cases in the bundle"
    fi
  fi
  (cd "$REPO" && git rev-parse HEAD 2>/dev/null; git -C "$REPO" status --short 2>/dev/null | head -50) \
    >"$stage/BUILD_INFO" || true
  {
    echo "built: $(date -u +%FT%TZ) on $(uname -n)"
    nvcc --version 2>/dev/null | tail -1
  } >>"$stage/BUILD_INFO"

  log "packing $(du -sh "$stage" | cut -f1) into $out"
  tar -C "$(dirname "$stage")" -cf - "$(basename "$stage")" | xz -T0 -6 >"$out" || exit 1
  rm -rf "$(dirname "$stage")"
  local size
  size=$(stat -c %s "$out")
  log "archive: $out ($((size / 1024 / 1024)) MiB, $size bytes)"
  if [ "$size" -ge $((64 * 1024 * 1024)) ]; then
    echo "gpu_check --pack: archive is over 64 MiB" >&2
    exit 1
  fi
}

# ---------------------------------------------------------------------------------------------
RESULTS=()
compare_stage() {  # bundle gpu_name
  local B=$1 dev=cuda
  [ "$2" = none ] && dev=cpu
  local py="${PYTHON:-python3}" t0=$SECONDS
  if [ ! -f "$B/compare/cases.tar.xz" ] || [ ! -f "$B/compare/gpu_compare.py" ]; then
    result "compare vs PyTorch/JAX" "SKIPPED" "no comparison cases in the bundle (packed without TF?)"
    return
  fi
  rm -rf "$WORKDIR/compare" && mkdir -p "$WORKDIR/compare"
  if ! tar -C "$WORKDIR/compare" -xJf "$B/compare/cases.tar.xz" 2>/dev/null; then
    "$py" -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" \
      "$B/compare/cases.tar.xz" "$WORKDIR/compare" ||
      { result "compare vs PyTorch/JAX" "FAIL" "cannot unpack the cases"; return; }
  fi
  local json="$WORKDIR/compare.json" rc
  # Python (PyTorch, JAX) runs with the caller's LD_LIBRARY_PATH, not the bundle's libs (zlib,
  # libgomp, protobuf, ...); quiver gets them through a wrapper.
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$LD_LIBRARY_PATH" "$B/bin/quiver" \
    >"$WORKDIR/compare/quiver" && chmod +x "$WORKDIR/compare/quiver"
  # torch.compile is skipped for the cases left once 60% of the time is spent.
  env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" timeout "$COMPARE_TIMEOUT" "$py" \
    "$B/compare/gpu_compare.py" --cases "$WORKDIR/compare/cases" --quiver "$WORKDIR/compare/quiver" \
    --device "$dev" --budget-s $((COMPARE_TIMEOUT * 6 / 10)) \
    --out "$json" >"$WORKDIR/compare.txt" 2>"$WORKDIR/compare.log"
  rc=$?
  grep -E '^(>>|   )' "$WORKDIR/compare.log" | grep -v Warning | tail -60
  cat "$WORKDIR/compare.txt"
  if [ $rc -eq 124 ]; then
    result "compare vs PyTorch/JAX ($dev)" "FAIL" "timed out after ${COMPARE_TIMEOUT}s (log: $WORKDIR/compare.log)"
    return
  fi
  if [ ! -f "$json" ]; then
    tail -20 "$WORKDIR/compare.log"
    result "compare vs PyTorch/JAX ($dev)" "FAIL" "rc=$rc, no results (log: $WORKDIR/compare.log)"
    return
  fi
  local st=ok msg="all outputs agree"
  # Without a GPU it runs on the CPU: the script is checked, the GPU is not.
  [ "$dev" = cpu ] && { st=SKIPPED; msg="no GPU: ran on the CPU, all outputs agree"; }
  [ $rc -ne 0 ] && { st=FAIL; msg="rc=$rc: a check failed"; }
  result "compare vs PyTorch/JAX ($dev)" "$st" "$msg, $((SECONDS - t0)) s, $json"
  local line
  while IFS= read -r line; do RESULTS+=("$line"); done < <("$py" - "$json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
def ms(r, fw):
    v = r.get(fw, {}).get("host_median_ms")
    return "%.3f" % v if v is not None else ("err" if "error" in r.get(fw, {}) else "-")
for r in d["results"]:
    ratios = "/".join("%.2f" % r[k] if k in r else "-" for k in
                      ("quiver_over_torch", "quiver_over_torch_compile", "quiver_over_jax"))
    print("%-34s %-8s %s" % ("  %s" % r["case"], "info",
          "ms: Q %s, eager %s, compile %s, jax %s; Q/x %s" % (
              ms(r, "quiver"), ms(r, "torch"), ms(r, "torch_compile"), ms(r, "jax"), ratios)))
EOF
)
}
result() {
  local line
  line="$(printf '%-34s %-8s %s' "$1" "$2" "$3")"
  RESULTS+=("$line")
  echo ">> $line"
  [ -n "$LOG_DIR" ] && echo "$line" >>"$LOG_DIR/summary.txt"
  return 0
}
# Seconds left for stages 1-3, and a timeout for the next command: its own limit, cut to the
# time left less a reserve for the summary.
time_left() { echo $((DEADLINE - (SECONDS - RUN_START))); }
budget() {  # wanted_seconds -> seconds to give (0: do not start)
  local left=$(( $(time_left) - 10 ))
  if [ "$left" -lt 15 ]; then echo 0; elif [ "$1" -lt "$left" ]; then echo "$1"; else echo "$left"; fi
}

# Stage 1: every gpu test case in its own process, JOBS at a time. Prints one line per case
# and leaves per-case logs in $1/; sets TESTS_FAILED / TESTS_SKIPPED / TESTS_PASSED.
run_gpu_tests() {  # logdir
  local dir=$1 bin="$B/bin/quiver_gpu_tests" limit
  mkdir -p "$dir"
  "$bin" --list-test-names-only 2>/dev/null | sed '/^$/d' >"$dir/cases.txt"
  local n
  n=$(wc -l <"$dir/cases.txt")
  limit=$(budget 200)
  echo "$n test cases, $JOBS at a time, ${limit}s"
  # Catch's test spec: a comma separates names, so escape it (and backslashes).
  awk '{gsub(/\\/, "\\\\"); gsub(/,/, "\\,"); printf "%03d\t%s\n", NR, $0}' "$dir/cases.txt" \
    >"$dir/specs.tsv"
  export -f run_one_case 2>/dev/null
  export GPU_TEST_BIN="$bin" GPU_TEST_DIR="$dir" GPU_CASE_LIMIT=$((limit - 5 < 120 ? limit - 5 : 120))
  timeout "$limit" xargs -a "$dir/specs.tsv" -d '\n' -P "$JOBS" -n 1 bash -c 'run_one_case "$1"' _
  TESTS_PASSED=0; TESTS_FAILED=0; TESTS_SKIPPED=0; TESTS_NOT_RUN=0
  local i=0 name st
  while IFS= read -r name; do
    i=$((i + 1))
    st="$(cat "$dir/$(printf %03d $i).status" 2>/dev/null || echo "NOT RUN")"
    case "$st" in
      PASS) TESTS_PASSED=$((TESTS_PASSED + 1)) ;;
      SKIP) TESTS_SKIPPED=$((TESTS_SKIPPED + 1)) ;;
      "NOT RUN") TESTS_NOT_RUN=$((TESTS_NOT_RUN + 1)) ;;
      *) TESTS_FAILED=$((TESTS_FAILED + 1)) ;;
    esac
    printf '  %-8s %s\n' "$st" "$name"
  done <"$dir/cases.txt"
  i=0
  while IFS= read -r name; do  # the failures' own output, last lines first-hand
    i=$((i + 1))
    st="$(cat "$dir/$(printf %03d $i).status" 2>/dev/null || echo "NOT RUN")"
    case "$st" in PASS|SKIP|"NOT RUN") continue ;; esac
    echo "---- $st: $name ($dir/$(printf %03d $i).log)"
    grep -vE '^(~+|-+|=+)$' "$dir/$(printf %03d $i).log" | tail -40
  done <"$dir/cases.txt"
}
run_one_case() {  # "NNN<TAB>spec" (xargs: one process per case)
  local id="${1%%$'\t'*}" spec="${1#*$'\t'}" rc log
  log="$GPU_TEST_DIR/$id.log"
  CUDA_LAUNCH_BLOCKING=1 timeout "$GPU_CASE_LIMIT" "$GPU_TEST_BIN" "$spec" --durations yes >"$log" 2>&1
  rc=$?
  if grep -q 'No test cases matched' "$log"; then echo "NO MATCH" >"$GPU_TEST_DIR/$id.status"
  elif [ $rc -eq 124 ]; then echo "TIMEOUT" >"$GPU_TEST_DIR/$id.status"
  elif [ $rc -ne 0 ]; then echo "FAIL" >"$GPU_TEST_DIR/$id.status"
  elif grep -q QUIVER_SKIPPED "$log"; then echo "SKIP" >"$GPU_TEST_DIR/$id.status"
  else echo "PASS" >"$GPU_TEST_DIR/$id.status"; fi
}

run() {
  local start_all=$SECONDS
  RUN_START=$SECONDS
  local archive
  archive="$(realpath -m "$TARGET")"
  [ -f "$archive" ] || { echo "gpu_check --run: no archive $archive" >&2; exit 1; }
  [ -z "$LOG_DIR" ] && LOG_DIR="$WORKDIR/logs"
  rm -rf "$WORKDIR" && mkdir -p "$WORKDIR" "$LOG_DIR"
  : >"$LOG_DIR/summary.txt"
  log "unpacking $archive into $WORKDIR (logs: $LOG_DIR)"
  local py="${PYTHON:-python3}"
  if ! tar -C "$WORKDIR" -xJf "$archive" 2>/dev/null; then
    "$py" -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" \
      "$archive" "$WORKDIR" || { echo "cannot unpack $archive" >&2; exit 1; }
  fi
  B="$WORKDIR/quiver-gpu-bundle"

  # CUDA libraries: the Python's nvidia wheels first (PyTorch's, driver-matched), then the
  # toolkit; if the wheels are in another interpreter, a search of the usual prefixes.
  local cuda_dirs
  cuda_dirs="$("$py" - <<'EOF' 2>/dev/null
import glob, os, site, sys
roots = []
try:
    roots += site.getsitepackages()
except Exception:
    pass
roots += [p for p in sys.path if p.endswith("-packages")]
seen = []
for r in roots:
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib")) +
                    glob.glob(os.path.join(r, "nvidia", "*", "lib64"))):
        if d not in seen and glob.glob(os.path.join(d, "lib*.so*")):
            seen.append(d)
print(":".join(seen))
EOF
)"
  if [[ "$cuda_dirs" != *nvidia* ]]; then
    local found
    found="$(timeout 20 find /usr/local/lib /usr/lib /opt /root /home -maxdepth 8 \
               -name 'libcudnn.so.9' -path '*nvidia*' 2>/dev/null | head -1)"
    if [ -n "$found" ]; then
      local root="${found%/nvidia/*}"
      cuda_dirs="$(ls -d "$root"/nvidia/*/lib 2>/dev/null | tr '\n' ':' | sed 's/:$//')"
      log "CUDA wheels found by search under $root"
    fi
  fi
  local extra=""
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$d" ] && extra="$extra:$d"
  done
  # Our libstdc++ only where the machine's is older than the one we were built against.
  local compat="" need
  need="$(cat "$B/lib/compat/NEEDS_GLIBCXX" 2>/dev/null)"
  if [ -n "$need" ] && [ -d "$B/lib/compat" ]; then
    local sys_cxx
    sys_cxx="$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')"
    if [ -z "$sys_cxx" ] || ! grep -qa "$need" "$sys_cxx" 2>/dev/null; then
      compat="$B/lib/compat:"
      log "system libstdc++ (${sys_cxx:-none}) lacks $need: using the bundle's"
    fi
  fi
  export LD_LIBRARY_PATH="$compat$B/lib${cuda_dirs:+:$cuda_dirs}$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export QUIVER_TEST_DATA_DIR="$B/data/tests"
  export PATH="$B/bin:$PATH"

  echo "==================== machine ===================="
  cat "$B/BUILD_INFO" 2>/dev/null | sed 's/^/build: /'
  local gpu_name="none" driver="none"
  if command -v nvidia-smi >/dev/null && nvidia-smi >/dev/null 2>&1; then
    nvidia-smi | tee "$LOG_DIR/nvidia-smi.txt"
    gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
    driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"
  else
    echo "nvidia-smi: not available (no GPU or driver here)"
  fi
  echo "card: $gpu_name  driver: $driver  date: $(date -u +%F)" >>"$LOG_DIR/summary.txt"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "CUDA libraries as resolved (needed: $(tr '\n' ' ' <"$B/lib/CUDA_SONAMES" 2>/dev/null)):"
  ldd "$B/lib/libquiver.so" | grep -E 'libcu|libnvrtc|libstdc' | sed 's/^/  /'
  local missing
  missing="$(ldd "$B/lib/libquiver.so" "$B/bin/quiver_gpu_tests" | grep 'not found' | sort -u)"
  if [ -n "$missing" ]; then
    echo "MISSING LIBRARIES:"
    echo "$missing"
    result "shared libraries" "FAIL" "$(echo "$missing" | awk '{print $1}' | tr '\n' ' ')"
  else
    result "shared libraries" "ok" "all resolved"
  fi

  if [ "$COMPARE" != 2 ]; then  # --compare-only skips stages 1-3
  # 1. The gpu-labelled tests: kernels vs CPU and every TF fixture on /gpu:0, case by case.
  echo "==================== gpu tests ===================="
  local t0=$SECONDS skipped=0
  if [ "$(budget 200)" -eq 0 ]; then
    result "gpu tests (kernels + fixtures)" "NOT RUN" "no time left"
  else
    run_gpu_tests "$LOG_DIR/tests" 2>&1 | tee "$LOG_DIR/tests.txt"
    local passed skips failed notrun
    read -r passed skips failed notrun <<<"$(awk '
      /^  (PASS|SKIP|FAIL|TIMEOUT|NO MATCH|NOT RUN) / {
        if ($1 == "PASS") p++; else if ($1 == "SKIP") s++; else if ($1 == "NOT") n++; else f++ }
      END {printf "%d %d %d %d", p, s, f, n}' "$LOG_DIR/tests.txt")"
    local what="$passed passed, $failed failed, $skips skipped, $notrun not run ($((SECONDS - t0)) s)"
    if [ "$failed" -ne 0 ]; then
      result "gpu tests (kernels + fixtures)" "FAIL" "$what"
    elif [ "$notrun" -ne 0 ]; then
      result "gpu tests (kernels + fixtures)" "NOT RUN" "$what: time ran out"
    elif grep -qs 'QUIVER_SKIPPED: no GPU' "$LOG_DIR"/tests/*.log; then
      skipped=1
      result "gpu tests (kernels + fixtures)" "SKIPPED" "no GPU: $what"
    else
      result "gpu tests (kernels + fixtures)" "ok" "$what"
    fi
    grep -hsE '^(GPU:0 |fixture |mnist_softmax step)' "$LOG_DIR"/tests/*.log | sed 's/^/  /'
  fi

  # 2. Training on the GPU (default placement puts every op with a GPU kernel there).
  local have_mnist=0
  ls "$B"/data/mnist/*.gz >/dev/null 2>&1 && have_mnist=1
  train() {  # name steps threshold [CPU]
    local name=$1 steps=$2 min=$3 dev=${4:-GPU} env=() limit
    [ "$dev" = CPU ] && env=(CUDA_VISIBLE_DEVICES=)
    if [ $have_mnist -eq 0 ]; then result "$name ($dev)" "SKIPPED" "no MNIST in the bundle"; return; fi
    limit=$(budget 90)
    if [ "$limit" -eq 0 ]; then result "$name ($dev, $steps steps)" "NOT RUN" "no time left"; return; fi
    local o r acc secs
    o="$(env "${env[@]}" timeout "$limit" "$B/bin/$name" --data "$B/data/mnist" --steps "$steps" --quiet 2>&1)"
    r=$?
    echo "$o" >"$LOG_DIR/train_${name}_${dev}.log"
    echo "$o" | tail -5 | sed "s/^/  $name ($dev): /"
    acc="$(echo "$o" | awk '/^test accuracy:/ {print $3}' | tail -1)"
    secs="$(echo "$o" | awk '/^train time:/ {print $3}' | tail -1)"
    local eps
    eps="$(echo "$o" | awk '/^examples\/s:/ {print $2}' | tail -1)"
    if [ $r -ne 0 ] || [ -z "$acc" ]; then
      result "$name ($dev, $steps steps)" "FAIL" "rc=$r $(echo "$o" | tail -1 | cut -c1-60)"
    elif awk -v a="$acc" -v m="$min" 'BEGIN {exit !(a >= m)}'; then
      result "$name ($dev, $steps steps)" "ok" "accuracy $acc, train ${secs}s, ${eps} examples/s"
    else
      result "$name ($dev, $steps steps)" "FAIL" "accuracy $acc < $min, train ${secs}s"
    fi
  }
  echo "==================== training ===================="
  if [ $skipped -eq 1 ]; then
    result "mnist_softmax / mnist_cnn (GPU)" "SKIPPED" "no GPU"
  else
    train mnist_softmax 1000 0.915 GPU
    train mnist_cnn 300 0.90 GPU
  fi
  # The same CNN on the CPU for a speed comparison (fewer steps: examples/s is what counts).
  train mnist_cnn 100 0.0 CPU

  # 3. Timings: the same graphs through `quiver bench`, GPU then CPU.
  echo "==================== timings ===================="
  bench() {  # fixture dev
    local fx=$1 dev=$2 env=() dir="$B/data/tests/tf/$1" limit
    [ "$dev" = CPU ] && env=(CUDA_VISIBLE_DEVICES=)
    limit=$(budget 30)
    [ "$limit" -eq 0 ] && { echo "(no time left)"; return; }
    local args=() line
    while read -r kind name file; do
      case "$kind" in
        feed) args+=(--feed "$name=$dir/$file") ;;
        fetch) args+=(--fetch "$name") ;;
      esac
    done <"$dir/manifest.txt"
    env "${env[@]}" timeout "$limit" "$B/bin/quiver" bench "$dir/graph.pb" "${args[@]}" \
      --iters 50 --warmup 5 >"$LOG_DIR/bench_${fx}_${dev}.log" 2>&1
    line="$(sed -n 's/^latency ms:.* p50 \([0-9.]*\).*/\1/p' "$LOG_DIR/bench_${fx}_${dev}.log" | head -1)"
    echo "${line:+p50 $line ms}"
  }
  for fx in mlp cnn batch_matmul; do
    [ -d "$B/data/tests/tf/$fx" ] || continue
    local g c
    if [ $skipped -eq 1 ]; then g="(no GPU)"; else g="$(bench "$fx" GPU)"; fi
    c="$(bench "$fx" CPU)"
    echo "  $fx: GPU: $g | CPU: $c"
    result "bench $fx (quiver bench)" "info" "GPU ${g:-failed} | CPU ${c:-failed}"
  done
  fi  # stages 1-3

  # 4. (--compare) The tools/bench cases in Quiver, PyTorch eager, torch.compile and jax.jit.
  if [ "$COMPARE" != 0 ]; then
    echo "==================== PyTorch / JAX comparison ===================="
    compare_stage "$B" "$gpu_name"
  fi

  echo
  echo "==================== summary ===================="
  echo "card: $gpu_name   driver: $driver   date: $(date -u +%F)   total: $((SECONDS - start_all)) s"
  local fail=0 skip=0 notrun=0
  for r in "${RESULTS[@]}"; do
    echo "$r"
    [[ "$r" == *" FAIL "* ]] && fail=1
    [[ "$r" == *" SKIPPED "* ]] && skip=1
    [[ "$r" == *" NOT RUN "* ]] && notrun=1
  done
  local verdict
  if [ $fail -ne 0 ]; then verdict="RESULT: FAIL"
  elif [ $notrun -ne 0 ]; then verdict="RESULT: INCOMPLETE (time ran out; rerun with the stages left)"
  elif [ $skip -ne 0 ]; then verdict="RESULT: NO GPU (GPU checks skipped; nothing verified on a GPU)"
  else verdict="RESULT: PASS"; fi
  echo "$verdict" | tee -a "$LOG_DIR/summary.txt"
  echo "total: $((SECONDS - start_all)) s; logs: $LOG_DIR" >>"$LOG_DIR/summary.txt"
  if [ $fail -ne 0 ]; then exit 1; fi
  if [ $notrun -ne 0 ]; then exit 3; fi
  if [ $skip -ne 0 ]; then exit 2; fi
}

case "$MODE" in
  --pack) pack ;;
  --run) run ;;
  *) usage ;;
esac
