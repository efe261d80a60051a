//! [`StdPlatform`]: the engine's [`Platform`] on Linux. Firmware identity, the settings
//! store (files in `--state-dir`, or RAM), the AT port's UART configuration (handed to the
//! serving loop, which owns the port) and memory figures.

use at_core::net::Station;
use at_core::platform::{FirmwareInfo, MemoryUsage, Platform, UartConfig, UartError};
use at_core::store::{MemoryStore, MemoryStoreError, SettingsStore};

use at_core::net::NetPlatform;

use crate::ping::StdPinger;
use crate::stack::StdStack;
use crate::station::EmulatedStation;
use crate::store::FileStore;

/// `AT+GMR`'s AT version: the ESP-AT release whose conventions the engine follows.
pub const AT_VERSION: &str = "3.2.0.0";

/// Where settings live.
#[derive(Debug)]
pub enum Store {
    /// Files in a directory: settings survive the process.
    Files(FileStore),
    /// RAM: settings survive `AT+RST` but not the process.
    Memory(Box<MemoryStore>),
}

/// A settings store error.
#[derive(Debug)]
pub enum StoreError {
    /// The file store failed.
    Io(std::io::Error),
    /// The memory store is full or a value too long.
    Memory(MemoryStoreError),
}

impl SettingsStore for Store {
    type Error = StoreError;

    fn read(&mut self, key: &str, buf: &mut [u8]) -> Result<Option<usize>, StoreError> {
        match self {
            Store::Files(s) => s.read(key, buf).map_err(StoreError::Io),
            Store::Memory(s) => s.read(key, buf).map_err(StoreError::Memory),
        }
    }

    fn write(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        match self {
            Store::Files(s) => s.write(key, value).map_err(StoreError::Io),
            Store::Memory(s) => s.write(key, value).map_err(StoreError::Memory),
        }
    }

    fn remove(&mut self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Files(s) => s.remove(key).map_err(StoreError::Io),
            Store::Memory(s) => s.remove(key).map_err(StoreError::Memory),
        }
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        match self {
            Store::Files(s) => s.clear().map_err(StoreError::Io),
            Store::Memory(s) => s.clear().map_err(StoreError::Memory),
        }
    }
}

/// The Linux platform of the emulated module.
#[derive(Debug)]
pub struct StdPlatform {
    store: Store,
    net: StdStack,
    station: EmulatedStation,
    pinger: StdPinger,
    chip: String,
    uart_request: Option<UartConfig>,
    restarts: u32,
    min_free: std::cell::Cell<u32>,
    network_activity: bool,
}

impl StdPlatform {
    /// A platform with `store`, `net`, `station` and `pinger`, reporting `chip` in
    /// `AT+GMR`.
    pub fn new(
        store: Store,
        chip: &str,
        net: StdStack,
        station: EmulatedStation,
        pinger: StdPinger,
    ) -> Self {
        StdPlatform {
            store,
            net,
            station,
            pinger,
            chip: chip.to_owned(),
            uart_request: None,
            restarts: 0,
            min_free: std::cell::Cell::new(u32::MAX),
            network_activity: true,
        }
    }

    /// The UART configuration the engine asked for since the last call, if any. The
    /// serving loop applies it to the port it owns.
    pub fn take_uart_request(&mut self) -> Option<UartConfig> {
        self.uart_request.take()
    }

    /// Records a readiness event of one of the stack's sockets (the serving loop calls
    /// this for every event it does not handle itself); the engine's next poll runs its
    /// socket passes.
    pub fn note_network_activity(&mut self) {
        self.network_activity = true;
    }

    /// How many times the module was restarted (`AT+RST`, `AT+RESTORE`).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }
}

impl NetPlatform for StdPlatform {
    type Net = StdStack;
    type Station = EmulatedStation;
    type Pinger = StdPinger;

    fn pinger(&mut self) -> &mut StdPinger {
        &mut self.pinger
    }

    fn net(&mut self) -> &mut StdStack {
        &mut self.net
    }

    fn station(&mut self) -> &mut EmulatedStation {
        &mut self.station
    }

    fn random_u32(&mut self) -> u32 {
        os_random_u32()
    }

    fn take_network_activity(&mut self) -> bool {
        std::mem::replace(&mut self.network_activity, false)
    }
}

impl Platform for StdPlatform {
    type Store = Store;

    fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    fn firmware(&self) -> FirmwareInfo<'_> {
        FirmwareInfo {
            at_version: AT_VERSION,
            build: concat!("at-engine-", env!("CARGO_PKG_VERSION")),
            chip: &self.chip,
            date: env!("AT_BUILD_DATE"),
            time: env!("AT_BUILD_TIME"),
            sdk_version: concat!("at-platform-std ", env!("CARGO_PKG_VERSION"), " (Linux)"),
            source_hash: env!("AT_SOURCE_HASH"),
            bin_version: concat!(env!("CARGO_PKG_VERSION"), "(emulated)"),
        }
    }

    fn apply_uart(&mut self, config: &UartConfig) -> Result<(), UartError> {
        self.uart_request = Some(*config);
        Ok(())
    }

    fn restart(&mut self) {
        self.restarts += 1;
        self.station.leave();
        log::info!("module restart #{}", self.restarts);
    }

    /// The host's available memory (`MemAvailable`), capped to 32 bits, and the lowest
    /// figure this process has reported: an emulator has no heap of a module's size to
    /// report, so it reports the machine's.
    fn memory(&self) -> MemoryUsage {
        let free = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemAvailable:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map(|kb| u32::try_from(kb.saturating_mul(1024)).unwrap_or(u32::MAX))
            .unwrap_or(0);
        let min_free = free.min(self.min_free.get());
        self.min_free.set(min_free);
        MemoryUsage { free, min_free }
    }
}

/// 32 bits from OpenSSL's generator (seeded by the operating system); should OpenSSL
/// fail, from the per-process keys std draws from the operating system for its hash
/// maps.
fn os_random_u32() -> u32 {
    let mut b = [0u8; 4];
    match openssl::rand::rand_bytes(&mut b) {
        Ok(()) => u32::from_ne_bytes(b),
        Err(e) => {
            log::warn!("OpenSSL's random generator failed ({e}): using std's hash keys");
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(0);
            h.finish() as u32
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn random_numbers_are_not_a_constant() {
        let draws: Vec<u32> = (0..8).map(|_| os_random_u32()).collect();
        assert!(
            draws.windows(2).any(|w| w[0] != w[1]),
            "eight equal draws: {draws:x?}"
        );
    }
}
