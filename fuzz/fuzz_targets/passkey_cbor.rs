//! The authenticator's bytes: the attestation object (CBOR `fmt`, `attStmt`, `authData`),
//! authenticator data (flags, counter, the attested credential with its COSE key, extensions),
//! and a COSE key alone. Registration and sign-in run with client data the relying party
//! accepts (`example.org`, challenge `[7; 32]`), so the fuzzed bytes reach every check.
//!
//! Properties: a parsed key is one the edge offered and can verify with; a registration yields
//! the credential id claimed; a sign-in's signed message is the authenticator data followed by
//! the client data's hash, and it never finishes without the signature's verdict.
#![no_main]

use coset::cbor::value::Value as Cbor;
use edgeauth::encoding::base64url;
use edgeauth::login::passkey::authenticator_data::AuthenticatorData;
use edgeauth::login::passkey::ceremony::{self, Expected};
use edgeauth::login::passkey::cose::{self, PublicKey, OFFERED};
use edgeauth::login::passkey::credential::StoredCredential;
use edgeauth::login::passkey::{Settings, UserVerification};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const CHALLENGE: [u8; 32] = [7; 32];
const ORIGIN: &str = "https://example.org";

struct Fixture {
    settings: Settings,
    register: String,
    sign_in: String,
    credential: StoredCredential,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let client_data = |kind: &str| {
            serde_json::json!({
                "type": kind,
                "challenge": base64url::encode(&CHALLENGE),
                "origin": ORIGIN,
                "crossOrigin": false,
            })
            .to_string()
        };
        Fixture {
            settings: Settings {
                rp_id: "example.org".into(),
                rp_name: "fuzz".into(),
                origins: vec![ORIGIN.into()],
                user_verification: UserVerification::Preferred,
            },
            register: client_data("webauthn.create"),
            sign_in: client_data("webauthn.get"),
            credential: StoredCredential {
                id: "AQI".into(),
                user: "alice".into(),
                public_key: PublicKey {
                    alg: -8,
                    jwk: Default::default(),
                },
                counter: 0,
                transports: vec![],
                name: "fuzz".into(),
                created: 0,
                backup_eligible: false,
                backed_up: false,
            },
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let expected = Expected {
        settings: &fixture.settings,
        challenge: &CHALLENGE,
        request_origin: ORIGIN,
    };

    if let Ok(parsed) = AuthenticatorData::parse(data) {
        if let Some(attested) = parsed.attested {
            assert!(OFFERED.contains(&attested.public_key.alg));
            assert!(attested.public_key.signature_alg().is_ok());
        }
    }

    let value: Option<Cbor> = coset::cbor::de::from_reader(data).ok();
    if let Some(value) = value.clone() {
        if let Ok(key) = cose::from_cbor(value) {
            assert!(OFFERED.contains(&key.alg), "{key:?}");
            assert!(key.signature_alg().is_ok());
            assert!(key.jwk.contains_key("kty"), "{key:?}");
        }
    }

    // Registration, claiming the id the attested credential holds (and another one).
    let claimed = value
        .as_ref()
        .and_then(auth_data)
        .and_then(|bytes| AuthenticatorData::parse(bytes).ok())
        .and_then(|parsed| parsed.attested)
        .map(|attested| attested.id);
    for claimed in [claimed.as_deref(), Some(&b"other"[..])]
        .into_iter()
        .flatten()
    {
        let registered = ceremony::register(&expected, fixture.register.as_bytes(), data, claimed);
        if let Ok(credential) = registered {
            assert_eq!(credential.id, claimed);
            assert!(OFFERED.contains(&credential.public_key.alg));
        }
    }

    // Sign-in with `data` as the authenticator data and a well-formed Ed25519 signature.
    let pending = ceremony::sign_in(
        &expected,
        &fixture.credential,
        fixture.sign_in.as_bytes(),
        data,
        &[0x5a; 64],
        None,
        true,
    );
    if let Ok(pending) = pending {
        let message = pending.signed_message();
        assert_eq!(message.len(), data.len() + 32);
        assert!(message.starts_with(data));
        assert!(
            pending.finish(false, 0).is_err(),
            "finished without a signature"
        );
    }
});

/// The `authData` member of an attestation object, if it has one.
fn auth_data(value: &Cbor) -> Option<&[u8]> {
    value.as_map()?.iter().find_map(|(name, value)| {
        (name.as_text() == Some("authData"))
            .then(|| value.as_bytes().map(Vec::as_slice))
            .flatten()
    })
}
