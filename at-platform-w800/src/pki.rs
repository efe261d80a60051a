//! [`W800Pki`]: the certificate store of the SSL links ([`at_ssl::Pki`]) on the W800.
//!
//! On a module the certificates and keys are in flash (written at manufacturing time),
//! memory-mapped and never changing: the store keeps `&'static` slices of them, no
//! copies. The firmware fills it through the C API (`at_w800_pki_set_ca`,
//! `at_w800_pki_set_client`, `at_w800_pki_set_server`, `at_w800_pki_set_server_ca`) with
//! pointers into flash (or into static RAM); the TLS shim parses them (PEM, with or
//! without a terminating NUL, or DER) when a session starts.

use at_ssl::pki::{Identity, Pki};
use at_ssl::tls::PKI_INDEX_MAX;

const SLOTS: usize = PKI_INDEX_MAX as usize + 1;

/// Certificates by index (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct W800Pki {
    ca: [Option<&'static [u8]>; SLOTS],
    clients: [Option<Identity<'static>>; SLOTS],
    server: Option<Identity<'static>>,
    server_ca: Option<&'static [u8]>,
}

/// An index beyond [`PKI_INDEX_MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadIndex;

fn non_empty(data: Option<&'static [u8]>) -> Option<&'static [u8]> {
    data.filter(|d| !d.is_empty())
}

impl W800Pki {
    /// An empty store.
    pub const fn new() -> Self {
        W800Pki {
            ca: [None; SLOTS],
            clients: [None; SLOTS],
            server: None,
            server_ca: None,
        }
    }

    /// Sets (or, with `None` or an empty slice, clears) the CA certificate(s) of `index`.
    pub fn set_ca(&mut self, index: u8, pem: Option<&'static [u8]>) -> Result<(), BadIndex> {
        *self.ca.get_mut(usize::from(index)).ok_or(BadIndex)? = non_empty(pem);
        Ok(())
    }

    /// Sets (or clears) the client certificate and key of `index`.
    pub fn set_client_identity(
        &mut self,
        index: u8,
        identity: Option<Identity<'static>>,
    ) -> Result<(), BadIndex> {
        *self.clients.get_mut(usize::from(index)).ok_or(BadIndex)? =
            identity.filter(|i| !i.certificate.is_empty() && !i.key.is_empty());
        Ok(())
    }

    /// Sets (or clears) the certificate and key of the SSL server.
    pub fn set_server_identity(&mut self, identity: Option<Identity<'static>>) {
        self.server = identity.filter(|i| !i.certificate.is_empty() && !i.key.is_empty());
    }

    /// Sets (or clears) the CA the SSL server verifies clients against.
    pub fn set_server_ca(&mut self, pem: Option<&'static [u8]>) {
        self.server_ca = non_empty(pem);
    }
}

impl Pki for W800Pki {
    fn ca(&self, index: u8) -> Option<&[u8]> {
        self.ca.get(usize::from(index)).copied().flatten()
    }

    fn client_identity(&self, index: u8) -> Option<Identity<'_>> {
        self.clients.get(usize::from(index)).copied().flatten()
    }

    fn server_identity(&self) -> Option<Identity<'_>> {
        self.server
    }

    fn server_ca(&self) -> Option<&[u8]> {
        self.server_ca
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_checked_and_empty_data_clears() {
        let mut pki = W800Pki::new();
        assert_eq!(pki.set_ca(16, Some(b"x")), Err(BadIndex));
        pki.set_ca(15, Some(b"ca")).unwrap();
        assert_eq!(pki.ca(15), Some(&b"ca"[..]));
        pki.set_ca(15, Some(b"")).unwrap();
        assert_eq!(pki.ca(15), None);
        let id = Identity {
            certificate: b"c",
            key: b"k",
        };
        pki.set_client_identity(3, Some(id)).unwrap();
        assert_eq!(pki.client_identity(3), Some(id));
        assert_eq!(pki.client_identity(200), None);
        pki.set_server_identity(Some(Identity { key: b"", ..id }));
        assert_eq!(pki.server_identity(), None);
    }
}
