//! The passkey routes' JSON bodies (what `PublicKeyCredential.toJSON()` gives), each carried
//! through the ceremony it starts: `clientDataJSON`, then the attestation object or the
//! authenticator data and signature (ECDSA signatures in DER). The relying party is made to
//! expect what the client data names (its challenge, its origin, that origin's host as the RP
//! ID), so a real browser's body reaches every check, not only the first.
//!
//! Properties: a registration yields the credential id the body claimed, with a key the edge
//! can verify with; a sign-in asks WebCrypto to check the signature over exactly
//! `authenticatorData ‖ SHA-256(clientDataJSON)`, and never finishes without its verdict.
#![no_main]

use edgeauth::encoding::{base64url, der_signature};
use edgeauth::login::passkey::ceremony::{self, Expected};
use edgeauth::login::passkey::client_data::{self, Ceremony};
use edgeauth::login::passkey::cose::{PublicKey, OFFERED};
use edgeauth::login::passkey::credential::StoredCredential;
use edgeauth::login::passkey::request::{ManageBody, OptionsBody, RegistrationBody, SignInBody};
use edgeauth::login::passkey::{Settings, UserVerification};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = OptionsBody::parse(data);
    let _ = ManageBody::parse(data);
    if let Some(raw) = der_signature::p256_raw(data) {
        assert_eq!(raw.len(), 64);
    }

    // The client data alone, against the challenge and origin it names itself.
    let (settings, challenge) = relying_party(data);
    for ceremony in [Ceremony::Register, Ceremony::SignIn] {
        let _ = client_data::check(data, ceremony, &challenge, &settings, origin(&settings));
    }

    if let Ok(body) = RegistrationBody::parse(data) {
        let (settings, challenge) = relying_party(&body.client_data_json);
        let expected = Expected {
            settings: &settings,
            challenge: &challenge,
            request_origin: origin(&settings),
        };
        let registered = ceremony::register(
            &expected,
            &body.client_data_json,
            &body.attestation_object,
            &body.id,
        );
        if let Ok(credential) = registered {
            assert_eq!(credential.id, body.id);
            assert!(OFFERED.contains(&credential.public_key.alg));
            assert!(credential.public_key.signature_alg().is_ok());
        }
    }

    if let Ok(body) = SignInBody::parse(data) {
        let (settings, challenge) = relying_party(&body.client_data_json);
        let expected = Expected {
            settings: &settings,
            challenge: &challenge,
            request_origin: origin(&settings),
        };
        let credential = stored(match body.signature.len() {
            64 => -8,
            256..=1024 => -257,
            _ => -7,
        });
        for (handle, identified) in [(body.user_handle.as_deref(), false), (None, true)] {
            let pending = ceremony::sign_in(
                &expected,
                &credential,
                &body.client_data_json,
                &body.authenticator_data,
                &body.signature,
                handle,
                identified,
            );
            let Ok(pending) = pending else { continue };
            let message = pending.signed_message();
            assert_eq!(message.len(), body.authenticator_data.len() + 32);
            assert!(message.starts_with(&body.authenticator_data));
            assert!(
                pending.finish(false, 0).is_err(),
                "finished without a signature"
            );
        }
    }
});

/// A relying party that expects what `client_data_json` names: its challenge, its origin, and
/// that origin's host as the RP ID (UV preferred, so a body without it goes on).
fn relying_party(client_data_json: &[u8]) -> (Settings, Vec<u8>) {
    let named = serde_json::from_slice::<serde_json::Value>(client_data_json).ok();
    let text = |name: &str| {
        named
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let origin = text("origin");
    let host = origin
        .split_once("://")
        .map_or("", |(_, rest)| rest)
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let challenge = base64url::decode(&text("challenge")).unwrap_or_default();
    let settings = Settings {
        rp_id: host,
        rp_name: "fuzz".into(),
        origins: vec![origin],
        user_verification: UserVerification::Preferred,
    };
    (settings, challenge)
}

fn origin(settings: &Settings) -> &str {
    settings.origins.first().map_or("", String::as_str)
}

/// A stored credential of `alg`, owned by `alice` (its key is never used here: WebCrypto
/// checks the signature).
fn stored(alg: i64) -> StoredCredential {
    StoredCredential {
        id: "AQI".into(),
        user: "alice".into(),
        public_key: PublicKey {
            alg,
            jwk: Default::default(),
        },
        counter: 0,
        transports: vec![],
        name: "fuzz".into(),
        created: 0,
        backup_eligible: false,
        backed_up: false,
    }
}
