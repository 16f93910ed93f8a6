//! A ceremony in flight, kept by the browser instead of a store: the random challenge, which
//! ceremony it is for, whose (a username-first sign-in, an add or an enrollment) and an expiry,
//! sealed ([`crate::token::seal`]) in a short-lived `__Host-` cookie. The cookie is cleared
//! when the ceremony ends; the adapter also claims each verified challenge in the `SINGLE_USE`
//! Durable Object, so a captured cookie and response cannot be played again.

use serde::{Deserialize, Serialize};

use crate::encoding::base64url;
#[cfg(not(target_arch = "wasm32"))]
use crate::token::keys::SigningKey;
use crate::token::seal::{self, Sealed};

use super::client_data::Ceremony;
use super::{PasskeyError, CHALLENGE_TTL_SECS};

/// The cookie that holds the ceremony in flight (one per browser: a new ceremony replaces it).
pub const COOKIE: &str = "__Host-edgeauth-passkey";
const DOMAIN: &str = "edgeauth passkey-challenge-v1.";
/// Largest sealed challenge accepted, in bytes.
pub const MAX_SEALED_BYTES: usize = 2048;

/// A ceremony in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    /// base64url of 32 random bytes.
    pub challenge: String,
    /// `true` for a registration, `false` for a sign-in.
    pub register: bool,
    /// Whose ceremony: the user registering, or the username given for a username-first
    /// sign-in. `None` for a username-less sign-in.
    pub user: Option<String>,
    /// The enrollment link's id, when the registration came from one.
    pub enrollment: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

impl Challenge {
    /// A new challenge from 32 fresh random bytes, at `now`.
    pub fn new(
        ceremony: Ceremony,
        user: Option<String>,
        enrollment: Option<String>,
        entropy: &[u8; 32],
        now: u64,
    ) -> Self {
        Challenge {
            challenge: base64url::encode(entropy),
            register: ceremony == Ceremony::Register,
            user,
            enrollment,
            exp: now + CHALLENGE_TTL_SECS,
        }
    }

    /// The challenge's bytes, as the client data must carry them.
    pub fn bytes(&self) -> Vec<u8> {
        base64url::decode(&self.challenge).unwrap_or_default()
    }

    /// What to sign to seal it ([`crate::token::seal`]).
    pub fn to_seal(&self) -> crate::token::ToSign {
        // Serializing plain strings and numbers cannot fail; an empty payload never opens.
        seal::to_seal(DOMAIN, &serde_json::to_vec(self).unwrap_or_default())
    }

    /// The cookie value.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn seal(&self, key: &SigningKey) -> String {
        seal::seal(DOMAIN, &serde_json::to_vec(self).unwrap_or_default(), key)
    }

    /// How long the used-challenge marker must live at `now`: the seconds left, plus a minute
    /// for clocks that lag behind ours.
    pub fn marker_secs(&self, now: u64) -> u64 {
        self.exp.saturating_sub(now) + 60
    }
}

/// The `Set-Cookie` value that carries a sealed challenge: `SameSite=Strict`, since only this
/// site's own page ever sends it back.
pub fn set_cookie(sealed: &str) -> String {
    format!("{COOKIE}={sealed}; Max-Age={CHALLENGE_TTL_SECS}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that clears it.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// A challenge cookie whose seal is not checked yet.
#[derive(Debug)]
pub struct SealedChallenge(Sealed);

impl SealedChallenge {
    /// Splits and decodes a cookie value.
    pub fn parse(value: &str) -> Result<Self, PasskeyError> {
        Sealed::parse(DOMAIN, value, MAX_SEALED_BYTES)
            .map(SealedChallenge)
            .map_err(|_| PasskeyError("challenge_malformed"))
    }

    /// The bytes the seal signs.
    pub fn signing_input(&self) -> &[u8] {
        self.0.signing_input()
    }

    /// The seal.
    pub fn signature(&self) -> &[u8; 64] {
        self.0.signature()
    }

    /// Opens the challenge once the seal verified, for `ceremony` at `now`.
    pub fn open(
        self,
        sealed_by_us: bool,
        ceremony: Ceremony,
        now: u64,
    ) -> Result<Challenge, PasskeyError> {
        let payload = self
            .0
            .open(sealed_by_us)
            .ok_or(PasskeyError("challenge_bad_seal"))?;
        let challenge: Challenge =
            serde_json::from_slice(&payload).map_err(|_| PasskeyError("challenge_malformed"))?;
        if challenge.register != (ceremony == Ceremony::Register) {
            return Err(PasskeyError("challenge_other_ceremony"));
        }
        if now >= challenge.exp {
            return Err(PasskeyError("challenge_expired"));
        }
        if challenge.bytes().len() != 32 {
            return Err(PasskeyError("challenge_malformed"));
        }
        Ok(challenge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn key() -> SigningKey {
        SigningKey::from_seed(&mut [3u8; 32])
    }

    fn open(value: &str, ceremony: Ceremony, now: u64) -> Result<Challenge, PasskeyError> {
        let sealed = SealedChallenge::parse(value)?;
        let ok = key()
            .verifying_key()
            .verify(sealed.signing_input(), sealed.signature())
            .is_ok();
        sealed.open(ok, ceremony, now)
    }

    #[test]
    fn a_challenge_opens_for_its_ceremony_until_it_expires() {
        let c = Challenge::new(Ceremony::SignIn, Some("alice".into()), None, &[4; 32], NOW);
        let sealed = c.seal(&key());
        assert_eq!(open(&sealed, Ceremony::SignIn, NOW + 10), Ok(c.clone()));
        assert_eq!(c.bytes(), [4; 32]);
        assert_eq!(
            open(&sealed, Ceremony::Register, NOW),
            Err(PasskeyError("challenge_other_ceremony"))
        );
        assert_eq!(
            open(&sealed, Ceremony::SignIn, c.exp),
            Err(PasskeyError("challenge_expired"))
        );
        assert_eq!(c.marker_secs(NOW), CHALLENGE_TTL_SECS + 60);
    }

    #[test]
    fn a_forged_or_foreign_challenge_does_not_open() {
        let c = Challenge::new(
            Ceremony::Register,
            Some("alice".into()),
            None,
            &[4; 32],
            NOW,
        );
        let other = SigningKey::from_seed(&mut [2u8; 32]);
        assert_eq!(
            open(&c.seal(&other), Ceremony::Register, NOW),
            Err(PasskeyError("challenge_bad_seal"))
        );
        // Our own signature over another kind of sealed value (an SSO transaction's domain).
        let foreign = seal::seal(
            "edgeauth sso-transaction-v1.",
            &serde_json::to_vec(&c).expect("json"),
            &key(),
        );
        assert_eq!(
            open(&foreign, Ceremony::Register, NOW),
            Err(PasskeyError("challenge_bad_seal"))
        );
        assert_eq!(
            open("nonsense", Ceremony::Register, NOW),
            Err(PasskeyError("challenge_malformed"))
        );
    }
}
