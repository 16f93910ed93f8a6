//! Public Ed25519 and JOSE vectors, run through the same key import and verification the
//! gateway uses: Wycheproof, C2SP CCTV, and RFC 8037 Appendix A.

mod common;

use common::{hex_str, load};
use edgeauth::token::jws::UntrustedJws;
use edgeauth::token::keys::thumbprint;
use edgeauth::{Error, KeySet, Malformed, UntrustedToken, Validation, VerifyingKey};
use serde_json::Value;

/// What the gateway does with a raw (key, message, signature): import the key (refusing weak
/// and non-canonical keys), require 64 signature bytes, then `verify_strict`.
fn accepts(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(signature)) = (<[u8; 32]>::try_from(key), <[u8; 64]>::try_from(signature))
    else {
        return false;
    };
    VerifyingKey::from_bytes(&key).is_ok_and(|key| key.verify(message, &signature).is_ok())
}

#[test]
fn wycheproof_every_case_as_expected() {
    let suite = load("wycheproof_ed25519_test.json");
    let (mut valid, mut invalid) = (0, 0);
    for group in suite["testGroups"].as_array().expect("groups") {
        let key = hex_str(&group["publicKey"]["pk"]);
        for case in group["tests"].as_array().expect("tests") {
            let got = accepts(&key, &hex_str(&case["msg"]), &hex_str(&case["sig"]));
            let id = &case["tcId"];
            match case["result"].as_str() {
                Some("valid") => {
                    assert!(got, "Wycheproof tcId {id} is valid but was refused");
                    valid += 1;
                }
                Some("invalid") => {
                    assert!(!got, "Wycheproof tcId {id} is invalid but was accepted");
                    invalid += 1;
                }
                other => panic!("tcId {id}: unexpected result {other:?}"),
            }
        }
    }
    assert_eq!((valid, invalid), (88, 63));
}

/// Our pinned CCTV rule. Refused: every vector flagged `low_order_A`, `low_order_R`,
/// `non_canonical_A` or `non_canonical_R` (weak or non-canonical keys are refused at import;
/// `verify_strict` refuses small-order and non-canonical R). Of the rest, `verify_strict` uses
/// the cofactorless equation, so a vector whose check only holds up to a small-order residue
/// (`low_order_residue`) is refused too; every other vector is accepted.
fn cctv_expected(flags: &[&str]) -> bool {
    const REFUSED: [&str; 5] = [
        "low_order_A",
        "low_order_R",
        "non_canonical_A",
        "non_canonical_R",
        "low_order_residue",
    ];
    !flags.iter().any(|flag| REFUSED.contains(flag))
}

#[test]
fn cctv_every_vector_pinned() {
    let vectors = load("cctv_ed25519vectors.json");
    let vectors = vectors.as_array().expect("array");
    let mut accepted = 0;
    for vector in vectors {
        let flags: Vec<&str> = vector["flags"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let message = vector["msg"].as_str().expect("msg").as_bytes();
        let got = accepts(&hex_str(&vector["key"]), message, &hex_str(&vector["sig"]));
        assert_eq!(
            got,
            cctv_expected(&flags),
            "CCTV vector {} with flags {flags:?}",
            vector["number"]
        );
        accepted += usize::from(got);
    }
    assert_eq!(vectors.len(), 914);
    // Pins the split too, so a change in the rule or the verifier shows up as a number.
    assert_eq!(accepted, 43);
}

#[test]
fn rfc8037_signature_layer_verifies_session_layer_refuses() {
    let rfc = load("rfc8037_ed25519_jws.json");
    let key = VerifyingKey::from_jwk(&rfc["public_jwk"].to_string()).expect("A.2 key imports");
    assert_eq!(
        key.kid(),
        rfc["jwk_thumbprint_sha256"].as_str().expect("A.3"),
        "thumbprint matches A.3"
    );
    assert_eq!(thumbprint(key.as_bytes()), key.kid());
    let private =
        edgeauth::SigningKey::from_jwk(&rfc["private_jwk"].to_string()).expect("A.1 key imports");
    assert_eq!(private.kid(), key.kid());

    let jws = rfc["jws_compact"].as_str().expect("A.4");
    let payload = UntrustedJws::parse(jws, 4096)
        .and_then(|jws| jws.verify_signature(&key))
        .expect("the signature layer verifies A.4");
    assert_eq!(
        payload,
        rfc["payload_text"].as_str().expect("text").as_bytes()
    );

    // Ed25519 is deterministic: minting the same input reproduces A.4's signature.
    let signing_input = jws.rsplit_once('.').expect("three segments").0;
    let signature = private.sign(signing_input.as_bytes());
    assert_eq!(
        edgeauth::encoding::base64url::encode(&signature),
        jws.rsplit('.').next().unwrap_or_default()
    );

    // As a session token it is refused: no kid in its header, and its payload is not claims.
    assert_eq!(
        UntrustedToken::parse(jws, 4096).err(),
        Some(Error::Malformed(Malformed::MissingKeyId))
    );
    let keys = KeySet::verify_only(vec![key]);
    assert!(edgeauth::verify(jws, &keys, &Validation::new("any", "any"), 0).is_err());
}
