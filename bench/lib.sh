# shellcheck shell=bash
# Shared by bench/run.sh, bench/memory.sh and bench/flood.sh: tools, the release build, free
# loopback ports, a throwaway work folder, nginx and tokengate started in it (and only those
# stopped on exit), wrk runs and the parsing of their output.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac

DURATION=${DURATION:-10}       # seconds per wrk run
ROUNDS=${ROUNDS:-3}            # interleaved rounds
THREADS=${THREADS:-2}          # wrk -t
CONNECTIONS=${CONNECTIONS:-64} # wrk -c
WARMUP=${WARMUP:-2}            # seconds of warm-up per scenario before round 1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokengate-bench.XXXXXX")
OUT=${OUT:-$TARGET_DIR/bench/$(basename "$0" .sh)-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
STARTED_PIDS=()
USED_PORTS=" "

log() { printf '%s\n' "$*" >&2; }

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        log "work folder kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Debian packages: nginx (with auth_request), wrk, htpasswd (bcrypt), curl, jq.
ensure_tools() {
    local missing=()
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v htpasswd >/dev/null || missing+=(apache2-utils)
    command -v curl >/dev/null || missing+=(curl)
    command -v jq >/dev/null || missing+=(jq)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]} (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

# The release binary (TOKENGATE_BIN skips the build).
build_tokengate() {
    if [ -n "${TOKENGATE_BIN:-}" ]; then
        BIN=$TOKENGATE_BIN
        return
    fi
    log "building tokengate (release)"
    (cd "$ROOT" && cargo build --release -q -p tokengate)
    BIN=$TARGET_DIR/release/tokengate
}

# A loopback port nothing listens on and that this run has not handed out yet.
free_port() {
    local port
    while :; do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        case "$USED_PORTS" in *" $port "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            USED_PORTS="$USED_PORTS$port "
            echo "$port"
            return
        fi
    done
}

# Waits until URL answers at all (any status).
wait_http() {
    local url=$1
    for _ in $(seq 600); do
        if curl -s -o /dev/null "$url"; then
            return 0
        fi
        sleep 0.05
    done
    log "nothing answers at $url"
    return 1
}

# Starts a background process with its output in $WORK/NAME.log and remembers its pid.
start_bg() {
    local name=$1
    shift
    (cd "$WORK" && exec "$@") >"$WORK/$name.log" 2>&1 &
    STARTED_PIDS+=("$!")
    eval "PID_$name=$!"
}

# nginx with the config file $1 (its own prefix in $WORK, master in the foreground).
start_nginx() {
    local name=$1 config=$2
    mkdir -p "$WORK/$name"
    start_bg "$name" "$NGINX" -p "$WORK/$name" -c "$config" -g 'daemon off;'
}

# The http {} preamble every nginx config here shares.
nginx_preamble() {
    local prefix=$1
    cat <<EOF
user root;
worker_processes ${NGINX_WORKERS:-auto};
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $prefix/body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;
    keepalive_requests 1000000;
    default_type text/plain;
EOF
}

# tokengate CLI on the bench database.
tg() {
    (cd "$WORK" && TOKENGATE_DATABASE_URL="sqlite://$DB" "$BIN" "$@")
}

# Starts `tokengate serve` as NAME on PORT; extra VAR=value pairs go to its environment.
start_tokengate() {
    local name=$1 port=$2
    shift 2
    # No metrics listener unless the caller asks for one (several instances may run at once);
    # no access log unless asked (TOKENGATE_ACCESS_LOG=text), as nginx runs here without one.
    start_bg "$name" env RUST_LOG=warn TOKENGATE_LISTEN="127.0.0.1:$port" \
        TOKENGATE_METRICS_LISTEN="" TOKENGATE_ACCESS_LOG="${TOKENGATE_ACCESS_LOG:-off}" \
        TOKENGATE_DATABASE_URL="sqlite://$DB" "$@" "$BIN" serve
    wait_http "http://127.0.0.1:$port/tokengate/healthz"
}

# Fails unless `curl ARGS` answers STATUS: checks a scenario before it is measured.
expect_status() {
    local status=$1
    shift
    local got
    got=$(curl -s -o "$WORK/last-body" -w '%{http_code}' "$@")
    if [ "$got" != "$status" ]; then
        log "expected $status, got $got from curl $*: $(head -c 300 "$WORK/last-body")"
        return 1
    fi
}

# Latency text from wrk (123.45us, 1.23ms, 2.00s) in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "%s", v }'
}

# One wrk run: label, then wrk arguments. Appends "label rps p50ms p99ms non2xx errors" to
# $OUT/samples.txt and keeps wrk's own output in $OUT/label.N.txt.
wrk_run() {
    local label=$1
    shift
    local n=1
    while [ -e "$OUT/$label.$n.txt" ]; do n=$((n + 1)); done
    local file=$OUT/$label.$n.txt
    wrk --latency --timeout 10s "$@" >"$file" 2>&1 || true
    local rps p50 p99 non2xx errors
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$file")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$file")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$file")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$file")
    errors=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$file")
    printf '%s %s %s %s %s %s\n' "$label" "${rps:-0}" "${p50:-0}" "${p99:-0}" \
        "${non2xx:-0}" "${errors:-0}" >>"$OUT/samples.txt"
    log "$(printf '  %-22s %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s  socket errors %s' \
        "$label" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${non2xx:-0}" "${errors:-0}")"
}

# Median over rounds of each column for LABEL: "rps p50 p99 non2xx errors min_rps max_rps n".
summary_of() {
    awk -v label="$1" '
        function median(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        $1 == label { n++; r[n] = $2; p[n] = $3; q[n] = $4; x += $5; e += $6
            if (n == 1 || $2 < lo) lo = $2; if (n == 1 || $2 > hi) hi = $2 }
        END { if (n == 0) { print "0 0 0 0 0 0 0 0"; exit }
              printf "%.0f %.3f %.3f %d %d %.0f %.0f %d\n", median(r, n), median(p, n), median(q, n), x, e, lo, hi, n }
    ' "$OUT/samples.txt"
}

# Markdown row: label, description, baseline label or "-".
table_row() {
    local label=$1 what=$2 base=$3
    local s b rps p50 p99 non2xx errors lo hi ratio p99ratio
    s=$(summary_of "$label")
    read -r rps p50 p99 non2xx errors lo hi _ <<<"$s"
    ratio="-"
    p99ratio="-"
    if [ "$base" != "-" ]; then
        b=$(summary_of "$base")
        ratio=$(awk -v a="$rps" -v b="$(cut -d' ' -f1 <<<"$b")" 'BEGIN { if (b <= 0) print "-"; else if (a / b >= 0.1) printf "%.2f", a / b; else printf "%.5f", a / b }')
        p99ratio=$(awk -v a="$p99" -v b="$(cut -d' ' -f3 <<<"$b")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    fi
    printf '| %s | %s | %s | %s–%s | %s | %s | %s | %s | %s |\n' \
        "$what" "$rps" "$p50" "$lo" "$hi" "$p99" "$ratio" "$p99ratio" "$base" "$non2xx/$errors"
}

table_header() {
    echo "| scenario | req/s (median) | p50 ms | req/s range | p99 ms | req/s ÷ base | p99 ÷ base | base | non-2xx/socket errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---:|"
}

# Machine and versions, for RESULTS.md.
describe_machine() {
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM"
    echo "rustc: $(rustc --version 2>/dev/null || echo '?')"
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
    echo "wrk: $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}')"
    echo "tokengate: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
    echo "load: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS interleaved rounds"
    echo "busy compilers at start: $(pgrep -c -x rustc || true) rustc, $(pgrep -c -x cargo || true) cargo"
}

# Two Markdown rows from a samples file of "label rate mean_ms …" lines: the medians of BASE's
# and OTHER's rounds, and OTHER's rate ÷ BASE's. Arguments: file, base label, base description,
# other label, other description.
ratio_rows() {
    awk -v base="$2" -v base_what="$3" -v other="$4" -v other_what="$5" '
        function median(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { n[$1]++; r[$1, n[$1]] = $2; m[$1, n[$1]] = $3 }
        END {
            for (label in n) { for (i = 1; i <= n[label]; i++) { x[i] = r[label, i]; y[i] = m[label, i] }
                rate[label] = median(x, n[label]); mean[label] = median(y, n[label]) }
            printf "| %s | %.0f | %.3f | - |\n", base_what, rate[base], mean[base]
            printf "| %s | %.0f | %.3f | %.2f |\n", other_what, rate[other], mean[other], (rate[base] > 0 ? rate[other] / rate[base] : 0)
        }' "$1"
}
