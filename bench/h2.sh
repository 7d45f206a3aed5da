#!/usr/bin/env bash
# HTTP/2 from clients, tokengate beside nginx: h2load (nghttp2-client) sends HTTP/2 with prior
# knowledge (h2c) to nginx as a reverse proxy (`listen … http2`) and to tokengate as a reverse
# proxy with a token, both in front of the same HTTP/1.1 upstream (nginx `return 200`), in
# interleaved rounds. Prints a Markdown table with tokengate's ratio to nginx.
#
#   bench/h2.sh                          # 10 s per run, 3 rounds, h2load -c64 -m10 -t2
#   DURATION=3 ROUNDS=1 bench/h2.sh      # a quick check

source "$(dirname "$0")/lib.sh"

ensure_tools
command -v h2load >/dev/null || {
    log "installing nghttp2-client (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null
}
build_tokengate

DB=$WORK/tokengate.db
tg user add bench --password-stdin <<<'bench-password-1' >/dev/null
TOKEN=$(tg token create --user bench --name bench --json | jq -r .token)

UPSTREAM_PORT=$(free_port)
NGINX_H2_PORT=$(free_port)
TG_PORT=$(free_port)
{
    nginx_preamble "$WORK/nginx"
    cat <<EOF
    upstream api { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:$NGINX_H2_PORT http2;
        location / {
            proxy_pass http://api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
} >"$WORK/nginx.conf"
mkdir -p "$WORK/nginx"
start_nginx nginx "$WORK/nginx.conf"
wait_http "http://127.0.0.1:$UPSTREAM_PORT/"
start_tokengate tokengate "$TG_PORT" TOKENGATE_GATEWAY__UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT" \
    TOKENGATE_SECURITY__FAILURES_PER_MINUTE=0

# One h2load run: label, URL, extra arguments. Appends "label rps mean_ms max_ms non2xx errors".
h2load_run() {
    local label=$1 url=$2
    shift 2
    local file=$OUT/$label.$RANDOM.txt
    h2load -t2 -c"$CONNECTIONS" -m10 -D"$DURATION" "$@" "$url" >"$file" 2>&1 || true
    local rps mean max ok failed
    rps=$(awk '/^finished in/ {print $4}' "$file")
    read -r mean max < <(awk '/^time for request:/ {print $6, $5}' "$file")
    ok=$(awk '/status codes:/ {print $3}' "$file")
    failed=$(awk '/^requests:/ {print $8}' "$file")
    printf '%s %s %s %s %s\n' "$label" "${rps:-0}" "$(to_ms "${mean:-0}")" "$(to_ms "${max:-0}")" \
        "${failed:-0}" >>"$OUT/h2-samples.txt"
    log "$(printf '  %-12s %10s req/s  mean %8s  max %8s  2xx %s  failed %s' "$label" "${rps:-?}" \
        "${mean:-?}" "${max:-?}" "${ok:-?}" "${failed:-?}")"
}

expect_status 200 --http2-prior-knowledge "http://127.0.0.1:$NGINX_H2_PORT/api/items"
expect_status 200 --http2-prior-knowledge -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$TG_PORT/api/items"
describe_machine | tee "$OUT/machine.txt" >&2
for round in $(seq "$ROUNDS"); do
    log "round $round/$ROUNDS"
    h2load_run nginx_h2 "http://127.0.0.1:$NGINX_H2_PORT/api/items"
    h2load_run tg_h2 "http://127.0.0.1:$TG_PORT/api/items" -H "Authorization: Bearer $TOKEN"
done

{
    echo
    cat "$OUT/machine.txt"
    echo
    echo "| scenario (h2load -t2 -c$CONNECTIONS -m10, h2c) | req/s (median) | mean ms | ÷ nginx |"
    echo "|---|---:|---:|---:|"
    ratio_rows "$OUT/h2-samples.txt" nginx_h2 "nginx reverse proxy, HTTP/2 in, HTTP/1.1 out" tg_h2 "tokengate reverse proxy, token as Bearer, HTTP/2 in"
} | tee "$OUT/summary.md"
