//! lwIP 2.1.3's BSD socket API as the W800 SDK ships it: the C types, the constants and
//! the `lwip_*` functions, declared by hand and checked against real headers.
//!
//! # Two configurations
//!
//! lwIP's socket constants and address structures are not fixed by lwIP alone: a port
//! may use lwIP's own `lwip/sockets.h` definitions or the C library's. The two builds
//! this crate runs on differ exactly there:
//!
//! | | the W800 SDK (WM IoT SDK) | Debian's `liblwip-dev` (feature `host-lwip`) |
//! |---|---|---|
//! | socket headers | lwIP's own (`LWIP_SOCKET_EXTERNAL_HEADERS` unset) | glibc's (`LWIP_SOCKET_EXTERNAL_HEADERS 1`, `posix/sockets.h`) |
//! | `struct sockaddr_in` | `sin_len`, 8-bit `sin_family` | no length, 16-bit `sin_family` |
//! | `SOL_SOCKET`, `SO_*`, `O_NONBLOCK`, `FIONREAD` | lwIP's (`0xfff`, `0x1005`, `1`, `_IOR('f',127,unsigned long)`) | Linux's (`1`, `21`, `0o4000`, `0x541B`) |
//! | `nfds_t` | `unsigned int` | `unsigned long` |
//!
//! [`native`] holds lwIP's own values (what the W800 uses); [`posix`] holds the values of
//! Debian's build. [`sys`] is the one this build uses: [`posix`] with the `host-lwip`
//! feature, [`native`] otherwise (the W800 target, and a host build that never calls
//! lwIP).
//!
//! # How the declarations are checked
//!
//! With the `host-lwip` feature the build script (`build.rs`):
//! - reads every `fn` of the `extern "C"` block below, translates its Rust types to C,
//!   and compiles `_Static_assert(__builtin_types_compatible_p(__typeof__(&lwip_x),
//!   <C prototype>))` twice: against Debian's configuration and against lwIP's own
//!   `lwip/sockets.h` in a W800-like configuration (`c/native/lwipopts.h`). A wrong
//!   declaration fails the build.
//! - compiles `c/check_values.c` in both configurations; it exports every constant and
//!   the size and field offsets of every structure declared here, and the test
//!   `ffi::tests::*_match_the_headers` compares them with [`native`] and [`posix`].
//!
//! Against the W800 SDK's own lwIP: `scripts/w800.sh sdk-check SDK_DIR` compiles the
//! same prototype assertions against a WM IoT SDK checkout's headers and its
//! `lwipopts.h`, and compares the SDK's constants and layouts with [`native`]'s (they
//! were equal for WM IoT SDK v2.4-rc, whose `lwipopts.h` sets `LWIP_SOCKET 1`,
//! `LWIP_SO_LINGER 1`, `LWIP_SO_SNDTIMEO 1`, `LWIP_SO_RCVBUF 1`, `LWIP_TCP_KEEPALIVE 1`,
//! `LWIP_IGMP 1`, `LWIP_RAW 1`, `SO_REUSE 1`, `LWIP_DNS 1`, `LWIP_SOCKET_OFFSET 1`,
//! `MEMP_NUM_NETCONN 8`). The SDK is not on CI machines, so CI runs only the Debian
//! checks.
//!
//! IPv6: the SDK builds without it by default (`CONFIG_LWIP_ENABLE_IPV6=n`). Then lwIP
//! has no `sockaddr_in6`, `AF_INET6` is `AF_UNSPEC`, and IPv6 links fail with lwIP's
//! error (the IPv4 layouts and constants are unchanged). Enable it in the SDK's
//! configuration for `TCPv6`/`UDPv6` links.
//!
//! Two things depend on the C library the firmware is built with rather than on lwIP, so
//! they are not declared here but go through the port shim ([`super::port`],
//! `c/at_w800_port.c`, compiled with the firmware's own headers): `errno` (the WM IoT
//! SDK uses lwIP's `errno` with GCC 13 and newer, newlib's before that, and the two
//! number `EINPROGRESS` differently) and `struct timeval` (for `SO_SNDTIMEO`).

#![allow(non_camel_case_types, missing_docs)]

use core::ffi::{c_int, c_long, c_uint, c_ulong, c_void};

/// `socklen_t`: `u32_t` in lwIP, `unsigned int` in glibc.
pub type socklen_t = u32;
/// `ssize_t` (both configurations use the C library's).
pub type ssize_t = isize;
/// `size_t`.
pub type size_t = usize;

/// `struct in_addr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct in_addr {
    /// Network byte order.
    pub s_addr: u32,
}

/// `struct in6_addr` (a union of `u32_t[4]` and `u8_t[16]` in lwIP; 4-byte aligned in
/// both configurations).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct in6_addr {
    pub s6_addr32: [u32; 4],
}

/// `struct sockaddr`: only ever used behind a pointer, cast from [`sys::sockaddr_in`] or
/// [`sys::sockaddr_in6`].
#[repr(C)]
pub struct sockaddr {
    _opaque: [u8; 0],
}

/// `struct pollfd`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct pollfd {
    pub fd: c_int,
    pub events: i16,
    pub revents: i16,
}

/// `struct linger`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct linger {
    pub l_onoff: c_int,
    pub l_linger: c_int,
}

/// `struct ip_mreq`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ip_mreq {
    pub imr_multiaddr: in_addr,
    pub imr_interface: in_addr,
}

/// `struct ipv6_mreq`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipv6_mreq {
    pub ipv6mr_multiaddr: in6_addr,
    pub ipv6mr_interface: c_uint,
}

/// `_IOR(x, y, t)` of lwIP's `sockets.h`.
const fn lwip_ior(group: u8, num: u8, size: usize) -> c_long {
    const IOC_OUT: c_ulong = 0x4000_0000;
    const IOCPARM_MASK: c_ulong = 0x7f;
    (IOC_OUT
        | (((size as c_ulong) & IOCPARM_MASK) << 16)
        | ((group as c_ulong) << 8)
        | num as c_ulong) as c_long
}

/// lwIP's own values (`lwip/sockets.h` without external headers): the W800 SDK's.
pub mod native {
    use core::ffi::{c_int, c_long, c_ulong};

    use super::{in6_addr, in_addr};

    /// `nfds_t` of `lwip_poll`.
    pub type nfds_t = core::ffi::c_uint;

    /// `struct sockaddr_in` (with `sin_len`).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct sockaddr_in {
        pub sin_len: u8,
        pub sin_family: u8,
        pub sin_port: u16,
        pub sin_addr: in_addr,
        pub sin_zero: [u8; 8],
    }

    /// `struct sockaddr_in6` (with `sin6_len`).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct sockaddr_in6 {
        pub sin6_len: u8,
        pub sin6_family: u8,
        pub sin6_port: u16,
        pub sin6_flowinfo: u32,
        pub sin6_addr: in6_addr,
        pub sin6_scope_id: u32,
    }

    /// `struct sockaddr_storage`: room for either address (28 bytes with IPv6).
    #[repr(C, align(4))]
    #[derive(Clone, Copy)]
    pub struct sockaddr_storage {
        pub bytes: [u8; 28],
    }

    /// Whether addresses carry a length byte (`sin_len`).
    pub const HAVE_SA_LEN: bool = true;

    pub const AF_UNSPEC: c_int = 0;
    pub const AF_INET: c_int = 2;
    pub const AF_INET6: c_int = 10;
    pub const SOCK_STREAM: c_int = 1;
    pub const SOCK_DGRAM: c_int = 2;
    pub const SOCK_RAW: c_int = 3;
    pub const IPPROTO_IP: c_int = 0;
    pub const IPPROTO_ICMP: c_int = 1;
    pub const IPPROTO_TCP: c_int = 6;
    pub const IPPROTO_UDP: c_int = 17;
    pub const IPPROTO_IPV6: c_int = 41;
    pub const SOL_SOCKET: c_int = 0xfff;
    pub const SO_REUSEADDR: c_int = 0x0004;
    pub const SO_KEEPALIVE: c_int = 0x0008;
    pub const SO_BROADCAST: c_int = 0x0020;
    pub const SO_LINGER: c_int = 0x0080;
    pub const SO_SNDTIMEO: c_int = 0x1005;
    pub const SO_RCVTIMEO: c_int = 0x1006;
    pub const SO_ERROR: c_int = 0x1007;
    pub const SO_TYPE: c_int = 0x1008;
    pub const TCP_NODELAY: c_int = 0x01;
    pub const TCP_KEEPIDLE: c_int = 0x03;
    pub const TCP_KEEPINTVL: c_int = 0x04;
    pub const TCP_KEEPCNT: c_int = 0x05;
    pub const IP_MULTICAST_IF: c_int = 6;
    pub const IP_MULTICAST_LOOP: c_int = 7;
    pub const IP_ADD_MEMBERSHIP: c_int = 3;
    pub const IPV6_V6ONLY: c_int = 27;
    pub const IPV6_ADD_MEMBERSHIP: c_int = 12;
    pub const MSG_PEEK: c_int = 0x01;
    pub const MSG_DONTWAIT: c_int = 0x08;
    pub const MSG_NOSIGNAL: c_int = 0x20;
    pub const F_GETFL: c_int = 3;
    pub const F_SETFL: c_int = 4;
    pub const O_NONBLOCK: c_int = 1;
    /// `_IOR('f', 127, unsigned long)`: depends on `sizeof(unsigned long)` (4 on the W800).
    pub const FIONREAD: c_long = super::lwip_ior(b'f', 127, core::mem::size_of::<c_ulong>());
    pub const SHUT_RDWR: c_int = 2;
    pub const POLLIN: i16 = 0x1;
    pub const POLLOUT: i16 = 0x2;
    pub const POLLERR: i16 = 0x4;
    pub const POLLNVAL: i16 = 0x8;
    pub const POLLHUP: i16 = 0x200;
}

/// The values of Debian's `liblwip` build, which takes them from glibc (x86_64 Linux).
pub mod posix {
    use core::ffi::{c_int, c_long};

    use super::{in6_addr, in_addr};

    /// `nfds_t` of `lwip_poll`.
    pub type nfds_t = core::ffi::c_ulong;

    /// `struct sockaddr_in` (glibc: no length byte, 16-bit family).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct sockaddr_in {
        pub sin_family: u16,
        pub sin_port: u16,
        pub sin_addr: in_addr,
        pub sin_zero: [u8; 8],
    }

    /// `struct sockaddr_in6` (glibc).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct sockaddr_in6 {
        pub sin6_family: u16,
        pub sin6_port: u16,
        pub sin6_flowinfo: u32,
        pub sin6_addr: in6_addr,
        pub sin6_scope_id: u32,
    }

    /// `struct sockaddr_storage` (glibc: 128 bytes).
    #[repr(C, align(8))]
    #[derive(Clone, Copy)]
    pub struct sockaddr_storage {
        pub bytes: [u8; 128],
    }

    /// Whether addresses carry a length byte (`sin_len`).
    pub const HAVE_SA_LEN: bool = false;

    pub const AF_UNSPEC: c_int = 0;
    pub const AF_INET: c_int = 2;
    pub const AF_INET6: c_int = 10;
    pub const SOCK_STREAM: c_int = 1;
    pub const SOCK_DGRAM: c_int = 2;
    pub const SOCK_RAW: c_int = 3;
    pub const IPPROTO_IP: c_int = 0;
    pub const IPPROTO_ICMP: c_int = 1;
    pub const IPPROTO_TCP: c_int = 6;
    pub const IPPROTO_UDP: c_int = 17;
    pub const IPPROTO_IPV6: c_int = 41;
    pub const SOL_SOCKET: c_int = 1;
    pub const SO_REUSEADDR: c_int = 2;
    pub const SO_KEEPALIVE: c_int = 9;
    pub const SO_BROADCAST: c_int = 6;
    pub const SO_LINGER: c_int = 13;
    pub const SO_SNDTIMEO: c_int = 21;
    pub const SO_RCVTIMEO: c_int = 20;
    pub const SO_ERROR: c_int = 4;
    pub const SO_TYPE: c_int = 3;
    pub const TCP_NODELAY: c_int = 1;
    pub const TCP_KEEPIDLE: c_int = 4;
    pub const TCP_KEEPINTVL: c_int = 5;
    pub const TCP_KEEPCNT: c_int = 6;
    pub const IP_MULTICAST_IF: c_int = 32;
    pub const IP_MULTICAST_LOOP: c_int = 34;
    pub const IP_ADD_MEMBERSHIP: c_int = 35;
    pub const IPV6_V6ONLY: c_int = 26;
    pub const IPV6_ADD_MEMBERSHIP: c_int = 20;
    pub const MSG_PEEK: c_int = 0x02;
    pub const MSG_DONTWAIT: c_int = 0x40;
    pub const MSG_NOSIGNAL: c_int = 0x4000;
    pub const F_GETFL: c_int = 3;
    pub const F_SETFL: c_int = 4;
    pub const O_NONBLOCK: c_int = 0o4000;
    pub const FIONREAD: c_long = 0x541B;
    pub const SHUT_RDWR: c_int = 2;
    pub const POLLIN: i16 = 0x1;
    pub const POLLOUT: i16 = 0x4;
    pub const POLLERR: i16 = 0x8;
    pub const POLLNVAL: i16 = 0x20;
    pub const POLLHUP: i16 = 0x10;
}

/// The constants of this build: [`posix`] with `host-lwip`, [`native`] otherwise.
#[cfg(not(feature = "host-lwip"))]
pub use native as sys;
/// The constants of this build: [`posix`] with `host-lwip`, [`native`] otherwise.
#[cfg(feature = "host-lwip")]
pub use posix as sys;

// Every `fn` here is checked against the headers by build.rs (see the module docs): keep
// one declaration per item, the types limited to those build.rs knows.
extern "C" {
    pub fn lwip_socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    pub fn lwip_bind(s: c_int, name: *const sockaddr, namelen: socklen_t) -> c_int;
    pub fn lwip_connect(s: c_int, name: *const sockaddr, namelen: socklen_t) -> c_int;
    pub fn lwip_listen(s: c_int, backlog: c_int) -> c_int;
    pub fn lwip_accept(s: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> c_int;
    pub fn lwip_send(s: c_int, dataptr: *const c_void, size: size_t, flags: c_int) -> ssize_t;
    pub fn lwip_recv(s: c_int, mem: *mut c_void, len: size_t, flags: c_int) -> ssize_t;
    pub fn lwip_sendto(
        s: c_int,
        dataptr: *const c_void,
        size: size_t,
        flags: c_int,
        to: *const sockaddr,
        tolen: socklen_t,
    ) -> ssize_t;
    pub fn lwip_recvfrom(
        s: c_int,
        mem: *mut c_void,
        len: size_t,
        flags: c_int,
        from: *mut sockaddr,
        fromlen: *mut socklen_t,
    ) -> ssize_t;
    pub fn lwip_poll(fds: *mut pollfd, nfds: sys::nfds_t, timeout: c_int) -> c_int;
    pub fn lwip_setsockopt(
        s: c_int,
        level: c_int,
        optname: c_int,
        optval: *const c_void,
        optlen: socklen_t,
    ) -> c_int;
    pub fn lwip_getsockopt(
        s: c_int,
        level: c_int,
        optname: c_int,
        optval: *mut c_void,
        optlen: *mut socklen_t,
    ) -> c_int;
    pub fn lwip_getsockname(s: c_int, name: *mut sockaddr, namelen: *mut socklen_t) -> c_int;
    pub fn lwip_getpeername(s: c_int, name: *mut sockaddr, namelen: *mut socklen_t) -> c_int;
    pub fn lwip_fcntl(s: c_int, cmd: c_int, val: c_int) -> c_int;
    pub fn lwip_ioctl(s: c_int, cmd: c_long, argp: *mut c_void) -> c_int;
    pub fn lwip_shutdown(s: c_int, how: c_int) -> c_int;
    pub fn lwip_close(s: c_int) -> c_int;
}
