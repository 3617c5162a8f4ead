//! The HTTP side of a `protocol websockets` listener: read one request,
//! then either upgrade it to a WebSocket (any path, subprotocol `mqtt` or
//! `mqttv3.1`, `websockets_origin` checked) or, with `http_dir`, answer a
//! GET/HEAD with a static file from that directory and close. The request
//! head is bounded (`websockets_headers_size`, at least 4 KiB); file paths
//! are percent-decoded, `..` is refused and the resolved file must lie
//! inside `http_dir` (symbolic links included).

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use std::future::poll_fn;
use std::io;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use komar_core::OutBuf;
use tokio::io::AsyncReadExt;

use crate::io::{ConnRead, ConnWrite};
use crate::ws::{self, WsRead, WsWrite};

/// The GUID of RFC 6455 §1.3.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Smallest request head accepted, whatever `websockets_headers_size` says.
const MIN_HEAD: usize = 4096;
/// Bytes of a file read and sent at a time.
const FILE_CHUNK: usize = 64 * 1024;
/// MQTT's WebSocket subprotocols, in order of preference.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// A WebSocket listener's HTTP settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WsSettings {
    /// `http_dir`: serve static files from here.
    pub http_dir: Option<PathBuf>,
    /// `websockets_origin`: allowed `Origin` values (empty: any).
    pub origins: Vec<String>,
    /// Longest request head (`websockets_headers_size`).
    pub max_head: usize,
}

/// A parsed request head.
#[derive(Debug)]
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Comma-separated tokens of every `name` header.
    fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
    }
}

/// Parse a request head (without the blank line).
fn parse_request(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    if first.next().is_some() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.is_empty() || name.contains(' ') {
            return None;
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Some(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
    })
}

/// Base64 (standard alphabet, padded) of `data`.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |i: u32| char::from(ALPHABET.get((i & 63) as usize).copied().unwrap_or(b'='));
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

/// `Sec-WebSocket-Accept` for a client's key (RFC 6455 §4.2.2).
fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{WS_GUID}").as_bytes(),
    );
    base64(digest.as_ref())
}

/// Write all of `out` through `writer`.
async fn write_all<W: ConnWrite>(writer: &mut W, out: &mut OutBuf) -> io::Result<()> {
    while out.has_ready() || writer.wants_write() {
        let n = poll_fn(|cx| writer.poll_write_out(cx, out)).await?;
        if n == 0 && out.has_ready() {
            return Err(io::ErrorKind::WriteZero.into());
        }
        out.advance(n);
    }
    Ok(())
}

/// Send a short response and close.
async fn respond<W: ConnWrite>(writer: &mut W, status: &str, extra: &str) -> io::Result<()> {
    let body = format!("{status}\n");
    let mut out = OutBuf::new();
    out.write_with(|b| {
        b.extend_from_slice(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    });
    write_all(writer, &mut out).await?;
    writer.shutdown().await
}

/// The outcome of the HTTP exchange.
pub(crate) enum Upgraded<R, W> {
    /// Speak MQTT over these WebSocket halves.
    WebSocket(WsRead<R>, WsWrite<W>),
    /// The request was answered (a file, an error); the connection closed.
    Done,
}

/// Read one request and answer it.
///
/// # Errors
/// The connection failed or closed before a full request arrived.
pub(crate) async fn accept<R: ConnRead, W: ConnWrite>(
    settings: &WsSettings,
    mut reader: R,
    mut writer: W,
) -> io::Result<Upgraded<R, W>> {
    let max = settings.max_head.max(MIN_HEAD);
    let mut buf = BytesMut::new();
    let head_len = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > max {
            respond(&mut writer, "431 Request Header Fields Too Large", "").await?;
            return Ok(Upgraded::Done);
        }
        let n = poll_fn(|cx| reader.poll_read_buf(cx, &mut buf, 1024)).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    };
    let Some(req) = buf.get(..head_len).and_then(parse_request) else {
        respond(&mut writer, "400 Bad Request", "").await?;
        return Ok(Upgraded::Done);
    };
    let rest = buf.split_off(head_len + 4);
    let upgrade = req
        .tokens("Upgrade")
        .any(|t| t.eq_ignore_ascii_case("websocket"))
        && req
            .tokens("Connection")
            .any(|t| t.eq_ignore_ascii_case("upgrade"));
    if !upgrade {
        serve_file(settings, &req, &mut writer).await?;
        return Ok(Upgraded::Done);
    }
    if req.method != "GET" {
        respond(&mut writer, "405 Method Not Allowed", "Allow: GET\r\n").await?;
        return Ok(Upgraded::Done);
    }
    if req.header("Sec-WebSocket-Version") != Some("13") {
        respond(
            &mut writer,
            "426 Upgrade Required",
            "Sec-WebSocket-Version: 13\r\n",
        )
        .await?;
        return Ok(Upgraded::Done);
    }
    if !settings.origins.is_empty() {
        let allowed = req
            .header("Origin")
            .is_some_and(|o| settings.origins.iter().any(|a| a == o));
        if !allowed {
            tracing::info!(origin = ?req.header("Origin"), "WebSocket upgrade refused: origin not allowed");
            respond(&mut writer, "403 Forbidden", "").await?;
            return Ok(Upgraded::Done);
        }
    }
    let Some(key) = req.header("Sec-WebSocket-Key").filter(|k| !k.is_empty()) else {
        respond(&mut writer, "400 Bad Request", "").await?;
        return Ok(Upgraded::Done);
    };
    // [MQTT-6.0.0-3]/[MQTT-6.0.0-4]: the client offers "mqtt" and the
    // server selects it; "mqttv3.1" is what old 3.1 clients offer. A
    // client offering nothing is let in without a subprotocol (lenient,
    // as some embedded clients send none).
    let offered: Vec<&str> = req.tokens("Sec-WebSocket-Protocol").collect();
    let chosen = SUBPROTOCOLS
        .iter()
        .find(|p| offered.iter().any(|o| o.eq_ignore_ascii_case(p)));
    if chosen.is_none() && !offered.iter().all(|o| o.is_empty()) {
        respond(&mut writer, "400 Bad Request", "").await?;
        return Ok(Upgraded::Done);
    }
    let protocol_line = chosen
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    let mut out = OutBuf::new();
    out.write_with(|b| {
        b.extend_from_slice(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{protocol_line}\r\n",
                accept_key(key)
            )
            .as_bytes(),
        )
    });
    write_all(&mut writer, &mut out).await?;
    let (r, w) = ws::split(reader, writer, rest);
    Ok(Upgraded::WebSocket(r, w))
}

/// Percent-decode a URL path.
fn percent_decode(path: &str) -> Option<Vec<u8>> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// The file under `root` a request target names, if it is a safe one.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    if !path.starts_with('/') {
        return None;
    }
    let decoded = String::from_utf8(percent_decode(path)?).ok()?;
    let mut file = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            s if s.contains(['\\', '\0']) => return None,
            s => file.push(s),
        }
    }
    if decoded.ends_with('/') || file.is_dir() {
        file.push("index.html");
    }
    let canonical = file.canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    (canonical.starts_with(&root) && canonical.is_file()).then_some(canonical)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Answer a plain HTTP request from `http_dir`, then close.
async fn serve_file<W: ConnWrite>(
    settings: &WsSettings,
    req: &Request,
    writer: &mut W,
) -> io::Result<()> {
    let Some(root) = &settings.http_dir else {
        return respond(writer, "404 Not Found", "").await;
    };
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        return respond(writer, "405 Method Not Allowed", "Allow: GET, HEAD\r\n").await;
    }
    let Some(path) = resolve(root, &req.target) else {
        return respond(writer, "404 Not Found", "").await;
    };
    let Ok(mut file) = tokio::fs::File::open(&path).await else {
        return respond(writer, "404 Not Found", "").await;
    };
    let len = file.metadata().await?.len();
    let mut out = OutBuf::new();
    out.write_with(|b| {
        b.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {len}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
                content_type(&path)
            )
            .as_bytes(),
        )
    });
    write_all(writer, &mut out).await?;
    if !head_only {
        let mut chunk = vec![0u8; FILE_CHUNK];
        loop {
            let n = file.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            out.write_with(|b| b.extend_from_slice(chunk.get(..n).unwrap_or_default()));
            write_all(writer, &mut out).await?;
        }
    }
    writer.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455() {
        // The example of RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn request_heads() {
        let r = parse_request(
            b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: mqttv3.1, mqtt",
        )
        .unwrap();
        assert_eq!(r.target, "/mqtt");
        assert_eq!(
            r.tokens("sec-websocket-protocol").collect::<Vec<_>>(),
            ["mqttv3.1", "mqtt"]
        );
        assert!(parse_request(b"GET /\r\n").is_none());
        assert!(parse_request(b"GET / HTTP/1.1\r\nbad header\r\n").is_none());
    }

    #[test]
    fn paths_stay_inside_http_dir() {
        let dir = std::env::temp_dir().join(format!("komar-http-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), "i").unwrap();
        std::fs::write(dir.join("sub/a b.js"), "a").unwrap();
        assert!(resolve(&dir, "/").unwrap().ends_with("index.html"));
        assert!(resolve(&dir, "/sub/a%20b.js?x=1")
            .unwrap()
            .ends_with("a b.js"));
        assert!(resolve(&dir, "/../etc/passwd").is_none());
        assert!(resolve(&dir, "/sub/%2e%2e/%2e%2e/etc/passwd").is_none());
        assert!(resolve(&dir, "/nope").is_none());
        assert!(resolve(&dir, "relative").is_none());
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
        assert!(resolve(&dir, "/link").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
