#!/usr/bin/env bash
# Cross-build the no_std crates for the embedded targets.
#
#   ./scripts/cross-build.sh
#
# Targets:
#   thumbv7em-none-eabihf         stable toolchain (rustup target)
#   riscv32imac-unknown-none-elf  stable toolchain (rustup target)
#   csky-ck804-none-elf           WinnerMicro W800 (C-SKY CK804EF); custom target
#                                 spec targets/csky-ck804-none-elf.json, nightly
#                                 toolchain with -Zbuild-std=core (needs rust-src)
#
# Environment knobs:
#   CROSS_TARGETS     space-separated subset of the targets above (default: all)
#   CROSS_TARGET_DIR  cargo target dir (default: target/cross, kept apart from
#                     the host build cache)
#   CROSS_OPT_LEVEL   release opt-level used for the cross builds (default: s)
#
# The CK804 build must use --release (or an opt-level >= 1 for
# compiler_builtins): at opt-level 0 LLVM's C-SKY backend cannot select
# `fma.f32` with the hard-float feature and compiler_builtins fails to build.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

PACKAGES=(at-core at-tcpip at-ssl)
CSKY_TARGET=csky-ck804-none-elf
CSKY_SPEC="$ROOT/targets/$CSKY_TARGET.json"
ALL_TARGETS="thumbv7em-none-eabihf riscv32imac-unknown-none-elf $CSKY_TARGET"
read -r -a TARGETS <<<"${CROSS_TARGETS:-$ALL_TARGETS}"
TARGET_DIR="${CROSS_TARGET_DIR:-target/cross}"

# Embedded-style release profile for these builds only (env overrides
# Cargo.toml): small code, abort on panic, no debuginfo (faster, and `size`
# ignores it anyway).
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CROSS_OPT_LEVEL:-s}"
export CARGO_PROFILE_RELEASE_PANIC=abort
export CARGO_PROFILE_RELEASE_DEBUG=false

section() {
    printf '\n==> %s\n' "$*"
}

pkg_args=()
for p in "${PACKAGES[@]}"; do
    pkg_args+=(-p "$p")
done

SIZE_TOOL=""
if command -v llvm-size >/dev/null 2>&1; then
    SIZE_TOOL=llvm-size
elif command -v size >/dev/null 2>&1; then
    SIZE_TOOL=size
fi

# Size of each crate's own object code inside its rlib (berkeley format:
# text includes .rodata). This is before linking: generic code that is
# instantiated in downstream crates is not counted here.
report_sizes() {
    local target="$1" dir="$TARGET_DIR/$1/release"
    if [ -z "$SIZE_TOOL" ]; then
        echo "(no llvm-size or size on PATH: skipping size report)"
        return 0
    fi
    printf '%-10s %8s %8s %8s  %s\n' crate text data bss "target=$target tool=$SIZE_TOOL"
    local p lib totals
    for p in "${PACKAGES[@]}"; do
        lib="$dir/lib${p//-/_}.rlib"
        if [ ! -f "$lib" ]; then
            printf '%-10s %s\n' "$p" "(no rlib at $lib)"
            continue
        fi
        totals=$("$SIZE_TOOL" -t "$lib" 2>/dev/null | awk '/\(TOTALS\)/ {print $1, $2, $3}')
        # shellcheck disable=SC2086
        printf '%-10s %8s %8s %8s\n' "$p" ${totals:-? ? ?}
    done
}

build_stable() {
    local target="$1"
    section "cross-build: $target (stable: $(rustc --version))"
    cargo build --release --target "$target" --target-dir "$TARGET_DIR" \
        --no-default-features "${pkg_args[@]}"
    report_sizes "$target"
}

build_csky() {
    section "cross-build: $CSKY_TARGET (nightly -Zbuild-std=core)"
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        echo "error: the nightly toolchain is missing; run:" >&2
        echo "  rustup toolchain install nightly --profile minimal && rustup +nightly component add rust-src" >&2
        exit 1
    fi
    echo "nightly: $(rustc +nightly --version)"
    cargo +nightly build --release -Zbuild-std=core -Zjson-target-spec \
        --target "$CSKY_SPEC" --target-dir "$TARGET_DIR" \
        --no-default-features "${pkg_args[@]}"
    report_sizes "$CSKY_TARGET"
}

start=$SECONDS
for t in "${TARGETS[@]}"; do
    case "$t" in
        "$CSKY_TARGET") build_csky ;;
        *) build_stable "$t" ;;
    esac
done
section "cross-build: OK (${TARGETS[*]}) in $((SECONDS - start))s"
