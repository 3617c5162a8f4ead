//! The parser must never panic, whatever it is fed: random bytes, random
//! lines built from real option names and awkward values, and very long
//! lines. A small deterministic generator keeps the test reproducible
//! without extra dependencies.

use komar_config::{fuzz_parse, options::OPTIONS, parse_str};

/// xorshift64*: deterministic, good enough to shuffle inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const VALUES: &[&str] = &[
    "",
    " ",
    "0",
    "1",
    "-1",
    "true",
    "false",
    "65535",
    "65536",
    "2147483648",
    "-2147483649",
    "99999999999999999999",
    "abc",
    "#",
    "# c",
    "\"\"",
    "\"a b",
    "\"",
    "a/#",
    "a/+/b",
    "+",
    "#/a",
    "/",
    "1d",
    "0d",
    "9999999999999999y",
    "x:y",
    "h:0",
    "[::1]:1",
    ":",
    "::",
    "\t",
    "\u{0}",
    "\u{fffd}",
    "é",
    "mqttv50",
    "lazy",
    "both 1 \"\" \"\"",
    "in 3",
    "out 1 a/ b/",
    "0 /tmp/s",
    "1883 127.0.0.1",
    "3,4,5",
    ",,",
    "1 2",
    "1 2 3",
    "10 5",
    "ipv4",
    "websockets",
    "file",
    "file /x",
    "none",
    "all",
    "tlsv1.2",
    "engine",
];

#[test]
fn random_bytes() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..2000 {
        let len = rng.below(300);
        let data: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
        fuzz_parse(&data);
    }
}

#[test]
fn random_lines_of_real_options() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let names: Vec<&str> = OPTIONS.iter().map(|s| s.name).collect();
    let extra = [
        "plugin_opt_",
        "plugin_opt_key",
        "auth_opt_x",
        "#",
        " ",
        "listener",
        "connection x",
    ];
    for _ in 0..3000 {
        let mut text = String::new();
        for _ in 0..rng.below(12) {
            let name = if rng.below(5) == 0 {
                rng.pick(&extra)
            } else {
                rng.pick(&names)
            };
            let sep = rng.pick(&[" ", "  ", "\t", ""]);
            let value = rng.pick(VALUES);
            let end = rng.pick(&["\n", "\r\n", "\r", " \n", ""]);
            text.push_str(name);
            text.push_str(sep);
            text.push_str(value);
            text.push_str(end);
            if !end.ends_with('\n') {
                text.push('\n');
            }
        }
        let _ = parse_str(&text, "random.conf");
    }
}

#[test]
fn huge_inputs_stay_bounded() {
    // A very long line and very many bad lines: the error list is capped.
    let long = format!("pid_file /{}\n", "a".repeat(200_000));
    assert!(parse_str(&long, "long.conf").is_err());
    let many = "bogus\n".repeat(50_000);
    let e = parse_str(&many, "many.conf").unwrap_err();
    assert!(e.len() <= 1001, "{}", e.len());
    assert!(e.errors.last().unwrap().message.contains("too many errors"));
}
