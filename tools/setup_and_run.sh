#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install dependencies, build Quiver (Release),
# then build the MNIST softmax model with the C++ API, save it as a GraphDef, and run it
# through the `quiver` CLI on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bash tools/install_deps.sh
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" -j"$(nproc)"
bash tools/run_main.sh "$BUILD"
