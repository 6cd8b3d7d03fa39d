#!/usr/bin/env bash
# Side-by-side comparison of Quiver's C++ MNIST programs with the same models in
# TensorFlow 1 (tf.compat.v1 graph mode):
#
#   tools/compare/compare_mnist.sh [BUILD_DIR=build] [STEPS]
#
# Runs, alternating, $BUILD_DIR/mnist_softmax, mnist_softmax_tf1.py, $BUILD_DIR/mnist_cnn
# and mnist_cnn_tf1.py with the same steps/batch/threads, and prints a table of test
# accuracy, training time and training throughput, with the Quiver/TF throughput ratio.
#
# STEPS, when given, is used for both models; otherwise softmax runs 1000 steps and the
# CNN 2000 (the tutorials' counts). Environment knobs:
#   THREADS=2          threads for both frameworks (TF: intra/inter-op; Quiver: --threads
#                      when the binary accepts it)
#   DATA=<repo>/../shared/data/mnist   MNIST IDX .gz directory
#   MODELS="softmax cnn"               which models to run
#   ROUNDS=1           how many alternating rounds (each round is one row per run)
#   PYTHON=python3
#
# TensorFlow is needed only here; the C++ build never needs it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

build_arg="${1:-build}"
steps_arg="${2:-}"
THREADS="${THREADS:-2}"
DATA="${DATA:-$repo/../shared/data/mnist}"
MODELS="${MODELS:-softmax cnn}"
ROUNDS="${ROUNDS:-1}"
PYTHON="${PYTHON:-python3}"

die() { echo "compare_mnist: $*" >&2; exit 1; }

if [[ -d "$build_arg" ]]; then
  BUILD="$(cd "$build_arg" && pwd)"
elif [[ -d "$repo/$build_arg" ]]; then
  BUILD="$(cd "$repo/$build_arg" && pwd)"
else
  die "build directory '$build_arg' not found (usage: $0 [BUILD_DIR=build] [STEPS])"
fi
[[ -z "$steps_arg" || "$steps_arg" =~ ^[0-9]+$ ]] || die "STEPS must be a non-negative integer, got '$steps_arg'"
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, got '$THREADS'"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
[[ -d "$DATA" ]] || die "MNIST data directory '$DATA' not found (set DATA=...)"
DATA="$(cd "$DATA" && pwd)"

if ! tf_err="$("$PYTHON" -c 'import os; os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"; import tensorflow' 2>&1)"; then
  echo "$tf_err" | tail -n 3 >&2
  die "tensorflow is not importable with '$PYTHON' (pip install tensorflow-cpu); it is needed only for this comparison, not for the C++ build"
fi
tf_version="$("$PYTHON" -c 'import os; os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"; import tensorflow as tf; print(tf.__version__)' 2>/dev/null)"

# Per-model settings: C++ binary, TF script, default steps, batch.
declare -A BIN=([softmax]=mnist_softmax [cnn]=mnist_cnn)
declare -A PY=([softmax]=mnist_softmax_tf1.py [cnn]=mnist_cnn_tf1.py)
declare -A DEFAULT_STEPS=([softmax]=1000 [cnn]=2000)
declare -A BATCH=([softmax]=100 [cnn]=50)

for m in $MODELS; do
  [[ -n "${BIN[$m]:-}" ]] || die "unknown model '$m' in MODELS (known: softmax cnn)"
  [[ -x "$BUILD/${BIN[$m]}" ]] || die "$BUILD/${BIN[$m]} not found or not executable; build it first (cmake --build $build_arg --target ${BIN[$m]})"
done

# Which optional flags does a Quiver binary accept? Look for the flag's string literal in
# the executable rather than running it (an unknown flag might not stop it).
accepts() { LC_ALL=C grep -aqP -- "(^|\\x00)$2\\x00" "$1"; }

logdir="$(mktemp -d "${TMPDIR:-/tmp}/compare_mnist.XXXXXX")"
trap 'rm -rf "$logdir"' EXIT

# field LOG KEY -> the number after "KEY:" on the line starting with it, or "n/a".
field() {
  awk -v key="$2:" '
    { sub(/^.*\r/, "") }                      # drop any progress-line prefix
    index($0, key) == 1 { split(substr($0, length(key) + 1), f, " "); v = f[1] }
    END { print (v == "" ? "n/a" : v) }' "$1"
}

rows=()
run_one() {  # model framework steps log cmd...
  local model="$1" fw="$2" steps="$3" log="$4"; shift 4
  echo ">> $model / $fw: $*" >&2
  if ! "$@" >"$log" 2>&1; then
    echo "---- output of the failed run ($log) ----" >&2
    tail -n 20 "$log" >&2
    die "$model/$fw run failed: $*"
  fi
  local acc tt eps
  acc="$(field "$log" 'test accuracy')"
  tt="$(field "$log" 'train time')"
  eps="$(field "$log" 'examples/s')"
  if [[ "$acc" == n/a || "$tt" == n/a || "$eps" == n/a ]]; then
    echo "compare_mnist: warning: $model/$fw did not print all of 'test accuracy:', 'train time:', 'examples/s:'" >&2
  fi
  rows+=("$model|$fw|$steps|$acc|$tt|$eps")
  LAST_EPS="$eps"
}

ratios=()
for ((round = 1; round <= ROUNDS; ++round)); do
  for m in $MODELS; do
    steps="${steps_arg:-${DEFAULT_STEPS[$m]}}"
    batch="${BATCH[$m]}"
    bin="$BUILD/${BIN[$m]}"
    qargs=(--data "$DATA" --steps "$steps" --quiet)
    if accepts "$bin" "--batch"; then qargs+=(--batch "$batch"); fi
    quiver_threads="default"
    if accepts "$bin" "--threads"; then qargs+=(--threads "$THREADS"); quiver_threads="$THREADS"; fi

    run_one "$m" "Quiver" "$steps" "$logdir/$m.quiver.$round.log" "$bin" "${qargs[@]}"
    q_eps="$LAST_EPS"
    run_one "$m" "TF $tf_version" "$steps" "$logdir/$m.tf.$round.log" \
      "$PYTHON" "$here/${PY[$m]}" --data "$DATA" --steps "$steps" --batch "$batch" \
      --threads "$THREADS" --quiet
    t_eps="$LAST_EPS"
    ratio="n/a"
    if [[ "$q_eps" != n/a && "$t_eps" != n/a ]]; then
      ratio="$(awk -v q="$q_eps" -v t="$t_eps" 'BEGIN { if (t > 0) printf "%.2fx", q / t; else print "n/a" }')"
    fi
    ratios+=("$m|$round|$batch|$quiver_threads|$ratio")
  done
done

echo
echo "MNIST: Quiver vs TensorFlow $tf_version (batch: softmax ${BATCH[softmax]}, cnn ${BATCH[cnn]}; TF threads $THREADS; $(nproc 2>/dev/null || echo '?') CPUs)"
printf '%-8s  %-12s  %6s  %13s  %14s  %11s\n' model framework steps "test accuracy" "train time (s)" "examples/s"
printf '%-8s  %-12s  %6s  %13s  %14s  %11s\n' -------- ------------ ------ ------------- -------------- -----------
for r in "${rows[@]}"; do
  IFS='|' read -r model fw steps acc tt eps <<<"$r"
  printf '%-8s  %-12s  %6s  %13s  %14s  %11s\n' "$model" "$fw" "$steps" "$acc" "$tt" "$eps"
done
echo
for r in "${ratios[@]}"; do
  IFS='|' read -r model round batch qthreads ratio <<<"$r"
  suffix=""; ((ROUNDS > 1)) && suffix=" (round $round)"
  note=""; [[ "$qthreads" == default ]] && note="  [Quiver binary has no --threads; ran with its default]"
  echo "$model Quiver/TF throughput$suffix: $ratio$note"
done
