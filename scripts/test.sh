#!/usr/bin/env bash
# The project's test command (the README's): installs what the tests need beyond the
# Rust toolchain, then runs every test of the workspace, end-to-end tests included.
#
#   ./scripts/test.sh            all tests
#   ./scripts/test.sh -- NAME    only tests whose name contains NAME
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# System packages the end-to-end tests use: a DNS server (dnsmasq) and an NTP server
# (chrony), both started by the tests themselves on loopback only; OpenSSL's headers for
# the std platform's TLS.
need_apt=()
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need_apt+=(dnsmasq-base)
command -v chronyd >/dev/null 2>&1 || [ -x /usr/sbin/chronyd ] || need_apt+=(chrony)
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev pkg-config)
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        # Installing must not start the packages' own services (chrony would reach out to
        # public NTP pools and adjust the clock): deny service starts while apt runs.
        policy=/usr/sbin/policy-rc.d
        made_policy=
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy"
            chmod +x "$policy"
            made_policy=1
        fi
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
        if [ -n "$made_policy" ]; then rm -f "$policy"; fi
    else
        echo "tests need: ${need_apt[*]} (run as root, or install them)" >&2
        exit 1
    fi
fi

# The end-to-end tests drive the real at-modem binary; build it first so its build
# output is not interleaved with test output.
cargo build --workspace --bins
cargo test --workspace "$@"
