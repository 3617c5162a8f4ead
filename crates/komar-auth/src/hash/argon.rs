//! `$argon2id$` hashes: the PHC string libargon2 writes
//! (`$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`, base64
//! without padding), read as `argon2id_verify` reads it, and written with
//! Mosquitto 2.1's parameters (t=1, m=47104 KiB, p=1, 64-byte salt and hash).
//!
//! Verification allocates `m` KiB, so `m` is capped at [`MAX_M_COST_KIB`]
//! when the string is decoded.

use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::HashError;
use crate::b64;

pub(crate) const PREFIX: &str = "$argon2id$";

/// Largest memory cost accepted from a file: 4 GiB. libargon2 allows more,
/// but one login must not be able to ask for more memory than that.
pub(crate) const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;

/// Mosquitto 2.1's `MOSQ_ARGON2_T`, `MOSQ_ARGON2_M`, `MOSQ_ARGON2_P`.
const NEW_T: u32 = 1;
const NEW_M: u32 = 47_104;
const NEW_P: u32 = 1;
/// Mosquitto 2.1 writes a 64-byte output.
const NEW_OUTPUT_LEN: usize = 64;

/// Accepted salt and output lengths (bytes). libargon2's lower bounds; the
/// upper bounds only keep a file from making us allocate without limit.
const SALT_LEN: std::ops::RangeInclusive<usize> = 8..=1024;
const OUTPUT_LEN: std::ops::RangeInclusive<usize> = 4..=1024;

#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Argon2idHash {
    version: u32,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Argon2idHash {
    /// Parse a PHC string as libargon2's `decode_string` does: fixed field
    /// order, `v=` optional (absent means version 0x10), decimals without
    /// leading zeros.
    pub(crate) fn decode(field: &str) -> Result<Argon2idHash, HashError> {
        let rest = field.strip_prefix(PREFIX).ok_or(HashError::Argon2)?;
        let mut parts = rest.split('$');
        let mut next = parts.next().ok_or(HashError::Argon2)?;
        let version = match next.strip_prefix("v=") {
            Some(v) => {
                next = parts.next().ok_or(HashError::Argon2)?;
                decimal(v)?
            }
            None => 0x10,
        };
        if version != 0x10 && version != 0x13 {
            return Err(HashError::Argon2);
        }
        let (m_cost, t_cost, p_cost) = cost_params(next)?;
        let salt = parts
            .next()
            .and_then(b64::decode_unpadded)
            .ok_or(HashError::Argon2)?;
        let hash = parts
            .next()
            .and_then(b64::decode_unpadded)
            .ok_or(HashError::Argon2)?;
        if parts.next().is_some() || !SALT_LEN.contains(&salt.len()) {
            return Err(HashError::Argon2);
        }
        if !OUTPUT_LEN.contains(&hash.len()) || m_cost > MAX_M_COST_KIB {
            return Err(HashError::Argon2);
        }
        let h = Argon2idHash {
            version,
            m_cost,
            t_cost,
            p_cost,
            salt,
            hash,
        };
        h.params().ok_or(HashError::Argon2)?;
        Ok(h)
    }

    pub(crate) fn generate(password: &[u8], salt: Vec<u8>) -> Result<Argon2idHash, HashError> {
        let mut h = Argon2idHash {
            version: 0x13,
            m_cost: NEW_M,
            t_cost: NEW_T,
            p_cost: NEW_P,
            salt,
            hash: vec![0; NEW_OUTPUT_LEN],
        };
        h.hash = h.compute(password).ok_or(HashError::Compute)?;
        Ok(h)
    }

    fn params(&self) -> Option<Params> {
        Params::new(self.m_cost, self.t_cost, self.p_cost, Some(self.hash.len())).ok()
    }

    /// The Argon2id output for `password` with this hash's salt and costs.
    pub(crate) fn compute(&self, password: &[u8]) -> Option<Vec<u8>> {
        let params = self.params()?;
        let version = if self.version == 0x10 {
            Version::V0x10
        } else {
            Version::V0x13
        };
        let mut blocks = vec![Block::default(); params.block_count()];
        let mut out = vec![0u8; self.hash.len()];
        Argon2::new(Algorithm::Argon2id, version, params)
            .hash_password_into_with_memory(password, &self.salt, &mut out, &mut blocks)
            .ok()?;
        Some(out)
    }

    pub(crate) fn hash(&self) -> &[u8] {
        &self.hash
    }

    pub(crate) fn encode(&self) -> String {
        format!(
            "{PREFIX}v={}$m={},t={},p={}${}${}",
            self.version,
            self.m_cost,
            self.t_cost,
            self.p_cost,
            b64::encode_unpadded(&self.salt),
            b64::encode_unpadded(&self.hash)
        )
    }

    /// Same costs and lengths, all-zero salt and hash.
    pub(crate) fn decoy(&self) -> Argon2idHash {
        Argon2idHash {
            salt: vec![0; self.salt.len()],
            hash: vec![0; self.hash.len()],
            ..self.clone()
        }
    }
}

/// `m=<n>,t=<n>,p=<n>` in that order.
fn cost_params(s: &str) -> Result<(u32, u32, u32), HashError> {
    let mut it = s.split(',');
    let mut field = |name: &str| {
        it.next()
            .and_then(|f| f.strip_prefix(name))
            .ok_or(HashError::Argon2)
            .and_then(decimal)
    };
    let m = field("m=")?;
    let t = field("t=")?;
    let p = field("p=")?;
    if it.next().is_some() {
        return Err(HashError::Argon2);
    }
    Ok((m, t, p))
}

/// libargon2's `decode_decimal`: digits only, no leading zero, fits.
fn decimal(s: &str) -> Result<u32, HashError> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && !(s.len() > 1 && s.starts_with('0'));
    if !ok {
        return Err(HashError::Argon2);
    }
    s.parse().map_err(|_| HashError::Argon2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small-cost hash so the tests stay fast.
    fn small(password: &[u8]) -> Argon2idHash {
        let mut h = Argon2idHash {
            version: 0x13,
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
            salt: vec![5; 16],
            hash: vec![0; 32],
        };
        h.hash = h.compute(password).unwrap();
        h
    }

    #[test]
    fn round_trips_through_the_phc_string() {
        let h = small(b"pw");
        let s = h.encode();
        assert!(s.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{s}");
        let d = Argon2idHash::decode(&s).unwrap();
        assert!(d == h);
        assert_eq!(d.compute(b"pw").unwrap(), h.hash);
        assert_ne!(d.compute(b"px").unwrap(), h.hash);
    }

    #[test]
    fn libargon2_reference_vector() {
        // Output of the reference implementation (Debian's `argon2` tool:
        // `echo -n password | argon2 somesalt -id -t 2 -m 10 -p 2 -l 32 -e`).
        let s =
            "$argon2id$v=19$m=1024,t=2,p=2$c29tZXNhbHQ$kEfNQbPvk6Q7hokW6Jrvn1Mjb9kdT/I7OXVDKsviazk";
        let d = Argon2idHash::decode(s).unwrap();
        assert_eq!(d.compute(b"password").unwrap(), d.hash);
    }

    #[test]
    fn version_is_optional_and_checked() {
        let h = small(b"a");
        let s = format!(
            "$argon2id$m=64,t=1,p=1${}${}",
            b64::encode_unpadded(&h.salt),
            b64::encode_unpadded(&h.hash)
        );
        let d = Argon2idHash::decode(&s).unwrap();
        assert_eq!(d.version, 0x10);
        assert!(Argon2idHash::decode(&s.replace("$m=", "$v=20$m=")).is_err());
    }

    #[test]
    fn rejects_malformed_strings() {
        let good = small(b"a").encode();
        for bad in [
            "$argon2id$",
            "$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAA",
            &good.replace("m=64", "m=064"),
            &good.replace("m=64", "m=x"),
            &good.replace(",t=1", ""),
            &good.replace("p=1", "p=1,q=2"),
            &good.replace("m=64", "m=99999999999"),
            &good.replace("m=64", "m=4194305"),
            &good.replace("t=1", "t=0"),
            &format!("{good}$extra"),
            "$argon2id$v=19$m=64,t=1,p=1$AAAA$AAAAAAAAAAA",
        ] {
            assert!(Argon2idHash::decode(bad).is_err(), "{bad}");
        }
    }
}
