//! `-D command property value` (MQTT 5.0 properties on the command line):
//! the property names, which packet each may go in, value ranges, and the
//! error messages of mosquitto 2.0.11. The parsed lists become komar-proto's
//! typed property structs when the packets are built.

use std::io::Write;

use bytes::Bytes;
use komar_proto::{
    id, ConnectProperties, DisconnectProperties, PublishProperties, SubscribeProperties,
    UnsubscribeProperties, WillProperties,
};

use crate::config::validate_utf8;

/// The packet a `-D` option is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PropCmd {
    Connect,
    Connack,
    Publish,
    Puback,
    Pubrec,
    Pubrel,
    Pubcomp,
    Subscribe,
    Suback,
    Unsubscribe,
    Unsuback,
    Disconnect,
    Auth,
    Will,
}

impl PropCmd {
    fn parse(s: &str) -> Option<PropCmd> {
        use PropCmd::*;
        Some(match s.to_ascii_lowercase().as_str() {
            "connect" => Connect,
            "connack" => Connack,
            "publish" => Publish,
            "puback" => Puback,
            "pubrec" => Pubrec,
            "pubrel" => Pubrel,
            "pubcomp" => Pubcomp,
            "subscribe" => Subscribe,
            "suback" => Suback,
            "unsubscribe" => Unsubscribe,
            "unsuback" => Unsuback,
            "disconnect" => Disconnect,
            "auth" => Auth,
            "will" => Will,
            _ => return None,
        })
    }
}

/// Wire type of a property value; the numbers are libmosquitto's
/// `MQTT_PROP_TYPE_*`, which appear in one of its error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PType {
    Byte = 1,
    U16 = 2,
    U32 = 3,
    Varint = 4,
    Bin = 5,
    Str = 6,
    Pair = 7,
}

const PROPS: &[(&str, u8, PType)] = &[
    (
        "payload-format-indicator",
        id::PAYLOAD_FORMAT_INDICATOR,
        PType::Byte,
    ),
    (
        "message-expiry-interval",
        id::MESSAGE_EXPIRY_INTERVAL,
        PType::U32,
    ),
    ("content-type", id::CONTENT_TYPE, PType::Str),
    ("response-topic", id::RESPONSE_TOPIC, PType::Str),
    ("correlation-data", id::CORRELATION_DATA, PType::Bin),
    (
        "subscription-identifier",
        id::SUBSCRIPTION_IDENTIFIER,
        PType::Varint,
    ),
    (
        "session-expiry-interval",
        id::SESSION_EXPIRY_INTERVAL,
        PType::U32,
    ),
    (
        "assigned-client-identifier",
        id::ASSIGNED_CLIENT_IDENTIFIER,
        PType::Str,
    ),
    ("server-keep-alive", id::SERVER_KEEP_ALIVE, PType::U16),
    (
        "authentication-method",
        id::AUTHENTICATION_METHOD,
        PType::Str,
    ),
    ("authentication-data", id::AUTHENTICATION_DATA, PType::Bin),
    (
        "request-problem-information",
        id::REQUEST_PROBLEM_INFORMATION,
        PType::Byte,
    ),
    ("will-delay-interval", id::WILL_DELAY_INTERVAL, PType::U32),
    (
        "request-response-information",
        id::REQUEST_RESPONSE_INFORMATION,
        PType::Byte,
    ),
    ("response-information", id::RESPONSE_INFORMATION, PType::Str),
    ("server-reference", id::SERVER_REFERENCE, PType::Str),
    ("reason-string", id::REASON_STRING, PType::Str),
    ("receive-maximum", id::RECEIVE_MAXIMUM, PType::U16),
    ("topic-alias-maximum", id::TOPIC_ALIAS_MAXIMUM, PType::U16),
    ("topic-alias", id::TOPIC_ALIAS, PType::U16),
    ("maximum-qos", id::MAXIMUM_QOS, PType::Byte),
    ("retain-available", id::RETAIN_AVAILABLE, PType::Byte),
    ("user-property", id::USER_PROPERTY, PType::Pair),
    ("maximum-packet-size", id::MAXIMUM_PACKET_SIZE, PType::U32),
    (
        "wildcard-subscription-available",
        id::WILDCARD_SUBSCRIPTION_AVAILABLE,
        PType::Byte,
    ),
    (
        "subscription-identifier-available",
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        PType::Byte,
    ),
    (
        "shared-subscription-available",
        id::SHARED_SUBSCRIPTION_AVAILABLE,
        PType::Byte,
    ),
];

/// Whether property `pid` may appear in `cmd` (libmosquitto's
/// `mosquitto_property_check_command`).
fn allowed(cmd: PropCmd, pid: u8) -> bool {
    use PropCmd::*;
    match pid {
        id::PAYLOAD_FORMAT_INDICATOR
        | id::MESSAGE_EXPIRY_INTERVAL
        | id::CONTENT_TYPE
        | id::RESPONSE_TOPIC
        | id::CORRELATION_DATA => matches!(cmd, Publish | Will),
        id::SUBSCRIPTION_IDENTIFIER => matches!(cmd, Publish | Subscribe),
        id::SESSION_EXPIRY_INTERVAL => matches!(cmd, Connect | Connack | Disconnect),
        id::AUTHENTICATION_METHOD | id::AUTHENTICATION_DATA => {
            matches!(cmd, Connect | Connack | Auth)
        }
        id::ASSIGNED_CLIENT_IDENTIFIER
        | id::SERVER_KEEP_ALIVE
        | id::RESPONSE_INFORMATION
        | id::MAXIMUM_QOS
        | id::RETAIN_AVAILABLE
        | id::WILDCARD_SUBSCRIPTION_AVAILABLE
        | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | id::SHARED_SUBSCRIPTION_AVAILABLE => cmd == Connack,
        id::WILL_DELAY_INTERVAL => cmd == Will,
        id::REQUEST_PROBLEM_INFORMATION | id::REQUEST_RESPONSE_INFORMATION => cmd == Connect,
        id::SERVER_REFERENCE => matches!(cmd, Connack | Disconnect),
        id::REASON_STRING => !matches!(cmd, Connect | Publish | Subscribe | Unsubscribe),
        id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS_MAXIMUM | id::MAXIMUM_PACKET_SIZE => {
            matches!(cmd, Connect | Connack)
        }
        id::TOPIC_ALIAS => cmd == Publish,
        id::USER_PROPERTY => true,
        _ => false,
    }
}

/// One property value from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PropValue {
    Int(u32),
    Bin(Bytes),
    Str(String),
    Pair(String, String),
}

/// One property: identifier and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prop {
    pub(crate) id: u8,
    pub(crate) value: PropValue,
}

/// The property lists of every packet the tools send, in command-line
/// order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PropLists {
    pub(crate) connect: Vec<Prop>,
    pub(crate) publish: Vec<Prop>,
    pub(crate) subscribe: Vec<Prop>,
    pub(crate) unsubscribe: Vec<Prop>,
    pub(crate) disconnect: Vec<Prop>,
    pub(crate) will: Vec<Prop>,
    /// A publish topic alias was given: later publishes send only the alias.
    pub(crate) have_topic_alias: bool,
}

/// Parse `-D` arguments starting at `argv[*idx]` (the command name) and
/// leave `*idx` on the last argument consumed. `argv[0]` is the program
/// name, as in C. Returns false after printing the error.
pub(crate) fn parse_property(
    lists: &mut PropLists,
    argv: &[String],
    idx: &mut usize,
    err: &mut dyn Write,
) -> bool {
    let argc = argv.len();
    let arg = |i: usize| argv.get(i).map(String::as_str).unwrap_or("");
    if *idx + 2 > argc.saturating_sub(1) || argc == 0 {
        let _ = write!(
            err,
            "Error: --property argument given but not enough arguments specified.\n\n"
        );
        return false;
    }
    let cmdname = arg(*idx);
    let Some(cmd) = PropCmd::parse(cmdname) else {
        let _ = write!(
            err,
            "Error: Invalid command given in --property argument.\n\n"
        );
        return false;
    };
    let propname = arg(*idx + 1);
    let Some(&(_, pid, ty)) = PROPS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(propname))
    else {
        let _ = write!(
            err,
            "Error: Invalid property name given in --property argument.\n\n"
        );
        return false;
    };
    if !allowed(cmd, pid) {
        let _ = write!(
            err,
            "Error: {propname} property not allowed for {cmdname} in --property argument.\n\n"
        );
        return false;
    }
    let (key, value) = if pid == id::USER_PROPERTY {
        if *idx + 3 > argc - 1 {
            let _ = write!(
                err,
                "Error: --property argument given but not enough arguments specified.\n\n"
            );
            return false;
        }
        let kv = (Some(arg(*idx + 2)), arg(*idx + 3));
        *idx += 3;
        kv
    } else {
        let v = (None, arg(*idx + 2));
        *idx += 2;
        v
    };
    let not_supported = |err: &mut dyn Write| {
        let _ = write!(
            err,
            "Error: {propname} property not supported for {cmdname} in --property argument.\n\n"
        );
        false
    };
    let list = match cmd {
        PropCmd::Connect => &mut lists.connect,
        PropCmd::Publish => {
            if pid == id::TOPIC_ALIAS {
                lists.have_topic_alias = true;
            }
            if pid == id::SUBSCRIPTION_IDENTIFIER {
                return not_supported(err);
            }
            &mut lists.publish
        }
        PropCmd::Subscribe => {
            if pid != id::SUBSCRIPTION_IDENTIFIER && pid != id::USER_PROPERTY {
                return not_supported(err);
            }
            &mut lists.subscribe
        }
        PropCmd::Unsubscribe => &mut lists.unsubscribe,
        PropCmd::Disconnect => &mut lists.disconnect,
        PropCmd::Will => &mut lists.will,
        PropCmd::Auth
        | PropCmd::Puback
        | PropCmd::Pubrec
        | PropCmd::Pubrel
        | PropCmd::Pubcomp
        | PropCmd::Suback
        | PropCmd::Unsuback => return not_supported(err),
        // libmosquitto fails here without a message.
        PropCmd::Connack => return false,
    };
    let out_of_range = |err: &mut dyn Write, v: i64| {
        let _ = write!(
            err,
            "Error: Property value ({v}) out of range for property {propname}.\n\n"
        );
        false
    };
    let add_failed = |err: &mut dyn Write| {
        let _ = writeln!(err, "Error adding property {propname} {}", ty as u8);
        false
    };
    let parsed = match ty {
        PType::Byte | PType::U16 | PType::U32 | PType::Varint => {
            let v = crate::cnum::atol(value);
            let max = match ty {
                PType::Byte => i64::from(u8::MAX),
                PType::U16 => i64::from(u16::MAX),
                _ => i64::from(u32::MAX),
            };
            if !(0..=max).contains(&v) {
                return out_of_range(err, v);
            }
            if ty == PType::Varint && v > 268_435_455 {
                return add_failed(err);
            }
            PropValue::Int(v as u32)
        }
        PType::Bin => {
            if value.len() > usize::from(u16::MAX) {
                let _ = write!(
                    err,
                    "Error: Property value too long for property {propname}.\n\n"
                );
                return false;
            }
            PropValue::Bin(Bytes::copy_from_slice(value.as_bytes()))
        }
        PType::Str => {
            if !validate_utf8(value) || value.len() > usize::from(u16::MAX) {
                return add_failed(err);
            }
            PropValue::Str(value.to_string())
        }
        PType::Pair => {
            let k = key.unwrap_or("");
            if !validate_utf8(k) || !validate_utf8(value) {
                return add_failed(err);
            }
            PropValue::Pair(k.to_string(), value.to_string())
        }
    };
    list.push(Prop {
        id: pid,
        value: parsed,
    });
    true
}

/// libmosquitto's `mosquitto_property_check_all` as 2.0.11 applies it to
/// the command line: only duplicates are refused. Returns the message.
pub(crate) fn check_duplicates(list: &[Prop]) -> Result<(), &'static str> {
    for (i, p) in list.iter().enumerate() {
        if p.id != id::USER_PROPERTY && list.iter().skip(i + 1).any(|q| q.id == p.id) {
            return Err("Duplicate property in property list");
        }
    }
    Ok(())
}

fn int(p: &Prop) -> u32 {
    match p.value {
        PropValue::Int(v) => v,
        _ => 0,
    }
}

fn string(p: &Prop) -> String {
    match &p.value {
        PropValue::Str(s) => s.clone(),
        _ => String::new(),
    }
}

fn binary(p: &Prop) -> Bytes {
    match &p.value {
        PropValue::Bin(b) => b.clone(),
        _ => Bytes::new(),
    }
}

fn pair(p: &Prop) -> Option<(String, String)> {
    match &p.value {
        PropValue::Pair(k, v) => Some((k.clone(), v.clone())),
        _ => None,
    }
}

fn narrow<T: TryFrom<u32>>(v: u32) -> Option<T> {
    T::try_from(v).ok()
}

/// CONNECT properties from `-D connect ...`.
pub(crate) fn connect_props(list: &[Prop]) -> ConnectProperties {
    let mut out = ConnectProperties::default();
    for p in list {
        match p.id {
            id::SESSION_EXPIRY_INTERVAL => out.session_expiry_interval = Some(int(p)),
            id::RECEIVE_MAXIMUM => out.receive_maximum = narrow(int(p)),
            id::MAXIMUM_PACKET_SIZE => out.maximum_packet_size = Some(int(p)),
            id::TOPIC_ALIAS_MAXIMUM => out.topic_alias_maximum = narrow(int(p)),
            id::REQUEST_RESPONSE_INFORMATION => out.request_response_information = narrow(int(p)),
            id::REQUEST_PROBLEM_INFORMATION => out.request_problem_information = narrow(int(p)),
            id::AUTHENTICATION_METHOD => out.authentication_method = Some(string(p)),
            id::AUTHENTICATION_DATA => out.authentication_data = Some(binary(p)),
            id::USER_PROPERTY => out.user_properties.extend(pair(p)),
            _ => {}
        }
    }
    out
}

/// PUBLISH properties from `-D publish ...`.
pub(crate) fn publish_props(list: &[Prop]) -> PublishProperties {
    let mut out = PublishProperties::default();
    for p in list {
        match p.id {
            id::PAYLOAD_FORMAT_INDICATOR => out.payload_format_indicator = narrow(int(p)),
            id::MESSAGE_EXPIRY_INTERVAL => out.message_expiry_interval = Some(int(p)),
            id::TOPIC_ALIAS => out.topic_alias = narrow(int(p)),
            id::RESPONSE_TOPIC => out.response_topic = Some(string(p)),
            id::CORRELATION_DATA => out.correlation_data = Some(binary(p)),
            id::CONTENT_TYPE => out.content_type = Some(string(p)),
            id::USER_PROPERTY => out.user_properties.extend(pair(p)),
            _ => {}
        }
    }
    out
}

/// Will properties from `-D will ...` (a reason string, which libmosquitto
/// lets through, has no place in the will and is dropped).
pub(crate) fn will_props(list: &[Prop]) -> WillProperties {
    let mut out = WillProperties::default();
    for p in list {
        match p.id {
            id::WILL_DELAY_INTERVAL => out.will_delay_interval = Some(int(p)),
            id::PAYLOAD_FORMAT_INDICATOR => out.payload_format_indicator = narrow(int(p)),
            id::MESSAGE_EXPIRY_INTERVAL => out.message_expiry_interval = Some(int(p)),
            id::CONTENT_TYPE => out.content_type = Some(string(p)),
            id::RESPONSE_TOPIC => out.response_topic = Some(string(p)),
            id::CORRELATION_DATA => out.correlation_data = Some(binary(p)),
            id::USER_PROPERTY => out.user_properties.extend(pair(p)),
            _ => {}
        }
    }
    out
}

/// SUBSCRIBE properties from `-D subscribe ...`.
pub(crate) fn subscribe_props(list: &[Prop]) -> SubscribeProperties {
    let mut out = SubscribeProperties::default();
    for p in list {
        match p.id {
            id::SUBSCRIPTION_IDENTIFIER => out.subscription_identifier = Some(int(p)),
            id::USER_PROPERTY => out.user_properties.extend(pair(p)),
            _ => {}
        }
    }
    out
}

/// UNSUBSCRIBE properties from `-D unsubscribe ...`.
pub(crate) fn unsubscribe_props(list: &[Prop]) -> UnsubscribeProperties {
    let mut out = UnsubscribeProperties::default();
    out.user_properties.extend(list.iter().filter_map(pair));
    out
}

/// DISCONNECT properties from `-D disconnect ...`.
pub(crate) fn disconnect_props(list: &[Prop]) -> DisconnectProperties {
    let mut out = DisconnectProperties::default();
    for p in list {
        match p.id {
            id::SESSION_EXPIRY_INTERVAL => out.session_expiry_interval = Some(int(p)),
            id::REASON_STRING => out.reason_string = Some(string(p)),
            id::SERVER_REFERENCE => out.server_reference = Some(string(p)),
            id::USER_PROPERTY => out.user_properties.extend(pair(p)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (bool, PropLists, String) {
        let mut argv: Vec<String> = vec!["prog".into(), "-D".into()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let mut lists = PropLists::default();
        let mut err = Vec::new();
        let mut idx = 2;
        let ok = parse_property(&mut lists, &argv, &mut idx, &mut err);
        (ok, lists, String::from_utf8(err).unwrap())
    }

    #[test]
    fn parses_and_routes() {
        let (ok, l, _) = run(&["publish", "user-property", "k", "v"]);
        assert!(ok);
        assert_eq!(l.publish[0].value, PropValue::Pair("k".into(), "v".into()));
        let (ok, l, _) = run(&["PUBLISH", "Topic-Alias", "3"]);
        assert!(ok && l.have_topic_alias);
        assert_eq!(publish_props(&l.publish).topic_alias, Some(3));
    }

    #[test]
    fn mosquitto_messages() {
        assert_eq!(
            run(&["connect", "maximum-qos", "1"]).2,
            "Error: maximum-qos property not allowed for connect in --property argument.\n\n"
        );
        assert_eq!(
            run(&["puback", "user-property", "a", "b"]).2,
            "Error: user-property property not supported for puback in --property argument.\n\n"
        );
        assert_eq!(
            run(&["publish", "payload-format-indicator", "300"]).2,
            "Error: Property value (300) out of range for property payload-format-indicator.\n\n"
        );
        assert_eq!(run(&["connack", "user-property", "a", "b"]).2, "");
        assert_eq!(
            run(&["publish", "foo", "1"]).2,
            "Error: Invalid property name given in --property argument.\n\n"
        );
        assert_eq!(
            run(&["publish"]).2,
            "Error: --property argument given but not enough arguments specified.\n\n"
        );
    }

    #[test]
    fn duplicates() {
        let p = |id| Prop {
            id,
            value: PropValue::Int(1),
        };
        assert!(check_duplicates(&[p(id::CONTENT_TYPE), p(id::USER_PROPERTY)]).is_ok());
        assert!(check_duplicates(&[p(id::USER_PROPERTY), p(id::USER_PROPERTY)]).is_ok());
        assert!(check_duplicates(&[p(id::CONTENT_TYPE), p(id::CONTENT_TYPE)]).is_err());
    }
}
