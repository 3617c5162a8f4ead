//! The PROXY protocol header a load balancer sends before the client's own
//! bytes (`enable_proxy_protocol 1|2`): version 1 (a text line) and
//! version 2 (binary, with TLVs; the SSL TLV says whether the client came
//! over TLS, whether its certificate was verified, and its commonName).
//! Only the header is read — exactly its bytes, so what follows reaches the
//! next layer untouched. Limits follow Mosquitto (`proxy_v1.c`,
//! `proxy_v2.c`): a v1 line of at most 107 bytes, a v2 body of at most
//! 500 bytes; a LOCAL command is refused.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest version 1 line, CRLF included (the specification's figure).
const V1_MAX: usize = 107;
/// Longest version 2 address-and-TLV block Mosquitto accepts.
const V2_MAX: usize = 500;
const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
const PP2_CLIENT_SSL: u8 = 0x01;
const PP2_CLIENT_CERT_SESS: u8 = 0x04;

/// What a PROXY header says about the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProxyInfo {
    /// The client's address (`None`: v1 `UNKNOWN`, keep the socket's).
    pub addr: Option<String>,
    /// The client reached the proxy over TLS (v2 SSL TLV).
    pub tls: bool,
    /// The client presented a certificate the proxy verified.
    pub verified_cert: bool,
    /// That certificate's commonName.
    pub common_name: Option<String>,
}

/// Read the version `version` header from `s`.
///
/// # Errors
/// The connection closed, or the header is malformed (the message says
/// how), or is not of the listener's version.
pub(crate) async fn read_header<S: AsyncRead + Unpin>(
    s: &mut S,
    version: u8,
) -> Result<ProxyInfo, String> {
    if version == 1 {
        let mut line = Vec::with_capacity(V1_MAX);
        loop {
            let b = s.read_u8().await.map_err(|e| e.to_string())?;
            line.push(b);
            if !b"PROXY ".starts_with(&line) && !line.starts_with(b"PROXY ") {
                // Not a PROXY header: refuse now rather than at the timeout.
                return Err("missing PROXY v1 header".to_owned());
            }
            if line.ends_with(b"\r\n") {
                return parse_v1(&line);
            }
            if line.len() >= V1_MAX {
                return Err("PROXY v1 header too long".to_owned());
            }
        }
    }
    let mut head = [0u8; 16];
    s.read_exact(&mut head).await.map_err(|e| e.to_string())?;
    let len = usize::from(u16::from_be_bytes([head[14], head[15]]));
    if len > V2_MAX {
        return Err(format!(
            "PROXY v2 header of {len} bytes is over the limit ({V2_MAX})"
        ));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    parse_v2(&head, &body)
}

/// Parse a version 1 line (with its CRLF).
fn parse_v1(line: &[u8]) -> Result<ProxyInfo, String> {
    let text = std::str::from_utf8(line)
        .ok()
        .and_then(|t| t.strip_suffix("\r\n"))
        .ok_or("PROXY v1 header is not text")?;
    let mut words = text.split(' ');
    if words.next() != Some("PROXY") {
        return Err("missing PROXY v1 header".to_owned());
    }
    let family = words.next().ok_or("PROXY v1 header without family")?;
    if family == "UNKNOWN" {
        return Ok(ProxyInfo::default());
    }
    let fields: Vec<&str> = words.collect();
    let [src, _dst, sport, _dport] = fields[..] else {
        return Err("PROXY v1 header must have four address fields".to_owned());
    };
    let ip: IpAddr = match family {
        "TCP4" => src.parse::<Ipv4Addr>().map(IpAddr::V4),
        "TCP6" => src.parse::<Ipv6Addr>().map(IpAddr::V6),
        _ => return Err(format!("PROXY v1 family '{family}' is not TCP4/TCP6")),
    }
    .map_err(|_| format!("PROXY v1 source address '{src}' is malformed"))?;
    let port: u16 = sport
        .parse()
        .map_err(|_| format!("PROXY v1 source port '{sport}' is malformed"))?;
    Ok(ProxyInfo {
        addr: Some(SocketAddr::new(ip, port).to_string()),
        ..ProxyInfo::default()
    })
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Parse a version 2 header: its 16 fixed bytes and its body.
fn parse_v2(head: &[u8; 16], body: &[u8]) -> Result<ProxyInfo, String> {
    if head[..12] != V2_SIGNATURE {
        return Err("missing PROXY v2 signature".to_owned());
    }
    if head[12] & 0xF0 != 0x20 {
        return Err("PROXY v2 header of another version".to_owned());
    }
    match head[12] & 0x0F {
        0x01 => {}
        0x00 => return Err("PROXY v2 LOCAL connections are not accepted".to_owned()),
        c => return Err(format!("PROXY v2 command {c} is unknown")),
    }
    let (addr, tlvs_at) = match head[13] {
        0x11 => {
            let ip: [u8; 4] = body
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or("PROXY v2 IPv4 block too short")?;
            let port = be16(body, 8).ok_or("PROXY v2 IPv4 block too short")?;
            (SocketAddr::new(IpAddr::from(ip), port).to_string(), 12)
        }
        0x21 => {
            let ip: [u8; 16] = body
                .get(..16)
                .and_then(|s| s.try_into().ok())
                .ok_or("PROXY v2 IPv6 block too short")?;
            let port = be16(body, 32).ok_or("PROXY v2 IPv6 block too short")?;
            (SocketAddr::new(IpAddr::from(ip), port).to_string(), 36)
        }
        0x31 => {
            let src = body.get(..108).ok_or("PROXY v2 unix block too short")?;
            let end = src.iter().position(|&b| b == 0).unwrap_or(src.len());
            let path = String::from_utf8_lossy(src.get(..end).unwrap_or_default()).into_owned();
            (path, 216)
        }
        f => {
            return Err(format!(
                "PROXY v2 address family 0x{f:02x} is not supported"
            ))
        }
    };
    let mut info = ProxyInfo {
        addr: Some(addr),
        ..ProxyInfo::default()
    };
    let tlvs = body.get(tlvs_at..).unwrap_or_default();
    read_tlvs(tlvs, &mut info, false)?;
    Ok(info)
}

/// Walk a TLV list; inside the SSL TLV (`nested`) pick up the commonName.
fn read_tlvs(mut tlvs: &[u8], info: &mut ProxyInfo, nested: bool) -> Result<(), String> {
    const CORRUPT: &str = "corrupt PROXY v2 TLV";
    while !tlvs.is_empty() {
        let kind = *tlvs.first().ok_or(CORRUPT)?;
        let len = usize::from(be16(tlvs, 1).ok_or(CORRUPT)?);
        let value = tlvs.get(3..3 + len).ok_or(CORRUPT)?;
        tlvs = tlvs.get(3 + len..).ok_or(CORRUPT)?;
        match (kind, nested) {
            (PP2_TYPE_SSL, false) => {
                let client = *value.first().ok_or(CORRUPT)?;
                let verify: [u8; 4] = value
                    .get(1..5)
                    .and_then(|v| v.try_into().ok())
                    .ok_or(CORRUPT)?;
                info.verified_cert = client & PP2_CLIENT_SSL != 0
                    && client & PP2_CLIENT_CERT_SESS != 0
                    && u32::from_be_bytes(verify) == 0;
                read_tlvs(value.get(5..).unwrap_or_default(), info, true)?;
                info.tls = true;
            }
            (PP2_SUBTYPE_SSL_CN, true) => {
                info.common_name = Some(
                    std::str::from_utf8(value)
                        .map_err(|_| "PROXY v2 commonName is not UTF-8")?
                        .to_owned(),
                );
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8], version: u8) -> Result<ProxyInfo, String> {
        let mut s = bytes;
        read_header(&mut s, version).await
    }

    /// A v2 header for IPv4 `src:port` with `tlvs`.
    pub(crate) fn v2(src: [u8; 4], port: u16, tlvs: &[u8]) -> Vec<u8> {
        let mut b = V2_SIGNATURE.to_vec();
        b.push(0x21);
        b.push(0x11);
        b.extend_from_slice(&((12 + tlvs.len()) as u16).to_be_bytes());
        b.extend_from_slice(&src);
        b.extend_from_slice(&[127, 0, 0, 1]);
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&1883u16.to_be_bytes());
        b.extend_from_slice(tlvs);
        b
    }

    #[tokio::test]
    async fn v1_lines() {
        let i = read(b"PROXY TCP4 192.0.2.5 127.0.0.1 6275 1883\r\nMQTT", 1)
            .await
            .unwrap();
        assert_eq!(i.addr.as_deref(), Some("192.0.2.5:6275"));
        let i = read(b"PROXY TCP6 2001:db8::1 ::1 4000 1883\r\n", 1)
            .await
            .unwrap();
        assert_eq!(i.addr.as_deref(), Some("[2001:db8::1]:4000"));
        assert_eq!(read(b"PROXY UNKNOWN\r\n", 1).await.unwrap().addr, None);
        assert!(read(b"PROXY TCP4 1.2.3 127.0.0.1 1 2\r\n", 1)
            .await
            .is_err());
        assert!(read(&[b'A'; 200], 1).await.is_err());
        assert!(read(b"\x10\x0c\x00\x04MQTT", 1).await.is_err());
    }

    #[tokio::test]
    async fn v2_headers() {
        let i = read(&v2([192, 0, 2, 5], 6275, &[]), 2).await.unwrap();
        assert_eq!(i.addr.as_deref(), Some("192.0.2.5:6275"));
        assert!(!i.tls);
        // SSL TLV: client SSL + cert in session, verify 0, CN "sensor".
        let mut ssl = vec![0x05, 0, 0, 0, 0];
        ssl.extend_from_slice(&[PP2_SUBTYPE_SSL_CN, 0, 6]);
        ssl.extend_from_slice(b"sensor");
        let mut tlv = vec![PP2_TYPE_SSL];
        tlv.extend_from_slice(&(ssl.len() as u16).to_be_bytes());
        tlv.extend_from_slice(&ssl);
        let i = read(&v2([10, 0, 0, 1], 1, &tlv), 2).await.unwrap();
        assert!(i.tls && i.verified_cert);
        assert_eq!(i.common_name.as_deref(), Some("sensor"));
        // A TLV running past the end.
        assert!(read(&v2([10, 0, 0, 1], 1, &[PP2_TYPE_SSL, 0, 9, 1]), 2)
            .await
            .is_err());
        // LOCAL is refused, as Mosquitto does.
        let mut local = v2([10, 0, 0, 1], 1, &[]);
        local[12] = 0x20;
        assert!(read(&local, 2).await.is_err());
        // Not a PROXY header at all.
        assert!(read(&[0x10; 40], 2).await.is_err());
    }
}
