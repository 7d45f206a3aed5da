#!/usr/bin/env bash
# Fuzzes the REST API from its own OpenAPI document with schemathesis (pinned): starts a real
# `tokengate serve` on a throwaway SQLite database, authenticates as an admin, and requires no
# 5xx and every response to conform to the document.
#
# PUT /admin/settings is left out of the fuzzing: a random valid body (an allow-list without
# 127.0.0.1 and ?force=true, or passwords disabled) would lock the fuzzer itself out and turn
# the rest of the run into 403s. It is covered by crates/tokengate-server/tests/api.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
SCHEMATHESIS_VERSION=4.32.5

command -v schemathesis >/dev/null 2>&1 && schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" \
    || python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"

cargo build --quiet -p tokengate
binary=target/debug/tokengate
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TOKENGATE_DATABASE_URL="sqlite://$work/schemathesis.db"
export TOKENGATE_LISTEN="127.0.0.1:$port"
export TOKENGATE_METRICS_LISTEN=""
export TOKENGATE_SECURITY__FAILURES_PER_MINUTE=0
password="schemathesis-$RANDOM-$RANDOM"
"$binary" user add fuzzer --admin --password-stdin <<< "$password"

"$binary" serve > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/tokengate/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

auth=$(printf 'fuzzer:%s' "$password" | base64 -w0)
schemathesis run "http://127.0.0.1:$port/tokengate/api/openapi.json" \
    --url "http://127.0.0.1:$port/tokengate/api/v1" \
    --header "Authorization: Basic $auth" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-operation-id put_settings \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
    --seed 1 \
    --no-color
if grep -qiE 'panicked|internal error' "$work/serve.log"; then
    echo "tokengate logged a panic or internal error during fuzzing:" >&2
    grep -iE 'panicked|internal error' "$work/serve.log" >&2
    exit 1
fi
