//! # at-core
//!
//! The portable heart of an ESP-AT compatible AT command engine, as run by WinnerMicro
//! W800 Wi-Fi modules: line assembly, the command parser, dispatch, the response writer,
//! and the state machines that tie them together. `#![no_std]`, no allocator: every
//! buffer has a capacity fixed at compile time, chosen by the firmware through const
//! generics.
//!
//! The engine owns state; the caller owns I/O and time. A firmware task, or the
//! `at-modem` emulator, runs one loop:
//!
//! 1. [`Engine::feed`] the bytes received on the AT port (it takes what it can),
//! 2. [`Engine::poll`] with the current [`Instant`], the [`Platform`] and the port's
//!    writer,
//! 3. sleep until input arrives, the writer drains ([`Engine::has_output`]) or
//!    [`Engine::poll_delay`] expires.
//!
//! Commands beyond the basic set come from a [`CommandSet`]: the TCP/IP set of the
//! `at-tcpip` crate (with the SSL settings of `at-ssl`) and any vendor commands, composed as
//! tuples.
//!
//! ## Features
//! - `log`: diagnostics (the texts a module logs but never prints on the AT port) go to
//!   the `log` crate.
//! - `std`: host conveniences (`std::error::Error` impls).
//! - `arbitrary`: `arbitrary::Arbitrary` for input types, for the fuzz targets.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]
#![deny(unsafe_code)]

#[cfg(feature = "arbitrary")]
extern crate std;

#[macro_use]
mod fmt;

pub mod addr;
pub mod basic;
pub mod command;
pub mod data;
pub mod engine;
pub mod line;
pub mod link;
pub mod net;
pub mod params;
pub mod parse;
pub mod platform;
pub mod profile;
pub mod response;
pub mod sim;
pub mod store;
pub mod system;
pub mod testing;
pub mod text;
pub mod time;

pub use command::{CommandInfo, CommandSet, Context, Deferred, Forms, Outcome};
pub use engine::Engine;
pub use params::{ArgError, Args, Param};
pub use parse::Form;
pub use platform::{FirmwareInfo, Platform, UartConfig};
pub use profile::Profile;
pub use response::{ErrCode, ErrSub};
pub use store::SettingsStore;
pub use system::System;
pub use time::{Duration, Instant};
