//! # at-platform-std
//!
//! The AT engine on Linux: the [`Platform`](at_core::Platform) of an emulated W800 Wi-Fi
//! module, the AT port it serves (pty, TCP, stdio or a real serial port), a byte trace
//! for debugging host drivers, and file-backed settings. The `at-modem` binary is a thin
//! command line over [`serve::run`].
//!
//! Deliberately missing so far: the network. The connection commands and the std
//! sockets behind them come with the TCP/IP work; until then the emulated module answers
//! the basic commands only.

pub mod platform;
pub mod port;
pub mod serve;
pub mod store;
pub mod trace;

pub use platform::{StdPlatform, Store};
pub use serve::{run, ModemConfig};
