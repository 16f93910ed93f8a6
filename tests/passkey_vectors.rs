//! The passkey ceremonies against published WebAuthn data (tests/vectors/webauthn/: the W3C
//! specification's test vectors, py_webauthn's and SimpleWebAuthn's; sources and licenses in
//! its README). The core decides everything but the signature; here the signature is checked
//! by independent verifiers (p256, rsa, ed25519-dalek), as WebCrypto does in the Worker.

use edgeauth::encoding::base64url;
use edgeauth::login::oidc::jwks::Alg;
use edgeauth::login::passkey::ceremony::{self, Expected};
use edgeauth::login::passkey::cose::PublicKey;
use edgeauth::login::passkey::credential::StoredCredential;
use edgeauth::login::passkey::{PasskeyError, Settings, UserVerification};
use serde_json::{Map, Value};

fn cases(file: &str) -> Vec<Map<String, Value>> {
    let path = format!(
        "{}/tests/vectors/webauthn/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("vector file");
    let Value::Array(cases) = serde_json::from_str(&text).expect("JSON") else {
        panic!("{path}: not an array");
    };
    cases
        .into_iter()
        .map(|c| match c {
            Value::Object(c) => c,
            _ => panic!("a case is not an object"),
        })
        .collect()
}

fn text<'a>(case: &'a Map<String, Value>, name: &str) -> &'a str {
    case[name].as_str().unwrap_or_else(|| panic!("{name}"))
}

fn bytes(case: &Map<String, Value>, name: &str) -> Vec<u8> {
    base64url::decode(text(case, name)).unwrap_or_else(|| panic!("{name}: base64url"))
}

fn settings(case: &Map<String, Value>, user_verification: UserVerification) -> Settings {
    Settings {
        rp_id: text(case, "rp_id").into(),
        rp_name: "vectors".into(),
        origins: vec![text(case, "origin").into()],
        user_verification,
    }
}

/// Cases signed with an algorithm the edge offers (ES384, ES512 and Ed448 are not).
fn offered(alg: i64) -> bool {
    [-7, -8, -257].contains(&alg)
}

fn in_a_frame(case: &Map<String, Value>) -> bool {
    case.get("cross_origin") == Some(&Value::Bool(true))
}

#[test]
fn registrations_yield_the_published_keys() {
    let mut checked = 0;
    for case in cases("registration.json") {
        let id = text(&case, "id");
        let alg = case["alg"].as_i64().expect("alg");
        let settings = settings(&case, UserVerification::Preferred);
        let challenge = bytes(&case, "challenge");
        let result = ceremony::register(
            &Expected {
                settings: &settings,
                challenge: &challenge,
                request_origin: &settings.origins[0],
            },
            &bytes(&case, "client_data_json"),
            &bytes(&case, "attestation_object"),
            &bytes(&case, "credential_id"),
        );
        if in_a_frame(&case) {
            assert_eq!(result, Err(PasskeyError("cross_origin")), "{id}");
            continue;
        }
        if !offered(alg) {
            assert_eq!(result, Err(PasskeyError("unsupported_algorithm")), "{id}");
            continue;
        }
        let new = result.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(new.public_key.alg, alg, "{id}");
        assert_eq!(
            Value::Object(new.public_key.jwk.clone()),
            case["public_key_jwk"],
            "{id}"
        );
        assert_eq!(
            u64::from(new.sign_count),
            case["sign_count"].as_u64().expect("count")
        );
        assert_eq!(
            u64::from(new.flags.0),
            case["flags"].as_u64().expect("flags")
        );
        assert_eq!(new.fmt, text(&case, "fmt"), "{id}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} registrations checked");
}

/// Whether `signature` verifies over `message` under the JWK, by a verifier other than ours.
fn independently_verified(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let field =
        |name: &str| base64url::decode(key.jwk[name].as_str().expect("member")).expect("base64url");
    match key.signature_alg().expect("offered") {
        Alg::Es256 => {
            use p256::ecdsa::signature::Verifier;
            let mut point = vec![4u8];
            point.extend(field("x"));
            point.extend(field("y"));
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).expect("point");
            let signature = p256::ecdsa::Signature::from_slice(signature).expect("r || s");
            key.verify(message, &signature).is_ok()
        }
        Alg::EdDsa => {
            let x: [u8; 32] = field("x").try_into().expect("32 bytes");
            let signature: [u8; 64] = signature.try_into().expect("64 bytes");
            edgeauth::VerifyingKey::from_bytes(&x)
                .is_ok_and(|k| k.verify(message, &signature).is_ok())
        }
        Alg::Rs256 => {
            use rsa::signature::Verifier;
            let public = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&field("n")),
                rsa::BigUint::from_bytes_be(&field("e")),
            )
            .expect("RSA key");
            let key = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(public);
            rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok())
        }
        Alg::Ps256 => unreachable!("not a COSE algorithm we offer"),
    }
}

#[test]
fn published_assertions_sign_in_and_forged_ones_do_not() {
    let mut signed_in = 0;
    for case in cases("authentication.json") {
        let id = text(&case, "id");
        let alg = case["alg"].as_i64().expect("alg");
        if !offered(alg) || in_a_frame(&case) {
            continue;
        }
        let valid = case["valid"].as_bool().expect("valid");
        let uv_case = id.contains("uv_required");
        let settings = settings(
            &case,
            if uv_case {
                UserVerification::Required
            } else {
                UserVerification::Preferred
            },
        );
        let count = case["sign_count"].as_u64().expect("count") as u32;
        let stored = StoredCredential {
            id: text(&case, "credential_id").into(),
            user: "alice".into(),
            public_key: PublicKey {
                alg,
                jwk: case["public_key_jwk"].as_object().expect("jwk").clone(),
            },
            counter: count.saturating_sub(1),
            transports: vec![],
            name: "vector".into(),
            created: 0,
            backup_eligible: false,
            backed_up: false,
        };
        let challenge = bytes(&case, "challenge");
        let expected = Expected {
            settings: &settings,
            challenge: &challenge,
            request_origin: &settings.origins[0],
        };
        let pending = ceremony::sign_in(
            &expected,
            &stored,
            &bytes(&case, "client_data_json"),
            &bytes(&case, "authenticator_data"),
            &bytes(&case, "signature"),
            None,
            true,
        );
        if uv_case {
            assert_eq!(
                pending.map(|_| ()),
                Err(PasskeyError("user_not_verified")),
                "{id}"
            );
            continue;
        }
        let pending = match pending {
            Ok(pending) => pending,
            Err(e) if !valid => {
                // An ECDSA signature paired with an RSA key is refused before any check.
                assert_eq!(e, PasskeyError("signature_malformed"), "{id}");
                continue;
            }
            Err(e) => panic!("{id}: {e}"),
        };
        let verified = independently_verified(
            &stored.public_key,
            pending.signed_message(),
            pending.signature(),
        );
        assert_eq!(verified, valid, "{id}");
        let outcome = pending.finish(verified, stored.counter);
        if valid {
            let done = outcome.unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(done.sign_count, count, "{id}");
            signed_in += 1;
        } else {
            assert_eq!(outcome, Err(PasskeyError("bad_signature")), "{id}");
        }
    }
    assert!(signed_in >= 12, "only {signed_in} assertions checked");
}

#[test]
fn a_published_assertion_is_refused_when_anything_it_was_bound_to_differs() {
    let case = cases("authentication.json")
        .into_iter()
        .find(|c| text(c, "id") == "w3c.none.ES256.authentication")
        .expect("the spec's ES256 case");
    let stored = StoredCredential {
        id: text(&case, "credential_id").into(),
        user: "alice".into(),
        public_key: PublicKey {
            alg: -7,
            jwk: case["public_key_jwk"].as_object().expect("jwk").clone(),
        },
        counter: 0,
        transports: vec![],
        name: "vector".into(),
        created: 0,
        backup_eligible: true,
        backed_up: true,
    };
    let challenge = bytes(&case, "challenge");
    let run = |settings: &Settings, challenge: &[u8], data: &[u8], handle: Option<&[u8]>| {
        ceremony::sign_in(
            &Expected {
                settings,
                challenge,
                request_origin: &settings.origins[0],
            },
            &stored,
            &bytes(&case, "client_data_json"),
            data,
            &bytes(&case, "signature"),
            handle,
            true,
        )
        .map(|_| ())
    };
    let data = bytes(&case, "authenticator_data");
    let ok = settings(&case, UserVerification::Preferred);
    assert_eq!(run(&ok, &challenge, &data, None), Ok(()));
    let other_rp = Settings {
        rp_id: "example.com".into(),
        origins: vec!["https://example.org".into()],
        ..ok.clone()
    };
    assert_eq!(
        run(&other_rp, &challenge, &data, None),
        Err(PasskeyError("wrong_rp_id"))
    );
    let other_origin = Settings {
        origins: vec!["https://login.example.org".into()],
        ..ok.clone()
    };
    assert_eq!(
        run(&other_origin, &challenge, &data, None),
        Err(PasskeyError("wrong_origin"))
    );
    let mut other_challenge = challenge.clone();
    other_challenge[0] ^= 1;
    assert_eq!(
        run(&ok, &other_challenge, &data, None),
        Err(PasskeyError("challenge_mismatch"))
    );
    let required = settings(&case, UserVerification::Required);
    assert_eq!(
        run(&required, &challenge, &data, None),
        Err(PasskeyError("user_not_verified"))
    );
    let mut absent = data.clone();
    absent[32] &= !0x01;
    assert_eq!(
        run(&ok, &challenge, &absent, None),
        Err(PasskeyError("user_not_present"))
    );
    assert_eq!(
        run(&ok, &challenge, &data, Some(b"someone else")),
        Err(PasskeyError("user_handle_mismatch"))
    );
    // Username-less (not identified beforehand): the user handle must be there (§7.2 step 6).
    let unidentified = ceremony::sign_in(
        &Expected {
            settings: &ok,
            challenge: &challenge,
            request_origin: &ok.origins[0],
        },
        &stored,
        &bytes(&case, "client_data_json"),
        &data,
        &bytes(&case, "signature"),
        None,
        false,
    );
    assert_eq!(
        unidentified.map(|_| ()),
        Err(PasskeyError("user_handle_missing"))
    );
    // Flipping a flag keeps every other check passing; only the signature catches it.
    let mut flipped = data.clone();
    flipped[32] |= 0x04;
    let pending = ceremony::sign_in(
        &Expected {
            settings: &ok,
            challenge: &challenge,
            request_origin: &ok.origins[0],
        },
        &stored,
        &bytes(&case, "client_data_json"),
        &flipped,
        &bytes(&case, "signature"),
        None,
        true,
    )
    .expect("all but the signature pass");
    assert!(!independently_verified(
        &stored.public_key,
        pending.signed_message(),
        pending.signature()
    ));
}

#[test]
fn a_counter_that_does_not_grow_is_refused() {
    let case = cases("authentication.json")
        .into_iter()
        .find(|c| text(c, "id") == "py_webauthn.auth.ES256")
        .expect("a case with a counter");
    let count = case["sign_count"].as_u64().expect("count") as u32;
    let settings = settings(&case, UserVerification::Preferred);
    let challenge = bytes(&case, "challenge");
    for (stored_counter, refused) in [(count - 1, false), (count, true), (count + 10, true)] {
        let stored = StoredCredential {
            id: text(&case, "credential_id").into(),
            user: "alice".into(),
            public_key: PublicKey {
                alg: -7,
                jwk: case["public_key_jwk"].as_object().expect("jwk").clone(),
            },
            counter: stored_counter,
            transports: vec![],
            name: "vector".into(),
            created: 0,
            backup_eligible: false,
            backed_up: false,
        };
        let pending = ceremony::sign_in(
            &Expected {
                settings: &settings,
                challenge: &challenge,
                request_origin: &settings.origins[0],
            },
            &stored,
            &bytes(&case, "client_data_json"),
            &bytes(&case, "authenticator_data"),
            &bytes(&case, "signature"),
            None,
            true,
        )
        .expect("checks pass");
        let outcome = pending.finish(true, stored_counter);
        assert_eq!(
            outcome.is_err(),
            refused,
            "stored {stored_counter}, presented {count}"
        );
        if refused {
            assert_eq!(outcome, Err(PasskeyError("counter_regression")));
        }
    }
}
