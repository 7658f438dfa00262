#!/usr/bin/env bash
# What the access log costs (issue 11). Runs on a fresh machine with Rust, wrk, curl, git and
# python3 (psql too for PostgreSQL); everything it starts on loopback is stopped on exit, by pid,
# and the whole run is bounded by BENCH_TIMEOUT.
#
#   bench/access_log.sh                                   # all parts, SQLite
#   BENCH_DATABASE_URL=postgres://u:p@127.0.0.1:5432/postgres bench/access_log.sh   # and PostgreSQL
#   BEFORE_REF=<commit> AFTER_REF=<commit> BENCH_PARTS=download bench/access_log.sh
#
# Part "page" — the log page at 10,000 entries (this checkout): builds the release server and
# examples/seed_vault (one cargo invocation), seeds a citizen with BENCH_LOG_ENTRIES (10,000)
# access-log entries appended through `audit::append` in transactions of 500 (a mix of the
# citizen's own reads, two counter clerks of one agency and another agency's system under a
# grant, some denied), one with 20 (one full page: same rows, tiny log) and one with 10, then
# runs wrk on `GET /access-log` (page 1, 20 rows) with
# each one's session cookie, in identity and with `Accept-Encoding: gzip, br`, BENCH_ROUNDS
# interleaved rounds. Reports req/s, p50, p99, server CPU per request and the ratios
# 10k / 10 and 10k / 20 (target: p99 < 20 ms).
#
# Part "download" — the owner's download of a 100 KB document, with the log write against
# without. The server cannot be told to skip the log, so "without" is the code before the
# change: builds BEFORE_REF and AFTER_REF (release, each from a detached worktree under
# /tmp/cds-bench-*, removed afterwards; binaries cached by commit in $BENCH_CACHE/bin), starts
# both on their own fresh data (SQLite, and PostgreSQL in fresh databases if
# BENCH_DATABASE_URL), registers a citizen on each through the real forms
# (bench/seed_citizen.py) and uploads the 100 KB PDF, checks both send the exact bytes, then
# runs wrk on the download alternating before / after (ABAB…, BENCH_ROUNDS ≥ 3 rounds),
# identity and `Accept-Encoding: gzip, br`. Reports req/s, p50, p99 and server CPU per request
# of each and the ratio after / before per round (target: after ≥ 0.85× before). Then a short
# concurrency sweep (BENCH_SWEEP connections, identity) of both, to see what the appends'
# locks do as connections grow.
#
# Part "appends" — append throughput against concurrency (this checkout): seed_vault appends
# BENCH_APPENDS single-entry transactions, C at a time, spread over C citizens (so they contend
# only on the one global tree head, not on a citizen's chain), for C in BENCH_APPEND_CONCURRENCY;
# on SQLite and, with BENCH_DATABASE_URL, PostgreSQL.
#
# Settings (environment; defaults in brackets):
#   BENCH_PARTS          which parts ["page download appends"]
#   BEFORE_REF/AFTER_REF commits for part "download" [0423d5d / HEAD]
#   BENCH_DATABASE_URL   PostgreSQL URL whose role may CREATE DATABASE [unset: SQLite only]
#   BENCH_ROUNDS [3]  BENCH_DURATION per wrk run [10s]  BENCH_LOG_ENTRIES [10000]
#   BENCH_SWEEP [1 8 32 128]  BENCH_SWEEP_DURATION [5s]
#   BENCH_APPENDS [2000]  BENCH_APPEND_CONCURRENCY [1 4 16 32]
#   BENCH_CACHE [~/.cache/cds-bench]  CARGO_TARGET_DIR [~/.cache/cds-target-perf-release]
#   BENCH_TIMEOUT seconds before everything is stopped [3600]
# wrk always runs with -t2 -c32 (the sweep aside) and --latency.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cds-target-perf-release}"
CACHE="${BENCH_CACHE:-$HOME/.cache/cds-bench}"
PARTS="${BENCH_PARTS:-page download appends}"
BEFORE_REF="${BEFORE_REF:-0423d5d}"
AFTER_REF="${AFTER_REF:-HEAD}"
ROUNDS="${BENCH_ROUNDS:-3}"
DURATION="${BENCH_DURATION:-10s}"
LOG_ENTRIES="${BENCH_LOG_ENTRIES:-10000}"
SWEEP="${BENCH_SWEEP:-1 8 32 128}"
SWEEP_DURATION="${BENCH_SWEEP_DURATION:-5s}"
APPENDS="${BENCH_APPENDS:-2000}"
APPEND_CONCURRENCY="${BENCH_APPEND_CONCURRENCY:-1 4 16 32}"
TIMEOUT="${BENCH_TIMEOUT:-3600}"
BROWSER_ENCODINGS="gzip, br"
FILE_BYTES=102400

for tool in cargo git wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  command -v psql >/dev/null || { echo "psql is needed with BENCH_DATABASE_URL" >&2; exit 2; }
fi
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cds-bench-XXXXXX")"
PIDS=()
PG_DBS=()
WORKTREES=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -f "$WORK/pg_dbs" ] && mapfile -t PG_DBS <"$WORK/pg_dbs"
  for db in "${PG_DBS[@]}"; do
    psql -q "$BENCH_DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  for tree in "${WORKTREES[@]}"; do git -C "$ROOT" worktree remove --force "$tree" 2>/dev/null || true; done
  [ "${#WORKTREES[@]}" -eq 0 ] || git -C "$ROOT" worktree prune 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  sleep "$TIMEOUT" & nap=$!
  wait "$nap"
  echo "BENCH_TIMEOUT ($TIMEOUT s) reached, stopping" >&2
  kill -TERM $$
) 2>/dev/null &
WATCHDOG=$!
PIDS+=("$WATCHDOG")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# utime + stime of a pid; 0 (and a warning) if it is gone.
cpu_ticks() {
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null \
    || { echo "warning: process $1 is gone" >&2; echo 0; }
}
CLK_TCK="$(getconf CLK_TCK)"

wait_for() { # url, pid
  for _ in $(seq 1 240); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "server $2 exited" >&2; return 1; }
    sleep 0.5
  done
  echo "$1 did not answer within 2 minutes" >&2
  return 1
}

# A fresh database URL for a backend ("sqlite" or "postgres") in folder $2.
database_url() {
  if [ "$1" = sqlite ]; then
    echo "sqlite://$2/congdanso.db?mode=rwc"
  else
    local db="cds_bench_$(date +%s%N | cut -c1-13)_$$_$RANDOM"
    # Called in $(…), a subshell: the name goes to a file the cleanup reads.
    echo "$db" >>"$WORK/pg_dbs"
    psql -q "$BENCH_DATABASE_URL" -c "CREATE DATABASE \"$db\"" >/dev/null
    python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' \
      "$BENCH_DATABASE_URL" "$db"
  fi
}
BACKENDS=(sqlite)
[ -n "${BENCH_DATABASE_URL:-}" ] && BACKENDS+=(postgres)

# Becomes a command in folder $1 with a clean environment: database $2, port $3. Call it in a
# subshell: `(run_env …)`, or `run_env … &` (then $! is the command's own pid).
run_env() {
  local dir="$1" url="$2" port="$3"
  shift 3
  cd "$dir" && exec env -i PATH="$PATH" HOME="$dir" BIND_ADDR="127.0.0.1:$port" \
    PUBLIC_URL="http://127.0.0.1:$port" DATABASE_URL="$url" BLOB_STORE_URL="file://$dir/blobs" \
    DATA_DIR="$dir" STORAGE_QUOTA_BYTES=10000000000 SESSION_IDLE_MINUTES=240 LOG_FORMAT=json \
    RUST_LOG=warn "$@"
}

declare -A PID
start_server() { # name, binary, folder, database url, port
  local name="$1" binary="$2" dir="$3" url="$4" port="$5"
  run_env "$dir" "$url" "$port" "$binary" serve >"$dir/server.log" 2>&1 &
  PID[$name]=$!
  PIDS+=("${PID[$name]}")
  wait_for "http://127.0.0.1:$port/healthz" "${PID[$name]}"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
# One wrk run; appends a row to $RESULTS and prints it.
# args: part, round, label, encoding, connections, duration, server name, cookie, url
measure() {
  local part="$1" round="$2" label="$3" encoding="$4" conns="$5" duration="$6" name="$7" cookie="$8" url="$9"
  local headers=(-H "Cookie: $cookie") before after out
  [ "$encoding" = browser ] && headers+=(-H "Accept-Encoding: $BROWSER_ENCODINGS")
  before="$(cpu_ticks "${PID[$name]}")"
  out="$(timeout 120 wrk -t"$(( conns < 2 ? 1 : 2 ))" -c"$conns" -d"$duration" --latency "${headers[@]}" "$url")"
  after="$(cpu_ticks "${PID[$name]}")"
  python3 - "$part" "$round" "$label" "$encoding" "$conns" "$before" "$after" "$CLK_TCK" "$out" >>"$RESULTS" <<'EOF'
import re, sys
part, round_, label, encoding, conns, before, after, tck, out = sys.argv[1:10]
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
print("\t".join([part, round_, label, encoding, conns, f"{rps:.1f}", f"{p50:.2f}", f"{p99:.2f}", f"{cpu_us:.0f}", str(total), note]))
EOF
  tail -1 "$RESULTS" | awk -F'\t' '{ printf "  %s r%s %-26s %-8s c%-3s %8s req/s  p50 %7s ms  p99 %7s ms  cpu %5s us/req  %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $11 }'
}

# Checks that url answers 200 (and, with $3, exactly the bytes of file $3) in both encodings.
check() { # label, cookie, url, [file]
  for encoding in identity browser; do
    local headers=(-H "Cookie: $2")
    [ "$encoding" = browser ] && headers+=(-H "Accept-Encoding: $BROWSER_ENCODINGS")
    curl -s -D "$WORK/check.head" -o "$WORK/check.body" "${headers[@]}" "$3"
    head -1 "$WORK/check.head" | grep -q ' 200' || { echo "$1/$encoding: $(head -1 "$WORK/check.head")" >&2; exit 1; }
    local ce
    ce="$(grep -i '^content-encoding:' "$WORK/check.head" | tr -d '\r' || true)"
    if [ -n "${4:-}" ]; then
      cmp -s "$WORK/check.body" "$4" || { echo "$1/$encoding: body differs from the upload" >&2; exit 1; }
    fi
    echo "check $1/$encoding: 200, $(stat -c %s "$WORK/check.body") bytes, ${ce:-no Content-Encoding}"
  done
}

echo "machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "parts: $PARTS; backends: ${BACKENDS[*]}; wrk -t2 -c32 -d$DURATION --latency, $ROUNDS rounds"

# ------------------------------------------------------------------ this checkout's build
if has_part page || has_part appends; then
  echo "building this checkout ($(git -C "$ROOT" rev-parse --short HEAD)$( [ -z "$(git -C "$ROOT" status --porcelain)" ] || echo ', with uncommitted changes'))"
  (cd "$ROOT" && cargo build --release --locked --quiet --bin congdanso --example seed_vault)
  mkdir -p "$WORK/bin"
  cp "$CARGO_TARGET_DIR/release/congdanso" "$CARGO_TARGET_DIR/release/examples/seed_vault" "$WORK/bin/"
fi

# ---------------------------------------------------------------------- part 1: the page
if has_part page; then
  echo
  echo "== part 1: GET /access-log (page 1) with $LOG_ENTRIES entries and with 10"
  for backend in "${BACKENDS[@]}"; do
    dir="$WORK/page-$backend"
    mkdir -p "$dir"
    url="$(database_url "$backend" "$dir")"
    port="$(free_port)"
    seed() { # national id, documents, entries
      (run_env "$dir" "$url" "$port" "$WORK/bin/seed_vault" "$1" "$2" --log "$3" --batch 500) \
        >"$dir/seed.out" 2>"$dir/seed.err" || { cat "$dir/seed.err" >&2; return 1; }
      sed 's/^/  /' "$dir/seed.err" >&2
      sed -n 's/^token=//p' "$dir/seed.out"
    }
    big="$(seed 079090001234 25 "$LOG_ENTRIES")"
    full="$(seed 079090009999 5 20)"
    small="$(seed 079090005678 5 10)"
    [ -n "$big" ] && [ -n "$full" ] && [ -n "$small" ] || { echo "seeding gave no session" >&2; exit 1; }
    if [ "$backend" = sqlite ] && command -v sqlite3 >/dev/null; then
      echo "  query plan of page 1 (SQLite):"
      sqlite3 "$dir/congdanso.db" "EXPLAIN QUERY PLAN SELECT * FROM access_log_entry WHERE account_id = (SELECT account_id FROM access_log_chain ORDER BY seq DESC LIMIT 1) AND erased = 0 ORDER BY seq DESC LIMIT 21" | sed 's/^/    /'
    fi
    start_server "page-$backend" "$WORK/bin/congdanso" "$dir" "$url" "$port"
    base="http://127.0.0.1:$port/access-log"
    for who in big full small; do
      cookie="cds_session=${!who}"
      check "$backend/$who" "$cookie" "$base"
      rows="$(curl -s -H "Cookie: $cookie" "$base" | grep -c '<li class="outcome-' || true)"
      gz="$(curl -s -H "Cookie: $cookie" -H "Accept-Encoding: gzip" "$base" | wc -c)"
      echo "  $who: page $(curl -s -H "Cookie: $cookie" "$base" | wc -c) bytes ($gz gzipped), $rows entries shown"
    done
    for round in $(seq 1 "$ROUNDS"); do
      for encoding in identity browser; do
        measure page "$round" "$backend $LOG_ENTRIES entries" "$encoding" 32 "$DURATION" "page-$backend" "cds_session=$big" "$base"
        measure page "$round" "$backend 20 entries" "$encoding" 32 "$DURATION" "page-$backend" "cds_session=$full" "$base"
        measure page "$round" "$backend 10 entries" "$encoding" 32 "$DURATION" "page-$backend" "cds_session=$small" "$base"
      done
    done
    kill "${PID[page-$backend]}"; wait "${PID[page-$backend]}" 2>/dev/null || true
  done
fi

# ----------------------------------------------------------- part 2: download, before/after
# The release binary of a commit, built once from a detached worktree and kept by commit.
binary_of() { # commit (full)
  local commit="$1" out="$CACHE/bin/congdanso-$1"
  if [ ! -x "$out" ]; then
    mkdir -p "$CACHE/bin"
    if [ -x "$WORK/bin/congdanso" ] && [ "$(git -C "$ROOT" rev-parse HEAD)" = "$commit" ] \
       && [ -z "$(git -C "$ROOT" status --porcelain)" ]; then
      cp "$WORK/bin/congdanso" "$out.tmp"   # this checkout is that commit, already built
    else
      local tree="$WORK/tree-${commit:0:12}"
      git -C "$ROOT" worktree add --detach --quiet "$tree" "$commit" >&2
      WORKTREES+=("$tree")
      echo "building ${commit:0:12} in $tree" >&2
      (cd "$tree" && cargo build --release --locked --quiet --bin congdanso) >&2
      cp "$CARGO_TARGET_DIR/release/congdanso" "$out.tmp"
      git -C "$ROOT" worktree remove --force "$tree" >&2
    fi
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}

if has_part download; then
  before_commit="$(git -C "$ROOT" rev-parse --verify "$BEFORE_REF^{commit}")"
  after_commit="$(git -C "$ROOT" rev-parse --verify "$AFTER_REF^{commit}")"
  echo
  echo "== part 2: owner download of a $FILE_BYTES-byte document, before ${before_commit:0:12} ($BEFORE_REF) / after ${after_commit:0:12} ($AFTER_REF)"
  bin_before="$(binary_of "$before_commit")"
  bin_after="$(binary_of "$after_commit")"
  python3 - "$WORK/bench.pdf" "$FILE_BYTES" <<'EOF'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
head = b"%PDF-1.7\n"
with open(path, "wb") as f:
    f.write(head + os.urandom(size - len(head)))
EOF
  declare -A COOKIE URL
  for backend in "${BACKENDS[@]}"; do
    for side in before after; do
      name="$side-$backend"
      dir="$WORK/$name"
      mkdir -p "$dir"
      port="$(free_port)"
      bin_var="bin_$side"
      start_server "$name" "${!bin_var}" "$dir" "$(database_url "$backend" "$dir")" "$port"
      seeded="$(python3 "$ROOT/bench/seed_citizen.py" "http://127.0.0.1:$port" "$WORK/bench.pdf")"
      COOKIE[$name]="$(sed -n 1p <<<"$seeded")"
      URL[$name]="http://127.0.0.1:$port$(sed -n 2p <<<"$seeded")"
      check "$name" "${COOKIE[$name]}" "${URL[$name]}" "$WORK/bench.pdf"
    done
    for round in $(seq 1 "$ROUNDS"); do
      for encoding in identity browser; do
        for side in before after; do
          measure download "$round" "$backend $side" "$encoding" 32 "$DURATION" "$side-$backend" "${COOKIE[$side-$backend]}" "${URL[$side-$backend]}"
        done
      done
    done
    for conns in $SWEEP; do
      for side in before after; do
        measure sweep 1 "$backend $side" identity "$conns" "$SWEEP_DURATION" "$side-$backend" "${COOKIE[$side-$backend]}" "${URL[$side-$backend]}"
      done
    done
    for side in before after; do kill "${PID[$side-$backend]}"; wait "${PID[$side-$backend]}" 2>/dev/null || true; done
  done
fi

# ---------------------------------------------------------- part 3: append throughput
if has_part appends; then
  echo
  echo "== part 3: $APPENDS single-entry append transactions, C at a time over C citizens"
  for backend in "${BACKENDS[@]}"; do
    for conc in $APPEND_CONCURRENCY; do
      dir="$WORK/appends-$backend-$conc"
      mkdir -p "$dir"
      url="$(database_url "$backend" "$dir")"
      (run_env "$dir" "$url" 0 "$WORK/bin/seed_vault" 079090007000 2 --log "$APPENDS" --batch 1 \
        --concurrency "$conc" --citizens "$conc") >/dev/null 2>"$dir/seed.err" || cat "$dir/seed.err" >&2
      line="$(grep 'appended' "$dir/seed.err" || true)"
      echo "  $backend c$conc: ${line#seed_vault: }"
      rate="$(sed -n 's/.*(\([0-9]*\) entries\/s.*/\1/p' <<<"$line")"
      printf 'appends\t1\t%s\t-\t%s\t%s\t\t\t\t%s\t\n' "$backend" "$conc" "${rate:-0}" "$APPENDS" >>"$RESULTS"
    done
  done
fi

# ------------------------------------------------------------------------------ summary
python3 - "$RESULTS" "$LOG_ENTRIES" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
entries = sys.argv[2]
def mmm(values, fmt):
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))
def table(part, ratio_of):
    by = defaultdict(list)
    for r in rows:
        if r[0] == part:
            by[(r[2], r[3])].append(r)
    if not by:
        return
    print(f"\n{part}: min / median / max over rounds")
    print("| run | encoding | req/s | p50 ms | p99 ms | CPU µs/req | ratio (req/s, per round) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (label, encoding), runs in by.items():
        parts = []
        for ref in ratio_of(label):
            peer = {r[1]: float(r[5]) for r in by.get((ref, encoding), [])}
            ratios = [float(r[5]) / peer[r[1]] for r in runs if peer.get(r[1])]
            if ratios:
                parts.append(mmm(ratios, "{:.2f}") + " × " + ref.split(" ", 1)[1])
        ratio = "; ".join(parts) or "—"
        f = lambda i, fmt: mmm([float(r[i]) for r in runs], fmt)
        print(f"| {label} | {encoding} | {f(5, '{:.0f}')} | {f(6, '{:.2f}')} | {f(7, '{:.2f}')} | {f(8, '{:.0f}')} | {ratio} |")
table("page", lambda l: [l.replace(f"{entries} entries", n) for n in ("20 entries", "10 entries")]
      if l.endswith(f" {entries} entries") else [])
table("download", lambda l: [l.replace(" after", " before")] if l.endswith(" after") else [])
sweep = [r for r in rows if r[0] == "sweep"]
if sweep:
    print("\nsweep (identity, one run each): connections → req/s, p99 ms, after/before")
    print("| backend | connections | before req/s | after req/s | before p99 | after p99 | after / before |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    seen = {}
    for r in sweep:
        seen[(r[2].rsplit(" ", 1)[0], r[4], r[2].rsplit(" ", 1)[1])] = r
    for (backend, conns, side), r in seen.items():
        if side != "after":
            continue
        b = seen.get((backend, conns, "before"))
        if b:
            print(f"| {backend} | {conns} | {float(b[5]):.0f} | {float(r[5]):.0f} | {float(b[7]):.2f} | {float(r[7]):.2f} | {float(r[5]) / float(b[5]):.2f} |")
appends = [r for r in rows if r[0] == "appends"]
if appends:
    print("\nappends: single-entry transactions per second by concurrency")
    print("| backend | concurrent transactions (citizens) | entries/s |")
    print("|---|---:|---:|")
    for r in appends:
        print(f"| {r[2]} | {r[4]} | {r[5]} |")
bad = [r for r in rows if len(r) > 10 and r[10]]
if bad:
    print("\nWARNING: runs with errors or non-2xx answers:", *("/".join(r[:5]) + " " + r[10] for r in bad), sep="\n  ")
EOF
