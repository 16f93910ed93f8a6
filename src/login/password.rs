//! Password hashes as PHC strings: `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>`.
//!
//! PBKDF2-HMAC-SHA256 because it is what WebCrypto offers inside Workers; the edge derives with
//! WebCrypto, the CLI with the `pbkdf2` crate, and both produce and read this one format.
//! Salt and hash use the PHC "B64" encoding (standard alphabet, no padding).

use crate::token::error::Error;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

/// Iterations used for new hashes: the most Workers' WebCrypto allows.
pub const ITERATIONS: u32 = 100_000;
/// Most iterations accepted (the Workers production cap; local workerd does not enforce it).
pub const MAX_ITERATIONS: u32 = 100_000;
/// Fewest iterations accepted in a stored hash.
pub const MIN_ITERATIONS: u32 = 10_000;
/// Salt length for new hashes, in bytes.
pub const SALT_BYTES: usize = 16;
/// Derived key length, in bytes.
pub const HASH_BYTES: usize = 32;

const PREFIX: &str = "$pbkdf2-sha256$i=";

/// A parsed PBKDF2-HMAC-SHA256 password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    /// PBKDF2 iteration count.
    pub iterations: u32,
    /// Salt bytes (16 to 64).
    pub salt: Vec<u8>,
    /// The derived key (32 bytes).
    pub hash: [u8; HASH_BYTES],
}

impl PasswordHash {
    /// Parses a PHC string; refuses other algorithms, parameters or lengths.
    pub fn parse(phc: &str) -> Result<Self, Error> {
        let rest = phc
            .strip_prefix(PREFIX)
            .ok_or(Error::InvalidPasswordHash("not $pbkdf2-sha256$i=…"))?;
        let mut parts = rest.split('$');
        let (Some(iterations), Some(salt), Some(hash), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::InvalidPasswordHash("expected i=N$salt$hash"));
        };
        if iterations.is_empty()
            || iterations.starts_with('0')
            || !iterations.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::InvalidPasswordHash("iterations is not a number"));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| Error::InvalidPasswordHash("iterations is not a number"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(Error::InvalidPasswordHash(
                "iterations outside 10,000..=100,000",
            ));
        }
        let salt = STANDARD_NO_PAD
            .decode(salt)
            .map_err(|_| Error::InvalidPasswordHash("salt is not B64"))?;
        if !(SALT_BYTES..=64).contains(&salt.len()) {
            return Err(Error::InvalidPasswordHash("salt is not 16 to 64 bytes"));
        }
        let hash: [u8; HASH_BYTES] = STANDARD_NO_PAD
            .decode(hash)
            .map_err(|_| Error::InvalidPasswordHash("hash is not B64"))?
            .try_into()
            .map_err(|_| Error::InvalidPasswordHash("hash is not 32 bytes"))?;
        Ok(PasswordHash {
            iterations,
            salt,
            hash,
        })
    }

    /// The PHC string form.
    pub fn to_phc(&self) -> String {
        format!(
            "{PREFIX}{}${}${}",
            self.iterations,
            STANDARD_NO_PAD.encode(&self.salt),
            STANDARD_NO_PAD.encode(self.hash)
        )
    }

    /// Whether `derived` (PBKDF2 of the candidate password with this salt and count) matches,
    /// compared in constant time.
    pub fn matches(&self, derived: &[u8]) -> bool {
        derived.ct_eq(&self.hash).into()
    }
}

impl core::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PasswordHash")
            .field("iterations", &self.iterations)
            .field("hash", &"***OMITTED***")
            .finish()
    }
}

/// Native PBKDF2 for the CLI and tests (the edge uses WebCrypto instead).
#[cfg(not(target_arch = "wasm32"))]
pub mod native {
    use super::{PasswordHash, HASH_BYTES};

    /// Derives PBKDF2-HMAC-SHA256 of `password` with `salt` and `iterations`.
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> [u8; HASH_BYTES] {
        let mut out = [0u8; HASH_BYTES];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut out);
        out
    }

    /// Hashes `password` with a caller-supplied random `salt` and `iterations`.
    pub fn hash(password: &[u8], salt: &[u8], iterations: u32) -> PasswordHash {
        PasswordHash {
            iterations,
            salt: salt.to_vec(),
            hash: derive(password, salt, iterations),
        }
    }

    /// Checks `password` against `stored`.
    pub fn verify(password: &[u8], stored: &PasswordHash) -> bool {
        stored.matches(&derive(password, &stored.salt, stored.iterations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7914 §11 publishes PBKDF2-HMAC-SHA256 test vectors; this is its first one
    // (P="passwd", S="salt", c=1, dkLen=64), truncated to our 32-byte output.
    #[test]
    fn derive_matches_rfc7914_vector() {
        let out = native::derive(b"passwd", b"salt", 1);
        assert_eq!(
            out[..16],
            [
                0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f, 0xec, 0x16, 0x91, 0xc2, 0x25, 0x44,
                0xb6, 0x05
            ]
        );
    }

    #[test]
    fn phc_round_trip_and_verify() {
        let stored = native::hash(b"correct horse", &[3u8; 16], ITERATIONS);
        let parsed = PasswordHash::parse(&stored.to_phc()).expect("own output parses");
        assert_eq!(parsed, stored);
        assert!(native::verify(b"correct horse", &parsed));
        assert!(!native::verify(b"correct horsf", &parsed));
        assert!(!format!("{parsed:?}").contains(&STANDARD_NO_PAD.encode(parsed.hash)));
    }

    #[test]
    fn refuses_bad_phc_strings() {
        let good = native::hash(b"pw", &[3u8; 16], ITERATIONS).to_phc();
        let salt = STANDARD_NO_PAD.encode([3u8; 16]);
        let hash = good.rsplit('$').next().unwrap_or_default().to_owned();
        for bad in [
            format!("$pbkdf2-sha512$i=100000${salt}${hash}"),
            format!("$pbkdf2-sha256$i=100001${salt}${hash}"),
            format!("$pbkdf2-sha256$i=9999${salt}${hash}"),
            format!("$pbkdf2-sha256$i=0100000${salt}${hash}"),
            format!("$pbkdf2-sha256$i=+100000${salt}${hash}"),
            format!("$pbkdf2-sha256$i=100000${salt}"),
            format!("$pbkdf2-sha256$i=100000${salt}${hash}$x"),
            format!("$pbkdf2-sha256$i=100000$AAAA${hash}"),
            format!("$pbkdf2-sha256$i=100000${salt}$AAAA"),
            format!("$pbkdf2-sha256$i=100000${salt}=${hash}"),
        ] {
            assert!(PasswordHash::parse(&bad).is_err(), "{bad}");
        }
        assert!(PasswordHash::parse(&good).is_ok());
    }
}
