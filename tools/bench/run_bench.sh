#!/usr/bin/env bash
# Quiver vs TensorFlow on the same GraphDefs: tools/bench/run_bench.sh [BUILD_DIR=build] [args...]
# Builds the quiver CLI and quiver_roofline in BUILD_DIR if needed, then runs run_bench.py
# (extra args are passed on, e.g. --threads 2 --rounds 3 --profile --out bench.json).
# Needs: pip install tensorflow-cpu numpy.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${1:-build}"
shift || true
[[ -d "$build" ]] || build="$repo/$build"
[[ -d "$build" ]] || { echo "run_bench: build directory '$build' not found" >&2; exit 1; }
cmake --build "$build" --target quiver_cli quiver_roofline >&2
exec "${PYTHON:-python3}" "$here/run_bench.py" --quiver "$build/quiver" \
  --roofline "$build/quiver_roofline" "$@"
