//! [`W800Platform`]: the engine's [`Platform`] and [`NetPlatform`] on the W800. It owns
//! the settings store, the lwIP network ([`LwipStack`]), the station and the pinger;
//! what only the firmware can do (reconfigure the AT UART, restart, report the heap) it
//! asks through [`AtW800Hooks`], C function pointers the firmware registers.
//!
//! [`FirmwarePlatform`] is the platform the C API builds: NVS and the SDK's station on
//! the W800, [`MemoryStore`](at_core::store::MemoryStore) and the
//! [`EmulatedStation`](crate::station::EmulatedStation) on a host.

use core::ffi::{c_int, c_void};

use at_core::net::NetPlatform;
use at_core::platform::{
    FirmwareInfo, FlowControl, MemoryUsage, Parity, Platform, StopBits, UartConfig, UartError,
};
use at_core::store::SettingsStore;

use crate::ping::LwipPinger;
use crate::stack::LwipStack;

/// `AT+GMR`'s AT version: the ESP-AT release whose conventions the engine follows.
pub const AT_VERSION: &str = "3.2.0.0";

/// A UART configuration as the firmware's `apply_uart` hook receives it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtW800UartConfig {
    /// Baud rate.
    pub baud: u32,
    /// Data bits, 5 to 8.
    pub data_bits: u8,
    /// Stop bits: 1 one, 2 one and a half, 3 two.
    pub stop_bits: u8,
    /// Parity: 0 none, 1 odd, 2 even.
    pub parity: u8,
    /// Flow control: 0 none, 1 RTS, 2 CTS, 3 RTS and CTS.
    pub flow_control: u8,
}

impl From<&UartConfig> for AtW800UartConfig {
    fn from(c: &UartConfig) -> Self {
        AtW800UartConfig {
            baud: c.baud,
            data_bits: c.data_bits,
            stop_bits: match c.stop_bits {
                StopBits::One => 1,
                StopBits::OneAndHalf => 2,
                StopBits::Two => 3,
            },
            parity: match c.parity {
                Parity::None => 0,
                Parity::Odd => 1,
                Parity::Even => 2,
            },
            flow_control: match c.flow {
                FlowControl::None => 0,
                FlowControl::Rts => 1,
                FlowControl::Cts => 2,
                FlowControl::RtsCts => 3,
            },
        }
    }
}

/// Reconfigures the AT UART: 0 if applied, anything else if the hardware cannot.
pub type AtW800ApplyUart =
    Option<extern "C" fn(ctx: *mut c_void, config: *const AtW800UartConfig) -> c_int>;
/// Restarts the module's radio and peripherals (the engine has reset itself already).
pub type AtW800Restart = Option<extern "C" fn(ctx: *mut c_void)>;
/// Reports free and lowest-ever free heap, in bytes.
pub type AtW800Memory = Option<extern "C" fn(ctx: *mut c_void, free: *mut u32, min_free: *mut u32)>;

/// What only the firmware can do, as C callbacks; every one is optional.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AtW800Hooks {
    /// Passed to every hook.
    pub ctx: *mut c_void,
    /// `AT+UART_CUR`/`AT+UART_DEF`; without it they answer `ERROR`.
    pub apply_uart: AtW800ApplyUart,
    /// `AT+RST`, `AT+RESTORE`.
    pub restart: AtW800Restart,
    /// `AT+SYSRAM?`; without it both figures are 0.
    pub memory: AtW800Memory,
}

impl Default for AtW800Hooks {
    fn default() -> Self {
        AtW800Hooks {
            ctx: core::ptr::null_mut(),
            apply_uart: None,
            restart: None,
            memory: None,
        }
    }
}

/// The W800 platform over lwIP (see the module documentation).
#[derive(Debug)]
pub struct W800Platform<Store, Sta> {
    store: Store,
    net: LwipStack,
    station: Sta,
    pinger: LwipPinger,
    hooks: AtW800Hooks,
}

impl<Store, Sta> W800Platform<Store, Sta> {
    /// A platform with `store` and `station`, lwIP's network and `hooks`.
    pub fn new(store: Store, station: Sta, hooks: AtW800Hooks) -> Self {
        W800Platform {
            store,
            net: LwipStack::new(),
            station,
            pinger: LwipPinger::new(),
            hooks,
        }
    }

    /// Replaces the hooks.
    pub fn set_hooks(&mut self, hooks: AtW800Hooks) {
        self.hooks = hooks;
    }

    /// The network stack (for diagnostics and tests).
    pub fn stack(&self) -> &LwipStack {
        &self.net
    }

    /// The certificate store of the SSL links and the SSL server.
    pub fn pki_mut(&mut self) -> &mut crate::pki::W800Pki {
        self.net.pki_mut()
    }

    /// Whether the network may have news the engine must poll for: sockets are open or
    /// a ping waits for its reply.
    pub fn network_busy(&self) -> bool {
        self.net.open_sockets() > 0 || self.pinger.is_waiting()
    }

    /// The station (for diagnostics and tests).
    pub fn station_mut(&mut self) -> &mut Sta {
        &mut self.station
    }
}

impl<Store: SettingsStore, Sta: at_core::net::Station> Platform for W800Platform<Store, Sta> {
    type Store = Store;

    fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    fn firmware(&self) -> FirmwareInfo<'_> {
        FirmwareInfo {
            at_version: AT_VERSION,
            build: concat!("at-engine-", env!("CARGO_PKG_VERSION")),
            chip: "W800",
            date: env!("AT_W800_BUILD_DATE"),
            time: env!("AT_W800_BUILD_TIME"),
            sdk_version: "WM IoT SDK, lwIP 2.1.3",
            source_hash: env!("AT_W800_SOURCE_HASH"),
            bin_version: concat!(env!("CARGO_PKG_VERSION"), "(w800)"),
        }
    }

    fn apply_uart(&mut self, config: &UartConfig) -> Result<(), UartError> {
        let c = AtW800UartConfig::from(config);
        match self.hooks.apply_uart {
            Some(apply) if apply(self.hooks.ctx, &c) == 0 => Ok(()),
            _ => Err(UartError::Unsupported),
        }
    }

    fn restart(&mut self) {
        self.station.leave();
        if let Some(restart) = self.hooks.restart {
            restart(self.hooks.ctx);
        }
    }

    fn memory(&self) -> MemoryUsage {
        let (mut free, mut min_free) = (0u32, 0u32);
        if let Some(memory) = self.hooks.memory {
            memory(self.hooks.ctx, &mut free, &mut min_free);
        }
        MemoryUsage { free, min_free }
    }
}

impl<Store: SettingsStore, Sta: at_core::net::Station> NetPlatform for W800Platform<Store, Sta> {
    type Net = LwipStack;
    type Station = Sta;
    type Pinger = LwipPinger;

    fn pinger(&mut self) -> &mut LwipPinger {
        &mut self.pinger
    }

    fn net(&mut self) -> &mut LwipStack {
        &mut self.net
    }

    fn station(&mut self) -> &mut Sta {
        &mut self.station
    }

    fn random_u32(&mut self) -> u32 {
        crate::ffi::random_u32()
    }

    /// [`LwipStack::has_news`]: the socket passes run when a socket has something for
    /// them, not on every poll.
    fn take_network_activity(&mut self) -> bool {
        self.net.has_news()
    }
}

/// The platform the C API builds on the W800: NVS and the SDK's station.
#[cfg(target_os = "none")]
pub type FirmwarePlatform = W800Platform<crate::store::NvsStore, crate::station::SdkStation>;

/// The platform the C API builds on a host: settings in RAM, the emulated station.
#[cfg(not(target_os = "none"))]
pub type FirmwarePlatform =
    W800Platform<at_core::store::MemoryStore, crate::station::EmulatedStation>;

/// The command set of the firmware: the TCP/IP set (with the SSL settings commands).
pub type Commands = at_tcpip::TcpIp<FirmwarePlatform>;

/// The engine the C API runs, with the default buffer sizes.
pub type FirmwareEngine = at_core::Engine<Commands>;
