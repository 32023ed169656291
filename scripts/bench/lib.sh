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

# bench_del_ns NS...: kills what runs in each namespace and deletes it (missing ones are fine).
bench_del_ns() {
  local ns
  for ns in "$@"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}

bench_cleanup() {
  bench_del_ns "$BENCH_NS"
  [[ -n ${BENCH_STATE:-} ]] && rm -rf "$BENCH_STATE"
}

# hyperfine_median RUNS NAME CMD...: median seconds of CMD (no shell), run in the bench netns.
hyperfine_json() {
  local runs=$1 out=$2
  shift 2
  hyperfine -N --warmup 5 --runs "$runs" --export-json "$out" "$@" >/dev/null
}

# bench_veth NS1 IF1 ADDR1/PREFIX NS2 IF2 ADDR2/PREFIX: a veth pair between two namespaces, both
# ends addressed and up.
bench_veth() {
  ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"
  ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}
