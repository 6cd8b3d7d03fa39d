#!/usr/bin/env bash
# Runs the main job against an existing build directory (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT="$BUILD/main_job"
mkdir -p "$OUT"
"$BUILD/mnist_forward_demo" --out "$OUT" --mnist ../shared/data/mnist
"$BUILD/quiver" inspect "$OUT/mnist_softmax.pb"
"$BUILD/quiver" run "$OUT/mnist_softmax.pb" --feed "x=$OUT/x.npy" --feed "y_=$OUT/y_.npy" \
  --fetch cross_entropy --fetch accuracy --out "$OUT/outputs"
