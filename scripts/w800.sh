#!/usr/bin/env bash
# The W800 backend (at-platform-w800): the CK804 staticlib with its size report, and the
# tests that run the crate's lwIP code against real lwIP (Debian's liblwip-dev) and its
# TLS shim against real mbedTLS (Debian's libmbedtls-dev, 2.28).
#
#   ./scripts/w800.sh          install what is missing, build and report, run the tests
#   ./scripts/w800.sh build    the staticlib for the W800 and its size report only
#   ./scripts/w800.sh test     the tests only (host-lwip; needs root and /dev/net/tun)
#   ./scripts/w800.sh sdk-check SDK_DIR
#                              compile the FFI checks and the port shims against a WM IoT
#                              SDK checkout's own headers (host gcc; FreeRTOS and Kconfig
#                              output stubbed): lwIP prototypes and constants, wm_nvs_*,
#                              c/at_w800_port.c, c/at_w800_port_wifi.c, and
#                              c/at_w800_tls.c against the SDK's mbedTLS
#
# The staticlib is built by one command (nightly, build-std, the target JSON):
#
#   cargo +nightly rustc -p at-platform-w800 --release --crate-type staticlib \
#       -Zbuild-std=core -Zjson-target-spec --target targets/csky-ck804-none-elf.json
#
# with an embedded release profile (opt-level s, fat LTO, one codegen unit, panic abort)
# and -Zemit-stack-sizes (for the report; the sections are not loaded) set through the
# environment, into $W800_TARGET_DIR (default target/w800). The
# firmware links target/w800/csky-ck804-none-elf/release/libat_platform_w800.a.
#
# Environment knobs:
#   W800_TARGET_DIR   cargo target dir of the cross build (default: target/w800)
#   W800_OPT_LEVEL    opt-level of the cross build (default: s)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
MODE="${1:-all}"
SPEC="$ROOT/targets/csky-ck804-none-elf.json"
TARGET_DIR="$(realpath -m "${W800_TARGET_DIR:-target/w800}")"

section() {
    printf '\n==> %s\n' "$*"
}

# System packages: lwIP's headers and library (liblwip-dev), mbedTLS 2.28's
# (libmbedtls-dev) for the TLS shim, iproute2 for the test
# namespace, a C compiler, and llvm's binary tools for the size report (Debian's GNU
# binutils cannot read C-SKY objects).
install_deps() {
    local need=()
    [ -f /usr/include/lwip/lwip/sockets.h ] || need+=(liblwip-dev)
    [ -f /usr/include/mbedtls/ssl.h ] || need+=(libmbedtls-dev)
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
    command -v llvm-size >/dev/null 2>&1 || need+=(llvm)
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    if [ "${#need[@]}" -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "w800: needs ${need[*]} (run as root, or install them)" >&2
        exit 1
    fi
    section "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
}

build() {
    section "staticlib for the W800 (csky-ck804-none-elf, nightly -Zbuild-std=core)"
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        echo "error: the nightly toolchain is missing; run:" >&2
        echo "  rustup toolchain install nightly --profile minimal && rustup +nightly component add rust-src" >&2
        exit 1
    fi
    echo "nightly: $(rustc +nightly --version)"
    CARGO_PROFILE_RELEASE_OPT_LEVEL="${W800_OPT_LEVEL:-s}" \
    CARGO_PROFILE_RELEASE_PANIC=abort \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_LTO=fat \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    RUSTFLAGS="-Zemit-stack-sizes" \
        cargo +nightly rustc -p at-platform-w800 --release --crate-type staticlib \
        -Zbuild-std=core -Zjson-target-spec --target "$SPEC" --target-dir "$TARGET_DIR"
    local lib="$TARGET_DIR/csky-ck804-none-elf/release/libat_platform_w800.a"
    report "$lib"
}

# Sizes of the engine's object inside the staticlib: after fat LTO it holds at-core,
# at-tcpip, at-ssl and this crate, only what the at_w800_* entry points reach.
# compiler_builtins (the other member) is mostly dropped by the firmware's linker.
report() {
    local lib="$1" dir obj
    dir="$(mktemp -d)"
    # shellcheck disable=SC2064
    trap "rm -rf '$dir'" RETURN
    (cd "$dir" && llvm-ar x "$(realpath "$lib")")
    obj="$(ls "$dir"/at_platform_w800-*.o)"
    section "sizes of $lib (csky, opt-level ${W800_OPT_LEVEL:-s}, fat LTO)"
    printf 'archive: %s bytes (with compiler_builtins and symbol tables)\n' "$(stat -c %s "$lib")"
    llvm-size -A "$obj" | awk '
        NR > 2 && $2 > 0 {
            if ($1 ~ /^\.text/) text += $2
            else if ($1 ~ /^\.rodata/) rodata += $2
            else if ($1 ~ /^\.data/ || $1 ~ /^\.sdata/) data += $2
            else if ($1 ~ /^\.bss/ || $1 ~ /^\.sbss/) bss += $2
        }
        END {
            printf "engine object: code (.text) %d B, read-only data (.rodata) %d B, data (.data) %d B, bss %d B\n", text, rodata, data, bss
            printf "flash (text + rodata + data): %d B\n", text + rodata + data
        }'
    # The engine's RAM is the caller's memory block: its exact size on this target.
    llvm-objcopy --dump-section=".rodata.at_w800_engine_layout=$dir/layout" "$obj" "$dir/scratch.o"
    read -r size align < <(od -An -tu4 -w8 "$dir/layout")
    printf 'engine RAM (at_w800_memory_size, in the caller'"'"'s memory): %d B, align %d\n' "$size" "$align"
    printf 'symbols the firmware must provide (lwIP, the port shim, the SDK, libc): '
    # (__*: compiler_builtins, the archive's other member; Debian's llvm-nm cannot read
    # that member, which nightly's newer LLVM wrote.)
    llvm-nm -u "$obj" | awk '$2 !~ /^__/ {print $2}' | sort -u | tr '\n' ' '
    printf '\n'
    stack_frames "$obj"
}

# The largest stack frames, from the .stack_sizes sections -Zemit-stack-sizes adds (not
# loaded into the image). llvm-readobj cannot relocate C-SKY objects, so a few lines of
# Python read the ELF file.
stack_frames() {
    local obj="$1"
    section "largest stack frames (own frame of each function, not call chains)"
    python3 - "$obj" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
shoff, = struct.unpack_from('<I', data, 0x20)
shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x2e)
secs = [struct.unpack_from('<IIIIIIIIII', data, shoff + i * shentsize) for i in range(shnum)]
def name(off, tab):
    start = tab[4] + off
    return data[start:data.index(b'\0', start)].decode()
symtab = next(s for s in secs if s[1] == 2)
strtab = secs[symtab[6]]
funcs = {}
for j in range(symtab[5] // 16):
    st_name, _, _, info, _, shndx = struct.unpack_from('<IIIBBH', data, symtab[4] + j * 16)
    if info & 0xf == 2:
        funcs.setdefault(shndx, []).append(name(st_name, strtab))
frames = []
for s in secs:
    if name(s[0], secs[shstrndx]) == '.stack_sizes':
        raw, v, shift, k = data[s[4]:s[4] + s[5]], 0, 0, 4
        while True:
            b = raw[k]; v |= (b & 0x7f) << shift; k += 1; shift += 7
            if b < 0x80:
                break
        frames += [(v, f) for f in funcs.get(s[6], ['?'])]
for v, f in sorted(frames, reverse=True)[:6]:
    print(f'{v:6d} B  {f[:110]}')
for v, f in sorted(frames, reverse=True):
    if f.startswith('at_w800_'):
        print(f'{v:6d} B  {f}')
# A firmware calls every entry point from its AT task, whose stack is small: a frame
# above this limit fails the build (at_w800_init's was 6.8 KiB while the command set was
# built in a temporary; Engine::with_commands builds it in place).
limit = 3072
big = [(v, f) for v, f in frames if f.startswith('at_w800_') and v > limit]
for v, f in big:
    print(f'error: {f} has a {v} B stack frame (limit {limit} B)', file=sys.stderr)
sys.exit(1 if big else 0)
PY
}

run_tests() {
    section "at-platform-w800 tests (default features: header, C example, unit tests)"
    cargo test -p at-platform-w800
    section "at-platform-w800 tests on real lwIP (host-lwip)"
    if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ]; then
        echo "error: the host-lwip tests need root and /dev/net/tun (a network namespace and a TAP device)" >&2
        exit 1
    fi
    cargo test -p at-platform-w800 --features host-lwip
    section "examples/firmware_loop.c run on the host against the library (examples/host_board.c)"
    local tdir="${CARGO_TARGET_DIR:-target}" crate="$ROOT/at-platform-w800"
    cargo rustc -q -p at-platform-w800 --features host-lwip --crate-type staticlib
    # The host build needs more than AT_W800_MEMORY_SIZE (settings in RAM).
    gcc -std=c11 -Wall -Wextra -Werror -I"$crate/include" -DAT_MEMORY_BYTES=32768 \
        "$crate/examples/firmware_loop.c" "$crate/examples/host_board.c" \
        "$tdir/debug/libat_platform_w800.a" -llwip -lmbedtls -lmbedx509 -lmbedcrypto \
        -lpthread -ldl -lm -o "$tdir/w800-firmware-loop"
    timeout 60 "$tdir/w800-firmware-loop"
}

# Checks against the WM IoT SDK's headers (not on CI machines: the SDK is not there).
# The stubs replace only what host gcc cannot compile: the Kconfig output
# (wmsdk_config.h, with the SDK's defaults), the task configuration, FreeRTOS (C-SKY
# intrinsics) and lwIP's sys_arch.h (FreeRTOS handles).
sdk_check() {
    local sdk="${1:-}" dir out c comp
    if [ -z "$sdk" ] || [ ! -f "$sdk/components/lwip/port/lwipopts.h" ]; then
        echo "usage: $0 sdk-check SDK_DIR (a WM IoT SDK checkout)" >&2
        exit 2
    fi
    sdk="$(realpath "$sdk")"
    c="$ROOT/at-platform-w800"
    section "FFI declarations and shims against the WM IoT SDK in $sdk"
    cargo build -q -p at-platform-w800 --features host-lwip
    out="$(dirname "$(ls -t "${CARGO_TARGET_DIR:-target}"/debug/build/at-platform-w800-*/out/protos_sdk.h | head -1)")"
    dir="$(mktemp -d)"
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then
        echo "error: mktemp failed" >&2
        exit 1
    fi
    # shellcheck disable=SC2064
    trap "rm -rf '$dir'" RETURN
    mkdir -p "$dir/gen/freertos"
    {
        echo '#define CONFIG_COMPONENT_LWIP_ENABLED 1'
        echo '#define CONFIG_LWIP_TCPIP_MBOX_SIZE 32'
        echo '#define CONFIG_LWIP_TCP 1'
        echo '#define CONFIG_LWIP_TCP_MAXRTX 3'
        echo '#define CONFIG_LWIP_TCP_SYNMAXRTX 4'
        echo '#define CONFIG_LWIP_TCP_MSS 1460'
        echo '#define CONFIG_LWIP_TCP_WND_DEFAULT 8'
        echo '#define CONFIG_LWIP_TCP_SND_BUF_DEFAULT 6'
        echo '#define CONFIG_LWIP_TCP_RECVMBOX_SIZE 10'
        echo '#define CONFIG_LWIP_UDP 1'
        echo '#define CONFIG_LWIP_UDP_RECVMBOX_SIZE 6'
        echo '#define CONFIG_LWIP_ENABLE_IPV4 1'
        echo '#define CONFIG_LWIP_MAX_NTP_SERVERS 3'
    } >"$dir/gen/wmsdk_config.h"
    printf '#define WM_TASK_TCPIP_STACK 2048\n#define WM_TASK_TCPIP_PRIO 5\n' >"$dir/gen/wm_task_config.h"
    printf '#pragma once\n#include <stdint.h>\ntypedef uint32_t TickType_t;\n#define portTICK_PERIOD_MS 1\n' \
        >"$dir/gen/freertos/FreeRTOS.h"
    printf '#pragma once\nTickType_t xTaskGetTickCount(void);\n' >"$dir/gen/freertos/task.h"
    cp -r "$sdk/components/lwip/port" "$dir/port"
    printf '#pragma once\ntypedef void *sys_sem_t;\ntypedef void *sys_mbox_t;\ntypedef void *sys_thread_t;\ntypedef void *sys_mutex_t;\ntypedef unsigned int sys_prot_t;\n' \
        >"$dir/port/arch/sys_arch.h"
    local inc=(-I"$dir/gen" -I"$sdk/components/lwip/src/include" -I"$dir/port")
    for comp in wm_common wm_system wm_event wm_log wm_nvs wm_wifi wm_netif_mgr wm_net_manager; do
        inc+=(-I"$sdk/components/$comp/include")
    done
    inc+=(-I"$c/include" -I"$out")

    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' '#include "lwip/opt.h"' \
        '#include "lwip/sockets.h"' '#include "wm_nvs.h"' '#include "at_w800_port.h"' \
        '#include "protos_lwip.h"' '#include "protos_port.h"' '#include "protos_sdk.h"' \
        >"$dir/protos.c"
    gcc -std=gnu11 -fsyntax-only -w "${inc[@]}" "$dir/protos.c"
    echo "prototypes: lwip_*, at_w800_port_* and wm_nvs_* match the SDK's headers"

    for f in at_w800_port.c at_w800_port_wifi.c; do
        gcc -std=gnu11 -fsyntax-only -Wall -Wextra -Wno-unused-parameter "${inc[@]}" "$c/c/$f" 2>"$dir/warnings" || {
            cat "$dir/warnings" >&2
            exit 1
        }
        # The SDK's own wm_utils.h warns about struct timezone; anything else is ours.
        if grep -v -e 'struct timezone' -e 'settimeofday' -e 'In file included' -e '^ *|' -e '^ *[0-9]* |' \
            -e '^ *from ' "$dir/warnings" | grep -q .; then
            cat "$dir/warnings" >&2
            exit 1
        fi
    done
    echo "shims: c/at_w800_port.c and c/at_w800_port_wifi.c compile against the SDK's headers"

    # The TLS shim against the SDK's mbedTLS (3.x) and its configuration
    # (wm_mbedtls_config.h, which includes wmsdk_config.h and wm_osal.h: the OS layer
    # is stubbed like FreeRTOS, it needs the CK804 core header), and the prototypes of
    # src/ffi/tls.rs against include/at_w800_tls.h.
    printf '#pragma once\n#include <stddef.h>\n#include <stdint.h>\n#include <stdlib.h>\n' >"$dir/gen/wm_osal.h"
    local tls_inc=(-I"$sdk/components/mbedtls/src/include" -I"$sdk/components/mbedtls/port"
        -DMBEDTLS_CONFIG_FILE='"wm_mbedtls_config.h"'
        -DCONFIG_MBEDTLS_SSL_IN_CONTENT_LEN=16384 -DCONFIG_MBEDTLS_SSL_OUT_CONTENT_LEN=4096)
    printf '%s\n' '#include "at_w800_tls.h"' '#include "protos_tls.h"' >"$dir/protos_tls.c"
    gcc -std=gnu11 -fsyntax-only -w -I"$c/include" -I"$out" "$dir/protos_tls.c"
    gcc -std=gnu11 -fsyntax-only -Wall -Wextra -Wno-unused-parameter "${inc[@]}" "${tls_inc[@]}" \
        "$c/c/at_w800_tls.c" 2>"$dir/warnings" || {
        cat "$dir/warnings" >&2
        exit 1
    }
    echo "TLS shim: c/at_w800_tls.c compiles against the SDK's mbedTLS; at_w800_tls_* prototypes match"

    local prefix
    for prefix in sdk native; do
        printf '%s\n' '#include <stdio.h>' '#include <stddef.h>' \
            'struct v { const char *name; long long value; };' \
            "const struct v *at_w800_check_values_$prefix(size_t *n);" \
            "int main(void) { size_t n; const struct v *e = at_w800_check_values_$prefix(&n);" \
            '  for (size_t i = 0; i < n; i++) printf("%s %lld\n", e[i].name, e[i].value); return 0; }' \
            >"$dir/print_$prefix.c"
    done
    gcc -w "${inc[@]}" -DCONFIG_LWIP_ENABLE_IPV6=1 -DAT_W800_CHECK_PREFIX=sdk \
        "$c/c/check_values.c" "$dir/print_sdk.c" -o "$dir/sdk"
    gcc -w -I"$c/c/native" -I/usr/include/lwip -DAT_W800_CHECK_PREFIX=native \
        "$c/c/check_values.c" "$dir/print_native.c" -o "$dir/native"
    "$dir/sdk" | sort >"$dir/sdk.txt"
    "$dir/native" | sort >"$dir/native.txt"
    if diff "$dir/native.txt" "$dir/sdk.txt"; then
        echo "constants and layouts: the SDK's lwIP (with IPv6 on) gives the native values the Rust side is tested against ($(wc -l <"$dir/sdk.txt") values)"
    else
        echo "error: the SDK's lwIP values differ from the native ones of src/ffi/lwip.rs (above)" >&2
        exit 1
    fi
}

start=$SECONDS
case "$MODE" in
    all)
        install_deps
        build
        run_tests
        ;;
    build)
        install_deps
        build
        ;;
    test)
        install_deps
        run_tests
        ;;
    sdk-check)
        install_deps
        sdk_check "${2:-}"
        ;;
    *)
        echo "usage: $0 [build|test|sdk-check SDK_DIR]" >&2
        exit 2
        ;;
esac
section "w800: OK ($MODE) in $((SECONDS - start))s"
