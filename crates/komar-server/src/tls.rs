//! TLS on a listener, with rustls (ring provider): building the server
//! configuration from Mosquitto's options (`cafile`, `capath`, `certfile`,
//! `keyfile`, `crlfile`, `require_certificate`, `tls_version`, `ciphers`,
//! `ciphers_tls1.3`), swapping it on reload, the handshake, and the
//! connection halves the connection task reads and writes through.
//!
//! The halves drive a `rustls::ServerConnection` directly over the socket's
//! readiness (as plain TCP does), so an idle TLS connection holds no read
//! buffer of Komar's. They share the rustls state behind a mutex that is
//! never contended: both halves are polled by the same task.
//!
//! Not here: what the certificate's name means for the login
//! ([`crate::peer`]), parsing the certificate ([`crate::x509`]).

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use std::io::{self, IoSlice, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use komar_core::OutBuf;
use parking_lot::{Mutex, RwLock};
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::{ServerConfig, ServerConnection, WebPkiClientVerifier};
use rustls::{RootCertStore, SupportedCipherSuite};

use crate::io::{ConnRead, ConnWrite, RawRead, RawSocket, RawWrite, TryReader, TryWriter};

/// Slices handed to one write into rustls.
const MAX_SLICES: usize = 32;

/// Minimum TLS version of a listener (`tls_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MinTlsVersion {
    /// TLS 1.2 and 1.3 (rustls has nothing older; `tlsv1.1` means this).
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// How a client certificate names the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertUsername {
    /// The CONNECT's user name and password apply.
    #[default]
    Off,
    /// `use_identity_as_username`: the subject's commonName.
    CommonName,
    /// `use_subject_as_username`: the whole subject (RFC 2253).
    Subject,
}

/// A TLS listener's options as written in the configuration, kept so a
/// reload can build the same configuration from the files again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `cafile`: CAs that sign client certificates.
    pub cafile: Option<PathBuf>,
    /// `capath`: directory of CA certificates (every PEM file in it).
    pub capath: Option<PathBuf>,
    /// `certfile`: the server's certificate chain.
    pub certfile: PathBuf,
    /// `keyfile`: the server's private key.
    pub keyfile: PathBuf,
    /// `crlfile`: revoked client certificates.
    pub crlfile: Option<PathBuf>,
    /// `require_certificate`: refuse clients without a valid certificate.
    pub require_certificate: bool,
    /// `tls_version`.
    pub min_version: Option<MinTlsVersion>,
    /// `ciphers` (OpenSSL syntax, TLS 1.2 suites).
    pub ciphers: Option<String>,
    /// `ciphers_tls1.3`.
    pub ciphers_tls13: Option<String>,
}

/// A TLS configuration problem, naming the option it comes from so the
/// caller can point at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfigError {
    /// The configuration option (`certfile`, `ciphers`, ...).
    pub option: &'static str,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.option, self.message)
    }
}

fn err(option: &'static str, message: impl Into<String>) -> TlsConfigError {
    TlsConfigError {
        option,
        message: message.into(),
    }
}

/// rustls's TLS 1.2 suites with their OpenSSL names.
fn tls12_suites() -> [(&'static str, SupportedCipherSuite); 6] {
    use provider::cipher_suite as cs;
    [
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
}

/// rustls's TLS 1.3 suites (OpenSSL and IANA use the same names).
fn tls13_suites() -> [(&'static str, SupportedCipherSuite); 3] {
    use provider::cipher_suite as cs;
    [
        ("TLS_AES_256_GCM_SHA384", cs::TLS13_AES_256_GCM_SHA384),
        ("TLS_AES_128_GCM_SHA256", cs::TLS13_AES_128_GCM_SHA256),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ),
    ]
}

/// OpenSSL cipher-list keywords that select some of rustls's TLS 1.2
/// suites, by the words their OpenSSL names must contain.
fn alias(word: &str) -> Option<&'static [&'static str]> {
    Some(match word {
        "DEFAULT" | "ALL" | "HIGH" | "ECDHE" | "EECDH" | "kEECDH" | "kECDHE" | "AEAD"
        | "TLSv1.2" | "FIPS" | "SECURE" => &[],
        "AESGCM" | "AES" => &["-GCM-"],
        "AES256" => &["AES256"],
        "AES128" => &["AES128"],
        "CHACHA20" => &["CHACHA20"],
        "ECDSA" | "aECDSA" => &["-ECDSA-"],
        "RSA" | "aRSA" => &["-RSA-"],
        "SHA256" => &["SHA256"],
        "SHA384" => &["SHA384"],
        _ => return None,
    })
}

/// OpenSSL keywords that select nothing rustls offers (weak or absent
/// algorithms): harmless in a list, they add nothing.
fn selects_nothing(word: &str) -> bool {
    matches!(
        word,
        "MEDIUM"
            | "LOW"
            | "EXPORT"
            | "EXP"
            | "aNULL"
            | "eNULL"
            | "NULL"
            | "COMPLEMENTOFDEFAULT"
            | "COMPLEMENTOFALL"
            | "RC4"
            | "MD5"
            | "DES"
            | "3DES"
            | "SSLv3"
            | "TLSv1"
            | "TLSv1.0"
            | "PSK"
            | "SRP"
            | "DSS"
            | "aDSS"
            | "CAMELLIA"
            | "SEED"
            | "IDEA"
            | "ARIA"
            | "CCM"
            | "CCM8"
            | "kRSA"
            | "DHE"
            | "EDH"
            | "kDHE"
            | "kEDH"
            | "ADH"
            | "AECDH"
            | "SHA1"
            | "SHA"
    )
}

/// The TLS 1.2 suites an OpenSSL cipher list (`ciphers`) selects, in its
/// order. Keywords (`HIGH`, `!aNULL`, `@STRENGTH`, ...) are understood as
/// far as they concern rustls's suites; a named suite rustls does not have
/// is an error, as is a list that selects nothing.
///
/// # Errors
/// The unknown suite name, or the empty selection, with what rustls offers.
pub fn parse_ciphers(list: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let known = tls12_suites();
    let offered = || known.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(":");
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    let matches_alias = |name: &str, words: &[&str]| words.iter().all(|w| name.contains(w));
    for token in list.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        if token.starts_with('@') {
            continue; // @STRENGTH, @SECLEVEL=n: ordering and levels.
        }
        let (remove, word) = match token.strip_prefix(['!', '-']) {
            Some(w) => (true, w),
            None => (false, token.strip_prefix('+').unwrap_or(token)),
        };
        // `A+B` selects what both select.
        let parts: Vec<&str> = word.split('+').collect();
        let mut selected: Vec<SupportedCipherSuite> = Vec::new();
        let mut understood = true;
        for (name, suite) in &known {
            let by_name = parts.len() == 1
                && (word == *name || word == format!("{:?}", suite.suite()).as_str());
            let by_alias = parts.iter().all(|p| match alias(p) {
                Some(words) => matches_alias(name, words),
                None => false,
            });
            if by_name || by_alias {
                selected.push(*suite);
            }
        }
        if selected.is_empty() {
            understood = parts
                .iter()
                .all(|p| alias(p).is_some() || selects_nothing(p));
        }
        if !understood && !remove {
            return Err(format!(
                "cipher suite '{word}' is not available in Komar's TLS library (rustls offers {})",
                offered()
            ));
        }
        for s in selected {
            if remove {
                chosen.retain(|c| c.suite() != s.suite());
            } else if !chosen.iter().any(|c| c.suite() == s.suite()) {
                chosen.push(s);
            }
        }
    }
    if chosen.is_empty() {
        return Err(format!(
            "the cipher list '{list}' selects no suite that rustls offers ({})",
            offered()
        ));
    }
    Ok(chosen)
}

/// The TLS 1.3 suites `ciphers_tls1.3` names, in order.
///
/// # Errors
/// A name rustls does not have, or an empty list.
pub fn parse_ciphers_tls13(list: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let known = tls13_suites();
    let mut chosen = Vec::new();
    for name in list.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        let Some((_, suite)) = known.iter().find(|(n, _)| *n == name) else {
            return Err(format!(
                "TLS 1.3 cipher suite '{name}' is not available in Komar's TLS library (rustls offers {})",
                known.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(":")
            ));
        };
        chosen.push(*suite);
    }
    if chosen.is_empty() {
        return Err("empty TLS 1.3 cipher list".to_owned());
    }
    Ok(chosen)
}

fn load_certs(
    path: &Path,
    option: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(option, format!("cannot read {}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            err(
                option,
                format!("{}: not a PEM certificate file: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(err(
            option,
            format!("{}: no certificate in the file", path.display()),
        ));
    }
    Ok(certs)
}

fn load_roots(opts: &TlsOptions) -> Result<Option<RootCertStore>, TlsConfigError> {
    if opts.cafile.is_none() && opts.capath.is_none() {
        return Ok(None);
    }
    let mut roots = RootCertStore::empty();
    if let Some(path) = &opts.cafile {
        for c in load_certs(path, "cafile")? {
            roots
                .add(c)
                .map_err(|e| err("cafile", format!("{}: {e}", path.display())))?;
        }
    }
    if let Some(dir) = &opts.capath {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| err("capath", format!("cannot read {}: {e}", dir.display())))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.is_file()) {
            // OpenSSL's hashed directories hold certificates and CRLs side
            // by side: take what parses as a certificate.
            let Ok(iter) = CertificateDer::pem_file_iter(p) else {
                continue;
            };
            for c in iter.flatten() {
                let _ = roots.add(c);
            }
        }
    }
    if roots.is_empty() {
        return Err(err(
            if opts.cafile.is_some() {
                "cafile"
            } else {
                "capath"
            },
            "no usable CA certificate found",
        ));
    }
    Ok(Some(roots))
}

/// Build the rustls server configuration `opts` describe, reading every
/// file they name. Returns it with warnings to log.
///
/// # Errors
/// An unreadable or malformed file, a key that does not match the
/// certificate, an unknown cipher suite, `require_certificate` without CAs.
pub fn server_config(opts: &TlsOptions) -> Result<(ServerConfig, Vec<String>), TlsConfigError> {
    let warnings = Vec::new();
    let base = provider::default_provider();
    let mut suites: Vec<SupportedCipherSuite> = Vec::new();
    let tls13: Vec<SupportedCipherSuite> = match &opts.ciphers_tls13 {
        Some(list) => parse_ciphers_tls13(list).map_err(|m| err("ciphers_tls1.3", m))?,
        None => tls13_suites().iter().map(|(_, s)| *s).collect(),
    };
    let tls12: Vec<SupportedCipherSuite> = match &opts.ciphers {
        Some(list) => parse_ciphers(list).map_err(|m| err("ciphers", m))?,
        None => tls12_suites().iter().map(|(_, s)| *s).collect(),
    };
    suites.extend(tls13);
    let versions: &[&rustls::SupportedProtocolVersion] = match opts.min_version {
        Some(MinTlsVersion::Tls13) => &[&rustls::version::TLS13],
        _ => {
            suites.extend(tls12);
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        }
    };
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..base
    });
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| err("tls_version", e.to_string()))?;
    let roots = load_roots(opts)?;
    let crls = match &opts.crlfile {
        None => Vec::new(),
        Some(path) => {
            let crls = CertificateRevocationListDer::pem_file_iter(path)
                .map_err(|e| err("crlfile", format!("cannot read {}: {e}", path.display())))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    err(
                        "crlfile",
                        format!("{}: not a PEM CRL file: {e}", path.display()),
                    )
                })?;
            if crls.is_empty() {
                return Err(err(
                    "crlfile",
                    format!(
                        "{}: no certificate revocation list in the file",
                        path.display()
                    ),
                ));
            }
            crls
        }
    };
    let builder = match roots {
        Some(roots) => {
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .with_crls(crls)
                // OpenSSL's X509_V_FLAG_CRL_CHECK, as Mosquitto sets it:
                // the client's own certificate is checked.
                .only_check_end_entity_revocation();
            if !opts.require_certificate {
                v = v.allow_unauthenticated();
            }
            let verifier = v.build().map_err(|e| err("cafile", e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None if opts.require_certificate => {
            return Err(err(
                "require_certificate",
                "require_certificate is true but neither cafile nor capath is set",
            ))
        }
        None if opts.crlfile.is_some() => {
            return Err(err("crlfile", "crlfile needs cafile or capath"))
        }
        None => builder.with_no_client_auth(),
    };
    let chain = load_certs(&opts.certfile, "certfile")?;
    let key = PrivateKeyDer::from_pem_file(&opts.keyfile).map_err(|e| {
        err(
            "keyfile",
            format!(
                "cannot load a private key from {}: {e}",
                opts.keyfile.display()
            ),
        )
    })?;
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        err(
            "keyfile",
            format!(
                "{} does not fit the certificate {}: {e}",
                opts.keyfile.display(),
                opts.certfile.display()
            ),
        )
    })?;
    Ok((config, warnings))
}

/// A listener's TLS: the configuration new handshakes use (swapped on
/// reload, so connected clients keep theirs) and how certificates name
/// users.
#[derive(Debug)]
pub struct TlsListener {
    config: RwLock<Arc<ServerConfig>>,
    /// The options it was built from.
    pub options: TlsOptions,
    /// `use_identity_as_username` / `use_subject_as_username`.
    pub username: CertUsername,
}

impl TlsListener {
    /// Build from `options`; returns warnings to log.
    ///
    /// # Errors
    /// As [`server_config`].
    pub fn new(
        options: TlsOptions,
        username: CertUsername,
    ) -> Result<(TlsListener, Vec<String>), TlsConfigError> {
        let (config, warnings) = server_config(&options)?;
        Ok((
            TlsListener {
                config: RwLock::new(Arc::new(config)),
                options,
                username,
            },
            warnings,
        ))
    }

    /// The configuration for the next handshake.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.config.read().clone()
    }

    /// Use `newer`'s certificates, keys, CAs and CRLs for handshakes from
    /// now on (SIGHUP). Connections already open are not touched.
    pub fn replace_with(&self, newer: &TlsListener) {
        *self.config.write() = newer.current();
    }
}

/// Run the TLS handshake on `stream` and split the result into the halves
/// the connection task uses. The caller bounds it with a timeout.
///
/// # Errors
/// The handshake failed (the peer spoke something else, its certificate
/// was refused, the connection dropped).
pub(crate) async fn accept<S: RawSocket>(
    tls: &TlsListener,
    stream: S,
) -> io::Result<(
    TlsRead<S::Read>,
    TlsWrite<S::Write>,
    Option<CertificateDer<'static>>,
)> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    let stream = acceptor.accept(stream).await?;
    let (io, conn) = stream.into_inner();
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned());
    let (r, w) = io.split();
    let shared = Arc::new(Mutex::new(conn));
    Ok((
        TlsRead {
            raw: r,
            tls: shared.clone(),
            eof: false,
        },
        TlsWrite {
            raw: w,
            tls: shared,
        },
        cert,
    ))
}

/// The read half of a TLS connection.
pub struct TlsRead<R> {
    raw: R,
    tls: Arc<Mutex<ServerConnection>>,
    /// The socket reached end of stream.
    eof: bool,
}

/// The write half of a TLS connection.
pub struct TlsWrite<W> {
    raw: W,
    tls: Arc<Mutex<ServerConnection>>,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// TLS state lives in the task: these connections do not park.
impl<R: RawRead, W: RawWrite> crate::park::Park<TlsWrite<W>> for TlsRead<R> {}

impl<R: RawRead> ConnRead for TlsRead<R> {
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        _hint: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            {
                let mut conn = self.tls.lock();
                let state = conn.process_new_packets().map_err(tls_error)?;
                let avail = state.plaintext_bytes_to_read();
                if avail > 0 {
                    let start = buf.len();
                    buf.resize(start + avail, 0);
                    let got = match buf.get_mut(start..) {
                        Some(dst) => conn.reader().read(dst),
                        None => Ok(0),
                    };
                    return Poll::Ready(match got {
                        Ok(n) => {
                            buf.truncate(start + n);
                            Ok(n)
                        }
                        Err(e) => {
                            buf.truncate(start);
                            Err(e)
                        }
                    });
                }
                if state.peer_has_closed() || self.eof {
                    return Poll::Ready(Ok(0));
                }
            }
            ready!(self.raw.poll_read_ready(cx))?;
            match self.tls.lock().read_tls(&mut TryReader(&self.raw)) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl<W: RawWrite> TlsWrite<W> {
    /// Write the records rustls holds until none is left.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut conn = self.tls.lock();
            if !conn.wants_write() {
                return Poll::Ready(Ok(()));
            }
            match conn.write_tls(&mut TryWriter(&self.raw)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(conn);
                    ready!(self.raw.poll_write_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl<W: RawWrite> ConnWrite for TlsWrite<W> {
    fn poll_write_out(&mut self, cx: &mut Context<'_>, out: &OutBuf) -> Poll<io::Result<usize>> {
        // rustls holds at most its buffer limit (64 KiB) of records: take
        // new bytes only once the last ones are on the socket.
        ready!(self.poll_flush_tls(cx))?;
        if !out.has_ready() {
            return Poll::Ready(Ok(0));
        }
        let n = {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let k = out.io_slices(&mut slices);
            let mut conn = self.tls.lock();
            conn.writer()
                .write_vectored(slices.get(..k).unwrap_or_default())?
        };
        // Start sending now; what the socket does not take yet stays with
        // rustls, and `wants_write` keeps the task writing.
        if let Poll::Ready(Err(e)) = self.poll_flush_tls(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn wants_write(&self) -> bool {
        self.tls.lock().wants_write()
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.tls.lock().send_close_notify();
        std::future::poll_fn(|cx| self.poll_flush_tls(cx)).await?;
        RawWrite::shutdown(&mut self.raw).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_cipher_lists_map_to_rustls_suites() {
        let all = parse_ciphers("DEFAULT:!aNULL:!eNULL:!LOW:!EXPORT:!SSLv2:@STRENGTH").unwrap();
        assert_eq!(all.len(), 6);
        let one = parse_ciphers("ECDHE-RSA-AES128-GCM-SHA256").unwrap();
        assert_eq!(one.len(), 1);
        let rsa_gcm = parse_ciphers("HIGH:!ECDSA:!CHACHA20").unwrap();
        assert_eq!(rsa_gcm.len(), 2);
        let e = parse_ciphers("ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA").unwrap_err();
        assert!(e.contains("'DHE-RSA-AES256-SHA' is not available"), "{e}");
        let e = parse_ciphers("MEDIUM").unwrap_err();
        assert!(e.contains("selects no suite"), "{e}");
        assert_eq!(
            parse_ciphers("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn tls13_suites_by_name() {
        assert_eq!(
            parse_ciphers_tls13("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
                .unwrap()
                .len(),
            2
        );
        let e = parse_ciphers_tls13("TLS_AES_128_CCM_SHA256").unwrap_err();
        assert!(e.contains("TLS_AES_128_CCM_SHA256"), "{e}");
    }
}
