//! TLS for the PostgreSQL store: `sslmode` and `sslrootcert` as libpq
//! documents them, with rustls.
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | no | — |
//! | `prefer` (default) | if the server offers TLS, else plain | no |
//! | `require` | yes, or the connection fails | no (with `sslrootcert` given: the chain, as `verify-ca`) |
//! | `verify-ca` | yes | the chain up to a CA in `sslrootcert` |
//! | `verify-full` | yes | the chain, and the host name of the URL |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the
//! operating system's trust store (which, as in libpq, needs
//! `verify-full`). Without it, `verify-ca` and `verify-full` use
//! `~/.postgresql/root.crt` when it exists, and fail otherwise.
//!
//! ```
//! use switchboard_store::postgres_tls::{SslMode, TlsSettings};
//!
//! let (url, tls) = TlsSettings::from_url("postgres://app@db.example/sb?sslmode=require&application_name=x").unwrap();
//! assert_eq!(tls.mode, SslMode::Require);
//! assert_eq!(url, "postgres://app@db.example/sb?application_name=x");
//! assert!(TlsSettings::from_url("postgres://db/sb?sslmode=allow").is_err());
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use switchboard_core::{Error, ErrorKind, Result};

/// The most CA certificates read from an `sslrootcert` file.
const MAX_ROOTS: usize = 1000;
/// The largest `sslrootcert` file read (1 MiB).
const MAX_ROOT_FILE_BYTES: u64 = 1024 * 1024;

/// libpq's `sslmode`, without `allow` (plain first, TLS only when refused),
/// which no managed PostgreSQL needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, without checking its certificate.
    Prefer,
    /// TLS always, without checking the certificate (unless `sslrootcert` is given).
    Require,
    /// TLS, and the certificate chain must lead to a CA in `sslrootcert`.
    VerifyCa,
    /// `VerifyCa`, and the certificate must name the host of the URL.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::invalid_argument(
                    "sslmode",
                    format!(
                        "`{}` is not supported: use disable, prefer, require, verify-ca or verify-full",
                        other.chars().take(40).collect::<String>()
                    ),
                ));
            }
        })
    }

    /// The name used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootCerts {
    /// A PEM file.
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

impl fmt::Display for RootCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootCerts::File(path) => write!(f, "sslrootcert={}", path.display()),
            RootCerts::System => f.write_str("sslrootcert=system"),
        }
    }
}

/// The TLS settings of a connection URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// `sslmode`, `prefer` when absent (as libpq).
    pub mode: SslMode,
    /// `sslrootcert`, if given.
    pub root_certs: Option<RootCerts>,
}

impl TlsSettings {
    /// Take `sslmode` and `sslrootcert` out of a `postgres://` URL's query;
    /// returns the URL without them and the settings.
    pub fn from_url(url: &str) -> Result<(String, TlsSettings)> {
        let mut settings = TlsSettings {
            mode: SslMode::Prefer,
            root_certs: None,
        };
        let (base, fragment) = match url.split_once('#') {
            Some((base, fragment)) => (base, Some(fragment)),
            None => (url, None),
        };
        let Some((head, query)) = base.split_once('?') else {
            return Ok((url.to_string(), settings));
        };
        let mut kept: Vec<&str> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value: String = url_decode(value);
            match key {
                "sslmode" => settings.mode = SslMode::parse(&value)?,
                "sslrootcert" => {
                    settings.root_certs = Some(if value == "system" {
                        RootCerts::System
                    } else if value.is_empty() {
                        return Err(Error::invalid_argument(
                            "sslrootcert",
                            "is empty: give a PEM file of CA certificates, or `system`",
                        ));
                    } else {
                        RootCerts::File(PathBuf::from(value))
                    })
                }
                _ => kept.push(pair),
            }
        }
        let mut out = head.to_string();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
        Ok((out, settings))
    }

    /// A `sslrootcert` given outside the URL ([`crate::postgres::PostgresOptions`]);
    /// the URL's wins.
    pub(crate) fn with_default_root(mut self, root: Option<&Path>) -> Self {
        if self.root_certs.is_none() {
            self.root_certs = root.map(|p| RootCerts::File(p.to_path_buf()));
        }
        self
    }

    /// The mode tokio-postgres negotiates with.
    pub(crate) fn wire_mode(&self) -> tokio_postgres::config::SslMode {
        match self.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        }
    }

    /// What is checked, for messages: `sslmode=verify-full, sslrootcert=...`.
    pub fn describe(&self) -> String {
        match &self.root_certs {
            Some(roots) => format!("sslmode={}, {roots}", self.mode.as_str()),
            None => format!("sslmode={}", self.mode.as_str()),
        }
    }

    /// The rustls configuration for these settings.
    pub(crate) fn client_config(&self) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_setup(format!("TLS setup failed: {e}")))?;
        if self.root_certs == Some(RootCerts::System) && self.mode != SslMode::VerifyFull {
            return Err(Error::invalid_argument(
                "sslrootcert",
                format!(
                    "`system` needs sslmode=verify-full (as in libpq), not {}",
                    self.mode.as_str()
                ),
            ));
        }
        let check_chain = match self.mode {
            SslMode::Disable | SslMode::Prefer => false,
            SslMode::Require => self.root_certs.is_some(),
            SslMode::VerifyCa | SslMode::VerifyFull => true,
        };
        if !check_chain {
            return Ok(builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoCertificateCheck(provider)))
                .with_no_client_auth());
        }
        let roots = Arc::new(self.load_roots()?);
        if self.mode == SslMode::VerifyFull {
            return Ok(builder.with_root_certificates(roots).with_no_client_auth());
        }
        let chain = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| tls_setup(format!("TLS setup failed: {e}")))?;
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(chain)))
            .with_no_client_auth())
    }

    fn load_roots(&self) -> Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        let path = match &self.root_certs {
            Some(RootCerts::System) => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(tls_setup(
                        "sslrootcert=system: the operating system's trust store holds no usable certificate".into(),
                    ));
                }
                return Ok(store);
            }
            Some(RootCerts::File(path)) => path.clone(),
            None => match default_root_file() {
                Some(path) => path,
                None => {
                    return Err(Error::invalid_argument(
                        "sslrootcert",
                        format!(
                            "sslmode={} checks the server's certificate against CA certificates: add sslrootcert=/path/to/ca.pem (or sslrootcert=system) to the URL, or set PostgresOptions::ssl_root_cert",
                            self.mode.as_str()
                        ),
                    ));
                }
            },
        };
        let size = std::fs::metadata(&path)
            .map_err(|e| root_file_error(&path, &e.to_string()))?
            .len();
        if size > MAX_ROOT_FILE_BYTES {
            return Err(root_file_error(&path, "is larger than 1 MiB"));
        }
        let mut count = 0;
        for cert in CertificateDer::pem_file_iter(&path)
            .map_err(|e| root_file_error(&path, &e.to_string()))?
        {
            let cert =
                cert.map_err(|e| root_file_error(&path, &format!("holds a bad PEM block: {e}")))?;
            count += 1;
            if count > MAX_ROOTS {
                return Err(root_file_error(&path, "holds more than 1000 certificates"));
            }
            store.add(cert).map_err(|e| {
                root_file_error(
                    &path,
                    &format!("holds a certificate that cannot be used as a CA: {e}"),
                )
            })?;
        }
        if store.is_empty() {
            return Err(root_file_error(
                &path,
                "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            ));
        }
        Ok(store)
    }
}

/// libpq's default CA file, when it exists.
fn default_root_file() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".postgresql").join("root.crt");
    path.is_file().then_some(path)
}

fn tls_setup(message: String) -> Error {
    Error::new(ErrorKind::Configuration, message)
}

fn root_file_error(path: &Path, what: &str) -> Error {
    Error::invalid_argument(
        "sslrootcert",
        format!("the CA file {} {what}", path.display()),
    )
}

fn url_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

/// Words for a failed connection whose cause is TLS, or `None`.
pub(crate) fn explain(
    error: &(dyn std::error::Error + 'static),
    settings: &TlsSettings,
    host: &str,
) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let found = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = found {
            let roots = settings
                .root_certs
                .as_ref()
                .map_or_else(|| "the CA file".to_string(), ToString::to_string);
            let why = match tls {
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                    format!("the server's certificate is not signed by a CA in {roots}")
                }
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                ) => format!(
                    "the server's certificate is not valid for the host `{host}` (verify-full checks the host name of the URL; verify-ca does not)"
                ),
                rustls::Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. },
                ) => "the server's certificate has expired".to_string(),
                other => format!("{other}"),
            };
            return Some(format!(
                "TLS with the PostgreSQL server {host} failed ({}): {why}",
                settings.describe()
            ));
        }
        current = e.source();
    }
    None
}

/// `require` / `prefer`: encrypt, accept any certificate (the handshake's
/// signatures are still checked).
#[derive(Debug)]
struct NoCertificateCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted CA; the host name is not
/// checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters_are_taken_out_and_decoded() {
        let (url, tls) = TlsSettings::from_url(
            "postgres://u:p@h:5432/db?sslrootcert=%2Ftmp%2Fca%20x.pem&sslmode=verify-full&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(url, "postgres://u:p@h:5432/db?connect_timeout=5");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(
            tls.root_certs,
            Some(RootCerts::File(PathBuf::from("/tmp/ca x.pem")))
        );
        let (url, tls) = TlsSettings::from_url("postgres://h/db").unwrap();
        assert_eq!(url, "postgres://h/db");
        assert_eq!(tls.mode, SslMode::Prefer);
        let (_, tls) =
            TlsSettings::from_url("postgres://h/db?sslrootcert=system&sslmode=verify-full")
                .unwrap();
        assert_eq!(tls.root_certs, Some(RootCerts::System));
    }

    #[test]
    fn bad_values_name_the_parameter_and_what_is_allowed() {
        let err = TlsSettings::from_url("postgres://h/db?sslmode=allow").unwrap_err();
        assert_eq!(err.field(), Some("sslmode"));
        assert!(
            err.to_string()
                .contains("disable, prefer, require, verify-ca or verify-full")
        );
        let err = TlsSettings::from_url("postgres://h/db?sslrootcert=").unwrap_err();
        assert_eq!(err.field(), Some("sslrootcert"));
        let (_, tls) =
            TlsSettings::from_url("postgres://h/db?sslmode=require&sslrootcert=system").unwrap();
        let err = tls.client_config().unwrap_err();
        assert!(
            err.to_string().contains("needs sslmode=verify-full"),
            "{err}"
        );
    }

    #[test]
    fn ca_files_are_checked_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let tls = TlsSettings {
            mode: SslMode::VerifyFull,
            root_certs: Some(RootCerts::File(missing.clone())),
        };
        let err = tls.client_config().unwrap_err();
        assert_eq!(err.field(), Some("sslrootcert"));
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let tls = TlsSettings {
            mode: SslMode::VerifyCa,
            root_certs: Some(RootCerts::File(junk)),
        };
        assert!(
            tls.client_config()
                .unwrap_err()
                .to_string()
                .contains("holds no PEM certificate")
        );
        // no verification wanted: no CA needed
        let tls = TlsSettings {
            mode: SslMode::Require,
            root_certs: None,
        };
        assert!(tls.client_config().is_ok());
    }
}
