#!/usr/bin/env bash
# Runs the main job against an existing build directory (default: build): the C++ builder
# writes a GraphDef that the CLI inspects and runs, then mnist_softmax trains on real MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT="$BUILD/main_job"
mkdir -p "$OUT"
"$BUILD/mnist_forward_demo" --out "$OUT" --mnist ../shared/data/mnist
"$BUILD/quiver" inspect "$OUT/mnist_softmax.pb"
"$BUILD/quiver" run "$OUT/mnist_softmax.pb" --feed "x=$OUT/x.npy" --feed "y_=$OUT/y_.npy" \
  --fetch cross_entropy --fetch accuracy --out "$OUT/outputs"
# Train the TF1 "MNIST for beginners" model (1000 steps, batch 100, lr 0.5) on the CPU.
"$BUILD/mnist_softmax" --data ../shared/data/mnist
