#!/usr/bin/env bash
# Resident memory of `tokengate serve` with 1,000,000 stored tokens of which 100,000 are in
# active use (SPEC §7: ≤ 150 MiB). Seeds the database once (cached in target/bench-cache/),
# starts serve on a copy, drives every active token through /tokengate/whoami with wrk
# (bench/cycle.lua), and reads VmRSS/VmHWM from /proc.
#
#   bench/memory.sh                          # 1,000,000 stored, 100,000 active
#   COUNT=100000 ACTIVE=10000 bench/memory.sh

source "$(dirname "$0")/lib.sh"

COUNT=${COUNT:-1000000}
ACTIVE=${ACTIVE:-100000}
PASS_SECONDS=${PASS_SECONDS:-30}

ensure_tools
build_tokengate
log "seeding $COUNT tokens (once; cached in target/bench-cache)"
(cd "$ROOT" && cargo run --release -q -p tokengate-server --example seed -- "$COUNT" "$ACTIVE") >"$WORK/seed.out"
SEED_DB=$(sed -n 1p "$WORK/seed.out")
# The secrets file holds up to 100,000 spread over the set; take ACTIVE of them, spread too.
TOTAL_SECRETS=$(wc -l <"$(sed -n 2p "$WORK/seed.out")")
awk -v step="$((TOTAL_SECRETS / ACTIVE))" -v keep="$ACTIVE" \
    'step < 1 { step = 1 } (NR - 1) % step == 0 && kept < keep { print; kept++ }' \
    "$(sed -n 2p "$WORK/seed.out")" >"$WORK/active.tokens"
DB=$WORK/tokengate.db
cp "$SEED_DB" "$DB"

PORT=$(free_port)
METRICS_PORT=$(free_port)
start_tokengate tokengate "$PORT" TOKENGATE_SECURITY__FAILURES_PER_MINUTE=0 \
    TOKENGATE_METRICS_LISTEN="127.0.0.1:$METRICS_PORT"
PID=$PID_tokengate
URL="http://127.0.0.1:$PORT/tokengate/whoami"
expect_status 200 -H "Authorization: Bearer $(head -1 "$WORK/active.tokens")" "$URL"

kib() { awk -v key="$1" '$1 == key":" {print $2}' "/proc/$PID/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
misses() {
    curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
        awk '/^tokengate_token_cache_lookups_total\{result="miss"\}/ {print $2}'
}

describe_machine | tee "$OUT/machine.txt" >&2
STORED=$(sqlite3 "$DB" 'SELECT COUNT(*) FROM tokens' 2>/dev/null || echo "$COUNT")
RSS_START=$(kib VmRSS)
log "serve started: $STORED tokens stored, RSS $(mib "$RSS_START") MiB"

export TOKENS_FILE=$WORK/active.tokens WRK_THREADS=$THREADS
log "pass 1: every one of $(wc -l <"$TOKENS_FILE") tokens at least once (cache misses)"
wrk_run pass1 -t"$THREADS" -c"$CONNECTIONS" -d"${PASS_SECONDS}s" -s "$BENCH_DIR/cycle.lua" "$URL"
RSS_PASS1=$(kib VmRSS)
MISSES=$(misses)
log "pass 2: the same tokens again (cache hits)"
wrk_run pass2 -t"$THREADS" -c"$CONNECTIONS" -d"${PASS_SECONDS}s" -s "$BENCH_DIR/cycle.lua" "$URL"
sleep 2 # the last-use batch is written once a second
RSS_PASS2=$(kib VmRSS)
HWM=$(kib VmHWM)
MISSES2=$(misses)

read -r P1_RPS _ _ P1_NON2XX _ <<<"$(summary_of pass1)"
read -r P2_RPS _ _ P2_NON2XX _ <<<"$(summary_of pass2)"
{
    echo
    cat "$OUT/machine.txt"
    echo
    echo "| measure | value |"
    echo "|---|---:|"
    echo "| tokens stored | $STORED |"
    echo "| distinct tokens driven (whoami, Bearer) | $ACTIVE |"
    echo "| cache misses after pass 1 / pass 2 | ${MISSES:-?} / ${MISSES2:-?} |"
    echo "| pass 1 req/s (misses, then hits) / non-2xx | $P1_RPS / $P1_NON2XX |"
    echo "| pass 2 req/s (hits) / non-2xx | $P2_RPS / $P2_NON2XX |"
    echo "| RSS at start | $(mib "$RSS_START") MiB |"
    echo "| RSS after pass 1 | $(mib "$RSS_PASS1") MiB |"
    echo "| RSS after pass 2 | $(mib "$RSS_PASS2") MiB |"
    echo "| peak RSS (VmHWM) | $(mib "$HWM") MiB |"
} | tee "$OUT/summary.md"
