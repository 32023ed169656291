#!/usr/bin/env bash
# Bridge networking cost, everything inside throwaway namespaces:
#  1. start-to-exit median of `nucleus run --network bridge -- /bin/true` against `--network none`
#     in the same hyperfine run (target: bridge adds < 3 ms), once with the run creating and
#     deleting the bridge itself and once with another sandbox keeping it up; plus, for the first
#     case, the kernel's own cost of creating and deleting an empty bridge with `ip link` (which,
#     unlike nucleus, also waits for the kernel to free the deleted bridge: see NETWORKING.md);
#  2. iperf3 TCP throughput sandbox -> upstream (median of ROUNDS interleaved runs) against two
#     baselines (target: >= 0.95 of plain veth): a plain veth pair between two namespaces (the
#     client talks to the server directly), and a plain veth pair from a namespace to the host
#     which routes it to the same upstream (the sandbox's path without nucleus's bridge, NAT and
#     tables).
# Usage: scripts/bench/netsetup.sh [RUNS] [IPERF_SECONDS] [ROUNDS]
#   (default 50, 5 and 3; root, hyperfine, iperf3)
source "$(dirname "$0")/lib.sh"
RUNS=${1:-50}
SECS=${2:-5}
ROUNDS=${3:-3}
UP_NS=${BENCH_NS}u
A_NS=${BENCH_NS}a
B_NS=${BENCH_NS}b
R_NS=${BENCH_NS}r
F_NS=${BENCH_NS}f
bench_setup_ns
cleanup_all() {
  if [[ -n ${SBX_PID:-} ]]; then kill "$SBX_PID" 2>/dev/null || true; wait "$SBX_PID" 2>/dev/null || true; fi
  bench_del_ns "$UP_NS" "$A_NS" "$B_NS" "$R_NS" "$F_NS"
  bench_cleanup || true
}
trap cleanup_all EXIT
BENCH_STATE=$(mktemp -d /tmp/nucleus-bench-XXXXXX)
OUT=$(mktemp /tmp/nucleus-netsetup-XXXXXX.json)

# host (the bench ns) <-> upstream, as in the tests: 198.51.100.1 / 198.51.100.2, upstream
# services on 203.0.113.10.
ip netns add "$UP_NS"
ip -n "$UP_NS" link set lo up
bench_veth "$BENCH_NS" uplink 198.51.100.1/24 "$UP_NS" downlink 198.51.100.2/24
ip -n "$UP_NS" addr add 203.0.113.10/32 dev lo
ip -n "$BENCH_NS" route add default via 198.51.100.2

# nsenter, not `ip netns exec`: the latter remounts /sys, hiding cgroups from nucleus (a
# different, cheaper code path than a real host's).
in_ns() { echo "nsenter --net=/run/netns/$BENCH_NS $*"; }
run_args="--root $BENCH_STATE run"
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$OUT" \
  -n none "$(in_ns "$NUCLEUS" $run_args --network none -- /bin/true)" \
  -n bridge "$(in_ns "$NUCLEUS" $run_args --network bridge --dns 198.51.100.2 -- /bin/true)" \
  >/dev/null
# Warm: another sandbox keeps the bridge up (the common case on a busy host), so each run pays for
# its veth, addresses, tables and leases but not for creating and deleting the bridge.
nsenter --net=/run/netns/"$BENCH_NS" "$NUCLEUS" --root "$BENCH_STATE" run --network bridge \
  --dns 198.51.100.2 -- sleep 3600 </dev/null >/dev/null 2>&1 &
SBX_PID=$!
for _ in $(seq 100); do ip -n "$BENCH_NS" link show nucleus0 >/dev/null 2>&1 && break; sleep 0.05; done
OUT2=$(mktemp /tmp/nucleus-netsetup-XXXXXX.json)
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$OUT2" \
  -n none-warm "$(in_ns "$NUCLEUS" $run_args --network none -- /bin/true)" \
  -n bridge-warm "$(in_ns "$NUCLEUS" $run_args --network bridge --dns 198.51.100.2 -- /bin/true)" \
  >/dev/null

# The kernel's own time to create, raise and delete an empty bridge (ip also waits for the freeing).
ip netns add "$F_NS"
OUT3=$(mktemp /tmp/nucleus-netsetup-XXXXXX.json)
hyperfine -N --warmup 3 --runs 20 --export-json "$OUT3" -n bridge-floor \
  "sh -c 'ip -n $F_NS link add nbfloor type bridge && ip -n $F_NS link set nbfloor up && ip -n $F_NS link del nbfloor'" \
  -n ip-noop "sh -c 'ip -n $F_NS link show lo >/dev/null && ip -n $F_NS link show lo >/dev/null && ip -n $F_NS link show lo >/dev/null'" \
  >/dev/null

# Throughput. Baseline 1: a plain veth pair between two fresh namespaces.
ip netns add "$A_NS"
ip netns add "$B_NS"
bench_veth "$A_NS" v0 192.0.2.1/24 "$B_NS" v1 192.0.2.2/24
ip -n "$B_NS" link set lo up
# Baseline 2: a namespace on a plain veth pair to the host, routed (no NAT) to upstream.
ip netns add "$R_NS"
ip -n "$R_NS" link set lo up
bench_veth "$BENCH_NS" rv0 192.0.2.129/25 "$R_NS" rv1 192.0.2.130/25
ip -n "$R_NS" route add default via 192.0.2.129
ip -n "$UP_NS" route add 192.0.2.128/25 via 198.51.100.1
ip netns exec "$BENCH_NS" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$B_NS" iperf3 -s -D -B 192.0.2.2 >/dev/null
ip netns exec "$UP_NS" iperf3 -s -D -B 203.0.113.10 >/dev/null
sleep 0.5  # iperf3 -D returns before it listens; nothing to poll without a client
bps() { python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])'; }
plain=() routed=() sandbox=()
for _ in $(seq "$ROUNDS"); do
  plain+=("$(ip netns exec "$A_NS" iperf3 -c 192.0.2.2 -t "$SECS" -J | bps)")
  routed+=("$(ip netns exec "$R_NS" iperf3 -c 203.0.113.10 -t "$SECS" -J | bps)")
  sandbox+=("$(nsenter --net=/run/netns/"$BENCH_NS" "$NUCLEUS" --root "$BENCH_STATE" run \
    --network bridge --dns 198.51.100.2 -- iperf3 -c 203.0.113.10 -t "$SECS" -J | bps)")
done

python3 - "$OUT" "$OUT2" "$OUT3" "${plain[*]}" "${routed[*]}" "${sandbox[*]}" <<'PY'
import json, statistics, sys
r = {}
for f in sys.argv[1:4]:
    r.update({x["command"]: x for x in json.load(open(f))["results"]})
none, bridge = r["none"]["median"], r["bridge"]["median"]
# The warm pair is measured in its own run, each against a --network none baseline of that run.
none_warm, warm = r["none-warm"]["median"], r["bridge-warm"]["median"]
floor = r["bridge-floor"]["median"] - r["ip-noop"]["median"]
plain, routed, sbx = (statistics.median(float(v) for v in a.split()) for a in sys.argv[4:7])
print(f"start-to-exit median: none {none*1000:.2f} ms, bridge {bridge*1000:.2f} ms "
      f"(adds {(bridge-none)*1000:.2f} ms, ratio {bridge/none:.2f}), bridge with the bridge kept "
      f"up by another sandbox {warm*1000:.2f} ms vs none {none_warm*1000:.2f} ms in the same run "
      f"(adds {(warm-none_warm)*1000:.2f} ms, ratio {warm/none_warm:.2f})")
print(f"kernel: creating, raising and deleting an empty bridge with ip (waiting until the kernel "
      f"has freed it) takes {floor*1000:.2f} ms")
print(f"iperf3 tcp (median of {len(sys.argv[6].split())}): plain veth pair {plain/1e9:.2f} Gbit/s, "
      f"plain veth routed by the host {routed/1e9:.2f} Gbit/s, sandbox->upstream {sbx/1e9:.2f} Gbit/s; "
      f"ratio {sbx/plain:.3f} vs the pair, {sbx/routed:.3f} vs the routed pair")
PY
rm -f "$OUT" "$OUT2" "$OUT3"
