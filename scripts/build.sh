#!/usr/bin/env bash
# Configures and builds one CMake preset (default: "default"). Parallelism 2: the target machines
# have 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
