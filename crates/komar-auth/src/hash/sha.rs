//! The `$6$` (SHA-512) and `$7$` (PBKDF2-HMAC-SHA512) hash fields, decoded
//! as Mosquitto 2.0's `unpwd__decode_passwords` does: `strtok` on `$`, an
//! `atoi` iteration count ≥ 1, a 12- or 64-byte salt, a 64-byte hash.

use std::num::NonZeroU32;

use sha2::{Digest, Sha512};

use super::HashError;
use crate::{b64, ctext};

/// SHA-512 output size, the length of every `$6$`/`$7$` hash.
pub(crate) const HASH_LEN: usize = 64;

/// Salt lengths Mosquitto reads: 12 (2.0 writers) and 64 (2.1 writers).
fn salt_len_ok(len: usize) -> bool {
    len == 12 || len == 64
}

pub(crate) enum Decoded {
    Sha512(Sha512Hash),
    Pbkdf2(Pbkdf2Hash),
}

/// `$6$<salt>$<hash>`, hash = SHA-512(password ‖ salt).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Sha512Hash {
    salt: Vec<u8>,
    hash: [u8; HASH_LEN],
}

/// `$7$<iterations>$<salt>$<hash>`, hash = PBKDF2-HMAC-SHA512, 64 bytes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Pbkdf2Hash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: [u8; HASH_LEN],
}

/// Decode a field that is not `$argon2id$`.
pub(crate) fn decode(field: &str) -> Result<Decoded, HashError> {
    let mut parts = ctext::tokens(field, '$');
    let pbkdf2 = match parts.next() {
        None => return Err(HashError::Invalid),
        Some("6") => false,
        Some("7") => true,
        Some(_) => return Err(HashError::UnknownType),
    };
    let iterations = if pbkdf2 {
        let text = parts.next().ok_or(HashError::Invalid)?;
        let n = ctext::atoi(text).ok_or(HashError::Iterations)?;
        let n = u32::try_from(n).map_err(|_| HashError::Iterations)?;
        Some(NonZeroU32::new(n).ok_or(HashError::Iterations)?)
    } else {
        None
    };
    let salt_text = parts.next().ok_or(HashError::Invalid)?;
    let salt = b64::decode_lenient(salt_text)
        .filter(|s| salt_len_ok(s.len()))
        .ok_or(HashError::Salt)?;
    let hash_text = parts.next().ok_or(HashError::Invalid)?;
    let hash: [u8; HASH_LEN] = b64::decode_lenient(hash_text)
        .and_then(|h| h.try_into().ok())
        .ok_or(HashError::Hash)?;
    Ok(match iterations {
        Some(iterations) => Decoded::Pbkdf2(Pbkdf2Hash {
            iterations,
            salt,
            hash,
        }),
        None => Decoded::Sha512(Sha512Hash { salt, hash }),
    })
}

impl Sha512Hash {
    pub(crate) fn generate(password: &[u8], salt: [u8; 12]) -> Sha512Hash {
        let mut h = Sha512Hash {
            salt: salt.to_vec(),
            hash: [0; HASH_LEN],
        };
        h.hash = h.compute(password);
        h
    }

    pub(crate) fn compute(&self, password: &[u8]) -> [u8; HASH_LEN] {
        let mut d = Sha512::new();
        d.update(password);
        d.update(&self.salt);
        d.finalize().into()
    }

    pub(crate) fn hash(&self) -> &[u8; HASH_LEN] {
        &self.hash
    }

    pub(crate) fn encode(&self) -> String {
        format!(
            "$6${}${}",
            b64::encode_padded(&self.salt),
            b64::encode_padded(&self.hash)
        )
    }

    /// Same salt length, a hash no input produces in practice: the stored
    /// hash is all zeros and SHA-512 would need a preimage of it.
    pub(crate) fn decoy(&self) -> Sha512Hash {
        Sha512Hash {
            salt: vec![0; self.salt.len()],
            hash: [0; HASH_LEN],
        }
    }
}

impl Pbkdf2Hash {
    pub(crate) fn generate(password: &[u8], salt: [u8; 12], iterations: NonZeroU32) -> Pbkdf2Hash {
        let mut h = Pbkdf2Hash {
            iterations,
            salt: salt.to_vec(),
            hash: [0; HASH_LEN],
        };
        h.hash = h.compute(password);
        h
    }

    pub(crate) fn compute(&self, password: &[u8]) -> [u8; HASH_LEN] {
        let mut out = [0u8; HASH_LEN];
        pbkdf2::pbkdf2_hmac::<Sha512>(password, &self.salt, self.iterations.get(), &mut out);
        out
    }

    pub(crate) fn hash(&self) -> &[u8; HASH_LEN] {
        &self.hash
    }

    pub(crate) fn iterations(&self) -> NonZeroU32 {
        self.iterations
    }

    pub(crate) fn salt(&self) -> &[u8] {
        &self.salt
    }

    pub(crate) fn encode(&self) -> String {
        format!(
            "$7${}${}${}",
            self.iterations,
            b64::encode_padded(&self.salt),
            b64::encode_padded(&self.hash)
        )
    }

    /// Same iterations and salt length; an all-zero hash (see
    /// [`Sha512Hash::decoy`]).
    pub(crate) fn decoy(&self) -> Pbkdf2Hash {
        Pbkdf2Hash {
            iterations: self.iterations,
            salt: vec![0; self.salt.len()],
            hash: [0; HASH_LEN],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_is_password_then_salt() {
        let h = Sha512Hash::generate(b"pw", *b"saltsaltsalt");
        let mut d = Sha512::new();
        d.update(b"pwsaltsaltsalt");
        let want: [u8; 64] = d.finalize().into();
        assert_eq!(h.hash(), &want);
    }

    #[test]
    fn pbkdf2_matches_rfc_style_vector() {
        // PBKDF2-HMAC-SHA512("password", "salt", 1, 64) — the widely published
        // test vector.
        let h = Pbkdf2Hash {
            iterations: NonZeroU32::new(1).unwrap(),
            salt: b"salt".to_vec(),
            hash: [0; 64],
        };
        let out = h.compute(b"password");
        assert_eq!(&out[..8], &[0x86, 0x7f, 0x70, 0xcf, 0x1a, 0xde, 0x02, 0xcf]);
    }
}
