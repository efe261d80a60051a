//! The certificate store: numbered CA certificates and client certificate/key pairs (the
//! PKI and CA indexes of `AT+CIPSSLCCONF`), plus the module's own server certificate and
//! the CA its SSL server checks clients against (`AT+CIPSERVER`'s `<CA enable>`).
//!
//! The engine never reads certificates: it passes indexes in a
//! [`ClientConfig`](crate::tls::ClientConfig), and the platform's [`TlsStack`]
//! implementation looks them up in a store like this one. On a module the store is a
//! flash partition written at manufacturing time; `at-modem` reads a directory of PEM
//! files.
//!
//! [`TlsStack`]: crate::tls::TlsStack

/// A certificate (chain) and its private key, in the encoding the platform's TLS
/// library reads (PEM for `at-modem`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The certificate, followed by any intermediate certificates.
    pub certificate: &'a [u8],
    /// The private key.
    pub key: &'a [u8],
}

/// A store of certificates and keys, by index.
pub trait Pki {
    /// The CA certificate(s) of `index` that server certificates are verified against.
    fn ca(&self, index: u8) -> Option<&[u8]>;

    /// The client certificate and key of `index`.
    fn client_identity(&self, index: u8) -> Option<Identity<'_>>;

    /// The certificate and key the module's SSL server presents.
    fn server_identity(&self) -> Option<Identity<'_>>;

    /// The CA certificate(s) the SSL server verifies client certificates against.
    fn server_ca(&self) -> Option<&[u8]>;
}
