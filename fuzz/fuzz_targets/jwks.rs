//! A provider's (or a trusted issuer's) JSON Web Key Set, and which key may check a token.
//!
//! Properties: no kept key carries a private member; a selected key fits the token's
//! algorithm, is restricted to no other, and has the token's `kid` when it names one.
#![no_main]

use edgeauth::login::oidc::jwks::{Alg, ProviderKeys};
use libfuzzer_sys::fuzz_target;

const ALGS: [Alg; 4] = [Alg::Rs256, Alg::Ps256, Alg::Es256, Alg::EdDsa];
const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

fuzz_target!(|data: &[u8]| {
    let Ok(keys) = ProviderKeys::parse(data) else {
        return;
    };
    let document: serde_json::Value = serde_json::from_slice(data).expect("accepted JSON");
    let mut kids: Vec<Option<String>> = vec![None, Some("unknown".into())];
    if let Some(listed) = document["keys"].as_array() {
        kids.extend(
            listed
                .iter()
                .map(|key| key["kid"].as_str().map(str::to_owned)),
        );
    }
    for kid in &kids {
        for alg in ALGS {
            let Ok(key) = keys.select(kid.as_deref(), alg) else {
                continue;
            };
            assert!(key.alg.is_none_or(|a| a == alg), "{key:?} for {alg:?}");
            if let Some(kid) = kid {
                assert_eq!(key.kid.as_deref(), Some(kid.as_str()));
            }
            for member in PRIVATE {
                assert!(!key.jwk.contains_key(member), "{member} kept in {key:?}");
            }
            let kty = key.jwk.get("kty").and_then(|k| k.as_str());
            let fits = match alg {
                Alg::Rs256 | Alg::Ps256 => kty == Some("RSA"),
                Alg::Es256 => kty == Some("EC"),
                Alg::EdDsa => kty == Some("OKP"),
            };
            assert!(fits, "{key:?} for {alg:?}");
        }
    }
});
