//! Password hashes as `mosquitto_passwd` writes them and Mosquitto reads
//! them: decoding a hash field, verifying a password against it in constant
//! time, and producing new hashes.
//!
//! | prefix | algorithm | written by |
//! |---|---|---|
//! | `$6$<salt>$<hash>` | SHA-512(password ‖ salt) | 1.6, `-H sha512` |
//! | `$7$<iterations>$<salt>$<hash>` | PBKDF2-HMAC-SHA512, 64-byte output | 2.0 default |
//! | `$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>` | Argon2id (PHC string) | 2.1 with libargon2 |
//!
//! Salts of 12 bytes (2.0) and 64 bytes (2.1) are read; new `$6$`/`$7$`
//! hashes use 12-byte salts so that Mosquitto 2.0 can read them. Like
//! Mosquitto, a password is hashed up to its first NUL byte (Mosquitto keeps
//! passwords as C strings).

mod argon;
mod sha;

use std::fmt;
use std::num::NonZeroU32;

use subtle::ConstantTimeEq;

/// PBKDF2 iterations used when none are given. Mosquitto 2.0.x writes 101,
/// newer releases 1000; every 2.0 release reads any count ≥ 1.
pub const DEFAULT_ITERATIONS: NonZeroU32 = match NonZeroU32::new(1000) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// Salt length of new `$6$` and `$7$` hashes: what Mosquitto 2.0 requires.
pub const SALT_LEN: usize = 12;

/// Salt length of new `$argon2id$` hashes (Mosquitto 2.1 uses 64).
pub const ARGON2_SALT_LEN: usize = 64;

/// Which algorithm a new hash uses (`mosquitto_passwd -H`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// `$7$`: PBKDF2-HMAC-SHA512 with this many iterations (`-H sha512-pbkdf2`).
    Sha512Pbkdf2 {
        /// Iteration count (`-I`).
        iterations: NonZeroU32,
    },
    /// `$6$`: one round of SHA-512 over password ‖ salt (`-H sha512`); only
    /// for brokers older than 2.0.
    Sha512,
    /// `$argon2id$` with t=1, m=47104 KiB, p=1, 64-byte salt and output, as
    /// Mosquitto 2.1 writes it. Mosquitto 2.0 cannot read it.
    Argon2id,
    /// A SCRAM credential for MQTT 5 enhanced authentication
    /// (`-H scram-sha-256|scram-sha-512`), for Komar's `scram_file` — not a
    /// Mosquitto password-file entry.
    Scram {
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        mechanism: crate::scram::Mechanism,
        /// PBKDF2 iterations (`-I`; RFC 7677 suggests at least 4096).
        iterations: NonZeroU32,
    },
}

impl Default for HashKind {
    /// `$7$` with [`DEFAULT_ITERATIONS`], readable by every Mosquitto ≥ 2.0.
    fn default() -> HashKind {
        HashKind::Sha512Pbkdf2 {
            iterations: DEFAULT_ITERATIONS,
        }
    }
}

/// Why a hash field could not be decoded, or a hash not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashError {
    /// A field of the hash is missing (`$7$101$salt` without the hash).
    Invalid,
    /// Neither `$6$`, `$7$` nor `$argon2id$`.
    UnknownType,
    /// The `$7$` iteration count is not a number ≥ 1.
    Iterations,
    /// The salt is not base64 of 12 or 64 bytes.
    Salt,
    /// The hash is not base64 of 64 bytes.
    Hash,
    /// The `$argon2id$` string is malformed or its parameters are out of range.
    Argon2,
    /// The user name is not one `mosquitto_passwd` can write (contains `:` or
    /// a control character, or is longer than 65535 bytes).
    Username,
    /// The operating system's random number generator failed.
    Random,
    /// The hash computation failed (Argon2 parameter limits).
    Compute,
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HashError::Invalid => "invalid password hash",
            HashError::UnknownType => "invalid password hash type",
            HashError::Iterations => "invalid hash iterations",
            HashError::Salt => "unable to decode password salt",
            HashError::Hash => "unable to decode password",
            HashError::Argon2 => "invalid argon2id password hash",
            HashError::Username => "user name contains ':' or a control character",
            HashError::Random => "unable to get random bytes for a salt",
            HashError::Compute => "unable to hash password",
        })
    }
}

impl std::error::Error for HashError {}

/// One decoded hash field of a password file.
///
/// `Debug` shows only the algorithm: hashes stay out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(Inner);

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    Sha512(sha::Sha512Hash),
    Pbkdf2(sha::Pbkdf2Hash),
    Argon2id(argon::Argon2idHash),
}

impl PasswordHash {
    /// Decode the text after `username:` (already trimmed).
    ///
    /// `$6$`/`$7$` are split the way Mosquitto 2.0's `strtok` does, so empty
    /// fields are skipped (`$$7$$…` reads like `$7$…`).
    ///
    /// # Errors
    /// Which part of the field is wrong; the message never contains it.
    pub fn decode(field: &str) -> Result<PasswordHash, HashError> {
        if field.starts_with(argon::PREFIX) {
            return argon::Argon2idHash::decode(field).map(|h| PasswordHash(Inner::Argon2id(h)));
        }
        sha::decode(field).map(|inner| match inner {
            sha::Decoded::Sha512(h) => PasswordHash(Inner::Sha512(h)),
            sha::Decoded::Pbkdf2(h) => PasswordHash(Inner::Pbkdf2(h)),
        })
    }

    /// For a `$7$` (PBKDF2-HMAC-SHA512) entry: its iteration count, salt
    /// and derived key — exactly SCRAM-SHA-512's SaltedPassword, so these
    /// entries also serve SCRAM-SHA-512 logins.
    pub fn pbkdf2_parts(&self) -> Option<(u32, &[u8], &[u8])> {
        match &self.0 {
            Inner::Pbkdf2(h) => Some((h.iterations().get(), h.salt(), &h.hash()[..])),
            _ => None,
        }
    }

    /// Make a new hash of `password` with a fresh random salt.
    ///
    /// # Errors
    /// [`HashError::Random`] if the OS random generator fails,
    /// [`HashError::Compute`] if hashing fails.
    pub fn generate(password: &[u8], kind: HashKind) -> Result<PasswordHash, HashError> {
        let password = until_nul(password);
        Ok(PasswordHash(match kind {
            HashKind::Sha512 => Inner::Sha512(sha::Sha512Hash::generate(password, random_salt()?)),
            HashKind::Sha512Pbkdf2 { iterations } => Inner::Pbkdf2(sha::Pbkdf2Hash::generate(
                password,
                random_salt()?,
                iterations,
            )),
            HashKind::Argon2id => {
                let mut salt = vec![0u8; ARGON2_SALT_LEN];
                getrandom::fill(&mut salt).map_err(|_| HashError::Random)?;
                Inner::Argon2id(argon::Argon2idHash::generate(password, salt)?)
            }
            // A SCRAM credential is not a password hash; see `hash_password`.
            HashKind::Scram { .. } => return Err(HashError::Invalid),
        }))
    }

    /// Whether `password` (up to its first NUL byte) matches. The final
    /// comparison is constant-time.
    pub fn verify(&self, password: &[u8]) -> bool {
        let password = until_nul(password);
        match &self.0 {
            Inner::Sha512(h) => h.compute(password).ct_eq(h.hash()).into(),
            Inner::Pbkdf2(h) => h.compute(password).ct_eq(h.hash()).into(),
            Inner::Argon2id(h) => match h.compute(password) {
                Some(out) => out.ct_eq(h.hash()).into(),
                None => false,
            },
        }
    }

    /// The field as it appears in the file, e.g. `$7$1000$<salt>$<hash>`.
    pub fn encode(&self) -> String {
        match &self.0 {
            Inner::Sha512(h) => h.encode(),
            Inner::Pbkdf2(h) => h.encode(),
            Inner::Argon2id(h) => h.encode(),
        }
    }

    /// The algorithm and its cost parameter.
    pub fn kind(&self) -> HashKind {
        match &self.0 {
            Inner::Sha512(_) => HashKind::Sha512,
            Inner::Pbkdf2(h) => HashKind::Sha512Pbkdf2 {
                iterations: h.iterations(),
            },
            Inner::Argon2id(_) => HashKind::Argon2id,
        }
    }

    /// A hash with this one's algorithm and cost that no password matches:
    /// verifying against it costs the same as verifying against `self`, so
    /// a login for an unknown user takes as long as one for a known user.
    pub(crate) fn decoy(&self) -> PasswordHash {
        match &self.0 {
            Inner::Sha512(h) => PasswordHash(Inner::Sha512(h.decoy())),
            Inner::Pbkdf2(h) => PasswordHash(Inner::Pbkdf2(h.decoy())),
            Inner::Argon2id(h) => PasswordHash(Inner::Argon2id(h.decoy())),
        }
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PasswordHash").field(&self.kind()).finish()
    }
}

/// Hash `password` the way `mosquitto_passwd` does and return the hash field
/// (the text after `username:`), e.g. `$7$1000$<16 chars>$<88 chars>`.
///
/// # Errors
/// [`HashError::Random`] if no salt could be drawn, [`HashError::Compute`]
/// if hashing fails.
pub fn hash_password(password: impl AsRef<[u8]>, kind: HashKind) -> Result<String, HashError> {
    if let HashKind::Scram {
        mechanism,
        iterations,
    } = kind
    {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| HashError::Random)?;
        let cred = crate::scram::ScramCredential::from_password(
            mechanism,
            password.as_ref(),
            &salt,
            iterations.get(),
        );
        let line = cred.line("");
        return Ok(line.trim_start_matches(':').trim_end().to_owned());
    }
    PasswordHash::generate(password.as_ref(), kind).map(|h| h.encode())
}

/// A whole password-file line, `username:<hash>\n`, exactly as
/// `mosquitto_passwd` prints it.
///
/// # Errors
/// [`HashError::Username`] for a name `mosquitto_passwd` refuses (`:`,
/// control characters, over 65535 bytes); otherwise as [`hash_password`].
pub fn password_line(
    username: &str,
    password: impl AsRef<[u8]>,
    kind: HashKind,
) -> Result<String, HashError> {
    if !username_is_valid(username.as_bytes()) {
        return Err(HashError::Username);
    }
    Ok(format!("{username}:{}\n", hash_password(password, kind)?))
}

/// `mosquitto_passwd`'s rule for user names: at most 65535 bytes, no control
/// characters, no `:`.
pub(crate) fn username_is_valid(username: &[u8]) -> bool {
    username.len() <= 65_535 && !username.iter().any(|&b| b.is_ascii_control() || b == b':')
}

/// Mosquitto hashes `strlen(password)` bytes.
fn until_nul(password: &[u8]) -> &[u8] {
    match password.iter().position(|&b| b == 0) {
        Some(end) => password.get(..end).unwrap_or(password),
        None => password,
    }
}

fn random_salt() -> Result<[u8; SALT_LEN], HashError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|_| HashError::Random)?;
    Ok(salt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iters(n: u32) -> HashKind {
        HashKind::Sha512Pbkdf2 {
            iterations: NonZeroU32::new(n).unwrap(),
        }
    }

    #[test]
    fn pbkdf2_line_has_mosquitto_layout() {
        let field = hash_password("secret", HashKind::default()).unwrap();
        let parts: Vec<&str> = field.split('$').collect();
        assert_eq!(parts.len(), 5, "{field}");
        assert_eq!(parts[1], "7");
        assert_eq!(parts[2], "1000");
        assert_eq!(parts[3].len(), 16);
        assert_eq!(parts[4].len(), 88);
        assert!(parts[4].ends_with("=="));
        let h = PasswordHash::decode(&field).unwrap();
        assert!(h.verify(b"secret"));
        assert!(!h.verify(b"secreT"));
        assert!(!h.verify(b""));
        assert_eq!(h.encode(), field);
        assert_eq!(h.kind(), HashKind::default());
    }

    #[test]
    fn sha512_line_has_mosquitto_layout() {
        let field = hash_password("pw", HashKind::Sha512).unwrap();
        let parts: Vec<&str> = field.split('$').collect();
        assert_eq!(parts.len(), 4, "{field}");
        assert_eq!(parts[1], "6");
        assert_eq!(parts[2].len(), 16);
        assert_eq!(parts[3].len(), 88);
        let h = PasswordHash::decode(&field).unwrap();
        assert!(h.verify(b"pw"));
        assert!(!h.verify(b"pw2"));
    }

    #[test]
    fn known_vectors_from_mosquitto_passwd_2_0_11() {
        // Written by Debian's mosquitto_passwd 2.0.11 (`-b f u p`).
        let pbkdf2 = "$7$101$OXhkhOcDo29yDf1c$NfxIarUBvzMsb88FPWBtYSRj4kpoEZ5giJqe6Ue8sia6GwQZuE8fuV+AIPA/U8oInCSLhCWCYQD4AD4NKkzpnQ==";
        let h = PasswordHash::decode(pbkdf2).unwrap();
        assert!(h.verify(b"p"));
        assert!(!h.verify(b"q"));
        assert_eq!(h.encode(), pbkdf2);
        // `-H sha512 -b f v p`
        let sha = "$6$onPYZNAEdADMICpa$7ddHsOw/n1eoBMig09cBL+ganlq6CjShO/wBuaIDnEwLG3Xt582OSM+GY+lvhKJhUZ+RDO4cUKALoMASee0iyw==";
        let h = PasswordHash::decode(sha).unwrap();
        assert!(h.verify(b"p"));
        assert!(!h.verify(b"P"));
        // `-I 5 -b f w p`
        let five = "$7$5$xTYNhx3R4yappNst$BEftOnz+veP31+gE5OYWkTNtwapNVEoeeMWPaP+RK1qadr/gO57N10j8OlwBc4N2ktrvZu7PCPy/SDT0UY1G8g==";
        let h = PasswordHash::decode(five).unwrap();
        assert_eq!(h.kind(), iters(5));
        assert!(h.verify(b"p"));
    }

    #[test]
    fn password_is_taken_up_to_nul_like_mosquitto() {
        let h = PasswordHash::generate(b"ab", iters(1)).unwrap();
        assert!(h.verify(b"ab\0cd"));
        assert!(!h.verify(b"a\0b"));
    }

    #[test]
    fn any_iteration_count_and_64_byte_salts_are_read() {
        let salt64 = crate::b64::encode_padded(&[3u8; 64]);
        let h = sha::Pbkdf2Hash::generate(b"x", [0u8; SALT_LEN], NonZeroU32::new(3).unwrap());
        let hash = crate::b64::encode_padded(h.hash());
        // Same hash with a 64-byte salt does not verify, but decodes.
        let field = format!("$7$3${salt64}${hash}");
        let d = PasswordHash::decode(&field).unwrap();
        assert!(!d.verify(b"x"));
        assert_eq!(d.kind(), iters(3));
    }

    #[test]
    fn decode_errors_name_the_part() {
        let salt = crate::b64::encode_padded(&[1u8; 12]);
        let hash = crate::b64::encode_padded(&[2u8; 64]);
        let short = crate::b64::encode_padded(&[2u8; 32]);
        let cases = [
            ("", HashError::Invalid),
            ("$", HashError::Invalid),
            ("$5$abc$def", HashError::UnknownType),
            ("plaintext", HashError::UnknownType),
            ("$7$", HashError::Invalid),
            ("$7$0$x$y", HashError::Iterations),
            ("$7$-3$x$y", HashError::Iterations),
            ("$7$abc$x$y", HashError::Iterations),
            ("$7$10", HashError::Invalid),
            ("$7$10$!!!!$y", HashError::Salt),
            (&format!("$7$10${short}$x"), HashError::Salt),
            (&format!("$7$10${salt}"), HashError::Invalid),
            (&format!("$7$10${salt}$%%%%"), HashError::Hash),
            (&format!("$7$10${salt}${short}"), HashError::Hash),
            (&format!("$6${salt}"), HashError::Invalid),
            ("$argon2id$v=19$m=8,t=1,p=1$", HashError::Argon2),
        ];
        for (field, want) in cases {
            assert_eq!(PasswordHash::decode(field), Err(want), "{field:?}");
        }
        // strtok: empty fields are skipped, trailing extras ignored.
        assert!(PasswordHash::decode(&format!("$$7$$10$${salt}$${hash}$extra")).is_ok());
        assert!(PasswordHash::decode(&format!("6${salt}${hash}")).is_ok());
    }

    #[test]
    fn decoy_never_matches_and_keeps_cost() {
        let h = PasswordHash::generate(b"pw", iters(7)).unwrap();
        let d = h.decoy();
        assert_eq!(d.kind(), iters(7));
        assert!(!d.verify(b"pw"));
        assert!(!d.verify(b""));
    }

    #[test]
    fn password_line_checks_username() {
        let line = password_line("alice", "pw", HashKind::Sha512).unwrap();
        assert!(line.starts_with("alice:$6$") && line.ends_with('\n'));
        assert_eq!(
            password_line("a:b", "pw", HashKind::Sha512),
            Err(HashError::Username)
        );
        assert_eq!(
            password_line("a\tb", "pw", HashKind::Sha512),
            Err(HashError::Username)
        );
    }

    #[test]
    fn debug_hides_the_hash() {
        let h = PasswordHash::generate(b"pw", HashKind::Sha512).unwrap();
        let shown = format!("{h:?}");
        assert_eq!(shown, "PasswordHash(Sha512)");
    }
}
