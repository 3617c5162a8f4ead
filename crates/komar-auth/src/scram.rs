//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) for MQTT 5 enhanced
//! authentication, server side and sans IO: the broker feeds the client's
//! messages in and sends back what comes out.
//!
//! Credentials:
//! - a SCRAM file, one `user:SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
//!   line per user and mechanism (PostgreSQL's layout, base64 fields), as
//!   `komar passwd -H scram-sha-256` writes them;
//! - and `$7$` entries of a Mosquitto password file, whose PBKDF2-HMAC-SHA512
//!   key is SCRAM-SHA-512's SaltedPassword, so existing `mosquitto_passwd`
//!   files serve SCRAM-SHA-512 unchanged.
//!
//! Only what RFC 5802 requires is accepted: no channel binding (`n` or `y`
//! flags), no authorisation identity different from the user. Passwords
//! are used as bytes (no SASLprep). An unknown user gets a made-up salt
//! and fails at the last step, so the exchange does not reveal which users
//! exist.

use std::collections::HashMap;
use std::fmt;

use base64ct::{Base64, Encoding};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::error::LineError;

/// Mechanism names as they appear in the MQTT Authentication Method.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// See [`SCRAM_SHA_256`].
pub const SCRAM_SHA_512: &str = "SCRAM-SHA-512";

/// The two hash functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl Mechanism {
    /// The mechanism for an Authentication Method name.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            SCRAM_SHA_256 => Some(Mechanism::Sha256),
            SCRAM_SHA_512 => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    /// The Authentication Method name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => SCRAM_SHA_256,
            Mechanism::Sha512 => SCRAM_SHA_512,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => match Hmac::<Sha256>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            Mechanism::Sha512 => match Hmac::<Sha512>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => Sha256::digest(data).to_vec(),
            Mechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Mechanism::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// What the server stores for one user and mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// Which hash.
    pub mechanism: Mechanism,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Salt.
    pub salt: Vec<u8>,
    /// H(ClientKey).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ScramCredential({:?}, {} iterations)",
            self.mechanism, self.iterations
        )
    }
}

impl ScramCredential {
    /// The credential of `password` (for `komar passwd` and tests).
    pub fn from_password(
        mechanism: Mechanism,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let salted = mechanism.salted_password(password, salt, iterations);
        ScramCredential::from_salted(mechanism, &salted, salt, iterations)
    }

    /// The credential from SaltedPassword (e.g. a `$7$` key for SHA-512).
    pub fn from_salted(
        mechanism: Mechanism,
        salted: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac(salted, b"Client Key");
        ScramCredential {
            mechanism,
            iterations,
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted, b"Server Key"),
        }
    }

    /// The SCRAM file line for `user`.
    pub fn line(&self, user: &str) -> String {
        format!(
            "{user}:{}${}:{}${}:{}\n",
            self.mechanism.name(),
            self.iterations,
            Base64::encode_string(&self.salt),
            Base64::encode_string(&self.stored_key),
            Base64::encode_string(&self.server_key)
        )
    }

    fn parse(field: &str) -> Option<ScramCredential> {
        let (name, rest) = field.split_once('$')?;
        let mechanism = Mechanism::from_name(name)?;
        let (iter_salt, keys) = rest.split_once('$')?;
        let (iterations, salt) = iter_salt.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok().filter(|&i| i > 0)?;
        let key_len = match mechanism {
            Mechanism::Sha256 => 32,
            Mechanism::Sha512 => 64,
        };
        let stored_key = Base64::decode_vec(stored)
            .ok()
            .filter(|k| k.len() == key_len)?;
        let server_key = Base64::decode_vec(server)
            .ok()
            .filter(|k| k.len() == key_len)?;
        Some(ScramCredential {
            mechanism,
            iterations,
            salt: Base64::decode_vec(salt).ok().filter(|s| !s.is_empty())?,
            stored_key,
            server_key,
        })
    }
}

/// The SCRAM credentials of a file: users × mechanisms.
#[derive(Debug, Clone, Default)]
pub struct ScramFile {
    users: HashMap<(String, Mechanism), ScramCredential>,
}

impl ScramFile {
    /// Parse a SCRAM file. Lines starting with `#` and blank lines are
    /// skipped; a line that does not parse is dropped and reported.
    pub fn parse(text: &str) -> (ScramFile, Vec<LineError>) {
        let mut file = ScramFile::default();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':').and_then(|(u, f)| Some((u, ScramCredential::parse(f)?))) {
                Some((user, cred)) if !user.is_empty() => {
                    file.users.insert((user.to_owned(), cred.mechanism), cred);
                }
                _ => errors.push(LineError {
                    line: i + 1,
                    message: "not a SCRAM credential (user:SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey)"
                        .to_owned(),
                }),
            }
        }
        (file, errors)
    }

    /// Add or replace a credential.
    pub fn insert(&mut self, user: &str, cred: ScramCredential) {
        self.users.insert((user.to_owned(), cred.mechanism), cred);
    }

    /// The credential of `user` for `mechanism`.
    pub fn get(&self, user: &str, mechanism: Mechanism) -> Option<&ScramCredential> {
        self.users.get(&(user.to_owned(), mechanism))
    }

    /// Number of credentials.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// A message did not follow RFC 5802's grammar.
    Malformed(&'static str),
    /// Channel binding was required by the client (`p=`): not offered.
    ChannelBinding,
    /// Wrong password, unknown user, or a nonce or binding that does not
    /// match.
    Rejected,
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramError::Malformed(what) => write!(f, "malformed SCRAM message: {what}"),
            ScramError::ChannelBinding => f.write_str("SCRAM channel binding is not supported"),
            ScramError::Rejected => f.write_str("SCRAM authentication failed"),
        }
    }
}

/// Decode a `saslname` (RFC 5802 §5.1: `=2C` is `,`, `=3D` is `=`).
fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(rest.get(..i).unwrap_or_default());
        let esc = rest
            .get(i..i + 3)
            .ok_or(ScramError::Malformed("user name escape"))?;
        out.push(match esc {
            "=2C" => ',',
            "=3D" => '=',
            _ => return Err(ScramError::Malformed("user name escape")),
        });
        rest = rest.get(i + 3..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// Server state after the client's first message.
#[derive(Clone)]
pub struct ScramServer {
    mechanism: Mechanism,
    user: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    credential: Option<ScramCredential>,
}

impl fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScramServer({:?}, user {:?})", self.mechanism, self.user)
    }
}

impl ScramServer {
    /// Handle client-first-message. `lookup` finds the user's credential;
    /// `decoy` makes up a stable credential for unknown users (so the reply
    /// looks the same); `server_nonce` is fresh random text.
    ///
    /// # Errors
    /// The message is malformed or asks for channel binding.
    pub fn start(
        mechanism: Mechanism,
        client_first: &[u8],
        server_nonce: &str,
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
        decoy: impl FnOnce(&str) -> ScramCredential,
    ) -> Result<(ScramServer, Vec<u8>), ScramError> {
        let msg =
            std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (flag, rest) = msg
            .split_once(',')
            .ok_or(ScramError::Malformed("gs2 header"))?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(ScramError::Malformed("channel binding flag")),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or(ScramError::Malformed("gs2 header"))?;
        let gs2_header = format!("{flag},{authzid},");
        let mut fields = bare.split(',');
        let mut first = fields.next().unwrap_or_default();
        if first.starts_with("m=") {
            return Err(ScramError::Malformed("mandatory extension"));
        }
        let user = decode_saslname(
            first
                .strip_prefix("n=")
                .ok_or(ScramError::Malformed("user name"))?,
        )?;
        first = fields.next().unwrap_or_default();
        let cnonce = first
            .strip_prefix("r=")
            .ok_or(ScramError::Malformed("nonce"))?;
        if cnonce.is_empty() || cnonce.contains(',') {
            return Err(ScramError::Malformed("nonce"));
        }
        if let Some(az) = authzid.strip_prefix("a=") {
            if decode_saslname(az)? != user {
                return Err(ScramError::Rejected);
            }
        } else if !authzid.is_empty() {
            return Err(ScramError::Malformed("authorisation identity"));
        }
        let credential = lookup(&user);
        let shown = credential.clone().unwrap_or_else(|| decoy(&user));
        let nonce = format!("{cnonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            Base64::encode_string(&shown.salt),
            shown.iterations
        );
        let reply = server_first.clone().into_bytes();
        Ok((
            ScramServer {
                mechanism,
                user,
                gs2_header,
                client_first_bare: bare.to_owned(),
                server_first,
                nonce,
                credential,
            },
            reply,
        ))
    }

    /// The user the client claims to be.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Handle client-final-message; on success returns the
    /// server-final-message (`v=<ServerSignature>`) for the client to check.
    ///
    /// # Errors
    /// Malformed message, wrong nonce or binding, unknown user or wrong
    /// password ([`ScramError::Rejected`]).
    pub fn finish(self, client_final: &[u8]) -> Result<Vec<u8>, ScramError> {
        let msg =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("proof"))?;
        let mut fields = without_proof.split(',');
        let binding = fields
            .next()
            .and_then(|f| f.strip_prefix("c="))
            .ok_or(ScramError::Malformed("channel binding"))?;
        let nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .ok_or(ScramError::Malformed("nonce"))?;
        let binding =
            Base64::decode_vec(binding).map_err(|_| ScramError::Malformed("channel binding"))?;
        let proof = Base64::decode_vec(proof).map_err(|_| ScramError::Malformed("proof"))?;
        let cred = self.credential.ok_or(ScramError::Rejected)?;
        if binding != self.gs2_header.as_bytes() || nonce != self.nonce {
            return Err(ScramError::Rejected);
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let m = self.mechanism;
        let client_signature = m.hmac(&cred.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(ScramError::Rejected);
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        if !bool::from(m.hash(&client_key).ct_eq(&cred.stored_key)) {
            return Err(ScramError::Rejected);
        }
        let server_signature = m.hmac(&cred.server_key, auth_message.as_bytes());
        Ok(format!("v={}", Base64::encode_string(&server_signature)).into_bytes())
    }
}

/// A decoy credential for `user`: stable for a given `secret`, so asking
/// twice shows the same salt and iteration count.
pub fn decoy_credential(
    mechanism: Mechanism,
    user: &str,
    secret: &[u8],
    iterations: u32,
) -> ScramCredential {
    let salt = mechanism.hmac(secret, user.as_bytes());
    let salt = salt.get(..16).unwrap_or_default().to_vec();
    ScramCredential {
        mechanism,
        iterations,
        salt,
        stored_key: Vec::new(),
        server_key: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client side, written from RFC 5802 §3 for the tests.
    fn client_final(
        m: Mechanism,
        password: &[u8],
        client_first_bare: &str,
        server_first: &str,
    ) -> (String, Vec<u8>) {
        let mut salt = None;
        let mut iters = 0;
        let mut nonce = "";
        for f in server_first.split(',') {
            if let Some(s) = f.strip_prefix("s=") {
                salt = Base64::decode_vec(s).ok();
            } else if let Some(i) = f.strip_prefix("i=") {
                iters = i.parse().unwrap();
            } else if let Some(r) = f.strip_prefix("r=") {
                nonce = r;
            }
        }
        let salted = m.salted_password(password, &salt.unwrap(), iters);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = m.hmac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let server_key = m.hmac(&salted, b"Server Key");
        let expected = m.hmac(&server_key, auth.as_bytes());
        (
            format!("{without_proof},p={}", Base64::encode_string(&proof)),
            expected,
        )
    }

    fn exchange(
        m: Mechanism,
        stored: &ScramCredential,
        password: &[u8],
    ) -> Result<Vec<u8>, ScramError> {
        let first = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
        let (server, reply) = ScramServer::start(
            m,
            first.as_bytes(),
            "3rfcNHYJY1ZVvWVs7j",
            |_| Some(stored.clone()),
            |u| decoy_credential(m, u, b"k", 4096),
        )?;
        let server_first = String::from_utf8(reply).unwrap();
        let (fin, expected) = client_final(
            m,
            password,
            "n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            &server_first,
        );
        let v = server.finish(fin.as_bytes())?;
        assert_eq!(
            v,
            format!("v={}", Base64::encode_string(&expected)).into_bytes()
        );
        Ok(v)
    }

    #[test]
    fn rfc7677_example_credential_and_exchange() {
        // RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
        let salt = Base64::decode_vec("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let cred = ScramCredential::from_password(Mechanism::Sha256, b"pencil", &salt, 4096);
        // The RFC's exchange: with its nonces the server signature is fixed.
        let first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
        let (server, reply) = ScramServer::start(
            Mechanism::Sha256,
            first.as_bytes(),
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            |_| Some(cred.clone()),
            |u| decoy_credential(Mechanism::Sha256, u, b"k", 4096),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let fin = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            server.finish(fin.as_bytes()).unwrap(),
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec()
        );
    }

    #[test]
    fn both_mechanisms_accept_the_password_and_reject_others() {
        for m in [Mechanism::Sha256, Mechanism::Sha512] {
            let cred = ScramCredential::from_password(m, b"secret", b"saltsaltsalt", 1000);
            assert!(exchange(m, &cred, b"secret").is_ok());
            assert_eq!(
                exchange(m, &cred, b"wrong").unwrap_err(),
                ScramError::Rejected
            );
        }
    }

    #[test]
    fn file_lines_round_trip_and_bad_lines_are_reported() {
        let cred = ScramCredential::from_password(Mechanism::Sha512, b"pw", b"0123456789ab", 10);
        let text = format!("# comment\n{}alice:garbage\n", cred.line("bob"));
        let (file, errors) = ScramFile::parse(&text);
        assert_eq!(file.get("bob", Mechanism::Sha512), Some(&cred));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
    }

    #[test]
    fn malformed_and_channel_binding_are_refused() {
        let start = |msg: &str| {
            ScramServer::start(
                Mechanism::Sha256,
                msg.as_bytes(),
                "x",
                |_| None,
                |u| decoy_credential(Mechanism::Sha256, u, b"k", 4096),
            )
            .map(|_| ())
        };
        assert_eq!(
            start("p=tls-unique,,n=u,r=abc"),
            Err(ScramError::ChannelBinding)
        );
        assert!(matches!(start("n,,r=abc"), Err(ScramError::Malformed(_))));
        assert!(matches!(
            start("n,,n=a=XYb,r=abc"),
            Err(ScramError::Malformed(_))
        ));
        assert_eq!(start("n,a=other,n=u,r=abc"), Err(ScramError::Rejected));
        assert!(start("n,,n=a=2Cb,r=abc").is_ok());
    }

    #[test]
    fn unknown_user_fails_only_at_the_end_with_a_stable_salt() {
        let m = Mechanism::Sha256;
        let run = || {
            ScramServer::start(
                m,
                b"n,,n=ghost,r=abc",
                "def",
                |_| None,
                |u| decoy_credential(m, u, b"k", 4096),
            )
            .unwrap()
        };
        let (s1, r1) = run();
        let (_, r2) = run();
        assert_eq!(r1, r2);
        assert_eq!(
            s1.finish(b"c=biws,r=abcdef,p=AAAA").unwrap_err(),
            ScramError::Rejected
        );
    }
}
