//! TLS for the client (rustls, ring provider), configured the way
//! mosquitto_pub/sub are: `--cafile`, `--capath`, `--cert`/`--key`,
//! `--insecure` (no host name check), `--tls-version` (minimum),
//! `--ciphers`, `--tls-alpn`, `--tls-use-os-certs`. [`TlsConfig::connector`]
//! builds the rustls configuration once; [`tls_over`] runs the handshake
//! on an open stream and gives a [`Transport`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::ClientError;
use crate::transport::{ByteStream, Transport};

/// Where the system's CA bundle usually is (`--tls-use-os-certs`).
const OS_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// TLS options of a client connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA certificates to trust (PEM file).
    pub cafile: Option<PathBuf>,
    /// Directory of CA certificates (every PEM file in it).
    pub capath: Option<PathBuf>,
    /// Trust the operating system's CA bundle too.
    pub os_certs: bool,
    /// Client certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// Client private key (PEM).
    pub key: Option<PathBuf>,
    /// Do not check that the certificate names the host (`--insecure`).
    pub insecure: bool,
    /// Minimum version: `tlsv1.3`, `tlsv1.2` (`tlsv1.1` means 1.2 here).
    pub min_version: Option<String>,
    /// Cipher suites, `:`-separated OpenSSL or IANA names.
    pub ciphers: Option<String>,
    /// ALPN protocol to offer.
    pub alpn: Option<String>,
}

fn tls_err(what: impl std::fmt::Display) -> ClientError {
    ClientError::Io {
        context: "setting up TLS",
        source: io::Error::other(what.to_string()),
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_err(format!("{}: {e}", path.display())))
}

/// The suites a `--ciphers` list names (OpenSSL or IANA names).
fn suites(list: &str) -> Result<Vec<rustls::SupportedCipherSuite>, ClientError> {
    let all = provider::ALL_CIPHER_SUITES;
    let openssl = |s: &rustls::SupportedCipherSuite| {
        // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 -> ECDHE-RSA-AES128-GCM-SHA256
        format!("{:?}", s.suite())
            .trim_start_matches("TLS_")
            .replace("_WITH_", "_")
            .replace("AES_128", "AES128")
            .replace("AES_256", "AES256")
            .replace("CHACHA20_POLY1305_SHA256", "CHACHA20_POLY1305")
            .replace('_', "-")
    };
    let mut out = Vec::new();
    for name in list.split([':', ',', ' ']).filter(|n| !n.is_empty()) {
        let found = all.iter().find(|s| {
            let iana = format!("{:?}", s.suite());
            iana == name || iana.replace("TLS13_", "TLS_") == name || openssl(s) == name
        });
        match found {
            Some(s) => out.push(*s),
            None => return Err(tls_err(format!("cipher suite '{name}' is not available"))),
        }
    }
    Ok(out)
}

/// Accepts any name in a certificate that chains to a trusted CA:
/// mosquitto's `--insecure`.
#[derive(Debug)]
struct NoHostCheck(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NoHostCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl TlsConfig {
    /// Build the rustls configuration.
    ///
    /// # Errors
    /// An unreadable or malformed file, no CA at all, an unknown cipher or
    /// version.
    pub fn connector(&self) -> Result<Arc<ClientConfig>, ClientError> {
        let mut roots = RootCertStore::empty();
        if let Some(f) = &self.cafile {
            for c in certs(f)? {
                roots.add(c).map_err(tls_err)?;
            }
        }
        if let Some(dir) = &self.capath {
            let entries =
                std::fs::read_dir(dir).map_err(|e| tls_err(format!("{}: {e}", dir.display())))?;
            for e in entries.flatten() {
                for c in certs(&e.path()).unwrap_or_default() {
                    let _ = roots.add(c);
                }
            }
        }
        if self.os_certs {
            if let Some(bundle) = OS_BUNDLES.iter().map(Path::new).find(|p| p.exists()) {
                for c in certs(bundle)? {
                    let _ = roots.add(c);
                }
            }
        }
        if roots.is_empty() {
            return Err(tls_err("no CA certificate to verify the broker with (--cafile, --capath or --tls-use-os-certs)"));
        }
        let mut p = provider::default_provider();
        if let Some(list) = &self.ciphers {
            p.cipher_suites = suites(list)?;
        }
        let versions: &[&rustls::SupportedProtocolVersion] = match self.min_version.as_deref() {
            None | Some("tlsv1.2") | Some("tlsv1.1") => {
                &[&rustls::version::TLS13, &rustls::version::TLS12]
            }
            Some("tlsv1.3") => &[&rustls::version::TLS13],
            Some(v) => return Err(tls_err(format!("unknown TLS version '{v}'"))),
        };
        let p = Arc::new(p);
        let builder = ClientConfig::builder_with_provider(p.clone())
            .with_protocol_versions(versions)
            .map_err(tls_err)?;
        let roots = Arc::new(roots);
        let builder = if self.insecure {
            let inner = WebPkiServerVerifier::builder_with_provider(roots, p)
                .build()
                .map_err(tls_err)?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoHostCheck(inner)))
        } else {
            builder.with_root_certificates(roots)
        };
        let mut config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| tls_err(format!("{}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(certs(cert)?, key)
                    .map_err(tls_err)?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(tls_err("--cert and --key go together")),
        };
        if let Some(alpn) = &self.alpn {
            config.alpn_protocols = vec![alpn.as_bytes().to_vec()];
        }
        Ok(Arc::new(config))
    }
}

/// Run the TLS handshake over `stream` with the broker `host`.
///
/// # Errors
/// The host is not a valid server name, or the handshake failed (the
/// broker's certificate was refused, or it refused ours).
pub async fn tls_over<S: ByteStream>(
    stream: S,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<Transport, ClientError> {
    let name = ServerName::try_from(host.to_owned()).map_err(tls_err)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| ClientError::Io {
            context: "TLS handshake",
            source: e,
        })?;
    Ok(Transport::Custom(Box::new(tls)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_names() {
        assert_eq!(suites("ECDHE-RSA-AES128-GCM-SHA256").unwrap().len(), 1);
        assert_eq!(
            suites("TLS_AES_256_GCM_SHA384:ECDHE-ECDSA-CHACHA20-POLY1305")
                .unwrap()
                .len(),
            2
        );
        assert!(suites("DHE-RSA-AES256-SHA").is_err());
    }
}
