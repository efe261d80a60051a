//! The boundary between the engine and the chip it runs on, for everything that is not
//! the network: firmware identity (`AT+GMR`), the AT port's UART (`AT+UART_CUR`/`_DEF`),
//! restarts, memory figures (`AT+SYSRAM?`) and the settings store.
//!
//! A port to a new chip implements [`Platform`]; the std emulator and the W800 backend
//! are the two examples in this repository.

use crate::store::SettingsStore;

/// What `AT+GMR` reports. Host drivers parse the text between `AT version:` and `(` and
/// gate features on it and on the chip name, so a platform must tell the truth here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareInfo<'a> {
    /// AT firmware version, four numbers: `3.2.0.0`.
    pub at_version: &'a str,
    /// Build identifier shown first inside the parentheses.
    pub build: &'a str,
    /// Chip name: `W800`.
    pub chip: &'a str,
    /// Build date as `Mmm dd yyyy`.
    pub date: &'a str,
    /// Build time as `hh:mm:ss`.
    pub time: &'a str,
    /// Version of the chip vendor's SDK.
    pub sdk_version: &'a str,
    /// Short source hash shown in `compile time(<hash>)`.
    pub source_hash: &'a str,
    /// Module or binary name shown as `Bin version`.
    pub bin_version: &'a str,
}

/// Parity of the AT port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Parity {
    /// No parity bit (`0`).
    None = 0,
    /// Odd parity (`1`).
    Odd = 1,
    /// Even parity (`2`).
    Even = 2,
}

/// Hardware flow control of the AT port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowControl {
    /// None (`0`).
    None = 0,
    /// RTS only (`1`).
    Rts = 1,
    /// CTS only (`2`).
    Cts = 2,
    /// RTS and CTS (`3`).
    RtsCts = 3,
}

/// Stop bits of the AT port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopBits {
    /// One stop bit (`1`).
    One = 1,
    /// One and a half (`2`).
    OneAndHalf = 2,
    /// Two (`3`).
    Two = 3,
}

/// A UART configuration as `AT+UART_CUR`/`AT+UART_DEF` carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UartConfig {
    /// Baud rate.
    pub baud: u32,
    /// Data bits, 5 to 8.
    pub data_bits: u8,
    /// Stop bits.
    pub stop_bits: StopBits,
    /// Parity.
    pub parity: Parity,
    /// Flow control.
    pub flow: FlowControl,
}

impl UartConfig {
    /// 8N1 without flow control at `baud`.
    pub const fn new(baud: u32) -> Self {
        UartConfig {
            baud,
            data_bits: 8,
            stop_bits: StopBits::One,
            parity: Parity::None,
            flow: FlowControl::None,
        }
    }

    /// The 8-byte form kept in the settings store.
    pub fn encode(&self) -> [u8; 8] {
        let b = self.baud.to_le_bytes();
        [
            b[0],
            b[1],
            b[2],
            b[3],
            self.data_bits,
            self.stop_bits as u8,
            self.parity as u8,
            self.flow as u8,
        ]
    }

    /// Reads the stored form back; `None` for anything malformed.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let [b0, b1, b2, b3, data_bits, stop, parity, flow] = *bytes else {
            return None;
        };
        Some(UartConfig {
            baud: u32::from_le_bytes([b0, b1, b2, b3]),
            data_bits: (5..=8).contains(&data_bits).then_some(data_bits)?,
            stop_bits: match stop {
                1 => StopBits::One,
                2 => StopBits::OneAndHalf,
                3 => StopBits::Two,
                _ => return None,
            },
            parity: match parity {
                0 => Parity::None,
                1 => Parity::Odd,
                2 => Parity::Even,
                _ => return None,
            },
            flow: match flow {
                0 => FlowControl::None,
                1 => FlowControl::Rts,
                2 => FlowControl::Cts,
                3 => FlowControl::RtsCts,
                _ => return None,
            },
        })
    }
}

/// Heap figures for `AT+SYSRAM?`, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Free heap now.
    pub free: u32,
    /// Lowest free heap since boot.
    pub min_free: u32,
}

/// The platform refused a UART configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartError {
    /// The hardware cannot do this configuration.
    Unsupported,
}

/// Everything the engine needs from the chip besides the network.
pub trait Platform {
    /// The non-volatile settings store.
    type Store: SettingsStore;

    /// The settings store.
    fn store(&mut self) -> &mut Self::Store;

    /// Firmware identity for `AT+GMR`.
    fn firmware(&self) -> FirmwareInfo<'_>;

    /// Applies a UART configuration to the AT port. The engine calls it only after the
    /// `OK` of the command that asked for it has been written to the port.
    fn apply_uart(&mut self, config: &UartConfig) -> Result<(), UartError>;

    /// Brings the chip to its power-on state before `ready` (the engine has already reset
    /// its own state): `AT+RST` and `AT+RESTORE`.
    fn restart(&mut self);

    /// Heap figures for `AT+SYSRAM?`.
    fn memory(&self) -> MemoryUsage;
}
