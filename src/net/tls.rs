//! TLS for `rerun+https`: rustls with the *ring* provider (no C toolchain beyond ring's),
//! HTTP/2 negotiated by ALPN (`h2`).
//!
//! * Clients trust [`ClientTls`]: by default the system's roots (which honour the
//!   `SSL_CERT_FILE` and `SSL_CERT_DIR` environment variables), or a CA given as PEM.
//!   Certificates are always verified: there is no switch to turn verification off.
//! * Servers present a [`ServerTls`]: a certificate chain and its key, as PEM.
//!
//! The configurations carry their own crypto provider, so they work whether or not the
//! process installed a default one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a TLS configuration could not be made.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The PEM holds no certificate.
    #[error("{what}: no certificate in the PEM")]
    NoCertificate {
        /// Which input.
        what: String,
    },
    /// The PEM holds no private key.
    #[error("{what}: no private key in the PEM")]
    NoKey {
        /// Which input.
        what: String,
    },
    /// The PEM is malformed.
    #[error("{what}: malformed PEM: {message}")]
    Pem {
        /// Which input.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// No root certificate to trust (the system has none, and none was given).
    #[error("no trusted root certificates (set SSL_CERT_FILE, or give a CA)")]
    NoRoots,
    /// rustls refused the certificates or key.
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what: what.to_owned(),
        });
    }
    Ok(certs)
}

/// What a client trusts when it dials `rerun+https`.
///
/// ```
/// use spate::net::{ClientTls, TlsError};
/// assert!(matches!(
///     ClientTls::from_ca_pem(b"not a certificate"),
///     Err(TlsError::NoCertificate { .. })
/// ));
/// ```
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    roots: usize,
}

impl ClientTls {
    /// The system's root certificates (`SSL_CERT_FILE` / `SSL_CERT_DIR` when set), loaded
    /// once per process.
    pub fn system() -> Result<Self, TlsError> {
        static SYSTEM: OnceLock<Result<ClientTls, TlsError>> = OnceLock::new();
        SYSTEM
            .get_or_init(|| {
                let found = rustls_native_certs::load_native_certs();
                let mut roots = rustls::RootCertStore::empty();
                let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
                Self::from_roots(roots)
            })
            .clone()
    }

    /// Trusts the CA certificates in `pem` (and nothing else).
    pub fn from_ca_pem(pem: &[u8]) -> Result<Self, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in certificates(pem, "CA")? {
            roots
                .add(cert)
                .map_err(|e| TlsError::Config(e.to_string()))?;
        }
        Self::from_roots(roots)
    }

    /// Trusts the CA certificates in the PEM file at `path`.
    pub fn from_ca_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        Self::from_ca_pem(&read(path.as_ref())?)
    }

    fn from_roots(roots: rustls::RootCertStore) -> Result<Self, TlsError> {
        if roots.is_empty() {
            return Err(TlsError::NoRoots);
        }
        let n = roots.len();
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            roots: n,
        })
    }

    pub(crate) fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.config.clone())
    }
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &self.roots)
            .finish()
    }
}

/// Two are equal when they are the same configuration (clones of one another).
impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for ClientTls {}

/// The certificate and key a server presents to `rerun+https` clients.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// From a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1).
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        let chain = certificates(cert_chain, "certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
                what: "key".to_owned(),
            },
            e => TlsError::Pem {
                what: "key".to_owned(),
                message: e.to_string(),
            },
        })?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// From PEM files (see [`from_pem`](Self::from_pem)).
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        Self::from_pem(&read(cert_chain.as_ref())?, &read(key.as_ref())?)
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

/// Two are equal when they are the same configuration (clones of one another).
impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for ServerTls {}
