//! Benchmarks and measurements of the AT engine: the command path, the data path and the
//! end-to-end `at-modem` numbers (timed and counted with callgrind), RAM footprint and
//! code size. `./scripts/bench.sh` runs everything and writes `target/bench/results.md`
//! and `target/bench/results.json`; see the Performance section of the README.
#![cfg_attr(not(feature = "std"), no_std)]

pub mod firmware;

#[cfg(feature = "std")]
pub mod callgrind;
#[cfg(feature = "std")]
pub mod csky;
#[cfg(feature = "std")]
pub mod e2e;
#[cfg(feature = "std")]
pub mod footprint;
#[cfg(feature = "std")]
pub mod scenarios;
