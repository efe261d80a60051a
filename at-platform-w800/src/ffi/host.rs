//! The host bring-up glue (`c/host_lwip.c`, feature `host-lwip` only): starts Debian's
//! lwIP on a TAP device inside a network namespace. Checked against the C file by
//! build.rs like the other declarations.

#![allow(missing_docs)]

use core::ffi::{c_char, c_int};

extern "C" {
    pub fn at_w800_host_enter_netns(path: *const c_char) -> c_int;
    pub fn at_w800_host_lwip_up(tap: *const c_char, ip: u32, mask: u32, gw: u32) -> c_int;
    pub fn at_w800_host_lwip_mac(mac: *mut u8) -> c_int;
    pub fn at_w800_host_lwip_ip6_link_local(addr: *mut u8) -> c_int;
}

extern "C" {
    pub fn at_w800_host_delete_netns_at_exit(name: *const c_char) -> c_int;
}

/// Safe wrappers over the glue.
pub mod safe {
    use std::ffi::CString;

    /// Moves the calling thread into the network namespace at `path`.
    pub fn enter_netns(path: &str) -> Result<(), String> {
        let p = CString::new(path).map_err(|e| e.to_string())?;
        // SAFETY: `p` is a NUL-terminated string alive for the call.
        match unsafe { super::at_w800_host_enter_netns(p.as_ptr()) } {
            0 => Ok(()),
            _ => Err(format!(
                "setns({path}): {}",
                std::io::Error::last_os_error()
            )),
        }
    }

    /// Starts lwIP on `tap` (once per process): `Ok(true)` if this call started it.
    pub fn lwip_up(tap: &str, ip: [u8; 4], mask: [u8; 4], gw: [u8; 4]) -> Result<bool, String> {
        let t = CString::new(tap).map_err(|e| e.to_string())?;
        let n = u32::from_ne_bytes;
        // SAFETY: `t` is NUL-terminated and alive for the call; the rest are integers.
        match unsafe { super::at_w800_host_lwip_up(t.as_ptr(), n(ip), n(mask), n(gw)) } {
            0 => Ok(true),
            1 => Ok(false),
            e => Err(format!("lwIP bring-up on {tap} failed ({e})")),
        }
    }

    /// The netif's MAC address.
    pub fn mac() -> Option<[u8; 6]> {
        let mut mac = [0u8; 6];
        // SAFETY: 6 writable bytes.
        (unsafe { super::at_w800_host_lwip_mac(mac.as_mut_ptr()) } == 0).then_some(mac)
    }

    /// The netif's link-local IPv6 address.
    pub fn ip6_link_local() -> Option<std::net::Ipv6Addr> {
        let mut a = [0u8; 16];
        // SAFETY: 16 writable bytes.
        (unsafe { super::at_w800_host_lwip_ip6_link_local(a.as_mut_ptr()) } == 0)
            .then(|| std::net::Ipv6Addr::from(a))
    }

    /// Deletes the namespace `name` when the process exits.
    pub fn delete_netns_at_exit(name: &str) -> Result<(), String> {
        let n = CString::new(name).map_err(|e| e.to_string())?;
        // SAFETY: `n` is NUL-terminated; the glue copies it.
        match unsafe { super::at_w800_host_delete_netns_at_exit(n.as_ptr()) } {
            0 => Ok(()),
            _ => Err("atexit failed".into()),
        }
    }
}
