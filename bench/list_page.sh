#!/usr/bin/env bash
# The documents list as a vault grows (issue 15): seeds one citizen with 10,000 documents and
# another with 10 through the library (examples/seed_vault.rs: real encryption, blobs and rows),
# starts the release server on loopback (SQLite + local disk in a fresh folder), and measures
# the first and a later page with wrk -c32 plus the page's size on the wire.
#
# Usage: bench/list_page.sh [DOCUMENTS] [SECONDS]      (defaults 10000 and 20)
# Builds the release binary and the seeding example first (one cargo invocation).
set -euo pipefail

cd "$(dirname "$0")/.."
DOCUMENTS="${1:-10000}"
SECONDS_PER_RUN="${2:-20}"
TARGET="${CARGO_TARGET_DIR:-target}"
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

cargo build --release --locked --bin congdanso --example seed_vault

DIR="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export DATA_DIR="$DIR"
export DATABASE_URL="sqlite://$DIR/congdanso.db?mode=rwc"
export BLOB_STORE_URL="file://$DIR/blobs"
export BIND_ADDR="127.0.0.1:$PORT"
export STORAGE_QUOTA_BYTES=10000000000
export SESSION_IDLE_MINUTES=240
export RUST_LOG=warn

big="$("$TARGET/release/examples/seed_vault" 079090001234 "$DOCUMENTS" | sed -n 's/^token=//p')"
small="$("$TARGET/release/examples/seed_vault" 079090005678 10 | sed -n 's/^token=//p')"
full="$("$TARGET/release/examples/seed_vault" 079090009999 25 | sed -n 's/^token=//p')"

"$TARGET/release/congdanso" serve 2>"$DIR/server.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

page() { curl -fs -H "Cookie: cds_session=$1" "http://127.0.0.1:$PORT$2"; }
later="$(page "$big" /documents | grep -o 'href="/documents?after=[^"]*"' | head -1 | sed 's/^href="//; s/"$//')"
gz() { curl -fs -H "Cookie: cds_session=$1" -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT$2" -o - | wc -c; }

echo
echo "machine: $(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
if command -v sqlite3 >/dev/null; then
  echo "query plan of the first page:"
  sqlite3 "$DIR/congdanso.db" "EXPLAIN QUERY PLAN SELECT id FROM document WHERE owner_id = (SELECT owner_id FROM document LIMIT 1) AND NOT EXISTS (SELECT 1 FROM document_signature s JOIN document newer ON newer.id = s.superseded_by WHERE s.document_id = document.id) ORDER BY created_at DESC, id DESC LIMIT 26"
fi
for run in "$DOCUMENTS documents, first page|$big|/documents" \
           "$DOCUMENTS documents, a later page|$big|$later" \
           "25 documents (one full page)|$full|/documents" \
           "10 documents|$small|/documents"; do
  IFS='|' read -r what token path <<<"$run"
  echo
  echo "== $what: $path"
  echo "page bytes: $(page "$token" "$path" | wc -c) (with Accept-Encoding: gzip on the wire: $(gz "$token" "$path"))"
  echo "rows on the page: $(page "$token" "$path" | grep -c '<a href="/documents/0')"
  wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" --latency -H "Cookie: cds_session=$token" \
    "http://127.0.0.1:$PORT$path" | sed -n '/Latency/,/Transfer/p'
done
