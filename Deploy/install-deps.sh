#!/usr/bin/env bash
# Installs the Debian packages magfleet builds and tests against, when they are missing.
# Usage: Deploy/install-deps.sh [build|test]   (test adds what the test suite needs)
# Runs apt-get as root, or through sudo. Safe to run again: it installs only what is absent.
set -euo pipefail

mode=${1:-build}
packages=(pkg-config libopenblas-dev libjpeg-dev libpng-dev libzmq3-dev libhdf5-dev)
if [[ $mode == test ]]; then
  # python3 + h5py/numpy read our stores as a real peer; chromium renders the HTML report;
  # iproute2 makes the network-namespace hosts of the cluster tests; shellcheck checks Deploy/.
  packages+=(python3 python3-numpy python3-h5py chromium iproute2 shellcheck)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
