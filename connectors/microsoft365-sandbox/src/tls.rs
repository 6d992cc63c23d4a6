//! The self-signed certificate for `--tls`.

use std::path::{Path, PathBuf};

use switchboard_core::{Error, ErrorKind, Result};

/// A generated certificate and key, as PEM (kept in the state file, so a
/// restarted sandbox serves the certificate its clients trust).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct GeneratedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Generates a certificate for `localhost` and `127.0.0.1`.
pub(crate) fn generate() -> Result<GeneratedCert> {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(|e| {
                Error::new(
                    ErrorKind::Configuration,
                    "could not generate the sandbox's TLS certificate",
                )
                .with_source(e)
            })?;
    Ok(GeneratedCert {
        cert_pem: ck.cert.pem(),
        key_pem: ck.signing_key.serialize_pem(),
    })
}

/// Writes the certificate's PEM where clients can be told to trust it.
pub(crate) fn write_pem(path: Option<&Path>, port: u16, pem: &str) -> Result<PathBuf> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => std::env::temp_dir().join(format!("switchboard-sandbox-{port}.pem")),
    };
    std::fs::write(&path, pem).map_err(|e| {
        Error::new(
            ErrorKind::Configuration,
            format!(
                "could not write the sandbox's certificate to {}",
                path.display()
            ),
        )
        .with_field("tls_cert_path")
        .with_source(e)
    })?;
    Ok(path)
}
