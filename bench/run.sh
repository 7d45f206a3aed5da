#!/usr/bin/env bash
# tokengate beside nginx, same machine, same load (SPEC §7). Starts on free loopback ports, in
# a temporary folder: an upstream (nginx `return 200`, in an nginx of its own), nginx as a plain keep-alive reverse
# proxy, tokengate as reverse proxy (also with a restricted token: read only, one path prefix,
# its own allow-list; and a second tokengate, on a copy of the database, with every
# authentication event audited), nginx auth_request to a 204 service and to tokengate, and nginx auth_basic
# with bcrypt; measures each with wrk in interleaved rounds; prints a Markdown
# table with each ratio to its nginx baseline. Stops only what it started.
#
#   bench/run.sh                       # 10 s per run, 3 rounds, wrk -t2 -c64
#   DURATION=3 ROUNDS=1 bench/run.sh   # a quick check
#   SCENARIOS="nginx_proxy tg_bearer" bench/run.sh
#
# Raw wrk output goes to target/bench/run-<time>/ (OUT= to choose).

source "$(dirname "$0")/lib.sh"

ALL_SCENARIOS="upstream nginx_proxy tg_public tg_bearer tg_bearer_restricted tg_bearer_events tg_bearer_events_distinct tg_basic tg_whoami tg_password nginx_authreq_204 nginx_authreq_tg nginx_basic_bcrypt"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}

ensure_tools
build_tokengate

DB=$WORK/tokengate.db
PASSWORD='bench-password-1'
UPSTREAM_PORT=$(free_port)
AUTH204_PORT=$(free_port)
NGINX_PROXY_PORT=$(free_port)
AUTHREQ_204_PORT=$(free_port)
AUTHREQ_TG_PORT=$(free_port)
TG_EVENTS_PORT=$(free_port)
BASIC_PORT=$(free_port)
TG_PORT=$(free_port)

# --- tokengate: its own database, a user with a password and a token ---------------------
tg user add bench --password-stdin <<<"$PASSWORD" >/dev/null
TOKEN=$(tg token create --user bench --name bench --json | jq -r .token)
# The same owner's token with every kind of restriction that applies to a proxied request, each
# one passing: what the restriction checks cost.
RESTRICTED_TOKEN=$(tg token create --user bench --name bench-restricted --access read \
    --paths /api/ --ip-allowlist 127.0.0.1/32 --json | jq -r .token)
BASIC_TOKEN=$(printf 'bench:%s' "$TOKEN" | base64 -w0)
BASIC_PASSWORD=$(printf 'bench:%s' "$PASSWORD" | base64 -w0)

# The same users and tokens in a database of its own, with auth.succeeded, auth.failed and
# auth.denied all switched on: what writing an audit record per request costs.
DB_EVENTS=$WORK/events.db
tg db backup "$DB_EVENTS" >/dev/null
(cd "$WORK" && TOKENGATE_DATABASE_URL="sqlite://$DB_EVENTS" "$BIN" settings set \
    audit-auth-events success,failure,denied >/dev/null)

start_tokengate tokengate "$TG_PORT" \
    TOKENGATE_ADMIN_PASSWORD=bench-admin-password \
    TOKENGATE_GATEWAY__UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT" \
    TOKENGATE_GATEWAY__TRUSTED_PROXIES='["127.0.0.1/32"]' \
    TOKENGATE_GATEWAY__PUBLIC_PATHS='["/public/"]' \
    TOKENGATE_SECURITY__FAILURES_PER_MINUTE=0
start_tokengate tokengate_events "$TG_EVENTS_PORT" \
    TOKENGATE_DATABASE_URL="sqlite://$DB_EVENTS" \
    TOKENGATE_GATEWAY__UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT" \
    TOKENGATE_GATEWAY__TRUSTED_PROXIES='["127.0.0.1/32"]' \
    TOKENGATE_SECURITY__FAILURES_PER_MINUTE=0

# --- the services behind the gateways, in an nginx of their own --------------------------
# The protected API and the 204 auth service run in separate nginx processes from the nginx
# under test, so nginx-as-proxy reaches them across processes exactly as tokengate does (in one
# nginx, a worker would serve both ends of a request without a context switch; `SAME_NGINX=1`
# measures that arrangement).
SERVICES_CONF=$WORK/services.conf
{
    nginx_preamble "$WORK/services"
    cat <<EOF
    # The protected API: answers 200 with a short body.
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / { return 200 "ok\n"; }
    }

    # The forward-auth floor: an HTTP service that says yes (204) to everything.
    server {
        listen 127.0.0.1:$AUTH204_PORT;
        location / { return 204; }
    }
EOF
} >"$SERVICES_CONF"

# --- nginx under test: proxy, auth_request and auth_basic fronts (worker_processes auto) ----
htpasswd -nbBC 10 bench "$PASSWORD" >"$WORK/htpasswd"
NGINX_CONF=$WORK/nginx.conf
{
    nginx_preamble "$WORK/nginx"
    if [ "${SAME_NGINX:-0}" = 1 ]; then
        sed -n '/^    # The protected API/,$p' "$SERVICES_CONF"
    fi
    cat <<EOF
    upstream backend { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; }
    upstream auth204 { server 127.0.0.1:$AUTH204_PORT; keepalive 64; }
    upstream tokengate { server 127.0.0.1:$TG_PORT; keepalive 64; }

    # nginx as a plain keep-alive reverse proxy (no authentication).
    server {
        listen 127.0.0.1:$NGINX_PROXY_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }

    # nginx auth_request to the 204 service (same shape as docs/deploy/nginx.conf).
    server {
        listen 127.0.0.1:$AUTHREQ_204_PORT;
        location = /_auth {
            internal;
            proxy_pass http://auth204/tokengate/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Uri \$request_uri;
            proxy_set_header X-Forwarded-Method \$request_method;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
        location / {
            auth_request /_auth;
            auth_request_set \$auth_user \$upstream_http_x_authenticated_user;
            auth_request_set \$auth_via \$upstream_http_x_authenticated_via;
            auth_request_set \$auth_request_id \$upstream_http_x_request_id;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Authenticated-User \$auth_user;
            proxy_set_header X-Authenticated-Via \$auth_via;
            proxy_set_header X-Request-Id \$auth_request_id;
            proxy_set_header Authorization "";
        }
    }

    # nginx auth_request to tokengate (docs/deploy/nginx.conf).
    server {
        listen 127.0.0.1:$AUTHREQ_TG_PORT;
        location = /_tokengate_auth {
            internal;
            proxy_pass http://tokengate/tokengate/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Uri \$request_uri;
            proxy_set_header X-Forwarded-Method \$request_method;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
        location / {
            auth_request /_tokengate_auth;
            auth_request_set \$tokengate_user \$upstream_http_x_authenticated_user;
            auth_request_set \$tokengate_via \$upstream_http_x_authenticated_via;
            auth_request_set \$tokengate_request_id \$upstream_http_x_request_id;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Authenticated-User \$tokengate_user;
            proxy_set_header X-Authenticated-Via \$tokengate_via;
            proxy_set_header X-Request-Id \$tokengate_request_id;
            proxy_set_header Authorization "";
        }
    }

    # The hand-rolled alternative: auth_basic with a bcrypt (cost 10) htpasswd.
    server {
        listen 127.0.0.1:$BASIC_PORT;
        location / {
            auth_basic "api";
            auth_basic_user_file $WORK/htpasswd;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "";
        }
    }
}
EOF
} >"$NGINX_CONF"
if [ "${SAME_NGINX:-0}" != 1 ]; then
    echo "}" >>"$SERVICES_CONF"
    mkdir -p "$WORK/services"
    "$NGINX" -t -q -p "$WORK/services" -c "$SERVICES_CONF"
    start_nginx services "$SERVICES_CONF"
fi
mkdir -p "$WORK/nginx"
"$NGINX" -t -q -p "$WORK/nginx" -c "$NGINX_CONF"
start_nginx nginx "$NGINX_CONF"
wait_http "http://127.0.0.1:$UPSTREAM_PORT/"
wait_http "http://127.0.0.1:$NGINX_PROXY_PORT/"

# --- what each scenario sends where --------------------------------------------------------
L="http://127.0.0.1"
declare -A URL ARGS SCRIPT
# Each request a path of its own: no two authentication events are equal, so none share a record.
SCRIPT[tg_bearer_events_distinct]="$ROOT/bench/distinct.lua"
URL[upstream]="$L:$UPSTREAM_PORT/api/items"
ARGS[upstream]=""
URL[nginx_proxy]="$L:$NGINX_PROXY_PORT/api/items"
ARGS[nginx_proxy]=""
URL[tg_public]="$L:$TG_PORT/public/items"
ARGS[tg_public]=""
URL[tg_whoami]="$L:$TG_PORT/tokengate/whoami"
ARGS[tg_whoami]="Authorization: Bearer $TOKEN"
URL[tg_bearer_restricted]="$L:$TG_PORT/api/items"
ARGS[tg_bearer_restricted]="Authorization: Bearer $RESTRICTED_TOKEN"
URL[tg_bearer_events]="$L:$TG_EVENTS_PORT/api/items"
ARGS[tg_bearer_events]="Authorization: Bearer $TOKEN"
URL[tg_bearer_events_distinct]="$L:$TG_EVENTS_PORT/api/items"
ARGS[tg_bearer_events_distinct]="Authorization: Bearer $TOKEN"
URL[tg_basic]="$L:$TG_PORT/api/items"
ARGS[tg_basic]="Authorization: Basic $BASIC_TOKEN"
URL[tg_bearer]="$L:$TG_PORT/api/items"
ARGS[tg_bearer]="Authorization: Bearer $TOKEN"
URL[tg_password]="$L:$TG_PORT/api/items"
ARGS[tg_password]="Authorization: Basic $BASIC_PASSWORD"
URL[nginx_authreq_204]="$L:$AUTHREQ_204_PORT/api/items"
ARGS[nginx_authreq_204]="Authorization: Bearer $TOKEN"
URL[nginx_authreq_tg]="$L:$AUTHREQ_TG_PORT/api/items"
ARGS[nginx_authreq_tg]="Authorization: Bearer $TOKEN"
URL[nginx_basic_bcrypt]="$L:$BASIC_PORT/api/items"
ARGS[nginx_basic_bcrypt]="Authorization: Basic $BASIC_PASSWORD"

declare -A WHAT BASE
WHAT[upstream]="upstream alone (nginx \`return 200\`)"
BASE[upstream]="-"
WHAT[nginx_proxy]="nginx reverse proxy, keep-alive, no auth"
BASE[nginx_proxy]="-"
WHAT[tg_public]="tokengate reverse proxy, public path (no auth: the proxying alone)"
BASE[tg_public]="nginx_proxy"
WHAT[tg_whoami]="tokengate /tokengate/whoami, token as Bearer (auth alone, no upstream)"
BASE[tg_whoami]="upstream"
WHAT[tg_bearer]="tokengate reverse proxy, token as Bearer"
BASE[tg_bearer]="nginx_proxy"
WHAT[tg_bearer_restricted]="tokengate reverse proxy, restricted token as Bearer (read, /api/, own allow-list)"
BASE[tg_bearer_restricted]="tg_bearer"
WHAT[tg_bearer_events]="tokengate reverse proxy, token as Bearer, every authentication event audited"
BASE[tg_bearer_events]="tg_bearer"
WHAT[tg_bearer_events_distinct]="tokengate reverse proxy, token as Bearer, every event audited, every path different (a record per request)"
BASE[tg_bearer_events_distinct]="tg_bearer"
WHAT[tg_basic]="tokengate reverse proxy, token as Basic password"
BASE[tg_basic]="nginx_proxy"
WHAT[tg_password]="tokengate reverse proxy, password (argon2id)"
BASE[tg_password]="nginx_basic_bcrypt"
WHAT[nginx_authreq_204]="nginx auth_request → 204 service (floor)"
BASE[nginx_authreq_204]="-"
WHAT[nginx_authreq_tg]="nginx auth_request → tokengate /tokengate/auth"
BASE[nginx_authreq_tg]="nginx_authreq_204"
WHAT[nginx_basic_bcrypt]="nginx auth_basic, bcrypt cost 10"
BASE[nginx_basic_bcrypt]="nginx_proxy"

run_scenario() {
    local name=$1 label=$2 seconds=$3
    local header=${ARGS[$name]} script=()
    if [ -n "${SCRIPT[$name]:-}" ]; then
        script=(-s "${SCRIPT[$name]}")
    fi
    if [ -n "$header" ]; then
        wrk_run "$label" -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" "${script[@]}" -H "$header" "${URL[$name]}"
    else
        wrk_run "$label" -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" "${URL[$name]}"
    fi
}

for name in $SCENARIOS; do
    if [ -n "${ARGS[$name]}" ]; then
        expect_status 200 -H "${ARGS[$name]}" "${URL[$name]}"
    else
        expect_status 200 "${URL[$name]}"
    fi
done
expect_status 401 "$L:$TG_PORT/api/items"
# The restricted token's restrictions are in force (write method, path outside its prefix).
expect_status 403 -X POST -H "Authorization: Bearer $RESTRICTED_TOKEN" "$L:$TG_PORT/api/items"
expect_status 403 -H "Authorization: Bearer $RESTRICTED_TOKEN" "$L:$TG_PORT/other/items"
expect_status 401 -H "Authorization: Bearer tg_000000000000000000000000000000000000" "$L:$AUTHREQ_TG_PORT/api/items"

describe_machine | tee "$OUT/machine.txt" >&2
log "raw output: $OUT"
if [ "$WARMUP" -gt 0 ]; then
    log "warm-up (${WARMUP}s each)"
    for name in $SCENARIOS; do
        run_scenario "$name" "warmup_$name" "$WARMUP"
    done
fi
for round in $(seq "$ROUNDS"); do
    log "round $round/$ROUNDS"
    for name in $SCENARIOS; do
        run_scenario "$name" "$name" "$DURATION"
    done
done

{
    echo
    cat "$OUT/machine.txt"
    echo
    table_header
    for name in $SCENARIOS; do
        base=${BASE[$name]}
        case " $SCENARIOS " in *" $base "*) ;; *) base="-" ;; esac
        table_row "$name" "${WHAT[$name]}" "$base"
    done
    echo
    echo "tokengate RSS after the runs: $(awk '/^VmRSS/ {print $2, $3}' "/proc/$PID_tokengate/status")"
    case " $SCENARIOS " in
    *" tg_bearer_events "*)
        sleep 1 # the last batch of events
        echo "audit log of the instance with events: $(cd "$WORK" &&
            TOKENGATE_DATABASE_URL="sqlite://$DB_EVENTS" "$BIN" audit verify)"
        ;;
    esac
} | tee "$OUT/summary.md"
