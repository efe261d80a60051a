//! A firmware-shaped platform for footprint and code-size measurements: one-byte socket
//! handles (as a chip SDK's socket numbers are), no simulation behind them. Every call
//! into "the SDK" returns an opaque value ([`core::hint::black_box`]), so the optimizer
//! keeps every path of the engine and the command set as a real port would.

use core::hint::black_box;
use core::net::{IpAddr, Ipv6Addr, SocketAddr};

use at_core::net::{
    nb, AccessPoint, AddrType, Dns, Ipv4Config, JoinError, NetPlatform, Station, StationEvent,
    TcpClientStack, TcpError, TcpErrorKind, TcpExt, TcpFullStack, TcpOption, UdpClientStack,
    UdpExt, UdpFullStack,
};
use at_core::platform::{FirmwareInfo, MemoryUsage, Platform, UartConfig, UartError};
use at_core::store::SettingsStore;
use at_core::{Engine, Instant, Profile};

/// A socket handle of the chip's stack: one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sock(pub u8);

/// An error code of the chip's stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdkError(pub i8);

impl TcpError for SdkError {
    fn kind(&self) -> TcpErrorKind {
        if self.0 == -1 {
            TcpErrorKind::PipeClosed
        } else {
            TcpErrorKind::Other
        }
    }
}

/// The chip's network stack.
#[derive(Default)]
pub struct SdkNet;

/// The chip's Wi-Fi station.
#[derive(Default)]
pub struct SdkStation;

/// The chip's settings flash.
#[derive(Default)]
pub struct SdkStore;

/// The platform: all state lives in the SDK.
#[derive(Default)]
pub struct FwPlatform {
    net: SdkNet,
    station: SdkStation,
    store: SdkStore,
    pinger: SdkPinger,
}

fn sdk<T>(value: T) -> T {
    black_box(value)
}

impl TcpClientStack for SdkNet {
    type TcpSocket = Sock;
    type Error = SdkError;
    fn socket(&mut self) -> Result<Sock, SdkError> {
        sdk(Ok(Sock(0)))
    }
    fn connect(&mut self, s: &mut Sock, remote: SocketAddr) -> nb::Result<(), SdkError> {
        sdk((s.0, remote));
        sdk(Ok(()))
    }
    fn send(&mut self, s: &mut Sock, buffer: &[u8]) -> nb::Result<usize, SdkError> {
        sdk((s.0, buffer));
        sdk(Ok(buffer.len()))
    }
    fn receive(&mut self, s: &mut Sock, buffer: &mut [u8]) -> nb::Result<usize, SdkError> {
        sdk((s.0, &mut *buffer));
        sdk(Ok(buffer.len()))
    }
    fn close(&mut self, s: Sock) -> Result<(), SdkError> {
        sdk(s);
        sdk(Ok(()))
    }
}

impl TcpFullStack for SdkNet {
    fn bind(&mut self, s: &mut Sock, port: u16) -> Result<(), SdkError> {
        sdk((s.0, port));
        sdk(Ok(()))
    }
    fn listen(&mut self, s: &mut Sock) -> Result<(), SdkError> {
        sdk(s.0);
        sdk(Ok(()))
    }
    fn accept(&mut self, s: &mut Sock) -> nb::Result<(Sock, SocketAddr), SdkError> {
        sdk(s.0);
        sdk(Err(nb::Error::WouldBlock))
    }
}

/// No TLS library in this image: SSL links answer `ERROR` (the engine's SSL code is in).
impl at_ssl::TlsStack for SdkNet {}

impl TcpExt for SdkNet {
    fn tcp_bind_to(&mut self, s: &mut Sock, local: SocketAddr) -> Result<(), SdkError> {
        sdk((s.0, local));
        sdk(Ok(()))
    }
    fn tcp_set_option(&mut self, s: &mut Sock, option: TcpOption) -> Result<(), SdkError> {
        sdk((s.0, option));
        sdk(Ok(()))
    }
    fn tcp_local_addr(&mut self, s: &Sock) -> Option<SocketAddr> {
        sdk(s.0);
        sdk(None)
    }
    fn tcp_available(&mut self, s: &mut Sock) -> Result<usize, SdkError> {
        sdk(s.0);
        sdk(Ok(0))
    }
}

impl UdpClientStack for SdkNet {
    type UdpSocket = Sock;
    type Error = SdkError;
    fn socket(&mut self) -> Result<Sock, SdkError> {
        sdk(Ok(Sock(8)))
    }
    fn connect(&mut self, s: &mut Sock, remote: SocketAddr) -> Result<(), SdkError> {
        sdk((s.0, remote));
        sdk(Ok(()))
    }
    fn send(&mut self, s: &mut Sock, buffer: &[u8]) -> nb::Result<(), SdkError> {
        sdk((s.0, buffer));
        sdk(Ok(()))
    }
    fn receive(
        &mut self,
        s: &mut Sock,
        buffer: &mut [u8],
    ) -> nb::Result<(usize, SocketAddr), SdkError> {
        sdk((s.0, &mut *buffer));
        sdk(Err(nb::Error::WouldBlock))
    }
    fn close(&mut self, s: Sock) -> Result<(), SdkError> {
        sdk(s);
        sdk(Ok(()))
    }
}

impl UdpFullStack for SdkNet {
    fn bind(&mut self, s: &mut Sock, port: u16) -> Result<(), SdkError> {
        sdk((s.0, port));
        sdk(Ok(()))
    }
    fn send_to(&mut self, s: &mut Sock, to: SocketAddr, buffer: &[u8]) -> nb::Result<(), SdkError> {
        sdk((s.0, to, buffer));
        sdk(Ok(()))
    }
}

impl UdpExt for SdkNet {
    fn udp_bind_to(&mut self, s: &mut Sock, local: SocketAddr) -> Result<(), SdkError> {
        sdk((s.0, local));
        sdk(Ok(()))
    }
    fn udp_join_multicast(&mut self, s: &mut Sock, group: IpAddr) -> Result<(), SdkError> {
        sdk((s.0, group));
        sdk(Ok(()))
    }
    fn udp_set_broadcast(&mut self, s: &mut Sock, on: bool) -> Result<(), SdkError> {
        sdk((s.0, on));
        sdk(Ok(()))
    }
    fn udp_local_addr(&mut self, s: &Sock) -> Option<SocketAddr> {
        sdk(s.0);
        sdk(None)
    }
}

impl Dns for SdkNet {
    type Error = SdkError;
    fn get_host_by_name(&mut self, name: &str, t: AddrType) -> nb::Result<IpAddr, SdkError> {
        sdk((name, t));
        sdk(Err(nb::Error::WouldBlock))
    }
    fn get_host_by_address(
        &mut self,
        addr: IpAddr,
        result: &mut [u8],
    ) -> nb::Result<usize, SdkError> {
        sdk((addr, &mut *result));
        sdk(Err(nb::Error::Other(SdkError(-2))))
    }
}

impl Station for SdkStation {
    fn join(
        &mut self,
        ssid: &[u8],
        password: &[u8],
        bssid: Option<[u8; 6]>,
    ) -> nb::Result<(), JoinError> {
        sdk((ssid, password, bssid));
        sdk(Err(nb::Error::WouldBlock))
    }
    fn leave(&mut self) {
        sdk(());
    }
    fn scan(&mut self, index: usize) -> Option<AccessPoint> {
        sdk(index);
        sdk(None)
    }
    fn joined(&self) -> Option<AccessPoint> {
        sdk(None)
    }
    fn ipv4(&self) -> Option<Ipv4Config> {
        sdk(None)
    }
    fn ipv6_link_local(&self) -> Option<Ipv6Addr> {
        sdk(None)
    }
    fn ipv6_global(&self) -> Option<Ipv6Addr> {
        sdk(None)
    }
    fn mac(&self) -> [u8; 6] {
        sdk([2, 0, 0, 0, 0, 2])
    }
    fn poll_event(&mut self) -> Option<StationEvent> {
        sdk(None)
    }
}

/// ICMP echo of the chip.
#[derive(Default)]
pub struct SdkPinger;

impl at_core::net::Pinger for SdkPinger {
    type Error = SdkError;
    fn ping_send(&mut self, addr: IpAddr) -> Result<(), SdkError> {
        sdk(addr);
        sdk(Ok(()))
    }
    fn ping_poll(&mut self) -> nb::Result<(), SdkError> {
        sdk(Err(nb::Error::WouldBlock))
    }
    fn ping_cancel(&mut self) {
        sdk(());
    }
}

impl SettingsStore for SdkStore {
    type Error = SdkError;
    fn read(&mut self, key: &str, buf: &mut [u8]) -> Result<Option<usize>, SdkError> {
        sdk((key, &mut *buf));
        sdk(Ok(None))
    }
    fn write(&mut self, key: &str, value: &[u8]) -> Result<(), SdkError> {
        sdk((key, value));
        sdk(Ok(()))
    }
    fn remove(&mut self, key: &str) -> Result<(), SdkError> {
        sdk(key);
        sdk(Ok(()))
    }
    fn clear(&mut self) -> Result<(), SdkError> {
        sdk(Ok(()))
    }
}

impl Platform for FwPlatform {
    type Store = SdkStore;
    fn store(&mut self) -> &mut SdkStore {
        &mut self.store
    }
    fn firmware(&self) -> FirmwareInfo<'_> {
        FirmwareInfo {
            at_version: "3.2.0.0",
            build: "fw",
            chip: "W800",
            date: "Nov 28 2026",
            time: "00:00:00",
            sdk_version: "sdk",
            source_hash: "0000000",
            bin_version: "fw",
        }
    }
    fn apply_uart(&mut self, config: &UartConfig) -> Result<(), UartError> {
        sdk(config);
        sdk(Ok(()))
    }
    fn restart(&mut self) {
        sdk(());
    }
    fn memory(&self) -> MemoryUsage {
        sdk(MemoryUsage {
            free: 100_000,
            min_free: 90_000,
        })
    }
}

impl NetPlatform for FwPlatform {
    type Net = SdkNet;
    type Station = SdkStation;
    type Pinger = SdkPinger;
    fn pinger(&mut self) -> &mut SdkPinger {
        &mut self.pinger
    }
    fn net(&mut self) -> &mut SdkNet {
        &mut self.net
    }
    fn station(&mut self) -> &mut SdkStation {
        &mut self.station
    }
    fn random_u32(&mut self) -> u32 {
        sdk(0x5eed)
    }
}

/// The firmware's engine: the W800 profile, the full command set, default buffers.
pub type FwEngine = Engine<at_tcpip::TcpIp<FwPlatform>>;

/// A UART writer of the chip.
pub struct Uart;

impl embedded_io::ErrorType for Uart {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(sdk(buf).len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// One pass of a firmware main loop: UART bytes in, poll, output out, next timer.
///
/// Not inlined into the loop, as in a real firmware, where the engine lives in memory
/// the firmware gave it and the loop calls in with a pointer (the W800 port's C API:
/// `at_w800_feed`/`at_w800_poll(at, ...)`): the engine's fields are then addressed from
/// that pointer, not at offsets of 16 KB from the stack pointer of `_start`.
#[inline(never)]
pub fn firmware_step(engine: &mut FwEngine, platform: &mut FwPlatform, now_ms: u64) {
    let now = Instant::from_millis(sdk(now_ms));
    let rx = [0u8; 64];
    let rx = sdk(&rx[..sdk(64usize).min(64)]);
    let n = engine.feed(now, rx);
    sdk(n);
    let _ = engine.poll(now, platform, &mut Uart);
    sdk(engine.poll_delay(now));
}

/// A powered-off firmware engine.
pub fn firmware_engine() -> FwEngine {
    Engine::with_commands(Profile::W800, at_tcpip::TcpIp::new)
}
