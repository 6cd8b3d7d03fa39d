#!/usr/bin/env bash
# Installs the Debian packages Quiver builds against (Debian 12). Needs root (or sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  cmake ninja-build g++ protobuf-compiler libprotobuf-dev libabsl-dev catch2 libdnnl-dev \
  libeigen3-dev ocl-icd-opencl-dev zlib1g-dev python3 >/dev/null
