//! # at-platform-w800
//!
//! The W800 backend of the AT engine: lwIP sockets over FFI, the NVS settings store, the
//! Wi-Fi station API, and a C API with a generated header for the W800 SDK.
//!
//! Deliberately missing so far: all of it. This crate holds its place in the workspace;
//! nothing here is usable yet, and it exports nothing.
#![no_std]
#![deny(missing_docs)]
