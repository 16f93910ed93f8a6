//! The options the browser passes to `navigator.credentials.create()` / `.get()`, in the JSON
//! form of WebAuthn Level 3 (`PublicKeyCredential.parse*OptionsFromJSON`): binary members in
//! base64url.

use serde_json::{json, Value};

use crate::encoding::base64url;

use super::cose::OFFERED;
use super::credential::user_handle;
use super::{Settings, CHALLENGE_TTL_SECS};

/// A credential the browser may use (sign-in) or must not create again (registration).
pub struct Descriptor<'a> {
    /// Its id.
    pub id: &'a [u8],
    /// Its transports.
    pub transports: &'a [String],
}

fn descriptors(credentials: &[Descriptor<'_>]) -> Value {
    Value::Array(
        credentials
            .iter()
            .map(|c| json!({"type": "public-key", "id": base64url::encode(c.id), "transports": c.transports}))
            .collect(),
    )
}

/// Options for registering a passkey of `sub` (shown as `display_name`), never one of
/// `existing` again. Discoverable credentials only: sign-in needs no username.
pub fn registration(
    settings: &Settings,
    challenge: &[u8],
    sub: &str,
    display_name: &str,
    existing: &[Descriptor<'_>],
) -> Value {
    json!({"publicKey": {
        "rp": {"id": settings.rp_id, "name": settings.rp_name},
        "user": {
            "id": base64url::encode(&user_handle(sub)),
            "name": sub,
            "displayName": display_name,
        },
        "challenge": base64url::encode(challenge),
        "pubKeyCredParams": OFFERED.iter().map(|alg| json!({"type": "public-key", "alg": alg})).collect::<Vec<_>>(),
        "timeout": CHALLENGE_TTL_SECS * 1000,
        "attestation": "none",
        "authenticatorSelection": {
            "residentKey": "required",
            "requireResidentKey": true,
            "userVerification": settings.user_verification.as_str(),
        },
        "excludeCredentials": descriptors(existing),
    }})
}

/// Options for a sign-in: username-less when `allowed` is empty, else with those credentials.
pub fn sign_in(settings: &Settings, challenge: &[u8], allowed: &[Descriptor<'_>]) -> Value {
    json!({"publicKey": {
        "challenge": base64url::encode(challenge),
        "rpId": settings.rp_id,
        "timeout": CHALLENGE_TTL_SECS * 1000,
        "userVerification": settings.user_verification.as_str(),
        "allowCredentials": descriptors(allowed),
    }})
}
