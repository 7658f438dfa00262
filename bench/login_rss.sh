#!/usr/bin/env bash
# Server memory under a burst of concurrent logins (issue 15), through the real login form.
#
# Starts the release binary on loopback with a fresh data folder (SQLite + local disk, demo
# accounts), then fires ROUNDS rounds of CONCURRENCY simultaneous logins (default 3 × 200). Each
# login is a small browser: GET /login for the CSRF cookie, then POST the form with that token
# (double-submit), from its own loopback source address (127.0.1.x), so neither the per-address
# nor the per-name throttle stops it and every one reaches password hashing (unknown national
# IDs take the dummy-hash path, which costs a real verification). The server's resident memory
# (VmRSS) is sampled from /proc every 20 ms during the load and for SETTLE seconds after it.
#
# Usage: bench/login_rss.sh            (build first: cargo build --release)
#   BINARY=/path/to/congdanso  another build (e.g. the previous main) to compare
#   CONCURRENCY=200 ROUNDS=3 SETTLE=3  load shape
#   Any PASSWORD_HASH_* variable is passed to the server as is.
# Only bash and the Python 3 standard library are used. Traffic goes to 127.0.0.0/8 only, and
# the script stops the server it started.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BINARY="${BINARY:-$TARGET/release/congdanso}"
CONCURRENCY="${CONCURRENCY:-200}"
ROUNDS="${ROUNDS:-3}"
SETTLE="${SETTLE:-3}"

[ -x "$BINARY" ] || { echo "no binary at $BINARY (cargo build --release first)" >&2; exit 1; }

WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

env APP_ENV=development \
  BIND_ADDR="127.0.0.1:$PORT" \
  PUBLIC_URL="http://127.0.0.1:$PORT" \
  DATABASE_URL="sqlite://$WORK/bench.db?mode=rwc" \
  BLOB_STORE_URL="file://$WORK/blobs" \
  DATA_DIR="$WORK" \
  RUST_LOG=warn \
  "$BINARY" serve --demo >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

python3 - "$SERVER_PID" "$PORT" "$CONCURRENCY" "$ROUNDS" "$SETTLE" "$BINARY" <<'PY'
import http.client
import re
import sys
import threading
import time
import urllib.parse
from collections import Counter

pid, port, concurrency, rounds, settle, binary = (
    int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
    float(sys.argv[5]), sys.argv[6])


def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_ready(deadline=60):
    end = time.time() + deadline
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("server did not start (see its log)")


def login(n, results, barrier):
    source = ("127.0.1.%d" % (1 + n % 250), 0)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=source)
        c.request("GET", "/login")
        r = c.getresponse()
        page = r.read().decode()
        secret = ""
        for name, value in r.getheaders():
            if name.lower() == "set-cookie" and value.startswith("cds_csrf="):
                secret = value.split(";", 1)[0].split("=", 1)[1]
        # The form's token as the page gives it (bound to the cookie's secret), like a browser.
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        token = found.group(1) if found else ""
        body = urllib.parse.urlencode({
            "csrf_token": token,
            "login": "0790%08d" % n,
            "password": "wrong-password-%d" % n,
        })
        barrier.wait()
        started = time.time()
        c.request("POST", "/login", body, {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "cds_csrf=" + secret,
        })
        r = c.getresponse()
        r.read()
        results.append((r.status, time.time() - started))
    except Exception as e:  # counted, not raised: the report says how many failed
        results.append(("error " + type(e).__name__, 0.0))


wait_ready()
idle = rss_kib()
samples = []
stop = threading.Event()


def sampler():
    while not stop.is_set():
        samples.append(rss_kib())
        time.sleep(0.02)


threading.Thread(target=sampler, daemon=True).start()
statuses = Counter()
latencies = []
t0 = time.time()
for round_ in range(rounds):
    results = []
    barrier = threading.Barrier(concurrency)
    threads = [threading.Thread(target=login, args=(round_ * concurrency + i, results, barrier))
               for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses.update(s for s, _ in results)
    latencies += [d for s, d in results if s == 422]
elapsed = time.time() - t0
peak = max(samples) if samples else rss_kib()
time.sleep(settle)
after = rss_kib()
stop.set()
latencies.sort()
p = lambda q: latencies[int(q * (len(latencies) - 1))] if latencies else float("nan")
print(f"binary        {binary}")
print(f"load          {rounds} rounds x {concurrency} concurrent logins in {elapsed:.1f} s")
print(f"answers       {dict(sorted(statuses.items(), key=str))}")
print(f"judged p50/p99 {p(0.5) * 1000:.0f} / {p(0.99) * 1000:.0f} ms")
print(f"RSS idle      {idle / 1024:.0f} MiB")
print(f"RSS peak      {peak / 1024:.0f} MiB")
print(f"RSS after     {after / 1024:.0f} MiB ({settle:.0f} s after the load)")
PY
