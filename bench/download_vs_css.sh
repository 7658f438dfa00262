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

# shellcheck source=bench/css_peer.sh
source "$ROOT/bench/css_peer.sh"

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
  HEADER[$name]="Cookie: $(sed -n 1p <<<"$seeded")"
  URL[$name]="http://127.0.0.1:$port$(sed -n 2p <<<"$seeded")"
  TARGETS+=("$name")
}

start_ours sqlite "sqlite://$WORK/sqlite/data/congdanso.db?mode=rwc"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  peer_postgres_database
  start_ours postgres "$PG_URL"
fi

peer_add_css
peer_check_targets

# The list page as a browser asks for it, one request after another on one connection: a
# response written in pieces without TCP_NODELAY waits for the client's delayed ACK (~40 ms).
for name in "${TARGETS[@]}"; do
  [ "$name" = css ] && continue
  python3 - "${URL[$name]}" "${HEADER[$name]#Cookie: }" "$LIST_DOCS" <<'EOF'
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

peer_runs
