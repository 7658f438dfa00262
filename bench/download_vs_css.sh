#!/usr/bin/env bash
# The owner's download of a 100 KB document, side by side with the peer: Community Solid Server
# 7.2 serving the same file for public read. One run, interleaved rounds, wrk on loopback.
#
#   cargo build --release            # with the target dir you pass in CARGO_TARGET_DIR
#   bench/download_vs_css.sh
#
# What it does:
# - installs @solid/community-server@7 with npm into $BENCH_CACHE/css (outside the repo), once;
# - starts our release binary on SQLite + local disk (and, if BENCH_DATABASE_URL is set, a second
#   one on PostgreSQL + local disk, in a fresh database created and dropped here), each with a
#   fresh data folder; a citizen registers through the real forms (TOTP computed from the
#   enrolment page), uploads the 100 KB PDF and keeps the session cookie;
# - starts CSS 7.2 (`-c @css:config/file-root.json -w 1`, file backend) and PUTs the same file;
# - times the list page (BENCH_LIST_DOCS documents) on one keep-alive connection, as a browser
#   asks for it and without compression;
# - checks every target answers 200 with the exact bytes, then runs `wrk -t2 -c32 -d10s --latency`
#   against each, in BENCH_ROUNDS interleaved rounds, in two encodings: identity (no
#   Accept-Encoding) and a browser's (`Accept-Encoding: gzip, deflate, br`);
# - reads the server's CPU time (utime+stime from /proc/<pid>/stat) around each run and divides
#   by the requests wrk completed;
# - prints every run, then min / median / max of req/s, p50, p99, CPU per request and the ratio
#   to CSS (per round, same encoding).
# Everything it starts is stopped on exit (by pid); the whole run is bounded by BENCH_TIMEOUT.
#
# Settings (environment):
#   BENCH_BINARY       our binary (default $CARGO_TARGET_DIR/release/congdanso,
#                      CARGO_TARGET_DIR defaulting to ~/.cache/cds-target-perf-release)
#   BENCH_DATABASE_URL a PostgreSQL URL whose role may CREATE DATABASE (optional)
#   BENCH_CACHE        where CSS is installed (default ~/.cache/cds-bench)
#   BENCH_ROUNDS       rounds (default 3); BENCH_DURATION per run (default 10s)
#   BENCH_TIMEOUT      seconds before everything is stopped (default 1200)
#   BENCH_RUST_LOG     our log level (default warn; CSS runs with -l warn)
#   BENCH_LIST_DOCS    documents in the citizen's list, for the list-page latency (default 52)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cds-target-perf-release}"
BINARY="${BENCH_BINARY:-$TARGET_DIR/release/congdanso}"
CACHE="${BENCH_CACHE:-$HOME/.cache/cds-bench}"
ROUNDS="${BENCH_ROUNDS:-3}"
DURATION="${BENCH_DURATION:-10s}"
TIMEOUT="${BENCH_TIMEOUT:-1200}"
BROWSER_ENCODINGS="gzip, deflate, br"
FILE_BYTES=102400
LIST_DOCS="${BENCH_LIST_DOCS:-52}"

[ -x "$BINARY" ] || { echo "$BINARY not found: cargo build --release first (or set BENCH_BINARY)" >&2; exit 2; }
for tool in wrk node npm curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cds-bench-XXXXXX")"
PIDS=()
PG_DB=""
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PG_DB" ]; then
    psql -q "$BENCH_DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM
# The watchdog ends the whole run if it overstays.
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  sleep "$TIMEOUT" & nap=$!
  wait "$nap"
  echo "BENCH_TIMEOUT ($TIMEOUT s) reached, stopping" >&2
  kill -TERM $$
) 2>/dev/null &
PIDS+=($!)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # url, pid
  for _ in $(seq 1 240); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "server $2 exited" >&2; return 1; }
    sleep 0.5
  done
  echo "$1 did not answer within 2 minutes" >&2
  return 1
}

cpu_ticks() { # utime + stime of a pid (fields 14 and 15, counted after the command name)
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# ------------------------------------------------------------------------------ the document
python3 - "$WORK/bench.pdf" "$FILE_BYTES" <<'EOF'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
head = b"%PDF-1.7\n"
with open(path, "wb") as f:
    f.write(head + os.urandom(size - len(head)))
EOF

# -------------------------------------------------------------------------------- the peer
CSS_DIR="$CACHE/css"
CSS_BIN="$CSS_DIR/node_modules/@solid/community-server/bin/server.js"
if [ ! -f "$CSS_BIN" ]; then
  mkdir -p "$CSS_DIR"
  echo "installing @solid/community-server@7 into $CSS_DIR"
  (cd "$CSS_DIR" && timeout 600 npm install --no-audit --no-fund --loglevel=error @solid/community-server@7 >/dev/null)
fi
CSS_VERSION="$(node -p "require('$CSS_DIR/node_modules/@solid/community-server/package.json').version")"
CSS_PORT="$(free_port)"
mkdir -p "$WORK/css-root"
node "$CSS_BIN" -c @css:config/file-root.json -w 1 -l warn -f "$WORK/css-root" \
  -p "$CSS_PORT" -b "http://127.0.0.1:$CSS_PORT/" >"$WORK/css.log" 2>&1 &
CSS_PID=$!
PIDS+=("$CSS_PID")

# ------------------------------------------------------------------------------- our server
cat >"$WORK/seed.py" <<'EOF'
"""Registers a citizen through the real forms, uploads the file, prints the cookie and doc id."""
import base64, hashlib, hmac, http.cookiejar, random, re, struct, sys, time
import urllib.error, urllib.parse, urllib.request

base, path = sys.argv[1], sys.argv[2]

def totp(secret):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(time.time() // 30)), hashlib.sha1).digest()
    o = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
def csrf():
    """The form token as a page computes it: HMAC-SHA256 of the CSRF cookie's secret, keyed by
    the session cookie (src/auth/csrf.rs `form_token`)."""
    secret = next(c.value for c in jar if c.name == "cds_csrf")
    session = next((c.value for c in jar if c.name == "cds_session"), "")
    mac = hmac.new(session.encode(), b"congdanso/v1/csrf\0" + secret.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

def send(request):
    try:
        return opener.open(request, timeout=30)
    except urllib.error.HTTPError as e:
        return e

def post(p, fields):
    return send(urllib.request.Request(base + p, data=urllib.parse.urlencode({"csrf_token": csrf(), **fields}).encode()))

opener.open(base + "/register", timeout=30).read()
password = "Bench-mark-pass-2026"
national_id = "001099" + f"{random.randrange(10**6):06d}"
r = post("/register", {"national_id": national_id, "full_name": "Người Đo Tốc Độ", "birth_date": "1999-01-01",
                       "phone": "0905000999", "email": "", "password": password, "password_confirm": password})
assert r.status == 303, f"register answered {r.status}"
page = opener.open(base + "/enroll", timeout=30).read().decode()
secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
r = post("/enroll", {"code": totp(secret)})
assert r.status == 200, f"enroll answered {r.status}"

boundary = "----cdsbench7MA4YWxkTrZu0gW"
data = open(path, "rb").read()
def upload(name, data):
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf()}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"doc_type\"\r\n\r\nother\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{name}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    r = send(urllib.request.Request(base + "/documents", data=body, method="POST",
                                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}))
    assert r.status == 303, f"upload answered {r.status}"

upload("Bench", data)
listing = opener.open(base + "/documents", timeout=30).read().decode()
doc = re.search(r'href="/documents/([0-9a-f-]{36})"', listing).group(1)
# More documents for the list page.
for i in range(int(sys.argv[3]) - 1):
    upload(f"Giấy tờ {i + 1}", b"%PDF-1.7\n" + bytes(range(256)) * 4)
print("; ".join(f"{c.name}={c.value}" for c in jar))
print(f"/documents/{doc}/download")
EOF

declare -A URL COOKIE PID
TARGETS=()

start_ours() { # name, database url
  local name="$1" database_url="$2" port dir
  port="$(free_port)"
  dir="$WORK/$name"
  mkdir -p "$dir/data"
  (cd "$dir" && exec env -i PATH="$PATH" HOME="$dir" BIND_ADDR="127.0.0.1:$port" \
      PUBLIC_URL="http://127.0.0.1:$port" DATABASE_URL="$database_url" \
      BLOB_STORE_URL="file://$dir/data/blobs" DATA_DIR="$dir/data" \
      LOG_FORMAT=json RUST_LOG="${BENCH_RUST_LOG:-warn}" \
      "$BINARY" serve >"$dir/server.log" 2>&1) &
  PID[$name]=$!
  PIDS+=("${PID[$name]}")
  wait_for "http://127.0.0.1:$port/healthz" "${PID[$name]}"
  local seeded
  seeded="$(python3 "$WORK/seed.py" "http://127.0.0.1:$port" "$WORK/bench.pdf" "$LIST_DOCS")"
  COOKIE[$name]="$(sed -n 1p <<<"$seeded")"
  URL[$name]="http://127.0.0.1:$port$(sed -n 2p <<<"$seeded")"
  TARGETS+=("$name")
}

start_ours sqlite "sqlite://$WORK/sqlite/data/congdanso.db?mode=rwc"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  PG_DB="cds_bench_$(date +%s)_$$"
  psql -q "$BENCH_DATABASE_URL" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
  PG_URL="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$BENCH_DATABASE_URL" "$PG_DB")"
  start_ours postgres "$PG_URL"
fi

wait_for "http://127.0.0.1:$CSS_PORT/" "$CSS_PID"
status="$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/pdf' \
  --data-binary @"$WORK/bench.pdf" "http://127.0.0.1:$CSS_PORT/bench.pdf")"
[ "$status" = 201 ] || [ "$status" = 205 ] || { echo "CSS PUT answered $status" >&2; exit 1; }
URL[css]="http://127.0.0.1:$CSS_PORT/bench.pdf"
COOKIE[css]=""
PID[css]="$CSS_PID"
TARGETS+=(css)

# Every target must answer the exact bytes, unencoded, in both encodings, before we time it.
for name in "${TARGETS[@]}"; do
  for encoding in identity browser; do
    headers=(-H "Cookie: ${COOKIE[$name]}")
    [ "$encoding" = browser ] && headers+=(-H "Accept-Encoding: $BROWSER_ENCODINGS")
    curl -s -D "$WORK/check.head" -o "$WORK/check.body" "${headers[@]}" "${URL[$name]}"
    head -1 "$WORK/check.head" | grep -q ' 200' || { echo "$name/$encoding: $(head -1 "$WORK/check.head")" >&2; exit 1; }
    ce="$(grep -i '^content-encoding:' "$WORK/check.head" | tr -d '\r' || true)"
    cl="$(grep -i '^content-length:' "$WORK/check.head" | tr -d '\r' || true)"
    sent="$(stat -c %s "$WORK/check.body")"
    # An older build compressed downloads: say so, and compare what it unpacks to.
    if grep -qi '^content-encoding: *gzip' "$WORK/check.head"; then
      gzip -dc <"$WORK/check.body" >"$WORK/check.plain" && mv "$WORK/check.plain" "$WORK/check.body"
    fi
    cmp -s "$WORK/check.body" "$WORK/bench.pdf" || { echo "$name/$encoding: body differs" >&2; exit 1; }
    echo "check $name/$encoding: 200, ${cl:-no Content-Length}, ${ce:-no Content-Encoding}, $sent bytes sent"
  done
done

# The list page as a browser asks for it, one request after another on one connection: a
# response written in pieces without TCP_NODELAY waits for the client's delayed ACK (~40 ms).
for name in "${TARGETS[@]}"; do
  [ "$name" = css ] && continue
  python3 - "${URL[$name]}" "${COOKIE[$name]}" "$LIST_DOCS" <<'EOF'
import http.client, statistics, sys, time, urllib.parse
url, cookie, docs = urllib.parse.urlparse(sys.argv[1]), sys.argv[2], sys.argv[3]
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
for label, headers in [("identity", {}), ("gzip", {"Accept-Encoding": "gzip, deflate, br"})]:
    times, size, encoding = [], 0, ""
    for _ in range(40):
        t = time.perf_counter()
        conn.request("GET", "/documents", headers={"Cookie": cookie, **headers})
        r = conn.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t) * 1000)
        assert r.status == 200, r.status
        size, encoding = len(body), r.getheader("Content-Encoding") or "identity"
    times = times[5:]
    print(f"list page ({docs} documents), {label:8s}: median {statistics.median(times):6.2f} ms, "
          f"max {max(times):6.2f} ms over {len(times)} sequential requests; {size} bytes {encoding}")
EOF
done

# --------------------------------------------------------------------------------- the runs
RESULTS="$WORK/results.tsv"
CLK_TCK="$(getconf CLK_TCK)"
run() { # round, name, encoding
  local round="$1" name="$2" encoding="$3" before after out
  local headers=(-H "Cookie: ${COOKIE[$name]}")
  [ "$encoding" = browser ] && headers+=(-H "Accept-Encoding: $BROWSER_ENCODINGS")
  before="$(cpu_ticks "${PID[$name]}")"
  out="$(timeout 60 wrk -t2 -c32 -d"$DURATION" --latency "${headers[@]}" "${URL[$name]}")"
  after="$(cpu_ticks "${PID[$name]}")"
  python3 - "$round" "$name" "$encoding" "$before" "$after" "$CLK_TCK" "$out" >>"$RESULTS" <<'EOF'
import re, sys
round_, name, encoding, before, after, tck, out = sys.argv[1:8]
def ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
total = int(re.search(r"(\d+) requests in", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errors = re.search(r"Socket errors: (.*)", out)
cpu_us = (int(after) - int(before)) / int(tck) * 1e6 / max(total, 1)
note = ";".join(x for x in [f"non2xx={bad.group(1)}" if bad else "", f"socket:{errors.group(1)}" if errors else ""] if x)
print(f"{round_}\t{name}\t{encoding}\t{rps:.1f}\t{p50:.2f}\t{p99:.2f}\t{cpu_us:.1f}\t{total}\t{note}")
EOF
  tail -1 "$RESULTS" | awk -F'\t' '{ printf "round %s %-9s %-8s %9s req/s  p50 %6s ms  p99 %6s ms  cpu %7s us/req  %s\n", $1, $2, $3, $4, $5, $6, $7, $9 }'
}

echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ours: $BINARY ($("$BINARY" --version 2>/dev/null || echo congdanso))"
echo "peer: Community Solid Server $CSS_VERSION (file-root, -w 1), node $(node --version)"
echo "wrk -t2 -c32 -d$DURATION --latency, $ROUNDS interleaved rounds, file $FILE_BYTES bytes"
for round in $(seq 1 "$ROUNDS"); do
  for encoding in identity browser; do
    for name in "${TARGETS[@]}"; do
      run "$round" "$name" "$encoding"
    done
  done
done

python3 - "$RESULTS" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
by = defaultdict(list)
for r in rows:
    by[(r[1], r[2])].append(r)
def mmm(values, fmt):
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))
print("\nmin / median / max over rounds")
print("| target | encoding | req/s | p50 ms | p99 ms | CPU µs/req | × CSS req/s |")
print("|---|---|---:|---:|---:|---:|---:|")
for (name, encoding), runs in by.items():
    rps = [float(r[3]) for r in runs]
    ratio = "—"
    if name != "css":
        peer = {r[0]: float(r[3]) for r in by[("css", encoding)]}
        ratios = [float(r[3]) / peer[r[0]] for r in runs if peer.get(r[0])]
        if ratios:
            ratio = mmm(ratios, "{:.1f}")
    print(f"| {name} | {encoding} | {mmm(rps, '{:.0f}')} | {mmm([float(r[4]) for r in runs], '{:.2f}')} "
          f"| {mmm([float(r[5]) for r in runs], '{:.2f}')} | {mmm([float(r[6]) for r in runs], '{:.0f}')} | {ratio} |")
EOF
