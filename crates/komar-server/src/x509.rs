//! The one thing Komar reads out of a client certificate: its subject name,
//! for `use_identity_as_username` (the first commonName) and
//! `use_subject_as_username` (the whole subject, printed as OpenSSL's
//! `X509_NAME_print_ex(.., XN_FLAG_RFC2253)` prints it, which is what
//! Mosquitto uses). A small bounded DER walker: rustls has already verified
//! the certificate, so only the path to the subject is parsed, and any
//! unexpected structure gives `None` (the client is then refused).

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0C;
const PRINTABLE_STRING: u8 = 0x13;
const T61_STRING: u8 = 0x14;
const IA5_STRING: u8 = 0x16;
const UNIVERSAL_STRING: u8 = 0x1C;
const BMP_STRING: u8 = 0x1E;

/// One DER element: its tag, its whole encoding and its content.
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    content: &'a [u8],
}

/// Split the first DER element off `input`.
fn next(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1F == 0x1F {
        return None; // high tag numbers do not occur on the way to the subject
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, after) = (rest.get(..n)?, rest.get(n..)?);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let content = rest.get(..len)?;
    let header = input.len() - rest.len();
    let whole = input.get(..header + len)?;
    Some((
        Tlv {
            tag,
            whole,
            content,
        },
        rest.get(len..)?,
    ))
}

/// One attribute of the subject: its OID (DER content) and value.
struct Attribute<'a> {
    oid: &'a [u8],
    value: Tlv<'a>,
}

/// The subject's relative distinguished names, in certificate order, each
/// a list of attributes.
fn subject_rdns(cert_der: &[u8]) -> Option<Vec<Vec<Attribute<'_>>>> {
    let (cert, _) = next(cert_der)?;
    if cert.tag != SEQUENCE {
        return None;
    }
    let (tbs, _) = next(cert.content)?;
    if tbs.tag != SEQUENCE {
        return None;
    }
    let mut fields = tbs.content;
    let (first, rest) = next(fields)?;
    fields = if first.tag == 0xA0 { rest } else { fields }; // [0] version
                                                            // serialNumber, signature, issuer, validity, then subject.
    for _ in 0..4 {
        fields = next(fields)?.1;
    }
    let (subject, _) = next(fields)?;
    if subject.tag != SEQUENCE {
        return None;
    }
    let mut rdns = Vec::new();
    let mut rest = subject.content;
    while !rest.is_empty() {
        let (set, after) = next(rest)?;
        rest = after;
        if set.tag != SET {
            return None;
        }
        let mut attrs = Vec::new();
        let mut inner = set.content;
        while !inner.is_empty() {
            let (atv, after) = next(inner)?;
            inner = after;
            if atv.tag != SEQUENCE {
                return None;
            }
            let (oid, value_rest) = next(atv.content)?;
            if oid.tag != OID {
                return None;
            }
            let (value, _) = next(value_rest)?;
            attrs.push(Attribute {
                oid: oid.content,
                value,
            });
        }
        rdns.push(attrs);
    }
    Some(rdns)
}

/// The content of an OID in dotted form.
fn dotted(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// OpenSSL's short name of an attribute type.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// The text of a string value, or `None` for other types.
fn text(value: &Tlv<'_>) -> Option<String> {
    let c = value.content;
    match value.tag {
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING => String::from_utf8(c.to_vec()).ok(),
        T61_STRING => Some(c.iter().map(|&b| char::from(b)).collect()),
        BMP_STRING => {
            let units: Vec<u16> = c
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p.first().copied()?, p.get(1).copied()?]).into())
                .collect::<Option<Vec<u16>>>()?;
            String::from_utf16(&units).ok()
        }
        UNIVERSAL_STRING => c
            .chunks_exact(4)
            .map(|q| {
                let bytes: [u8; 4] = q.try_into().ok()?;
                char::from_u32(u32::from_be_bytes(bytes))
            })
            .collect(),
        _ => None,
    }
}

/// The first commonName of the certificate's subject: the user name for
/// `use_identity_as_username`. `None` when there is none, it is not text,
/// or it holds a NUL (as Mosquitto refuses those).
pub fn common_name(cert_der: &[u8]) -> Option<String> {
    let rdns = subject_rdns(cert_der)?;
    let cn = rdns.iter().flatten().find(|a| dotted(a.oid) == "2.5.4.3")?;
    let name = text(&cn.value)?;
    (!name.contains('\0')).then_some(name)
}

/// Escape one value as RFC 2253 with OpenSSL's `ESC_2253 | ESC_CTRL |
/// ESC_MSB` (bytes above 0x7F of the UTF-8 text are written `\XX`).
fn escape_2253(value: &str, out: &mut String) {
    let bytes = value.as_bytes();
    let last = bytes.len().saturating_sub(1);
    for (i, &b) in bytes.iter().enumerate() {
        let special = matches!(b, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';')
            || (i == 0 && (b == b'#' || b == b' '))
            || (i == last && b == b' ');
        if !(0x20..0x7F).contains(&b) {
            out.push_str(&format!("\\{b:02X}"));
        } else if special {
            out.push('\\');
            out.push(char::from(b));
        } else {
            out.push(char::from(b));
        }
    }
}

/// The certificate's subject as OpenSSL prints it with `XN_FLAG_RFC2253`
/// (last RDN first, `,` between RDNs, `+` inside one; unknown attribute
/// types by OID with the value as `#` and its DER in hex): the user name
/// for `use_subject_as_username`.
pub fn subject_rfc2253(cert_der: &[u8]) -> Option<String> {
    let rdns = subject_rdns(cert_der)?;
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = dotted(attr.oid);
            let known = short_name(&oid);
            out.push_str(known.unwrap_or(&oid));
            out.push('=');
            match (known, text(&attr.value)) {
                (Some(_), Some(t)) => escape_2253(&t, &mut out),
                _ => {
                    out.push('#');
                    for b in attr.value.whole {
                        out.push_str(&format!("{b:02X}"));
                    }
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(dn: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            name.push(t.clone(), *v);
        }
        params.distinguished_name = name;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn common_name_and_subject() {
        let der = cert(&[
            (rcgen::DnType::CountryName, "GB"),
            (rcgen::DnType::OrganizationName, "Komar, Test"),
            (rcgen::DnType::CommonName, "sensor-1"),
        ]);
        assert_eq!(common_name(&der).as_deref(), Some("sensor-1"));
        assert_eq!(
            subject_rfc2253(&der).as_deref(),
            Some("CN=sensor-1,O=Komar\\, Test,C=GB")
        );
    }

    #[test]
    fn no_common_name() {
        let der = cert(&[(rcgen::DnType::OrganizationName, "Komar")]);
        assert_eq!(common_name(&der), None);
        assert_eq!(subject_rfc2253(&der).as_deref(), Some("O=Komar"));
    }

    #[test]
    fn non_ascii_is_escaped_like_openssl() {
        let der = cert(&[(rcgen::DnType::CommonName, "caf\u{e9}")]);
        assert_eq!(common_name(&der).as_deref(), Some("caf\u{e9}"));
        assert_eq!(subject_rfc2253(&der).as_deref(), Some("CN=caf\\C3\\A9"));
    }

    #[test]
    fn garbage_is_none() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x03, 0x30, 0x01],
        ] {
            assert_eq!(common_name(bad), None);
            assert_eq!(subject_rfc2253(bad), None);
        }
    }

    #[test]
    fn oids_print_dotted() {
        assert_eq!(dotted(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(
            dotted(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
    }
}
