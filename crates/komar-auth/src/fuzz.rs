//! Entry points for cargo-fuzz (`fuzz/` in the workspace). They must never
//! panic, whatever the bytes; they exercise parsing and the cheap checks,
//! not hash verification (a file may legally ask for 2^31 PBKDF2 rounds).

use crate::acl::{Access, AclFile};
use crate::hash::PasswordHash;
use crate::password_file::PasswordFile;

/// Parse `data` as a password file, then re-encode and re-decode every
/// entry it accepted.
pub fn fuzz_password_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (file, errors) = PasswordFile::parse(&text);
    for e in &errors {
        let _ = e.to_string();
    }
    let names: Vec<String> = file.usernames().map(str::to_owned).collect();
    for name in &names {
        if let Some(hash) = file.get(name) {
            let encoded = hash.encode();
            let _ = PasswordHash::decode(&encoded);
            let _ = hash.kind();
        }
    }
    let _ = file.has_user("");
}

/// Parse `data` as an ACL file and, if it loads, run checks for topics and
/// identities taken from the same bytes.
pub fn fuzz_acl(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(acl) = AclFile::parse(&text) else {
        return;
    };
    let words: Vec<&str> = text.split_whitespace().take(8).collect();
    let mut topics = vec![
        "a/b",
        "$SYS/broker/connection/x/state",
        "$share/g/t",
        "/",
        "+",
    ];
    topics.extend(words.iter().copied());
    let mut ids = vec!["client", "c+", ""];
    ids.extend(words.iter().take(2).copied());
    for topic in &topics {
        for id in &ids {
            for user in [None, Some("user"), Some("u#"), words.first().copied()] {
                for access in [
                    Access::Read,
                    Access::Write,
                    Access::Subscribe,
                    Access::Unsubscribe,
                ] {
                    let _ = acl.check(id, user, topic, access);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_inputs_do_not_panic() {
        for input in [
            &b""[..],
            b"\xff\xfe:\x00$7$",
            b"u:$7$2147483648$a$b\n",
            b"u:$argon2id$v=19$m=4294967295,t=1,p=1$AAAAAAAAAAA$AAAAAA\n",
            b"pattern read %c%u%\nuser\ntopic #\n",
            b"pattern read %c/#\ntopic deny %u\n",
            b"topic read $SYS/#\npattern write $SYS/broker/connection/%c/state\n",
        ] {
            fuzz_password_file(input);
            fuzz_acl(input);
        }
    }
}
