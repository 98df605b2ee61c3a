#!/usr/bin/env bash
# Installs everything OpenClawOS needs to build, run and test on Debian 12.
# Idempotent: packages already present are skipped by apt-get; vec0.so is fetched once.
# `--test` also installs the servers the test suite runs privately (ngircd for IRC, prosody for XMPP,
# gnome-keyring on a private D-Bus for the vault).
set -euo pipefail
cd "$(dirname "$0")/.."
with_test_servers=0
[ "${1:-}" = "--test" ] && with_test_servers=1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(
  build-essential cmake ninja-build pkg-config git python3
  clang-14 lld-14 libclang-rt-14-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libsodium-dev libsecret-1-dev
  libspdlog-dev libfmt-dev libcli11-dev libre2-dev libstrophe-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  tzdata ca-certificates
  chromium
)
# A Node.js that bundles npm (as on this image) conflicts with Debian's npm package.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

test_servers=(ngircd prosody)
# The vault's keyring test runs a private session bus with gnome-keyring-daemon (no system service).
test_tools=(dbus-daemon gnome-keyring libsecret-tools)
[ "$with_test_servers" = 1 ] && packages+=("${test_servers[@]}" "${test_tools[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The tests start their own ngircd and prosody on free loopback ports; the system services that
  # Debian starts on install (ports 6667, 5222) are not wanted, so the ones installed here are stopped.
  if [ -d /run/systemd/system ]; then
    for svc in "${test_servers[@]}"; do
      if printf '%s\n' "${missing[@]}" | grep -qx "$svc"; then
        $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
      fi
    done
  fi
fi

# sqlite-vec loadable extension, shipped as an npm package.
if [ ! -f third_party/sqlite-vec/vec0.so ]; then
  echo "install-deps: fetching sqlite-vec (vec0.so)"
  mkdir -p third_party/sqlite-vec
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent sqlite-vec-linux-x64 >/dev/null && tar xzf sqlite-vec-linux-x64-*.tgz)
  cp "$tmp"/package/vec0.so third_party/sqlite-vec/vec0.so
  rm -rf "$tmp"
fi
# Node.js test clients (the official openai client, playwright-core for the Control UI tests).
if [ ! -d tests/js/node_modules/openai ] || [ ! -d tests/js/node_modules/playwright-core ]; then
  echo "install-deps: installing the Node.js test clients"
  (cd tests/js && npm install --no-audit --no-fund --silent)
fi
echo "install-deps: ok"
