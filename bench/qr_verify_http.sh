#!/usr/bin/env bash
# QR identity verification over HTTP (issue 13): a clerk's `POST /staff/scan` with a fresh token
# each time — CSRF, staff session, parse, Ed25519, handle and account, then the one transaction
# (single-use nonce, scan row, `qr.verify` entry) and the result page with the citizen's name —
# against, in the same run, `GET /staff/scan` (the same session, CSRF and page machinery, no
# verification). wrk on loopback, interleaved rounds, identity and a browser's Accept-Encoding.
#
#   CARGO_TARGET_DIR=~/.cache/cds-target-perf-release \
#     cargo build --release --bin congdanso --example seed_vault
#   bench/qr_verify_http.sh
#   BENCH_DATABASE_URL=postgres://u:p@127.0.0.1:5432/postgres bench/qr_verify_http.sh  # and PostgreSQL
#
# examples/seed_vault --qr writes BENCH_QR_TOKENS tokens of one citizen (valid 600 s) and starts
# a counter clerk's session; each wrk thread takes every other token (none is sent twice: a
# replay would be a cheap 409). Every answer must be 200: the scan script counts the others
# (a redirect to the login page would be a 303, which wrk itself does not count).
#
# Settings (environment): BENCH_BINARY, BENCH_SEEDER (default $CARGO_TARGET_DIR/release/…),
# BENCH_DATABASE_URL (optional), BENCH_ROUNDS [3], BENCH_DURATION per run [5s],
# BENCH_QR_TOKENS [120000], BENCH_TIMEOUT [900].
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cds-target-perf-release}"
BINARY="${BENCH_BINARY:-$TARGET_DIR/release/congdanso}"
SEEDER="${BENCH_SEEDER:-$TARGET_DIR/release/examples/seed_vault}"
ROUNDS="${BENCH_ROUNDS:-3}"
DURATION="${BENCH_DURATION:-5s}"
TOKENS="${BENCH_QR_TOKENS:-120000}"
TIMEOUT="${BENCH_TIMEOUT:-900}"
BROWSER_ENCODINGS="gzip, deflate, br"

[ -x "$BINARY" ] || { echo "$BINARY not found: cargo build --release first (or set BENCH_BINARY)" >&2; exit 2; }
[ -x "$SEEDER" ] || { echo "$SEEDER not found: cargo build --release --example seed_vault" >&2; exit 2; }
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cds-bench-qr-XXXXXX")"
PIDS=()
PG_DB=""
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PG_DB" ]; then
    psql -q "$BENCH_DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM
# The watchdog ends the whole run if it overstays (its sleep is killed with it, so nothing
# keeps the output open after the run).
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  sleep "$TIMEOUT" & nap=$!
  wait "$nap"
  echo "BENCH_TIMEOUT ($TIMEOUT s) reached, stopping" >&2
  kill -TERM $$
) 2>/dev/null &
PIDS+=($!)

declare -A PORT PID COOKIE CSRF USED
NAMES=()
start() { # name, database url
  local name="$1" database_url="$2" dir seeded
  PORT[$name]="$(free_port)"
  dir="$WORK/$name"
  mkdir -p "$dir/data"
  local env_args=(env -i PATH="$PATH" HOME="$dir" BIND_ADDR="127.0.0.1:${PORT[$name]}"
      PUBLIC_URL="http://127.0.0.1:${PORT[$name]}" DATABASE_URL="$database_url"
      BLOB_STORE_URL="file://$dir/data/blobs" DATA_DIR="$dir/data" CONGDANSO_QR_TTL_SECONDS=600
      LOG_FORMAT=json RUST_LOG="${BENCH_RUST_LOG:-warn}")
  seeded="$(cd "$dir" && "${env_args[@]}" "$SEEDER" 079090000555 0 --qr "$TOKENS" "$dir/tokens.txt")"
  (cd "$dir" && exec "${env_args[@]}" "$BINARY" serve >"$dir/server.log" 2>&1) &
  PID[$name]=$!
  PIDS+=("${PID[$name]}")
  wait_for "http://127.0.0.1:${PORT[$name]}/healthz" "${PID[$name]}"
  local staff base
  staff="$(sed -n 's/^staff_token=//p' <<<"$seeded")"
  base="http://127.0.0.1:${PORT[$name]}"
  # The form's CSRF token and its cookie, as a browser would have them.
  curl -s -c "$dir/jar" -b "cds_session=$staff" "$base/staff/scan" >"$dir/form.html"
  CSRF[$name]="$(python3 -c 'import re,sys; print(re.search(r"name=\"csrf_token\" value=\"([^\"]+)\"", open(sys.argv[1]).read()).group(1))' "$dir/form.html")"
  COOKIE[$name]="cds_session=$staff; $(awk '(/^#HttpOnly_/ || !/^#/) && NF >= 7 { printf "%s=%s; ", $6, $7 }' "$dir/jar")"
  # wrk's script: each thread its own half of the tokens, form-encoded once here.
  python3 - "$dir/tokens.txt" "${CSRF[$name]}" "$dir/bodies.txt" <<'EOF'
import sys, urllib.parse as u
tokens, csrf, out = sys.argv[1], sys.argv[2], sys.argv[3]
with open(out, "w") as f:
    for t in open(tokens).read().splitlines():
        f.write(u.urlencode({"csrf_token": csrf, "token": t}) + "\n")
EOF
  cat >"$dir/scan.lua" <<EOF
local threads = {}
function setup(thread) thread:set("id", #threads); threads[#threads + 1] = thread end
function done(summary, latency, requests)
  local bad, through = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("bad") or 0)
    through = math.max(through, (t:get("i") or 1) - 1)
  end
  io.write(string.format("answers other than 200: %d\ntokens used through: %d\n", bad, through))
end
function init(args)
  -- wrk's -H headers, and the form's own.
  headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  bodies = {}
  for line in io.lines("$dir/bodies.txt") do bodies[#bodies + 1] = line end
  -- Tokens earlier runs used are skipped (the first argument after --).
  i = (tonumber(args[1]) or 0) + id + 1
end
bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
request = function()
  local body = bodies[i]
  i = i + 2
  if body == nil then body = bodies[1] end
  return wrk.format("POST", "/staff/scan", headers, body)
end
EOF
  # One token by hand: 200 with the citizen, then the same again 409.
  local first code again
  first="$(head -1 "$dir/bodies.txt")"
  code="$(curl -s -o "$dir/first.html" -w '%{http_code}' -H "Cookie: ${COOKIE[$name]}" --data "$first" "$base/staff/scan")"
  again="$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: ${COOKIE[$name]}" --data "$first" "$base/staff/scan")"
  grep -q "qr-full-name" "$dir/first.html" || { echo "$name: the first scan did not verify ($code)" >&2; grep -o "data-code=\"[a-z_]*\"\|<h1>[^<]*" "$dir/first.html" >&2; exit 1; }
  [ "$code" = 200 ] && [ "$again" = 409 ] || { echo "$name: first scan $code, replay $again" >&2; exit 1; }
  sed -i 1d "$dir/bodies.txt"
  echo "check $name: a token verifies (200, the name shown) and its replay is refused (409)"
  USED[$name]=0
  NAMES+=("$name")
}

start sqlite "sqlite://$WORK/sqlite/data/congdanso.db?mode=rwc"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  PG_DB="cds_bench_qr_$(date +%s)_$$"
  psql -q "$BENCH_DATABASE_URL" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
  PG_URL="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$BENCH_DATABASE_URL" "$PG_DB")"
  start postgres "$PG_URL"
fi

RESULTS="$WORK/results.tsv"
CLK_TCK="$(getconf CLK_TCK)"
run() { # round, name, what (scan|page), encoding
  local round="$1" name="$2" what="$3" encoding="$4" before after out
  local headers=(-H "Cookie: ${COOKIE[$name]}") script=()
  [ "$encoding" = browser ] && headers+=(-H "Accept-Encoding: $BROWSER_ENCODINGS")
  [ "$what" = scan ] && script=(-s "$WORK/$name/scan.lua")
  before="$(cpu_ticks "${PID[$name]}")"
  out="$(timeout 60 wrk -t2 -c32 -d"$DURATION" --latency "${script[@]}" "${headers[@]}" "http://127.0.0.1:${PORT[$name]}/staff/scan" -- "${USED[$name]}")"
  after="$(cpu_ticks "${PID[$name]}")"
  python3 - "$round" "$name/$what" "$encoding" "$before" "$after" "$CLK_TCK" "$out" >>"$RESULTS" <<'EOF'
import re, sys
round_, name, encoding, before, after, tck, out = sys.argv[1:8]
def ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
total = int(re.search(r"(\d+) requests in", out).group(1))
bad = re.search(r"answers other than 200: (\d+)", out) or re.search(r"Non-2xx or 3xx responses: (\d+)", out)
cpu_us = (int(after) - int(before)) / int(tck) * 1e6 / max(total, 1)
print(f"{round_}\t{name}\t{encoding}\t{rps:.1f}\t{p50:.2f}\t{p99:.2f}\t{cpu_us:.1f}\t{total}\t{bad.group(1) if bad else 0}")
EOF
  # The tokens this run took (those still in flight at its end too): the next run skips them.
  if [ "$what" = scan ]; then
    USED[$name]="$(sed -n 's/^tokens used through: //p' <<<"$out")"
  fi
  tail -1 "$RESULTS" | awk -F'\t' '{ printf "round %s %-16s %-8s %9s req/s  p50 %6s ms  p99 %6s ms  cpu %7s us/req  not-200 %s\n", $1, $2, $3, $4, $5, $6, $7, $9 }'
}

echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: $BINARY; $TOKENS tokens per database; wrk -t2 -c32 -d$DURATION --latency, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
  for encoding in identity browser; do
    for name in "${NAMES[@]}"; do
      run "$round" "$name" scan "$encoding"
      run "$round" "$name" page "$encoding"
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
print("| target | encoding | req/s | p50 ms | p99 ms | CPU µs/req | not 200 | scan ÷ page req/s |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for (name, encoding), runs in by.items():
    ratio = "—"
    if name.endswith("/scan"):
        page = {r[0]: float(r[3]) for r in by[(name[:-5] + "/page", encoding)]}
        ratios = [float(r[3]) / page[r[0]] for r in runs if page.get(r[0])]
        ratio = mmm(ratios, "{:.2f}") if ratios else "—"
    print(f"| {name} | {encoding} | {mmm([float(r[3]) for r in runs], '{:.0f}')} | {mmm([float(r[4]) for r in runs], '{:.2f}')} "
          f"| {mmm([float(r[5]) for r in runs], '{:.2f}')} | {mmm([float(r[6]) for r in runs], '{:.0f}')} | {sum(int(r[8]) for r in runs)} | {ratio} |")
EOF
