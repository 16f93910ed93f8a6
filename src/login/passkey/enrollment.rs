//! The one-time enrollment link for a user's first passkey: minted by an operator with
//! `edgeauth enroll` (the signing key seals it, so no store is needed to issue one), carried in
//! the link's fragment (never sent to a server, never in a log), opened at registration. Its id
//! is claimed in the `SINGLE_USE` Durable Object when a passkey is enrolled with it.

use serde::{Deserialize, Serialize};

use crate::encoding::base64url;
use crate::login::{is_valid_role, is_valid_username, Identity, MAX_PROFILE_BYTES, MAX_ROLES};
#[cfg(not(target_arch = "wasm32"))]
use crate::token::keys::SigningKey;
use crate::token::seal::{self, Sealed};

use super::credential::Profile;
use super::PasskeyError;

const DOMAIN: &str = "edgeauth passkey-enrollment-v1.";
/// Longest an enrollment link may live: 7 days.
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;
/// Largest sealed enrollment accepted, in bytes.
pub const MAX_SEALED_BYTES: usize = 8192;

/// Who may enroll, and as what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// The user (`sub`).
    pub sub: String,
    /// Roles, name and email the user's passkeys sign in with.
    pub roles: Vec<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The link's id: base64url of 16 random bytes.
    pub jti: String,
    /// Minted at, Unix seconds.
    pub iat: u64,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

impl Enrollment {
    /// A new enrollment for `identity`, valid `ttl_secs` from `now`; `None` for an identity or
    /// lifetime the edge would refuse.
    pub fn new(identity: &Identity, ttl_secs: u64, entropy: &[u8; 16], now: u64) -> Option<Self> {
        let enrollment = Enrollment {
            sub: identity.sub.clone(),
            roles: identity.roles.clone(),
            name: identity.name.clone(),
            email: identity.email.clone(),
            jti: base64url::encode(entropy),
            iat: now,
            exp: now.checked_add(ttl_secs)?,
        };
        enrollment.is_acceptable(now).then_some(enrollment)
    }

    /// What to sign to seal it ([`crate::token::seal`]).
    pub fn to_seal(&self) -> crate::token::ToSign {
        // Serializing plain strings and numbers cannot fail; an empty payload never opens.
        seal::to_seal(DOMAIN, &serde_json::to_vec(self).unwrap_or_default())
    }

    /// The sealed form, the link's fragment.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn seal(&self, key: &SigningKey) -> String {
        seal::seal(DOMAIN, &serde_json::to_vec(self).unwrap_or_default(), key)
    }

    /// The profile its passkeys sign in with, over `existing` (the stored one, which
    /// [`Self::allowed_by`] accepted): the link's roles, name and email; and every link minted
    /// before this one withdrawn (`enrollments_after`), so a link sent earlier, maybe leaked, no
    /// longer works once a newer one was used.
    pub fn profile(&self, existing: Option<&Profile>) -> Profile {
        let withdrawn = existing.and_then(|p| p.enrollments_after).unwrap_or(0);
        Profile {
            roles: self.roles.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            disabled: existing.is_some_and(|p| p.disabled),
            enrollments_after: Some(withdrawn.max(self.iat)),
        }
    }

    /// Whether `existing`, the user's stored profile, lets this link enroll: not a disabled
    /// user (a link never enables one again), and not a link minted before the operator
    /// withdrew earlier ones (`enrollments_after`).
    pub fn allowed_by(&self, existing: Option<&Profile>) -> Result<(), PasskeyError> {
        match existing {
            Some(profile) if profile.disabled => Err(PasskeyError("user_disabled")),
            Some(profile) if profile.enrollments_after.is_some_and(|t| self.iat < t) => {
                Err(PasskeyError("enrollment_withdrawn"))
            }
            _ => Ok(()),
        }
    }

    fn is_acceptable(&self, now: u64) -> bool {
        let text_ok = |t: &Option<String>| {
            t.as_ref()
                .is_none_or(|t| t.len() <= MAX_PROFILE_BYTES && !t.chars().any(char::is_control))
        };
        let distinct = self
            .roles
            .iter()
            .enumerate()
            .all(|(i, r)| !self.roles[..i].contains(r));
        is_valid_username(&self.sub)
            && self.roles.len() <= MAX_ROLES
            && self.roles.iter().all(|r| is_valid_role(r))
            && distinct
            && text_ok(&self.name)
            && text_ok(&self.email)
            && self.exp > now
            && self
                .exp
                .checked_sub(self.iat)
                .is_some_and(|ttl| ttl <= MAX_TTL_SECS)
            && self.iat <= now + 60
            && base64url::decode(&self.jti).is_some_and(|id| id.len() == 16)
    }
}

/// An enrollment whose seal is not checked yet.
#[derive(Debug)]
pub struct SealedEnrollment(Sealed);

impl SealedEnrollment {
    /// Splits and decodes the link's token.
    pub fn parse(value: &str) -> Result<Self, PasskeyError> {
        Sealed::parse(DOMAIN, value, MAX_SEALED_BYTES)
            .map(SealedEnrollment)
            .map_err(|_| PasskeyError("enrollment_malformed"))
    }

    /// The bytes the seal signs.
    pub fn signing_input(&self) -> &[u8] {
        self.0.signing_input()
    }

    /// The seal.
    pub fn signature(&self) -> &[u8; 64] {
        self.0.signature()
    }

    /// Opens the enrollment once the seal verified, at `now`.
    pub fn open(self, sealed_by_us: bool, now: u64) -> Result<Enrollment, PasskeyError> {
        let payload = self
            .0
            .open(sealed_by_us)
            .ok_or(PasskeyError("enrollment_bad_seal"))?;
        let enrollment: Enrollment =
            serde_json::from_slice(&payload).map_err(|_| PasskeyError("enrollment_malformed"))?;
        if now >= enrollment.exp {
            return Err(PasskeyError("enrollment_expired"));
        }
        if !enrollment.is_acceptable(now) {
            return Err(PasskeyError("enrollment_malformed"));
        }
        Ok(enrollment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn key() -> SigningKey {
        SigningKey::from_seed(&mut [1u8; 32])
    }

    fn identity(sub: &str) -> Identity {
        Identity {
            sub: sub.into(),
            roles: vec!["staff".into()],
            name: Some("Alice".into()),
            email: None,
            provider: None,
            amr: crate::login::AMR_PASSWORD,
        }
    }

    fn open(value: &str, now: u64) -> Result<Enrollment, PasskeyError> {
        let sealed = SealedEnrollment::parse(value)?;
        let ok = key()
            .verifying_key()
            .verify(sealed.signing_input(), sealed.signature())
            .is_ok();
        sealed.open(ok, now)
    }

    #[test]
    fn a_link_opens_until_it_expires() {
        let e = Enrollment::new(&identity("alice"), 3600, &[7; 16], NOW).expect("valid");
        let sealed = e.seal(&key());
        assert_eq!(open(&sealed, NOW + 3599), Ok(e.clone()));
        assert_eq!(
            open(&sealed, NOW + 3600),
            Err(PasskeyError("enrollment_expired"))
        );
        assert_eq!(e.profile(None).roles, ["staff"]);
    }

    #[test]
    fn links_the_edge_would_refuse_are_not_minted_nor_opened() {
        assert_eq!(
            Enrollment::new(&identity("al ice"), 60, &[7; 16], NOW),
            None
        );
        assert_eq!(
            Enrollment::new(&identity("alice"), MAX_TTL_SECS + 1, &[7; 16], NOW),
            None
        );
        assert_eq!(Enrollment::new(&identity("alice"), 0, &[7; 16], NOW), None);
        let twice = Identity {
            roles: vec!["staff".into(), "staff".into()],
            ..identity("alice")
        };
        assert_eq!(
            Enrollment::new(&twice, 60, &[7; 16], NOW),
            None,
            "a role twice"
        );
        let e = Enrollment::new(&identity("alice"), 60, &[7; 16], NOW).expect("valid");
        let other = SigningKey::from_seed(&mut [2u8; 32]);
        assert_eq!(
            open(&e.seal(&other), NOW),
            Err(PasskeyError("enrollment_bad_seal"))
        );
        let forged = Enrollment {
            exp: NOW + MAX_TTL_SECS * 10,
            ..e.clone()
        };
        assert_eq!(
            open(&forged.seal(&key()), NOW),
            Err(PasskeyError("enrollment_malformed")),
            "sealed by us but longer-lived than any link the CLI mints"
        );
    }
}

#[cfg(test)]
mod profile_tests {
    use super::*;

    #[test]
    fn a_link_never_enables_a_disabled_user_nor_outlives_a_withdrawal() {
        let identity = Identity {
            sub: "alice".into(),
            roles: vec![],
            name: None,
            email: None,
            provider: None,
            amr: crate::login::AMR_PASSWORD,
        };
        let link = Enrollment::new(&identity, 60, &[1; 16], 1_000).expect("valid");
        assert_eq!(link.allowed_by(None), Ok(()));
        let mut profile = link.profile(None);
        assert_eq!(
            profile.enrollments_after,
            Some(1_000),
            "older links are withdrawn"
        );
        assert_eq!(link.allowed_by(Some(&profile)), Ok(()));
        let older = Enrollment::new(&identity, 60, &[2; 16], 999).expect("valid");
        assert_eq!(
            older.allowed_by(Some(&profile)),
            Err(PasskeyError("enrollment_withdrawn"))
        );
        let later = Enrollment::new(&identity, 60, &[3; 16], 5_000).expect("valid");
        let withdrawing = Profile {
            enrollments_after: Some(9_000),
            ..profile.clone()
        };
        assert_eq!(
            later.profile(Some(&withdrawing)).enrollments_after,
            Some(9_000),
            "an operator's later withdrawal is kept"
        );
        profile.disabled = true;
        assert_eq!(
            link.allowed_by(Some(&profile)),
            Err(PasskeyError("user_disabled"))
        );
        profile.disabled = false;
        profile.enrollments_after = Some(1_001);
        assert_eq!(
            link.allowed_by(Some(&profile)),
            Err(PasskeyError("enrollment_withdrawn"))
        );
        profile.enrollments_after = Some(1_000);
        assert_eq!(link.allowed_by(Some(&profile)), Ok(()));
    }
}
