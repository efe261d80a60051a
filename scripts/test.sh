#!/usr/bin/env bash
# The project's test command (the README's): installs what the tests need beyond the
# Rust toolchain, then runs every test of the workspace, end-to-end tests included.
#
#   ./scripts/test.sh            all tests
#   ./scripts/test.sh -- NAME    only tests whose name contains NAME
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# System packages the end-to-end tests use (none yet beyond a pty-capable kernel).
need_apt=()
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
    else
        echo "tests need: ${need_apt[*]} (run as root, or install them)" >&2
        exit 1
    fi
fi

# The end-to-end tests drive the real at-modem binary; build it first so its build
# output is not interleaved with test output.
cargo build --workspace --bins
cargo test --workspace "$@"
