#!/usr/bin/env bash
# Token requests while a password flood runs (SPEC §7: a flood of password attempts must not
# slow token requests by more than 20 %). tokengate proxies to nginx `return 200`; one wrk
# sends a valid Bearer token, another (started a second earlier, ending a second later) sends
# wrong passwords for an unknown user as fast as it can (each one a full argon2id check against
# the dummy hash). Rounds interleave: tokens alone, tokens during the flood with the failure
# budget off (FAILURES_PER_MINUTE=0: the worst case, a flood from many addresses), tokens
# during the flood with the default budget (60 failures a minute per address, then 429).
#
#   bench/flood.sh
#   DURATION=3 ROUNDS=1 bench/flood.sh

source "$(dirname "$0")/lib.sh"

FLOOD_THREADS=${FLOOD_THREADS:-1}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-64}

ensure_tools
build_tokengate

DB=$WORK/tokengate.db
tg user add bench --password-stdin <<<'bench-password-1' >/dev/null
TOKEN=$(tg token create --user bench --name bench --json | jq -r .token)
WRONG=$(printf 'nobody:not-the-password' | base64 -w0)

UPSTREAM_PORT=$(free_port)
OPEN_PORT=$(free_port)
DEFAULT_PORT=$(free_port)
{
    nginx_preamble "$WORK/nginx"
    cat <<EOF
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / { return 200 "ok\n"; }
    }
}
EOF
} >"$WORK/nginx.conf"
mkdir -p "$WORK/nginx"
start_nginx nginx "$WORK/nginx.conf"
wait_http "http://127.0.0.1:$UPSTREAM_PORT/"
PASSWORDS=TOKENGATE_SECURITY__PASSWORD_CONCURRENCY=${PASSWORD_CONCURRENCY:-0}
start_tokengate open "$OPEN_PORT" "$PASSWORDS" TOKENGATE_GATEWAY__UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT" \
    TOKENGATE_SECURITY__FAILURES_PER_MINUTE=0
start_tokengate budget "$DEFAULT_PORT" "$PASSWORDS" TOKENGATE_GATEWAY__UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT"

for port in "$OPEN_PORT" "$DEFAULT_PORT"; do
    expect_status 200 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/items"
done
expect_status 401 -H "Authorization: Basic $WRONG" "http://127.0.0.1:$OPEN_PORT/api/items"

tokens() {
    local label=$1 port=$2
    wrk_run "$label" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
        -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/items"
}

# Tokens measured on PORT while wrong passwords flood the same gateway.
# A right password from another loopback address (127.0.0.2) while the flood runs: seconds.
sign_ins_during_flood() {
    local label=$1 port=$2
    for _ in 1 2 3 4 5; do
        curl -s -o /dev/null -w "$label %{http_code} %{time_total}\n" --interface 127.0.0.2 \
            -u 'bench:bench-password-1' "http://127.0.0.1:$port/api/items" >>"$OUT/sign-ins.txt"
    done
}

tokens_during_flood() {
    local label=$1 port=$2
    wrk_run "flood_$label" -t"$FLOOD_THREADS" -c"$FLOOD_CONNECTIONS" -d"$((DURATION + 3))s" \
        -H "Authorization: Basic $WRONG" "http://127.0.0.1:$port/api/items" &
    local flood=$!
    sleep 1
    sign_ins_during_flood "$label" "$port"
    tokens "$label" "$port"
    wait "$flood"
}

describe_machine | tee "$OUT/machine.txt" >&2
echo "flood: wrk -t$FLOOD_THREADS -c$FLOOD_CONNECTIONS, Basic nobody:<wrong>, from the same address; password_concurrency ${PASSWORD_CONCURRENCY:-0} (0 = CPUs)" >>"$OUT/machine.txt"
if [ "$WARMUP" -gt 0 ]; then
    DURATION=$WARMUP tokens warmup "$OPEN_PORT"
fi
for round in $(seq "$ROUNDS"); do
    log "round $round/$ROUNDS"
    tokens alone "$OPEN_PORT"
    tokens_during_flood during_flood_no_budget "$OPEN_PORT"
    tokens_during_flood during_flood_default_budget "$DEFAULT_PORT"
done

{
    echo
    cat "$OUT/machine.txt"
    echo
    table_header
    table_row alone "token requests (Bearer, proxy), no flood" -
    table_row during_flood_no_budget "token requests during the flood, failure budget off" alone
    table_row during_flood_default_budget "token requests during the flood, default budget (60/min)" alone
    table_row flood_during_flood_no_budget "the flood itself (401 answers), budget off" -
    table_row flood_during_flood_default_budget "the flood itself (401, then 429), default budget" -
    echo
    echo "A right password from another address during the flood (5 sign-ins a round, seconds):"
    awk '{ n[$1]++; if ($3 > max[$1]) max[$1] = $3; if ($2 != 200) bad[$1]++ }
         END { for (l in n) printf "* %s: %d sign-ins, slowest %.3f s, not 200: %d\n", l, n[l], max[l], bad[l] + 0 }' \
        "$OUT/sign-ins.txt"
} | tee "$OUT/summary.md"
