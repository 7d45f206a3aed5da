#!/usr/bin/env bash
# Builds the Debian package of tokengate with cargo-deb and, when run as root on a machine with
# dpkg, installs it, checks what it installed, and removes it again (purge).
#
# Usage: .ci/package.sh [--release]
#   default    package the debug binary that `cargo test --workspace` already built
#              (target/debug/tokengate): nothing is compiled, which keeps CI fast
#   --release  build and package the release binary (what to ship)
# The .deb is written to target/debian/. Needs cargo-deb (`cargo install cargo-deb --locked`)
# and jq; the install checks also use curl.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "package.sh: FAILED: $*" >&2
    exit 1
}
step() { printf -- '--> %s\n' "$*"; }

profile=dev
case "${1:-}" in
    "") ;;
    --release) profile=release ;;
    *) echo "usage: $0 [--release]" >&2; exit 2 ;;
esac

command -v cargo-deb >/dev/null || fail "cargo-deb is not installed (cargo install cargo-deb --locked)"
command -v jq >/dev/null || fail "jq is not installed"
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
assets=packaging/generated

if [ "$profile" = release ]; then
    step "cargo build --release -p tokengate"
    cargo build --release --locked -p tokengate || fail "the release build failed"
    binary=$target_dir/release/tokengate
    deb_args=(--no-build)
else
    binary=$target_dir/debug/tokengate
    [ -x "$binary" ] || fail "$binary is missing: run cargo test --workspace (or cargo build -p tokengate) first, or use --release"
    # cargo-deb warns that packaging a dev build is unusual; this package is only for the checks
    # below, so it is also compressed fast (xz takes about 25 s on the debug binary).
    deb_args=(--profile dev --no-build --fast)
fi

step "completions and manual page from $binary"
rm -rf "$assets"
packaging/generate.sh "$binary" "$assets" || fail "could not generate completions and the manual page"

step "cargo deb ${deb_args[*]}"
rm -rf "$target_dir/debian"
cargo deb -p tokengate --locked "${deb_args[@]}" >/dev/null || fail "cargo deb failed"
deb=$(find "$target_dir/debian" -maxdepth 1 -name 'tokengate_*.deb' | head -n 1)
[ -n "$deb" ] || fail "cargo deb wrote no tokengate_*.deb in $target_dir/debian"
echo "package: $deb ($(du -h "$deb" | cut -f1))"

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then
    echo "not root or no dpkg: the package was built but not installed"
    exit 0
fi
command -v curl >/dev/null || fail "curl is not installed (the install checks need it)"
# The checks end with dpkg --purge, which deletes /var/lib/tokengate: never on a machine that
# already has tokengate's package, configuration or data.
status=$(dpkg-query -W -f='${db:Status-Status}' tokengate 2>/dev/null || true)
if [ -n "$status" ] && [ "$status" != not-installed ]; then
    fail "dpkg already knows a tokengate package here ($status); not installing over it"
fi
for path in /etc/tokengate /var/lib/tokengate; do
    [ ! -e "$path" ] || fail "$path already exists; not installing over it"
done
user_existed=no
getent passwd tokengate >/dev/null && user_existed=yes

scratch=$(mktemp -d)
cleanup() {
    dpkg --purge tokengate >/dev/null 2>&1 || true
    if [ "$user_existed" = no ] && getent passwd tokengate >/dev/null; then
        userdel tokengate >/dev/null 2>&1 || true
        if getent group tokengate >/dev/null; then groupdel tokengate >/dev/null 2>&1 || true; fi
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT

step "dpkg -i"
dpkg -i "$deb" >"$scratch/dpkg.log" 2>&1 || { cat "$scratch/dpkg.log" >&2; fail "dpkg -i $deb"; }

step "installed files"
version=$(/usr/bin/tokengate --version) || fail "/usr/bin/tokengate --version"
echo "$version"
[ "$version" = "tokengate $(dpkg-deb -f "$deb" Version | sed 's/-[^-]*$//')" ] ||
    fail "tokengate --version says \"$version\", the package $(dpkg-deb -f "$deb" Version)"

# mode owner group, as stat prints them
expect() {
    local path=$1 want=$2 got
    got=$(stat -c '%a %U %G' "$path" 2>/dev/null) || fail "$path is missing"
    [ "$got" = "$want" ] || fail "$path is \"$got\", expected \"$want\""
}
getent passwd tokengate >/dev/null || fail "no tokengate user"
getent group tokengate >/dev/null || fail "no tokengate group"
[ "$(getent passwd tokengate | cut -d: -f7)" = /usr/sbin/nologin ] || fail "the tokengate user has a login shell"
expect /usr/bin/tokengate "755 root root"
expect /var/lib/tokengate "750 tokengate tokengate"
expect /etc/tokengate/tokengate.toml "640 root tokengate"
expect /usr/lib/systemd/system/tokengate.service "644 root root"
expect /usr/share/bash-completion/completions/tokengate "644 root root"
expect /usr/share/zsh/vendor-completions/_tokengate "644 root root"
expect /usr/share/fish/vendor_completions.d/tokengate.fish "644 root root"
expect /usr/share/man/man1/tokengate.1.gz "644 root root"
dpkg-query -W -f='${Conffiles}\n' tokengate | grep -q ' /etc/tokengate/tokengate.toml ' ||
    fail "/etc/tokengate/tokengate.toml is not a conffile"
zcat /usr/share/man/man1/tokengate.1.gz | grep -q '^\.TH' || fail "the manual page is not roff"
grep -q 'complete' /usr/share/bash-completion/completions/tokengate || fail "the bash completion is empty"
[ ! -e /etc/systemd/system/multi-user.target.wants/tokengate.service ] ||
    fail "the package enabled the service; it should wait for systemctl enable"

step "the installed configuration, as the service runs it"
# The service's user, configuration and working directory: creates the database in
# /var/lib/tokengate, which must end up readable by tokengate only.
(cd /var/lib/tokengate && runuser -u tokengate -- /usr/bin/tokengate \
    --config /etc/tokengate/tokengate.toml settings show) >"$scratch/settings" 2>&1 ||
    { cat "$scratch/settings" >&2; fail "tokengate --config /etc/tokengate/tokengate.toml settings show"; }
grep -q '^password-auth' "$scratch/settings" || fail "settings show printed no settings"
expect /var/lib/tokengate/tokengate.db "600 tokengate tokengate"

step "the unit's ExecStart as its User= in its WorkingDirectory= (without systemd's sandbox)"
unit=/usr/lib/systemd/system/tokengate.service
read -r -a exec_start <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
unit_user=$(sed -n 's/^User=//p' "$unit")
workdir=$(sed -n 's/^WorkingDirectory=//p' "$unit")
if [ "${#exec_start[@]}" -eq 0 ] || [ -z "$unit_user" ] || [ -z "$workdir" ]; then
    fail "$unit has no ExecStart=, User= or WorkingDirectory="
fi
# A free port instead of the configured one; no metrics listener (its port is fixed).
(cd "$workdir" && exec setpriv --reuid "$unit_user" --regid "$unit_user" --init-groups -- \
    env TOKENGATE_LISTEN=127.0.0.1:0 TOKENGATE_METRICS_LISTEN= "${exec_start[@]}") \
    >"$scratch/serve.log" 2>&1 &
serve_pid=$!
address=
for _ in $(seq 100); do
    address=$(sed -n 's/^tokengate listening on \(http:[^ ]*\).*/\1/p' "$scratch/serve.log")
    [ -n "$address" ] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$address" ]; then
    kill "$serve_pid" 2>/dev/null || true
    cat "$scratch/serve.log" >&2
    fail "${exec_start[*]} did not start"
fi
ready=$(curl -sS --max-time 5 "$address/tokengate/readyz") || ready="(no answer)"
kill -TERM "$serve_pid"
serve_status=0
wait "$serve_pid" || serve_status=$?
[ "$ready" = '{"status":"ready"}' ] || fail "GET $address/tokengate/readyz answered $ready"
[ "$serve_status" -eq 0 ] || { cat "$scratch/serve.log" >&2; fail "tokengate serve exited $serve_status on SIGTERM"; }
grep -q '^Created the first admin user "admin" with password: ' "$scratch/serve.log" ||
    fail "the first start did not print the first admin's password"
echo "served $address/tokengate/readyz, stopped cleanly on SIGTERM"

if command -v systemd-analyze >/dev/null; then
    step "systemd-analyze verify"
    # Documentation=man:tokengate(1) is checked by running man; without man-db, skip that part.
    verify_args=()
    command -v man >/dev/null || verify_args=(--man=no)
    systemd-analyze verify "${verify_args[@]}" /usr/lib/systemd/system/tokengate.service >"$scratch/verify" 2>&1 ||
        { cat "$scratch/verify" >&2; fail "systemd-analyze verify tokengate.service"; }
    if [ -s "$scratch/verify" ]; then
        cat "$scratch/verify" >&2
        fail "systemd-analyze verify complained about tokengate.service"
    fi
    echo "tokengate.service verified"
else
    echo "systemd-analyze is not installed: the unit file was not verified"
fi

step "dpkg -i again over an edited configuration (an upgrade in place)"
echo '# edited by the administrator' >>/etc/tokengate/tokengate.toml
dpkg -i --force-confold "$deb" >"$scratch/dpkg.log" 2>&1 || { cat "$scratch/dpkg.log" >&2; fail "dpkg -i over an installed tokengate"; }
grep -q '^# edited by the administrator' /etc/tokengate/tokengate.toml ||
    fail "reinstalling replaced the edited /etc/tokengate/tokengate.toml"
expect /etc/tokengate/tokengate.toml "640 root tokengate"
expect /var/lib/tokengate/tokengate.db "600 tokengate tokengate"

step "dpkg -r, then dpkg --purge"
dpkg -r tokengate >"$scratch/dpkg.log" 2>&1 || { cat "$scratch/dpkg.log" >&2; fail "dpkg -r tokengate"; }
[ ! -e /usr/bin/tokengate ] || fail "dpkg -r left /usr/bin/tokengate"
[ -e /etc/tokengate/tokengate.toml ] || fail "dpkg -r removed the configuration (only purge should)"
dpkg --purge tokengate >"$scratch/dpkg.log" 2>&1 || { cat "$scratch/dpkg.log" >&2; fail "dpkg --purge tokengate"; }
for path in /etc/tokengate /var/lib/tokengate /usr/lib/systemd/system/tokengate.service; do
    [ ! -e "$path" ] || fail "dpkg --purge left $path"
done
! dpkg-statoverride --list /etc/tokengate/tokengate.toml >/dev/null 2>&1 ||
    fail "dpkg --purge left the statoverride of /etc/tokengate/tokengate.toml"
echo "package installed, checked and purged"
