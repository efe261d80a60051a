//! The emulated module's certificate store ([`PkiStore`], an [`at_ssl::Pki`]): read from
//! a directory of PEM files (`at-modem --pki-dir DIR`), or generated at start as the
//! module's "factory" certificates, plus [`issue`], the certificate generator the
//! factory set and the tests use.
//!
//! # Directory layout
//!
//! | file | what | used by |
//! |---|---|---|
//! | `ca.<n>.pem` | CA certificate(s) of CA index `n` (0..=15) | `AT+CIPSSLCCONF` modes 2, 3 |
//! | `client.<n>.cert.pem`, `client.<n>.key.pem` | client certificate (chain) and key of PKI index `n` | modes 1, 3 |
//! | `server.cert.pem`, `server.key.pem` | the SSL server's certificate (chain) and key | `AT+CIPSERVER=1,<port>,"SSL"` |
//! | `server-ca.pem` | CA certificate(s) client certificates must chain to | `<CA enable>` 1 |
//!
//! Missing files are missing entries: a link that needs one fails its handshake setup
//! with `ERROR`.
//!
//! # Factory certificates
//!
//! Without `--pki-dir`, [`PkiStore::factory`] makes a fresh set at every start: one CA
//! (CA index 0 and the server CA), a server certificate for `localhost`, `127.0.0.1` and
//! `::1`, and a client certificate (PKI index 0), all P-256 keys signed by that CA. They
//! exist so SSL servers and client certificates work out of the box; they are different
//! at every start, so nothing outside can trust them, and no private key is ever written
//! to disk or committed.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::Path;

use at_ssl::{Identity, Pki};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

/// Highest index read from a directory ([`at_ssl::tls::PKI_INDEX_MAX`]).
const INDEX_MAX: u8 = at_ssl::tls::PKI_INDEX_MAX;

/// A certificate and key pair in PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemPair {
    /// The certificate, followed by any intermediates.
    pub certificate: Vec<u8>,
    /// The private key.
    pub key: Vec<u8>,
}

impl PemPair {
    /// The pair as an [`Identity`].
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            certificate: &self.certificate,
            key: &self.key,
        }
    }
}

/// Certificates and keys by index, in PEM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PkiStore {
    cas: BTreeMap<u8, Vec<u8>>,
    clients: BTreeMap<u8, PemPair>,
    server: Option<PemPair>,
    server_ca: Option<Vec<u8>>,
}

fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

fn read_pair(cert: &Path, key: &Path) -> io::Result<Option<PemPair>> {
    match (read_optional(cert)?, read_optional(key)?) {
        (Some(certificate), Some(key)) => Ok(Some(PemPair { certificate, key })),
        (None, None) => Ok(None),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} and {} go together", cert.display(), key.display()),
        )),
    }
}

impl PkiStore {
    /// An empty store: only auth mode 0 and PSK links work, no SSL server.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a directory laid out as the [module documentation](self) says.
    pub fn load(dir: &Path) -> io::Result<PkiStore> {
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory", dir.display()),
            ));
        }
        let mut store = PkiStore::new();
        for n in 0..=INDEX_MAX {
            if let Some(ca) = read_optional(&dir.join(format!("ca.{n}.pem")))? {
                store.cas.insert(n, ca);
            }
            let cert = dir.join(format!("client.{n}.cert.pem"));
            let key = dir.join(format!("client.{n}.key.pem"));
            if let Some(pair) = read_pair(&cert, &key)? {
                store.clients.insert(n, pair);
            }
        }
        store.server = read_pair(&dir.join("server.cert.pem"), &dir.join("server.key.pem"))?;
        store.server_ca = read_optional(&dir.join("server-ca.pem"))?;
        Ok(store)
    }

    /// A fresh factory set (see the [module documentation](self)).
    pub fn factory() -> Result<PkiStore, ErrorStack> {
        let ca = issue(&CertificateRequest::ca("W800 factory CA"), None)?;
        let server = issue(
            &CertificateRequest::leaf("localhost")
                .dns("localhost")
                .ip(IpAddr::from([127, 0, 0, 1]))
                .ip(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
            Some(&ca),
        )?;
        let client = issue(&CertificateRequest::leaf("w800-client"), Some(&ca))?;
        let mut store = PkiStore::new();
        store.set_ca(0, ca.pem.certificate.clone());
        store.set_server_ca(ca.pem.certificate.clone());
        store.set_client_identity(0, client.pem);
        store.set_server_identity(server.pem);
        Ok(store)
    }

    /// Sets CA index `index`.
    pub fn set_ca(&mut self, index: u8, pem: Vec<u8>) {
        self.cas.insert(index, pem);
    }

    /// Sets the client certificate and key of PKI index `index`.
    pub fn set_client_identity(&mut self, index: u8, pair: PemPair) {
        self.clients.insert(index, pair);
    }

    /// Sets the SSL server's certificate and key.
    pub fn set_server_identity(&mut self, pair: PemPair) {
        self.server = Some(pair);
    }

    /// Sets the CA client certificates must chain to.
    pub fn set_server_ca(&mut self, pem: Vec<u8>) {
        self.server_ca = Some(pem);
    }

    /// The SSL server's certificate and key, if any.
    pub fn server_pair(&self) -> Option<&PemPair> {
        self.server.as_ref()
    }
}

impl Pki for PkiStore {
    fn ca(&self, index: u8) -> Option<&[u8]> {
        self.cas.get(&index).map(Vec::as_slice)
    }

    fn client_identity(&self, index: u8) -> Option<Identity<'_>> {
        self.clients.get(&index).map(PemPair::identity)
    }

    fn server_identity(&self) -> Option<Identity<'_>> {
        self.server.as_ref().map(PemPair::identity)
    }

    fn server_ca(&self) -> Option<&[u8]> {
        self.server_ca.as_deref()
    }
}

/// What [`issue`] makes.
#[derive(Clone, Debug)]
pub struct CertificateRequest {
    /// Subject common name.
    pub common_name: String,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ips: Vec<IpAddr>,
    /// Start of validity, seconds relative to now (negative: in the past).
    pub not_before: i64,
    /// End of validity, seconds relative to now.
    pub not_after: i64,
    /// A CA certificate (may sign others).
    pub ca: bool,
}

const DAY: i64 = 86_400;

impl CertificateRequest {
    /// A CA valid from yesterday for ten years.
    pub fn ca(common_name: &str) -> Self {
        CertificateRequest {
            common_name: common_name.into(),
            dns_names: Vec::new(),
            ips: Vec::new(),
            not_before: -DAY,
            not_after: 3650 * DAY,
            ca: true,
        }
    }

    /// An end-entity certificate valid from yesterday for a year.
    pub fn leaf(common_name: &str) -> Self {
        CertificateRequest {
            ca: false,
            not_after: 365 * DAY,
            ..Self::ca(common_name)
        }
    }

    /// Adds a DNS name.
    pub fn dns(mut self, name: &str) -> Self {
        self.dns_names.push(name.into());
        self
    }

    /// Adds an IP address.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ips.push(ip);
        self
    }

    /// Sets the validity, in seconds relative to now.
    pub fn valid(mut self, not_before: i64, not_after: i64) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }
}

/// A certificate [`issue`] made, with its key: in PEM, and parsed for signing others.
#[derive(Clone)]
pub struct Issued {
    /// Certificate and key in PEM.
    pub pem: PemPair,
    cert: X509,
    key: PKey<Private>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

fn asn1_time(offset: i64) -> Result<Asn1Time, ErrorStack> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Asn1Time::from_unix((now + offset) as nix::libc::time_t)
}

/// Makes a P-256 key and a certificate for it, signed by `issuer` (self-signed without
/// one).
pub fn issue(request: &CertificateRequest, issuer: Option<&Issued>) -> Result<Issued, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, &request.common_name)?;
    let name = name.build();
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(120, MsbOption::MAYBE_ZERO, false)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    match issuer {
        Some(issuer) => builder.set_issuer_name(issuer.cert.subject_name())?,
        None => builder.set_issuer_name(&name)?,
    }
    builder.set_pubkey(&key)?;
    let (not_before, not_after) = (
        asn1_time(request.not_before)?,
        asn1_time(request.not_after)?,
    );
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    if request.ca {
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
    } else {
        builder.append_extension(BasicConstraints::new().build()?)?;
    }
    if !request.dns_names.is_empty() || !request.ips.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for dns in &request.dns_names {
            san.dns(dns);
        }
        for ip in &request.ips {
            san.ip(&ip.to_string());
        }
        let ext = san.build(&builder.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))?;
        builder.append_extension(ext)?;
    }
    let signer = issuer.map_or(&key, |i| &i.key);
    builder.sign(signer, MessageDigest::sha256())?;
    let cert = builder.build();
    Ok(Issued {
        pem: PemPair {
            certificate: cert.to_pem()?,
            key: key.private_key_to_pem_pkcs8()?,
        },
        cert,
        key,
    })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn directory_layout_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let ca = issue(&CertificateRequest::ca("Test CA"), None).unwrap();
        let leaf = issue(&CertificateRequest::leaf("c"), Some(&ca)).unwrap();
        fs::write(dir.path().join("ca.3.pem"), &ca.pem.certificate).unwrap();
        fs::write(dir.path().join("client.1.cert.pem"), &leaf.pem.certificate).unwrap();
        fs::write(dir.path().join("client.1.key.pem"), &leaf.pem.key).unwrap();
        let store = PkiStore::load(dir.path()).unwrap();
        assert_eq!(store.ca(3), Some(&ca.pem.certificate[..]));
        assert_eq!(store.ca(0), None);
        assert_eq!(
            store.client_identity(1).map(|i| i.key),
            Some(&leaf.pem.key[..])
        );
        assert!(store.server_identity().is_none());
        // A certificate without its key is a mistake worth stopping for.
        fs::write(dir.path().join("server.cert.pem"), &leaf.pem.certificate).unwrap();
        assert!(PkiStore::load(dir.path()).is_err());
        assert!(PkiStore::load(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn factory_set_chains_to_its_ca() {
        let store = PkiStore::factory().unwrap();
        let ca = X509::from_pem(store.ca(0).unwrap()).unwrap();
        let server = X509::from_pem(store.server_identity().unwrap().certificate).unwrap();
        let client = X509::from_pem(store.client_identity(0).unwrap().certificate).unwrap();
        let ca_key = ca.public_key().unwrap();
        assert!(server.verify(&ca_key).unwrap());
        assert!(client.verify(&ca_key).unwrap());
        assert_eq!(store.server_ca(), store.ca(0));
    }
}
