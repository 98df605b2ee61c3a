#!/usr/bin/env bash
# Quick start: installs what is needed, builds, and runs the gateway on its embedded defaults
# (state in ~/.openclawos, control plane on http://127.0.0.1:18789).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh default
exec build/default/bin/openclaw gateway "$@"
