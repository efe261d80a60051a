#!/usr/bin/env bash
# Runs every performance measurement and writes target/bench/results.md and
# target/bench/results.json (see README.md, Performance).
#
#   ./scripts/bench.sh            # 100 MB end to end
#   ./scripts/bench.sh --quick    # 10 MB end to end
#
# Needs valgrind (instruction counts), llvm-size, the thumbv7em-none-eabihf target and
# the nightly toolchain with rust-src (CK804 code size) and llvm-tools (its branch
# census: `rustup component add llvm-tools --toolchain nightly`); what is missing is
# reported n/a.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -p at-platform-std --bin at-modem
cargo build --release -p at-bench --bin scenario --bin report
exec target/release/report "$@"
