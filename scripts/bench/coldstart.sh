#!/usr/bin/env bash
# Cold start: median wall time of `nucleus run --network none -- /bin/true` against `unshare`
# and `bwrap` doing the same, measured in the same run, printed with ratios.
# Also the cost of hardening: the same nucleus built without seccomp, Landlock, capability
# dropping and cgroups (target nucleus-bench-unhardened, built here on demand).
# Usage: scripts/bench/coldstart.sh [RUNS]   (default 100; needs root, hyperfine, bwrap)
source "$(dirname "$0")/lib.sh"
RUNS=${1:-100}
cmake --build "$ROOT_DIR/build" --target nucleus nucleus-bench-unhardened -j"$(nproc)" >/dev/null
UNHARDENED=$ROOT_DIR/build/nucleus-bench-unhardened
bench_setup_ns
BENCH_STATE=$(mktemp -d /tmp/nucleus-bench-XXXXXX)
OUT=$(mktemp /tmp/nucleus-coldstart-XXXXXX.json)

# nsenter, not `ip netns exec`: the latter remounts /sys and would hide the cgroup hierarchy.
in_ns() { echo "nsenter --net=/run/netns/$BENCH_NS $*"; }
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$OUT" \
  -n nucleus "$(in_ns "$NUCLEUS" --root "$BENCH_STATE" run --network none -- /bin/true)" \
  -n nucleus-unhardened "$(in_ns "$UNHARDENED" --root "$BENCH_STATE" run --network none -- /bin/true)" \
  -n unshare "$(in_ns unshare --fork --pid --mount --net --uts --ipc /bin/true)" \
  -n bwrap "$(in_ns bwrap --unshare-all --ro-bind / / /bin/true)" \
  -n netns-exec-only "$(in_ns /bin/true)" >/dev/null

python3 - "$OUT" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
base = results["netns-exec-only"]["median"]
print(f"{'command':<19} {'median ms':>10} {'minus ip-netns-exec ms':>24} {'vs bwrap':>9}")
bw = results["bwrap"]["median"] - base
for name in ("nucleus", "nucleus-unhardened", "unshare", "bwrap"):
    med = results[name]["median"]
    net = med - base
    print(f"{name:<19} {med*1000:>10.2f} {net*1000:>24.2f} {net/bw:>8.2f}x")
hard = results["nucleus"]["median"] - results["nucleus-unhardened"]["median"]
print(f"hardening (seccomp + Landlock + caps + cgroup) adds {hard*1000:.2f} ms")
PY
rm -f "$OUT"
