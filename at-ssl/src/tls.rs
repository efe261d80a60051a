//! The TLS boundary: [`TlsStack`], what a platform's TCP/IP stack implements so that SSL
//! links work, and the configurations the engine hands it.
//!
//! TLS runs *inside* a TCP socket of the stack: the engine connects (or accepts) a plain
//! TCP socket, asks the stack to start TLS on it ([`TlsStack::tls_connect`],
//! [`TlsStack::tls_accept`]), drives the handshake with [`TlsStack::tls_handshake`]
//! until it finishes, and from then on the socket's ordinary
//! [`TcpClientStack::send`](at_core::net::TcpClientStack::send),
//! [`receive`](at_core::net::TcpClientStack::receive) and
//! [`TcpExt::tcp_available`] carry plaintext. Closing the socket ends the TLS session.
//! Every data path of the engine (`AT+CIPSEND`, transparent mode, active and passive
//! receive) therefore works over SSL links without knowing about TLS.
//!
//! Certificates and keys stay with the platform: the engine names them by index
//! ([`ClientConfig::pki_index`], [`ClientConfig::ca_index`]), the platform finds them in
//! its certificate store ([`crate::pki::Pki`]).

use at_core::net::{nb, TcpExt};

/// Highest PKI (client certificate and key) and CA index `AT+CIPSSLCCONF` accepts.
pub const PKI_INDEX_MAX: u8 = 15;

/// How an SSL client authenticates (`AT+CIPSSLCCONF`'s `<auth_mode>`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AuthMode {
    /// 0: no authentication: any server certificate is accepted, none is presented.
    #[default]
    None = 0,
    /// 1: the module presents its client certificate (PKI index).
    ClientCertificate = 1,
    /// 2: the module verifies the server's certificate with a CA (CA index).
    VerifyServer = 2,
    /// 3: both.
    Mutual = 3,
}

impl AuthMode {
    /// The mode for `<auth_mode>` 0..=3.
    pub fn from_number(n: u8) -> Option<AuthMode> {
        match n {
            0 => Some(AuthMode::None),
            1 => Some(AuthMode::ClientCertificate),
            2 => Some(AuthMode::VerifyServer),
            3 => Some(AuthMode::Mutual),
            _ => None,
        }
    }

    /// Presents the client certificate of the PKI index (modes 1 and 3).
    pub fn presents_certificate(self) -> bool {
        matches!(self, AuthMode::ClientCertificate | AuthMode::Mutual)
    }

    /// Verifies the server's certificate against the CA index (modes 2 and 3).
    pub fn verifies_server(self) -> bool {
        matches!(self, AuthMode::VerifyServer | AuthMode::Mutual)
    }
}

/// A pre-shared key for TLS-PSK (`AT+CIPSSLCPSK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Psk<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The identity the client sends (the specification's `<"hint">`).
    pub identity: &'a str,
}

/// Everything the platform needs to start a TLS client on a connected socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig<'a> {
    /// Which certificates take part.
    pub auth: AuthMode,
    /// Client certificate and key to present (when [`AuthMode::presents_certificate`]).
    pub pki_index: u8,
    /// CA to verify the server with (when [`AuthMode::verifies_server`]).
    pub ca_index: u8,
    /// The name the server's certificate must carry (when [`AuthMode::verifies_server`]):
    /// `AT+CIPSSLCCN`, or else the host `AT+CIPSTART` was given. An IP address in text
    /// form must match an IP address of the certificate.
    pub verify_name: &'a str,
    /// Server Name Indication: `AT+CIPSSLCSNI`, or else the host name `AT+CIPSTART` was
    /// given; `None` for an IP address without a configured SNI.
    pub sni: Option<&'a str>,
    /// ALPN protocols in their wire format (each one length byte, then the name); empty
    /// for none.
    pub alpn: &'a [u8],
    /// TLS-PSK instead of certificates (TLS 1.2 PSK cipher suites), when configured and
    /// [`AuthMode::None`].
    pub psk: Option<Psk<'a>>,
    /// Seconds since 1970 from the module's clock (SNTP), to check certificate validity;
    /// `None` when the module has no time yet. A platform with a trustworthy clock of its
    /// own may use that instead.
    pub unix_time: Option<u64>,
}

impl ClientConfig<'_> {
    /// The ALPN protocol names, in order.
    pub fn alpn_protocols(&self) -> AlpnIter<'_> {
        AlpnIter::new(self.alpn)
    }
}

/// Iterator over ALPN protocol names in wire format.
#[derive(Clone, Debug)]
pub struct AlpnIter<'a> {
    rest: &'a [u8],
}

impl<'a> AlpnIter<'a> {
    /// The names in `wire` (each one length byte, then the name); stops at a truncated
    /// entry.
    pub fn new(wire: &'a [u8]) -> Self {
        AlpnIter { rest: wire }
    }
}

impl<'a> Iterator for AlpnIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let len = usize::from(len);
        let name = tail.get(..len)?;
        self.rest = tail.get(len..).unwrap_or_default();
        Some(name)
    }
}

/// Everything the platform needs to start a TLS server on an accepted socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// `AT+CIPSERVER`'s `<CA enable>`: clients must present a certificate signed by the
    /// server's CA.
    pub verify_clients: bool,
    /// As [`ClientConfig::unix_time`].
    pub unix_time: Option<u64>,
}

/// Why TLS could not start or finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsError {
    /// The platform has no TLS (or not this feature: PSK, ALPN, ...).
    Unsupported,
    /// The certificate, key or CA the configuration names is not in the store.
    MissingCertificate,
    /// The peer's certificate failed verification (issuer, validity, name).
    Verification,
    /// The handshake failed otherwise (protocol alert, no common cipher, wrong PSK, the
    /// peer closed).
    Handshake,
    /// Out of memory or sessions.
    Resources,
    /// The socket is not connected, or TLS already started on it.
    InvalidState,
}

/// TLS on the sockets of a TCP/IP stack: the boundary a platform implements for SSL
/// links. See the [module documentation](self) for the life of a TLS socket.
///
/// Every method has a default that answers [`TlsError::Unsupported`], so a platform
/// without TLS implements the trait with an empty block; its SSL links and servers then
/// answer `ERROR`.
///
/// All calls are non-blocking like the rest of the stack: the handshake advances as far
/// as the network allows on each [`TlsStack::tls_handshake`] call.
pub trait TlsStack: TcpExt {
    /// Starts a TLS client on a connected socket. The configuration's strings are only
    /// borrowed for the call: copy what the handshake needs.
    fn tls_connect(
        &mut self,
        socket: &mut Self::TcpSocket,
        config: &ClientConfig<'_>,
    ) -> Result<(), TlsError> {
        let _ = (socket, config);
        Err(TlsError::Unsupported)
    }

    /// Starts a TLS server on an accepted socket, with the server's own certificate.
    fn tls_accept(
        &mut self,
        socket: &mut Self::TcpSocket,
        config: &ServerConfig,
    ) -> Result<(), TlsError> {
        let _ = (socket, config);
        Err(TlsError::Unsupported)
    }

    /// Advances the handshake: `Ok` once it is complete (then again on later calls),
    /// `WouldBlock` while it waits for the peer, the error once it failed (the socket
    /// must then be closed).
    fn tls_handshake(&mut self, socket: &mut Self::TcpSocket) -> nb::Result<(), TlsError> {
        let _ = socket;
        Err(nb::Error::Other(TlsError::Unsupported))
    }

    /// Whether a TLS server can run: the store holds the server's certificate and key,
    /// and, when `verify_clients`, the CA for client certificates.
    fn tls_server_ready(&mut self, verify_clients: bool) -> Result<(), TlsError> {
        let _ = verify_clients;
        Err(TlsError::Unsupported)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn alpn_wire_format_iterates() {
        let config = ClientConfig {
            auth: AuthMode::None,
            pki_index: 0,
            ca_index: 0,
            verify_name: "",
            sni: None,
            alpn: b"\x02h2\x08http/1.1",
            psk: None,
            unix_time: None,
        };
        let names: heapless::Vec<&[u8], 4> = config.alpn_protocols().collect();
        assert_eq!(names, [&b"h2"[..], &b"http/1.1"[..]]);
        let truncated = ClientConfig {
            alpn: b"\x05ab",
            ..config
        };
        assert_eq!(truncated.alpn_protocols().count(), 0);
    }

    #[test]
    fn auth_modes() {
        assert_eq!(AuthMode::from_number(4), None);
        let modes: heapless::Vec<(bool, bool), 4> = (0..4)
            .filter_map(AuthMode::from_number)
            .map(|m| (m.presents_certificate(), m.verifies_server()))
            .collect();
        assert_eq!(
            modes,
            [(false, false), (true, false), (false, true), (true, true)]
        );
    }
}
