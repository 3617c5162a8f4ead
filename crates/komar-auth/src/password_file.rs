//! The broker's view of a `password_file`: which users exist and whether a
//! password verifies, with Mosquitto 2.0's reading rules.
//!
//! Reading rules (`pwfile__parse` + `unpwd__decode_passwords`):
//! * a line starting with `#`, or without a `:`, is skipped silently;
//! * otherwise the user name is the first non-empty `:`-separated field and
//!   the hash the second (`strtok`), both trimmed of whitespace; anything
//!   after a third `:` is ignored;
//! * a line with a user name but no hash, a name or hash longer than 65535
//!   bytes, or a hash that does not decode is dropped and reported as a
//!   [`LineError`] — the other entries still load;
//! * when a user name appears twice, the last entry that decodes wins.
//!
//! Verification hashes the password up to its first NUL byte (Mosquitto
//! keeps passwords as C strings) and compares in constant time. A login for
//! an unknown user runs the same hash computation against a decoy with the
//! costs of the file's first entry, so its timing does not reveal whether
//! the user exists.

use std::collections::HashMap;
use std::fmt;

use crate::ctext;
use crate::error::LineError;
use crate::hash::PasswordHash;

/// Longest user name or hash field Mosquitto accepts from the file.
const MAX_FIELD: usize = 65_535;

/// A parsed password file.
#[derive(Clone, Default)]
pub struct PasswordFile {
    users: HashMap<String, PasswordHash>,
    /// Verified against when the user is unknown; `None` for an empty file.
    decoy: Option<PasswordHash>,
}

impl PasswordFile {
    /// Parse the text of a password file. Entries that cannot be used are
    /// dropped and returned as errors, with their line numbers, for the
    /// broker to log — as Mosquitto does, the file still loads.
    pub fn parse(text: &str) -> (PasswordFile, Vec<LineError>) {
        let mut file = PasswordFile::default();
        let mut errors = Vec::new();
        for (index, line) in text.split('\n').enumerate() {
            let line_no = index + 1;
            if line.starts_with('#') || !line.contains(':') {
                continue;
            }
            let mut fields = ctext::tokens(line, ':');
            let Some(user_field) = fields.next() else {
                continue;
            };
            let username = ctext::trim(user_field);
            if username.len() > MAX_FIELD {
                errors.push(LineError::new(line_no, "invalid line, username too long"));
                continue;
            }
            let Some(hash_field) = fields.next() else {
                errors.push(LineError::new(
                    line_no,
                    format!("invalid line for user {username}: no password hash, removing entry"),
                ));
                continue;
            };
            let hash_text = ctext::trim(hash_field);
            if hash_text.len() > MAX_FIELD {
                errors.push(LineError::new(
                    line_no,
                    format!("invalid line for user {username}: password hash too long"),
                ));
                continue;
            }
            match PasswordHash::decode(hash_text) {
                Ok(hash) => {
                    if file.decoy.is_none() {
                        file.decoy = Some(hash.decoy());
                    }
                    file.users.insert(username.to_owned(), hash);
                }
                Err(e) => errors.push(LineError::new(
                    line_no,
                    format!("{e} for user {username}, removing entry"),
                )),
            }
        }
        (file, errors)
    }

    /// Whether `password` is right for `username`. Unknown users get
    /// `false` after the same amount of hashing work as a known user.
    ///
    /// A client that sent no password at all must be refused by the caller
    /// (Mosquitto answers "not authorised" when the user has an entry).
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        match self.users.get(username) {
            Some(hash) => hash.verify(password),
            None => {
                if let Some(decoy) = &self.decoy {
                    let _ = decoy.verify(password);
                }
                false
            }
        }
    }

    /// Whether the file has an entry for `username`.
    pub fn has_user(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    /// The decoded hash of `username`, if any.
    pub fn get(&self, username: &str) -> Option<&PasswordHash> {
        self.users.get(username)
    }

    /// Number of usable entries.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when no entry could be used. Mosquitto then refuses every
    /// client that sends a user name.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user names with an entry, in no particular order.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }
}

impl fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordFile")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_password, HashKind};
    use std::num::NonZeroU32;

    fn cheap() -> HashKind {
        HashKind::Sha512Pbkdf2 {
            iterations: NonZeroU32::new(2).unwrap(),
        }
    }

    #[test]
    fn parses_and_verifies() {
        let a = hash_password("apw", cheap()).unwrap();
        let b = hash_password("bpw", HashKind::Sha512).unwrap();
        let text = format!("# comment\nalice:{a}\n\nno colon here\nbob:{b}\r\n");
        let (file, errors) = PasswordFile::parse(&text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(file.len(), 2);
        assert!(file.verify("alice", b"apw"));
        assert!(!file.verify("alice", b"bpw"));
        assert!(file.verify("bob", b"bpw"));
        assert!(!file.verify("carol", b"apw"));
        assert!(file.has_user("bob") && !file.has_user("carol"));
    }

    #[test]
    fn bad_entries_are_dropped_with_line_numbers() {
        let good = hash_password("pw", cheap()).unwrap();
        let text =
            format!("u1:{good}\nu2:$7$0$abc$def\nu3\nu4:\nu5:   \nu6:plaintext\nu7:{good}\n");
        let (file, errors) = PasswordFile::parse(&text);
        assert_eq!(file.len(), 2);
        assert!(file.has_user("u1") && file.has_user("u7"));
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 4, 5, 6], "{errors:?}");
        assert!(errors[0].message.contains("iterations"), "{}", errors[0]);
        assert!(errors[0].message.contains("u2"));
        for e in &errors {
            assert!(!e.message.contains('$'), "hash leaked into {e}");
        }
    }

    #[test]
    fn strtok_field_rules() {
        let h = hash_password("pw", cheap()).unwrap();
        // Leading ':' skipped, blanks trimmed, fields after the hash ignored.
        let text = format!(":: spaced user :{h}:trailing\n");
        let (file, errors) = PasswordFile::parse(&text);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(file.verify("spaced user", b"pw"));
    }

    #[test]
    fn last_valid_duplicate_wins() {
        let one = hash_password("one", cheap()).unwrap();
        let two = hash_password("two", cheap()).unwrap();
        let text = format!("u:{one}\nu:{two}\nu:$7$bad\n");
        let (file, errors) = PasswordFile::parse(&text);
        assert_eq!(errors.len(), 1);
        assert!(file.verify("u", b"two"));
        assert!(!file.verify("u", b"one"));
    }

    #[test]
    fn empty_file_refuses_everyone() {
        let (file, errors) = PasswordFile::parse("");
        assert!(errors.is_empty());
        assert!(file.is_empty());
        assert!(!file.verify("", b""));
    }

    #[test]
    fn debug_shows_no_names_or_hashes() {
        let h = hash_password("pw", cheap()).unwrap();
        let (file, _) = PasswordFile::parse(&format!("secretname:{h}\n"));
        let shown = format!("{file:?}");
        assert!(
            !shown.contains("secretname") && !shown.contains('$'),
            "{shown}"
        );
    }
}
