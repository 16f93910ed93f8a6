//! Random input never verifies, never panics; a minted token with any input appended or
//! substituted never verifies unless it is byte-for-byte the original.
#![no_main]

use edgeauth::{mint, verify, Claims, KeySet, SigningKey, Validation};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const NOW: u64 = 1_800_000_000;

struct Fixture {
    keys: KeySet,
    rules: Validation,
    token: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys = KeySet::new(SigningKey::from_seed(&mut [42u8; 32]), vec![]);
        let rules = Validation::new("https://edgeauth.fuzz", "fuzz");
        let claims = Claims {
            iss: rules.issuer.clone(),
            aud: vec![rules.audience.clone()],
            sub: "alice".into(),
            sid: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            iat: NOW,
            exp: NOW + 3600,
            nbf: None,
            auth_time: NOW,
            roles: vec!["user".into()],
            name: None,
            email: None,
            extra: Default::default(),
        };
        let token = mint(&claims, keys.signing_key().expect("signing key"));
        Fixture { keys, rules, token }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    if let Ok(text) = std::str::from_utf8(data) {
        let accepted = verify(text, &fixture.keys, &fixture.rules, NOW).is_ok();
        assert!(
            !accepted || text == fixture.token,
            "forged token verified: {text:?}"
        );
        // The same bytes spliced into the real token's claims segment.
        let (head, _) = fixture.token.split_once('.').expect("segments");
        let (_, sig) = fixture.token.rsplit_once('.').expect("segments");
        let spliced = format!("{head}.{text}.{sig}");
        let accepted = verify(&spliced, &fixture.keys, &fixture.rules, NOW).is_ok();
        assert!(
            !accepted || spliced == fixture.token,
            "spliced token verified: {spliced:?}"
        );
    }
});
