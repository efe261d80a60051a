//! System-wide settings owned by the engine: echo, `AT+SYSLOG`, `AT+SYSMSG`,
//! `AT+SYSSTORE`, the AT port's UART configuration, and the chip profile.

use crate::platform::UartConfig;
use crate::profile::Profile;

/// Store key of `AT+SYSMSG`.
pub const KEY_SYSMSG: &str = "sys.msg";
/// Store key of `AT+UART_DEF`.
pub const KEY_UART_DEF: &str = "uart.def";

/// `AT+SYSMSG` bit 0: print `+QUITT` when transparent transmission ends.
pub const SYSMSG_QUITT: u8 = 1 << 0;
/// `AT+SYSMSG` bit 1: print `+LINK_CONN:...` instead of `<id>,CONNECT`.
pub const SYSMSG_LINK_CONN: u8 = 1 << 1;
/// `AT+SYSMSG` bit 2: in transparent mode, print connection and Wi-Fi state changes.
pub const SYSMSG_LINK_STATE: u8 = 1 << 2;

/// The engine's system settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct System {
    /// Limits and defaults of the chip.
    pub profile: Profile,
    /// Command echo (`ATE0`/`ATE1`); on after reset.
    pub echo: bool,
    /// `AT+SYSLOG`: print `ERR CODE:` lines before `ERROR`.
    pub syslog: bool,
    /// `AT+SYSMSG` bits.
    pub sysmsg: u8,
    /// `AT+SYSSTORE`: persist settings marked "saved in NVS". Itself never stored: every
    /// power-on starts at 1.
    pub sysstore: bool,
    /// The AT port's configuration now (`AT+UART_CUR`).
    pub uart_cur: UartConfig,
    /// The AT port's configuration after a restart (`AT+UART_DEF`).
    pub uart_def: UartConfig,
}

impl System {
    /// Factory settings for `profile`.
    pub const fn factory(profile: Profile) -> Self {
        System {
            profile,
            echo: true,
            syslog: false,
            sysmsg: 0,
            sysstore: true,
            uart_cur: UartConfig::new(profile.uart_baud_default),
            uart_def: UartConfig::new(profile.uart_baud_default),
        }
    }
}
