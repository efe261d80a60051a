//! The W800 SDK's NVS key/value API (`wm_nvs_*`), W800 target only.
//!
//! The SDK is not on the machines that build and test this crate, so CI cannot check
//! these declarations. `scripts/w800.sh sdk-check SDK_DIR` does, against a WM IoT SDK
//! checkout: the build script turns the `extern` block below into `_Static_assert`s
//! (`protos_sdk.h`) and the script compiles them with the SDK's `wm_nvs.h`. They were
//! written from and checked against WM IoT SDK v2.4-rc (`wm_nvs_handle_t` is `void *`,
//! `wm_nvs_open_mode_t` an enum GCC represents as `unsigned int`, error codes from
//! `WM_NVS_ERR_BASE` = -20000 down). The Wi-Fi station goes through the port shim
//! ([`super::port`], `c/at_w800_port_wifi.c`), compiled with the SDK's own headers.

#![allow(missing_docs, non_camel_case_types)]

use core::ffi::{c_char, c_int, c_uint, c_void, CStr};

use super::lwip::size_t;

/// `wm_nvs_handle_t`.
pub type wm_nvs_handle_t = *mut c_void;

/// `WM_NVS_OP_READ_WRITE` of `wm_nvs_open_mode_t` (an enum without negative values,
/// which GCC represents as `unsigned int`).
pub const WM_NVS_OP_READ_WRITE: c_uint = 1;
/// `WM_NVS_ERR_OK`.
pub const WM_NVS_ERR_OK: c_int = 0;
/// `WM_NVS_ERR_NOT_FOUND`.
pub const WM_NVS_ERR_NOT_FOUND: c_int = -20000 - 6;
/// `WM_NVS_MAX_KEY_LEN`.
pub const WM_NVS_MAX_KEY_LEN: usize = 15;

extern "C" {
    pub fn wm_nvs_open(
        partition_name: *const c_char,
        group_name: *const c_char,
        mode: c_uint,
        handle: *mut wm_nvs_handle_t,
    ) -> c_int;
    pub fn wm_nvs_get_binary(
        handle: wm_nvs_handle_t,
        key: *const c_char,
        data: *mut c_void,
        data_len: *mut size_t,
    ) -> c_int;
    pub fn wm_nvs_set_binary(
        handle: wm_nvs_handle_t,
        key: *const c_char,
        data: *const c_void,
        data_len: size_t,
    ) -> c_int;
    pub fn wm_nvs_del_key(handle: wm_nvs_handle_t, key: *const c_char) -> c_int;
    pub fn wm_nvs_del_group(handle: wm_nvs_handle_t) -> c_int;
}

/// A key as a NUL-terminated C string; `None` if longer than NVS allows.
fn c_key(key: &str) -> Option<[u8; WM_NVS_MAX_KEY_LEN + 1]> {
    let mut k = [0u8; WM_NVS_MAX_KEY_LEN + 1];
    if key.len() > WM_NVS_MAX_KEY_LEN || key.bytes().any(|b| b == 0) {
        return None;
    }
    k[..key.len()].copy_from_slice(key.as_bytes());
    Some(k)
}

/// An open NVS group (`wm_nvs_open` on the default partition `"nvs"`).
#[derive(Debug)]
pub struct Nvs {
    handle: wm_nvs_handle_t,
}

/// An NVS error code (`WM_NVS_ERR_*`), or -1 for a key NVS cannot hold.
pub type NvsCode = c_int;

impl Nvs {
    /// Opens `group` read-write.
    pub fn open(group: &'static CStr) -> Result<Self, NvsCode> {
        let mut handle: wm_nvs_handle_t = core::ptr::null_mut();
        // SAFETY: the partition and group are NUL-terminated static strings, `handle` is
        // a live out-pointer.
        let r = unsafe {
            wm_nvs_open(
                c"nvs".as_ptr(),
                group.as_ptr().cast(),
                WM_NVS_OP_READ_WRITE,
                &mut handle,
            )
        };
        if r == WM_NVS_ERR_OK {
            Ok(Nvs { handle })
        } else {
            Err(r)
        }
    }

    /// Reads `key` into `buf`: `Ok(None)` if missing.
    pub fn get(&mut self, key: &str, buf: &mut [u8]) -> Result<Option<usize>, NvsCode> {
        let k = c_key(key).ok_or(-1)?;
        let mut len: size_t = buf.len();
        // SAFETY: `k` is NUL-terminated, `buf` writable for `len` bytes, `len` live.
        let r = unsafe {
            wm_nvs_get_binary(
                self.handle,
                k.as_ptr().cast(),
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        };
        match r {
            WM_NVS_ERR_OK => Ok(Some(len.min(buf.len()))),
            WM_NVS_ERR_NOT_FOUND => Ok(None),
            e => Err(e),
        }
    }

    /// Stores `value` under `key`.
    pub fn set(&mut self, key: &str, value: &[u8]) -> Result<(), NvsCode> {
        let k = c_key(key).ok_or(-1)?;
        // SAFETY: `k` is NUL-terminated, `value` readable for its length.
        let r = unsafe {
            wm_nvs_set_binary(
                self.handle,
                k.as_ptr().cast(),
                value.as_ptr().cast(),
                value.len(),
            )
        };
        if r == WM_NVS_ERR_OK {
            Ok(())
        } else {
            Err(r)
        }
    }

    /// Removes `key`; a missing key is not an error.
    pub fn remove(&mut self, key: &str) -> Result<(), NvsCode> {
        let k = c_key(key).ok_or(-1)?;
        // SAFETY: `k` is NUL-terminated.
        match unsafe { wm_nvs_del_key(self.handle, k.as_ptr().cast()) } {
            WM_NVS_ERR_OK | WM_NVS_ERR_NOT_FOUND => Ok(()),
            e => Err(e),
        }
    }

    /// Removes every key of the group.
    pub fn clear(&mut self) -> Result<(), NvsCode> {
        // SAFETY: the handle came from wm_nvs_open.
        match unsafe { wm_nvs_del_group(self.handle) } {
            WM_NVS_ERR_OK | WM_NVS_ERR_NOT_FOUND => Ok(()),
            e => Err(e),
        }
    }
}

/// Safe wrappers over the port shim's Wi-Fi station (`at_w800_port_wifi_*`).
pub mod wifi {
    use core::ffi::c_int;

    use super::super::port::{self, PortAp};

    /// Starts joining; `false` if the SDK refused to start.
    pub fn join(ssid: &[u8], password: &[u8], bssid: Option<&[u8; 6]>) -> bool {
        let bssid = bssid.map_or(core::ptr::null(), |b| b.as_ptr());
        // SAFETY: the slices are readable for their lengths, `bssid` is null or 6 bytes.
        unsafe {
            port::at_w800_port_wifi_join(
                ssid.as_ptr(),
                ssid.len(),
                password.as_ptr(),
                password.len(),
                bssid,
            ) == 0
        }
    }

    /// `AT_W800_WIFI_*` of the last join.
    pub fn join_state() -> c_int {
        // SAFETY: no arguments.
        unsafe { port::at_w800_port_wifi_join_state() }
    }

    /// Leaves the access point.
    pub fn leave() {
        // SAFETY: no arguments.
        unsafe { port::at_w800_port_wifi_leave() }
    }

    /// The `index`th access point of a scan.
    pub fn scan(index: u32) -> Option<PortAp> {
        let mut ap = PortAp::default();
        // SAFETY: `ap` is a live, writable at_w800_port_ap_t.
        (unsafe { port::at_w800_port_wifi_scan(index, &mut ap) } == 1).then_some(ap)
    }

    /// The joined access point.
    pub fn joined() -> Option<PortAp> {
        let mut ap = PortAp::default();
        // SAFETY: as in `scan`.
        (unsafe { port::at_w800_port_wifi_joined(&mut ap) } == 1).then_some(ap)
    }

    /// IPv4 address, gateway, netmask (network byte order).
    pub fn ipv4() -> Option<[u32; 3]> {
        let mut v = [0u32; 3];
        let [ip, gw, mask] = &mut v;
        // SAFETY: three live, distinct u32 out-pointers.
        let has = unsafe { port::at_w800_port_wifi_ipv4(ip, gw, mask) } == 1;
        has.then_some(v)
    }

    /// The MAC address.
    pub fn mac() -> [u8; 6] {
        let mut mac = [0u8; 6];
        // SAFETY: 6 writable bytes.
        unsafe { port::at_w800_port_wifi_mac(mac.as_mut_ptr()) };
        mac
    }

    /// Whether the link was lost since the last call.
    pub fn take_disconnect() -> bool {
        // SAFETY: no arguments.
        unsafe { port::at_w800_port_wifi_take_disconnect() == 1 }
    }
}
