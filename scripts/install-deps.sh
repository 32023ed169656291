#!/usr/bin/env bash
# Installs everything nucleus needs to build, test, demo and benchmark on Debian 12.
# Idempotent: packages already present are skipped by apt-get, and apt-get update runs only when
# something is missing.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: must run as root (uses apt-get)" >&2
  exit 1
fi

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config
  # libraries the product links against
  libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev libc-ares-dev libasio-dev libseccomp-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  # tests
  libgtest-dev libgmock-dev iproute2 nftables procps python3 dnsmasq-base
  # external programs nucleus drives, and comparison baselines for benchmarks
  slirp4netns runsc bubblewrap util-linux iperf3 hyperfine
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
