/*
 * Compile-time check of the Rust FFI declarations (src/ffi/lwip.rs, port.rs, tls.rs, host.rs) against the headers:
 * build.rs turns every Rust declaration into a _Static_assert (protos_*.h, generated in
 * OUT_DIR) and compiles this file once in Debian's configuration and once against
 * lwIP's own sockets.h (AT_W800_NATIVE, the W800's configuration).
 */
#include <stdint.h>

#include "lwip/opt.h"
#include "lwip/sockets.h"

#include "at_w800_port.h"
#include "at_w800_tls.h"

#include "protos_lwip.h"
#include "protos_port.h"
#include "protos_tls.h"

#ifndef AT_W800_NATIVE
#include "host_lwip.h"
#include "protos_host.h"
#endif
