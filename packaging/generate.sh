#!/usr/bin/env bash
# Writes the shell completions and the manual page of a tokengate binary into a folder, for the
# Debian package (crates/tokengate/Cargo.toml, [package.metadata.deb]).
# Usage: packaging/generate.sh BINARY OUTDIR
set -euo pipefail
if [ "$#" -ne 2 ]; then
    echo "usage: $0 BINARY OUTDIR" >&2
    exit 2
fi
binary=$1
out=$2
if [ ! -x "$binary" ]; then
    echo "error: $binary is not an executable tokengate binary" >&2
    exit 1
fi
mkdir -p "$out/completions"
"$binary" completions bash >"$out/completions/tokengate.bash"
"$binary" completions zsh >"$out/completions/_tokengate"
"$binary" completions fish >"$out/completions/tokengate.fish"
"$binary" man >"$out/tokengate.1"
gzip -9n --force "$out/tokengate.1"
for file in completions/tokengate.bash completions/_tokengate completions/tokengate.fish tokengate.1.gz; do
    if [ ! -s "$out/$file" ]; then
        echo "error: $binary wrote an empty $file" >&2
        exit 1
    fi
done
