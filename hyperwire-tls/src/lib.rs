//! # hyperwire-tls
//!
//! The rustls client configuration every hyperwire adapter uses: libpq's `sslmode`
//! semantics (verification off, chain only, or chain and host name), `sslrootcert`
//! (a file or `system`), client certificates, SNI, ALPN `postgresql`, and the
//! `tls-server-end-point` data for SCRAM-SHA-256-PLUS. The adapters only move bytes.
//!
//! The crypto provider is `ring`: it builds with a C compiler alone (aws-lc-rs also
//! needs cmake).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyperwire_proto::config::{Config, SslMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

pub use rustls;

/// TLS could not be configured (certificate files, root store, host name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

type Result<T> = std::result::Result<T, TlsError>;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Encryption only (`prefer`, `require` without a root certificate).
    None,
    /// The chain up to a trusted root, not the host name (`verify-ca`).
    Chain,
    /// Chain and host name (`verify-full`, `sslrootcert=system`).
    Full,
}

/// What the TLS layer of one connection needs.
#[derive(Clone)]
pub struct TlsSetup {
    /// The rustls configuration.
    pub config: Arc<ClientConfig>,
    /// The name the server's certificate is checked against (and sent as SNI).
    pub server_name: ServerName<'static>,
}

impl TlsSetup {
    /// The same settings for a cancel request's connection, without session
    /// resumption: the cancel would otherwise try to resume the session's TLS
    /// session, which hyperd (OpenSSL without a session id context) refuses with
    /// an internal_error alert. A cancel is rare; a full handshake costs little.
    pub fn for_cancel(&self) -> TlsSetup {
        let mut config = ClientConfig::clone(&self.config);
        config.resumption = rustls::client::Resumption::disabled();
        TlsSetup {
            config: Arc::new(config),
            server_name: self.server_name.clone(),
        }
    }
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn home_file(name: &str) -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".postgresql").join(name))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn tls_error(what: impl std::fmt::Display) -> TlsError {
    TlsError(what.to_string())
}

/// The TLS client configuration for `config`, to reach `host`.
pub fn setup(config: &Config, host: &str) -> Result<TlsSetup> {
    let mode = config.get_sslmode();
    let rootcert = config.get_sslrootcert();
    let default_root = home_file("root.crt").filter(|p| p.exists());
    let (verify, roots) = match (mode, rootcert) {
        (_, Some("system")) => (Verify::Full, Some(Roots::System)),
        (SslMode::VerifyFull | SslMode::VerifyCa, root) => {
            let path = root.map(PathBuf::from).or(default_root).ok_or_else(|| {
                tls_error(format!(
                    "root certificate file \"{}\" does not exist\nEither provide the file, use the system's trusted roots with sslrootcert=system, or change sslmode to disable server certificate verification.",
                    home_file("root.crt").map(|p| p.display().to_string()).unwrap_or_default()
                ))
            })?;
            let verify = if mode == SslMode::VerifyFull {
                Verify::Full
            } else {
                Verify::Chain
            };
            (verify, Some(Roots::File(path)))
        }
        // libpq: with a root certificate file present, require acts as verify-ca.
        (SslMode::Require, root) => match root.map(PathBuf::from).or(default_root) {
            Some(path) => (Verify::Chain, Some(Roots::File(path))),
            None => (Verify::None, None),
        },
        _ => (Verify::None, None),
    };
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        None => Arc::new(PgVerifier {
            verify,
            inner: None,
            provider: Arc::clone(&provider),
        }),
        Some(roots) => {
            let store = roots.load()?;
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(&provider))
                    .build()
                    .map_err(tls_error)?;
            Arc::new(PgVerifier {
                verify,
                inner: Some(inner),
                provider: Arc::clone(&provider),
            })
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let cert = config
        .get_sslcert()
        .map(PathBuf::from)
        .or_else(|| home_file("postgresql.crt").filter(|p| p.exists()));
    let mut tls = match cert {
        Some(cert_path) => {
            let key_path = config
                .get_sslkey()
                .map(PathBuf::from)
                .or_else(|| home_file("postgresql.key"))
                .unwrap_or_default();
            let chain = CertificateDer::pem_file_iter(&cert_path)
                .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| {
                    tls_error(format!(
                        "could not read certificate file \"{}\": {e}",
                        cert_path.display()
                    ))
                })?;
            let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
                tls_error(format!(
                    "could not read private key file \"{}\": {e}",
                    key_path.display()
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(tls_error)?
        }
        None => builder.with_no_client_auth(),
    };
    // As libpq 17: ALPN "postgresql" on every TLS connection (direct SSL needs it).
    tls.alpn_protocols = vec![b"postgresql".to_vec()];
    tls.enable_sni = config.get_sslsni();
    let server_name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_owned())
            .map_err(|_| tls_error(format!("invalid host name \"{host}\" for TLS")))?,
    };
    Ok(TlsSetup {
        config: Arc::new(tls),
        server_name,
    })
}

enum Roots {
    File(PathBuf),
    System,
}

impl Roots {
    fn load(&self) -> Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        match self {
            Roots::File(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
                    .map_err(|e| {
                        tls_error(format!(
                            "could not read root certificate file \"{}\": {e}",
                            path.display()
                        ))
                    })?;
                let (added, _) = store.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(tls_error(format!(
                        "no certificate in root certificate file \"{}\"",
                        path.display()
                    )));
                }
            }
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(found.certs);
                if store.is_empty() {
                    return Err(tls_error(
                        "sslrootcert=system, but the system has no trusted root certificates",
                    ));
                }
            }
        }
        Ok(store)
    }
}

/// Server certificate verification by `sslmode`.
#[derive(Debug)]
struct PgVerifier {
    verify: Verify,
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PgVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.verify == Verify::Chain => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What the handshake agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1_3`, `TLSv1_2`.
    pub protocol_version: String,
    /// The negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The ALPN protocol, if the server chose one.
    pub alpn: Option<String>,
}

impl TlsInfo {
    /// Reads what `conn` negotiated.
    pub fn of(conn: &rustls::ClientConnection) -> TlsInfo {
        TlsInfo {
            protocol_version: conn
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        }
    }
}

/// The `tls-server-end-point` channel-binding data of `conn`'s server certificate,
/// if it can be computed.
pub fn server_end_point(conn: &rustls::ClientConnection) -> Option<Vec<u8>> {
    let cert = conn.peer_certificates()?.first()?;
    hyperwire_proto::auth::tls_server_end_point(cert).ok()
}
