//! The Wi-Fi station subset: `AT+CWMODE`, `AT+CWJAP`, `AT+CWQAP`, `AT+CWLAP`,
//! `AT+CWSTATE?`, `AT+CIPSTA?`, `AT+CWDHCP?`, `AT+CIFSR`, the `WIFI ...` messages, and
//! rejoining the stored access point after a restart.
//!
//! Soft-AP modes (`AT+CWMODE=2` and `3`) are refused: the platforms here have no access
//! point of their own, so the `APIP`/`APMAC` interfaces never exist.

use at_core::net::{nb, JoinError, NetPlatform, Station};
use at_core::text::{Piece, Text};
use at_core::{ArgError, Args, Context, Duration, ErrCode, Form, Instant, Outcome};
use at_ssl::TlsStack;

use crate::{arg, keys, line, Pending, TcpIp};

/// Longest password `AT+CWJAP` accepts.
pub const PASSWORD_MAX: usize = 64;
/// Default `<jap_timeout>` in seconds.
const JOIN_TIMEOUT_S: u64 = 15;

/// Station state kept by the command set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wifi {
    /// `AT+CWMODE`: 0 off, 1 station.
    pub mode: u8,
    /// The access point of the last successful or requested join.
    pub ssid: heapless::Vec<u8, 32>,
    pub password: heapless::Vec<u8, PASSWORD_MAX>,
    pub bssid: Option<[u8; 6]>,
    /// Joined and announced (`WIFI CONNECTED`).
    pub joined: bool,
    /// Was joined at some point (`AT+CWSTATE` 4).
    pub was_joined: bool,
    /// DHCP on for the station (always: static addresses are not supported).
    pub dhcp: bool,
    /// A background join (auto-connect after a restart) in progress.
    pub background: Option<Instant>,
    /// `WIFI DISCONNECT` (and closing the links) is due on the next poll.
    pub disconnect_due: bool,
}

impl Default for Wifi {
    fn default() -> Self {
        Wifi {
            mode: 1,
            ssid: heapless::Vec::new(),
            password: heapless::Vec::new(),
            bssid: None,
            joined: false,
            was_joined: false,
            dhcp: true,
            background: None,
            disconnect_due: false,
        }
    }
}

/// An `AT+CWJAP` in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Join {
    pub deadline: Instant,
}

impl Wifi {
    /// Loads the stored mode and access point; schedules the rejoin.
    pub(crate) fn load<P: NetPlatform>(&mut self, ctx: &mut Context<'_, P>) {
        let mut buf = [0u8; 128];
        if let Some([m]) = ctx.load(keys::WIFI_MODE, &mut buf) {
            if *m <= 1 {
                self.mode = *m;
            }
        }
        if let Some(stored) = ctx.load(keys::WIFI_AP, &mut buf) {
            if let Some((ssid, password)) = decode_ap(stored) {
                self.ssid = ssid;
                self.password = password;
                if self.mode == 1 {
                    self.background = Some(ctx.now + Duration::from_secs(JOIN_TIMEOUT_S));
                }
            }
        }
    }
}

fn encode_ap(ssid: &[u8], password: &[u8]) -> heapless::Vec<u8, 128> {
    let mut v = heapless::Vec::new();
    let _ = v.push(ssid.len() as u8);
    let _ = v.extend_from_slice(ssid);
    let _ = v.extend_from_slice(password);
    v
}

fn decode_ap(bytes: &[u8]) -> Option<(heapless::Vec<u8, 32>, heapless::Vec<u8, PASSWORD_MAX>)> {
    let (&n, rest) = bytes.split_first()?;
    let ssid = rest.get(..usize::from(n))?;
    let password = rest.get(usize::from(n)..)?;
    Some((
        heapless::Vec::from_slice(ssid).ok()?,
        heapless::Vec::from_slice(password).ok()?,
    ))
}

fn parse_mac(text: &[u8]) -> Option<[u8; 6]> {
    let text = core::str::from_utf8(text).ok()?;
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in mac.iter_mut() {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// A MAC address, printed `aa:bb:cc:dd:ee:ff`.
struct Mac([u8; 6]);

impl Piece for Mac {
    fn put_into(self, text: &mut Text<'_>) {
        text.mac(&self.0);
    }
}

fn exec() -> Outcome {
    Outcome::Error(ErrCode::EXEC)
}

impl<P: NetPlatform<Net: TlsStack>> TcpIp<P> {
    pub(crate) fn wifi_mode_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        line!(ctx, "+CWMODE:", self.wifi.mode);
        Outcome::Ok
    }

    pub(crate) fn cwmode(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        arg!(args.count(1, 2));
        let mode = arg!(args.int(0, 0..=3)) as u8;
        let auto_connect = arg!(args.opt_int(1, 0..=1)).unwrap_or(1) == 1;
        if mode >= 2 {
            diag!("soft-AP modes are not available on this platform");
            return exec();
        }
        if let Err(e) = ctx.save(keys::WIFI_MODE, &[mode]) {
            return e.into();
        }
        let was = self.wifi.mode;
        self.wifi.mode = mode;
        if mode == 0 && self.wifi.joined {
            ctx.platform.station().leave();
            self.wifi.disconnect_due = true;
        }
        if mode == 1 && was == 0 && auto_connect && !self.wifi.ssid.is_empty() {
            self.wifi.background = Some(ctx.now + Duration::from_secs(JOIN_TIMEOUT_S));
        }
        Outcome::Ok
    }

    pub(crate) fn cwjap(
        &mut self,
        form: Form,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        let mut timeout = JOIN_TIMEOUT_S;
        if form == Form::Set {
            arg!(args.count(1, 9));
            let ssid = arg!(args.opt_bytes(0, 32));
            let password = arg!(args.opt_bytes(1, PASSWORD_MAX));
            let bssid = match arg!(args.opt_bytes(2, 17)) {
                None => None,
                Some(text) => match parse_mac(text) {
                    Some(mac) => Some(mac),
                    None => return ArgError::Invalid(2).into(),
                },
            };
            arg!(args.opt_int(3, 0..=1));
            arg!(args.opt_int(4, 0..=7200));
            arg!(args.opt_int(5, 1..=100));
            arg!(args.opt_int(6, 0..=1));
            if let Some(t) = arg!(args.opt_int(7, 3..=600)) {
                timeout = t as u64;
            }
            arg!(args.opt_int(8, 0..=3));
            if let Some(ssid) = ssid {
                if ssid.is_empty() {
                    return ArgError::Invalid(0).into();
                }
                self.wifi.ssid = heapless::Vec::from_slice(ssid).unwrap_or_default();
                self.wifi.password = heapless::Vec::new();
            }
            if let Some(password) = password {
                self.wifi.password = heapless::Vec::from_slice(password).unwrap_or_default();
            }
            self.wifi.bssid = bssid;
        }
        if self.wifi.mode != 1 {
            diag!("AT+CWJAP needs station mode");
            return exec();
        }
        if self.wifi.ssid.is_empty() {
            diag!("no access point configured");
            return exec();
        }
        self.wifi.background = None;
        if self.wifi.joined {
            ctx.platform.station().leave();
            self.wifi.joined = false;
            if ctx.out.push(b"WIFI DISCONNECT\r\n").is_err() {
                return exec();
            }
            self.close_everything_but_server(ctx);
        }
        self.continue_join(
            Join {
                deadline: ctx.now + Duration::from_secs(timeout),
            },
            ctx,
        )
    }

    pub(crate) fn continue_join(&mut self, join: Join, ctx: &mut Context<'_, P>) -> Outcome {
        let result =
            ctx.platform
                .station()
                .join(&self.wifi.ssid, &self.wifi.password, self.wifi.bssid);
        let code = match result {
            Ok(()) => {
                self.wifi.joined = true;
                self.wifi.was_joined = true;
                line!(ctx, "WIFI CONNECTED");
                line!(ctx, "WIFI GOT IP");
                let stored = encode_ap(&self.wifi.ssid, &self.wifi.password);
                if let Err(e) = ctx.save(keys::WIFI_AP, &stored) {
                    return e.into();
                }
                return Outcome::Ok;
            }
            Err(nb::Error::WouldBlock) if ctx.now < join.deadline => {
                self.pending = Pending::Join(join);
                return Outcome::Pending;
            }
            Err(nb::Error::WouldBlock) => {
                ctx.platform.station().leave();
                JoinError::Timeout
            }
            Err(nb::Error::Other(e)) => e,
        };
        self.wifi.was_joined |= self.wifi.joined;
        line!(ctx, "+CWJAP:", code as u8);
        exec()
    }

    pub(crate) fn cwjap_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let station = ctx.platform.station();
        let Some(ap) = station.joined().filter(|_| station.ipv4().is_some()) else {
            return Outcome::Ok;
        };
        let pushed = ctx
            .out
            .compose()
            .str("+CWJAP:\"")
            .bytes(&ap.ssid)
            .str("\",\"")
            .put(Mac(ap.bssid))
            .str("\",")
            .put(ap.channel)
            .str(",")
            .put(ap.rssi)
            .str(",0,1,3,0,1")
            .line();
        if pushed.is_err() {
            return exec();
        }
        Outcome::Ok
    }

    pub(crate) fn cwqap(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        if self.wifi.mode != 1 {
            return exec();
        }
        self.wifi.background = None;
        if self.wifi.joined {
            ctx.platform.station().leave();
            self.wifi.disconnect_due = true;
        }
        Outcome::Ok
    }

    pub(crate) fn cwlap(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        if self.wifi.mode != 1 {
            return exec();
        }
        for i in 0..32 {
            let Some(ap) = ctx.platform.station().scan(i) else {
                break;
            };
            let cipher = if ap.encryption == 0 { 0 } else { 4 };
            let pushed = ctx
                .out
                .compose()
                .str("+CWLAP:(")
                .put(ap.encryption)
                .str(",\"")
                .bytes(&ap.ssid)
                .str("\",")
                .put(ap.rssi)
                .str(",\"")
                .put(Mac(ap.bssid))
                .str("\",")
                .put(ap.channel)
                .str(",0,0,")
                .put(cipher)
                .str(",")
                .put(cipher)
                .str(",7,0)")
                .line();
            if pushed.is_err() {
                return exec();
            }
        }
        Outcome::Ok
    }

    pub(crate) fn cwstate(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let station = ctx.platform.station();
        let state = match (station.joined().is_some(), station.ipv4().is_some()) {
            (true, true) => 2,
            (true, false) => 1,
            _ if self.wifi.background.is_some() || matches!(self.pending, Pending::Join(_)) => 3,
            _ if self.wifi.was_joined => 4,
            _ => 0,
        };
        let pushed = ctx
            .out
            .compose()
            .str("+CWSTATE:")
            .put(state)
            .str(",\"")
            .bytes(&self.wifi.ssid)
            .str("\"")
            .line();
        if pushed.is_err() {
            return exec();
        }
        Outcome::Ok
    }

    pub(crate) fn cipsta(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let station = ctx.platform.station();
        let v4 = station.ipv4();
        let (ll, gl) = (station.ipv6_link_local(), station.ipv6_global());
        let (ip, gw, mask) = match v4 {
            Some(c) => (c.ip, c.gateway, c.netmask),
            None => {
                let zero = core::net::Ipv4Addr::UNSPECIFIED;
                (zero, zero, zero)
            }
        };
        line!(ctx, "+CIPSTA:ip:\"", ip, "\"");
        line!(ctx, "+CIPSTA:gateway:\"", gw, "\"");
        line!(ctx, "+CIPSTA:netmask:\"", mask, "\"");
        if self.ipv6 && v4.is_some() {
            if let Some(ll) = ll {
                line!(ctx, "+CIPSTA:ip6ll:\"", ll, "\"");
            }
            if let Some(gl) = gl {
                line!(ctx, "+CIPSTA:ip6gl:\"", gl, "\"");
            }
        }
        Outcome::Ok
    }

    pub(crate) fn cifsr(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        if self.wifi.mode == 0 {
            return Outcome::Ok;
        }
        let station = ctx.platform.station();
        let v4 = station.ipv4();
        let (ll, gl, mac) = (
            station.ipv6_link_local(),
            station.ipv6_global(),
            station.mac(),
        );
        let ip = v4.map(|c| c.ip).unwrap_or(core::net::Ipv4Addr::UNSPECIFIED);
        line!(ctx, "+CIFSR:STAIP,\"", ip, "\"");
        if self.ipv6 && v4.is_some() {
            if let Some(ll) = ll {
                line!(ctx, "+CIFSR:STAIP6LL,\"", ll, "\"");
            }
            if let Some(gl) = gl {
                line!(ctx, "+CIFSR:STAIP6GL,\"", gl, "\"");
            }
        }
        line!(ctx, "+CIFSR:STAMAC,\"", Mac(mac), "\"");
        Outcome::Ok
    }

    /// Closes every link (the station lost its address), leaving the server listening.
    fn close_everything_but_server(&mut self, ctx: &mut Context<'_, P>) {
        for id in 0..at_core::link::MAX_LINKS {
            self.drop_link(id, ctx);
        }
        self.drop_handshaking_client(ctx);
    }

    /// Station events, background rejoin, and the messages they cause.
    pub(crate) fn poll_station(&mut self, ctx: &mut Context<'_, P>) {
        if ctx.out.free() < 128 {
            return;
        }
        if let Some(at_core::net::StationEvent::Disconnected) = ctx.platform.station().poll_event()
        {
            if self.wifi.joined {
                self.wifi.disconnect_due = true;
            }
        }
        if self.wifi.disconnect_due {
            self.wifi.disconnect_due = false;
            self.wifi.joined = false;
            // The raw transparent stream carries no messages unless SYSMSG bit 2 asks.
            if !ctx.transparent || ctx.system.sysmsg & at_core::system::SYSMSG_LINK_STATE != 0 {
                let _ = ctx.out.push(b"\r\nWIFI DISCONNECT\r\n");
            }
            self.close_everything_but_server(ctx);
        }
        if let Some(deadline) = self.wifi.background {
            if matches!(self.pending, Pending::Join(_)) {
                return;
            }
            let result =
                ctx.platform
                    .station()
                    .join(&self.wifi.ssid, &self.wifi.password, self.wifi.bssid);
            match result {
                Ok(()) => {
                    self.wifi.background = None;
                    self.wifi.joined = true;
                    self.wifi.was_joined = true;
                    let _ = ctx.out.push(b"\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n");
                }
                Err(nb::Error::WouldBlock) if ctx.now < deadline => {}
                Err(e) => {
                    diag!("rejoining the stored access point failed: {:?}", e);
                    self.wifi.background = None;
                }
            }
        }
    }
}
