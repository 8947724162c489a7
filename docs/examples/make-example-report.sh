#!/usr/bin/env bash
# Makes docs/examples/compliance-summary.pdf and .html: a November 2026 compliance summary of
# the benchmark's workload for one tenant (3,000 events over the 90 days before 2026-12-01,
# seed 20261130), on a fresh embedded store. The events, and so every number in the report,
# are the same on every run; the ids, the signing key and the checkpoint's signature are new.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build -q -p trailkeep-cli -p bench --bins
bin=target/debug
data=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$data"' EXIT
export TRAILKEEP_JWT_SECRET=example-report-secret-not-for-production-0123456789
port=${PORT:-18089}
base=http://127.0.0.1:$port

"$bin/trailkeep" serve --data-dir "$data" --listen "127.0.0.1:$port" > "$data/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    curl -sf "$base/readyz" > /dev/null && break
    sleep 0.2
done
token=$("$bin/trailkeep" token --tenant acme --scope "audit:write audit:export")

"$bin/trailkeep-workload" --events 3000 --seed 20261130 --until 2026-12-01T00:00:00Z |
    curl -sf -H "authorization: Bearer $token" -H 'content-type: application/x-ndjson' \
        --data-binary @- "$base/v1/events" > /dev/null

for format in pdf html; do
    "$bin/trailkeep" report --server "$base" --token "$token" --type compliance-summary \
        --from 2026-11-01 --to 2026-11-30 --format "$format" \
        --output "docs/examples/compliance-summary.$format"
done
