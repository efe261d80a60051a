//! # at-platform-std
//!
//! The AT engine on Linux: the [`Platform`](at_core::Platform) of an emulated W800 Wi-Fi
//! module, the AT port it serves (pty, TCP, stdio or a real serial port), a byte trace
//! for debugging host drivers, and file-backed settings. The `at-modem` binary is a thin
//! command line over [`serve::run`].
//!
//! The network is the host's: [`stack::StdStack`] implements the engine's network
//! boundary over non-blocking std sockets, and [`station::EmulatedStation`] is a Wi-Fi
//! station that "sees" the access points given with `--ap` and reports the host's real
//! addresses once joined. SSL links run on OpenSSL ([`tls`]) with the certificates of a
//! [`pki::PkiStore`] (`--pki-dir`, or factory certificates made at start).

pub mod ping;
pub mod pki;
pub mod platform;
pub mod port;
pub mod serve;
pub mod stack;
pub mod station;
pub mod store;
pub mod tls;
pub mod trace;

pub use platform::{StdPlatform, Store};
pub use serve::{run, ModemConfig};
