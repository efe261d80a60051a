//! The Wi-Fi station ([`at_core::net::Station`]).
//!
//! - `SdkStation` (W800 target only) is the SDK's station, reached through the port
//!   shim (`at_w800_port_wifi_*`, implemented in `c/at_w800_port_wifi.c` over the SDK's
//!   `wm_wifi.h`).
//! - [`EmulatedStation`] is for hosts, where lwIP runs on a TAP device and there is no
//!   radio: it "sees" the access points it is given, joins one when the password
//!   matches, and then reports the addresses lwIP's netif was configured with.

use core::net::{Ipv4Addr, Ipv6Addr};

use at_core::net::{nb, AccessPoint, Ipv4Config, JoinError, Station, StationEvent};

/// How many access points an [`EmulatedStation`] knows.
pub const EMULATED_APS: usize = 4;

/// Longest password of an emulated access point.
pub const PASSWORD_MAX: usize = 64;

/// An access point of an [`EmulatedStation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatedAp {
    /// What a scan reports.
    pub info: AccessPoint,
    /// Its password (empty: open).
    pub password: heapless::Vec<u8, PASSWORD_MAX>,
}

impl EmulatedAp {
    /// An access point named `ssid` with `password` (empty: open) on channel 6; the
    /// BSSID is derived from the SSID. `None` if either is too long.
    pub fn new(ssid: &str, password: &str) -> Option<Self> {
        let mut bssid = [0x02, 0x57, 0, 0, 0, 0];
        let h = ssid.bytes().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        bssid[2..].copy_from_slice(&h.to_be_bytes());
        Some(EmulatedAp {
            info: AccessPoint {
                ssid: heapless::Vec::from_slice(ssid.as_bytes()).ok()?,
                bssid,
                channel: 6,
                rssi: -40,
                encryption: if password.is_empty() { 0 } else { 3 },
            },
            password: heapless::Vec::from_slice(password.as_bytes()).ok()?,
        })
    }
}

/// A station without a radio, for hosts (see the module documentation).
#[derive(Clone, Debug)]
pub struct EmulatedStation {
    aps: heapless::Vec<EmulatedAp, EMULATED_APS>,
    joined: Option<usize>,
    ipv4: Ipv4Config,
    ipv6_link_local: Option<Ipv6Addr>,
    mac: [u8; 6],
    event: Option<StationEvent>,
}

impl EmulatedStation {
    /// A station that, once joined, reports `ipv4`, `ipv6_link_local` and `mac` (those
    /// of lwIP's netif).
    pub fn new(ipv4: Ipv4Config, ipv6_link_local: Option<Ipv6Addr>, mac: [u8; 6]) -> Self {
        EmulatedStation {
            aps: heapless::Vec::new(),
            joined: None,
            ipv4,
            ipv6_link_local,
            mac,
            event: None,
        }
    }

    /// Adds an access point; `false` when [`EMULATED_APS`] are known already.
    pub fn add_ap(&mut self, ap: EmulatedAp) -> bool {
        self.aps.push(ap).is_ok()
    }

    /// Loses the access point as if out of range: [`StationEvent::Disconnected`].
    pub fn drop_link(&mut self) {
        if self.joined.take().is_some() {
            self.event = Some(StationEvent::Disconnected);
        }
    }
}

impl Default for EmulatedStation {
    fn default() -> Self {
        EmulatedStation::new(
            Ipv4Config {
                ip: Ipv4Addr::UNSPECIFIED,
                gateway: Ipv4Addr::UNSPECIFIED,
                netmask: Ipv4Addr::UNSPECIFIED,
            },
            None,
            [0x02, 0x57, 0x38, 0x30, 0x30, 0x01],
        )
    }
}

impl Station for EmulatedStation {
    fn join(
        &mut self,
        ssid: &[u8],
        password: &[u8],
        bssid: Option<[u8; 6]>,
    ) -> nb::Result<(), JoinError> {
        self.joined = None;
        let index = self
            .aps
            .iter()
            .position(|ap| {
                ap.info.ssid.as_slice() == ssid && bssid.is_none_or(|b| b == ap.info.bssid)
            })
            .ok_or(nb::Error::Other(JoinError::NoAccessPoint))?;
        let ap = &self.aps[index];
        if !ap.password.is_empty() && ap.password.as_slice() != password {
            return Err(nb::Error::Other(JoinError::WrongPassword));
        }
        self.joined = Some(index);
        Ok(())
    }

    fn leave(&mut self) {
        self.joined = None;
    }

    fn scan(&mut self, index: usize) -> Option<AccessPoint> {
        self.aps.get(index).map(|ap| ap.info.clone())
    }

    fn joined(&self) -> Option<AccessPoint> {
        self.joined.map(|i| self.aps[i].info.clone())
    }

    fn ipv4(&self) -> Option<Ipv4Config> {
        self.joined.map(|_| self.ipv4)
    }

    fn ipv6_link_local(&self) -> Option<Ipv6Addr> {
        self.joined.and(self.ipv6_link_local)
    }

    fn ipv6_global(&self) -> Option<Ipv6Addr> {
        None
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn poll_event(&mut self) -> Option<StationEvent> {
        self.event.take()
    }
}

#[cfg(target_os = "none")]
pub use sdk::SdkStation;

#[cfg(target_os = "none")]
mod sdk {
    use super::*;
    use crate::ffi::port::{self, PortAp};
    use crate::ffi::sdk::wifi;
    use at_core::net::SSID_MAX;

    fn access_point(ap: &PortAp) -> AccessPoint {
        let len = usize::from(ap.ssid_len).min(SSID_MAX);
        AccessPoint {
            ssid: heapless::Vec::from_slice(&ap.ssid[..len]).unwrap_or_default(),
            bssid: ap.bssid,
            channel: ap.channel,
            rssi: ap.rssi,
            encryption: ap.encryption,
        }
    }

    /// The W800's station through the port shim. IPv6 addresses are not reported yet.
    #[derive(Debug, Default)]
    pub struct SdkStation {
        joining: bool,
    }

    impl SdkStation {
        /// The station.
        pub const fn new() -> Self {
            SdkStation { joining: false }
        }
    }

    impl Station for SdkStation {
        fn join(
            &mut self,
            ssid: &[u8],
            password: &[u8],
            bssid: Option<[u8; 6]>,
        ) -> nb::Result<(), JoinError> {
            if !self.joining {
                if !wifi::join(ssid, password, bssid.as_ref()) {
                    return Err(nb::Error::Other(JoinError::Failed));
                }
                self.joining = true;
            }
            let outcome = match wifi::join_state() {
                port::WIFI_JOINING | port::WIFI_IDLE => return Err(nb::Error::WouldBlock),
                port::WIFI_GOT_IP => Ok(()),
                port::WIFI_TIMEOUT => Err(nb::Error::Other(JoinError::Timeout)),
                port::WIFI_WRONG_PASSWORD => Err(nb::Error::Other(JoinError::WrongPassword)),
                port::WIFI_NO_AP => Err(nb::Error::Other(JoinError::NoAccessPoint)),
                _ => Err(nb::Error::Other(JoinError::Failed)),
            };
            self.joining = false;
            outcome
        }

        fn leave(&mut self) {
            self.joining = false;
            wifi::leave();
        }

        fn scan(&mut self, index: usize) -> Option<AccessPoint> {
            wifi::scan(u32::try_from(index).ok()?).map(|ap| access_point(&ap))
        }

        fn joined(&self) -> Option<AccessPoint> {
            wifi::joined().map(|ap| access_point(&ap))
        }

        fn ipv4(&self) -> Option<Ipv4Config> {
            let [ip, gw, mask] = wifi::ipv4()?;
            let v4 = |n: u32| Ipv4Addr::from(n.to_ne_bytes());
            Some(Ipv4Config {
                ip: v4(ip),
                gateway: v4(gw),
                netmask: v4(mask),
            })
        }

        fn ipv6_link_local(&self) -> Option<Ipv6Addr> {
            None
        }

        fn ipv6_global(&self) -> Option<Ipv6Addr> {
            None
        }

        fn mac(&self) -> [u8; 6] {
            wifi::mac()
        }

        fn poll_event(&mut self) -> Option<StationEvent> {
            wifi::take_disconnect().then_some(StationEvent::Disconnected)
        }
    }
}
