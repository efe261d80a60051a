#!/usr/bin/env bash
# Runs every cargo-fuzz target with the address sanitizer on nightly.
#
#   ./scripts/fuzz.sh            the CI step: a fixed number of runs per target from a
#                                fixed seed, so a run that passes here passes in CI
#   ./scripts/fuzz.sh SECONDS    a time-boxed run of every target (e.g. 3600)
#   ./scripts/fuzz.sh SECONDS TARGET...   the same for the named targets only
#
# New inputs go to a scratch corpus (target/fuzz-corpus/<t>), seeded from fuzz/corpus/<t>;
# crashes land in fuzz/artifacts/<t>/ and fail the script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# target:runs for the deterministic CI step (about 10-20 s each on 2 cores).
targets=(parser:200000 commands:40000 engine_net:30000 data_mode:30000 engine_bytes:60000 dns_response:20000 sntp_response:20000)
only=("${@:2}")
for entry in "${targets[@]}"; do
    t="${entry%%:*}"
    runs="${entry##*:}"
    if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $t "* ]]; then
        continue
    fi
    if [ $# -gt 0 ]; then
        limit=(-max_total_time="$1")
        scratch="../target/fuzz-corpus/$t"
        mkdir -p "$scratch"
        dirs=("$scratch" "corpus/$t")
    else
        limit=(-runs="$runs" -seed=1)
        # The committed corpus, and an empty scratch directory first (libFuzzer writes
        # new inputs to the first one): the same inputs every time.
        scratch="../target/fuzz-ci/$t"
        rm -rf "$scratch"
        mkdir -p "$scratch"
        dirs=("$scratch" "corpus/$t")
    fi
    echo "=== fuzz $t (${limit[*]})"
    status=0
    cargo +nightly fuzz run "$t" "${dirs[@]}" -- "${limit[@]}" -rss_limit_mb=2048 \
        -print_final_stats=1 >"../target/fuzz-$t.log" 2>&1 || status=$?
    tail -n 8 "../target/fuzz-$t.log"
    if [ "$status" -ne 0 ]; then
        grep -A20 "panicked at\|ERROR: " "../target/fuzz-$t.log" | head -40 >&2 || true
        echo "fuzz target $t failed; see fuzz/artifacts/$t/ and target/fuzz-$t.log" >&2
        exit 1
    fi
done
