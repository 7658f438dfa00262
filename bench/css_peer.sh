# Shared by the benchmarks that measure one of our reads against the peer, Community Solid Server
# 7.2, in the same run (bench/download_vs_css.sh, bench/grant_read_vs_css.sh). Source it after
# the settings (BINARY, CACHE, ROUNDS, DURATION, TIMEOUT, BROWSER_ENCODINGS, FILE_BYTES): it makes
# the work folder (removed on exit with everything started, by pid; the run bounded by TIMEOUT),
# the 100 KB PDF in $WORK/bench.pdf, installs and starts CSS, and defines:
#   peer_postgres_database   creates a fresh database on BENCH_DATABASE_URL (dropped on exit)
#                            and sets PG_URL
#   peer_add_css             waits for CSS, PUTs the PDF, adds the target `css`
#   peer_check_targets       every target answers 200 with the exact bytes, in both encodings
#   peer_runs [note]         the interleaved wrk rounds and the min / median / max table
# Targets: names in TARGETS, with URL[name], HEADER[name] (one request header), PID[name] (the
# server, for its CPU time) and optionally SCRIPT[name] (a wrk Lua script).

declare -A URL HEADER PID SCRIPT
TARGETS=()

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

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

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


peer_postgres_database() {
  PG_DB="cds_bench_$(date +%s)_$$"
  psql -q "$BENCH_DATABASE_URL" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
  PG_URL="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$BENCH_DATABASE_URL" "$PG_DB")"
}

peer_add_css() {
wait_for "http://127.0.0.1:$CSS_PORT/" "$CSS_PID"
status="$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/pdf' \
  --data-binary @"$WORK/bench.pdf" "http://127.0.0.1:$CSS_PORT/bench.pdf")"
[ "$status" = 201 ] || [ "$status" = 205 ] || { echo "CSS PUT answered $status" >&2; exit 1; }
URL[css]="http://127.0.0.1:$CSS_PORT/bench.pdf"
HEADER[css]="Cookie: "
PID[css]="$CSS_PID"
TARGETS+=(css)
}

peer_check_targets() {
# Every target must answer the exact bytes, unencoded, in both encodings, before we time it.
for name in "${TARGETS[@]}"; do
  for encoding in identity browser; do
    headers=(-H "${HEADER[$name]}")
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
}

RESULTS="$WORK/results.tsv"
CLK_TCK="$(getconf CLK_TCK)"
run() { # round, name, encoding
  local round="$1" name="$2" encoding="$3" before after out
  local headers=(-H "${HEADER[$name]}")
  [ "$encoding" = browser ] && headers+=(-H "Accept-Encoding: $BROWSER_ENCODINGS")
  before="$(cpu_ticks "${PID[$name]}")"
  local script=()
  [ -n "${SCRIPT[$name]:-}" ] && script=(-s "${SCRIPT[$name]}")
  out="$(timeout 60 wrk -t2 -c32 -d"$DURATION" --latency "${script[@]}" "${headers[@]}" "${URL[$name]}")"
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


peer_runs() { # [note for the header line]
echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ours: $BINARY ($("$BINARY" --version 2>/dev/null || echo congdanso))"
echo "peer: Community Solid Server $CSS_VERSION (file-root, -w 1), node $(node --version)"
echo "wrk -t2 -c32 -d$DURATION --latency, $ROUNDS interleaved rounds, file $FILE_BYTES bytes${1:+, $1}"
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
}
