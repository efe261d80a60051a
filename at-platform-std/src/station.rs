//! [`EmulatedStation`]: the Wi-Fi station of the emulated module
//! ([`at_core::net::Station`]). It owns the access points the user lists on the command
//! line (`--ap SSID[:PASSWORD]`, parsed by [`parse_ap`]), which one is joined, and the
//! station's addresses, which are those of the host ([`HostInterface`]).
//!
//! The radio is make-believe but stable: each access point's BSSID, channel and signal
//! strength are derived from its SSID alone (an FNV-1a hash), so they are the same on
//! every run and every machine. An access point with a password is `WPA2_PSK` (3), one
//! without is open (0).
//!
//! Joining succeeds at once when the SSID (and the BSSID, if given) names a configured
//! access point and the password matches; an open access point takes any password. The
//! addresses come from the host's first non-loopback interface that is up and has an
//! IPv4 address, read once when the station is made.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use at_core::net::{nb, AccessPoint, Ipv4Config, JoinError, Station, StationEvent, SSID_MAX};
use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

/// Encryption code of an access point without a password (open).
pub const ENCRYPTION_OPEN: u8 = 0;

/// Encryption code of an access point with a password (`WPA2_PSK`).
pub const ENCRYPTION_WPA2_PSK: u8 = 3;

/// MAC address reported when the host interface has none: locally administered,
/// unicast.
pub const FALLBACK_MAC: [u8; 6] = [0x02, 0x57, 0x38, 0x30, 0x30, 0x01];

/// An access point as given on the command line: `SSID` (open) or `SSID:PASSWORD`
/// (WPA2). Build it with [`parse_ap`] or [`ApSpec::new`], which check it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApSpec {
    ssid: String,
    password: Option<String>,
}

impl ApSpec {
    /// An access point named `ssid` (1 to 32 bytes), open when `password` is `None`,
    /// else WPA2 with that password (8 to 63 printable ASCII characters, or 64
    /// hexadecimal digits, as WPA2 requires).
    pub fn new(ssid: &str, password: Option<&str>) -> Result<ApSpec, String> {
        if ssid.is_empty() {
            return Err("empty SSID".into());
        }
        if ssid.len() > SSID_MAX {
            return Err(format!(
                "SSID {ssid:?} is {} bytes long; at most {SSID_MAX} are allowed",
                ssid.len()
            ));
        }
        if let Some(p) = password {
            let passphrase =
                (8..=63).contains(&p.len()) && p.bytes().all(|b| (0x20..=0x7e).contains(&b));
            let hex_key = p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit());
            if !passphrase && !hex_key {
                return Err(format!(
                    "password of {ssid:?} must be 8 to 63 printable ASCII characters \
                     or 64 hexadecimal digits"
                ));
            }
        }
        Ok(ApSpec {
            ssid: ssid.to_owned(),
            password: password.map(str::to_owned),
        })
    }

    /// The SSID.
    pub fn ssid(&self) -> &str {
        &self.ssid
    }

    /// The password, `None` for an open access point.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }
}

/// Shows the password as `***` only.
impl fmt::Debug for ApSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApSpec")
            .field("ssid", &self.ssid)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl FromStr for ApSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_ap(s)
    }
}

/// Parses `--ap`'s value, `SSID[:PASSWORD]`. The SSID ends at the first `:`, so it
/// cannot contain one; the password may. See [`ApSpec::new`] for the rules.
pub fn parse_ap(spec: &str) -> Result<ApSpec, String> {
    match spec.split_once(':') {
        Some((ssid, password)) => ApSpec::new(ssid, Some(password)),
        None => ApSpec::new(spec, None),
    }
}

/// The host's network interface whose addresses the station reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInterface {
    /// Interface name (`lo` for the fallback).
    pub name: String,
    /// IPv4 address, netmask and default gateway (`0.0.0.0` when there is none).
    pub ipv4: Ipv4Config,
    /// IPv6 link-local address (`fe80::/10`); `::1` for the fallback.
    pub ipv6_link_local: Option<Ipv6Addr>,
    /// First other unicast IPv6 address (global or unique-local).
    pub ipv6_global: Option<Ipv6Addr>,
    /// Link-layer address, or [`FALLBACK_MAC`].
    pub mac: [u8; 6],
}

impl HostInterface {
    /// The first non-loopback interface that is up and has an IPv4 address
    /// (`getifaddrs` order), with its gateway from `/proc/net/route`; the
    /// [`HostInterface::loopback`] fallback when there is none or the interfaces
    /// cannot be listed.
    pub fn detect() -> HostInterface {
        let Ok(addrs) = getifaddrs() else {
            return HostInterface::loopback();
        };
        let addrs: Vec<_> = addrs.collect();
        let usable = |a: &&nix::ifaddrs::InterfaceAddress| {
            a.flags.contains(InterfaceFlags::IFF_UP)
                && !a.flags.contains(InterfaceFlags::IFF_LOOPBACK)
        };
        let Some((name, ip, netmask)) = addrs.iter().filter(usable).find_map(|a| {
            let ip = a.address.as_ref()?.as_sockaddr_in()?.ip();
            let netmask = a
                .netmask
                .as_ref()
                .and_then(|m| m.as_sockaddr_in())
                .map_or(Ipv4Addr::UNSPECIFIED, nix::sys::socket::SockaddrIn::ip);
            Some((a.interface_name.clone(), ip, netmask))
        }) else {
            return HostInterface::loopback();
        };
        let same = addrs.iter().filter(|a| a.interface_name == name);
        let v6: Vec<Ipv6Addr> = same
            .clone()
            .filter_map(|a| Some(a.address.as_ref()?.as_sockaddr_in6()?.ip()))
            .collect();
        let mac = same
            .filter_map(|a| a.address.as_ref()?.as_link_addr()?.addr())
            .find(|m| *m != [0; 6])
            .unwrap_or(FALLBACK_MAC);
        let gateway = std::fs::read_to_string("/proc/net/route")
            .ok()
            .and_then(|table| default_gateway(&table, &name))
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        HostInterface {
            ipv4: Ipv4Config {
                ip,
                gateway,
                netmask,
            },
            ipv6_link_local: v6.iter().copied().find(is_link_local),
            ipv6_global: v6.iter().copied().find(|a| {
                !is_link_local(a) && !a.is_loopback() && !a.is_unspecified() && !a.is_multicast()
            }),
            mac,
            name,
        }
    }

    /// The fallback: `lo`, 127.0.0.1/255.0.0.0 without a gateway, `::1` as the
    /// link-local address, no global IPv6 address, [`FALLBACK_MAC`].
    pub fn loopback() -> HostInterface {
        HostInterface {
            name: "lo".into(),
            ipv4: Ipv4Config {
                ip: Ipv4Addr::LOCALHOST,
                gateway: Ipv4Addr::UNSPECIFIED,
                netmask: Ipv4Addr::new(255, 0, 0, 0),
            },
            ipv6_link_local: Some(Ipv6Addr::LOCALHOST),
            ipv6_global: None,
            mac: FALLBACK_MAC,
        }
    }
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The default route's gateway of `iface` in a `/proc/net/route` table (addresses are
/// hexadecimal in host byte order there).
fn default_gateway(table: &str, iface: &str) -> Option<Ipv4Addr> {
    const RTF_UP: u32 = 0x1;
    const RTF_GATEWAY: u32 = 0x2;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (name, dest, gateway, flags) = (
            *fields.first()?,
            *fields.get(1)?,
            *fields.get(2)?,
            *fields.get(3)?,
        );
        let flags = u32::from_str_radix(flags, 16).ok()?;
        let wanted = name == iface
            && u32::from_str_radix(dest, 16).ok()? == 0
            && flags & (RTF_UP | RTF_GATEWAY) == RTF_UP | RTF_GATEWAY;
        if !wanted {
            return None;
        }
        let gateway = u32::from_str_radix(gateway, 16).ok()?;
        Some(Ipv4Addr::from(gateway.to_ne_bytes()))
    })
}

/// 64-bit FNV-1a: a hash that, unlike `std`'s, is fixed forever.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The access point an [`ApSpec`] stands for, with its derived radio figures.
fn access_point(spec: &ApSpec) -> AccessPoint {
    let ssid = spec.ssid.as_bytes();
    let h = fnv1a(ssid).to_be_bytes();
    let mut bssid = [h[0], h[1], h[2], h[3], h[4], h[5]];
    // Locally administered, unicast.
    bssid[0] = (bssid[0] | 0x02) & !0x01;
    let mut ap = AccessPoint {
        ssid: Default::default(),
        bssid,
        channel: 1 + h[6] % 13,
        rssi: -40 - i8::try_from(h[7] % 31).unwrap_or(0),
        encryption: if spec.password.is_some() {
            ENCRYPTION_WPA2_PSK
        } else {
            ENCRYPTION_OPEN
        },
    };
    // ApSpec::new limits SSIDs to SSID_MAX bytes, so this takes it whole.
    let _ = ap.ssid.extend_from_slice(&ssid[..ssid.len().min(SSID_MAX)]);
    ap
}

/// The emulated Wi-Fi station. See the module documentation.
#[derive(Debug)]
pub struct EmulatedStation {
    /// Access points with their passwords, strongest first.
    aps: Vec<(AccessPoint, Option<String>)>,
    host: HostInterface,
    /// Index in `aps` of the access point joined.
    joined: Option<usize>,
    event: Option<StationEvent>,
}

impl EmulatedStation {
    /// A station that sees `aps` and reports the host's addresses
    /// ([`HostInterface::detect`]). Of several access points with the same SSID, the
    /// first is kept.
    pub fn new(aps: Vec<ApSpec>) -> EmulatedStation {
        EmulatedStation::with_host(aps, HostInterface::detect())
    }

    /// As [`EmulatedStation::new`], with the given host addresses.
    pub fn with_host(aps: Vec<ApSpec>, host: HostInterface) -> EmulatedStation {
        let mut list: Vec<(AccessPoint, Option<String>)> = Vec::with_capacity(aps.len());
        for spec in aps {
            if list
                .iter()
                .all(|(ap, _)| ap.ssid.as_slice() != spec.ssid.as_bytes())
            {
                list.push((access_point(&spec), spec.password));
            }
        }
        // Stable: equally strong access points keep the command line's order.
        list.sort_by_key(|(ap, _)| core::cmp::Reverse(ap.rssi));
        EmulatedStation {
            aps: list,
            host,
            joined: None,
            event: None,
        }
    }

    /// The host interface whose addresses the station reports.
    pub fn host(&self) -> &HostInterface {
        &self.host
    }

    /// Simulates losing the access point: when joined, the station leaves it and
    /// [`Station::poll_event`] reports [`StationEvent::Disconnected`] once. Nothing
    /// happens when not joined.
    pub fn drop_link(&mut self) {
        if self.joined.take().is_some() {
            self.event = Some(StationEvent::Disconnected);
        }
    }
}

impl Station for EmulatedStation {
    /// Completes at once: [`JoinError::NoAccessPoint`] when no configured access point
    /// has that SSID (and BSSID, if given), [`JoinError::WrongPassword`] when it has a
    /// password that differs; otherwise joined (leaving any other first). An open
    /// access point takes any password.
    fn join(
        &mut self,
        ssid: &[u8],
        password: &[u8],
        bssid: Option<[u8; 6]>,
    ) -> nb::Result<(), JoinError> {
        let found = self
            .aps
            .iter()
            .position(|(ap, _)| ap.ssid.as_slice() == ssid && bssid.is_none_or(|b| b == ap.bssid));
        let Some(index) = found else {
            return Err(nb::Error::Other(JoinError::NoAccessPoint));
        };
        if let (_, Some(expected)) = &self.aps[index] {
            if expected.as_bytes() != password {
                return Err(nb::Error::Other(JoinError::WrongPassword));
            }
        }
        self.joined = Some(index);
        Ok(())
    }

    fn leave(&mut self) {
        self.joined = None;
    }

    /// The configured access points, strongest first.
    fn scan(&mut self, index: usize) -> Option<AccessPoint> {
        self.aps.get(index).map(|(ap, _)| ap.clone())
    }

    fn joined(&self) -> Option<AccessPoint> {
        self.joined
            .and_then(|i| self.aps.get(i))
            .map(|(ap, _)| ap.clone())
    }

    /// The host interface's IPv4 settings while joined.
    fn ipv4(&self) -> Option<Ipv4Config> {
        self.joined.map(|_| self.host.ipv4)
    }

    fn ipv6_link_local(&self) -> Option<Ipv6Addr> {
        self.joined.and(self.host.ipv6_link_local)
    }

    fn ipv6_global(&self) -> Option<Ipv6Addr> {
        self.joined.and(self.host.ipv6_global)
    }

    fn mac(&self) -> [u8; 6] {
        self.host.mac
    }

    /// Only [`EmulatedStation::drop_link`] causes events.
    fn poll_event(&mut self) -> Option<StationEvent> {
        self.event.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aps(specs: &[&str]) -> Vec<ApSpec> {
        specs.iter().map(|s| parse_ap(s).unwrap()).collect()
    }

    fn station(specs: &[&str]) -> EmulatedStation {
        EmulatedStation::with_host(aps(specs), HostInterface::loopback())
    }

    fn all_scanned(st: &mut EmulatedStation) -> Vec<AccessPoint> {
        (0..).map_while(|i| st.scan(i)).collect()
    }

    #[test]
    fn parse_ap_accepts_and_rejects() {
        let open = parse_ap("CoffeeShop").unwrap();
        assert_eq!((open.ssid(), open.password()), ("CoffeeShop", None));
        let wpa = parse_ap("home:secret123").unwrap();
        assert_eq!((wpa.ssid(), wpa.password()), ("home", Some("secret123")));
        // Only the first colon separates.
        let colon = parse_ap("lab:pa:ss:word").unwrap();
        assert_eq!(
            (colon.ssid(), colon.password()),
            ("lab", Some("pa:ss:word"))
        );
        assert!(
            parse_ap(&format!("x:{}", "ab".repeat(32))).is_ok(),
            "64 hex digits"
        );
        assert_eq!("home:secret123".parse::<ApSpec>(), Ok(wpa));
        let ssid32 = "s".repeat(32);
        assert!(parse_ap(&ssid32).is_ok());

        for bad in [
            "",
            ":password1",
            "home:",
            "home:short",
            &"s".repeat(33),
            &format!("x:{}", "p".repeat(64)),
            "x:bad\tpassword",
        ] {
            assert!(parse_ap(bad).is_err(), "{bad:?} accepted");
        }
        assert!(!format!("{:?}", parse_ap("home:secret123").unwrap()).contains("secret"));
    }

    #[test]
    fn radio_figures_are_derived_and_stable() {
        let mut st = station(&["alpha", "beta:password1", "gamma", "delta", "epsilon"]);
        let mut again = station(&["epsilon", "delta", "gamma", "beta:password1", "alpha"]);
        let list = all_scanned(&mut st);
        assert_eq!(list.len(), 5);
        for ap in &list {
            assert_eq!(ap.bssid[0] & 0x02, 0x02, "locally administered");
            assert_eq!(ap.bssid[0] & 0x01, 0, "unicast");
            assert!((1..=13).contains(&ap.channel), "{ap:?}");
            assert!((-70..=-40).contains(&ap.rssi), "{ap:?}");
            let same = all_scanned(&mut again)
                .into_iter()
                .find(|b| b.ssid == ap.ssid)
                .unwrap();
            assert_eq!(&same, ap, "same figures whatever the order given");
        }
        let enc = |name: &[u8]| {
            list.iter()
                .find(|a| a.ssid.as_slice() == name)
                .unwrap()
                .encryption
        };
        assert_eq!(enc(b"alpha"), ENCRYPTION_OPEN);
        assert_eq!(enc(b"beta"), ENCRYPTION_WPA2_PSK);
        // Pinned values: the derivation must not change between releases.
        let alpha = list.iter().find(|a| a.ssid.as_slice() == b"alpha").unwrap();
        let h = fnv1a(b"alpha").to_be_bytes();
        assert_eq!(alpha.bssid[1..], h[1..6]);
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn scan_is_strongest_first_and_ends() {
        let mut st = station(&["alpha", "beta", "gamma", "delta", "alpha:password1"]);
        let list = all_scanned(&mut st);
        assert_eq!(list.len(), 4, "duplicate SSID dropped");
        assert!(list.windows(2).all(|w| w[0].rssi >= w[1].rssi), "{list:?}");
        assert_eq!(
            list.iter()
                .find(|a| a.ssid.as_slice() == b"alpha")
                .unwrap()
                .encryption,
            0
        );
        assert_eq!(st.scan(4), None);
        assert_eq!(station(&[]).scan(0), None);
    }

    #[test]
    fn join_checks_ssid_bssid_and_password() {
        let mut st = station(&["home:secret123", "cafe"]);
        assert_eq!(st.ipv4(), None);
        assert_eq!(
            st.join(b"nowhere", b"", None),
            Err(nb::Error::Other(JoinError::NoAccessPoint))
        );
        assert_eq!(
            st.join(b"home", b"secret124", None),
            Err(nb::Error::Other(JoinError::WrongPassword))
        );
        assert_eq!(
            st.join(b"home", b"", None),
            Err(nb::Error::Other(JoinError::WrongPassword))
        );
        assert_eq!(st.joined(), None);
        let home = all_scanned(&mut st)
            .into_iter()
            .find(|a| a.ssid.as_slice() == b"home")
            .unwrap();
        let mut other_bssid = home.bssid;
        other_bssid[5] ^= 0xff;
        assert_eq!(
            st.join(b"home", b"secret123", Some(other_bssid)),
            Err(nb::Error::Other(JoinError::NoAccessPoint))
        );
        assert_eq!(st.join(b"home", b"secret123", Some(home.bssid)), Ok(()));
        assert_eq!(st.joined(), Some(home));
        assert_eq!(st.ipv4(), Some(HostInterface::loopback().ipv4));
        assert_eq!(st.ipv6_link_local(), Some(Ipv6Addr::LOCALHOST));
        assert_eq!(st.ipv6_global(), None);

        // An open access point takes any password; joining moves there.
        assert_eq!(st.join(b"cafe", b"whatever", None), Ok(()));
        assert_eq!(st.joined().unwrap().ssid.as_slice(), b"cafe");
        st.leave();
        assert_eq!(st.joined(), None);
        assert_eq!(st.ipv4(), None);
        assert_eq!(st.ipv6_link_local(), None);
        assert_eq!(st.poll_event(), None, "leaving is not an event");
        st.leave();
    }

    #[test]
    fn drop_link_reports_disconnected_once() {
        let mut st = station(&["cafe"]);
        st.drop_link();
        assert_eq!(st.poll_event(), None, "not joined: nothing to lose");
        st.join(b"cafe", b"", None).unwrap();
        assert_eq!(st.poll_event(), None);
        st.drop_link();
        assert_eq!(st.joined(), None);
        assert_eq!(st.ipv4(), None);
        assert_eq!(st.poll_event(), Some(StationEvent::Disconnected));
        assert_eq!(st.poll_event(), None);
    }

    #[test]
    fn mac_comes_from_the_host() {
        let mut host = HostInterface::loopback();
        host.mac = [0x02, 1, 2, 3, 4, 5];
        let st = EmulatedStation::with_host(aps(&["x"]), host.clone());
        assert_eq!(st.mac(), host.mac);
        assert_eq!(st.host(), &host);
        assert_eq!(station(&[]).mac(), FALLBACK_MAC);
    }

    #[test]
    fn gateway_from_proc_net_route() {
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
            eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
            wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n";
        // The table holds each address's bytes as a host-order number; the sample is
        // from a little-endian machine.
        if cfg!(target_endian = "little") {
            assert_eq!(
                default_gateway(table, "eth0"),
                Some(Ipv4Addr::new(192, 0, 2, 1))
            );
            assert_eq!(
                default_gateway(table, "wlan0"),
                Some(Ipv4Addr::new(192, 168, 1, 1))
            );
        }
        assert_eq!(default_gateway(table, "eth1"), None);
        assert_eq!(default_gateway("", "eth0"), None);
        assert_eq!(default_gateway("header\ngarbage line\n", "garbage"), None);
    }

    #[test]
    fn host_detection_is_consistent() {
        let host = HostInterface::detect();
        eprintln!("detected host interface: {host:?}");
        if host == HostInterface::loopback() {
            return;
        }
        assert_ne!(host.name, "lo");
        assert!(!host.ipv4.ip.is_loopback());
        assert!(host.ipv6_link_local.is_none_or(|a| is_link_local(&a)));
        assert!(host
            .ipv6_global
            .is_none_or(|a| !is_link_local(&a) && !a.is_loopback()));
        assert_eq!(host.mac[0] & 0x01, 0, "unicast MAC");
        // The station reports it, from the first join on.
        let mut st = EmulatedStation::with_host(aps(&["x"]), host.clone());
        st.join(b"x", b"", None).unwrap();
        assert_eq!(st.ipv4(), Some(host.ipv4));
        assert_eq!(st.ipv6_global(), host.ipv6_global);
    }
}
