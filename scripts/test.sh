#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite: unit tests, root integration
# tests (in throwaway network namespaces), then the unit tests again under ASan+UBSan.
# Exits non-zero on any failure. Must run as root (the integration tests create namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=$(nproc)
./scripts/install-deps.sh

echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"

echo "== tests"
# Left-over sandboxes of an earlier, interrupted run must not confuse this one.
(cd build && ctest --output-on-failure -j"$JOBS" --timeout 900)

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNUCLEUS_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS" --target unit_tests
(cd build-asan && ctest -L unit --output-on-failure -j"$JOBS")

echo "== fuzz targets (seeds + 20 s of mutation each)"
./scripts/fuzz.sh 20
