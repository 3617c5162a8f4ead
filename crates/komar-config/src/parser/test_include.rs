//! Tests of `include_dir`: order, filtering, per-file context, errors.

use std::path::{Path, PathBuf};

use crate::{parse_file, parse_str, ListenerAddress, MemLoader, Protocol};

fn main_with(text: &str) -> MemLoader {
    MemLoader::new().with_file("/etc/m/main.conf", text)
}

#[test]
fn loads_conf_files_in_mosquitto_order() {
    let loader = main_with("include_dir /etc/m/conf.d\nsys_interval 1\n")
        .with_file("/etc/m/conf.d/b.conf", "connection b\naddress h\ntopic #\n")
        .with_file("/etc/m/conf.d/B.conf", "connection B\naddress h\ntopic #\n")
        .with_file("/etc/m/conf.d/a.conf", "connection a\naddress h\ntopic #\n")
        .with_file(
            "/etc/m/conf.d/10-x.conf",
            "connection 10\naddress h\ntopic #\n",
        )
        .with_file("/etc/m/conf.d/README", "this is not config\n")
        .with_file("/etc/m/conf.d/c.conf.bak", "bogus\n")
        .with_file("/etc/m/conf.d/.conf", "bogus\n");
    let c = parse_file(Path::new("/etc/m/main.conf"), &loader).unwrap();
    let names: Vec<&str> = c.bridges.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, vec!["10", "a", "B", "b"]);
    assert_eq!(
        c.files,
        vec![
            PathBuf::from("/etc/m/main.conf"),
            PathBuf::from("/etc/m/conf.d/10-x.conf"),
            PathBuf::from("/etc/m/conf.d/a.conf"),
            PathBuf::from("/etc/m/conf.d/B.conf"),
            PathBuf::from("/etc/m/conf.d/b.conf"),
        ]
    );
    // Option uses of included files appear where include_dir is.
    let order: Vec<(&str, usize)> = c
        .options
        .iter()
        .map(|o| {
            (
                o.file.file_name().and_then(|n| n.to_str()).unwrap_or(""),
                o.line,
            )
        })
        .collect();
    assert_eq!(order.first(), Some(&("main.conf", 1)));
    assert_eq!(order.get(1), Some(&("10-x.conf", 1)));
    assert_eq!(order.last(), Some(&("main.conf", 2)));
}

#[test]
fn upper_case_sorts_before_lower_case_of_the_same_letter() {
    let loader = main_with("include_dir /d\n")
        .with_file("/d/ab.conf", "user lower\n")
        .with_file("/d/Ab.conf", "pid_file /upper\n");
    let c = parse_file(Path::new("/etc/m/main.conf"), &loader).unwrap();
    let files: Vec<String> = c.files.iter().map(|f| f.display().to_string()).collect();
    assert_eq!(
        files[1..],
        ["/d/Ab.conf".to_owned(), "/d/ab.conf".to_owned()]
    );
}

#[test]
fn empty_include_dir_is_fine() {
    let loader = main_with("include_dir /etc/m/conf.d\n").with_dir("/etc/m/conf.d");
    let c = parse_file(Path::new("/etc/m/main.conf"), &loader).unwrap();
    assert_eq!(c.files.len(), 1);
}

#[test]
fn unreadable_include_dir_is_an_error_at_its_line() {
    let loader = main_with("sys_interval 1\ninclude_dir /nonexistent\n");
    let e = parse_file(Path::new("/etc/m/main.conf"), &loader).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e.errors[0].line, 2);
    assert!(e.errors[0]
        .message
        .starts_with("cannot open include_dir '/nonexistent'"));
    let e = parse_str("include_dir /x\n", "s.conf").unwrap_err();
    assert!(e.errors[0].message.contains("no file loader"));
}

#[test]
fn errors_in_included_files_name_that_file() {
    let loader = main_with("include_dir /d\n")
        .with_file("/d/a.conf", "\nallow_anonymous yes\n")
        .with_file("/d/b.conf", "bogus 1\n");
    let e = parse_file(Path::new("/etc/m/main.conf"), &loader).unwrap_err();
    let got: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(got.len(), 2);
    assert!(got[0].starts_with("/d/a.conf:2: 'allow_anonymous' expects"));
    assert_eq!(got[1], "/d/b.conf:1: unknown option 'bogus'");
}

#[test]
fn unreadable_included_file_is_reported() {
    // A directory whose name ends in .conf: Mosquitto says "is a directory".
    let loader = main_with("include_dir /d\n").with_dir("/d/sub.conf");
    let e = parse_file(Path::new("/etc/m/main.conf"), &loader).unwrap_err();
    assert_eq!(e.errors[0].line, 1);
    assert!(e.errors[0]
        .message
        .contains("cannot read included config file '/d/sub.conf'"));
}

#[test]
fn include_dir_only_in_the_main_file() {
    let loader = main_with("include_dir /d\n")
        .with_file("/d/a.conf", "include_dir /e\n")
        .with_dir("/e");
    let e = parse_file(Path::new("/etc/m/main.conf"), &loader).unwrap_err();
    assert_eq!(e.to_string().lines().count(), 1);
    assert!(e.errors[0]
        .message
        .contains("only allowed in the main configuration file"));
    assert_eq!(e.errors[0].file, PathBuf::from("/d/a.conf"));
}

#[test]
fn each_file_starts_with_the_default_listener() {
    // Mosquitto 2.0: cur_listener is per file. "protocol" in the included
    // file goes to the default listener, and the main file keeps applying
    // options to its own last listener after the include.
    let loader = main_with("listener 1883\ninclude_dir /d\nmax_qos 1\n").with_file(
        "/d/a.conf",
        "protocol websockets\nlistener 9001\nmax_connections 5\n",
    );
    let c = parse_file(Path::new("/etc/m/main.conf"), &loader).unwrap();
    assert_eq!(c.default_listener.protocol, Protocol::Websockets);
    assert!(c.default_listener_in_use());
    assert_eq!(c.listeners[0].max_qos, 1);
    assert_eq!(c.listeners[0].protocol, Protocol::Mqtt);
    assert_eq!(
        c.listeners[1].address,
        ListenerAddress::Tcp {
            port: 9001,
            host: None
        }
    );
    assert_eq!(c.listeners[1].max_connections, 5);
}

#[test]
fn bridge_and_plugin_context_is_per_file() {
    let loader = main_with("connection b\naddress h\ntopic #\nplugin /p.so\ninclude_dir /d\n")
        .with_file("/d/a.conf", "topic x/#\nplugin_opt_key v\n");
    let e = parse_file(Path::new("/etc/m/main.conf"), &loader).unwrap_err();
    let lines: Vec<(String, usize)> = e
        .iter()
        .map(|e| (e.file.display().to_string(), e.line))
        .collect();
    assert_eq!(
        lines,
        vec![("/d/a.conf".to_owned(), 1), ("/d/a.conf".to_owned(), 2)]
    );
}

#[test]
fn unreadable_main_file() {
    let e = parse_file(Path::new("/nope.conf"), &MemLoader::new()).unwrap_err();
    assert_eq!(e.errors[0].line, 0);
    assert!(e
        .to_string()
        .starts_with("/nope.conf:0: cannot read config file"));
}
