#!/usr/bin/env bash
# A guided look at nucleus: installs dependencies, builds, then runs real sandboxes and shows what
# they can and cannot do. Safe on any host: everything networked happens in throwaway network
# namespaces ("demo-host" plays this machine, "demo-net" plays the internet) that are removed at
# the end; the real host's links, routes and firewall are never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "demo.sh: run as root (it creates network namespaces)"; exit 1; }

./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target nucleus >/dev/null
NUCLEUS=$PWD/build/nucleus

HOST=demo-host-$$; NET=demo-net-$$; STATE=$(mktemp -d /tmp/nucleus-demo-XXXXXX)
cleanup() {
  for ns in "$HOST" "$NET"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$STATE"
}
trap cleanup EXIT

ip netns add "$HOST"; ip netns add "$NET"
ip -n "$HOST" link set lo up; ip -n "$NET" link set lo up
ip -n "$HOST" link add uplink type veth peer name downlink netns "$NET"
ip -n "$HOST" addr add 198.51.100.1/24 dev uplink; ip -n "$NET" addr add 198.51.100.2/24 dev downlink
ip -n "$HOST" link set uplink up; ip -n "$NET" link set downlink up
ip -n "$HOST" route add default via 198.51.100.2
ip -n "$NET" addr add 203.0.113.10/32 dev lo
mkdir -p "$STATE/www" && echo "hello from the (pretend) internet" > "$STATE/www/index.html"
ip netns exec "$NET" python3 -m http.server --bind 203.0.113.10 --directory "$STATE/www" 8080 \
  >/dev/null 2>&1 &
disown
for _ in $(seq 100); do  # wait until the upstream server listens
  ip netns exec "$NET" python3 -c 'import socket; socket.create_connection(("203.0.113.10", 8080), 1)' \
    2>/dev/null && break
  sleep 0.1
done
nucleus() { ip netns exec "$HOST" "$NUCLEUS" --root "$STATE/state" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "A sandbox is a fresh set of namespaces; the command is PID 1" \
  "nucleus run --hostname demo -- sh -c 'echo pid=\$\$ host=\$(hostname) uid=\$(id -u)'"
nucleus run --hostname demo -- /bin/sh -c 'echo pid=$$ host=$(hostname) uid=$(id -u)'

step "The root filesystem is minimal and read-only; host secrets are absent" \
  "nucleus run -- sh -c 'ls /etc; touch /usr/x; cat /etc/shadow'"
nucleus run -- /bin/sh -c 'ls /etc | tr "\n" " "; echo; touch /usr/x; cat /etc/shadow' || true

step "No network unless asked for (--network none is the default)" \
  "nucleus run -- sh -c 'ls /sys/class/net 2>/dev/null || cat /proc/net/dev'"
nucleus run -- /bin/sh -c 'cat /proc/net/dev | tail -n +3 | cut -d: -f1'

step "--network bridge: an address on nucleus0, NAT to the outside" \
  "nucleus run --network bridge --dns 198.51.100.2 -- python3 -c 'urlopen(http://203.0.113.10:8080/)'"
nucleus run --network bridge --dns 198.51.100.2 -- python3 -c \
  'import urllib.request; print(urllib.request.urlopen("http://203.0.113.10:8080/", timeout=5).read().decode().strip())'

step "Published ports: the outside reaches a server inside the sandbox" \
  "nucleus run --network bridge --dns 198.51.100.2 -p 8000:8000 -- python3 -m http.server 8000"
ip netns exec "$HOST" "$NUCLEUS" --root "$STATE/state" run --name web --network bridge \
  --dns 198.51.100.2 -p 8000:8000 -- python3 -m http.server 8000 >/dev/null 2>&1 &
WEB=$!
for _ in $(seq 100); do
  ip netns exec "$NET" python3 -c 'import urllib.request; urllib.request.urlopen("http://198.51.100.1:8000/", timeout=1)' 2>/dev/null && break
  sleep 0.1
done
echo "from demo-net: HTTP $(ip netns exec "$NET" python3 -c 'import urllib.request; print(urllib.request.urlopen("http://198.51.100.1:8000/", timeout=3).status)')"
nucleus state
nucleus stop web -t 2
wait "$WEB" || true

step "After the sandboxes end, the host is exactly as before" "ip link; nft list ruleset"
ip -n "$HOST" -br link
echo "nft ruleset lines: $(ip netns exec "$HOST" nft list ruleset | wc -l)"
