#!/usr/bin/env bash
# Egress benchmarks (issue 4), all in throwaway namespaces:
#   1. time to install a 10,000-CIDR policy (the table's single batch; nucleus' own debug figure)
#      and the start-up time it adds to `nucleus run` (hyperfine, 10k CIDRs vs one CIDR);
#   2. TCP connect latency to an allowed address from inside a sandbox with a 10,000-entry policy
#      versus no policy;
#   3. DNS answer latency through the DNS proxy (cache miss and cache hit) versus asking dnsmasq
#      directly from a sandbox.
# Usage: scripts/bench/egress.sh [CONNECTS]   (default 2000; needs root, hyperfine, dnsmasq)
source "$(dirname "$0")/lib.sh"
CONNECTS=${1:-2000}
HOST_NS=nbeh$$
UP_NS=nbeu$$
WORK=$(mktemp -d /tmp/nucleus-bench-egress-XXXXXX)
BENCH_STATE=$WORK/state

cleanup() {
  bench_del_ns "$HOST_NS" "$UP_NS"
  rm -rf "$WORK"
}
trap cleanup EXIT

# host <-> upstream, like tests/support/netns.cc: upstream plays the internet.
ip netns add "$HOST_NS"
ip netns add "$UP_NS"
ip -n "$HOST_NS" link set lo up
ip -n "$UP_NS" link set lo up
bench_veth "$HOST_NS" up0 198.51.100.1/24 "$UP_NS" host0 198.51.100.2/24
ip -n "$HOST_NS" route add default via 198.51.100.2
ip -n "$UP_NS" addr add 203.0.113.10/32 dev lo
ip -n "$UP_NS" route add 10.0.0.0/8 via 198.51.100.1

cat >"$WORK/server.py" <<'PY'
import socket
s = socket.create_server(("203.0.113.10", 80), backlog=4096)
while True:
    c, _ = s.accept()
    c.close()
PY
ip netns exec "$UP_NS" setsid python3 "$WORK/server.py" </dev/null >/dev/null 2>&1 &
ip netns exec "$UP_NS" setsid dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
  --no-hosts --user=root --listen-address=198.51.100.2 --bind-interfaces \
  --address=/allowed.test/203.0.113.10 --address=/wild.test/203.0.113.10 --local-ttl=300 \
  --cache-size=10000 </dev/null >/dev/null 2>&1 &

# The client that runs inside sandboxes.
cat >"$WORK/client.py" <<'PY'
import random, socket, statistics, struct, sys, time
def connects(n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        c = socket.create_connection(("203.0.113.10", 80), timeout=3)
        out.append(time.perf_counter() - t)
        c.close()
    return out
def query(server, name):
    q = struct.pack("!HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    q += struct.pack("!HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.connect((server, 53))
    t = time.perf_counter()
    s.send(q)
    r = s.recv(4096)
    took = time.perf_counter() - t
    time.sleep(0.006)  # stay under the proxy's per-client rate limit (200/s)
    assert r[3] & 0x0f == 0, "rcode %d" % (r[3] & 0x0f)
    return took
def med(xs): return statistics.median(xs) * 1e6
mode = sys.argv[1]
if mode == "connect":
    connects(200)  # warm-up: ARP, conntrack, caches
    xs = connects(int(sys.argv[2]))
    print("connect_us %.1f p90_us %.1f" % (med(xs), statistics.quantiles(xs, n=10)[8] * 1e6))
else:
    server, n = sys.argv[2], int(sys.argv[3])
    query(server, "allowed.test")
    miss = [query(server, "n%d-%d.wild.test" % (i, random.randrange(1 << 30))) for i in range(n)]
    hit = [query(server, "allowed.test") for _ in range(n)]
    print("miss_us %.1f hit_us %.1f" % (med(miss), med(hit)))
PY

# 10,000 distinct /32s (plus the one we connect to, last in the file order).
python3 - "$WORK/policy10k.toml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    cidrs = ['"10.%d.%d.%d/32"' % (100 + i // 65536, (i // 256) % 256, i % 256) for i in range(9999)]
    cidrs.append('"203.0.113.10/32"')
    f.write("allow = [%s]\n" % ", ".join(cidrs))
PY
printf 'allow = ["203.0.113.10/32"]\n' >"$WORK/policy1.toml"

nuc() { ip netns exec "$HOST_NS" "$NUCLEUS" --root "$BENCH_STATE" "$@"; }
RUN=(run --network bridge --dns 198.51.100.2 -v "$WORK:/bench:ro")

# Wait for the upstream services.
for _ in $(seq 100); do
  nuc "${RUN[@]}" -- python3 -c 'import socket; socket.create_connection(("203.0.113.10", 80), 1)' \
    2>/dev/null && break
  sleep 0.1
done

echo "== 1. install a 10,000-CIDR policy"
installs=()
for _ in $(seq 20); do
  ms=$(nuc --log-level debug "${RUN[@]}" --egress-policy "$WORK/policy10k.toml" -- /bin/true 2>&1 |
    sed -n 's/.*table installed: 10000 prefixes in \([0-9.]*\) ms.*/\1/p')
  installs+=("$ms")
done
printf '%s\n' "${installs[@]}" | sort -n | awk '{a[NR]=$1} END {printf "table install (one batch, 10k CIDRs): median %.2f ms, max %.2f ms (%d runs)\n", a[int((NR+1)/2)], a[NR], NR}'
hyperfine -N --warmup 3 --runs 20 --export-json "$WORK/start.json" \
  -n one-cidr "ip netns exec $HOST_NS $NUCLEUS --root $BENCH_STATE run --network bridge --dns 198.51.100.2 --egress-policy $WORK/policy1.toml -- /bin/true" \
  -n 10k-cidrs "ip netns exec $HOST_NS $NUCLEUS --root $BENCH_STATE run --network bridge --dns 198.51.100.2 --egress-policy $WORK/policy10k.toml -- /bin/true" \
  >/dev/null
python3 - "$WORK/start.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print("nucleus run start-up: one CIDR %.1f ms, 10k CIDRs %.1f ms (+%.1f ms)" % (
    r["one-cidr"] * 1e3, r["10k-cidrs"] * 1e3, (r["10k-cidrs"] - r["one-cidr"]) * 1e3))
PY

echo "== 2. TCP connect latency to an allowed address ($CONNECTS connects per run, 7 interleaved runs each)"
connect_us() { nuc "${RUN[@]}" "$@" -- python3 /bench/client.py connect "$CONNECTS" 2>/dev/null | awk '{print $2}'; }
: >"$WORK/none" && : >"$WORK/one" && : >"$WORK/tenk"
for _ in $(seq 7); do  # interleaved, so load changes hit every configuration alike
  connect_us >>"$WORK/none"
  connect_us --egress-policy "$WORK/policy1.toml" >>"$WORK/one"
  connect_us --egress-policy "$WORK/policy10k.toml" >>"$WORK/tenk"
done
python3 - "$WORK" <<'PY'
import statistics, sys
m = {k: statistics.median(float(x) for x in open(sys.argv[1] + "/" + k)) for k in ("none", "one", "tenk")}
print("median connect: no policy %.1f us, 1-CIDR policy %.1f us, 10k-CIDR policy %.1f us" % (m["none"], m["one"], m["tenk"]))
print("ratio 10k/no policy %.3fx, 10k/1-CIDR %.3fx" % (m["tenk"] / m["none"], m["tenk"] / m["one"]))
PY

echo "== 3. DNS answer latency (300 queries each)"
direct=$(nuc "${RUN[@]}" --egress-allow 203.0.113.10/32 -- python3 /bench/client.py dns 198.51.100.2 300 2>/dev/null)
proxied=$(nuc "${RUN[@]}" --egress-domain allowed.test --egress-domain '*.wild.test' -- \
  python3 /bench/client.py dns 127.0.0.53 300 2>/dev/null)
echo "dnsmasq directly: $direct"
echo "through the proxy: $proxied"
python3 -c "
d = dict(zip(*[iter('$direct'.split())] * 2)); p = dict(zip(*[iter('$proxied'.split())] * 2))
print('added by the proxy: cache miss %+.1f us, cache hit %+.1f us' % (
    float(p['miss_us']) - float(d['miss_us']), float(p['hit_us']) - float(d['hit_us'])))"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cpus, $(date -u +%Y-%m-%dT%H:%MZ)"
