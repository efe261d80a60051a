//! # at-ssl
//!
//! SSL links for the AT engine: the TLS boundary a platform implements ([`TlsStack`]),
//! the certificate store it reads ([`Pki`]), and the SSL client settings of the W800
//! "TCP/IP AT" specification with their commands (`AT+CIPSSLCCONF`, `AT+CIPSSLCCN`,
//! `AT+CIPSSLCSNI`, `AT+CIPSSLCALPN`, `AT+CIPSSLCPSK`: [`SslSettings`]).
//!
//! The TCP/IP command set (`at-tcpip`) uses this crate for `AT+CIPSTART="SSL",...` and
//! `AT+CIPSERVER=1,<port>,"SSL"`: it opens the TCP connection, starts TLS on it with the
//! link id's settings, and keeps the link "connecting" until the handshake finishes.
//! The SSL commands share `AT+CIPMUX` with the TCP/IP set, so they are listed in its
//! command table and executed here.
//!
//! [`at_core::sim::SimNet`] implements [`TlsStack`] with a
//! simulated handshake, so the engine's SSL paths run in deterministic tests.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod pki;
pub mod settings;
mod sim;
pub mod tls;

pub use pki::{Identity, Pki};
pub use settings::{LinkSettings, SslCommand, SslSettings, SSL_COMMANDS};
pub use tls::{AuthMode, ClientConfig, Psk, ServerConfig, TlsError, TlsStack};
