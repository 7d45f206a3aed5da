#!/usr/bin/env bash
# Where tokengate's time goes on the proxy path (Bearer token, steady state): starts an nginx
# upstream and `tokengate serve` as reverse proxy, loads it with wrk and profiles the gateway
# process with one of:
#
#   bench/profile.sh perf        # perf record -e cpu-clock (sampling; works without HW counters)
#   bench/profile.sh callgrind   # valgrind --tool=callgrind (instruction counts, reproducible)
#
# MODE=forward profiles /tokengate/auth instead (the request nginx auth_request sends).
# RESTRICT="--access read --paths /api/ --ip-allowlist 127.0.0.1/32" gives the token those
# restrictions (`tokengate token create` options; the proxied path is /api/items, from
# 127.0.0.1), to count what checking them costs. Proxy mode only: wrk sends no forwarded path.
# EVENTS=success,failure,denied switches those authentication events on (an audit record per
# request, written in batches by the same process), to count what they cost.
# Reports go to target/bench/profile-<time>/.

source "$(dirname "$0")/lib.sh"

TOOL=${1:-perf}
MODE=${MODE:-proxy}
SECONDS_PROFILED=${PROFILE_SECONDS:-10}

ensure_tools
build_tokengate

DB=$WORK/tokengate.db
tg user add bench --password-stdin <<<'bench-password-1' >/dev/null
# shellcheck disable=SC2086 # RESTRICT holds several options
TOKEN=$(tg token create --user bench --name bench ${RESTRICT:-} --json | jq -r .token)
if [ -n "${EVENTS:-}" ]; then
    tg settings set audit-auth-events "$EVENTS" >/dev/null
fi

UPSTREAM_PORT=$(free_port)
TG_PORT=$(free_port)
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

ENVIRONMENT=(TOKENGATE_GATEWAY__UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT" TOKENGATE_SECURITY__FAILURES_PER_MINUTE=0)
case "$MODE" in
    proxy) PATH_URL="/api/items" ;;
    forward) PATH_URL="/tokengate/auth" ;;
    *) log "MODE is proxy or forward"; exit 2 ;;
esac
URL="http://127.0.0.1:$TG_PORT$PATH_URL"

case "$TOOL" in
    perf)
        start_tokengate tokengate "$TG_PORT" "${ENVIRONMENT[@]}"
        expect_status 200 -H "Authorization: Bearer $TOKEN" "$URL"
        wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $TOKEN" "$URL" >/dev/null
        perf record -e cpu-clock -F 4000 -g -o "$OUT/perf.data" -p "$PID_tokengate" -- sleep "$SECONDS_PROFILED" \
            >"$OUT/perf-record.log" 2>&1 &
        PERF=$!
        wrk_run profiled -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PROFILED}s" \
            -H "Authorization: Bearer $TOKEN" "$URL"
        wait "$PERF" || true
        perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
            grep -v '^$' >"$OUT/perf-report.txt" || true
        perf report -i "$OUT/perf.data" --no-children --sort dso --stdio 2>/dev/null |
            grep -v '^$' >"$OUT/perf-dso.txt" || true
        grep -E '^ +[0-9.]+%' "$OUT/perf-dso.txt" | head -15
        echo
        grep -E '^ +[0-9.]+%' "$OUT/perf-report.txt" | head -60
        ;;
    callgrind)
        # Instructions are counted only while wrk runs (not start-up or warm-up), so
        # "instructions per request" compares two builds whatever else the machine is doing.
        start_tokengate tokengate "$TG_PORT" "${ENVIRONMENT[@]}" \
            valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
            --dump-instr=no --instr-atstart=no
        expect_status 200 -H "Authorization: Bearer $TOKEN" "$URL"
        # Warm-up (caches filled, connections' buffers grown), then the counted run.
        wrk -t1 -c4 -d2s -H "Authorization: Bearer $TOKEN" "$URL" >/dev/null
        callgrind_control -i on "$PID_tokengate" >/dev/null
        # Few connections: valgrind runs one thread at a time.
        wrk_run profiled -t1 -c4 -d"${SECONDS_PROFILED}s" -H "Authorization: Bearer $TOKEN" "$URL"
        # Work the requests left behind (the batch writes of last use and events) is counted too.
        sleep 1.5
        callgrind_control -i off "$PID_tokengate" >/dev/null
        requests=$(awk '/requests in/ {print $1}' "$OUT"/profiled.1.txt)
        kill -TERM "$PID_tokengate"
        for _ in $(seq 100); do kill -0 "$PID_tokengate" 2>/dev/null || break; sleep 0.1; done
        callgrind_annotate --inclusive=yes "$OUT"/callgrind.out* 2>/dev/null | head -120 >"$OUT/callgrind-inclusive.txt" || true
        callgrind_annotate "$OUT"/callgrind.out* 2>/dev/null | head -80 >"$OUT/callgrind-self.txt" || true
        total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' "$OUT/callgrind-self.txt")
        cat "$OUT/callgrind-self.txt"
        echo "counted: $requests requests, $total instructions: $((total / requests)) instructions per request"
        ;;
    *)
        log "usage: bench/profile.sh perf|callgrind"
        exit 2
        ;;
esac
log "reports in $OUT"
