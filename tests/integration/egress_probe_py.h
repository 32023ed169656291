// The Python client egress tests run INSIDE sandboxes. Each argument is one check; it prints
// "<check> => <outcome>" per check. Outcomes: "ok", "refused" (TCP reset / ICMP unreachable),
// "eperm" (the local error a reject in the output hook returns to the sender), "timeout",
// "unreachable", "rcode=N ADDR..." for DNS, or an exception name.
#pragma once

namespace nucleus::testing {

inline constexpr const char* kEgressProbePy = R"PY(import errno, os, random, socket, struct, subprocess, sys, time

def fam(h):
    return socket.AF_INET6 if ":" in h else socket.AF_INET

def outcome(e):
    if isinstance(e, ConnectionRefusedError): return "refused"
    if isinstance(e, PermissionError): return "eperm"
    if isinstance(e, (socket.timeout, TimeoutError)): return "timeout"
    if isinstance(e, OSError) and e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES):
        return "unreachable"
    if isinstance(e, socket.gaierror): return "gaierror"
    return type(e).__name__

def tcp(h, p):
    c = socket.create_connection((h, int(p)), timeout=3)
    d = c.recv(10)
    c.close()
    return "ok" if d else "empty"

def udp(h, p):
    s = socket.socket(fam(h), socket.SOCK_DGRAM)
    s.settimeout(3)
    s.connect((h, int(p)))
    s.send(b"x")
    s.recv(10)
    return "ok"

def checksum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff

def icmp(h):
    v6 = ":" in h
    try:
        s = socket.socket(fam(h), socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    except PermissionError:
        return "noperm"
    s.settimeout(3)
    body = struct.pack("!HH", 7, 1) + b"nucleus"
    typ = 128 if v6 else 8
    pkt = struct.pack("!BBH", typ, 0, 0) + body
    if not v6:  # the kernel fills the ICMPv6 checksum
        pkt = struct.pack("!BBH", typ, 0, checksum(pkt)) + body
    s.sendto(pkt, (h, 0))
    while True:
        d, a = s.recvfrom(2048)
        t = d[0] if v6 else d[(d[0] & 0x0f) * 4]
        if a[0] == h and t == (129 if v6 else 0): return "ok"

def name_end(m, i):
    while True:
        n = m[i]
        if n == 0: return i + 1
        if n & 0xc0 == 0xc0: return i + 2
        i += n + 1

def dns(server, name, qtype, proto="udp"):
    qt = {"A": 1, "AAAA": 28, "TXT": 16}[qtype]
    q = struct.pack("!HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    q += struct.pack("!HH", qt, 1)
    if proto == "udp":
        s = socket.socket(fam(server), socket.SOCK_DGRAM)
        s.settimeout(3)
        s.connect((server, 53))
        s.send(q)
        r = s.recv(4096)
    else:
        s = socket.create_connection((server, 53), timeout=3)
        s.sendall(struct.pack("!H", len(q)) + q)
        r = b""
        while len(r) < 2 or len(r) < 2 + struct.unpack("!H", r[:2])[0]:
            chunk = s.recv(4096)
            if not chunk: break
            r += chunk
        r = r[2:]
    an = struct.unpack("!H", r[6:8])[0]
    i = name_end(r, 12) + 4
    addrs = []
    for _ in range(an):
        i = name_end(r, i)
        t, _c, _ttl, ln = struct.unpack("!HHIH", r[i:i + 10])
        i += 10
        if t == 1: addrs.append(socket.inet_ntop(socket.AF_INET, r[i:i + ln]))
        if t == 28: addrs.append(socket.inet_ntop(socket.AF_INET6, r[i:i + ln]))
        i += ln
    return " ".join(["rcode=%d" % (r[3] & 0x0f)] + sorted(addrs))

def resolve(name):
    infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    return " ".join(sorted(set(i[4][0] for i in infos)))

def waitresolve(name, addr, seconds):
    end = time.time() + float(seconds)
    last = ""
    while time.time() < end:
        try:
            last = resolve(name)
            if addr in last.split(): return "ok"
        except Exception as e:
            last = outcome(e)
        time.sleep(0.2)
    return "stale " + last

def wait(path, seconds):
    end = time.time() + float(seconds)
    while time.time() < end:
        if os.path.exists(path): return "ok"
        time.sleep(0.05)
    return "timeout"

def touch(path):
    open(path, "w").close()
    return "ok"

def sh(*words):
    r = subprocess.run(" ".join(words), shell=True, capture_output=True, timeout=10)
    return "exit=%d" % r.returncode

def netlink():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
    s.close()
    return "ok"

def resolvconf():
    return " ".join(l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver"))

for check in sys.argv[1:]:
    words = [w for w in check.split() if not w.startswith("#")]  # "#label" tells repeats apart
    try:
        result = globals()[words[0]](*words[1:])
    except Exception as e:
        result = outcome(e)
    print("%s => %s" % (check, result), flush=True)
)PY";

}  // namespace nucleus::testing
