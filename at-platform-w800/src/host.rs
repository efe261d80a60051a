//! Real lwIP on the host (feature `host-lwip`): Debian's `liblwip` on a TAP device
//! inside a network namespace made for this process, with Linux on the other side.
//!
//! ```text
//!   this process, in namespace atw800-<pid>
//!   +---------------------------+          +------------------------------+
//!   | engine -> LwipStack       |          | Linux sockets of the tests   |
//!   |   lwIP 192.168.77.2/24    |  <-tap->  |   tap device 192.168.77.1/24 |
//!   +---------------------------+          +------------------------------+
//! ```
//!
//! [`start`] (once per process) deletes namespaces left behind by processes that are
//! gone, creates `atw800-<pid>` with `ip netns add`, a TAP device `atw800tap0` in it
//! (`ip -n NS tuntap add`) carrying [`LINUX_IP`], moves the calling thread into the
//! namespace and starts lwIP's tcpip thread and netif on the device with [`LWIP_IP`]
//! (through `c/host_lwip.c`). Every thread that opens Linux sockets for a test calls
//! [`enter`] first, so those sockets live in the namespace too. No route leads out of
//! the namespace: nothing the tests send can leave it. The namespace is deleted when the
//! process exits.
//!
//! Needs root (or `CAP_SYS_ADMIN` + `CAP_NET_ADMIN`), `/dev/net/tun` and iproute2.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::OnceLock;

use at_core::net::Ipv4Config;

use crate::ffi::host::safe;

/// lwIP's address.
pub const LWIP_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
/// The Linux side's address (the tap device's).
pub const LINUX_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
/// The netmask of both.
pub const NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);
/// MTU of the Linux side of the TAP device (see [`start`]'s notes in the source).
pub const TAP_MTU: u32 = 576;
/// The TAP device's name.
pub const TAP: &str = "atw800tap0";

/// The namespace and lwIP's netif, once started.
#[derive(Clone, Debug)]
pub struct HostLwip {
    /// The namespace's name.
    pub netns: String,
    /// lwIP's IPv4 settings, as a station reports them.
    pub ipv4: Ipv4Config,
    /// lwIP's link-local IPv6 address.
    pub ipv6_link_local: Option<Ipv6Addr>,
    /// lwIP's MAC address.
    pub mac: [u8; 6],
}

static STARTED: OnceLock<Result<HostLwip, String>> = OnceLock::new();

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e} (is iproute2 installed?)", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Deletes `atw800-<pid>` namespaces whose process is gone.
fn delete_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if let Some(pid) = name.strip_prefix("atw800-") {
            if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
}

fn bring_up() -> Result<HostLwip, String> {
    delete_stale_namespaces();
    let netns = format!("atw800-{}", std::process::id());
    ip(&["netns", "add", &netns])?;
    safe::delete_netns_at_exit(&netns)?;
    ip(&["-n", &netns, "link", "set", "lo", "up"])?;
    ip(&["-n", &netns, "tuntap", "add", "dev", TAP, "mode", "tap"])?;
    ip(&[
        "-n",
        &netns,
        "addr",
        "add",
        &format!("{LINUX_IP}/24"),
        "dev",
        TAP,
    ])?;
    // Frames of at most 590 bytes: Debian's liblwip 2.1.3 overruns a 592-byte pool pbuf
    // when its tapif receives a longer frame (valgrind: invalid writes in pbuf_take
    // from tapif's thread). With an MTU of 576 Linux sends TCP segments of 536 bytes.
    ip(&[
        "-n",
        &netns,
        "link",
        "set",
        TAP,
        "mtu",
        &TAP_MTU.to_string(),
        "up",
    ])?;
    // Multicast from the Linux side leaves by the tap (there is no other route).
    ip(&["-n", &netns, "route", "add", "224.0.0.0/4", "dev", TAP])?;
    safe::enter_netns(&format!("/var/run/netns/{netns}"))?;
    safe::lwip_up(TAP, LWIP_IP.octets(), NETMASK.octets(), LINUX_IP.octets())?;
    Ok(HostLwip {
        netns,
        ipv4: Ipv4Config {
            ip: LWIP_IP,
            gateway: LINUX_IP,
            netmask: NETMASK,
        },
        ipv6_link_local: safe::ip6_link_local(),
        mac: safe::mac().ok_or("no netif")?,
    })
}

/// Starts lwIP in its namespace (once per process) and moves the calling thread into
/// the namespace.
pub fn start() -> Result<&'static HostLwip, String> {
    let started = STARTED
        .get_or_init(bring_up)
        .as_ref()
        .map_err(Clone::clone)?;
    enter()?;
    Ok(started)
}

/// Moves the calling thread into the namespace of [`start`].
pub fn enter() -> Result<(), String> {
    match STARTED.get() {
        Some(Ok(h)) => safe::enter_netns(&format!("/var/run/netns/{}", h.netns)),
        Some(Err(e)) => Err(e.clone()),
        None => Err("host lwIP not started".into()),
    }
}
