//! libmosquitto's message tables, as mosquitto 2.0.11's tools print them:
//! `mosquitto_strerror`, `mosquitto_connack_string` and
//! `mosquitto_reason_string`.

/// libmosquitto error numbers the tools return as exit codes.
pub(crate) mod rc {
    pub(crate) const PROTOCOL: i32 = 2;
    pub(crate) const CONN_REFUSED: i32 = 5;
    pub(crate) const CONN_LOST: i32 = 7;
    pub(crate) const TIMEOUT: i32 = 27;
}

/// `mosquitto_strerror` for the codes the tools can end with.
pub(crate) fn strerror(code: i32) -> &'static str {
    match code {
        0 => "No error.",
        1 => "Out of memory.",
        2 => "A network protocol error occurred when communicating with the broker.",
        3 => "Invalid function arguments provided.",
        4 => "The client is not currently connected.",
        5 => "The connection was refused.",
        6 => "Message not found (internal error).",
        7 => "The connection was lost.",
        8 => "A TLS error occurred.",
        9 => "Payload too large.",
        10 => "This feature is not supported.",
        11 => "Authorisation failed.",
        12 => "Access denied by ACL.",
        15 => "Lookup error.",
        16 => "Proxy error.",
        18 => "Malformed UTF-8",
        22 => "Duplicate property in property list",
        23 => "TLS handshake failed.",
        24 => "Requested QoS not supported on server.",
        25 => "Packet larger than supported by the server.",
        26 => "OCSP error.",
        _ => "Unknown error.",
    }
}

/// `mosquitto_connack_string`: MQTT 3.1 / 3.1.1 return codes.
pub(crate) fn connack_string(code: u8) -> &'static str {
    match code {
        0 => "Connection Accepted.",
        1 => "Connection Refused: unacceptable protocol version.",
        2 => "Connection Refused: identifier rejected.",
        3 => "Connection Refused: broker unavailable.",
        4 => "Connection Refused: bad user name or password.",
        5 => "Connection Refused: not authorised.",
        _ => "Connection Refused: unknown reason.",
    }
}

/// `mosquitto_reason_string`: MQTT 5.0 reason codes.
pub(crate) fn reason_string(code: u8) -> &'static str {
    match code {
        0x00 => "Success",
        0x01 => "Granted QoS 1",
        0x02 => "Granted QoS 2",
        0x04 => "Disconnect with Will Message",
        0x10 => "No matching subscribers",
        0x11 => "No subscription existed",
        0x18 => "Continue authentication",
        0x19 => "Re-authenticate",
        0x80 => "Unspecified error",
        0x81 => "Malformed Packet",
        0x82 => "Protocol Error",
        0x83 => "Implementation specific error",
        0x84 => "Unsupported Protocol Version",
        0x85 => "Client Identifier not valid",
        0x86 => "Bad User Name or Password",
        0x87 => "Not authorized",
        0x88 => "Server unavailable",
        0x89 => "Server busy",
        0x8A => "Banned",
        0x8B => "Server shutting down",
        0x8C => "Bad authentication method",
        0x8D => "Keep Alive timeout",
        0x8E => "Session taken over",
        0x8F => "Topic Filter invalid",
        0x90 => "Topic Name invalid",
        0x91 => "Packet Identifier in use",
        0x92 => "Packet Identifier not found",
        0x93 => "Receive Maximum exceeded",
        0x94 => "Topic Alias invalid",
        0x95 => "Packet too large",
        0x96 => "Message rate too high",
        0x97 => "Quota exceeded",
        0x98 => "Administrative action",
        0x99 => "Payload format invalid",
        0x9A => "Retain not supported",
        0x9B => "QoS not supported",
        0x9C => "Use another server",
        0x9D => "Server moved",
        0x9E => "Shared Subscriptions not supported",
        0x9F => "Connection rate exceeded",
        0xA0 => "Maximum connect time",
        0xA1 => "Subscription identifiers not supported",
        0xA2 => "Wildcard Subscriptions not supported",
        _ => "Unknown reason",
    }
}

/// The C library's `strerror` text for an I/O error (Rust adds
/// " (os error N)", which mosquitto does not print).
pub(crate) fn os_error_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}
