#!/usr/bin/env bash
# WebSocket message rate, tokengate beside nginx: a Python echo server (the `websockets`
# package, installed with pip when missing) behind nginx (`proxy_set_header Upgrade …`) and
# behind tokengate (a token as Bearer); a Python client keeps CONNECTIONS sockets each sending a
# short message and waiting for its echo. Both gateways share the echo server and the client,
# so the ratio compares the gateways; the absolute rate is bounded by the Python ends.
#
#   bench/ws.sh                          # 10 s per run, 3 rounds, 32 sockets
#   DURATION=3 ROUNDS=1 bench/ws.sh      # a quick check

source "$(dirname "$0")/lib.sh"

SOCKETS=${SOCKETS:-32}
ensure_tools
python3 -c 'import websockets' 2>/dev/null || pip install -q websockets >/dev/null
build_tokengate

DB=$WORK/tokengate.db
tg user add bench --password-stdin <<<'bench-password-1' >/dev/null
TOKEN=$(tg token create --user bench --name bench --json | jq -r .token)

ECHO_PORT=$(free_port)
NGINX_PORT=$(free_port)
TG_PORT=$(free_port)
start_bg echo python3 "$BENCH_DIR/ws.py" serve "$ECHO_PORT"
{
    nginx_preamble "$WORK/nginx"
    cat <<CONF
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://127.0.0.1:$ECHO_PORT;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
        }
    }
}
CONF
} >"$WORK/nginx.conf"
mkdir -p "$WORK/nginx"
start_nginx nginx "$WORK/nginx.conf"
start_tokengate tokengate "$TG_PORT" TOKENGATE_GATEWAY__UPSTREAM="http://127.0.0.1:$ECHO_PORT" \
    TOKENGATE_SECURITY__FAILURES_PER_MINUTE=0
sleep 1

describe_machine | tee "$OUT/machine.txt" >&2
for round in $(seq "$ROUNDS"); do
    log "round $round/$ROUNDS"
    echo "nginx_ws $(python3 "$BENCH_DIR/ws.py" load "ws://127.0.0.1:$NGINX_PORT/" "$SOCKETS" "$DURATION")" \
        | tee -a "$OUT/ws-samples.txt" >&2
    echo "tg_ws $(python3 "$BENCH_DIR/ws.py" load "ws://127.0.0.1:$TG_PORT/" "$SOCKETS" "$DURATION" "Bearer $TOKEN")" \
        | tee -a "$OUT/ws-samples.txt" >&2
done

{
    echo
    cat "$OUT/machine.txt"
    echo
    echo "| scenario ($SOCKETS sockets, echo round trips) | messages/s (median) | mean ms | ÷ nginx |"
    echo "|---|---:|---:|---:|"
    awk '
        function median(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { n[$1]++; r[$1, n[$1]] = $2; m[$1, n[$1]] = $3 }
        END {
            for (label in n) { for (i = 1; i <= n[label]; i++) { x[i] = r[label, i]; y[i] = m[label, i] }
                rate[label] = median(x, n[label]); mean[label] = median(y, n[label]) }
            printf "| nginx, WebSocket proxied | %.0f | %.3f | - |\n", rate["nginx_ws"], mean["nginx_ws"]
            printf "| tokengate, WebSocket opened with a token | %.0f | %.3f | %.2f |\n", rate["tg_ws"], mean["tg_ws"], (rate["nginx_ws"] > 0 ? rate["tg_ws"] / rate["nginx_ws"] : 0)
        }' "$OUT/ws-samples.txt"
} | tee "$OUT/summary.md"
