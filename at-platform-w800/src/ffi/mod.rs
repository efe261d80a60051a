//! The FFI boundary: every foreign declaration of the crate and the only `unsafe` code
//! outside the C API ([`crate::capi`]).
//!
//! - [`lwip`]: lwIP 2.1.3's socket API (types, constants in both configurations, the
//!   `lwip_*` functions), checked against real headers (see its documentation);
//! - [`port`]: the port shim the firmware compiles from `c/at_w800_port.c` (`errno`,
//!   `SO_SNDTIMEO`);
//! - `sdk` (W800 target only): the SDK's NVS (`wm_nvs_*`) and the Wi-Fi station, which
//!   have no header on this machine (see there);
//! - `host` (feature `host-lwip` only): bringing Debian's lwIP up on a TAP device;
//! - safe wrappers over the socket calls, used by [`crate::stack`] and [`crate::ping`]:
//!   each checks its arguments (buffer lengths, address sizes) so that no caller can make
//!   lwIP read or write out of bounds, and turns `-1` plus `errno` into a [`SockError`].

#![allow(unsafe_code)]

use core::ffi::{c_int, c_void};
use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

#[cfg(feature = "host-lwip")]
pub mod host;
pub mod lwip;
pub mod port;
#[cfg(target_os = "none")]
pub mod sdk;
pub mod tls;

use lwip::sys;

/// What kind of failure a socket call reported (from `errno` or `SO_ERROR`, classified
/// by the port shim so that the C library's numbering does not matter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `EWOULDBLOCK`/`EAGAIN`: nothing to do now.
    WouldBlock,
    /// `EINPROGRESS`/`EALREADY`: a connect is under way.
    InProgress,
    /// `EISCONN`: already connected.
    IsConnected,
    /// `ECONNRESET`, `ECONNABORTED`, `ENOTCONN`, `EPIPE`: the connection is gone.
    ConnectionLost,
    /// `ECONNREFUSED`.
    Refused,
    /// Anything else (the code says what).
    Other,
}

/// A failed socket call: the C library's error number and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockError {
    /// `errno` (or `SO_ERROR`) as the firmware's C library numbers it.
    pub code: c_int,
    /// What it means.
    pub kind: ErrorKind,
}

impl SockError {
    /// Classifies an error number with the port shim.
    pub fn from_code(code: c_int) -> Self {
        // SAFETY: a pure function of an integer, no pointers.
        let kind = match unsafe { port::at_w800_port_errno_kind(code) } {
            port::ERR_WOULD_BLOCK => ErrorKind::WouldBlock,
            port::ERR_IN_PROGRESS => ErrorKind::InProgress,
            port::ERR_IS_CONNECTED => ErrorKind::IsConnected,
            port::ERR_CONN_LOST => ErrorKind::ConnectionLost,
            port::ERR_REFUSED => ErrorKind::Refused,
            _ => ErrorKind::Other,
        };
        SockError { code, kind }
    }

    /// The error the last failed call on this thread left in `errno`.
    fn last() -> Self {
        // SAFETY: reads the calling thread's errno, no pointers.
        Self::from_code(unsafe { port::at_w800_port_errno() })
    }
}

/// A result of a socket call.
pub type SockResult<T> = Result<T, SockError>;

/// `-1` becomes the last error, anything else the value.
fn check(r: c_int) -> SockResult<c_int> {
    if r < 0 {
        Err(SockError::last())
    } else {
        Ok(r)
    }
}

fn check_size(r: lwip::ssize_t) -> SockResult<usize> {
    usize::try_from(r).map_err(|_| SockError::last())
}

/// A socket address in C form, big enough for either family.
#[repr(C)]
#[derive(Clone, Copy)]
union RawAddr {
    v4: sys::sockaddr_in,
    v6: sys::sockaddr_in6,
    storage: sys::sockaddr_storage,
}

impl RawAddr {
    fn empty() -> Self {
        RawAddr {
            storage: sys::sockaddr_storage {
                bytes: [0; core::mem::size_of::<sys::sockaddr_storage>()],
            },
        }
    }

    fn from_socket_addr(addr: &SocketAddr) -> (Self, lwip::socklen_t) {
        match addr {
            SocketAddr::V4(a) => {
                let mut v4 = sys::sockaddr_in {
                    sin_port: a.port().to_be(),
                    sin_addr: lwip::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    ..Default::default()
                };
                set_family_v4(&mut v4);
                let mut raw = Self::empty();
                raw.v4 = v4;
                (
                    raw,
                    core::mem::size_of::<sys::sockaddr_in>() as lwip::socklen_t,
                )
            }
            SocketAddr::V6(a) => {
                let mut v6 = sys::sockaddr_in6 {
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo().to_be(),
                    sin6_addr: in6_from(a.ip()),
                    sin6_scope_id: a.scope_id(),
                    ..Default::default()
                };
                set_family_v6(&mut v6);
                let mut raw = Self::empty();
                raw.v6 = v6;
                (
                    raw,
                    core::mem::size_of::<sys::sockaddr_in6>() as lwip::socklen_t,
                )
            }
        }
    }

    fn socket_addr(&self) -> Option<SocketAddr> {
        // SAFETY: every field of the union is plain old data of which any bit pattern is
        // valid, and the storage field covers the other two.
        let (v4, v6) = unsafe { (self.v4, self.v6) };
        match family_v4(&v4) {
            f if f == sys::AF_INET => Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(v4.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(v4.sin_port),
            ))),
            f if f == sys::AF_INET6 => Some(SocketAddr::V6(SocketAddrV6::new(
                in6_to(&v6.sin6_addr),
                u16::from_be(v6.sin6_port),
                u32::from_be(v6.sin6_flowinfo),
                v6.sin6_scope_id,
            ))),
            _ => None,
        }
    }

    fn as_ptr(&self) -> *const lwip::sockaddr {
        (self as *const Self).cast()
    }

    fn as_mut_ptr(&mut self) -> *mut lwip::sockaddr {
        (self as *mut Self).cast()
    }
}

#[cfg(feature = "host-lwip")]
fn set_family_v4(a: &mut sys::sockaddr_in) {
    a.sin_family = sys::AF_INET as u16;
}
#[cfg(not(feature = "host-lwip"))]
fn set_family_v4(a: &mut sys::sockaddr_in) {
    a.sin_len = core::mem::size_of::<sys::sockaddr_in>() as u8;
    a.sin_family = sys::AF_INET as u8;
}
#[cfg(feature = "host-lwip")]
fn set_family_v6(a: &mut sys::sockaddr_in6) {
    a.sin6_family = sys::AF_INET6 as u16;
}
#[cfg(not(feature = "host-lwip"))]
fn set_family_v6(a: &mut sys::sockaddr_in6) {
    a.sin6_len = core::mem::size_of::<sys::sockaddr_in6>() as u8;
    a.sin6_family = sys::AF_INET6 as u8;
}
/// The family field of an address (both families keep it at the same place).
fn family_v4(a: &sys::sockaddr_in) -> c_int {
    c_int::from(a.sin_family)
}

fn in6_from(ip: &Ipv6Addr) -> lwip::in6_addr {
    let o = ip.octets();
    let mut words = [0u32; 4];
    for (w, chunk) in words.iter_mut().zip(o.chunks_exact(4)) {
        *w = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    lwip::in6_addr { s6_addr32: words }
}

fn in6_to(a: &lwip::in6_addr) -> Ipv6Addr {
    let mut o = [0u8; 16];
    for (chunk, w) in o.chunks_exact_mut(4).zip(a.s6_addr32) {
        chunk.copy_from_slice(&w.to_ne_bytes());
    }
    Ipv6Addr::from(o)
}

/// The protocol family of an address.
pub fn family_of(addr: &SocketAddr) -> c_int {
    if addr.is_ipv4() {
        sys::AF_INET
    } else {
        sys::AF_INET6
    }
}

/// `lwip_socket`.
pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> SockResult<c_int> {
    // SAFETY: integers only.
    check(unsafe { lwip::lwip_socket(domain, ty, protocol) })
}

/// `lwip_fcntl(F_SETFL, O_NONBLOCK)`: every socket of the stack is non-blocking.
pub fn set_nonblocking(s: c_int) -> SockResult<()> {
    // SAFETY: integers only.
    check(unsafe { lwip::lwip_fcntl(s, sys::F_SETFL, sys::O_NONBLOCK) }).map(drop)
}

/// Whether `O_NONBLOCK` is set (`lwip_fcntl(F_GETFL)`).
pub fn is_nonblocking(s: c_int) -> SockResult<bool> {
    // SAFETY: integers only.
    let flags = check(unsafe { lwip::lwip_fcntl(s, sys::F_GETFL, 0) })?;
    Ok(flags & sys::O_NONBLOCK != 0)
}

/// `lwip_bind`.
pub fn bind(s: c_int, addr: &SocketAddr) -> SockResult<()> {
    let (raw, len) = RawAddr::from_socket_addr(addr);
    // SAFETY: `raw` is a valid address of `len` bytes (at most its size) for the call.
    check(unsafe { lwip::lwip_bind(s, raw.as_ptr(), len) }).map(drop)
}

/// `lwip_connect`.
pub fn connect(s: c_int, addr: &SocketAddr) -> SockResult<()> {
    let (raw, len) = RawAddr::from_socket_addr(addr);
    // SAFETY: as in `bind`.
    check(unsafe { lwip::lwip_connect(s, raw.as_ptr(), len) }).map(drop)
}

/// `lwip_listen`.
pub fn listen(s: c_int, backlog: c_int) -> SockResult<()> {
    // SAFETY: integers only.
    check(unsafe { lwip::lwip_listen(s, backlog) }).map(drop)
}

/// `lwip_accept`: the new descriptor and the peer's address.
pub fn accept(s: c_int) -> SockResult<(c_int, Option<SocketAddr>)> {
    let mut raw = RawAddr::empty();
    let mut len = core::mem::size_of::<RawAddr>() as lwip::socklen_t;
    // SAFETY: `raw` is writable for `len` bytes and `len` is a live socklen_t.
    let fd = check(unsafe { lwip::lwip_accept(s, raw.as_mut_ptr(), &mut len) })?;
    Ok((fd, raw.socket_addr()))
}

/// `lwip_send`; returns how many bytes lwIP took.
pub fn send(s: c_int, data: &[u8], flags: c_int) -> SockResult<usize> {
    // SAFETY: `data` is readable for `data.len()` bytes during the call.
    check_size(unsafe { lwip::lwip_send(s, data.as_ptr().cast::<c_void>(), data.len(), flags) })
}

/// `lwip_recv`; `Ok(0)` is end of stream (for a non-empty buffer).
pub fn recv(s: c_int, buf: &mut [u8], flags: c_int) -> SockResult<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes during the call.
    check_size(unsafe { lwip::lwip_recv(s, buf.as_mut_ptr().cast::<c_void>(), buf.len(), flags) })
}

/// `lwip_sendto`.
pub fn send_to(s: c_int, data: &[u8], to: &SocketAddr, flags: c_int) -> SockResult<usize> {
    let (raw, len) = RawAddr::from_socket_addr(to);
    // SAFETY: `data` is readable for its length and `raw` for `len` bytes.
    check_size(unsafe {
        lwip::lwip_sendto(
            s,
            data.as_ptr().cast::<c_void>(),
            data.len(),
            flags,
            raw.as_ptr(),
            len,
        )
    })
}

/// `lwip_recvfrom`: the datagram's length (truncated to `buf`) and its sender.
pub fn recv_from(
    s: c_int,
    buf: &mut [u8],
    flags: c_int,
) -> SockResult<(usize, Option<SocketAddr>)> {
    let mut raw = RawAddr::empty();
    let mut len = core::mem::size_of::<RawAddr>() as lwip::socklen_t;
    // SAFETY: `buf` is writable for its length, `raw` for `len` bytes, `len` is live.
    let n = check_size(unsafe {
        lwip::lwip_recvfrom(
            s,
            buf.as_mut_ptr().cast::<c_void>(),
            buf.len(),
            flags,
            raw.as_mut_ptr(),
            &mut len,
        )
    })?;
    Ok((n, raw.socket_addr()))
}

/// `lwip_poll` of one socket with a zero timeout: the events that are ready now.
pub fn poll_now(s: c_int, events: i16) -> SockResult<i16> {
    let mut fd = lwip::pollfd {
        fd: s,
        events,
        revents: 0,
    };
    // SAFETY: one live pollfd, count 1.
    check(unsafe { lwip::lwip_poll(&mut fd, 1, 0) })?;
    Ok(fd.revents)
}

/// `lwip_poll` of `fds` with a zero timeout: how many have events now (their `revents`
/// say which).
/// At most 255 descriptors (the stack's own limit): the count always fits `nfds_t`.
pub fn poll_all_now(fds: &mut [lwip::pollfd]) -> SockResult<usize> {
    let count = fds.len().min(usize::from(u8::MAX));
    let fds = &mut fds[..count];
    // SAFETY: `fds` is a live, writable array of `fds.len()` (<= 255) pollfds for the
    // call's duration; lwIP writes only their `revents`.
    let ready = check(unsafe { lwip::lwip_poll(fds.as_mut_ptr(), fds.len() as sys::nfds_t, 0) })?;
    Ok(usize::try_from(ready).unwrap_or(0))
}

/// `lwip_setsockopt` with an `int` value.
pub fn set_int_option(s: c_int, level: c_int, name: c_int, value: c_int) -> SockResult<()> {
    set_option(s, level, name, &value)
}

/// `lwip_getsockopt` of an `int` value.
pub fn int_option(s: c_int, level: c_int, name: c_int) -> SockResult<c_int> {
    let mut value: c_int = 0;
    get_option(s, level, name, &mut value)?;
    Ok(value)
}

/// Option values that are plain C data (any bit pattern valid).
pub trait OptionValue: Copy {}
impl OptionValue for c_int {}
impl OptionValue for lwip::linger {}
impl OptionValue for lwip::ip_mreq {}
impl OptionValue for lwip::ipv6_mreq {}
impl OptionValue for lwip::in_addr {}

fn set_option<T: OptionValue>(s: c_int, level: c_int, name: c_int, value: &T) -> SockResult<()> {
    // SAFETY: `value` is readable for size_of::<T>() bytes during the call.
    check(unsafe {
        lwip::lwip_setsockopt(
            s,
            level,
            name,
            (value as *const T).cast::<c_void>(),
            core::mem::size_of::<T>() as lwip::socklen_t,
        )
    })
    .map(drop)
}

fn get_option<T: OptionValue>(
    s: c_int,
    level: c_int,
    name: c_int,
    value: &mut T,
) -> SockResult<()> {
    let mut len = core::mem::size_of::<T>() as lwip::socklen_t;
    // SAFETY: `value` is writable for `len` = size_of::<T>() bytes, and T accepts any
    // bit pattern lwIP writes; `len` is live.
    check(unsafe {
        lwip::lwip_getsockopt(s, level, name, (value as *mut T).cast::<c_void>(), &mut len)
    })
    .map(drop)
}

/// `SO_LINGER`: `None` off, `Some(secs)` on.
pub fn set_linger(s: c_int, secs: Option<u16>) -> SockResult<()> {
    let value = lwip::linger {
        l_onoff: c_int::from(secs.is_some()),
        l_linger: c_int::from(secs.unwrap_or(0)),
    };
    set_option(s, sys::SOL_SOCKET, sys::SO_LINGER, &value)
}

/// `SO_LINGER` read back.
pub fn linger(s: c_int) -> SockResult<Option<u16>> {
    let mut value = lwip::linger::default();
    get_option(s, sys::SOL_SOCKET, sys::SO_LINGER, &mut value)?;
    Ok((value.l_onoff != 0).then(|| u16::try_from(value.l_linger).unwrap_or(u16::MAX)))
}

/// 32 random bits from the firmware's `LWIP_RAND()` (the port shim).
pub fn random_u32() -> u32 {
    // SAFETY: the port shim's function takes no arguments, touches no Rust memory and
    // only returns the firmware's `LWIP_RAND()` (c/at_w800_port.c).
    unsafe { port::at_w800_port_random() }
}

/// `SO_SNDTIMEO` in milliseconds (0: none), through the port shim.
pub fn set_send_timeout(s: c_int, ms: u32) -> SockResult<()> {
    // SAFETY: integers only.
    check(unsafe { port::at_w800_port_set_send_timeout(s, ms) }).map(drop)
}

/// `SO_SNDTIMEO` read back in milliseconds.
pub fn send_timeout(s: c_int) -> SockResult<u32> {
    let mut ms = 0u32;
    // SAFETY: `ms` is a live u32 for the call.
    check(unsafe { port::at_w800_port_get_send_timeout(s, &mut ms) })?;
    Ok(ms)
}

/// `IP_ADD_MEMBERSHIP` on the interface with address `interface` (`0.0.0.0`: the
/// default netif).
pub fn join_multicast_v4(s: c_int, group: Ipv4Addr, interface: Ipv4Addr) -> SockResult<()> {
    let mreq = lwip::ip_mreq {
        imr_multiaddr: lwip::in_addr {
            s_addr: u32::from_ne_bytes(group.octets()),
        },
        imr_interface: lwip::in_addr {
            s_addr: u32::from_ne_bytes(interface.octets()),
        },
    };
    set_option(s, sys::IPPROTO_IP, sys::IP_ADD_MEMBERSHIP, &mreq)
}

/// `IPV6_ADD_MEMBERSHIP` (`IPV6_JOIN_GROUP`) on interface index `interface`.
pub fn join_multicast_v6(s: c_int, group: Ipv6Addr, interface: u32) -> SockResult<()> {
    let mreq = lwip::ipv6_mreq {
        ipv6mr_multiaddr: in6_from(&group),
        ipv6mr_interface: interface,
    };
    set_option(s, sys::IPPROTO_IPV6, sys::IPV6_ADD_MEMBERSHIP, &mreq)
}

/// `FIONREAD`: bytes `recv` would return now.
pub fn available(s: c_int) -> SockResult<usize> {
    let mut count: c_int = 0;
    // SAFETY: lwIP's FIONREAD stores one `int` through the pointer; `count` is live.
    check(unsafe { lwip::lwip_ioctl(s, sys::FIONREAD, (&mut count as *mut c_int).cast()) })?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// `lwip_getsockname`.
pub fn local_addr(s: c_int) -> SockResult<Option<SocketAddr>> {
    let mut raw = RawAddr::empty();
    let mut len = core::mem::size_of::<RawAddr>() as lwip::socklen_t;
    // SAFETY: `raw` is writable for `len` bytes, `len` is live.
    check(unsafe { lwip::lwip_getsockname(s, raw.as_mut_ptr(), &mut len) })?;
    Ok(raw.socket_addr())
}

/// `lwip_getpeername`.
pub fn peer_addr(s: c_int) -> SockResult<Option<SocketAddr>> {
    let mut raw = RawAddr::empty();
    let mut len = core::mem::size_of::<RawAddr>() as lwip::socklen_t;
    // SAFETY: as in `local_addr`.
    check(unsafe { lwip::lwip_getpeername(s, raw.as_mut_ptr(), &mut len) })?;
    Ok(raw.socket_addr())
}

/// `SO_ERROR`: the pending error of a socket (0: none), cleared by reading it.
pub fn take_error(s: c_int) -> SockResult<Option<SockError>> {
    let code = int_option(s, sys::SOL_SOCKET, sys::SO_ERROR)?;
    Ok((code != 0).then(|| SockError::from_code(code)))
}

/// `lwip_shutdown(SHUT_RDWR)`.
pub fn shutdown(s: c_int) -> SockResult<()> {
    // SAFETY: integers only.
    check(unsafe { lwip::lwip_shutdown(s, sys::SHUT_RDWR) }).map(drop)
}

/// `lwip_close`.
pub fn close(s: c_int) -> SockResult<()> {
    // SAFETY: integers only; the caller gives up `s`.
    check(unsafe { lwip::lwip_close(s) }).map(drop)
}

#[cfg(all(test, feature = "host-lwip"))]
mod tests {
    use super::lwip::{self, in6_addr, in_addr, ip_mreq, ipv6_mreq, linger, pollfd};
    use core::mem::{align_of, offset_of, size_of};
    use std::collections::BTreeMap;
    use std::ffi::{c_char, CStr};

    #[repr(C)]
    struct CheckValue {
        name: *const c_char,
        value: i64,
    }

    extern "C" {
        fn at_w800_check_values_posix(count: *mut usize) -> *const CheckValue;
        fn at_w800_check_values_native(count: *mut usize) -> *const CheckValue;
    }

    /// What c/check_values.c computed from the headers, by name.
    fn from_c(f: unsafe extern "C" fn(*mut usize) -> *const CheckValue) -> BTreeMap<String, i64> {
        let mut n = 0usize;
        // SAFETY: the C function returns a static array of `n` entries with static
        // NUL-terminated names.
        let entries = unsafe { std::slice::from_raw_parts(f(&mut n), n) };
        entries
            .iter()
            // SAFETY: as above.
            .map(|e| {
                (
                    unsafe { CStr::from_ptr(e.name) }
                        .to_str()
                        .unwrap()
                        .to_owned(),
                    e.value,
                )
            })
            .collect()
    }

    macro_rules! put {
        ($v:ident; $($c:ident),*) => { $( $v.insert(stringify!($c).into(), $c as i64); )* };
    }

    macro_rules! rust_values {
        ($m:ident) => {{
            use lwip::$m::*;
            let mut v: BTreeMap<String, i64> = BTreeMap::new();
            put!(v; AF_UNSPEC, AF_INET, AF_INET6, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, IPPROTO_IP,
                IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6, SOL_SOCKET, SO_REUSEADDR,
                SO_KEEPALIVE, SO_BROADCAST, SO_LINGER, SO_SNDTIMEO, SO_RCVTIMEO, SO_ERROR, SO_TYPE,
                TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, IP_MULTICAST_IF,
                IP_MULTICAST_LOOP, IP_ADD_MEMBERSHIP, IPV6_V6ONLY, IPV6_ADD_MEMBERSHIP, MSG_PEEK,
                MSG_DONTWAIT, MSG_NOSIGNAL, F_GETFL, F_SETFL, O_NONBLOCK, FIONREAD, SHUT_RDWR,
                POLLIN, POLLOUT, POLLERR, POLLNVAL, POLLHUP);
            let mut l = |k: &str, x: usize| {
                v.insert(k.into(), x as i64);
            };
            l("sizeof socklen_t", size_of::<lwip::socklen_t>());
            l("sizeof nfds_t", size_of::<nfds_t>());
            l("sizeof ssize_t", size_of::<lwip::ssize_t>());
            l("sizeof size_t", size_of::<lwip::size_t>());
            l("sizeof struct in_addr", size_of::<in_addr>());
            l("sizeof struct in6_addr", size_of::<in6_addr>());
            l("alignof struct in6_addr", align_of::<in6_addr>());
            l("sizeof struct sockaddr_in", size_of::<sockaddr_in>());
            l("offsetof struct sockaddr_in sin_family", offset_of!(sockaddr_in, sin_family));
            l("offsetof struct sockaddr_in sin_port", offset_of!(sockaddr_in, sin_port));
            l("offsetof struct sockaddr_in sin_addr", offset_of!(sockaddr_in, sin_addr));
            l("sizeof struct sockaddr_in6", size_of::<sockaddr_in6>());
            l("offsetof struct sockaddr_in6 sin6_family", offset_of!(sockaddr_in6, sin6_family));
            l("offsetof struct sockaddr_in6 sin6_port", offset_of!(sockaddr_in6, sin6_port));
            l("offsetof struct sockaddr_in6 sin6_flowinfo", offset_of!(sockaddr_in6, sin6_flowinfo));
            l("offsetof struct sockaddr_in6 sin6_addr", offset_of!(sockaddr_in6, sin6_addr));
            l("offsetof struct sockaddr_in6 sin6_scope_id", offset_of!(sockaddr_in6, sin6_scope_id));
            l("sizeof struct sockaddr_storage", size_of::<sockaddr_storage>());
            l("alignof struct sockaddr_storage", align_of::<sockaddr_storage>());
            l("sizeof struct pollfd", size_of::<pollfd>());
            l("offsetof struct pollfd events", offset_of!(pollfd, events));
            l("offsetof struct pollfd revents", offset_of!(pollfd, revents));
            l("sizeof struct linger", size_of::<linger>());
            l("offsetof struct linger l_linger", offset_of!(linger, l_linger));
            l("sizeof struct ip_mreq", size_of::<ip_mreq>());
            l("offsetof struct ip_mreq imr_interface", offset_of!(ip_mreq, imr_interface));
            l("sizeof struct ipv6_mreq", size_of::<ipv6_mreq>());
            l("offsetof struct ipv6_mreq ipv6mr_interface", offset_of!(ipv6_mreq, ipv6mr_interface));
            v
        }};
    }

    fn compare(config: &str, rust: BTreeMap<String, i64>, c: BTreeMap<String, i64>) {
        let mut wrong = Vec::new();
        for (name, cv) in &c {
            match rust.get(name) {
                Some(rv) if rv == cv => {}
                Some(rv) => wrong.push(format!("{name}: Rust {rv:#x}, header {cv:#x}")),
                None => wrong.push(format!("{name}: not in the Rust table")),
            }
        }
        for name in rust.keys().filter(|k| !c.contains_key(*k)) {
            wrong.push(format!("{name}: not checked against the header"));
        }
        assert!(wrong.is_empty(), "{config}: {wrong:#?}");
        assert!(c.len() >= 60, "{config}: only {} values checked", c.len());
    }

    #[test]
    fn native_values_match_the_headers() {
        compare(
            "native (lwIP's sockets.h)",
            rust_values!(native),
            from_c(at_w800_check_values_native),
        );
    }

    #[test]
    fn posix_values_match_the_headers() {
        compare(
            "posix (Debian's liblwip)",
            rust_values!(posix),
            from_c(at_w800_check_values_posix),
        );
    }
}
