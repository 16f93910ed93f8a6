//! The split verification (strict pre-checks here, the signature equation elsewhere) gives
//! exactly `verify_strict`'s verdicts: on every Wycheproof and CCTV vector, key validation at
//! load + `signature_precheck` + a cofactorless Ed25519 check (dalek's non-strict `verify`, which
//! compares R byte-wise as BoringSSL does) accepts exactly what `VerifyingKey::verify` accepts;
//! and on every expect-fail token, `prepare` + a cofactorless check returns exactly what `verify`
//! returns (the completion with an external verdict is crate-private; it is unit-tested in
//! `src/token.rs`). (dalek's non-strict `verify` also refuses S >= L, so the S < L
//! pre-check is pinned by the unit tests in `src/signature_precheck.rs`.)

mod common;

use common::{hex_str, load};
use ed25519_dalek::Verifier;
use edgeauth::token::signature_precheck::{precheck, SMALL_ORDER_Y};
use edgeauth::{UntrustedToken, VerifyingKey};

/// A standard Ed25519 check with the cofactorless equation and nothing strict about R or S
/// beyond what the equation implies: what WebCrypto does.
fn cofactorless(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(key.as_bytes()) else {
        return false;
    };
    key.verify(message, &ed25519_dalek::Signature::from_bytes(signature))
        .is_ok()
}

/// (`verify_strict` verdict, split verdict) for raw bytes, both after the same key import.
fn verdicts(key: &[u8], message: &[u8], signature: &[u8]) -> (bool, bool) {
    let (Ok(key), Ok(signature)) = (<[u8; 32]>::try_from(key), <[u8; 64]>::try_from(signature))
    else {
        return (false, false);
    };
    let Ok(key) = VerifyingKey::from_bytes(&key) else {
        return (false, false);
    };
    let strict = key.verify(message, &signature).is_ok();
    let split = precheck(&signature).is_ok() && cofactorless(&key, message, &signature);
    (strict, split)
}

#[test]
fn wycheproof_split_equals_verify_strict() {
    let suite = load("wycheproof_ed25519_test.json");
    let (mut cases, mut precheck_refusals) = (0, 0);
    for group in suite["testGroups"].as_array().expect("groups") {
        let key = hex_str(&group["publicKey"]["pk"]);
        for case in group["tests"].as_array().expect("tests") {
            let signature = hex_str(&case["sig"]);
            let (strict, split) = verdicts(&key, &hex_str(&case["msg"]), &signature);
            assert_eq!(strict, split, "Wycheproof tcId {}", case["tcId"]);
            cases += 1;
            if let Ok(signature) = <[u8; 64]>::try_from(signature.as_slice()) {
                precheck_refusals += usize::from(precheck(&signature).is_err());
            }
        }
    }
    assert_eq!(cases, 151);
    // The pre-checks are exercised, not vacuous.
    assert!(precheck_refusals >= 5, "{precheck_refusals}");
}

#[test]
fn cctv_split_equals_verify_strict() {
    let vectors = load("cctv_ed25519vectors.json");
    let vectors = vectors.as_array().expect("array");
    let mut needed_precheck = 0;
    for vector in vectors {
        let (key, message) = (
            hex_str(&vector["key"]),
            vector["msg"].as_str().expect("msg"),
        );
        let signature = hex_str(&vector["sig"]);
        let (strict, split) = verdicts(&key, message.as_bytes(), &signature);
        assert_eq!(strict, split, "CCTV vector {}", vector["number"]);
        // Vectors that a plain cofactorless check would accept but verify_strict refuses: only
        // the pre-checks refuse these.
        if let (Ok(key), Ok(signature)) = (
            <[u8; 32]>::try_from(key.as_slice()),
            <[u8; 64]>::try_from(signature.as_slice()),
        ) {
            if let Ok(key) = VerifyingKey::from_bytes(&key) {
                if !strict && cofactorless(&key, message.as_bytes(), &signature) {
                    needed_precheck += 1;
                }
            }
        }
    }
    assert_eq!(vectors.len(), 914);
    assert!(needed_precheck > 0, "no CCTV vector needs the pre-checks");
}

#[test]
fn expect_fail_tokens_split_equals_verify() {
    let vectors = common::ExpectFail::load();
    let (keys, rules, now) = (vectors.key_set(), vectors.validation(), vectors.now);
    for case in vectors.cases() {
        let token = vectors.build(case, now);
        let expected = edgeauth::verify(&token, &keys, &rules, now);
        let split = UntrustedToken::parse(&token, rules.max_token_bytes)
            .and_then(|t| t.prepare(&keys))
            .and_then(|pending| {
                // What the adapter does: the external check's verdict, then the claims (here
                // through the pending value's own path, which checks the same claims).
                if cofactorless(pending.key(), pending.signing_input(), pending.signature()) {
                    pending.verify(&rules, now)
                } else {
                    Err(edgeauth::Error::BadSignature)
                }
            });
        assert_eq!(split, expected, "case {}", case["name"]);
        // And the pending value's own dalek path agrees too.
        let native = UntrustedToken::parse(&token, rules.max_token_bytes)
            .and_then(|t| t.prepare(&keys))
            .and_then(|pending| pending.verify(&rules, now));
        assert_eq!(native, expected, "case {} (pending verify)", case["name"]);
    }
}

#[test]
fn the_small_order_list_is_every_torsion_point() {
    // Every point of order dividing 8, compressed, has its y (sign bit cleared) in the list.
    for point in curve25519_dalek::constants::EIGHT_TORSION {
        let mut y = point.compress().to_bytes();
        y[31] &= 0x7f;
        assert!(SMALL_ORDER_Y.contains(&y), "{y:02x?}");
    }
    // And every canonical entry decodes to a weak key (dalek's own small-order test).
    for y in &SMALL_ORDER_Y[..5] {
        let key = ed25519_dalek::VerifyingKey::from_bytes(y).expect("a point");
        assert!(key.is_weak(), "{y:02x?}");
    }
}
