#!/bin/sh
# Runs every fuzz target for SECONDS each (default 60), one after the other, on the stable
# toolchain without sanitizers. New inputs go to fuzz/corpus/TARGET (not committed); the
# committed seeds in fuzz/seeds/TARGET are read too. A finding stops the run with its
# reproducer in fuzz/artifacts/TARGET/.
#
#   fuzz/run.sh 600            # ten minutes each
#   TARGETS="token config" fuzz/run.sh 60
set -eu
seconds="${1:-60}"
cd "$(dirname "$0")"
targets="${TARGETS:-authorization token allowlist validity public_path config}"
for target in $targets; do
    mkdir -p "corpus/$target" "seeds/$target"
    echo "== $target: $seconds s"
    cargo fuzz run "$target" --sanitizer none "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1
done
