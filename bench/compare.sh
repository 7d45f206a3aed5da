#!/usr/bin/env bash
# A/B of two tokengate binaries on the same load, interleaved: the reverse proxy with a Bearer
# token, and nginx auth_request to each one's /tokengate/auth; nginx as a plain reverse proxy
# for reference. Used to measure a hot-path change against the build before it:
#
#   bench/compare.sh OLD_BINARY NEW_BINARY
#   DURATION=5 ROUNDS=5 bench/compare.sh /tmp/tokengate-before target/release/tokengate

source "$(dirname "$0")/lib.sh"

if [ $# -ne 2 ]; then
    log "usage: bench/compare.sh OLD_BINARY NEW_BINARY"
    exit 2
fi
A_BIN=$(realpath "$1")
B_BIN=$(realpath "$2")
ensure_tools

BIN=$A_BIN
DB=$WORK/tokengate.db
tg user add bench --password-stdin <<<'bench-password-1' >/dev/null
TOKEN=$(tg token create --user bench --name bench --json | jq -r .token)

UPSTREAM_PORT=$(free_port)
PROXY_PORT=$(free_port)
A_PORT=$(free_port)
B_PORT=$(free_port)
A_AUTH_PORT=$(free_port)
B_AUTH_PORT=$(free_port)

auth_server() {
    local listen=$1 upstream=$2
    cat <<EOF
    server {
        listen 127.0.0.1:$listen;
        location = /_auth {
            internal;
            proxy_pass http://$upstream/tokengate/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
        location / {
            auth_request /_auth;
            auth_request_set \$auth_user \$upstream_http_x_authenticated_user;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Authenticated-User \$auth_user;
            proxy_set_header Authorization "";
        }
    }
EOF
}

{
    nginx_preamble "$WORK/nginx"
    cat <<EOF
    upstream backend { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; }
    upstream tg_a { server 127.0.0.1:$A_PORT; keepalive 64; }
    upstream tg_b { server 127.0.0.1:$B_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:$PROXY_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
    auth_server "$A_AUTH_PORT" tg_a
    auth_server "$B_AUTH_PORT" tg_b
    echo "}"
} >"$WORK/nginx.conf"
mkdir -p "$WORK/nginx"
"$NGINX" -t -q -p "$WORK/nginx" -c "$WORK/nginx.conf"
start_nginx nginx "$WORK/nginx.conf"
wait_http "http://127.0.0.1:$UPSTREAM_PORT/"

TG_ENV=(TOKENGATE_GATEWAY__UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT"
    TOKENGATE_GATEWAY__TRUSTED_PROXIES='["127.0.0.1/32"]')
BIN=$A_BIN start_tokengate tg_a "$A_PORT" "${TG_ENV[@]}"
BIN=$B_BIN start_tokengate tg_b "$B_PORT" "${TG_ENV[@]}"

L=http://127.0.0.1
for port in "$A_PORT" "$B_PORT" "$A_AUTH_PORT" "$B_AUTH_PORT"; do
    expect_status 200 -H "Authorization: Bearer $TOKEN" "$L:$port/api/items"
done

load() {
    local label=$1 url=$2
    wrk_run "$label" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "$url"
}

{
    describe_machine
    echo "A: $A_BIN"
    echo "B: $B_BIN"
} | tee "$OUT/machine.txt" >&2
for round in $(seq "$ROUNDS"); do
    log "round $round/$ROUNDS"
    load nginx_proxy "$L:$PROXY_PORT/api/items"
    load a_proxy "$L:$A_PORT/api/items"
    load b_proxy "$L:$B_PORT/api/items"
    load a_forward "$L:$A_AUTH_PORT/api/items"
    load b_forward "$L:$B_AUTH_PORT/api/items"
done
{
    echo
    cat "$OUT/machine.txt"
    echo
    table_header
    table_row nginx_proxy "nginx reverse proxy, no auth" -
    table_row a_proxy "A: tokengate reverse proxy, Bearer" nginx_proxy
    table_row b_proxy "B: tokengate reverse proxy, Bearer" nginx_proxy
    table_row b_proxy "B ÷ A: reverse proxy" a_proxy
    table_row a_forward "A: nginx auth_request → tokengate" -
    table_row b_forward "B: nginx auth_request → tokengate" -
    table_row b_forward "B ÷ A: forward-auth" a_forward
} | tee "$OUT/summary.md"
