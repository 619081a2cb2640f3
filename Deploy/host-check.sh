#!/usr/bin/env bash
# Pre-flight for a worker host: finds the shared libraries magfleet links that are missing
# (the dynamic loader would stop magfleet before `magfleet doctor` could say anything), names
# the Debian package for each, then runs `magfleet doctor`.
# Usage: Deploy/host-check.sh [path/to/magfleet]
set -uo pipefail

bin=${1:-$(command -v magfleet || echo .build/release/magfleet)}
if [[ ! -x $bin ]]; then
  echo "host-check: no magfleet binary at '$bin' (build it with 'make release')" >&2
  exit 2
fi

declare -A package_of=(
  [libopenblas]=libopenblas0-pthread
  [libjpeg]=libjpeg62-turbo
  [libpng16]=libpng16-16
  [libzmq]=libzmq5
  [libhdf5_serial]=libhdf5-103-1
  [libsodium]=libsodium23
)

missing=0
while read -r lib _ what; do
  [[ $what == "not found" ]] || continue
  missing=1
  pkg=""
  for prefix in "${!package_of[@]}"; do
    [[ $lib == "$prefix"* ]] && pkg=${package_of[$prefix]}
  done
  echo "host-check: $lib is missing: apt-get install ${pkg:-<the package that ships $lib>}" >&2
done < <(ldd "$bin" 2>/dev/null)
((missing)) && exit 1
exec "$bin" doctor
