#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 20; the CI step), with the
# address sanitizer on nightly. A longer run: ./scripts/fuzz.sh 3600
# New inputs go to a scratch corpus (target/fuzz-corpus/<t>), seeded from fuzz/corpus/<t>;
# crashes land in fuzz/artifacts/<t>/ and fail the script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
secs="${1:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
targets=(parser commands engine_net data_mode engine_bytes)
for t in "${targets[@]}"; do
    scratch="../target/fuzz-corpus/$t"
    mkdir -p "$scratch" "corpus/$t"
    echo "=== fuzz $t for ${secs}s"
    cargo +nightly fuzz run "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 25
    if [ "${PIPESTATUS[0]}" -ne 0 ]; then
        echo "fuzz target $t failed; see fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
