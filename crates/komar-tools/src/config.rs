//! Command-line and options-file parsing shared by pub, sub and rr, with
//! mosquitto 2.0.11's option set, per-tool restrictions, validation order
//! and error messages (`client_config_load` / `client_config_line_proc`).

use std::io::Write;
use std::time::Duration;

use komar_proto::{ProtocolVersion, QoS};

use crate::cnum::{atof, atoi, strtol_full};
use crate::props::{check_duplicates, parse_property, PropLists};

/// Which tool is parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    Pub,
    Sub,
    Rr,
}

impl Tool {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tool::Pub => "mosquitto_pub",
            Tool::Sub => "mosquitto_sub",
            Tool::Rr => "mosquitto_rr",
        }
    }
}

/// Where the message of pub / rr comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PubMode {
    None,
    Cmd,
    File,
    StdinLine,
    StdinFile,
    Null,
}

/// Retain handling "never" (`-R` in 5.0) and retain-as-published bits of
/// the subscription options byte.
pub(crate) const SUB_OPT_SEND_RETAIN_NEVER: u8 = 0x20;
pub(crate) const SUB_OPT_RETAIN_AS_PUBLISHED: u8 = 0x08;

/// TLS, SRV and proxy settings: accepted, then refused at connect time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Unsupported {
    pub(crate) tls: bool,
    pub(crate) srv: bool,
    pub(crate) proxy: bool,
}

/// Everything the command line and options file said.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    pub(crate) tool: Tool,
    pub(crate) id: Option<String>,
    pub(crate) id_prefix: Option<String>,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) keepalive: u16,
    pub(crate) host: String,
    /// `None` = default (1883); `Some(0)` with `--unix`.
    pub(crate) port: Option<u16>,
    pub(crate) unix: bool,
    /// TLS options (`--cafile`, `--cert`, ...).
    pub(crate) tls: komar_client::tls::TlsConfig,
    /// Connect with TLS: `--cafile`, `--capath`, `--tls-use-os-certs` or
    /// an `mqtts://` URL, as libmosquitto decides.
    pub(crate) use_tls: bool,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) pub_mode: PubMode,
    pub(crate) file_input: Option<String>,
    pub(crate) message: Option<Vec<u8>>,
    pub(crate) topic: Option<String>,
    pub(crate) response_topic: Option<String>,
    pub(crate) topics: Vec<String>,
    pub(crate) filter_outs: Vec<String>,
    pub(crate) unsub_topics: Vec<String>,
    pub(crate) bind_address: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) will_topic: Option<String>,
    pub(crate) will_payload: Option<String>,
    pub(crate) will_qos: QoS,
    pub(crate) will_retain: bool,
    pub(crate) debug: bool,
    pub(crate) quiet: bool,
    pub(crate) verbose: bool,
    pub(crate) eol: bool,
    pub(crate) msg_count: i32,
    pub(crate) timeout: u32,
    pub(crate) clean_session: bool,
    /// -1 = not given.
    pub(crate) session_expiry_interval: i64,
    pub(crate) format: Option<String>,
    pub(crate) pretty: bool,
    pub(crate) no_retain: bool,
    pub(crate) retained_only: bool,
    pub(crate) remove_retained: bool,
    pub(crate) exit_after_sub: bool,
    pub(crate) sub_opts: u8,
    pub(crate) repeat_count: i32,
    pub(crate) repeat_delay: Duration,
    /// Chance in 1/10000 that a message is printed (10000 = all).
    pub(crate) random_filter: i32,
    pub(crate) max_inflight: u32,
    pub(crate) tcp_nodelay: bool,
    pub(crate) unsupported: Unsupported,
    pub(crate) props: PropLists,
}

/// How parsing ended when it did not produce a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseExit {
    /// `--help`.
    Help,
    /// `--version`.
    Version,
    /// An error, already printed.
    Error,
}

impl Config {
    fn new(tool: Tool) -> Config {
        Config {
            tool,
            id: None,
            id_prefix: None,
            protocol: if tool == Tool::Rr {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V311
            },
            keepalive: 60,
            host: String::new(),
            port: None,
            unix: false,
            tls: Default::default(),
            use_tls: false,
            qos: QoS::AtMostOnce,
            retain: false,
            pub_mode: PubMode::None,
            file_input: None,
            message: None,
            topic: None,
            response_topic: None,
            topics: Vec::new(),
            filter_outs: Vec::new(),
            unsub_topics: Vec::new(),
            bind_address: None,
            username: None,
            password: None,
            will_topic: None,
            will_payload: None,
            will_qos: QoS::AtMostOnce,
            will_retain: false,
            debug: false,
            quiet: false,
            verbose: false,
            eol: true,
            msg_count: if tool == Tool::Rr { 1 } else { 0 },
            timeout: 0,
            clean_session: true,
            session_expiry_interval: -1,
            format: None,
            pretty: false,
            no_retain: false,
            retained_only: false,
            remove_retained: false,
            exit_after_sub: false,
            sub_opts: 0,
            repeat_count: 1,
            repeat_delay: Duration::ZERO,
            random_filter: 10_000,
            max_inflight: 20,
            tcp_nodelay: false,
            unsupported: Unsupported::default(),
            props: PropLists::default(),
        }
    }
}

/// mosquitto's `mosquitto_validate_utf8` on an already valid Rust string:
/// control characters and non-characters are refused too.
pub(crate) fn validate_utf8(s: &str) -> bool {
    s.len() <= usize::from(u16::MAX)
        && s.chars().all(|c| {
            let c = c as u32;
            !(c <= 0x1F || (0x7F..=0x9F).contains(&c) || c == 0xFFFE || c == 0xFFFF)
        })
}

/// `mosquitto_pub_topic_check`: no wildcards, at most 65,535 bytes and 200
/// levels.
pub(crate) fn pub_topic_ok(t: &str) -> bool {
    !t.contains(['+', '#']) && t.len() <= 65_535 && t.matches('/').count() < 200
}

/// `mosquitto_sub_topic_check`: `+` and `#` alone in their level, `#` last.
pub(crate) fn sub_topic_ok(t: &str) -> bool {
    if t.len() > 65_535 || t.matches('/').count() >= 200 {
        return false;
    }
    let levels: Vec<&str> = t.split('/').collect();
    let last = levels.len().saturating_sub(1);
    levels.iter().enumerate().all(|(i, l)| {
        if l.contains('#') {
            *l == "#" && i == last
        } else if l.contains('+') {
            *l == "+"
        } else {
            true
        }
    })
}

struct Parser<'a> {
    cfg: Config,
    err: &'a mut dyn Write,
}

macro_rules! fail {
    ($p:expr, $($arg:tt)*) => {{
        let _ = write!($p.err, $($arg)*);
        return Err(ParseExit::Error);
    }};
}

impl Parser<'_> {
    fn add_topic(&mut self, kind: TopicKind, topic: &str, arg: &str) -> Result<(), ParseExit> {
        if !validate_utf8(topic) {
            fail!(self, "Error: Malformed UTF-8 in {arg} argument.\n\n");
        }
        match kind {
            TopicKind::Publish => {
                if !pub_topic_ok(topic) {
                    fail!(
                        self,
                        "Error: Invalid publish topic '{topic}', does it contain '+' or '#'?\n"
                    );
                }
                self.cfg.topic = Some(topic.to_string());
            }
            TopicKind::Response => {
                if !pub_topic_ok(topic) {
                    fail!(
                        self,
                        "Error: Invalid response topic '{topic}', does it contain '+' or '#'?\n"
                    );
                }
                self.cfg.response_topic = Some(topic.to_string());
            }
            TopicKind::Subscribe => {
                if !sub_topic_ok(topic) {
                    fail!(
                        self,
                        "Error: Invalid subscription topic '{topic}', are all '+' and '#' wildcards correct?\n"
                    );
                }
                self.cfg.topics.push(topic.to_string());
            }
        }
        Ok(())
    }

    fn tool_topic_kind(&self) -> TopicKind {
        match self.cfg.tool {
            Tool::Sub => TopicKind::Subscribe,
            Tool::Pub | Tool::Rr => TopicKind::Publish,
        }
    }

    /// One pass over `argv` (argv[0] is the program name or a dummy).
    fn line_proc(&mut self, argv: &[String]) -> Result<(), ParseExit> {
        let argc = argv.len();
        let tool = self.cfg.tool;
        let mut i = 1;
        while i < argc {
            let a = argv.get(i).map(String::as_str).unwrap_or("");
            let next = argv.get(i + 1).map(String::as_str);
            let last = i + 1 >= argc;
            macro_rules! value {
                ($msg:expr) => {{
                    match next {
                        Some(v) if !last => v,
                        _ => fail!(self, "{}\n\n", $msg),
                    }
                }};
            }
            macro_rules! only {
                ($cond:expr) => {
                    if !$cond {
                        fail!(self, "Error: Unknown option '{a}'.\n");
                    }
                };
            }
            match a {
                "-A" => {
                    self.cfg.bind_address =
                        Some(value!("Error: -A argument given but no address specified.").into());
                    i += 1;
                }
                "--cafile"
                | "--capath"
                | "--cert"
                | "--ciphers"
                | "--key"
                | "--keyform"
                | "--psk"
                | "--psk-identity"
                | "--tls-alpn"
                | "--tls-engine"
                | "--tls-engine-kpass-sha1"
                | "--tls-version" => {
                    let what = match a {
                        "--cafile" | "--cert" | "--key" => "file",
                        "--capath" => "directory",
                        "--ciphers" => "ciphers",
                        "--keyform" => "keyform",
                        "--psk" => "key",
                        "--psk-identity" => "identity",
                        "--tls-alpn" => "protocol",
                        "--tls-engine" => "engine_id",
                        "--tls-engine-kpass-sha1" => "kpass sha1",
                        _ => "version",
                    };
                    let v = value!(format!(
                        "Error: {a} argument given but no {what} specified."
                    ))
                    .to_owned();
                    let t = &mut self.cfg.tls;
                    match a {
                        "--cafile" => t.cafile = Some(v.into()),
                        "--capath" => t.capath = Some(v.into()),
                        "--cert" => t.cert = Some(v.into()),
                        "--key" => t.key = Some(v.into()),
                        "--ciphers" => t.ciphers = Some(v),
                        "--tls-alpn" => t.alpn = Some(v),
                        "--tls-version" => t.min_version = Some(v),
                        "--keyform" if v == "pem" => {}
                        // PSK and OpenSSL engines: not in rustls.
                        _ => self.cfg.unsupported.tls = true,
                    }
                    if matches!(a, "--cafile" | "--capath") {
                        self.cfg.use_tls = true;
                    }
                    i += 1;
                }
                "--insecure" => self.cfg.tls.insecure = true,
                "--tls-use-os-certs" => {
                    self.cfg.tls.os_certs = true;
                    self.cfg.use_tls = true;
                }
                "-C" => {
                    only!(tool == Tool::Sub);
                    let v = value!("Error: -C argument given but no count specified.");
                    self.cfg.msg_count = atoi(v);
                    if self.cfg.msg_count < 1 {
                        fail!(
                            self,
                            "Error: Invalid message count \"{}\".\n\n",
                            self.cfg.msg_count
                        );
                    }
                    i += 1;
                }
                "-c" | "--disable-clean-session" => self.cfg.clean_session = false,
                "-d" | "--debug" => self.cfg.debug = true,
                "-D" | "--property" => {
                    i += 1;
                    if !parse_property(&mut self.cfg.props, argv, &mut i, self.err) {
                        return Err(ParseExit::Error);
                    }
                    self.cfg.protocol = ProtocolVersion::V5;
                }
                "-e" => {
                    only!(tool == Tool::Rr);
                    let v = value!("Error: -e argument given but no response topic specified.");
                    self.add_topic(TopicKind::Response, v, "-e")?;
                    i += 1;
                }
                "-E" => {
                    only!(tool == Tool::Sub);
                    self.cfg.exit_after_sub = true;
                }
                "-f" | "--file" => {
                    only!(tool != Tool::Sub);
                    if self.cfg.pub_mode != PubMode::None {
                        fail!(
                            self,
                            "Error: Only one type of message can be sent at once.\n\n"
                        );
                    }
                    let v = value!("Error: -f argument given but no file specified.");
                    self.cfg.pub_mode = PubMode::File;
                    self.cfg.file_input = Some(v.to_string());
                    i += 1;
                }
                "-F" => {
                    only!(tool != Tool::Pub);
                    let v = value!("Error: -F argument given but no format specified.");
                    if let Err(msg) = crate::format::check_format(v) {
                        fail!(self, "{msg}");
                    }
                    self.cfg.format = Some(v.to_string());
                    i += 1;
                }
                "--help" => return Err(ParseExit::Help),
                "-h" | "--host" => {
                    self.cfg.host =
                        value!("Error: -h argument given but no host specified.").into();
                    i += 1;
                }
                "-i" | "--id" => {
                    if self.cfg.id_prefix.is_some() {
                        fail!(
                            self,
                            "Error: -i and -I argument cannot be used together.\n\n"
                        );
                    }
                    self.cfg.id =
                        Some(value!("Error: -i argument given but no id specified.").into());
                    i += 1;
                }
                "-I" | "--id-prefix" => {
                    if self.cfg.id.is_some() {
                        fail!(
                            self,
                            "Error: -i and -I argument cannot be used together.\n\n"
                        );
                    }
                    self.cfg.id_prefix =
                        Some(value!("Error: -I argument given but no id prefix specified.").into());
                    i += 1;
                }
                "-k" | "--keepalive" => {
                    let v = atoi(value!(
                        "Error: -k argument given but no keepalive specified."
                    ));
                    if !(5..=65535).contains(&v) {
                        fail!(
                            self,
                            "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n"
                        );
                    }
                    self.cfg.keepalive = v as u16;
                    i += 1;
                }
                "-L" | "--url" => {
                    let v = value!("Error: -L argument given but no URL specified.").to_string();
                    self.parse_url(&v)?;
                    i += 1;
                }
                "-l" | "--stdin-line" => {
                    only!(tool == Tool::Pub);
                    if self.cfg.pub_mode != PubMode::None {
                        fail!(
                            self,
                            "Error: Only one type of message can be sent at once.\n\n"
                        );
                    }
                    self.cfg.pub_mode = PubMode::StdinLine;
                }
                "-m" | "--message" => {
                    only!(tool != Tool::Sub);
                    if self.cfg.pub_mode != PubMode::None {
                        fail!(
                            self,
                            "Error: Only one type of message can be sent at once.\n\n"
                        );
                    }
                    let v = value!("Error: -m argument given but no message specified.");
                    if v.len() > komar_proto::MAX_REMAINING_LENGTH {
                        fail!(
                            self,
                            "Error: Message length must be less than {} bytes.\n\n",
                            komar_proto::MAX_REMAINING_LENGTH
                        );
                    }
                    self.cfg.message = Some(v.as_bytes().to_vec());
                    self.cfg.pub_mode = PubMode::Cmd;
                    i += 1;
                }
                "-M" => {
                    let v = atoi(value!(
                        "Error: -M argument given but max_inflight not specified."
                    ));
                    if v < 1 {
                        fail!(
                            self,
                            "Error: Maximum inflight messages must be greater than 0.\n\n"
                        );
                    }
                    self.cfg.max_inflight = v as u32;
                    i += 1;
                }
                "--nodelay" => self.cfg.tcp_nodelay = true,
                "-n" | "--null-message" => {
                    only!(tool != Tool::Sub);
                    if self.cfg.pub_mode != PubMode::None {
                        fail!(
                            self,
                            "Error: Only one type of message can be sent at once.\n\n"
                        );
                    }
                    self.cfg.pub_mode = PubMode::Null;
                }
                "-N" => {
                    only!(tool != Tool::Pub);
                    self.cfg.eol = false;
                }
                "-p" | "--port" => {
                    let v = atoi(value!("Error: -p argument given but no port specified."));
                    if !(0..=65535).contains(&v) {
                        fail!(self, "Error: Invalid port given: {v}\n");
                    }
                    self.cfg.port = Some(v as u16);
                    self.cfg.unix = false;
                    i += 1;
                }
                "--pretty" => {
                    only!(tool != Tool::Pub);
                    self.cfg.pretty = true;
                }
                "-P" | "--pw" => {
                    self.cfg.password =
                        Some(value!("Error: -P argument given but no password specified.").into());
                    i += 1;
                }
                "--proxy" => {
                    let v = value!("Error: --proxy argument given but no proxy url specified.");
                    if !v.starts_with("socks5h://") {
                        if !self.cfg.quiet {
                            let _ = writeln!(self.err, "Error: Unsupported proxy protocol: {v}");
                        }
                        return Err(ParseExit::Error);
                    }
                    self.cfg.unsupported.proxy = true;
                    i += 1;
                }
                "-q" | "--qos" => {
                    let v = atoi(value!("Error: -q argument given but no QoS specified."));
                    match u8::try_from(v).ok().and_then(QoS::from_u8) {
                        Some(q) => self.cfg.qos = q,
                        None => fail!(self, "Error: Invalid QoS given: {v}\n"),
                    }
                    i += 1;
                }
                "--quiet" => self.cfg.quiet = true,
                "-r" | "--retain" => {
                    only!(tool == Tool::Pub);
                    self.cfg.retain = true;
                }
                "-R" => {
                    only!(tool != Tool::Pub);
                    self.cfg.no_retain = true;
                    self.cfg.sub_opts |= SUB_OPT_SEND_RETAIN_NEVER;
                }
                "--random-filter" => {
                    only!(tool == Tool::Sub);
                    let v =
                        value!("Error: --random-filter argument given but no chance specified.");
                    self.cfg.random_filter = (10.0 * atof(v)) as i32;
                    if !(1..=10_000).contains(&self.cfg.random_filter) {
                        fail!(
                            self,
                            "Error: --random-filter chance must be between 0.1-100.0\n\n"
                        );
                    }
                    i += 1;
                }
                "--remove-retained" => {
                    only!(tool == Tool::Sub);
                    self.cfg.remove_retained = true;
                }
                "--repeat" => {
                    only!(tool == Tool::Pub);
                    let v = atoi(value!(
                        "Error: --repeat argument given but no count specified."
                    ));
                    if v < 1 {
                        fail!(self, "Error: --repeat argument must be >0.\n\n");
                    }
                    self.cfg.repeat_count = v;
                    i += 1;
                }
                "--repeat-delay" => {
                    only!(tool == Tool::Pub);
                    let f = atof(value!(
                        "Error: --repeat-delay argument given but no time specified."
                    )) as f32;
                    if f < 0.0 {
                        fail!(self, "Error: --repeat-delay argument must be >=0.0.\n\n");
                    }
                    let us = (f * 1.0e6) as i64;
                    self.cfg.repeat_delay = Duration::from_micros(us.max(0) as u64);
                    i += 1;
                }
                "--retain-as-published" => {
                    only!(tool != Tool::Pub);
                    self.cfg.sub_opts |= SUB_OPT_RETAIN_AS_PUBLISHED;
                }
                "--retained-only" => {
                    only!(tool == Tool::Sub);
                    self.cfg.retained_only = true;
                }
                "-s" | "--stdin-file" => {
                    only!(tool != Tool::Sub);
                    if self.cfg.pub_mode != PubMode::None {
                        fail!(
                            self,
                            "Error: Only one type of message can be sent at once.\n\n"
                        );
                    }
                    self.cfg.pub_mode = PubMode::StdinFile;
                }
                "-S" => self.cfg.unsupported.srv = true,
                "-t" | "--topic" => {
                    let v = value!("Error: -t argument given but no topic specified.").to_string();
                    let kind = self.tool_topic_kind();
                    self.add_topic(kind, &v, "-t")?;
                    i += 1;
                }
                "-T" | "--filter-out" => {
                    only!(tool == Tool::Sub);
                    let v = value!("Error: -T argument given but no topic filter specified.");
                    if !validate_utf8(v) {
                        fail!(self, "Error: Malformed UTF-8 in -T argument.\n\n");
                    }
                    if !sub_topic_ok(v) {
                        fail!(
                            self,
                            "Error: Invalid filter topic '{v}', are all '+' and '#' wildcards correct?\n"
                        );
                    }
                    self.cfg.filter_outs.push(v.to_string());
                    i += 1;
                }
                "-U" | "--unsubscribe" => {
                    only!(tool == Tool::Sub);
                    let v = value!("Error: -U argument given but no unsubscribe topic specified.");
                    if !validate_utf8(v) {
                        fail!(self, "Error: Malformed UTF-8 in -U argument.\n\n");
                    }
                    if !sub_topic_ok(v) {
                        fail!(
                            self,
                            "Error: Invalid unsubscribe topic '{v}', are all '+' and '#' wildcards correct?\n"
                        );
                    }
                    self.cfg.unsub_topics.push(v.to_string());
                    i += 1;
                }
                "-u" | "--username" => {
                    self.cfg.username =
                        Some(value!("Error: -u argument given but no username specified.").into());
                    i += 1;
                }
                "--unix" => {
                    self.cfg.host =
                        value!("Error: --unix argument given but no socket path specified.").into();
                    self.cfg.port = Some(0);
                    self.cfg.unix = true;
                    i += 1;
                }
                "-V" | "--protocol-version" => {
                    let v = value!(
                        "Error: --protocol-version argument given but no version specified."
                    );
                    self.cfg.protocol = match v {
                        "mqttv31" | "31" => ProtocolVersion::V31,
                        "mqttv311" | "311" => ProtocolVersion::V311,
                        "mqttv5" | "5" => ProtocolVersion::V5,
                        _ => fail!(self, "Error: Invalid protocol version argument given.\n\n"),
                    };
                    i += 1;
                }
                "-v" | "--verbose" => {
                    only!(tool != Tool::Pub);
                    self.cfg.verbose = true;
                }
                "--version" => return Err(ParseExit::Version),
                "-W" => {
                    only!(tool != Tool::Pub);
                    let v = atoi(value!("Error: -W argument given but no timeout specified."));
                    if v < 1 {
                        fail!(self, "Error: Invalid timeout \"{v}\".\n\n");
                    }
                    self.cfg.timeout = v as u32;
                    i += 1;
                }
                "--will-payload" => {
                    self.cfg.will_payload = Some(
                        value!(
                            "Error: --will-payload argument given but no will payload specified."
                        )
                        .into(),
                    );
                    i += 1;
                }
                "--will-qos" => {
                    let v = atoi(value!(
                        "Error: --will-qos argument given but no will QoS specified."
                    ));
                    match u8::try_from(v).ok().and_then(QoS::from_u8) {
                        Some(q) => self.cfg.will_qos = q,
                        None => fail!(self, "Error: Invalid will QoS {v}.\n\n"),
                    }
                    i += 1;
                }
                "--will-retain" => self.cfg.will_retain = true,
                "--will-topic" => {
                    let v =
                        value!("Error: --will-topic argument given but no will topic specified.");
                    if !validate_utf8(v) {
                        fail!(self, "Error: Malformed UTF-8 in --will-topic argument.\n\n");
                    }
                    if !pub_topic_ok(v) {
                        fail!(
                            self,
                            "Error: Invalid will topic '{v}', does it contain '+' or '#'?\n"
                        );
                    }
                    self.cfg.will_topic = Some(v.to_string());
                    i += 1;
                }
                "-x" => {
                    let v = value!(
                        "Error: -x argument given but no session expiry interval specified."
                    );
                    if v == "∞" {
                        self.cfg.session_expiry_interval = i64::from(u32::MAX);
                    } else {
                        let Some(n) = strtol_full(v) else {
                            fail!(self, "Error: session-expiry-interval not a number.\n\n");
                        };
                        if n > i64::from(u32::MAX) || n < -1 {
                            fail!(self, "Error: session-expiry-interval out of range.\n\n");
                        }
                        self.cfg.session_expiry_interval =
                            if n == -1 { i64::from(u32::MAX) } else { n };
                    }
                    i += 1;
                }
                _ => fail!(self, "Error: Unknown option '{a}'.\n"),
            }
            i += 1;
        }
        Ok(())
    }

    fn parse_url(&mut self, url: &str) -> Result<(), ParseExit> {
        let lower = url.to_ascii_lowercase();
        let rest = if lower.starts_with("mqtt://") {
            self.cfg.port = Some(1883);
            url.get(7..).unwrap_or("")
        } else if lower.starts_with("mqtts://") {
            self.cfg.port = Some(8883);
            self.cfg.use_tls = true;
            url.get(8..).unwrap_or("")
        } else {
            fail!(self, "Error: unsupported URL scheme.\n\n");
        };
        let Some((authority, topic)) = rest.split_once('/') else {
            fail!(
                self,
                "Error: Invalid URL for -L argument specified - topic missing.\n"
            );
        };
        let kind = self.tool_topic_kind();
        self.add_topic(kind, topic, "-L topic")?;
        let host_port = match authority.split_once('@') {
            Some((userinfo, hp)) => {
                match userinfo.split_once(':') {
                    Some((u, p)) => {
                        self.cfg.username = Some(u.to_string());
                        self.cfg.password = Some(p.to_string());
                    }
                    None => self.cfg.username = Some(userinfo.to_string()),
                }
                hp
            }
            None => authority,
        };
        match host_port.split_once(':') {
            Some((h, p)) => {
                self.cfg.host = h.to_string();
                self.cfg.port = Some(atoi(p) as u16);
            }
            None => self.cfg.host = host_port.to_string(),
        }
        Ok(())
    }

    /// Checks after every option is read (`client_config_load`).
    fn finish(&mut self) -> Result<(), ParseExit> {
        let c = &mut self.cfg;
        if c.will_payload.is_some() && c.will_topic.is_none() {
            fail!(
                self,
                "Error: Will payload given, but no will topic given.\n"
            );
        }
        if c.will_retain && c.will_topic.is_none() {
            fail!(self, "Error: Will retain given, but no will topic given.\n");
        }
        if c.protocol.is_v5() {
            if !c.clean_session && c.session_expiry_interval == -1 {
                // -c without -x: a session that never expires.
                c.session_expiry_interval = i64::from(u32::MAX);
            }
            if c.session_expiry_interval > 0 {
                if c.session_expiry_interval == i64::from(u32::MAX)
                    && (c.id_prefix.is_some() || c.id.is_none())
                {
                    fail!(
                        self,
                        "Error: You must provide a client id if you are using an infinite session expiry interval.\n"
                    );
                }
                self.cfg.props.connect.push(crate::props::Prop {
                    id: komar_proto::id::SESSION_EXPIRY_INTERVAL,
                    value: crate::props::PropValue::Int(self.cfg.session_expiry_interval as u32),
                });
            }
        } else if !c.clean_session && (c.id_prefix.is_some() || c.id.is_none()) {
            fail!(
                self,
                "Error: You must provide a client id if you are using the -c option.\n"
            );
        }
        if self.cfg.tool == Tool::Sub && self.cfg.topics.is_empty() {
            fail!(self, "Error: You must specify a topic to subscribe to.\n");
        }
        if self.cfg.host.is_empty() {
            self.cfg.host = "localhost".into();
        }
        let p = &self.cfg.props;
        for (list, name) in [
            (&p.connect, "CONNECT"),
            (&p.publish, "PUBLISH"),
            (&p.subscribe, "SUBSCRIBE"),
            (&p.unsubscribe, "UNSUBSCRIBE"),
            (&p.disconnect, "DISCONNECT"),
            (&p.will, "Will"),
        ] {
            if let Err(msg) = check_duplicates(list) {
                if !self.cfg.quiet {
                    let _ = writeln!(self.err, "Error in {name} properties: {msg}");
                }
                return Err(ParseExit::Error);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum TopicKind {
    Publish,
    Response,
    Subscribe,
}

/// Split one options-file line as mosquitto does: the first word, then the
/// rest of the line after one space as a single argument.
fn file_line_args(line: &str) -> Option<Vec<String>> {
    let line = line.trim_end_matches(['\n', '\r']);
    let trimmed = line.trim_start_matches(' ');
    if trimmed.is_empty() {
        return None;
    }
    let mut args = vec![String::new()];
    match trimmed.split_once(' ') {
        Some((first, rest)) => {
            args.push(first.to_string());
            if !rest.is_empty() {
                args.push(rest.to_string());
            }
        }
        None => args.push(trimmed.to_string()),
    }
    Some(args)
}

/// The default options file: `$XDG_CONFIG_HOME/mosquitto_<tool>` or
/// `$HOME/.config/mosquitto_<tool>`.
fn options_file(tool: Tool) -> Option<std::path::PathBuf> {
    let short = tool.name();
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME") {
        return Some(std::path::PathBuf::from(x).join(short));
    }
    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config").join(short))
}

/// Parse the options file and `args` (without the program name) for `tool`.
/// Errors are written to `err` before returning.
pub(crate) fn load(tool: Tool, args: &[String], err: &mut dyn Write) -> Result<Config, ParseExit> {
    let mut p = Parser {
        cfg: Config::new(tool),
        err,
    };
    if let Some(path) = options_file(tool) {
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                if line.starts_with('#') {
                    continue;
                }
                if let Some(argv) = file_line_args(line) {
                    p.line_proc(&argv)?;
                }
            }
        }
    }
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(tool.name().to_string());
    argv.extend(args.iter().cloned());
    p.line_proc(&argv)?;
    p.finish()?;
    Ok(p.cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tool: Tool, args: &[&str]) -> (Result<Config, ParseExit>, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut err = Vec::new();
        let r = load(tool, &args, &mut err);
        (r, String::from_utf8(err).unwrap())
    }

    #[test]
    fn basics() {
        let (c, _) = parse(
            Tool::Sub,
            &["-t", "a/#", "-t", "b", "-q", "2", "-v", "-p", "1884"],
        );
        let c = c.unwrap();
        assert_eq!(c.topics, vec!["a/#", "b"]);
        assert_eq!(c.qos, QoS::ExactlyOnce);
        assert_eq!(c.port, Some(1884));
        assert_eq!(c.host, "localhost");
        assert!(c.verbose);
    }

    #[test]
    fn errors_match_mosquitto() {
        assert_eq!(
            parse(Tool::Sub, &["-t", "a", "-q", "3"]).1,
            "Error: Invalid QoS given: 3\n"
        );
        assert_eq!(
            parse(Tool::Sub, &[]).1,
            "Error: You must specify a topic to subscribe to.\n"
        );
        assert_eq!(parse(Tool::Pub, &["-v"]).1, "Error: Unknown option '-v'.\n");
        assert_eq!(
            parse(Tool::Sub, &["-t", "a/#/b"]).1,
            "Error: Invalid subscription topic 'a/#/b', are all '+' and '#' wildcards correct?\n"
        );
        assert_eq!(
            parse(Tool::Sub, &["-t", "a", "-c"]).1,
            "Error: You must provide a client id if you are using the -c option.\n"
        );
        assert_eq!(
            parse(Tool::Pub, &["-t", "a", "-m", "x", "-l"]).1,
            "Error: Only one type of message can be sent at once.\n\n"
        );
        assert_eq!(
            parse(Tool::Sub, &["-t", "a", "-k"]).1,
            "Error: -k argument given but no keepalive specified.\n\n"
        );
        assert_eq!(parse(Tool::Sub, &["--help"]).0, Err(ParseExit::Help));
    }

    #[test]
    fn property_forces_v5_and_expiry() {
        let (c, _) = parse(
            Tool::Sub,
            &[
                "-t",
                "a",
                "-D",
                "connect",
                "user-property",
                "a",
                "b",
                "-x",
                "30",
            ],
        );
        let c = c.unwrap();
        assert!(c.protocol.is_v5());
        assert_eq!(c.props.connect.len(), 2);
        let (c, e) = parse(Tool::Sub, &["-t", "a", "-V", "5", "-c"]);
        assert!(c.is_err());
        assert!(e.contains("infinite session expiry"));
    }

    #[test]
    fn url() {
        let (c, _) = parse(Tool::Pub, &["-L", "mqtt://u:p@h:1999/t/x", "-m", "1"]);
        let c = c.unwrap();
        assert_eq!(
            (
                c.username.as_deref(),
                c.password.as_deref(),
                c.host.as_str(),
                c.port,
                c.topic.as_deref()
            ),
            (Some("u"), Some("p"), "h", Some(1999), Some("t/x"))
        );
        assert_eq!(
            parse(Tool::Pub, &["-L", "http://x/y"]).1,
            "Error: unsupported URL scheme.\n\n"
        );
    }

    #[test]
    fn options_file_lines() {
        assert_eq!(
            file_line_args("-m hello world\r\n").unwrap(),
            vec!["", "-m", "hello world"]
        );
        assert_eq!(file_line_args("-v").unwrap(), vec!["", "-v"]);
        assert!(file_line_args("").is_none());
    }
}
