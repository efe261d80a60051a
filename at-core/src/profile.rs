//! Chip profiles: the numbers that differ between modules implementing the same command
//! set. [`Profile::W800`] is the default; [`Profile::ESP_AT`] gives Espressif's values for
//! hosts written against an ESP32.

use crate::time::Duration;

/// The limits and defaults of one chip's AT firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Short name, for logs.
    pub name: &'static str,
    /// Number of link ids (`0..max_links`); the id `max_links` means "all links".
    pub max_links: u8,
    /// Largest `<length>` of `AT+CIPSEND`/`AT+CIPSENDEX`.
    pub cipsend_max: u16,
    /// Transparent mode sends a block once this many bytes are buffered.
    pub transparent_block: u16,
    /// ... or once the serial input has been idle this long.
    pub transparent_idle: Duration,
    /// Silence required before and after `+++`, and the most allowed between the `+`s.
    pub escape_guard: Duration,
    /// Default of `AT+CIPV6`.
    pub ipv6_default: bool,
    /// How many DNS servers `AT+CIPDNS` accepts.
    pub dns_servers: u8,
    /// Most payload bytes in one active-mode `+IPD` message.
    pub ipd_max: u16,
    /// Passive-mode receive window per link, in bytes.
    pub recv_window: u16,
    /// Longest command line including its `\r\n`.
    pub max_line: u16,
    /// Lowest baud rate `AT+UART_CUR`/`AT+UART_DEF` accept.
    pub uart_baud_min: u32,
    /// Highest baud rate `AT+UART_CUR`/`AT+UART_DEF` accept.
    pub uart_baud_max: u32,
    /// Factory baud rate of the AT port.
    pub uart_baud_default: u32,
}

impl Profile {
    /// WinnerMicro W800 (WinnerMicro-AT firmware).
    pub const W800: Profile = Profile {
        name: "W800",
        max_links: 5,
        cipsend_max: 5760,
        transparent_block: 512,
        transparent_idle: Duration::from_millis(30),
        escape_guard: Duration::from_millis(30),
        ipv6_default: true,
        dns_servers: 2,
        ipd_max: 2920,
        recv_window: 5760,
        max_line: 256,
        uart_baud_min: 80,
        uart_baud_max: 2_000_000,
        uart_baud_default: 115_200,
    };

    /// Espressif ESP-AT v3.2 on an ESP32.
    pub const ESP_AT: Profile = Profile {
        name: "ESP-AT",
        max_links: 5,
        cipsend_max: 8192,
        transparent_block: 2920,
        transparent_idle: Duration::from_millis(20),
        escape_guard: Duration::from_millis(20),
        ipv6_default: false,
        dns_servers: 3,
        ipd_max: 2920,
        recv_window: 5760,
        max_line: 256,
        uart_baud_min: 80,
        uart_baud_max: 5_000_000,
        uart_baud_default: 115_200,
    };
}

impl Default for Profile {
    fn default() -> Self {
        Profile::W800
    }
}
