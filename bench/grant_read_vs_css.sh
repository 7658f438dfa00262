#!/usr/bin/env bash
# The agency's grant-checked, logged read of a 100 KB document (issue 12), side by side with the
# peer: Community Solid Server 7.2 serving the same file for public read (no consent, no log,
# no encryption). One run, interleaved rounds, wrk on loopback.
#
#   CARGO_TARGET_DIR=~/.cache/cds-target-perf-release \
#     cargo build --release --bin congdanso --example seed_vault
#   bench/grant_read_vs_css.sh
#
# What it does:
# - installs @solid/community-server@7 with npm into $BENCH_CACHE/css (outside the repo), once;
# - for SQLite + local disk (and, if BENCH_DATABASE_URL is set, PostgreSQL + local disk in a
#   fresh database created and dropped here): examples/seed_vault --grant seeds a citizen with
#   BENCH_GRANT_DOCS copies of the 100 KB PDF (type household_registration), an agency with an
#   API credential and a purpose covering that type's file, the agency's request for all of
#   them and the citizen's approval (GRANT_MAX_USES=10000 reads of each); then our release
#   server starts on that data;
# - wrk reads `GET /api/v1/grants/{grant}/documents/{document}/file` with the agency's bearer
#   token, going round the documents (a Lua script), so every request takes the whole path:
#   token, grant checks (agency, withdrawn, expired, uses left by compare-and-set, in scope),
#   the owner's key through the door, the access-log entry, the signed receipt, the file;
# - starts CSS 7.2 (`-c @css:config/file-root.json -w 1`, file backend) and PUTs the same file;
# - checks every target answers 200 with the exact bytes in both encodings, then runs
#   `wrk -t2 -c32 -d10s --latency` against each, BENCH_ROUNDS interleaved rounds, identity and
#   a browser's `Accept-Encoding: gzip, deflate, br`; server CPU per request from /proc;
# - prints every run, then min / median / max and the ratio to CSS per round.
# Everything it starts is stopped on exit (by pid); the whole run is bounded by BENCH_TIMEOUT.
#
# Settings (environment):
#   BENCH_BINARY, BENCH_SEEDER our binary and seeder (default $CARGO_TARGET_DIR/release/congdanso
#                      and …/release/examples/seed_vault; CARGO_TARGET_DIR defaults to
#                      ~/.cache/cds-target-perf-release)
#   BENCH_DATABASE_URL a PostgreSQL URL whose role may CREATE DATABASE (optional)
#   BENCH_CACHE        where CSS is installed (default ~/.cache/cds-bench)
#   BENCH_ROUNDS       rounds (default 3); BENCH_DURATION per run (default 10s)
#   BENCH_GRANT_DOCS   documents in the grant (default 32: 320,000 reads before it is used up)
#   BENCH_TIMEOUT      seconds before everything is stopped (default 1200)
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
GRANT_DOCS="${BENCH_GRANT_DOCS:-32}"
SEEDER="${BENCH_SEEDER:-$TARGET_DIR/release/examples/seed_vault}"

[ -x "$BINARY" ] || { echo "$BINARY not found: cargo build --release first (or set BENCH_BINARY)" >&2; exit 2; }
[ -x "$SEEDER" ] || { echo "$SEEDER not found: cargo build --release --example seed_vault" >&2; exit 2; }
for tool in wrk node npm curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done

# shellcheck source=bench/css_peer.sh
source "$ROOT/bench/css_peer.sh"

# ------------------------------------------------------------------------------- our server
start_ours() { # name, database url
  local name="$1" database_url="$2" port dir seeded
  port="$(free_port)"
  dir="$WORK/$name"
  mkdir -p "$dir/data"
  local env_args=(env -i PATH="$PATH" HOME="$dir" BIND_ADDR="127.0.0.1:$port"
      PUBLIC_URL="http://127.0.0.1:$port" DATABASE_URL="$database_url"
      BLOB_STORE_URL="file://$dir/data/blobs" DATA_DIR="$dir/data" GRANT_MAX_USES=10000
      LOG_FORMAT=json RUST_LOG="${BENCH_RUST_LOG:-warn}")
  seeded="$(cd "$dir" && "${env_args[@]}" "$SEEDER" 079090000777 "$GRANT_DOCS" --grant "$WORK/bench.pdf")"
  (cd "$dir" && exec "${env_args[@]}" "$BINARY" serve >"$dir/server.log" 2>&1) &
  PID[$name]=$!
  PIDS+=("${PID[$name]}")
  wait_for "http://127.0.0.1:$port/healthz" "${PID[$name]}"
  local token grant documents
  token="$(sed -n 's/^agency_token=//p' <<<"$seeded")"
  grant="$(sed -n 's/^grant=//p' <<<"$seeded")"
  documents="$(sed -n 's/^documents=//p' <<<"$seeded")"
  HEADER[$name]="Authorization: Bearer $token"
  URL[$name]="http://127.0.0.1:$port/api/v1/grants/$grant/documents/${documents%%,*}/file"
  # wrk goes round the granted documents, one per request.
  python3 - "$grant" "$documents" >"$dir/round.lua" <<'EOF'
import sys
grant, docs = sys.argv[1], sys.argv[2].split(",")
print("local paths = {" + ", ".join(f'"/api/v1/grants/{grant}/documents/{d}/file"' for d in docs) + "}")
print("local i = 0")
print('request = function() i = i % #paths + 1; return wrk.format("GET", paths[i]) end')
EOF
  SCRIPT[$name]="$dir/round.lua"
  TARGETS+=("$name")
}

start_ours sqlite "sqlite://$WORK/sqlite/data/congdanso.db?mode=rwc"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  peer_postgres_database
  start_ours postgres "$PG_URL"
fi

peer_add_css
peer_check_targets
peer_runs "$GRANT_DOCS documents in the grant"
