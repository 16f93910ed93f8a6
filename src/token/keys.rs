//! Ed25519 keys: the one signing key, the public keys that verify, and the set of them.
//!
//! A key's id (`kid`) is always its RFC 7638 JWK thumbprint, computed here, never taken from
//! input, so a `kid` cannot name one key while carrying another.

use crate::config::{ConfigError, Vars};
use crate::encoding::base64url;
use crate::token::error::Error;
use crate::token::jwk;
use crate::token::signature_precheck::{r_has_small_order, r_is_canonical};
use sha2::{Digest, Sha256};
use std::fmt;

// The Worker signs and verifies through WebCrypto (`adapter::token::ed25519`,
// `adapter::signing`): ed25519-dalek is in host builds only (the CLI, tests, the native
// bench), so the wasm bundle has no curve arithmetic.
#[cfg(not(target_arch = "wasm32"))]
use ed25519_dalek::Signer;
#[cfg(not(target_arch = "wasm32"))]
use zeroize::Zeroize;
#[cfg(target_arch = "wasm32")]
use zeroize::Zeroizing;

/// A public Ed25519 key accepted for verification, with its thumbprint `kid`.
///
/// Construction refuses non-canonical encodings and small-order (weak) points, so the strict
/// checks hold even for verifiers that do not repeat them.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    bytes: [u8; 32],
    kid: String,
    #[cfg(not(target_arch = "wasm32"))]
    key: ed25519_dalek::VerifyingKey,
}

impl VerifyingKey {
    /// Imports a 32-byte compressed Edwards point; refuses non-canonical and weak keys. (Host
    /// builds also decompress it: `edgeauth check-config` so refuses a key that is not a point
    /// at all before it is deployed; in the Worker, WebCrypto refuses to verify with one.)
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        if !r_is_canonical(bytes) {
            return Err(Error::InvalidKey("non-canonical point encoding"));
        }
        if r_has_small_order(bytes) {
            return Err(Error::InvalidKey("small-order (weak) public key"));
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
                .map_err(|_| Error::InvalidKey("not a point on the curve"))?;
            if key.to_edwards().compress().as_bytes() != bytes {
                return Err(Error::InvalidKey("non-canonical point encoding"));
            }
            if key.is_weak() {
                return Err(Error::InvalidKey("small-order (weak) public key"));
            }
            Ok(VerifyingKey {
                bytes: *bytes,
                kid: thumbprint(bytes),
                key,
            })
        }
        #[cfg(target_arch = "wasm32")]
        Ok(VerifyingKey {
            bytes: *bytes,
            kid: thumbprint(bytes),
        })
    }

    /// The key id: its RFC 7638 SHA-256 JWK thumbprint, base64url.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The 32-byte public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Verifies `signature` over `message` with `verify_strict`: S must be reduced (S < L),
    /// R must decode canonically, and neither R nor the key may have small order. Host builds
    /// only; the Worker verifies through WebCrypto after the same strict pre-checks.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), Error> {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.key
            .verify_strict(message, &signature)
            .map_err(|_| Error::BadSignature)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .finish()
    }
}

/// The private Ed25519 key that mints tokens. Zeroized on drop; `Debug` never prints it.
///
/// Host builds sign with ed25519-dalek ([`Self::sign`]); the Worker imports it into WebCrypto
/// once per isolate (`adapter::signing`) and signs there.
pub struct SigningKey {
    #[cfg(not(target_arch = "wasm32"))]
    key: ed25519_dalek::SigningKey,
    #[cfg(target_arch = "wasm32")]
    seed: Zeroizing<[u8; 32]>,
    public: VerifyingKey,
}

#[cfg(not(target_arch = "wasm32"))]
impl SigningKey {
    /// Builds a key from its 32-byte seed (the JWK `d`); the caller's copy is zeroized.
    pub fn from_seed(seed: &mut [u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        seed.zeroize();
        let verifying = key.verifying_key();
        let public = VerifyingKey {
            bytes: *verifying.as_bytes(),
            kid: thumbprint(verifying.as_bytes()),
            key: verifying,
        };
        SigningKey { key, public }
    }

    /// Generates a fresh key from the operating system's randomness.
    pub fn generate() -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| Error::InvalidKey("no randomness available"))?;
        Ok(Self::from_seed(&mut seed))
    }

    /// Signs `message` (deterministic Ed25519).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The 32-byte seed, for export as a private JWK. Handle with care.
    pub(crate) fn seed(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }
}

#[cfg(target_arch = "wasm32")]
impl SigningKey {
    /// A key from its seed and the public key its JWK states (`x`). Nothing here can check
    /// that one belongs to the other: the Worker checks it once, at import, by verifying a
    /// signature of its own (`adapter::signing`), and refuses to sign otherwise.
    pub(crate) fn from_parts(seed: Zeroizing<[u8; 32]>, public: VerifyingKey) -> Self {
        SigningKey { seed, public }
    }

    /// The 32-byte seed, for the WebCrypto import. Handle with care.
    pub(crate) fn seed(&self) -> &[u8; 32] {
        &self.seed
    }
}

impl SigningKey {
    /// The public half, as used for verification and published in the JWKS.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// The key id (thumbprint of the public key).
    pub fn kid(&self) -> &str {
        self.public.kid()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid())
            .field("secret", &"***OMITTED***")
            .finish()
    }
}

/// The keys an edge knows: at most one signing key and every public key it accepts.
///
/// The signing key's public half is always part of the accepted keys. Extra keys are
/// verification-only (previous keys during rotation).
#[derive(Debug)]
pub struct KeySet {
    signing: Option<SigningKey>,
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// A set that signs with `signing` and also accepts `previous` (deduplicated by `kid`).
    pub fn new(signing: SigningKey, previous: Vec<VerifyingKey>) -> Self {
        let mut keys = vec![signing.verifying_key().clone()];
        push_unique(&mut keys, previous);
        KeySet {
            signing: Some(signing),
            keys,
        }
    }

    /// A set that only verifies (an origin, the CLI's `verify`).
    pub fn verify_only(keys: Vec<VerifyingKey>) -> Self {
        let mut unique = Vec::with_capacity(keys.len());
        push_unique(&mut unique, keys);
        KeySet {
            signing: None,
            keys: unique,
        }
    }

    /// The signing key, if this set has one.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing.as_ref()
    }

    /// The accepted key whose thumbprint is `kid`.
    pub fn find(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    /// Every accepted public key, signing key first.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }
}

fn push_unique(into: &mut Vec<VerifyingKey>, keys: Vec<VerifyingKey>) {
    for key in keys {
        if !into.iter().any(|k| k.kid == key.kid) {
            into.push(key);
        }
    }
}

/// The RFC 7638 thumbprint of an Ed25519 public key: SHA-256 over the canonical JSON
/// `{"crv":"Ed25519","kty":"OKP","x":"…"}`, base64url.
pub fn thumbprint(public_key: &[u8; 32]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        base64url::encode(public_key)
    );
    base64url::encode(&Sha256::digest(canonical.as_bytes()))
}

/// The `SIGNING_KEY` secret (a private Ed25519 JWK) and `PREVIOUS_KEYS` (public JWKs still
/// accepted during a rotation): the key that signs, and every key that verifies, its own first.
pub fn from_vars(vars: &Vars) -> Result<(SigningKey, KeySet), ConfigError> {
    let signing = vars.get("SIGNING_KEY").ok_or_else(|| {
        ConfigError(
            "SIGNING_KEY secret is missing (a private Ed25519 JWK; see `edgeauth keygen`)".into(),
        )
    })?;
    let signing =
        SigningKey::from_jwk(&signing).map_err(|e| ConfigError(format!("SIGNING_KEY: {e}")))?;
    let mut verifying = vec![signing.verifying_key().clone()];
    if let Some(text) = vars.get("PREVIOUS_KEYS") {
        verifying.extend(
            jwk::public_keys_from_json(&text)
                .map_err(|e| ConfigError(format!("PREVIOUS_KEYS: {e}")))?,
        );
    }
    Ok((signing, KeySet::verify_only(verifying)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let mut seed = [7u8; 32];
        let key = SigningKey::from_seed(&mut seed);
        assert_eq!(seed, [0u8; 32], "caller's seed is zeroized");
        let printed = format!("{key:?}");
        let printed = printed + &format!("{:?}", KeySet::new(key, vec![]));
        assert!(printed.contains("***OMITTED***"));
        assert!(!printed.contains(&base64url::encode(&[7u8; 32])));
        assert!(!printed.contains("[7, 7"));
    }

    #[test]
    fn refuses_weak_and_non_canonical_public_keys() {
        // The identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(VerifyingKey::from_bytes(&identity).is_err());
        // y = p + 1 encodes the identity non-canonically.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        assert!(VerifyingKey::from_bytes(&non_canonical).is_err());
    }

    #[test]
    fn key_set_finds_by_kid_and_deduplicates() {
        let a = SigningKey::from_seed(&mut [1u8; 32]);
        let b = SigningKey::from_seed(&mut [2u8; 32]);
        let b_public = b.verifying_key().clone();
        let a_kid = a.kid().to_owned();
        let set = KeySet::new(a, vec![b_public.clone(), b_public.clone()]);
        assert_eq!(set.keys().len(), 2);
        assert_eq!(
            set.find(&a_kid).map(VerifyingKey::kid),
            Some(a_kid.as_str())
        );
        assert!(set.find(b_public.kid()).is_some());
        assert!(set.find("nope").is_none());
    }
}
