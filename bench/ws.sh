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
wait_http "http://127.0.0.1:$ECHO_PORT/"   # a plain GET gets 426: the server is up
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
wait_http "http://127.0.0.1:$NGINX_PORT/"

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
    ratio_rows "$OUT/ws-samples.txt" nginx_ws "nginx, WebSocket proxied" tg_ws "tokengate, WebSocket opened with a token"
} | tee "$OUT/summary.md"
