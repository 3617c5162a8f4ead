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

/// `mosquitto_reason_string`: MQTT 5.0 reason codes — the
/// specification's names, as komar-proto spells them, with Mosquitto's
/// two departures (the tools' output must match Mosquitto's byte for
/// byte).
pub(crate) fn reason_string(code: u8) -> &'static str {
    match code {
        0xA1 => "Subscription identifiers not supported",
        c => match komar_proto::ReasonCode(c).name() {
            "Unknown reason code" => "Unknown reason",
            name => name,
        },
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

#[cfg(test)]
mod tests {
    use super::reason_string;

    #[test]
    fn reason_strings_are_mosquittos() {
        assert_eq!(reason_string(0x87), "Not authorized");
        assert_eq!(reason_string(0x9C), "Use another server");
        assert_eq!(
            reason_string(0xA1),
            "Subscription identifiers not supported"
        );
        assert_eq!(reason_string(0x03), "Unknown reason");
    }
}
