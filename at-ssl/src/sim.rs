//! [`TlsStack`] for the simulated network ([`SimNet`]), so the engine's SSL paths run in
//! deterministic tests and under the fuzzer.
//!
//! The simulation carries plaintext: a "TLS" socket behaves like a TCP socket once its
//! handshake (of [`SimNet::set_tls_delay`] steps) is done. What the engine asked for is
//! written into the connection's description, which a test reads with
//! [`SimNet::peer_tls`]:
//! `client auth=<n> pki=<n> ca=<n> name=<verify name> sni=<sni or -> alpn=<a,b or ->
//! psk=<identity:hex key or -> time=<unix seconds or ->`, or
//! `server verify=<0|1> time=<...>`. The simulated certificate store holds PKI index 0,
//! CA index 0 and the server's certificate and CA; other indexes are
//! [`TlsError::MissingCertificate`].

use core::fmt::Write;

use at_core::net::nb;
use at_core::sim::{SimNet, SimTcp, TLS_NOTE_MAX};
use heapless::String;

use crate::tls::{ClientConfig, ServerConfig, TlsError, TlsStack};

/// Writes `Some(v)` as `v`, `None` as `-`.
struct OrDash<T>(Option<T>);

impl<T: core::fmt::Display> core::fmt::Display for OrDash<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

fn describe(config: &ClientConfig<'_>) -> String<TLS_NOTE_MAX> {
    let mut note = String::new();
    let _ = write!(
        note,
        "client auth={} pki={} ca={} name={} sni={} alpn=",
        config.auth as u8,
        config.pki_index,
        config.ca_index,
        config.verify_name,
        OrDash(config.sni)
    );
    let mut any = false;
    for name in config.alpn_protocols() {
        let _ = note.push_str(if any { "," } else { "" });
        let _ = note.push_str(core::str::from_utf8(name).unwrap_or("?"));
        any = true;
    }
    let _ = note.push_str(if any { " psk=" } else { "- psk=" });
    match config.psk {
        Some(psk) => {
            let _ = write!(note, "{}:", psk.identity);
            for b in psk.key {
                let _ = write!(note, "{b:02x}");
            }
        }
        None => {
            let _ = note.push('-');
        }
    }
    let _ = write!(note, " time={}", OrDash(config.unix_time));
    note
}

fn sim_error(e: at_core::sim::SimError) -> TlsError {
    match e {
        at_core::sim::SimError::Injected | at_core::sim::SimError::Reset => TlsError::Handshake,
        _ => TlsError::InvalidState,
    }
}

impl TlsStack for SimNet {
    fn tls_connect(
        &mut self,
        socket: &mut SimTcp,
        config: &ClientConfig<'_>,
    ) -> Result<(), TlsError> {
        let needs_pki = config.auth.presents_certificate() && config.pki_index != 0;
        let needs_ca = config.auth.verifies_server() && config.ca_index != 0;
        if needs_pki || needs_ca {
            return Err(TlsError::MissingCertificate);
        }
        self.tls_begin(*socket, &describe(config))
            .map_err(sim_error)
    }

    fn tls_accept(&mut self, socket: &mut SimTcp, config: &ServerConfig) -> Result<(), TlsError> {
        let mut note = String::<TLS_NOTE_MAX>::new();
        let _ = write!(
            note,
            "server verify={} time={}",
            u8::from(config.verify_clients),
            OrDash(config.unix_time)
        );
        self.tls_begin(*socket, &note).map_err(sim_error)
    }

    fn tls_handshake(&mut self, socket: &mut SimTcp) -> nb::Result<(), TlsError> {
        self.tls_progress(*socket).map_err(|e| e.map(sim_error))
    }

    fn tls_server_ready(&mut self, _verify_clients: bool) -> Result<(), TlsError> {
        Ok(())
    }
}
