# Shared helpers for benchmark scripts: a throwaway network namespace to run in, and hyperfine
# medians. Benchmarks never assert; they print figures for docs/BENCHMARKS.md.
set -euo pipefail
ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NUCLEUS=${NUCLEUS:-$ROOT_DIR/build/nucleus}
BENCH_NS=${BENCH_NS:-nbench$$}

bench_setup_ns() {
  ip netns add "$BENCH_NS"
  ip -n "$BENCH_NS" link set lo up
  trap bench_cleanup EXIT
}

bench_cleanup() {
  ip netns pids "$BENCH_NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$BENCH_NS" 2>/dev/null || true
  [[ -n ${BENCH_STATE:-} ]] && rm -rf "$BENCH_STATE"
}

# hyperfine_median RUNS NAME CMD...: median seconds of CMD (no shell), run in the bench netns.
hyperfine_json() {
  local runs=$1 out=$2
  shift 2
  hyperfine -N --warmup 5 --runs "$runs" --export-json "$out" "$@" >/dev/null
}
