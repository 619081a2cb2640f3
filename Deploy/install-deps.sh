#!/usr/bin/env bash
# Installs the Debian packages magfleet builds and tests against, when they are missing.
# Usage: Deploy/install-deps.sh [build|test]   (test adds what the test suite needs)
# Runs apt-get as root, or through sudo. Safe to run again: it installs only what is absent.
set -euo pipefail

mode=${1:-build}
packages=(pkg-config libopenblas-dev libjpeg-dev libpng-dev libzmq3-dev libhdf5-dev)
if [[ $mode == test ]]; then
  # python3 (+ a venv with h5py/numpy, below) reads our stores as a real peer; chromium renders
  # the HTML report; iproute2 makes the network-namespace hosts of the cluster tests; the
  # shell linter and PyYAML (venv) check Deploy/, whose SSH launcher runs against sshd hosts;
  # protoc generates the Python worker's protocol code (Protocols/python); python3-fusepy (with
  # libfuse2) serves the FUSE filesystem whose reads stall, for the read-deadline tests
  # (Tests/TestSupport/StallingFilesystem.swift; they also need /dev/fuse and root); a
  # Prometheus server (and its promtool) scrapes the coordinator's metrics, read back with curl.
  # curl and chromium also drive `magfleet serve` in its tests; wrk loads it in bench_query.py.
  packages+=(python3 python3-venv chromium iproute2 shellcheck openssh-server openssh-client protobuf-compiler
             python3-fusepy prometheus curl wrk)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests' Python peer: h5py, numpy and PyYAML in a venv of our own (PyPI), so the system Python is
# left alone; pyzmq and protobuf for the Python worker of Protocols/python (its protobuf runtime is
# pinned to one that accepts the code Debian's protoc 3.21 generates). Tests find it through
# MAGFLEET_PEER_PYTHON (the Makefile exports it).
if [[ $mode == test ]]; then
  venv=${MAGFLEET_PEER_VENV:-.build/peers}
  if ! "$venv/bin/python" -c "import h5py, numpy, yaml, zmq, google.protobuf" 2>/dev/null; then
    echo "install-deps: making the Python peer venv $venv (h5py, numpy, pyyaml, pyzmq, protobuf)"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check h5py numpy pyyaml pyzmq protobuf==4.21.12
  fi
fi
