#!/usr/bin/env bash
# Builds the fuzz targets in the sanitizer build (build-asan) and runs each of them: first its
# committed seeds (tests/fuzz/corpus/<target>/), then SECONDS of mutation (default 20).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Inputs that reach new code are kept in build-asan/tests/fuzz/corpus/<target>/ (reused by the
# next run); crashes and hangs are saved in build-asan/tests/fuzz/artifacts/ and make the
# script exit non-zero. Targets run NUCLEUS_FUZZ_JOBS (default: nproc) at a time.
# Env: NUCLEUS_FUZZ_SEED (default 1) makes a run repeatable; BUILD_DIR (default build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-20}
shift || true
BUILD=${BUILD_DIR:-build-asan}
JOBS=${NUCLEUS_FUZZ_JOBS:-$(nproc)}
SEED=${NUCLEUS_FUZZ_SEED:-1}

echo "== fuzz: build ($BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DNUCLEUS_SANITIZE=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fuzz_targets

FUZZ_BIN="$BUILD/tests/fuzz"
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cd tests/fuzz && ls -1 ./*_fuzz.cc | sed 's|^\./||; s|\.cc$||')
fi
mkdir -p "$FUZZ_BIN/artifacts" "$FUZZ_BIN/logs"

run_one() {
  local t=$1
  mkdir -p "$FUZZ_BIN/corpus/$t"
  if "$FUZZ_BIN/$t" -max_total_time="$SECONDS_EACH" -seed="$SEED" -timeout=10 \
      -artifact_prefix="$FUZZ_BIN/artifacts/" "$FUZZ_BIN/corpus/$t" "tests/fuzz/corpus/$t" \
      >"$FUZZ_BIN/logs/$t.log" 2>&1; then
    echo "ok    $t: $(grep -E '^==fuzz== done|^Done|^#[0-9]+ +DONE' "$FUZZ_BIN/logs/$t.log" | tail -1)"
  else
    echo "FAIL  $t (log: $FUZZ_BIN/logs/$t.log)"
    grep -E 'ERROR: AddressSanitizer|runtime error|FUZZ_CHECK|terminate called|==fuzz== (timeout|input)' \
      "$FUZZ_BIN/logs/$t.log" | head -5 | sed 's/^/      /'
    return 1
  fi
}
export -f run_one
export FUZZ_BIN SECONDS_EACH SEED

echo "== fuzz: ${#targets[@]} targets, ${SECONDS_EACH}s each, $JOBS at a time"
status=0
RESULTS=$(mktemp)
printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one {}' | tee "$RESULTS" || status=1
passed=$(grep -c '^ok ' "$RESULTS" || true)
failed=$(grep -c '^FAIL ' "$RESULTS" || true)
rm -f "$RESULTS"
echo "fuzz: $passed passed, $failed failed"
if [[ $status -ne 0 ]]; then
  echo "fuzz: failures; reproduce with $FUZZ_BIN/TARGET $FUZZ_BIN/artifacts/crash-..." >&2
fi
exit $status
