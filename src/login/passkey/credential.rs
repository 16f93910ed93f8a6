//! What Workers KV keeps for passkeys (in the `USERS` namespace), and under which keys.
//!
//! Credentials are named by `<ref>`, base64url of SHA-256 of their id: ids may be 1023 bytes,
//! Workers KV keys only 512.
//!
//! - `passkey:cred:<ref>` → [`StoredCredential`]: written once, at registration, never again
//!   (not by a sign-in, not by a rename), so a stale read can never write a removed passkey back.
//! - `passkey:seen:<ref>` → [`Seen`]: the counter and last use, written by each sign-in.
//! - `passkey:user:<base64url(sub)>:<ref>` → the passkey's name: one key per credential, listed
//!   by prefix to find a user's passkeys, written first at registration, deleted first at
//!   removal, and required at sign-in (a record without it is not a passkey). KV has no
//!   compare-and-swap, so nothing is a read-modify-write of a shared list: two registrations
//!   of one user write two different keys and neither is lost.
//! - `passkey:profile:<sub>` → [`Profile`]: the roles, name and email a user's passkeys sign in
//!   with, written by an enrollment link only, and never for a user who has a KV password
//!   record: that record `user:<sub>` is read instead at every sign-in (its roles, its
//!   `disabled`).
//!
//! Challenges and enrollment links are made single-use by markers claimed atomically in a
//! Durable Object (`adapter::single_use`), not in KV: [`challenge_marker`], [`enrollment_marker`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::encoding::base64url;
use crate::login::{object, profile_text, roles, Identity, RecordError};

use super::cose::PublicKey;
use super::{PasskeyError, MAX_NAME_BYTES};

/// What names credential `id` in KV keys: base64url(SHA-256(id)), 43 characters.
pub fn reference(id: &[u8]) -> String {
    base64url::encode(&Sha256::digest(id))
}

/// `passkey:cred:<ref>`.
pub fn credential_key(reference: &str) -> String {
    format!("passkey:cred:{reference}")
}

/// `passkey:seen:<ref>`.
pub fn seen_key(reference: &str) -> String {
    format!("passkey:seen:{reference}")
}

/// The prefix under which `sub`'s credentials are listed.
pub fn user_prefix(sub: &str) -> String {
    format!("passkey:user:{}:", base64url::encode(sub.as_bytes()))
}

/// `passkey:user:<base64url(sub)>:<ref>`.
pub fn user_index_key(sub: &str, reference: &str) -> String {
    format!("{}{reference}", user_prefix(sub))
}

/// The credential reference of an index key listed under `sub`'s prefix.
pub fn reference_from_index_key<'k>(sub: &str, key: &'k str) -> Option<&'k str> {
    let reference = key.strip_prefix(&user_prefix(sub))?;
    (reference.len() == 43).then_some(reference)
}

/// `passkey:profile:<sub>`.
pub fn profile_key(sub: &str) -> String {
    format!("passkey:profile:{sub}")
}

/// The single-use marker of a challenge.
pub fn challenge_marker(challenge: &str) -> String {
    format!("passkey-challenge:{challenge}")
}

/// The single-use marker of an enrollment link.
pub fn enrollment_marker(jti: &str) -> String {
    format!("passkey-enrollment:{jti}")
}

/// The WebAuthn user handle of `sub`: derived, so no key maps it back, and not the username
/// itself (authenticators may show or sync it).
pub fn user_handle(sub: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"edgeauth passkey-user-v1.")
        .chain_update(sub.as_bytes())
        .finalize()
        .into()
}

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCredential {
    /// Its id, base64url.
    pub id: String,
    /// Whose it is (`sub`).
    pub user: String,
    /// Its public key.
    pub public_key: PublicKey,
    /// The signature counter at registration (0: the authenticator keeps none); later ones are
    /// in [`Seen`].
    pub counter: u32,
    /// How the browser may reach the authenticator (`internal`, `usb`, `hybrid`, …).
    #[serde(default)]
    pub transports: Vec<String>,
    /// The name it was registered with (a rename writes the index key's value instead).
    pub name: String,
    /// Registered at, Unix seconds.
    pub created: u64,
    /// The BE flag at registration: a passkey that may be synced across devices.
    #[serde(default)]
    pub backup_eligible: bool,
    /// The BS flag at registration.
    #[serde(default)]
    pub backed_up: bool,
}

/// What each sign-in records of a passkey.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The last signature counter.
    pub counter: u32,
    /// Last sign-in, Unix seconds.
    pub last_used: u64,
    /// The BS flag at the last sign-in: synced now.
    pub backed_up: bool,
}

impl Seen {
    /// Parses a stored value; anything unreadable refuses the sign-in (a counter that could be
    /// reset by corrupting it must not be).
    pub fn parse(json: &str) -> Result<Self, PasskeyError> {
        serde_json::from_str(json).map_err(|_| PasskeyError("credential_record_malformed"))
    }

    /// The value's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl StoredCredential {
    /// Parses a stored record; anything unreadable refuses the sign-in.
    pub fn parse(json: &str) -> Result<Self, PasskeyError> {
        let record: StoredCredential =
            serde_json::from_str(json).map_err(|_| PasskeyError("credential_record_malformed"))?;
        record
            .public_key
            .signature_alg()
            .map_err(|_| PasskeyError("credential_record_malformed"))?;
        Ok(record)
    }

    /// The record's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A passkey's current name: its index key's value (what a rename writes), or the name it was
/// registered with when that value is empty or unusable.
pub fn stored_name(index_value: &str, record: &StoredCredential) -> String {
    name(index_value).unwrap_or_else(|| record.name.clone())
}

/// Transports as the browser reported them: kept only if each is a short lowercase word, at
/// most 8 (they only hint the browser at sign-in).
pub fn transports(reported: &[String]) -> Vec<String> {
    reported
        .iter()
        .filter(|t| {
            (1..=16).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
        .take(8)
        .cloned()
        .collect()
}

/// A passkey's name as its owner typed it: trimmed, at most [`MAX_NAME_BYTES`], no control
/// characters; `None` if nothing usable is left.
pub fn name(typed: &str) -> Option<String> {
    let name = typed.trim();
    let ok =
        !name.is_empty() && name.len() <= MAX_NAME_BYTES && !name.chars().any(char::is_control);
    ok.then(|| name.to_owned())
}

/// What a user's passkeys sign in as: `{"roles": [...], "name"?: …, "email"?: …, "disabled"?:
/// false}`, strictly as a password user's record is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Roles.
    pub roles: Vec<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A disabled user's passkeys are refused, and no enrollment link enables them again.
    #[serde(default)]
    pub disabled: bool,
    /// Enrollment links minted before this time (Unix seconds) are refused: how an operator
    /// withdraws links sent earlier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollments_after: Option<u64>,
}

impl Profile {
    /// Parses a stored profile strictly (duplicate members, bad roles or texts refused).
    pub fn parse(json: &str) -> Result<Self, RecordError> {
        let object = object(json.as_bytes())?;
        let disabled = match object.get("disabled") {
            None => false,
            Some(Value::Bool(disabled)) => *disabled,
            Some(_) => return Err(RecordError("disabled is not true or false")),
        };
        let enrollments_after = match object.get("enrollments_after") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .ok_or(RecordError("enrollments_after is not a Unix time"))?,
            ),
        };
        Ok(Profile {
            roles: roles(&object)?,
            name: profile_text(&object, "name")?,
            email: profile_text(&object, "email")?,
            disabled,
            enrollments_after,
        })
    }

    /// The profile's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The identity `sub` signs in as with a passkey (`user_verified`: the UV flag).
    pub fn identity(&self, sub: &str, user_verified: bool) -> Identity {
        Identity {
            sub: sub.to_owned(),
            roles: self.roles.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            provider: None,
            amr: if user_verified {
                crate::login::AMR_PASSKEY_VERIFIED
            } else {
                crate::login::AMR_PASSKEY
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_users_prefix_never_lists_anothers_keys() {
        // "alice" and "alice:x" would collide in a plain-text prefix.
        let alice = user_prefix("alice");
        let r = reference(&[1, 2]);
        assert!(!user_index_key("alice:x", &r).starts_with(&alice));
        let key = user_index_key("alice", &r);
        assert_eq!(reference_from_index_key("alice", &key), Some(r.as_str()));
        assert_eq!(reference_from_index_key("bob", &key), None);
    }

    #[test]
    fn every_key_fits_workers_kv_whatever_the_id_and_username() {
        let longest_user = "u".repeat(crate::login::MAX_USERNAME_BYTES);
        let r = reference(&[0xff; 1023]);
        for key in [
            credential_key(&r),
            seen_key(&r),
            user_index_key(&longest_user, &r),
            profile_key(&longest_user),
        ] {
            assert!(key.len() <= 512, "{} bytes", key.len());
        }
    }

    #[test]
    fn user_handles_differ_per_user_and_are_not_the_name() {
        assert_ne!(user_handle("alice"), user_handle("bob"));
        assert!(!user_handle("alice").windows(5).any(|w| w == b"alice"));
    }

    #[test]
    fn names_and_transports_are_kept_only_when_harmless() {
        assert_eq!(name("  Laptop  "), Some("Laptop".into()));
        assert_eq!(name("   "), None);
        assert_eq!(name("a\u{7}b"), None);
        assert_eq!(name(&"x".repeat(MAX_NAME_BYTES + 1)), None);
        let reported = ["internal", "USB", "hybrid", "x y"].map(String::from);
        assert_eq!(transports(&reported), ["internal", "hybrid"]);
    }

    #[test]
    fn profiles_are_read_strictly() {
        let p = Profile::parse(r#"{"roles":["staff"],"name":"Alice"}"#).expect("valid");
        assert_eq!(p.identity("alice", true).roles, ["staff"]);
        assert_eq!(
            p.identity("alice", true).amr,
            crate::login::AMR_PASSKEY_VERIFIED
        );
        assert!(Profile::parse(r#"{"roles":["a"],"roles":["b"]}"#).is_err());
        assert!(Profile::parse(r#"{"roles":["a,b"]}"#).is_err());
        assert!(Profile::parse(r#"{"name":"x"}"#).is_err());
        assert!(Profile::parse(r#"{"roles":[],"disabled":"no"}"#).is_err());
        assert_eq!(Profile::parse(&p.to_json()), Ok(p));
    }

    #[test]
    fn a_record_with_an_unknown_algorithm_is_refused() {
        let record = r#"{"id":"AQ","user":"alice","public_key":{"alg":-7,"jwk":{}},"counter":0,"name":"k","created":1}"#;
        assert!(StoredCredential::parse(record).is_ok());
        let bad = record.replace("-7", "-36");
        assert_eq!(
            StoredCredential::parse(&bad),
            Err(PasskeyError("credential_record_malformed"))
        );
        assert!(StoredCredential::parse("{").is_err());
    }
}
