#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tokengate's tests, on loopback, in a temporary folder.
# Installs nothing: Debian's `postgresql` package must already be installed (.ci/run does it).
#
#   eval "$(.ci/postgres.sh start)"   # prints the exports below on stdout; logs go to stderr
#   .ci/postgres.sh stop              # stops the cluster named by $TOKENGATE_TEST_PG_DIR
#
# `start` prints:
#   export TOKENGATE_TEST_POSTGRES_URL=postgres://app@127.0.0.1:PORT/tokengate
#   export TOKENGATE_TEST_PG_BIN=/usr/lib/postgresql/15/bin   (initdb/pg_ctl for the outage test)
#   export TOKENGATE_TEST_PG_DIR=/tmp/tokengate-pg.XXXX        (what `stop` stops and removes)
#
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` user
# (runuser); as anyone else it belongs to them. Authentication is `trust` on loopback only.
set -euo pipefail

pg_bin() {
    if [[ -n "${TOKENGATE_TEST_PG_BIN:-}" ]]; then
        echo "$TOKENGATE_TEST_PG_BIN"
        return
    fi
    local candidate
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then
            echo "$candidate"
            return
        fi
    done
    echo "postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2
    exit 1
}

# Runs a command as the cluster's owner.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 - <<'EOF' 2>/dev/null && return
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
    # No python: pick a random high port that nothing listens on.
    local port
    while :; do
        port=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

start() {
    local bin dir port
    bin="$(pg_bin)"
    dir="$(mktemp -d /tmp/tokengate-pg.XXXXXX)"
    chmod 755 "$dir"
    if [[ "$(id -u)" == 0 ]]; then
        install -d -o postgres -g postgres "$dir/pg"
    else
        install -d "$dir/pg"
    fi
    port="$(free_port)"
    as_owner "$bin/initdb" -D "$dir/pg/data" -U app --auth=trust --no-sync \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    as_owner "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w -o \
        "-h 127.0.0.1 -p $port -k $dir/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >&2
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U app tokengate
    echo "postgres.sh: PostgreSQL running on 127.0.0.1:$port (data in $dir/pg/data)" >&2
    echo "export TOKENGATE_TEST_POSTGRES_URL=postgres://app@127.0.0.1:$port/tokengate"
    echo "export TOKENGATE_TEST_PG_BIN=$bin"
    echo "export TOKENGATE_TEST_PG_DIR=$dir"
}

stop() {
    local dir="${1:-${TOKENGATE_TEST_PG_DIR:-}}"
    if [[ -z "$dir" || ! -d "$dir/pg/data" ]]; then
        echo "postgres.sh: nothing to stop (TOKENGATE_TEST_PG_DIR is not a cluster folder)" >&2
        return 0
    fi
    as_owner "$(pg_bin)/pg_ctl" -D "$dir/pg/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *)
        echo "usage: $0 start | stop [DIR]" >&2
        exit 2
        ;;
esac
