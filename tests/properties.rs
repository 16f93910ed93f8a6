//! Properties: what we mint always verifies; any single-byte change never does; random input
//! never does. Bounded case counts so they run in `make test` (the fuzzer goes further).

use edgeauth::{mint, verify, Claims, KeySet, SigningKey, Validation};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;

fn keys() -> KeySet {
    KeySet::new(SigningKey::from_seed(&mut [42u8; 32]), vec![])
}

fn rules() -> Validation {
    Validation::new("https://edgeauth.test", "edgeauth-test")
}

prop_compose! {
    fn any_claims()(
        sub in "\\PC{1,40}",
        sid in "[A-Za-z0-9_-]{22}",
        roles in proptest::collection::vec("[a-z:._-]{1,16}", 0..6),
        age in 0u64..600_000,
        ttl in 31u64..100_000,
        name in proptest::option::of("\\PC{0,30}"),
    ) -> Claims {
        Claims {
            iss: "https://edgeauth.test".into(),
            aud: vec!["edgeauth-test".into()],
            sub, sid, roles, name,
            iat: NOW - age.min(60),
            exp: NOW + ttl,
            nbf: None,
            auth_time: NOW - age,
            email: None,
            extra: Default::default(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn minted_tokens_verify_to_the_same_claims(claims in any_claims()) {
        let keys = keys();
        let token = mint(&claims, keys.signing_key().expect("signing key"));
        let verified = verify(&token, &keys, &rules(), NOW).expect("own token verifies");
        prop_assert_eq!(verified.claims(), &claims);
    }

    #[test]
    fn any_single_byte_change_is_refused(
        claims in any_claims(),
        position in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
    ) {
        let keys = keys();
        let token = mint(&claims, keys.signing_key().expect("signing key"));
        let mut bytes = token.clone().into_bytes();
        let at = position.index(bytes.len());
        prop_assume!(bytes[at] != replacement);
        bytes[at] = replacement;
        // A header can only carry text; a change that breaks UTF-8 cannot reach verify at all.
        if let Ok(changed) = String::from_utf8(bytes) {
            prop_assert!(verify(&changed, &keys, &rules(), NOW).is_err(), "{} accepted", changed);
        }
    }

    #[test]
    fn random_text_never_verifies(text in "[A-Za-z0-9_.=+/-]{0,300}") {
        prop_assert!(verify(&text, &keys(), &rules(), NOW).is_err());
    }
}
