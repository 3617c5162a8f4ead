//! Test certificates, made at test time with rcgen (no key file is ever
//! committed): a CA, a server certificate for `localhost` / 127.0.0.1, and
//! client certificates with a chosen commonName, written as PEM files into
//! a test's scratch directory. Include with
//! `#[path = "common/certs.rs"] mod certs;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};

/// A certificate authority that signs test certificates.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    /// The CA certificate's PEM file.
    pub pem: PathBuf,
}

/// A certificate and key written to disk.
pub struct Issued {
    /// Certificate (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// Serial number.
    pub serial: u64,
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Komar tests");
    dn.push(DnType::CommonName, cn);
    dn
}

impl Ca {
    /// A new CA whose certificate is written to `dir/<file>.pem`.
    pub fn new(dir: &Path, file: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = name(&format!("Komar test CA {file}"));
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).unwrap();
        let pem = dir.join(format!("{file}.pem"));
        std::fs::write(&pem, cert.pem()).unwrap();
        Ca { cert, key, pem }
    }

    fn issue(&self, dir: &Path, file: &str, mut p: CertificateParams, serial: u64) -> Issued {
        let key = KeyPair::generate().unwrap();
        p.serial_number = Some(SerialNumber::from(serial));
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        let (c, k) = (
            dir.join(format!("{file}.crt")),
            dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        Issued {
            cert: c,
            key: k,
            serial,
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server(&self, dir: &Path, file: &str) -> Issued {
        let mut p = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        p.subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        p.distinguished_name = name("localhost");
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(dir, file, p, 2)
    }

    /// A client certificate whose subject's commonName is `cn`.
    pub fn client(&self, dir: &Path, file: &str, cn: &str, serial: u64) -> Issued {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = name(cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(dir, file, p, serial)
    }

    /// A CRL revoking `revoked`, written to `dir/<file>`.
    pub fn crl(&self, dir: &Path, file: &str, revoked: &[&Issued]) -> PathBuf {
        let params = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|i| RevokedCertParams {
                    serial_number: SerialNumber::from(i.serial),
                    revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.cert, &self.key).unwrap();
        let path = dir.join(file);
        std::fs::write(&path, crl.pem().unwrap()).unwrap();
        path
    }
}

/// A path as a string for command lines and configuration files.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}
