//! The port shim (`include/at_w800_port.h`, `c/at_w800_port.c`): what the Rust side
//! needs from the firmware beyond lwIP's socket functions, implemented in C against the
//! firmware's own headers because it depends on the C library's configuration (`errno`,
//! `struct timeval`). The host build compiles the same C file against Debian's lwIP and
//! checks these declarations against the header like those of [`super::lwip`].

#![allow(missing_docs)]

use core::ffi::c_int;

use super::lwip::size_t;

/// `AT_W800_ERR_NONE`: no error.
pub const ERR_NONE: c_int = 0;
/// `AT_W800_ERR_WOULD_BLOCK`: `EWOULDBLOCK`, `EAGAIN`.
pub const ERR_WOULD_BLOCK: c_int = 1;
/// `AT_W800_ERR_IN_PROGRESS`: `EINPROGRESS`, `EALREADY`.
pub const ERR_IN_PROGRESS: c_int = 2;
/// `AT_W800_ERR_IS_CONNECTED`: `EISCONN`.
pub const ERR_IS_CONNECTED: c_int = 3;
/// `AT_W800_ERR_CONN_LOST`: `ECONNRESET`, `ECONNABORTED`, `ENOTCONN`, `EPIPE`.
pub const ERR_CONN_LOST: c_int = 4;
/// `AT_W800_ERR_REFUSED`: `ECONNREFUSED`.
pub const ERR_REFUSED: c_int = 5;
/// `AT_W800_ERR_OTHER`: anything else.
pub const ERR_OTHER: c_int = 6;

// Checked against include/at_w800_port.h by build.rs (host-lwip).
extern "C" {
    pub fn at_w800_port_errno() -> c_int;
    pub fn at_w800_port_errno_kind(code: c_int) -> c_int;
    pub fn at_w800_port_set_send_timeout(s: c_int, ms: u32) -> c_int;
    pub fn at_w800_port_get_send_timeout(s: c_int, ms: *mut u32) -> c_int;
    pub fn at_w800_port_random() -> u32;
    pub fn at_w800_port_wifi_join(
        ssid: *const u8,
        ssid_len: size_t,
        password: *const u8,
        password_len: size_t,
        bssid: *const u8,
    ) -> c_int;
    pub fn at_w800_port_wifi_join_state() -> c_int;
    pub fn at_w800_port_wifi_leave();
    pub fn at_w800_port_wifi_scan(index: u32, ap: *mut PortAp) -> c_int;
    pub fn at_w800_port_wifi_joined(ap: *mut PortAp) -> c_int;
    pub fn at_w800_port_wifi_ipv4(ip: *mut u32, gateway: *mut u32, netmask: *mut u32) -> c_int;
    pub fn at_w800_port_wifi_mac(mac: *mut u8);
    pub fn at_w800_port_wifi_take_disconnect() -> c_int;
}

/// `at_w800_port_ap_t`: an access point, all bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PortAp {
    pub ssid_len: u8,
    pub ssid: [u8; 32],
    pub bssid: [u8; 6],
    pub channel: u8,
    pub rssi: i8,
    pub encryption: u8,
}

const _: () = assert!(core::mem::size_of::<PortAp>() == 42);

/// `AT_W800_WIFI_IDLE`.
pub const WIFI_IDLE: c_int = 0;
/// `AT_W800_WIFI_JOINING`.
pub const WIFI_JOINING: c_int = 1;
/// `AT_W800_WIFI_GOT_IP`.
pub const WIFI_GOT_IP: c_int = 2;
/// `AT_W800_WIFI_TIMEOUT`.
pub const WIFI_TIMEOUT: c_int = 3;
/// `AT_W800_WIFI_WRONG_PASSWORD`.
pub const WIFI_WRONG_PASSWORD: c_int = 4;
/// `AT_W800_WIFI_NO_AP`.
pub const WIFI_NO_AP: c_int = 5;
/// `AT_W800_WIFI_FAILED`.
pub const WIFI_FAILED: c_int = 6;
